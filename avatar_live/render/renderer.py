"""Draw a posed rig with moderngl: offscreen (`render/context.py`) or into a window's context.

Conventions:
- The avatar is the user's counterpart facing the camera, not a mirror image: when the
  user turns to their left, the avatar turns to *its* left (towards the image's right).
  `FaceParams.rotation` is applied as is in avatar space (right-hand rule, y up, z towards
  the viewer) to the rig's neck joint: the head turns, the shoulders stay, and the skin
  weights blend the neck between them.
- Gaze: positive yaw turns the eyes towards the avatar's left (+x), positive pitch up.
- Returned frames are RGB uint8, top row first.
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.face.drive import RigDriver
from avatar_live.face.posing import RigPoser
from avatar_live.face.rig import (
    JOINT_NAMES,
    MATERIALS,
    Rig,
    axis_angle_to_matrix,
    matrix_to_axis_angle,
)
from avatar_live.render.backdrop import Backdrop
from avatar_live.render.frame import FrameTarget, in_context, load_program
from avatar_live.render.gil_free import draw_triangles
from avatar_live.types import FaceParams

MAX_GAZE = np.radians(30.0)
"""Eye rotations are clamped to this many radians in yaw and pitch."""

FIELD_OF_VIEW = np.radians(24.0)
"""Vertical field of view; narrow, like a portrait lens, so the face is not distorted."""

FRAME_HEIGHT = 5.2
"""Frame height in units of `rig.eye_scale` (outer eye corner distance): a human head is
about 2.5 of them tall, so this frames head and shoulders, as a webcam does."""

EYE_LINE = 0.37
"""Where the eyes sit, as a fraction of the frame height from the top (portrait framing)."""

CLOSE_UP = (3.1, 0.46)
"""(frame height, eye line) of the close-up on the face (`RenderOptions.close_up`): the
avatar sheet's, where every blendshape must be seen in a small cell."""

MATERIAL_SHADING: dict[str, tuple[float, float, float, float]] = {
    # name: (share of direct lighting, specular strength, shininess, rim strength)
    "skin": (1.0, 0.22, 20.0, 0.35),
    "sclera": (1.0, 0.9, 90.0, 0.05),
    "iris": (1.0, 1.2, 140.0, 0.0),
    "pupil": (1.0, 1.5, 180.0, 0.0),
    "mouth": (0.12, 0.0, 1.0, 0.0),
    "teeth": (0.85, 0.35, 50.0, 0.0),
    "tongue": (0.6, 0.3, 30.0, 0.0),
    "hair": (1.0, 0.08, 10.0, 0.5),
    "lips": (1.0, 0.45, 36.0, 0.2),
    "brow": (1.0, 0.05, 8.0, 0.2),
    "cloth": (1.0, 0.05, 8.0, 0.2),
}
"""How each material in `rig.MATERIALS` responds to light (the shader's `u_material`)."""

_MAX_MATERIALS = 16  # size of the shader's u_material array


@dataclass(frozen=True)
class RenderOptions:
    """How the avatar is drawn.

    Attributes:
        size: (width, height) of the rendered frame in pixels.
        backdrop: what is drawn behind the avatar (`render.backdrop`); a transparent
            one makes `render` return RGBA frames.
        follow_translation: how much of `FaceParams.translation` x, y moves the head on
            screen (0 keeps it centred, 1 follows the user fully).
        samples: multisample anti-aliasing samples (0 or 1 turns it off); None picks 4
            on a GPU and none on software OpenGL (llvmpipe), where 4x MSAA more than
            doubles the frame time.
        close_up: frame the face alone (`CLOSE_UP`) instead of head and shoulders.
    """

    size: tuple[int, int] = (640, 480)
    backdrop: Backdrop = Backdrop()
    follow_translation: float = 0.3
    samples: int | None = None
    close_up: bool = False


@dataclass(frozen=True)
class _Camera:
    """A fixed camera framing the neutral rig."""

    view_proj: np.ndarray  # 4 x 4, row-major (transpose before upload)
    eye: np.ndarray  # 3, world position


class AvatarRenderer:
    """Poses a rig from `FaceParams` and draws it, lit, over a studio backdrop, to RGB frames.

    Create it with `create_from_options`; call `render` once per frame from the thread
    that owns the OpenGL context; `release` frees GL resources.
    """

    def __init__(
        self,
        rig: Rig,
        options: RenderOptions,
        ctx: moderngl.Context,
        owns_context: bool,
        samples: int,
    ) -> None:
        """Use `create_from_options`; this allocates every GL resource once."""
        width, height = options.size
        n_vertices = rig.vertices.shape[0]
        self._rig = rig
        self._options = options
        self._ctx = ctx
        self._owns_context = owns_context
        self._driver = RigDriver(rig)
        self._poser = RigPoser(rig)
        self._eye_joints = (JOINT_NAMES.index("left_eye"), JOINT_NAMES.index("right_eye"))
        self._neck = JOINT_NAMES.index("neck")
        self._camera = _frame_camera(rig, width / height, *(CLOSE_UP if options.close_up else (FRAME_HEIGHT, EYE_LINE)))
        self._joint_rotations = np.zeros((len(JOINT_NAMES), 3))

        self._head = load_program(ctx, "head.vert", "head.frag")
        self._head["u_view_proj"].write(self._camera.view_proj.T.astype("f4").tobytes())
        self._head["u_eye"].value = tuple(self._camera.eye)
        shading = np.zeros((_MAX_MATERIALS, 4), "f4")
        shading[: len(MATERIALS)] = [MATERIAL_SHADING[name] for name in MATERIALS]
        self._head["u_material"].write(shading.tobytes())

        # Only positions and normals change per frame; everything else is uploaded once.
        self._positions = ctx.buffer(reserve=n_vertices * 12, dynamic=True)
        self._normals = ctx.buffer(reserve=n_vertices * 12, dynamic=True)
        # The shader works in linear light with gamma 2 (its output is a sqrt).
        self._colors = ctx.buffer(np.square(np.clip(rig.colors, 0.0, 1.0)).astype("f4"))
        self._materials = ctx.buffer(np.ascontiguousarray(rig.materials, "u4"))
        self._indices = ctx.buffer(np.ascontiguousarray(rig.faces, "i4"))
        self._head_vao = ctx.vertex_array(
            self._head,
            [
                (self._positions, "3f", "in_position"),
                (self._normals, "3f", "in_normal"),
                (self._colors, "3f", "in_color"),
                (self._materials, "1u4", "in_material"),
            ],
            index_buffer=self._indices,
            index_element_size=4,
        )

        self._frame = FrameTarget(ctx, (width, height), samples, options.backdrop)

    @classmethod
    def create_from_options(
        cls, rig: Rig, options: RenderOptions, *, ctx: moderngl.Context | None = None
    ) -> "AvatarRenderer":
        """Build a renderer for one rig.

        Args:
            rig: the avatar to draw (N vertices, F triangles).
            options: frame size, backdrop, head follow, anti-aliasing.
            ctx: an OpenGL 3.3+ context to draw with (a window's); None creates an offscreen
                one (`create_offscreen_context`) that this renderer owns and releases.

        Returns:
            The renderer.

        Raises:
            AvatarLiveError: no offscreen OpenGL is available, the options or the rig are
                unusable.
        """
        width, height = options.size
        if width <= 0 or height <= 0:
            raise AvatarLiveError(f"render size must be positive, got {width} x {height}")
        _check_rig(rig)
        return in_context(ctx, options.samples,
                          lambda context, owns, samples: cls(rig, options, context, owns, samples))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames `render` returns."""
        return self._options.size

    def render(self, params: FaceParams) -> np.ndarray:
        """Pose the rig and draw one frame.

        Args:
            params: face parameters; uses arkit (52), gaze (2), rotation (3) and
                translation (3, x and y only).

        Returns:
            H x W x 3 RGB uint8 (H x W x 4 RGBA with straight alpha over a transparent
            backdrop), top row first; a new array each call.

        Raises:
            ValueError: a parameter array has the wrong shape.
        """
        params.check_shapes()
        joints = self._eye_rotations(params.gaze)
        joints[self._neck] = params.rotation
        self._driver.set_jaw(joints, params)
        vertices = self._poser.pose(self._driver.weights(params), joints)
        self._positions.write(vertices)
        self._normals.write(self._poser.normals(vertices))
        self._head["u_model"].write(self._model_matrix(params).T.astype("f4").tobytes())

        ctx = self._ctx
        self._frame.begin()
        # Culling back faces halves the rasterised triangles; it needs rigs to be wound
        # counter-clockwise seen from where the surface is visible (as Rig documents).
        ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.disable(moderngl.BLEND)
        ctx.front_face = "ccw"
        draw_triangles(self._head_vao, self._head, self._rig.faces.size)
        return self._frame.finish()

    def release(self) -> None:
        """Free every GL resource (and the context, when this renderer created it)."""
        for resource in (self._head_vao, self._head, self._positions, self._normals, self._colors, self._materials,
                         self._indices):
            resource.release()
        self._frame.release()
        if self._owns_context:
            self._ctx.release()

    def _eye_rotations(self, gaze: np.ndarray) -> np.ndarray:
        """J x 3 axis-angle joint rotations that turn both eyes to `gaze` (yaw, pitch)."""
        yaw, pitch = np.clip(gaze.astype(np.float64), -MAX_GAZE, MAX_GAZE)
        # Yaw about y turns +z towards +x (the avatar's left); pitch about -x turns it up.
        turn = axis_angle_to_matrix(np.array([0.0, yaw, 0.0])) @ axis_angle_to_matrix(np.array([-pitch, 0.0, 0.0]))
        self._joint_rotations[list(self._eye_joints)] = matrix_to_axis_angle(turn)
        return self._joint_rotations

    def _model_matrix(self, params: FaceParams) -> np.ndarray:
        """4 x 4: the on-screen follow (the head's turn is the neck joint's, in `render`)."""
        model = np.eye(4)
        # Translation x, y are in units of the face's size, which the rig's eye_scale is.
        follow = self._options.follow_translation * float(self._rig.eye_scale)
        model[:2, 3] = follow * params.translation[:2].astype(np.float64)
        return model


def _check_rig(rig: Rig) -> None:
    """Raise AvatarLiveError when the renderer cannot draw `rig`."""
    n = rig.vertices.shape[0]
    if rig.vertices.shape != (n, 3) or rig.colors.shape != (n, 3) or rig.materials.shape != (n,):
        raise AvatarLiveError(
            f"rig {rig.name!r}: vertices {rig.vertices.shape}, colors {rig.colors.shape} and materials "
            f"{rig.materials.shape} must be N x 3, N x 3 and N"
        )
    if rig.faces.ndim != 2 or rig.faces.shape[1] != 3:
        raise AvatarLiveError(f"rig {rig.name!r}: faces must be F x 3, got {rig.faces.shape}")
    if len(MATERIALS) > _MAX_MATERIALS or (n and int(rig.materials.max()) >= len(MATERIALS)):
        raise AvatarLiveError(f"rig {rig.name!r}: material index out of range (there are {len(MATERIALS)})")


def _frame_camera(rig: Rig, aspect: float, frame_height: float, eye_line: float) -> _Camera:
    """A camera on +z framing the neutral head by its eyes and `eye_scale`.

    Framing by the eyes rather than the mesh's bounding box keeps heads of different
    extent (a long neck, shoulders, big hair) at the same size and place.

    Args:
        rig: the avatar (uses the eye joints and eye_scale).
        aspect: frame width / height.
        frame_height: the frame's height in eye scales (`FRAME_HEIGHT`).
        eye_line: where the eyes sit, from the top, as a fraction of the height (`EYE_LINE`).

    Returns:
        The camera.
    """
    unit = float(rig.eye_scale)
    eyes = rig.joints[[JOINT_NAMES.index("left_eye"), JOINT_NAMES.index("right_eye")]].astype(np.float64).mean(axis=0)
    # Narrow frames still need the head's width (about 1.7 units) with some room.
    half_height = max(frame_height * unit, 2.4 * unit / aspect) / 2.0
    centre = eyes - np.array([0.0, (0.5 - eye_line) * 2.0 * half_height, 0.0])
    tan_y = np.tan(FIELD_OF_VIEW / 2.0)
    distance = half_height / tan_y
    eye = centre + np.array([0.0, 0.0, distance])
    # The nose is well within 3 units in front of the eyes, the back of the head within 8.
    near, far = max(distance - 3.0 * unit, 0.1 * distance), distance + 8.0 * unit

    view = np.eye(4)
    view[:3, 3] = -eye  # the camera looks down -z with y up, so the view is a translation
    projection = np.zeros((4, 4))
    projection[0, 0] = 1.0 / (tan_y * aspect)
    projection[1, 1] = 1.0 / tan_y
    projection[2, 2] = (far + near) / (near - far)
    projection[2, 3] = 2.0 * far * near / (near - far)
    projection[3, 2] = -1.0
    return _Camera(view_proj=projection @ view, eye=eye)
