"""The built-in head: a well-formed rig whose shapes do what their ARKit names say.

Distances are checked in eye scales (E, the outer-eye-corner distance), the unit the
landmark solver fits real faces in.
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar_live.face.builtin import (
    DEFAULT_LOOK,
    HAIR_STYLES,
    LOOKS,
    Look,
    build_builtin_head,
)
from avatar_live.face.builtin.build import build_uncached
from avatar_live.face.rig import JOINT_NAMES, MATERIALS, Rig, embed_landmarks, pose_rig
from avatar_live.tracking import topology
from avatar_live.types import ARKIT_INDEX, ARKIT_NAMES

LEFT_EYE = topology.LEFT_EYE_UPPER + topology.LEFT_EYE_LOWER
RIGHT_EYE = topology.RIGHT_EYE_UPPER + topology.RIGHT_EYE_LOWER
BROWS = topology.LEFT_BROW_UPPER + topology.LEFT_BROW_LOWER + topology.RIGHT_BROW_UPPER + topology.RIGHT_BROW_LOWER
LIPS = topology.LIPS_OUTER_UPPER + topology.LIPS_OUTER_LOWER + topology.LIPS_INNER_UPPER + topology.LIPS_INNER_LOWER
NOSE = topology.NOSE_BRIDGE + topology.NOSE_BOTTOM + topology.NOSE_WINGS
ALL_TOPOLOGY = set(LEFT_EYE + RIGHT_EYE + BROWS + LIPS + NOSE + topology.FACE_OVAL + topology.LEFT_IRIS
                   + topology.RIGHT_IRIS + topology.STABLE + (topology.FOREHEAD, topology.CHIN))


@pytest.fixture(scope="module")
def rig() -> Rig:
    return build_builtin_head()


def _weights(**named: float) -> np.ndarray:
    w = np.zeros(len(ARKIT_NAMES), np.float32)
    for name, value in named.items():
        w[ARKIT_INDEX[name]] = value
    return w


def _landmarks(rig: Rig, joint_rotations: np.ndarray | None = None, **named: float) -> dict[int, np.ndarray]:
    posed = pose_rig(rig, _weights(**named), joint_rotations)
    points = embed_landmarks(posed, rig.faces, rig.embedding)
    return {int(i): p for i, p in zip(rig.embedding.landmark_indices, points, strict=True)}


def _pair_gaps(marks: dict[int, np.ndarray], upper, lower) -> np.ndarray:
    return np.array([np.linalg.norm(marks[a] - marks[b]) for a, b in zip(upper, lower, strict=True)])


def _eyeball_ids(rig: Rig, joint: str) -> np.ndarray:
    return np.flatnonzero(rig.skin_weights[:, JOINT_NAMES.index(joint)] > 0.999)


def _triangle_samples(corners: np.ndarray, steps: int = 6) -> np.ndarray:
    """Points on each triangle (T x 3 x 3) on a barycentric grid; T x S x 3."""
    grid = [(i, j, steps - i - j) for i in range(steps + 1) for j in range(steps + 1 - i)]
    bary = np.array(grid, dtype=np.float64) / steps
    return np.einsum("sk,tkd->tsd", bary, corners)


@pytest.mark.parametrize("look", sorted(LOOKS))
def test_build_is_deterministic(look):
    first = build_uncached(LOOKS[look])
    second = build_uncached(LOOKS[look])
    for field in ("vertices", "faces", "materials", "colors", "blendshapes", "joints", "skin_weights"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    np.testing.assert_array_equal(first.embedding.face_idx, second.embedding.face_idx)
    np.testing.assert_array_equal(first.embedding.bary, second.embedding.bary)
    assert first.eye_scale == second.eye_scale


def test_fields_have_the_documented_shapes(rig):
    n, f = len(rig.vertices), len(rig.faces)
    assert rig.name == "builtin"
    assert rig.vertices.shape == (n, 3) and rig.vertices.dtype == np.float32
    assert rig.faces.shape == (f, 3) and rig.faces.dtype == np.int32
    assert rig.faces.min() >= 0 and rig.faces.max() < n
    assert rig.materials.shape == (n,) and rig.materials.dtype == np.uint8
    assert rig.materials.max() < len(MATERIALS)
    assert rig.colors.shape == (n, 3) and rig.colors.dtype == np.float32
    assert rig.colors.min() >= 0.0 and rig.colors.max() <= 1.0
    assert rig.blendshape_names == ARKIT_NAMES
    assert rig.blendshapes.shape == (52, n, 3) and rig.blendshapes.dtype == np.float32
    assert rig.joints.shape == (len(JOINT_NAMES), 3) and rig.joints.dtype == np.float32
    assert rig.skin_weights.shape == (n, len(JOINT_NAMES)) and rig.skin_weights.dtype == np.float32
    k = len(rig.embedding.landmark_indices)
    assert rig.embedding.face_idx.shape == (k,) and rig.embedding.bary.shape == (k, 3)
    assert np.isfinite(rig.vertices).all() and np.isfinite(rig.blendshapes).all()
    # Every material a head needs is used, so the renderer's shading has something to do.
    used = {MATERIALS[m] for m in np.unique(rig.materials)}
    assert {"skin", "sclera", "iris", "pupil", "mouth", "teeth", "tongue", "hair", "lips", "brow"} <= used


def test_size_and_placement(rig):
    # About 11k triangles (head, hair, ears, shoulders): software OpenGL pays for each one, every frame.
    assert 8000 <= len(rig.faces) <= 12000
    low, high = rig.vertices.min(0), rig.vertices.max(0)
    assert np.abs((low + high) / 2)[[0, 2]].max() < 0.3  # centred near the origin
    marks = _landmarks(rig)
    assert 1.7 < high[1] - marks[152][1] < 2.3  # about two units from chin to crown
    # The neck runs on well below the chin, so no cut edge shows at the bottom of a frame.
    eye_line = (marks[33][1] + marks[263][1]) / 2
    assert eye_line - low[1] > 2.6 * rig.eye_scale
    assert marks[1][2] > marks[33][2] and marks[1][2] > marks[263][2]  # the nose points along +z
    assert marks[263][0] > 0 > marks[33][0]  # the subject's left eye is on +x


def test_no_degenerate_triangles(rig):
    tri = rig.vertices[rig.faces].astype(np.float64)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    assert area.min() > 1e-7 * rig.eye_scale**2
    assert len(np.unique(np.sort(rig.faces, axis=1), axis=0)) == len(rig.faces)


def test_outer_surfaces_face_outwards(rig):
    """The renderer culls back faces, so the scalp and the eyeballs must be wound outwards."""
    tri = rig.vertices[rig.faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centroid = tri.mean(axis=1)
    scalp = (rig.materials[rig.faces] == MATERIALS.index("hair")).all(axis=1)
    head_centre = rig.vertices[rig.materials == MATERIALS.index("hair")].mean(axis=0) * [0, 1, 1]
    assert np.mean(np.sum(normals[scalp] * (centroid[scalp] - head_centre), axis=1) > 0) > 0.99
    for joint in ("left_eye", "right_eye"):
        ball = np.isin(rig.faces, _eyeball_ids(rig, joint)).all(axis=1)
        centre = rig.joints[JOINT_NAMES.index(joint)]
        assert (np.sum(normals[ball] * (centroid[ball] - centre), axis=1) > 0).all()


def test_skin_weights(rig):
    np.testing.assert_allclose(rig.skin_weights.sum(axis=1), 1.0, atol=1e-5)
    assert rig.skin_weights.min() >= 0.0
    for joint in ("left_eye", "right_eye"):
        ids = _eyeball_ids(rig, joint)
        assert len(ids) > 100
        assert {MATERIALS[m] for m in rig.materials[ids]} == {"sclera", "iris", "pupil"}
        centre = rig.joints[JOINT_NAMES.index(joint)]
        radius = np.linalg.norm(rig.vertices[ids] - centre, axis=1)
        # The joint is the eyeball's centre; only the catch light stands a hair off the ball.
        on_ball = np.abs(radius / np.median(radius) - 1.0) < 1e-4
        assert on_ball.mean() > 0.9 and radius.max() < 1.04 * np.median(radius)
    eyeball = np.zeros(len(rig.vertices), bool)
    eyeball[np.concatenate([_eyeball_ids(rig, j) for j in ("left_eye", "right_eye")])] = True
    assert (rig.skin_weights[~eyeball][:, [3, 4]] == 0).all()
    jaw = rig.joints[JOINT_NAMES.index("jaw")]
    head = rig.vertices[rig.materials == MATERIALS.index("hair")]
    assert jaw[1] < head[:, 1].mean() and head[:, 2].min() < jaw[2] < _landmarks(rig)[152][2]


def test_embedding_covers_the_topology(rig):
    emb = rig.embedding
    assert ALL_TOPOLOGY.issubset(emb.landmark_indices.tolist())
    assert len(np.unique(emb.landmark_indices)) == len(emb.landmark_indices)
    assert emb.face_idx.min() >= 0 and emb.face_idx.max() < len(rig.faces)
    np.testing.assert_allclose(emb.bary.sum(axis=1), 1.0, atol=1e-5)
    assert emb.bary.min() >= -1e-6


def test_landmarks_sit_on_their_parts(rig):
    row = {int(i): k for k, i in enumerate(rig.embedding.landmark_indices)}
    corner_joints = rig.skin_weights[rig.faces[rig.embedding.face_idx]].mean(axis=1)
    for index in topology.LEFT_IRIS:
        assert corner_joints[row[index], JOINT_NAMES.index("left_eye")] == 1.0
    for index in topology.RIGHT_IRIS:
        assert corner_joints[row[index], JOINT_NAMES.index("right_eye")] == 1.0
    for index in LIPS + LEFT_EYE + RIGHT_EYE + BROWS + NOSE + topology.FACE_OVAL:
        assert corner_joints[row[index], 3:].sum() == 0.0  # on the skin, not an eyeball
    marks = _landmarks(rig)
    e = rig.eye_scale
    np.testing.assert_allclose(np.linalg.norm(marks[33] - marks[263]), e, rtol=1e-3)
    # Contours run the documented way: lips and eyes from the subject's right (-x) ...
    assert marks[61][0] < marks[0][0] < marks[291][0]
    assert marks[78][0] < marks[13][0] < marks[308][0]
    # ... eyes and brows from the outer end to the inner end.
    assert marks[33][0] < marks[133][0] < 0 < marks[362][0] < marks[263][0]
    assert marks[70][0] < marks[107][0] < 0 < marks[336][0] < marks[300][0]
    assert marks[475][1] > marks[473][1] > marks[477][1] and marks[474][0] > marks[473][0] > marks[476][0]
    assert marks[10][1] > marks[168][1] > marks[1][1] > marks[2][1] > marks[13][1] > marks[152][1]


def test_proportions_are_roughly_human(rig):
    m = _landmarks(rig)
    e = rig.eye_scale
    eye_line = (m[33][1] + m[263][1]) / 2
    assert 0.45 < np.linalg.norm(m[61] - m[291]) / e < 0.7  # mouth width
    assert 0.25 < np.linalg.norm(m[33] - m[133]) / e < 0.38  # eye width
    # Resting eye opening a little wider than MediaPipe measures on real faces (0.07-0.10 E):
    # narrower lids cost the solver blink fidelity. The outer eye corner sits a little above
    # the inner one, as on real faces.
    assert 0.07 < (m[386][1] - m[374][1]) / e < 0.12
    assert 0.01 < (m[263][1] - m[362][1]) / e < 0.04
    # The mouth corners sit well behind the middle of the lips, as on real faces (else a
    # real resting mouth reads as a funnel).
    assert (m[13][2] - (m[61][2] + m[291][2]) / 2) / e > 0.09
    assert 0.2 < np.linalg.norm(m[1] - m[0]) / e < 0.4  # nose tip to upper lip
    assert 0.12 < (m[105][1] - m[468][1]) / e < 0.35  # brow above the eye
    assert 1.0 < (eye_line - m[152][1]) / e < 1.4  # chin below the eye line


def test_every_shape_is_visible_at_full_weight(rig):
    """Each ARKit shape moves some vertex by a visible amount: 3% of an eye scale is about a
    pixel and a half on a webcam-sized face (the eyeLook shapes only follow the lids, since
    the eye joints do the looking, so they are held to 2%)."""
    for name in ARKIT_NAMES:
        largest = np.linalg.norm(rig.blendshapes[ARKIT_INDEX[name]], axis=1).max() / rig.eye_scale
        assert largest > (0.02 if name.startswith("eyeLook") else 0.03), (name, largest)


def test_every_shape_moves_the_face(rig):
    base = _landmarks(rig)
    for name in ARKIT_NAMES:
        offsets = rig.blendshapes[ARKIT_INDEX[name]]
        assert np.linalg.norm(offsets, axis=1).max() > 0.015 * rig.eye_scale, name
        moved = _landmarks(rig, **{name: 1.0})
        assert max(np.linalg.norm(moved[i] - base[i]) for i in base) > 0.005 * rig.eye_scale, name


@pytest.mark.parametrize("name", [n for n in ARKIT_NAMES if n.endswith("Left")])
def test_left_and_right_shapes_move_their_own_side(rig, name):
    """Left is the subject's left, +x: one-sided shapes stay on it, jaw/mouth shifts go to it."""
    for shape, sign in ((name, 1.0), (name.replace("Left", "Right"), -1.0)):
        offsets = rig.blendshapes[ARKIT_INDEX[shape]]
        motion = np.linalg.norm(offsets, axis=1)
        if shape.startswith(("jaw", "mouthLeft", "mouthRight")):
            moving = motion > 0.25 * motion.max()
            assert sign * offsets[moving, 0].sum() > 0.75 * motion[moving].sum(), shape
        else:
            assert motion[sign * rig.vertices[:, 0] > 0].sum() > 0.8 * motion.sum(), shape
    left = np.linalg.norm(rig.blendshapes[ARKIT_INDEX[name]], axis=1).sum()
    right = np.linalg.norm(rig.blendshapes[ARKIT_INDEX[name.replace("Left", "Right")]], axis=1).sum()
    assert left == pytest.approx(right, rel=0.02)  # mirror twins


@pytest.mark.parametrize(
    ("prefix", "region"),
    [("eye", LEFT_EYE + RIGHT_EYE), ("brow", BROWS), ("mouth", LIPS), ("jaw", LIPS + topology.FACE_OVAL),
     ("noseSneer", NOSE), ("tongueOut", LIPS), ("cheekPuff", LIPS + topology.FACE_OVAL)],
)
def test_shapes_move_their_region(rig, prefix, region):
    base = _landmarks(rig)
    for name in (n for n in ARKIT_NAMES if n.startswith(prefix)):
        moved = _landmarks(rig, **{name: 1.0})
        motion = {i: np.linalg.norm(moved[i] - base[i]) for i in base}
        assert max(motion, key=motion.get) in region, name
    if prefix in ("eye", "brow"):  # nothing below the nose
        for name in (n for n in ARKIT_NAMES if n.startswith(prefix)):
            below = np.flatnonzero(rig.vertices[:, 1] < base[2][1])
            assert np.abs(rig.blendshapes[ARKIT_INDEX[name]][below]).max() < 1e-6, name


def test_jaw_open_parts_the_lips_and_drops_the_chin(rig):
    base = _landmarks(rig)
    opened = _landmarks(rig, jawOpen=1.0)
    e = rig.eye_scale
    assert _pair_gaps(opened, topology.LIPS_INNER_UPPER, topology.LIPS_INNER_LOWER)[5] > 0.3 * e
    assert 0.35 * e < base[14][1] - opened[14][1] < 0.55 * e
    assert 0.35 * e < np.linalg.norm(opened[152] - base[152]) < 0.65 * e
    assert np.linalg.norm(opened[13] - base[13]) < 0.05 * e  # the upper lip stays
    assert np.linalg.norm(opened[1] - base[1]) < 1e-6  # and the nose
    # Closed at rest: the lips meet.
    assert _pair_gaps(base, topology.LIPS_INNER_UPPER, topology.LIPS_INNER_LOWER).max() < 1e-5


def test_mouth_close_shuts_the_lips_over_an_open_jaw(rig):
    closed = _landmarks(rig, jawOpen=1.0, mouthClose=1.0)
    gaps = _pair_gaps(closed, topology.LIPS_INNER_UPPER, topology.LIPS_INNER_LOWER)
    assert gaps.max() < 0.02 * rig.eye_scale
    assert _landmarks(rig)[152][1] - closed[152][1] > 0.2 * rig.eye_scale  # the jaw is still open


@pytest.mark.parametrize(
    ("name", "eye", "other"),
    [("eyeBlinkLeft", (topology.LEFT_EYE_UPPER, topology.LEFT_EYE_LOWER), LEFT_EYE),
     ("eyeBlinkRight", (topology.RIGHT_EYE_UPPER, topology.RIGHT_EYE_LOWER), RIGHT_EYE)],
)
def test_blink_closes_its_own_lids(rig, name, eye, other):
    base = _landmarks(rig)
    shut = _landmarks(rig, **{name: 1.0})
    e = rig.eye_scale
    assert _pair_gaps(base, *eye)[4] > 0.08 * e
    assert _pair_gaps(shut, *eye).max() < 0.01 * e
    assert base[eye[0][4]][1] - shut[eye[0][4]][1] > 0.06 * e  # the upper lid comes down
    untouched = set(LEFT_EYE + RIGHT_EYE) - set(other)
    assert max(np.linalg.norm(shut[i] - base[i]) for i in untouched) < 1e-6


@pytest.mark.parametrize("joint", ["left_eye", "right_eye"])
def test_eyeballs_never_poke_through_the_lids(rig, joint):
    side = "Left" if joint == "left_eye" else "Right"
    centre = rig.joints[JOINT_NAMES.index(joint)].astype(np.float64)
    ball = _eyeball_ids(rig, joint)
    radius = np.linalg.norm(rig.vertices[ball[0]] - centre)
    eyeball = np.zeros(len(rig.vertices), bool)
    eyeball[ball] = True
    near = np.linalg.norm(rig.vertices - centre, axis=1) < 2.5 * radius
    lid_faces = near[rig.faces].all(axis=1) & ~eyeball[rig.faces].any(axis=1)
    gaze = np.zeros((len(JOINT_NAMES), 3))
    for blink in np.linspace(0.0, 1.0, 6):
        for extra in ({}, {f"eyeSquint{side}": 1.0}, {f"eyeLookDown{side}": 1.0}):
            posed = pose_rig(rig, _weights(**{f"eyeBlink{side}": blink}, **extra), gaze)
            corners = posed[rig.faces[lid_faces]].astype(np.float64)
            outside = (np.linalg.norm(corners - centre, axis=2) > radius).all(axis=1)
            # Lid triangles (all corners outside the eyeball) stay outside it everywhere;
            # the others are the lid margins that tuck in behind the eyeball's surface.
            distance = np.linalg.norm(_triangle_samples(corners[outside]) - centre, axis=2)
            assert distance.min() > radius, (blink, extra)
    # Shut, the lid lies in front of every eyeball point inside the open eye, whatever the gaze.
    opening = _landmarks(rig)
    upper, lower = ((topology.LEFT_EYE_UPPER, topology.LEFT_EYE_LOWER) if side == "Left"
                    else (topology.RIGHT_EYE_UPPER, topology.RIGHT_EYE_LOWER))
    contour = np.array([opening[i][:2] for i in upper + lower[::-1]])
    for yaw, pitch in ((0.0, 0.0), (0.35, 0.2), (-0.35, -0.2)):
        gaze[JOINT_NAMES.index(joint)] = (pitch, yaw, 0.0)
        posed = pose_rig(rig, _weights(**{f"eyeBlink{side}": 1.0}), gaze)
        skin_faces = ~eyeball[rig.faces].any(axis=1) & near[rig.faces].all(axis=1)
        for point in posed[ball]:
            if point[2] < centre[2] or not _inside(contour, point[:2]):
                continue
            z = _surface_z(posed, rig.faces[skin_faces], point[:2])
            assert z is not None and z > point[2]


def _inside(polygon: np.ndarray, point: np.ndarray) -> bool:
    x, y = point
    xs, ys = polygon[:, 0], polygon[:, 1]
    crossing = (ys > y) != (np.roll(ys, -1) > y)
    at = xs + (y - ys) * (np.roll(xs, -1) - xs) / np.where(crossing, np.roll(ys, -1) - ys, 1.0)
    return bool(np.sum(crossing & (x < at)) % 2)


def _surface_z(points: np.ndarray, faces: np.ndarray, xy: np.ndarray) -> float | None:
    """Largest z of the mesh along the line of sight through (x, y), or None."""
    tri = points[faces].astype(np.float64)
    a, b, c = tri[:, 0, :2], tri[:, 1, :2], tri[:, 2, :2]
    det = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    ok = np.abs(det) > 1e-12
    det = np.where(ok, det, 1.0)
    u = ((xy[0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (xy[1] - a[:, 1])) / det
    v = ((b[:, 0] - a[:, 0]) * (xy[1] - a[:, 1]) - (xy[0] - a[:, 0]) * (b[:, 1] - a[:, 1])) / det
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1)
    if not hit.any():
        return None
    z = (1 - u - v) * tri[:, 0, 2] + u * tri[:, 1, 2] + v * tri[:, 2, 2]
    return float(z[hit].max())


def test_priority_shapes_have_human_magnitudes(rig):
    e = rig.eye_scale
    base = _landmarks(rig)

    def moved(index: int, **named: float) -> np.ndarray:
        return (_landmarks(rig, **named)[index] - base[index]) / e

    smile = moved(291, mouthSmileLeft=1.0)
    assert 0.08 < smile[0] < 0.17 and 0.08 < smile[1] < 0.17
    assert np.linalg.norm(moved(61, mouthSmileLeft=1.0)) < 0.01
    assert -0.12 < moved(291, mouthFrownLeft=1.0)[1] < -0.05
    assert 0.08 < moved(107, browInnerUp=1.0)[1] < 0.16 and 0.08 < moved(336, browInnerUp=1.0)[1] < 0.16
    assert moved(300, browInnerUp=1.0)[1] < 0.03
    assert 0.06 < moved(300, browOuterUpLeft=1.0)[1] < 0.14 and abs(moved(336, browOuterUpLeft=1.0)[1]) < 0.03
    down = moved(336, browDownLeft=1.0)
    assert -0.12 < down[1] < -0.03 and down[0] < 0  # down and in, towards the nose
    assert 0.03 < moved(386, eyeWideLeft=1.0)[1] < 0.09
    assert 0.02 < moved(374, eyeSquintLeft=1.0)[1] < 0.06
    for name in ("mouthPucker", "mouthFunnel"):
        marks = _landmarks(rig, **{name: 1.0})
        ratio = np.linalg.norm(marks[61] - marks[291]) / np.linalg.norm(base[61] - base[291])
        assert 0.65 < ratio < 0.85, name
    assert 0.07 < moved(0, mouthLeft=1.0)[0] < 0.14 and -0.14 < moved(0, mouthRight=1.0)[0] < -0.07
    for name in (n for n in ARKIT_NAMES if n.startswith("eyeLook")):
        assert np.linalg.norm(rig.blendshapes[ARKIT_INDEX[name]], axis=1).max() < 0.06 * e, name


@pytest.mark.parametrize("rotation", [(0.0, 0.0, 0.0), (-0.35, 0.0, 0.0), (0.0, 0.0, 0.3), (0.0, 0.8, 0.0)])
def test_head_and_shoulders_framing(rig, rotation):
    """A 640 x 480 frame shows the whole head with the shoulders across its bottom edge,
    even with the head turned: no cut edge of a neck or body shows."""
    from avatar_live.render.backdrop import Backdrop
    from avatar_live.render.renderer import AvatarRenderer, RenderOptions
    from avatar_live.types import FaceParams

    params = FaceParams.neutral()
    params = FaceParams(True, np.array(rotation, np.float32), params.translation, params.arkit, params.gaze, 1.0)
    options = RenderOptions(size=(640, 480), backdrop=Backdrop(kind="transparent", text="transparent"))
    renderer = AvatarRenderer.create_from_options(rig, options)
    try:
        alpha = renderer.render(params)[..., 3]
    finally:
        renderer.release()
    covered = alpha > 127
    assert covered[-1].sum() > 0.4 * alpha.shape[1]  # the shoulders span the bottom edge
    assert not covered[0].any()  # room above the hair
    rows = np.flatnonzero(covered.any(axis=1))
    assert rows[0] > 5 and rows[0] < 0.2 * alpha.shape[0]  # the head fills the frame's height


def test_looks_change_colours_and_hair_only(rig):
    """Every preset builds; looks share the face, its shapes, joints and landmarks, so the
    solver fits any of them the same way."""
    assert {look.hair_style for look in LOOKS.values()} == set(HAIR_STYLES)
    # The skin and eyeballs, which carry every landmark, come first; hair, ears and top after.
    n = int(rig.faces[rig.embedding.face_idx].max()) + 1
    for name, look in LOOKS.items():
        other = build_builtin_head(look)
        np.testing.assert_array_equal(other.vertices[:n], rig.vertices[:n], err_msg=name)
        np.testing.assert_array_equal(other.blendshapes[:, :n], rig.blendshapes[:, :n], err_msg=name)
        np.testing.assert_array_equal(other.joints, rig.joints, err_msg=name)
        np.testing.assert_array_equal(other.embedding.bary, rig.embedding.bary, err_msg=name)
        np.testing.assert_array_equal(other.embedding.face_idx, rig.embedding.face_idx, err_msg=name)
        assert other.eye_scale == rig.eye_scale
        if look != DEFAULT_LOOK:
            assert not np.array_equal(other.colors[:n], rig.colors[:n]), name
    with pytest.raises(ValueError):
        Look(hair_style="mohawk")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Look(skin=(1.2, 0.5, 0.5))
