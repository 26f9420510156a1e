"""Run the trackers over the training media once, and keep what they found on disk.

For each clip: FaceMesh's landmarks (the student's input, as the app tracks video) and the
teacher's (FaceLandmarker's) blendshapes on the clean frames, plus FaceMesh's landmarks
through simulated cameras (`augment`). For each labelled still: both trackers on the
image, as the app reads stills. Results are cached per item under a key of the file, the
settings and `EXTRACT_VERSION`, so a second training run starts in seconds and a changed
setting recomputes only what it changes. Two worker processes: MediaPipe's graphs use
about one core each.

Shapes: F frames, P passes (the clean one first), 478 landmarks, 52 ARKit weights.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar_live.tracking.base import SMALL_STILL_PADS, SMALL_STILL_SIDE
from avatar_live.training.augment import (
    Augmentation,
    augment_image,
    random_augmentation,
)
from avatar_live.training.datasets import Clip, LabelledImage
from avatar_live.types import ARKIT_NAMES, NUM_LANDMARKS, Track

EXTRACT_VERSION = 1
"""Bump when what is extracted changes: every cached item is then recomputed."""

SAME_FACE_TOLERANCE = 0.15
"""The two trackers saw the same face when their landmarks differ by less than this
fraction of the eye-corner distance on average; in clips with two people they may not."""


@dataclass(frozen=True)
class ClipPlan:
    """What to extract from one clip.

    Attributes:
        clip: the clip.
        stride: use every stride-th frame (neighbouring frames teach little more).
        augmented: how many simulated cameras to track besides the clean frames; the
            first is mirrored.
        seed: the cameras are drawn from this seed and the clip's name.
    """

    clip: Clip
    stride: int
    augmented: int
    seed: int


@dataclass(frozen=True)
class ClipData:
    """What the trackers found in a clip.

    Attributes:
        times: F frame times, seconds.
        size: (width, height) of the clean frames.
        landmarks: P x F x 478 x 3 FaceMesh landmarks in pixels of each pass's frame,
            NaN where it found no face.
        teacher: F x 52 teacher weights on the clean frames, NaN where it found no face
            or found another face than FaceMesh did.
        mirrored: P flags, whether a pass's frames were mirrored.
    """

    times: np.ndarray
    size: tuple[int, int]
    landmarks: np.ndarray
    teacher: np.ndarray
    mirrored: np.ndarray


@dataclass(frozen=True)
class StillData:
    """What the trackers found in labelled stills.

    Attributes:
        landmarks: N x 478 x 3 FaceMesh landmarks (still mode), NaN where no face.
        teacher: N x 52 teacher weights, NaN where none (or another face).
    """

    landmarks: np.ndarray
    teacher: np.ndarray


def _cache_key(path: Path, settings: dict) -> str:
    stat = path.stat()
    text = json.dumps({"file": str(path.resolve()), "size": stat.st_size, "mtime": int(stat.st_mtime),
                       "version": EXTRACT_VERSION, **settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _same_face(mesh: Track, teacher_landmarks: np.ndarray) -> bool:
    eyes = np.linalg.norm(mesh.landmarks[33, :2] - mesh.landmarks[263, :2])
    gap = np.linalg.norm(mesh.landmarks[:, :2] - teacher_landmarks[:, :2], axis=1).mean()
    return bool(gap < SAME_FACE_TOLERANCE * eyes)


_WORKER: dict = {}


def _init_worker(task: str, quiet: bool) -> None:
    """Per worker process: where the teacher is, and no native log lines (MediaPipe's, from
    two processes at once, interleave past any line filter). A worker's errors reach the
    main process as exceptions."""
    from avatar_live.console import quiet_native_libraries

    quiet_native_libraries()
    if quiet:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    _WORKER["task"] = Path(task)


def _teacher():
    from avatar_live.tracking.landmarker import FaceLandmarkerTracker, LandmarkerOptions

    return FaceLandmarkerTracker.create_from_options(LandmarkerOptions(_WORKER["task"]))


def _mesh():
    from avatar_live.tracking.facemesh import FaceMeshTracker

    return FaceMeshTracker.create_from_options()


def cameras(plan: ClipPlan) -> list[Augmentation | None]:
    """The clean pass (None) and the plan's simulated cameras, drawn from its seed."""
    seed = int(hashlib.sha256(f"{plan.seed}:{plan.clip.path.name}".encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    return [None, *(random_augmentation(rng, mirror=(p == 0)) for p in range(plan.augmented))]


def _extract_clip(plan: ClipPlan) -> ClipData:
    passes = cameras(plan)
    noise = np.random.default_rng(plan.seed)
    meshes = [_mesh() for _ in passes]
    teacher = _teacher()
    missing = np.full((NUM_LANDMARKS, 3), np.nan, np.float32)
    times, landmarks, weights = [], [], []
    capture = cv2.VideoCapture(str(plan.clip.path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    try:
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % plan.stride == 0:
                image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                size = (image.shape[1], image.shape[0])
                time = index / fps
                times.append(time)
                row = []
                for camera, mesh in zip(passes, meshes):
                    seen = image if camera is None else augment_image(image, camera, noise)
                    track = mesh.detect_for_video(seen, time)
                    row.append(missing if track is None else track.landmarks)
                landmarks.append(row)
                found = teacher.detect_for_video(image, time)
                agree = (found is not None and np.isfinite(row[0]).all()
                         and _same_face(Track(row[0], (0, 0, 0, 0), 1.0), found.landmarks))
                weights.append(found.blendshapes if agree else np.full(len(ARKIT_NAMES), np.nan, np.float32))
            index += 1
    finally:
        capture.release()
        teacher.close()
        for mesh in meshes:
            mesh.close()
    return ClipData(times=np.array(times), size=size,
                    landmarks=np.array(landmarks, np.float32).transpose(1, 0, 2, 3),
                    teacher=np.array(weights, np.float32),
                    mirrored=np.array([camera is not None and camera.mirror for camera in passes]))


def _extract_stills(paths: list[Path], with_teacher: bool) -> StillData:
    mesh, teacher = _mesh(), (_teacher() if with_teacher else None)
    landmarks = np.full((len(paths), NUM_LANDMARKS, 3), np.nan, np.float32)
    weights = np.full((len(paths), len(ARKIT_NAMES)), np.nan, np.float32)
    try:
        for n, path in enumerate(paths):
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                continue
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            track = mesh.detect(image)
            if track is None:
                continue
            landmarks[n] = track.landmarks
            found = None if teacher is None else teacher.detect(image)
            if found is not None and _same_face(track, found.landmarks):
                weights[n] = found.blendshapes
    finally:
        mesh.close()
        if teacher is not None:
            teacher.close()
    return StillData(landmarks=landmarks, teacher=weights)


def _run_clip(job: tuple[ClipPlan, Path]) -> None:
    plan, out = job
    data = _extract_clip(plan)
    _save(out, times=data.times, size=np.array(data.size), landmarks=data.landmarks, teacher=data.teacher,
          mirrored=data.mirrored)


def _run_stills(job: tuple[list[Path], bool, Path]) -> None:
    paths, with_teacher, out = job
    data = _extract_stills(paths, with_teacher)
    _save(out, landmarks=data.landmarks, teacher=data.teacher)


def _save(path: Path, **arrays) -> None:
    """Write atomically: an interrupted run never leaves a half-written cache item."""
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)


def _load_clip(path: Path) -> ClipData:
    with np.load(path) as f:
        return ClipData(times=f["times"], size=tuple(int(v) for v in f["size"]), landmarks=f["landmarks"],
                        teacher=f["teacher"], mirrored=f["mirrored"])


def _load_stills(path: Path) -> StillData:
    with np.load(path) as f:
        return StillData(landmarks=f["landmarks"], teacher=f["teacher"])


def _pool_map(function, jobs: list, task: Path, workers: int, desc: str, unit: str) -> None:
    """Run the jobs (in `workers` processes), with a progress bar."""
    from tqdm import tqdm

    if not jobs:
        return
    with tqdm(total=len(jobs), desc=desc, unit=unit, disable=None) as bar:
        if workers <= 1:
            _init_worker(str(task), quiet=False)
            for job in jobs:
                function(job)
                bar.update(1)
            return
        context = multiprocessing.get_context("spawn")  # fork would copy MediaPipe's threads' state
        with context.Pool(workers, initializer=_init_worker, initargs=(str(task), True)) as pool:
            for _ in pool.imap_unordered(function, jobs):
                bar.update(1)


def extract_clips(plans: list[ClipPlan], task: Path, cache: Path, *, workers: int = 2) -> list[ClipData]:
    """Track every planned clip (from the cache where it is there), in the plans' order.

    Args:
        plans: the clips and how to extract them.
        task: the teacher's `face_landmarker.task`.
        cache: folder for the cached results.
        workers: processes to run the trackers in.
    """
    cache.mkdir(parents=True, exist_ok=True)
    outs = [cache / f"{plan.clip.path.stem}-{_cache_key(plan.clip.path, _plan_settings(plan))}.npz"
            for plan in plans]
    jobs = [(plan, out) for plan, out in zip(plans, outs) if not out.exists()]
    _pool_map(_run_clip, jobs, task, workers, "tracking clips", "clip")
    return [_load_clip(out) for out in outs]


def _plan_settings(plan: ClipPlan) -> dict:
    return {"stride": plan.stride, "augmented": plan.augmented, "seed": plan.seed,
            "cameras": [asdict(c) if c is not None else None for c in cameras(plan)]}


STILLS_PER_JOB = 500


def extract_stills(images: list[LabelledImage], task: Path, cache: Path, *, name: str, teacher: bool,
                   workers: int = 2) -> StillData:
    """Track labelled stills in chunks (cached per chunk), in the list's order.

    Args:
        images: the stills.
        task: the teacher's `face_landmarker.task`.
        cache: folder for the cached results.
        name: names the cached chunks ("fer_train", ...).
        teacher: also run the teacher (else `StillData.teacher` is all NaN).
        workers: processes to run the trackers in.
    """
    cache.mkdir(parents=True, exist_ok=True)
    chunks = [images[i:i + STILLS_PER_JOB] for i in range(0, len(images), STILLS_PER_JOB)]
    outs = []
    for n, chunk in enumerate(chunks):
        listing = hashlib.sha256("\n".join(str(image.path) for image in chunk).encode()).hexdigest()[:16]
        # How small stills are enlarged decides what the trackers find in FER2013's faces.
        settings = {"listing": listing, "teacher": teacher, "still_side": SMALL_STILL_SIDE, "still_pads": SMALL_STILL_PADS}
        outs.append(cache / f"{name}-{n:03d}-{_cache_key(chunk[0].path, settings)}.npz")
    jobs = [([image.path for image in chunk], teacher, out) for chunk, out in zip(chunks, outs) if not out.exists()]
    _pool_map(_run_stills, jobs, task, workers, f"tracking {name} ({STILLS_PER_JOB} images each)", "chunk")
    parts = [_load_stills(out) for out in outs]
    return StillData(landmarks=np.concatenate([p.landmarks for p in parts]),
                     teacher=np.concatenate([p.teacher for p in parts]))
