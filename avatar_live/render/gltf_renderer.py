"""Draw a glTF/VRM avatar (`avatars.model.Avatar`) from `FaceParams`: toon-shaded, skinned on the GPU.

Per frame the CPU only adds the active morph targets to the positions of the primitives
they touch and poses the skeleton (a few dozen 4 x 4 products); the GPU skins every
vertex from a texture of joint matrices, so avatars with hundreds of bones cost the same
uniform space as a box. Normals stay those of the rest pose: expressions move vertices a
few millimetres and the toon step hides the difference.

The camera frames the head and shoulders from the head bone, as the built-in head is
framed by its eyes; the avatar faces the viewer and turns as the user does (see
`renderer.py`'s conventions).
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np

from avatar_live.avatars.drive import AvatarDriver
from avatar_live.avatars.model import Avatar, Material, Primitive
from avatar_live.avatars.pose import (
    global_matrices,
    head_frame,
    joint_matrices,
    local_matrices,
    root_matrix,
)
from avatar_live.render.frame import FrameTarget, in_context, load_program
from avatar_live.render.gil_free import draw_triangles
from avatar_live.render.renderer import RenderOptions
from avatar_live.types import FaceParams

FIELD_OF_VIEW = np.radians(24.0)
FRAME_HEIGHT_M = 0.58  # head and shoulders of a human-sized avatar
HEAD_TO_CENTRE_M = -0.03  # the head bone sits at the skull's base: the frame centres just below it
FOLLOW_UNIT_M = 0.09  # FaceParams.translation x, y are in eye-corner distances, about this much
_ALPHA_MODES = {"OPAQUE": 0, "MASK": 1, "BLEND": 2}
DEFAULT_MATERIAL = Material(name="default", base_color=np.ones(4, np.float32), texture=None, alpha_mode="OPAQUE",
                            alpha_cutoff=0.5, double_sided=False, shade_color=np.full(3, 0.6, np.float32),
                            outline_width=0.0, outline_color=np.zeros(3, np.float32), unlit=False)
"""glTF's default material: white, opaque, one-sided."""


@dataclass
class _DrawItem:
    """One primitive's GL objects."""

    primitive: Primitive
    material: Material
    positions: moderngl.Buffer
    buffers: list[moderngl.Buffer]
    vao: moderngl.VertexArray
    texture: moderngl.Texture | None
    morphed: bool = False
    """Whether `positions` holds morphed (not rest) positions."""


class GltfRenderer:
    """Poses a glTF/VRM avatar and draws it over the backdrop.

    Create it with `create_from_options`; call `render` from the thread that owns the
    OpenGL context; `release` frees GL resources.
    """

    def __init__(self, avatar: Avatar, options: RenderOptions, ctx: moderngl.Context, owns_context: bool,
                 samples: int) -> None:
        """Use `create_from_options`; this uploads every mesh and texture once."""
        self._avatar = avatar
        self._options = options
        self._ctx = ctx
        self._owns_context = owns_context
        self._driver = AvatarDriver(avatar)
        self._program = load_program(ctx, "toon.vert", "toon.frag")
        self._frame = FrameTarget(ctx, options.size, samples, options.backdrop)
        joint_count = max([len(skin.joints) for skin in avatar.skins] + [1])
        self._joint_textures = [ctx.texture((4 * len(skin.joints), 1), 4, dtype="f4") for skin in avatar.skins]
        for texture in self._joint_textures:
            texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._no_joints = ctx.texture((4 * joint_count, 1), 4, dtype="f4")
        self._items = [self._upload(p) for p in avatar.primitives]
        rest = global_matrices(avatar.nodes, local_matrices(avatar.nodes, {}))
        head, _ = head_frame(avatar, rest)  # avatar space
        width, height = options.size
        self._view_proj, self._eye = _camera(head, width / height)
        self._root = root_matrix(avatar)
        self._program["u_view_proj"].write(self._view_proj.T.astype("f4").tobytes())
        self._program["u_eye"].value = tuple(float(v) for v in self._eye)

    @classmethod
    def create_from_options(cls, avatar: Avatar, options: RenderOptions, *,
                            ctx: moderngl.Context | None = None) -> "GltfRenderer":
        """Build a renderer for one avatar.

        Args:
            avatar: the loaded avatar (`avatars.gltf.load_avatar_file`).
            options: frame size, backdrop, head follow, anti-aliasing.
            ctx: an OpenGL 3.3+ context (a window's); None creates an offscreen one that
                this renderer owns and releases.

        Raises:
            AvatarLiveError: no OpenGL is available, or the options are unusable.
        """
        return in_context(ctx, options.samples,
                          lambda context, owns, samples: cls(avatar, options, context, owns, samples))

    @property
    def size(self) -> tuple[int, int]:
        return self._options.size

    @property
    def view_proj(self) -> np.ndarray:
        """4 x 4 (row-major, column vectors) from avatar space to clip space."""
        return self._view_proj.copy()

    def render(self, params: FaceParams) -> np.ndarray:
        """Pose the avatar and draw one frame (same contract as `AvatarRenderer.render`)."""
        params.check_shapes()
        avatar = self._avatar
        globals_ = global_matrices(avatar.nodes, local_matrices(avatar.nodes, self._driver.bone_rotations(params)))
        for skin, texture in zip(avatar.skins, self._joint_textures):
            # Column-major texels: each matrix's transpose, row by row, is its columns.
            texture.write(np.ascontiguousarray(joint_matrices(skin, globals_).transpose(0, 2, 1), "f4"))
        for item, weights in zip(self._items, self._driver.morph_weights(params)):
            active = np.flatnonzero(weights > 1e-3)
            if not active.size and not item.morphed:
                continue  # the buffer already holds the rest positions (most primitives: hair, clothes)
            positions = item.primitive.positions
            if active.size:
                positions = positions + np.tensordot(weights[active], item.primitive.targets[active], axes=1)
            item.positions.write(np.ascontiguousarray(positions, "f4"))
            item.morphed = bool(active.size)

        model = _placement(self._root, params, self._options.follow_translation)
        program = self._program
        program["u_model"].write(model.T.astype("f4").tobytes())
        ctx = self._ctx
        self._frame.begin()
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.front_face = "ccw"
        # Opaque and cut-out first, then blended surfaces over them, without depth writes.
        for blend in (False, True):
            for item in self._items:
                if (item.material.alpha_mode == "BLEND") != blend:
                    continue
                self._draw(item, globals_, outline=False)
                if item.material.outline_width > 0.0 and not blend:
                    self._draw(item, globals_, outline=True)
        ctx.depth_mask = True
        ctx.disable(moderngl.BLEND)
        return self._frame.finish()

    def release(self) -> None:
        """Free every GL resource (and the context, when this renderer created it)."""
        for item in self._items:
            for resource in (item.vao, item.positions, *item.buffers):
                resource.release()
            if item.texture is not None:
                item.texture.release()
        for texture in (*self._joint_textures, self._no_joints):
            texture.release()
        self._program.release()
        self._frame.release()
        if self._owns_context:
            self._ctx.release()

    def _upload(self, primitive: Primitive) -> _DrawItem:
        ctx = self._ctx
        count = len(primitive.positions)
        material = self._avatar.materials[primitive.material] if primitive.material >= 0 else DEFAULT_MATERIAL

        def static(array: np.ndarray | None, default: np.ndarray, dtype: str) -> moderngl.Buffer:
            data = default if array is None else array
            return ctx.buffer(np.ascontiguousarray(data, dtype))

        positions = ctx.buffer(np.ascontiguousarray(primitive.positions, "f4"), dynamic=True)
        buffers = [
            static(primitive.normals, np.zeros((count, 3)), "f4"),
            static(primitive.uvs, np.zeros((count, 2)), "f4"),
            static(primitive.colors, np.ones((count, 4)), "f4"),
            static(primitive.joints, np.zeros((count, 4)), "u4"),
            static(primitive.weights, np.tile([1.0, 0, 0, 0], (count, 1)), "f4"),
            ctx.buffer(np.ascontiguousarray(primitive.indices, "u4")),
        ]
        vao = ctx.vertex_array(
            self._program,
            [(positions, "3f", "in_position"), (buffers[0], "3f", "in_normal"), (buffers[1], "2f", "in_uv"),
             (buffers[2], "4f", "in_color"), (buffers[3], "4u4", "in_joint"), (buffers[4], "4f", "in_weight")],
            index_buffer=buffers[5], index_element_size=4,
        )
        texture = None
        if material.texture is not None:
            image = np.ascontiguousarray(material.texture[::-1])  # glTF's v runs down, GL's up
            texture = ctx.texture((image.shape[1], image.shape[0]), 4, image.tobytes())
            texture.build_mipmaps()
            texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            texture.repeat_x = texture.repeat_y = True
        return _DrawItem(primitive, material, positions, buffers, vao, texture)

    def _draw(self, item: _DrawItem, globals_: np.ndarray, *, outline: bool) -> None:
        ctx, program, material, primitive = self._ctx, self._program, item.material, item.primitive
        program["u_node"].write(globals_[primitive.node].T.astype("f4").tobytes())
        program["u_skinned"].value = primitive.skin >= 0 and primitive.joints is not None
        joints = self._joint_textures[primitive.skin] if primitive.skin >= 0 else self._no_joints
        joints.use(1)
        program["u_joints"].value = 1
        program["u_base_color"].value = tuple(float(c) for c in material.base_color)
        program["u_shade_color"].value = tuple(float(c) for c in material.shade_color)
        program["u_textured"].value = item.texture is not None
        if item.texture is not None:
            item.texture.use(0)
            program["u_texture"].value = 0
        program["u_alpha_mode"].value = _ALPHA_MODES.get(material.alpha_mode, 0)
        program["u_alpha_cutoff"].value = float(material.alpha_cutoff)
        program["u_unlit"].value = bool(material.unlit)
        program["u_outline"].value = float(material.outline_width) if outline else 0.0
        program["u_outline_color"].value = tuple(float(c) for c in material.outline_color)
        blend = material.alpha_mode == "BLEND"
        if blend:
            ctx.enable(moderngl.BLEND)
            ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        else:
            ctx.disable(moderngl.BLEND)
        ctx.depth_mask = not blend
        # The outline is the mesh's back faces pushed out: culling the front ones leaves a rim.
        if outline:
            ctx.enable(moderngl.CULL_FACE)
            ctx.cull_face = "front"
        elif material.double_sided:
            ctx.disable(moderngl.CULL_FACE)
        else:
            ctx.enable(moderngl.CULL_FACE)
            ctx.cull_face = "back"
        draw_triangles(item.vao, program, item.primitive.indices.size)
        ctx.cull_face = "back"


def _camera(head: np.ndarray, aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """(view-projection 4 x 4 row-major, eye position 3) framing the head and shoulders."""
    half_height = max(FRAME_HEIGHT_M, 0.5 / aspect) / 2.0
    centre = head + np.array([0.0, HEAD_TO_CENTRE_M, 0.0])
    distance = half_height / np.tan(FIELD_OF_VIEW / 2.0)
    eye = centre + np.array([0.0, 0.0, distance])
    near, far = 0.05 * distance, distance + 3.0
    view = np.eye(4)
    view[:3, 3] = -eye
    f = 1.0 / np.tan(FIELD_OF_VIEW / 2.0)
    projection = np.zeros((4, 4))
    projection[0, 0], projection[1, 1] = f / aspect, f
    projection[2, 2], projection[2, 3] = (far + near) / (near - far), 2.0 * far * near / (near - far)
    projection[3, 2] = -1.0
    return projection @ view, eye


def _placement(root: np.ndarray, params: FaceParams, follow: float) -> np.ndarray:
    """4 x 4: the avatar turned to face +z (`root`), then moved with the user on screen."""
    model = root.copy()
    model[:2, 3] += follow * FOLLOW_UNIT_M * params.translation[:2].astype(np.float64)
    return model
