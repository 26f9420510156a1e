"""Drive a second rig from landmark motion: retargeting through landmarks (DESIGN.md).

The landmark solver measures how the user's landmarks move away from their calibrated
neutral, in its own rig's frame, with pose and identity already removed. Another rig with
a linear landmark model (FLAME: 50 expression components and the jaw) is fitted to that
same motion, after a fixed similarity maps the first rig's face onto the second's.
"""

from __future__ import annotations

import numpy as np

from avatar_live.face.rig import JOINT_NAMES, Rig, embed_landmarks, pose_rig
from avatar_live.solver.linear_fit import BoundedLinearFit, LandmarkBasis
from avatar_live.solver.pose import fit_similarity

JAW_OPEN = "jaw_open"
"""The basis column for opening the jaw (rotation about the jaw joint's x axis, radians)."""


def rig_landmark_basis(
    rig: Rig,
    *,
    blendshape_bounds: tuple[float, float] = (-3.0, 3.0),
    jaw_open_bounds: tuple[float, float] | None = (0.0, 0.5),
    jaw_step: float = 0.2,
) -> LandmarkBasis:
    """A rig's landmarks as a linear function of its blendshapes (exact: the embedding is
    barycentric) and, optionally, of opening its jaw joint (linearised over `jaw_step`).

    Args:
        rig: the rig (FLAME: `flame_rig`).
        blendshape_bounds: (lower, upper) for every blendshape weight; FLAME expression
            coefficients live in about -3..3.
        jaw_open_bounds: (lower, upper) radians of jaw opening, or None for no jaw column.
        jaw_step: the angle over which the jaw's landmark motion is linearised.

    Returns:
        The basis; columns are the blendshapes in rig order, then `JAW_OPEN`.
    """
    neutral = embed_landmarks(rig.vertices, rig.faces, rig.embedding)
    corners = rig.faces[rig.embedding.face_idx]  # K x 3
    # Offsets interpolate like positions: column s is bary-weighted offsets at the corners.
    columns = np.einsum("kc,skcd->skd", rig.embedding.bary, rig.blendshapes[:, corners])
    names = tuple(rig.blendshape_names)
    lower = np.full(len(names), blendshape_bounds[0])
    upper = np.full(len(names), blendshape_bounds[1])
    if jaw_open_bounds is not None:
        rotations = np.zeros((len(JOINT_NAMES), 3))
        rotations[JOINT_NAMES.index("jaw"), 0] = jaw_step
        opened = embed_landmarks(pose_rig(rig, np.zeros(len(names), np.float32), rotations), rig.faces, rig.embedding)
        columns = np.concatenate([columns, ((opened - neutral) / jaw_step)[None]])
        names += (JAW_OPEN,)
        lower = np.append(lower, jaw_open_bounds[0])
        upper = np.append(upper, jaw_open_bounds[1])
    return LandmarkBasis(indices=np.asarray(rig.embedding.landmark_indices), neutral=neutral,
                         columns=columns.astype(np.float64), lower=lower, upper=upper, names=names)


class LandmarkRetarget:
    """Fits a target basis to landmark motion measured on a source rig's landmarks.

    Args:
        source_indices: Ks MediaPipe indices of the source's landmark rows.
        source_neutral: Ks x 3 source neutral landmarks (its own frame and units).
        target: the basis to fit; only the landmarks both rigs cover are used.
        prior: ridge weight (see `BoundedLinearFit`).
        depth_weight: weight of depth errors.

    Raises:
        ValueError: fewer than 8 landmarks in common.
    """

    def __init__(self, source_indices: np.ndarray, source_neutral: np.ndarray, target: LandmarkBasis, *,
                 prior: float = 0.05, depth_weight: float = 0.1) -> None:
        target_row = {int(i): k for k, i in enumerate(target.indices)}
        pairs = [(k, target_row[int(i)]) for k, i in enumerate(source_indices) if int(i) in target_row]
        if len(pairs) < 8:
            raise ValueError(f"the rigs share {len(pairs)} landmarks; retargeting needs at least 8")
        self._source_rows, target_rows = (np.array(rows) for rows in zip(*pairs))
        similarity = fit_similarity(source_neutral[self._source_rows], target.neutral[target_rows])
        # Motion vectors map by the similarity's linear part (no translation).
        self._to_target = similarity.scale * similarity.rotation
        self.names = target.names
        self._fit = BoundedLinearFit(
            LandmarkBasis(indices=target.indices[target_rows], neutral=target.neutral[target_rows],
                          columns=target.columns[:, target_rows], lower=target.lower, upper=target.upper,
                          names=target.names),
            prior=prior, depth_weight=depth_weight,
        )

    def fit(self, source_motion: np.ndarray) -> np.ndarray:
        """Target parameters for Ks x 3 source landmark motion; returns P float64."""
        return self._fit.fit(source_motion[self._source_rows] @ self._to_target.T)
