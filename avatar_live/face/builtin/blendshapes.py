"""The 52 ARKit blendshapes as displacement fields on the assembled head."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar_live.face.builtin.assembly import Head
from avatar_live.face.builtin.design import (
    JAW_JOINT,
    JAW_OPEN_ANGLE,
    JAW_OPEN_PIVOT,
    LID_RADIUS,
    MOUTH_Y,
    SKIN,
    TEETH_LOWER,
    TONGUE,
)
from avatar_live.face.builtin.geometry import bump, ramp, rotate_about
from avatar_live.face.builtin.paint import lips_outline
from avatar_live.face.builtin.parts import CAVITY_FOLLOW, socket_points
from avatar_live.face.rig import vertex_normals
from avatar_live.types import ARKIT_NAMES


@dataclass(frozen=True)
class JawMotion:
    """A rigid motion of the lower jaw, applied in proportion to each vertex's jaw weight."""

    open_angle: float = 0.0  # radians about JAW_OPEN_PIVOT's x axis, positive opens
    yaw: float = 0.0  # radians about the jaw joint's vertical axis, positive swings the chin to +x
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)  # cm

    def offsets(self, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
        moved = rotate_about(points, JAW_OPEN_PIVOT, np.array([1.0, 0.0, 0.0]), self.open_angle)
        moved = rotate_about(moved, JAW_JOINT, np.array([0.0, 1.0, 0.0]), self.yaw)
        return weights[:, None] * (moved + np.asarray(self.shift) - points)


class Shaper:
    """The ARKit shapes of one head, as vertex offsets in centimetres.

    Each shape is a lid pose, a jaw motion and/or a soft field on the face; the lid margins
    and the mouth cavity then follow the slit edges they are sewn to. Magnitudes are in eye
    scales. `side` arguments are +1 for the subject's left (+x), -1 for the right.
    """

    def __init__(self, head: Head):
        self.head = head
        self.p = head.neutral
        self.n_skin = len(head.skin.row)
        self.lips = lips_outline(head.skin, head.neutral)
        self.eye_scale = float(np.linalg.norm(head.neutral[head.eye_loops[0][0]] - head.neutral[head.eye_loops[1][0]]))
        self.skin_mask = (head.kind == SKIN).astype(np.float64)
        # Soft fields act on the face only, never on the back of the head or the ears.
        self.face_mask = self.skin_mask * ramp(head.neutral[:, 2], -5.0, -3.5)

    def shapes(self) -> np.ndarray:
        """S x N x 3 offsets in ARKIT_NAMES order."""
        sided = {
            "eyeBlink": self.eye_blink, "eyeLookDown": self.eye_look_down, "eyeLookIn": self.eye_look_in,
            "eyeLookOut": self.eye_look_out, "eyeLookUp": self.eye_look_up, "eyeSquint": self.eye_squint,
            "eyeWide": self.eye_wide, "jaw": self.jaw_sideways, "mouth": self.mouth_sideways,
            "mouthSmile": self.mouth_smile, "mouthFrown": self.mouth_frown, "mouthDimple": self.mouth_dimple,
            "mouthStretch": self.mouth_stretch, "mouthPress": self.mouth_press, "mouthLowerDown": self.mouth_lower_down,
            "mouthUpperUp": self.mouth_upper_up, "browDown": self.brow_down, "browOuterUp": self.brow_outer_up,
            "cheekSquint": self.cheek_squint, "noseSneer": self.nose_sneer,
        }
        both = {
            "jawForward": self.jaw_forward, "jawOpen": self.jaw_open, "mouthClose": self.mouth_close,
            "mouthFunnel": self.mouth_funnel, "mouthPucker": self.mouth_pucker, "mouthRollLower": self.mouth_roll_lower,
            "mouthRollUpper": self.mouth_roll_upper, "mouthShrugLower": self.mouth_shrug_lower,
            "mouthShrugUpper": self.mouth_shrug_upper, "browInnerUp": self.brow_inner_up, "cheekPuff": self.cheek_puff,
            "tongueOut": self.tongue_out,
        }
        out = []
        for name in ARKIT_NAMES:
            for suffix, side in (("Left", 1.0), ("Right", -1.0)):
                if name.endswith(suffix):
                    out.append(sided[name[: -len(suffix)]](side))
                    break
            else:
                out.append(both[name]())
        shapes = np.stack(out)
        # Offsets far below a micron are rounding noise (a near-zero weight times a rotation
        # whose last bits depend on memory alignment); zero them so every build is identical.
        shapes[np.abs(shapes) < 1e-7] = 0.0
        return shapes

    # -- building blocks ------------------------------------------------------------------

    def bump(self, centre_xy: tuple[float, float], radii_xy: tuple[float, float]) -> np.ndarray:
        """A soft region of the face around (x, y) cm, as seen from the front; N."""
        flat = self.p * np.array([1.0, 1.0, 0.0])
        return bump(flat, (centre_xy[0], centre_xy[1], 0.0), (radii_xy[0], radii_xy[1], 1.0)) * self.face_mask

    def corner(self, side: float, radii: tuple[float, float]) -> np.ndarray:
        return self.bump((side * self.lips.half_width, MOUTH_Y), radii)

    def lip_side(self, which: float) -> np.ndarray:
        """1 on the upper (which=+1) or lower (-1) lip's side of the mouth, else 0; N."""
        return (self.head.mouth_side == which).astype(np.float64)

    def lip_taper(self) -> np.ndarray:
        """Lip-parting shapes move the lip edges less towards the corners (0 at a corner); N."""
        at_edge = np.sqrt(np.clip(1.0 - (self.p[:, 0] / self.lips.half_width) ** 2, 0.0, 1.0))
        return at_edge + (1.0 - at_edge) * ramp(np.abs(self.p[:, 1] - MOUTH_Y), 0.0, 1.2)

    def vec(self, mask: np.ndarray, x: float = 0.0, y: float = 0.0, z: float = 0.0) -> np.ndarray:
        """Offsets mask * (x, y, z) eye scales; N x 3."""
        return mask[:, None] * (np.array([x, y, z]) * self.eye_scale)

    def lids(self, side: float, upper: float = 0.0, lower: float = 0.0, peak_shift: float = 0.0,
             shut: bool = False) -> np.ndarray:
        """Skin offsets when one eye's lids move: the upper edge `upper` eye scales further up
        than at rest, the lower edge `lower` further down (or both shut)."""
        eye = 0 if side > 0 else 1
        travel = self.eye_scale / LID_RADIUS  # radians per eye scale at the lid edge
        lids, other = self.head.skin.lids[eye], self.head.skin.lids[1 - eye]
        if shut:
            posed = self.head.skin.closed
        else:
            posed = lids.pose(self.head.skin.closed, *lids.angles(upper * travel, lower * travel, peak_shift))
        posed = other.pose(posed, *other.angles())
        out = np.zeros_like(self.p)
        out[: self.n_skin] = posed - self.p[: self.n_skin]
        return out

    def keep_off_eyeballs(self, offsets: np.ndarray) -> np.ndarray:
        """Soft-field offsets, but lid skin never comes closer to the eyeball centre than at rest."""
        out = offsets.copy()
        for lids in self.head.skin.lids:
            idx = np.flatnonzero(lids.weight > 0.0)
            before = self.p[idx] - lids.frame.centre
            after = before + offsets[idx]
            push = np.maximum(np.linalg.norm(before, axis=1) / np.maximum(np.linalg.norm(after, axis=1), 1e-9), 1.0)
            out[idx] = after * (1.0 + lids.weight[idx] * (push - 1.0))[:, None] - before
        return out

    def finish(self, soft: np.ndarray, jaw: JawMotion | None = None) -> np.ndarray:
        """Total offsets: a soft field on the skin plus a jaw motion, with sewn parts following."""
        head = self.head
        out = self.keep_off_eyeballs(soft * self.skin_mask[:, None])
        rigid = jaw.offsets(self.p, head.jaw) if jaw is not None else np.zeros_like(self.p)
        out[: self.n_skin] += rigid[: self.n_skin]
        for loop, socket, lids in zip(head.eye_loops, head.sockets, head.skin.lids, strict=True):
            out[socket] = socket_points(self.p[loop] + out[loop], lids.frame.centre) - self.p[socket]
        for ring, follow in zip(head.cavity, CAVITY_FOLLOW, strict=True):
            out[ring] = follow * out[head.mouth_loop] + (1.0 - follow) * rigid[ring]
        carried = np.isin(head.kind, (TEETH_LOWER, TONGUE))
        carried[head.throat] = True
        out[carried] = rigid[carried]
        return out

    # -- eyes -----------------------------------------------------------------------------

    def eye_blink(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, shut=True))

    def eye_look_down(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=-0.035, lower=0.02))

    def eye_look_in(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=0.005, peak_shift=-0.35))

    def eye_look_out(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=0.005, peak_shift=0.35))

    def eye_look_up(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=0.03, lower=-0.012))

    def eye_squint(self, side: float) -> np.ndarray:
        cheek = self.vec(self.bump((side * 3.4, -1.9), (2.0, 1.2)), y=0.015, z=0.005)
        return self.finish(self.lids(side, upper=-0.012, lower=-0.04) + cheek)

    def eye_wide(self, side: float) -> np.ndarray:
        return self.finish(self.lids(side, upper=0.06, lower=0.012))

    # -- jaw ------------------------------------------------------------------------------

    def jaw_forward(self) -> np.ndarray:
        return self.finish(np.zeros_like(self.p), JawMotion(shift=(0.0, 0.0, 0.07 * self.eye_scale)))

    def jaw_sideways(self, side: float) -> np.ndarray:
        """The chin swings 0.1 eye scales towards `side`."""
        chin_reach = self.lips.front_z - JAW_JOINT[2]
        return self.finish(np.zeros_like(self.p), JawMotion(yaw=side * 0.1 * self.eye_scale / chin_reach))

    def jaw_open(self) -> np.ndarray:
        # The lower lip drops a little further than the turn alone carries it.
        lower_lip = self.bump((0.0, MOUTH_Y - 0.5), (1.35 * self.lips.half_width, 2.0)) * self.lip_side(-1.0)
        return self.finish(self.vec(lower_lip * self.lip_taper(), y=-0.06), JawMotion(open_angle=JAW_OPEN_ANGLE))

    # -- mouth ----------------------------------------------------------------------------

    def mouth_close(self) -> np.ndarray:
        """Lips closed over an open jaw: at the same weight as jawOpen the lip edges meet (the
        lower lip travels 80% of jawOpen's gap back up, the upper lip 20% down)."""
        skin = self.head.skin
        opened = self.jaw_open()
        gap = np.zeros((len(skin.lon), 3))
        cols = skin.mouth_cols
        gap[cols] = (opened[skin.slit(skin.mouth_row, cols, lower=True)]
                     - opened[skin.slit(skin.mouth_row, cols, lower=False)])
        column_gap = np.zeros_like(self.p)
        column_gap[: self.n_skin] = gap[skin.col]
        distance = np.abs(self.p[:, 1] - MOUTH_Y)
        lower = (1.0 - ramp(distance, 0.7, 2.4)) * self.lip_side(-1.0)
        upper = (1.0 - ramp(distance, 0.4, 1.6)) * self.lip_side(1.0)
        return self.finish((0.2 * upper - 0.8 * lower)[:, None] * column_gap)

    def narrowing(self, forward: float) -> np.ndarray:
        """The mouth drawn in to about 75% of its width and pushed `forward` (funnel, pucker)."""
        around = self.bump((0.0, MOUTH_Y), (1.7 * self.lips.half_width, 2.3))
        lips = self.bump((0.0, MOUTH_Y), (1.2 * self.lips.half_width, 1.4))
        inward = np.zeros_like(self.p)
        inward[:, 0] = -0.3 * self.p[:, 0] * ramp(around, 0.0, 0.5)
        return inward + self.vec(lips, z=forward)

    def mouth_funnel(self) -> np.ndarray:
        edges = self.bump((0.0, MOUTH_Y), (1.1 * self.lips.half_width, 1.2)) * self.lip_taper()
        opening = self.vec(edges * self.lip_side(1.0), y=0.035) + self.vec(edges * self.lip_side(-1.0), y=-0.05)
        return self.finish(self.narrowing(0.09) + opening)

    def mouth_pucker(self) -> np.ndarray:
        lips = self.bump((0.0, MOUTH_Y), (1.1 * self.lips.half_width, 1.3))
        pressed = ramp(np.abs(self.p[:, 1] - MOUTH_Y), 0.0, 0.8) * lips
        squeeze = self.vec(pressed * self.lip_side(1.0), y=-0.02) + self.vec(pressed * self.lip_side(-1.0), y=0.02)
        return self.finish(self.narrowing(0.13) + squeeze)

    def mouth_sideways(self, side: float) -> np.ndarray:
        """mouthLeft / mouthRight: the closed mouth slides 0.1 eye scales towards `side`."""
        around = self.bump((0.0, MOUTH_Y), (1.8 * self.lips.half_width, 2.4))
        return self.finish(self.vec(around, x=side * 0.12, z=-0.01))

    def mouth_smile(self, side: float) -> np.ndarray:
        # The corner's lift fades out further above the mouth than below it, so the upper lip
        # skin stretches up into the cheek instead of folding over the lip.
        above = self.p[:, 1] > MOUTH_Y
        reach = np.where(above, self.corner(side, (2.6, 3.4)), self.corner(side, (2.6, 1.9)))
        corner = self.vec(reach, x=side * 0.12, y=0.12, z=-0.03)
        cheek = self.vec(self.bump((side * 3.4, -3.7), (2.5, 2.0)), x=side * 0.01, y=0.05, z=0.025)
        under_eye = self.vec(self.bump((side * 3.2, -1.1), (1.9, 1.0)), y=0.015, z=0.005)
        return self.finish(corner + cheek + under_eye)

    def mouth_frown(self, side: float) -> np.ndarray:
        return self.finish(self.vec(self.corner(side, (2.0, 1.9)), x=side * 0.01, y=-0.08, z=-0.01))

    def mouth_dimple(self, side: float) -> np.ndarray:
        return self.finish(self.vec(self.corner(side, (1.7, 1.5)), x=side * 0.04, y=0.005, z=-0.045))

    def mouth_stretch(self, side: float) -> np.ndarray:
        corner = self.vec(self.corner(side, (2.3, 2.2)), x=side * 0.08, y=-0.03, z=-0.02)
        lower = self.bump((side * 0.5 * self.lips.half_width, MOUTH_Y - 0.6), (self.lips.half_width, 1.3))
        return self.finish(corner + self.vec(lower * self.lip_side(-1.0) * self.lip_taper(), y=-0.02))

    def mouth_roll_lower(self) -> np.ndarray:
        lip = self.bump((0.0, MOUTH_Y - 0.4), (1.15 * self.lips.half_width, 1.2)) * self.lip_side(-1.0)
        return self.finish(self.vec(lip * self.lip_taper(), y=0.04, z=-0.06))

    def mouth_roll_upper(self) -> np.ndarray:
        lip = self.bump((0.0, MOUTH_Y + 0.4), (1.15 * self.lips.half_width, 1.1)) * self.lip_side(1.0)
        return self.finish(self.vec(lip * self.lip_taper(), y=-0.03, z=-0.05))

    def mouth_shrug_lower(self) -> np.ndarray:
        chin = self.bump((0.0, MOUTH_Y - 1.3), (1.5 * self.lips.half_width, 2.4)) * self.lip_side(-1.0)
        return self.finish(self.vec(chin * self.lip_taper(), y=0.05, z=0.015))

    def mouth_shrug_upper(self) -> np.ndarray:
        lip = self.bump((0.0, MOUTH_Y + 0.6), (1.3 * self.lips.half_width, 1.5)) * self.lip_side(1.0)
        return self.finish(self.vec(lip * self.lip_taper(), y=0.035, z=0.01))

    def mouth_press(self, side: float) -> np.ndarray:
        half = self.bump((side * 0.55 * self.lips.half_width, MOUTH_Y), (0.9 * self.lips.half_width, 1.4))
        borders = half * ramp(np.abs(self.p[:, 1] - MOUTH_Y), 0.0, 0.7)
        pressed = (self.vec(borders * self.lip_side(1.0), y=-0.05, z=-0.015)
                   + self.vec(borders * self.lip_side(-1.0), y=0.05, z=-0.015))
        return self.finish(pressed)

    def mouth_lower_down(self, side: float) -> np.ndarray:
        lip = self.bump((side * 0.45 * self.lips.half_width, MOUTH_Y - 0.6), (self.lips.half_width, 1.9))
        return self.finish(self.vec(lip * self.lip_side(-1.0) * self.lip_taper(), y=-0.12, z=0.01))

    def mouth_upper_up(self, side: float) -> np.ndarray:
        lip = self.bump((side * 0.45 * self.lips.half_width, MOUTH_Y + 0.7), (self.lips.half_width, 2.0))
        return self.finish(self.vec(lip * self.lip_side(1.0) * self.lip_taper(), y=0.1, z=0.01))

    # -- brows, cheeks, nose, tongue --------------------------------------------------------

    def brow_down(self, side: float) -> np.ndarray:
        brow = self.bump((side * 2.5, 2.1), (3.6, 1.8))
        inner = 0.7 + 0.3 * ramp(np.abs(self.p[:, 0]), 5.0, 1.5)  # the inner end pulls down and in most
        return self.finish(self.vec(brow * inner, x=-side * 0.045, y=-0.095, z=0.01))

    def brow_inner_up(self) -> np.ndarray:
        both = self.bump((1.8, 2.3), (2.7, 2.5)) + self.bump((-1.8, 2.3), (2.7, 2.5))
        return self.finish(self.vec(np.minimum(both, 1.0), y=0.12))

    def brow_outer_up(self, side: float) -> np.ndarray:
        return self.finish(self.vec(self.bump((side * 5.3, 2.0), (2.9, 2.3)), x=side * 0.01, y=0.1))

    def cheek_puff(self) -> np.ndarray:
        cheeks = self.bump((3.3, -5.5), (2.4, 2.4)) + self.bump((-3.3, -5.5), (2.4, 2.4))
        normals = vertex_normals(self.p, self.head.faces).astype(np.float64)
        lips = self.bump((0.0, MOUTH_Y), (1.1 * self.lips.half_width, 1.2))
        return self.finish(0.08 * self.eye_scale * cheeks[:, None] * normals + self.vec(lips, z=0.02))

    def cheek_squint(self, side: float) -> np.ndarray:
        """The cheek bunches up and forward under the eye, lifting the lower lid with it."""
        cheek = self.vec(self.bump((side * 3.7, -2.4), (2.6, 1.8)), x=side * 0.01, y=0.11, z=0.06)
        lid = self.vec(self.bump((side * 3.0, -0.8), (1.9, 1.0)), y=0.045)
        return self.finish(cheek + lid)

    def nose_sneer(self, side: float) -> np.ndarray:
        """The nose wing hitches up and out, pulling the upper lip beside it and the inner brow down."""
        wing = self.vec(self.bump((side * 1.1, -3.8), (1.4, 1.4)), x=side * 0.025, y=0.1, z=0.01)
        lip = self.vec(self.bump((side * 1.3, -4.8), (1.5, 1.2)) * (1.0 - self.lip_side(-1.0)), y=0.05)
        bridge = self.vec(self.bump((side * 0.8, -1.0), (1.0, 1.4)), y=0.035, z=0.01)
        brow = self.vec(self.bump((side * 1.6, 2.0), (1.5, 1.2)), y=-0.04)
        return self.finish(wing + lip + bridge + brow)

    def tongue_out(self) -> np.ndarray:
        """The tongue's front slides out between the lips: it pushes the lower lip down and out
        and lifts the upper lip a little, so it shows even with the jaw shut."""
        edges = self.bump((0.0, MOUTH_Y), (1.1 * self.lips.half_width, 1.8)) * self.lip_taper()
        lower = self.vec(edges * self.lip_side(-1.0), y=-0.11, z=0.04)
        upper = self.vec(edges * self.lip_side(1.0), y=0.025, z=0.01)
        out = self.finish(lower + upper)
        tongue = self.head.kind == TONGUE
        y, z = self.p[tongue, 1], self.p[tongue, 2]
        reach = ramp(z, z.min() + 0.3 * (z.max() - z.min()), z.max())
        # The front rises over the lower teeth, flattens as it slides out, and its tip droops
        # over the lower lip, so its top faces the viewer.
        out[tongue, 1] = reach * (0.9 - 0.25 * (y - y.mean())) - 1.7 * reach**2
        out[tongue, 2] = reach * 2.6
        return out
