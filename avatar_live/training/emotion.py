"""Training the emotion model (`avatar-live train emotion`).

Inputs per face are what the app computes per frame: the shipped expression model's 52
weights, and the face's landmark geometry (`learned.emotion`). Labels: FER2013's training
faces and the labelled stills (both read as stills, as `avatar-live track` reads images),
each face also mirrored. The network's epoch is selected on FER2013's public test split
(`val/`), scored as accuracy over all its images, a face FaceMesh does not find counting as
wrong. Contempt is left to the rules (see `learned.emotion`), so its 9 stills are not
trained on.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avatar_live.encoders.base import FaceInput, read
from avatar_live.encoders.expression import LearnedExpression
from avatar_live.face.builtin import build_builtin_head
from avatar_live.learned.emotion import LEARNED_CLASSES, EmotionNet, save_emotion_net
from avatar_live.learned.expression import ExpressionNet
from avatar_live.learned.features import FEATURE_SIZE, mirror_arkit
from avatar_live.solver.landmark_solver import LandmarkSolver
from avatar_live.training import datasets
from avatar_live.training.extract import extract_stills
from avatar_live.training.fit import FitOptions, fit_mlp
from avatar_live.types import ARKIT_NAMES, EMOTION_CLASSES, Track

log = logging.getLogger(__name__)

MIN_INPUT_STD = 0.05
"""Floor on each input's standard deviation, in weight units (a twentieth of a full weight)."""


@dataclass(frozen=True)
class EmotionRecipe:
    """Everything that decides the trained model.

    Attributes:
        components: principal components of the landmark geometry fed to the network.
        seed: seeds the network.
        fit: the network and its optimisation.
    """

    components: int = 256
    seed: int = 0
    fit: FitOptions = field(default_factory=lambda: FitOptions(hidden=(512, 256), epochs=30, dropout=0.4))


@dataclass(frozen=True)
class LabelledFaces:
    """Faces with labels, as the app reads them.

    Attributes:
        arkit: N x 52 expression weights of the found faces.
        landmarks: N x 478 x 3 their landmarks.
        labels: N class indices (EMOTION_CLASSES).
        total: images in the set, found or not.
    """

    arkit: np.ndarray
    landmarks: np.ndarray
    labels: np.ndarray
    total: int


@dataclass(frozen=True)
class EmotionResult:
    """A trained model and its validation.

    Attributes:
        net: the model.
        accuracy: FER2013 `val/` accuracy over all images (its selected epoch).
        found: the share of `val/` faces FaceMesh found.
        epochs: the validation accuracy after each epoch.
    """

    net: EmotionNet
    accuracy: float
    found: float
    epochs: list[float]


def read_faces(images: list[datasets.LabelledImage], expression: ExpressionNet, task: Path, cache: Path, *,
               name: str, workers: int) -> LabelledFaces:
    """Track stills (cached) and read their weights as the app reads a still's (`app_weights`)."""
    found = extract_stills(images, task, cache / "stills", name=name, teacher=False, workers=workers)
    usable = np.isfinite(found.landmarks[:, 0, 0])
    labels = np.array([EMOTION_CLASSES.index(image.label) for image in images])
    landmarks = found.landmarks[usable]
    return LabelledFaces(arkit=app_weights(landmarks, expression), landmarks=landmarks, labels=labels[usable],
                         total=len(images))


def app_weights(landmarks: np.ndarray, expression: ExpressionNet) -> np.ndarray:
    """The 52 weights the app's default encode stage gives each still (N x 478 x 3 -> N x 52):
    the learned model's, and the landmark solver's for the shapes the learned one leaves to
    it (`encoders.expression.SOLVER_SHAPES`), so the emotion model learns from what it
    will be given."""
    solver = LandmarkSolver.create_from_options(build_builtin_head())
    readout = LearnedExpression(expression)
    image = np.zeros((1, 1, 3), np.uint8)  # only EMOCA reads pixels
    weights = np.empty((len(landmarks), len(ARKIT_NAMES)), np.float32)
    for n, points in enumerate(landmarks):
        track = Track(points, (0.0, 0.0, 0.0, 0.0), 1.0)
        params = solver.solve_image(track)
        read(readout, FaceInput(image, track, 0.0, still=True), params)
        weights[n] = params.arkit
    return weights


def accuracy(net: EmotionNet, faces: LabelledFaces) -> float:
    """Share of all the set's images (found or not) whose most likely class is the label."""
    if not len(faces.labels):
        return 0.0
    return float((net(faces.arkit, faces.landmarks).argmax(axis=1) == faces.labels).sum() / faces.total)


def confusion(net: EmotionNet, faces: LabelledFaces) -> np.ndarray:
    """8 x 8 counts, rows the label, columns the most likely class, over the found faces."""
    matrix = np.zeros((len(EMOTION_CLASSES),) * 2, np.int64)
    np.add.at(matrix, (faces.labels, net(faces.arkit, faces.landmarks).argmax(axis=1)), 1)
    return matrix


def _cross_entropy(logits, targets, weights):
    import torch

    return (torch.nn.functional.cross_entropy(logits, targets, reduction="none") * weights).mean()


def train_emotion(root: Path, cache: Path, expression: ExpressionNet, recipe: EmotionRecipe = EmotionRecipe(), *,
                  workers: int = 2) -> EmotionResult:
    """Extract (or read from the cache), train, select on FER2013 `val/`."""
    task = datasets.teacher_model(root)
    learned = [EMOTION_CLASSES.index(name) for name in LEARNED_CLASSES]
    train = [image for image in datasets.fer_images(root, "train") + datasets.labelled_stills(root)
             if EMOTION_CLASSES.index(image.label) in learned]
    faces = read_faces(train, expression, task, cache, name="emotion-train", workers=workers)
    val = read_faces(datasets.fer_images(root, "val"), expression, task, cache, name="emotion-val", workers=workers)
    log.info("training on %d faces found in %d images, selecting on the %d of %d FER2013 val faces found",
             len(faces.labels), faces.total, len(val.labels), val.total)
    features = expression.features
    arkit = np.stack([faces.arkit, mirror_arkit(faces.arkit)], axis=1).reshape(-1, faces.arkit.shape[1])
    geometry = np.stack([features.with_mirror(face) for face in faces.landmarks]).reshape(-1, FEATURE_SIZE)
    # Whitened principal components of the geometry (fitted on every 4th face: plenty for
    # a few hundred components, and 4x less work).
    sample = geometry[::4]
    _, singular, rows = np.linalg.svd(sample - sample.mean(axis=0), full_matrices=False)
    projection = rows[:recipe.components] * (np.sqrt(len(sample)) / singular[:recipe.components, None])
    inputs = np.concatenate([arkit, geometry @ projection.T], axis=1)
    # A weight that barely varies in training (tongueOut is always 0) must not blow up
    # when it moves at run time: its spread is floored.
    input_mean, input_std = inputs.mean(axis=0), np.maximum(inputs.std(axis=0), MIN_INPUT_STD)
    x = ((inputs - input_mean) / input_std).astype(np.float32)
    y = np.repeat(faces.labels, 2).astype(np.int64)

    def net_of(mlp) -> EmotionNet:
        return EmotionNet(features=features, projection=projection, input_mean=input_mean, input_std=input_std,
                          mlp=mlp)

    mlp, epochs = fit_mlp(x, y, _cross_entropy, len(LEARNED_CLASSES), recipe.fit,
                          validate=lambda mlp: accuracy(net_of(mlp), val), keep_best=True, desc="train emotion")
    net = net_of(mlp)
    return EmotionResult(net=net, accuracy=accuracy(net, val), found=len(val.labels) / val.total, epochs=epochs)


def save(result: EmotionResult, path: Path, recipe: EmotionRecipe, expression_sha256: str) -> None:
    """Write the model with what made it and how it validated; `expression_sha256` names the
    expression model whose weights it was trained on (retraining that one means retraining
    this one)."""
    save_emotion_net(result.net, path, {
        "command": "avatar-live train emotion",
        "expression_sha256": expression_sha256,
        "recipe": asdict(recipe),
        "fer2013_val_accuracy": round(result.accuracy, 4),
        "fer2013_val_found": round(result.found, 4),
    })
