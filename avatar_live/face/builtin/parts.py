"""Separate meshes: eyeballs and their highlights, lid margins, ears, the mouth cavity, teeth and tongue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.face.builtin.design import (
    CARUNCLE_COLOR,
    EYE_RADIUS,
    IRIS_ANGLE,
    LID_LENGTH,
    LIMBUS_COLOR,
    MATERIAL_ID,
    MOUTH_COLOR,
    MOUTH_Y,
    PUPIL_ANGLE,
    PUPIL_COLOR,
    SCLERA_COLOR,
    SOCKET_DEPTH,
    TEETH_COLOR,
    THROAT_COLOR,
    TONGUE_COLOR,
)
from avatar_live.face.builtin.eyes import EyeFrame
from avatar_live.face.builtin.geometry import (
    fan_faces,
    orient,
    ramp,
    ring_faces,
    uv_sphere,
)
from avatar_live.face.builtin.look import Look
from avatar_live.face.rig import axis_angle_to_matrix


@dataclass(frozen=True)
class Part:
    """A piece of the head before assembly.

    Face indices are local to the part; a part sewn to the skin (see `assemble`) numbers
    the skin loop it is sewn to first.
    """

    points: np.ndarray  # N x 3 cm, at rest
    faces: np.ndarray  # F x 3
    materials: np.ndarray  # N
    colors: np.ndarray  # N x 3


EYE_RINGS = np.array([0.0, 0.09, PUPIL_ANGLE, PUPIL_ANGLE + 0.02, 0.3, IRIS_ANGLE - 0.03, IRIS_ANGLE,
                      IRIS_ANGLE + 0.025, 0.75, 1.1, 1.6, 2.2, np.pi])
EYE_SEGMENTS = 16  # divisible by 4: the iris-rim landmarks sit on vertices at 0, 90, 180, 270 degrees


def eyeball_part(frame: EyeFrame, look: Look) -> tuple[Part, np.ndarray]:
    """An eyeball looking along +z, its iris `look.iris`: lighter round the pupil, darker at the rim.

    Returns:
        The part, and the local ids of the pupil centre and the iris rim at +x, +y, -x, -y.
    """
    unit, faces = uv_sphere(EYE_RINGS, EYE_SEGMENTS)
    angle = np.arccos(np.clip(unit[:, 2], -1.0, 1.0))
    iris_t = ramp(angle, PUPIL_ANGLE, IRIS_ANGLE - 0.03)[:, None]
    pupil, iris, limbus = angle <= PUPIL_ANGLE + 1e-6, angle < IRIS_ANGLE - 0.01, angle < IRIS_ANGLE + 0.01
    iris_inner, iris_outer = np.clip(look.color("iris") * 1.35, 0.0, 1.0), look.color("iris") * 0.6
    colors = np.where(pupil[:, None], PUPIL_COLOR,
                      np.where(iris[:, None], iris_inner * (1 - iris_t) + iris_outer * iris_t,
                               np.where(limbus[:, None], LIMBUS_COLOR, SCLERA_COLOR)))
    materials = np.where(pupil, MATERIAL_ID["pupil"], np.where(limbus, MATERIAL_ID["iris"], MATERIAL_ID["sclera"]))
    rim = 1 + (np.searchsorted(EYE_RINGS, IRIS_ANGLE) - 1) * EYE_SEGMENTS
    landmarks = np.array([0] + [rim + k * EYE_SEGMENTS // 4 for k in range(4)])
    return Part(frame.centre + EYE_RADIUS * unit, faces, materials, colors), landmarks


def socket_points(loop_points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """The lid margins' inner edge: each lid-edge point pulled in towards the eye centre."""
    direction = loop_points - centre
    return centre + SOCKET_DEPTH * EYE_RADIUS * direction / np.linalg.norm(direction, axis=1, keepdims=True)


def socket_part(loop_points: np.ndarray, frame: EyeFrame, look: Look) -> Part:
    """The lid margins: a strip from the lid edges in behind the eyeball's surface, so no gap
    between lid and eyeball shows. Sewn to the lid-edge loop (L x 3, outer corner first)."""
    points = socket_points(loop_points, frame.centre)
    n = len(loop_points)
    faces = orient(np.concatenate([loop_points, points]), ring_faces(np.arange(n), n + np.arange(n)), frame.axes[2])
    local = frame.to_local(points)
    corner = ramp(np.abs(local[:, 0]) / LID_LENGTH, 0.45, 0.7)[:, None]
    upper = (local[:, 1] > local[0, 1])[:, None]
    colors = np.where(upper, look.color("lash"), CARUNCLE_COLOR * 0.8) * (1 - corner) + CARUNCLE_COLOR * corner
    return Part(points, faces, np.full(n, MATERIAL_ID["skin"]), colors)


# Cavity rings behind the lips: (width factor, half height, depth behind the lip edge, share
# of the way from the edge's own depth to the mouth centre's).
CAVITY_RINGS = np.array([[0.96, 0.30, 0.45, 0.0], [1.00, 0.62, 1.15, 0.3], [1.10, 1.00, 2.40, 0.7],
                         [0.85, 1.10, 4.00, 1.0]])
CAVITY_FOLLOW = np.array([1.0, 0.7, 0.3, 0.0])
"""How much each cavity ring follows the lip edge's motion (the rest is the jaw's)."""


def cavity_part(loop_points: np.ndarray, side: np.ndarray, look: Look) -> Part:
    """A dark bag behind the lips, closed at the throat. Sewn to the lip-edge loop (L x 3;
    side L: +1 upper lip, -1 lower, 0 corner)."""
    centre_z = loop_points[:, 2].max()
    x = loop_points[:, 0]
    roundness = np.sqrt(np.clip(1.0 - (x / np.abs(x).max()) ** 4, 0.0, 1.0))
    rings = [np.stack([x * width, MOUTH_Y + side * roundness * height,
                       loop_points[:, 2] * (1.0 - share) + centre_z * share - depth], axis=1)
             for width, height, depth, share in CAVITY_RINGS]
    throat = np.array([[0.0, MOUTH_Y, centre_z - CAVITY_RINGS[-1, 2] - 0.8]])
    points = np.concatenate(rings + [throat])
    n = len(loop_points)
    ids = [np.arange(n) + k * n for k in range(len(rings) + 1)]
    faces = np.concatenate([ring_faces(ids[k], ids[k + 1]) for k in range(len(rings))]
                           + [fan_faces(ids[-1], n + len(points) - 1, apex_first=False)])
    towards = np.zeros((len(faces), 3))
    towards[-n:, 2] = 1.0  # the throat faces the viewer
    faces = orient(np.concatenate([loop_points, points]), faces, towards)
    depth = np.concatenate([np.repeat(np.arange(1, len(rings) + 1), n), [len(rings) + 1]])
    shade = ramp(depth, 1, len(rings) + 1)[:, None]
    colors = MOUTH_COLOR * (1 - shade) + THROAT_COLOR * shade
    colors[:n] = look.color("lips") * 0.75  # the inner side of the lips
    materials = np.where(depth == 1, MATERIAL_ID["lips"], MATERIAL_ID["mouth"])
    return Part(points, faces, materials, colors)


# Stations along the arch (cm from the middle). Stylized teeth are one clean white band:
# drawn gaps between the teeth read as a comb at webcam sizes.
TOOTH_EDGES = np.array([0.0, 0.43, 0.8, 1.13, 1.45, 1.78, 2.1])
# Tooth cross-section: (height from the biting edge, depth behind the front face), cm.
TOOTH_PROFILE = np.array([[1.0, 0.04], [0.1, 0.0], [0.0, 0.13], [0.1, 0.27], [1.0, 0.3]])


def teeth_part(front_z: float, upper: bool) -> Part:
    """One dental arch: a rounded slab along a parabola behind the lips."""
    edges = TOOTH_EDGES * (1.0 if upper else 0.9)
    half = np.sort(np.concatenate([edges, 0.5 * (edges[1:] + edges[:-1])]))
    x = np.concatenate([-half[:0:-1], half])
    curve = 0.27
    arch = np.stack([x, np.zeros_like(x), front_z - curve * x * x], 1)
    outward = np.stack([2.0 * curve * x, np.zeros_like(x), np.ones_like(x)], 1)
    outward /= np.linalg.norm(outward, axis=1, keepdims=True)
    # The upper incisors reach a little below the upper lip, so they show when the mouth opens.
    sign, bite = (1.0, MOUTH_Y - 0.5) if upper else (-1.0, MOUTH_Y + 0.07)
    points = np.concatenate([arch + np.array([0.0, bite + sign * height, 0.0]) - depth * outward
                             for height, depth in TOOTH_PROFILE])
    n = x.size
    ids = np.arange(len(TOOTH_PROFILE) * n).reshape(len(TOOTH_PROFILE), n)
    faces = np.concatenate([np.concatenate([np.stack([ids[r, :-1], ids[r + 1, :-1], ids[r + 1, 1:]], 1),
                                            np.stack([ids[r, :-1], ids[r + 1, 1:], ids[r, 1:]], 1)])
                            for r in range(len(TOOTH_PROFILE) - 1)])
    towards = np.zeros((len(faces), 3))
    towards[np.isin(faces, ids[:2]).all(axis=1), 2] = 1.0  # the front faces the viewer
    # A touch darker towards the back of the arch, so the band reads as round.
    colors = TEETH_COLOR * (1.0 - 0.12 * ramp(np.tile(np.abs(x), len(TOOTH_PROFILE)), 0.8, 2.1))[:, None]
    return Part(points, orient(points, faces, towards), np.full(len(points), MATERIAL_ID["teeth"]), colors)


def tongue_part(front_z: float) -> Part:
    """A flattened ellipsoid lying on the floor of the mouth, tip forward."""
    unit, faces = uv_sphere(np.linspace(0.0, np.pi, 9), 12)
    points = np.array([0.0, MOUTH_Y - 0.9, front_z - 3.1]) + unit * np.array([1.65, 0.55, 2.1])
    shade = 0.85 + 0.15 * ramp(unit[:, 1], -0.6, 0.6)
    return Part(points, faces, np.full(len(points), MATERIAL_ID["tongue"]), TONGUE_COLOR * shade[:, None])


HIGHLIGHT_DIRECTION = np.array([-0.13, 0.15, 1.0]) / np.linalg.norm([-0.13, 0.15, 1.0])
"""Where on the eyeball (from its centre, at rest) the catch light sits: upper left as seen."""
HIGHLIGHT_RADIUS = 0.24  # cm


def highlight_part(frame: EyeFrame) -> Part:
    """A small white catch light just in front of the cornea, turning with the eye."""
    ring = 8
    angle = 2.0 * np.pi * np.arange(ring) / ring
    # A disc in the tangent plane at the highlight's direction, lifted a hair off the eyeball.
    tangent = np.cross([0.0, 1.0, 0.0], HIGHLIGHT_DIRECTION)
    tangent /= np.linalg.norm(tangent)
    bitangent = np.cross(HIGHLIGHT_DIRECTION, tangent)
    centre = frame.centre + 1.012 * EYE_RADIUS * HIGHLIGHT_DIRECTION
    rim = centre + HIGHLIGHT_RADIUS * (np.cos(angle)[:, None] * tangent + np.sin(angle)[:, None] * bitangent)
    points = np.concatenate([[centre], rim])
    faces = orient(points, fan_faces(np.arange(1, ring + 1), 0, apex_first=True), HIGHLIGHT_DIRECTION)
    return Part(points, faces, np.full(len(points), MATERIAL_ID["sclera"]), np.ones((len(points), 3)))


EAR_CENTRE = np.array([7.15, -0.9, -8.3])
EAR_RADII = np.array([0.6, 2.75, 1.8])  # thickness, height, depth (cm)
EAR_FLARE = 0.35  # radians the ear turns about its front edge, so its back rim stands off the head


def ear_part(side: float, look: Look) -> Part:
    """A flattened ellipsoid on the side of the head (left side +1, right -1), its bowl a
    little pinker so it reads as an ear."""
    unit, faces = uv_sphere(np.linspace(0.0, np.pi, 9), 14)
    local = unit[:, [2, 0, 1]] * EAR_RADII  # the sphere's poles face sideways
    hinge = np.array([0.0, 0.0, EAR_RADII[2]])
    turned = (local - hinge) @ axis_angle_to_matrix(np.array([0.0, -EAR_FLARE, 0.0])).T + hinge
    points = (turned + EAR_CENTRE * [1.0, 1.0, 1.0]) * [side, 1.0, 1.0]
    faces = orient(points, faces, points[faces].mean(axis=1) - EAR_CENTRE * [side, 1.0, 1.0])
    bowl = (unit[:, 2] > 0.3) * (1.0 - ramp(np.hypot(unit[:, 0], unit[:, 1]), 0.2, 0.8))
    colors = look.color("skin") * (1.0 - bowl[:, None] * np.array([0.12, 0.25, 0.22]))
    return Part(points, faces, np.full(len(points), MATERIAL_ID["skin"]), colors)
