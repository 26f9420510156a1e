"""The training media in `shared/data`, listed, labelled and split by person.

Layout (see the READMEs there): `train/manifest.csv` and `train/video/` (face clips with a
person id each), `train/images/muxspace_fe/<label>/` (emotion-labelled stills, listed in
their own `manifest.csv`), `fer2013/{train,val}/<label>/` (48 x 48 faces), and
`models/face_landmarker.task` (the teacher).
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from avatar_live.errors import AvatarLiveError

VALIDATION_BUCKETS = 5
"""One person in this many (by a hash of the person id) is held out for validation."""

FER_LABELS = {
    "angry": "Anger", "disgust": "Disgust", "fear": "Fear", "happy": "Happy",
    "neutral": "Neutral", "sad": "Sad", "surprise": "Surprise",
}
"""FER2013's folder names -> AffectNet class names (`types.EMOTION_CLASSES`)."""

STILL_LABELS = {
    "anger": "Anger", "contempt": "Contempt", "disgust": "Disgust", "fear": "Fear",
    "sadness": "Sad", "surprise": "Surprise",
}
"""The labelled stills' folder names -> AffectNet class names."""


def default_data_root() -> Path:
    """`$AVATAR_LIVE_DATA`, else `shared/data` beside the checkout."""
    return Path(os.environ.get("AVATAR_LIVE_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))


def is_validation_person(person: str) -> bool:
    """Whether a person is held out: a fixed hash, so the split never depends on the data's order."""
    return int(hashlib.sha256(person.encode()).hexdigest(), 16) % VALIDATION_BUCKETS == 0


@dataclass(frozen=True)
class Clip:
    """A training video.

    Attributes:
        path: the video file.
        person: the person id (clips of one person share it).
        validation: the person is held out.
    """

    path: Path
    person: str
    validation: bool


@dataclass(frozen=True)
class LabelledImage:
    """A still with a human emotion label.

    Attributes:
        path: the image file.
        label: an AffectNet class name.
        group: where it comes from ("fer_train", "fer_val", "stills").
    """

    path: Path
    label: str
    group: str


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise AvatarLiveError(f"{what} not found at {path}: point --data (or AVATAR_LIVE_DATA) at shared/data")
    return path


def teacher_model(root: Path) -> Path:
    """MediaPipe's `face_landmarker.task`, the teacher."""
    return _require(root / "models" / "face_landmarker.task", "the teacher model face_landmarker.task")


def training_clips(root: Path) -> list[Clip]:
    """Every clip of `train/manifest.csv`, in its order."""
    manifest = _require(root / "train" / "manifest.csv", "the training clips' manifest")
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [Clip(path=_require(root / "train" / row["file"], "a training clip"), person=row["person_id"],
                 validation=is_validation_person(row["person_id"])) for row in rows]


def fer_images(root: Path, split: str) -> list[LabelledImage]:
    """FER2013's `train` or `val` faces, sorted by class and file name."""
    folder = _require(root / "fer2013" / split, f"FER2013's {split} split")
    return [LabelledImage(path=path, label=FER_LABELS[path.parent.name], group=f"fer_{split}")
            for path in sorted(folder.glob("*/*.jpg")) if path.parent.name in FER_LABELS]


def labelled_stills(root: Path) -> list[LabelledImage]:
    """The emotion-labelled stills of `train/images/muxspace_fe`, sorted by class and file name."""
    folder = _require(root / "train" / "images" / "muxspace_fe", "the labelled stills")
    return [LabelledImage(path=path, label=STILL_LABELS[path.parent.name], group="stills")
            for path in sorted(folder.glob("*/*")) if path.parent.name in STILL_LABELS
            and path.suffix.lower() in (".jpg", ".jpeg", ".png")]
