"""Training the expression model (`avatar-live train expression`).

Student: an MLP from FaceMesh's landmarks on a frame (`learned.features`) to 52 ARKit
weights. Teacher: MediaPipe FaceLandmarker's blendshape scores on the clean frame. Data:

- the training people's clips (`datasets.training_clips`, validation people held out),
  every `stride`-th frame, each through the clean camera and `cameras` simulated ones
  (`augment`; the first mirrored, its teacher weights' Left and Right swapped);
- every `fer_every`-th FER2013 training face and the labelled stills (faces and
  expressions the talking-head clips lack: fear, disgust, wide eyes);
- every sample also mirrored in landmark space (`features.mirror_index`).

Validation: the held-out people's clips, every frame, clean: per-shape Pearson r with the
teacher, for the shapes the teacher moves in each clip (`fidelity.compare`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avatar_live.learned.expression import ExpressionNet, save_expression_net
from avatar_live.learned.features import FEATURE_SIZE, LandmarkFeatures, mirror_arkit
from avatar_live.training import datasets
from avatar_live.training.extract import (
    ClipData,
    ClipPlan,
    extract_clips,
    extract_stills,
)
from avatar_live.training.fidelity import FidelityReport, compare
from avatar_live.training.fit import FitOptions, fit_mlp
from avatar_live.training.template import fit_template
from avatar_live.types import ARKIT_NAMES

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ExpressionRecipe:
    """Everything that decides the trained model (all seeded: the same recipe and data give
    the same file).

    Attributes:
        stride: every stride-th frame of a training clip (neighbours teach little more).
        cameras: simulated cameras per training clip besides the clean one.
        fer_every: every n-th FER2013 training face (its teacher pass is the slowest part).
        template_faces: clean training faces the template is the mean of.
        seed: seeds the cameras, the template's sample and the network.
        fit: the network and its optimisation.
    """

    stride: int = 2
    cameras: int = 2
    fer_every: int = 2
    template_faces: int = 2000
    seed: int = 0
    fit: FitOptions = field(default_factory=lambda: FitOptions(hidden=(256, 256), epochs=30, dropout=0.0))


@dataclass(frozen=True)
class ValidationClip:
    """A held-out person's clip: clean landmarks and the teacher's weights where both saw the face."""

    name: str
    person: str
    landmarks: np.ndarray
    teacher: np.ndarray


@dataclass(frozen=True)
class ExpressionResult:
    """A trained model and how it did on the validation people.

    Attributes:
        net: the model.
        reports: per validation clip, the agreement with the teacher.
        samples: training samples (mirrors included).
        epochs: the validation mean r after each epoch.
    """

    net: ExpressionNet
    reports: list[FidelityReport]
    samples: int
    epochs: list[float]


def _clip_samples(data: ClipData) -> tuple[list[np.ndarray], list[np.ndarray]]:
    landmarks, targets = [], []
    for camera, mirrored in enumerate(data.mirrored):
        found = np.isfinite(data.landmarks[camera][:, 0, 0]) & np.isfinite(data.teacher[:, 0])
        landmarks.append(data.landmarks[camera][found])
        targets.append(mirror_arkit(data.teacher[found]) if mirrored else data.teacher[found])
    return landmarks, targets


def collect(root: Path, cache: Path, recipe: ExpressionRecipe, *, workers: int) -> tuple[np.ndarray, np.ndarray, list[ValidationClip]]:
    """Track the training media (cached) and gather the samples.

    Returns:
        N x 478 x 3 training landmarks (pixels), N x 52 teacher weights, and the
        validation clips.
    """
    clips = datasets.training_clips(root)
    task = datasets.teacher_model(root)
    plans = [ClipPlan(clip, stride=1 if clip.validation else recipe.stride,
                      augmented=0 if clip.validation else recipe.cameras, seed=recipe.seed) for clip in clips]
    data = extract_clips(plans, task, cache / "clips", workers=workers)
    landmarks, targets, validation = [], [], []
    for clip, clip_data in zip(clips, data):
        if clip.validation:
            found = np.isfinite(clip_data.landmarks[0][:, 0, 0]) & np.isfinite(clip_data.teacher[:, 0])
            validation.append(ValidationClip(clip.path.name, clip.person, clip_data.landmarks[0][found],
                                             clip_data.teacher[found]))
            continue
        more_landmarks, more_targets = _clip_samples(clip_data)
        landmarks += more_landmarks
        targets += more_targets
    stills = datasets.fer_images(root, "train")[::recipe.fer_every] + datasets.labelled_stills(root)
    found = extract_stills(stills, task, cache / "stills", name=f"expression-{recipe.fer_every}", teacher=True,
                           workers=workers)
    usable = np.isfinite(found.landmarks[:, 0, 0]) & np.isfinite(found.teacher[:, 0])
    landmarks.append(found.landmarks[usable])
    targets.append(found.teacher[usable])
    return np.concatenate(landmarks), np.concatenate(targets), validation


def fit_features(landmarks: np.ndarray, recipe: ExpressionRecipe) -> tuple[LandmarkFeatures, np.ndarray]:
    """The feature map (template, mirror index, standardization) fitted to the training faces
    and their mirror images, and the standardized features of both (N x 2 x D)."""
    rng = np.random.default_rng(recipe.seed)
    sample = rng.choice(len(landmarks), min(recipe.template_faces, len(landmarks)), replace=False)
    template, mirror_index = fit_template(landmarks[np.sort(sample)])
    probe = LandmarkFeatures(template, np.zeros(FEATURE_SIZE), np.ones(FEATURE_SIZE), mirror_index)
    raw = np.stack([probe.with_mirror(face) for face in landmarks])
    mean = raw.mean(axis=(0, 1), dtype=np.float64)
    # The rotation entries of a frontal face barely vary; a floor keeps them from exploding.
    std = np.maximum(raw.std(axis=(0, 1), dtype=np.float64), 1e-3)
    raw -= mean.astype(np.float32)
    raw /= std.astype(np.float32)
    return LandmarkFeatures(template, mean, std, mirror_index), raw


def _bce(logits, targets, weights):
    import torch

    per_sample = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=1)
    return (per_sample * weights).mean()


def validate(net: ExpressionNet, clips: list[ValidationClip]) -> list[FidelityReport]:
    """Agreement with the teacher on each validation clip, frame by frame (no smoothing)."""
    return [compare(clip.name, net(clip.landmarks), clip.teacher) for clip in clips]


def mean_r(reports: list[FidelityReport]) -> float:
    """The mean over clips of each clip's mean r (clips where the teacher moves nothing are left out)."""
    return float(np.nanmean([report.mean_r for report in reports]))


def train_expression(root: Path, cache: Path, recipe: ExpressionRecipe = ExpressionRecipe(), *,
                     workers: int = 2) -> ExpressionResult:
    """Extract (or read from the cache), train, validate. See the module docstring."""
    landmarks, targets, validation = collect(root, cache, recipe, workers=workers)
    log.info("training on %d faces (%d with mirrors), validating on %d clips of %d held-out people",
             len(landmarks), 2 * len(landmarks), len(validation), len({c.person for c in validation}))
    features, pairs = fit_features(landmarks, recipe)
    x = pairs.reshape(-1, FEATURE_SIZE)
    y = np.stack([targets, mirror_arkit(targets)], axis=1).reshape(-1, len(ARKIT_NAMES)).astype(np.float32)

    def score(mlp) -> float:
        return mean_r(validate(ExpressionNet(features, mlp), validation))

    mlp, epochs = fit_mlp(x, y, _bce, len(ARKIT_NAMES), recipe.fit, validate=score, desc="train expression")
    net = ExpressionNet(features, mlp)
    return ExpressionResult(net=net, reports=validate(net, validation), samples=len(x), epochs=epochs)


def save(result: ExpressionResult, path: Path, recipe: ExpressionRecipe) -> None:
    """Write the model with what made it and how it validated."""
    save_expression_net(result.net, path, {
        "command": "avatar-live train expression",
        "recipe": asdict(recipe),
        "samples": result.samples,
        "validation_mean_r": round(mean_r(result.reports), 4),
        "validation_clips": len(result.reports),
    })
