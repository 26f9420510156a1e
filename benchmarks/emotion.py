"""Emotion read-outs on FER2013's public test split (`val/`), and on the shared photos.

Each image is read as `avatar-live track` reads a still: FaceMesh (small images enlarged,
`tracking.base.prepared_stills`), then the app's encode stage with the learned emotion
model (default) or the FACS rules. Accuracy is over all of `val/`'s images, a face FaceMesh
does not find counting as wrong; FER2013 has 7 classes (no Contempt), so a Contempt answer
is wrong too. Prints both confusion matrices (rows: the label; columns: the answer).

Usage: python benchmarks/emotion.py [--data DIR] [--every N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from avatar_live.app import AppOptions, make_encode_stage
from avatar_live.console import filter_native_stderr
from avatar_live.tracking.facemesh import FaceMeshTracker
from avatar_live.training import datasets
from avatar_live.types import EMOTION_CLASSES, Frame, Packet

READOUTS = ("learned", "rules")
GOAL = 0.55
PHOTOS = ("0-f15-hao-ph.jpg", "0-f1-su-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg", "single_face.jpg",
          "multi_face.jpg")


def _labels(tracker: FaceMeshTracker, paths: list[Path]) -> dict[str, list[int | None]]:
    """Per read-out, the answer (class index) for each image, None where no face was found."""
    stages = {name: make_encode_stage(AppOptions(emotion=name), stills=True) for name in READOUTS}
    answers: dict[str, list[int | None]] = {name: [] for name in READOUTS}
    for n, path in enumerate(paths):
        image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        track = tracker.detect(image)
        for name, stage in stages.items():
            if track is None:
                answers[name].append(None)
                continue
            params = stage(Packet(frame=Frame(n, 0.0, image), track=track)).params
            answers[name].append(int(np.argmax(params.emotion.probs)))
    return answers


def _print_confusion(truth: np.ndarray, answers: list[int | None]) -> None:
    matrix = np.zeros((len(EMOTION_CLASSES), len(EMOTION_CLASSES) + 1), np.int64)
    for label, answer in zip(truth, answers):
        matrix[label, len(EMOTION_CLASSES) if answer is None else answer] += 1
    header = " ".join(f"{name[:7]:>7s}" for name in EMOTION_CLASSES)
    print(f"    {'label':10s} {header} {'no face':>7s}")
    for label, row in enumerate(matrix):
        if row.sum():
            print(f"    {EMOTION_CLASSES[label]:10s} " + " ".join(f"{v:7d}" for v in row))


def main() -> None:
    filter_native_stderr()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=datasets.default_data_root())
    parser.add_argument("--every", type=int, default=1, help="use every N-th image of val/ (a quick look)")
    args = parser.parse_args()
    tracker = FaceMeshTracker.create_from_options()
    images = datasets.fer_images(args.data, "val")[::args.every]
    truth = np.array([EMOTION_CLASSES.index(image.label) for image in images])
    started = time.perf_counter()
    answers = _labels(tracker, [image.path for image in images])
    found = sum(a is not None for a in answers[READOUTS[0]])
    print(f"FER2013 val: {len(images)} images, FaceMesh found {found} ({found / len(images):.1%}) "
          f"in {time.perf_counter() - started:.0f} s")
    for name in READOUTS:
        correct = sum(a == t for a, t in zip(answers[name], truth))
        accuracy = correct / len(images)
        print(f"\n  {name}: accuracy {accuracy:.3f} over all images "
              f"({correct / max(found, 1):.3f} of the faces found)"
              + (f"  (goal >= {GOAL}: {'met' if accuracy >= GOAL else 'NOT met'})" if name == "learned" else ""))
        _print_confusion(truth, answers[name])

    print("\nshared photos (file: learned / rules)")
    photos = [args.data / "images" / name for name in PHOTOS]
    for photo, learned, rules in zip(photos, *(_labels(tracker, photos)[name] for name in READOUTS)):
        named = [("no face" if a is None else EMOTION_CLASSES[a]) for a in (learned, rules)]
        print(f"  {photo.name:20s} {named[0]:10s} {named[1]}")
    tracker.close()


if __name__ == "__main__":
    main()
