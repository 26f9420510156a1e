"""Assembly: skin and parts in one painted mesh, with the bookkeeping the shapes need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.face.builtin.body import body_part
from avatar_live.face.builtin.design import (
    BODY,
    CAVITY,
    EAR,
    EYEBALL,
    HAIR,
    SKIN,
    SOCKET,
    TEETH_LOWER,
    TEETH_UPPER,
    TONGUE,
)
from avatar_live.face.builtin.eyes import eye_frame
from avatar_live.face.builtin.geometry import ramp
from avatar_live.face.builtin.hair import hair_part
from avatar_live.face.builtin.look import Look
from avatar_live.face.builtin.paint import lips_outline, skin_paint
from avatar_live.face.builtin.parts import (
    CAVITY_FOLLOW,
    CAVITY_RINGS,
    Part,
    cavity_part,
    ear_part,
    eyeball_part,
    highlight_part,
    socket_part,
    socket_points,
    teeth_part,
    tongue_part,
)
from avatar_live.face.builtin.sdf import jaw_volume
from avatar_live.face.builtin.skin import Skin, build_skin


@dataclass(frozen=True)
class Head:
    """The assembled head in design centimetres, with the bookkeeping the shapes need.

    Attributes:
        neutral: N x 3 rest pose (lids parted).
        closed: N x 3 with both eyes shut (equal to `neutral` away from the lids).
        faces: F x 3; materials N; colors N x 3; kind N (SKIN, SOCKET, ...).
        skin: the skin grid (its vertices come first).
        eye_loops, sockets: per eye (left, right) the lid-edge loop (skin ids) and the ids of
            the lid margin sewn to it.
        mouth_loop: the lip-edge loop (skin ids), subject's right corner first, upper edge next.
        cavity: 4 x L ids of the cavity rings behind `mouth_loop`; throat: its last vertex.
        eyeballs: per eye its vertex ids; irises: per eye (pupil centre, rim at +x, +y, -x, -y).
        mouth_side: N, +1 on the upper lip's side of the mouth, -1 on the jaw's, 0 neither.
        jaw: N, how much of the lower jaw's motion each vertex takes.
    """

    neutral: np.ndarray
    closed: np.ndarray
    faces: np.ndarray
    materials: np.ndarray
    colors: np.ndarray
    kind: np.ndarray
    skin: Skin
    eye_loops: tuple[np.ndarray, np.ndarray]
    sockets: tuple[np.ndarray, np.ndarray]
    mouth_loop: np.ndarray
    cavity: np.ndarray
    throat: int
    eyeballs: tuple[np.ndarray, np.ndarray]
    irises: tuple[np.ndarray, np.ndarray]
    mouth_side: np.ndarray
    jaw: np.ndarray


def eye_loop_ids(skin: Skin, eye: int) -> np.ndarray:
    """Skin ids around an eye opening: outer corner, upper lid edge, inner corner, lower edge back."""
    cols = skin.eye_cols[eye]
    return np.concatenate([skin.slit(skin.eye_row, cols, lower=False),
                           skin.slit(skin.eye_row, cols[-2:0:-1], lower=True)])


def mouth_loop_ids(skin: Skin) -> tuple[np.ndarray, np.ndarray]:
    """Skin ids around the lips' opening (right corner, upper edge, left corner, lower edge
    back) and each one's side: +1 upper lip, -1 lower lip, 0 a corner."""
    cols = skin.mouth_cols
    loop = np.concatenate([skin.slit(skin.mouth_row, cols, lower=False),
                           skin.slit(skin.mouth_row, cols[-2:0:-1], lower=True)])
    side = np.concatenate([[0.0], np.ones(cols.size - 2), [0.0], -np.ones(cols.size - 2)])
    return loop, side


def assemble(look: Look) -> Head:
    """Skin plus every other part in one mesh, painted for `look`, with the shapes' bookkeeping."""
    skin = build_skin()
    skin_neutral = skin.neutral()
    skin_materials, skin_colors = skin_paint(skin, skin_neutral, look)
    neutral, closed, faces = [skin_neutral], [skin.closed], [skin.faces]
    materials, colors, kind = [skin_materials], [skin_colors], [np.full(len(skin_neutral), SKIN)]

    def add(part: Part, part_kind: int, shut: np.ndarray | None = None, loop: np.ndarray | None = None
            ) -> np.ndarray:
        """Append a part (its shut-eye points if they differ); with `loop`, its faces' first
        len(loop) indices name those skin vertices. Returns the part's vertex ids."""
        start = sum(len(p) for p in neutral)
        part_faces = part.faces + start
        if loop is not None:
            part_faces = np.where(part.faces < len(loop), loop[np.minimum(part.faces, len(loop) - 1)],
                                  part.faces - len(loop) + start)
        neutral.append(part.points)
        closed.append(part.points if shut is None else shut)
        faces.append(part_faces)
        materials.append(part.materials)
        colors.append(part.colors)
        kind.append(np.full(len(part.points), part_kind))
        return start + np.arange(len(part.points))

    frames = (eye_frame(1.0), eye_frame(-1.0))
    eye_loops = (eye_loop_ids(skin, 0), eye_loop_ids(skin, 1))
    sockets = tuple(add(socket_part(skin_neutral[loop], frame, look), SOCKET, socket_points(skin.closed[loop], frame.centre),
                        loop) for loop, frame in zip(eye_loops, frames, strict=True))
    mouth_loop, loop_side = mouth_loop_ids(skin)
    cavity = add(cavity_part(skin_neutral[mouth_loop], loop_side, look), CAVITY, loop=mouth_loop)
    eyeballs, irises = [], []
    for frame in frames:
        part, landmarks = eyeball_part(frame, look)
        eyeballs.append(np.concatenate([add(part, EYEBALL), add(highlight_part(frame), EYEBALL)]))
        irises.append(eyeballs[-1][landmarks])
    front_z = skin_neutral[mouth_loop, 2].max()
    add(teeth_part(front_z - 0.72, upper=True), TEETH_UPPER)
    add(teeth_part(front_z - 1.05, upper=False), TEETH_LOWER)
    add(tongue_part(front_z), TONGUE)
    add(hair_part(look), HAIR)
    for side in (1.0, -1.0):
        add(ear_part(side, look), EAR)
    add(body_part(look), BODY)

    kind = np.concatenate(kind)
    neutral = np.concatenate(neutral)
    rings = cavity[:-1].reshape(len(CAVITY_RINGS), len(mouth_loop))
    mouth_side = mouth_sides(skin, kind, rings, loop_side)
    jaw = jaw_weights(skin, neutral, kind, mouth_side, mouth_loop, rings, loop_side, int(cavity[-1]))
    return Head(
        neutral=neutral, closed=np.concatenate(closed), faces=np.concatenate(faces),
        materials=np.concatenate(materials).astype(np.uint8), colors=np.concatenate(colors), kind=kind, skin=skin,
        eye_loops=eye_loops, sockets=sockets, mouth_loop=mouth_loop, cavity=rings, throat=int(cavity[-1]),
        eyeballs=tuple(eyeballs), irises=tuple(irises), mouth_side=mouth_side, jaw=jaw)


def mouth_sides(skin: Skin, kind: np.ndarray, cavity: np.ndarray, loop_side: np.ndarray) -> np.ndarray:
    """+1 on the upper lip's side of the mouth, -1 on the jaw's, 0 neither; N."""
    side = np.zeros(len(kind))
    n_skin = len(skin.row)
    on_row = skin.row == skin.mouth_row
    in_slit = np.isin(skin.col, skin.mouth_cols[1:-1])
    side[:n_skin] = np.where(skin.row < skin.mouth_row, 1.0, -1.0)
    side[:n_skin][on_row] = np.where(in_slit[on_row], np.where(skin.dup[on_row], -1.0, 1.0), 0.0)
    side[cavity] = loop_side[None, :]
    side[kind == TEETH_UPPER] = 1.0
    side[np.isin(kind, (TEETH_LOWER, TONGUE))] = -1.0
    return side


def jaw_weights(skin: Skin, points: np.ndarray, kind: np.ndarray, mouth_side: np.ndarray, mouth_loop: np.ndarray,
                cavity: np.ndarray, loop_side: np.ndarray, throat: int) -> np.ndarray:
    """How much of the lower jaw's motion each vertex takes (0..1); N.

    On the skin: 0 above the mouth, 1 on the lower lip and chin, fading out towards the
    ears and down the neck. Along the lip edges the weights meet at the corners, so the
    opening is an ellipse rather than a slot: the lower edge takes 0.5 + 0.5 h and the
    upper edge 0.5 - 0.5 h, with h = sqrt(1 - (x / half width)^2). The cavity blends from
    its lip edge's weight to the floor's 1 and the roof's 0.
    """
    n_skin = len(skin.row)
    p = points[:n_skin]
    half_width = lips_outline(skin, points).half_width
    mouth_row = points[skin.ids[skin.mouth_row, :, 0]]
    col = np.clip(skin.col, 0, len(skin.lon) - 1)
    below = mouth_row[col, 1] - p[:, 1]  # cm below the mouth row in the same column
    lateral = np.abs(mouth_row[col, 0])
    h = np.sqrt(np.clip(1.0 - (lateral / half_width) ** 2, 0.0, 1.0)) * np.isin(skin.col, skin.mouth_cols)
    width = 0.5 + np.maximum(lateral - half_width, 0.0)  # the cheeks share the motion more widely
    reach = 1.0 - (1.0 - h) * np.exp(-np.abs(below) / width)
    weight = np.zeros(len(points))
    # A wide fade under the jaw: the skin there stretches over the open jaw instead of folding.
    weight[:n_skin] = (0.5 - 0.5 * mouth_side[:n_skin] * reach) * (1.0 - ramp(jaw_volume(p), 0.0, 3.2))
    weight[:n_skin][skin.row < 0] = 0.0
    for ring, follow in zip(cavity, CAVITY_FOLLOW, strict=True):
        weight[ring] = follow * weight[mouth_loop] + (1.0 - follow) * (0.5 - 0.5 * loop_side)
    weight[throat] = 0.5
    weight[np.isin(kind, (TEETH_LOWER, TONGUE))] = 1.0
    return weight
