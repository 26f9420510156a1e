"""The VRM extensions: VRM 0.x ("VRM") and VRM 1.0 ("VRMC_vrm", "VRMC_materials_mtoon").

Read from pygltflib's extension dicts; everything optional is defaulted, everything that
points elsewhere is range-checked (bad binds are dropped with one warning).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from avatar_live.avatars.model import Expression

log = logging.getLogger(__name__)

VRM1_PRESETS = (
    "happy", "angry", "sad", "relaxed", "surprised", "aa", "ih", "ou", "ee", "oh",
    "blink", "blinkLeft", "blinkRight", "lookUp", "lookDown", "lookLeft", "lookRight", "neutral",
)
"""VRM 1.0 preset expression names; every expression preset is stored under these."""

_VRM0_PRESETS = {
    "neutral": "neutral", "a": "aa", "i": "ih", "u": "ou", "e": "ee", "o": "oh",
    "blink": "blink", "joy": "happy", "angry": "angry", "sorrow": "sad", "fun": "relaxed",
    "lookup": "lookUp", "lookdown": "lookDown", "lookleft": "lookLeft", "lookright": "lookRight",
    "blink_l": "blinkLeft", "blink_r": "blinkRight", "surprised": "surprised",
}
_PRESETS_BY_KEY = {name.lower(): name for name in VRM1_PRESETS}

SCREEN_OUTLINE_METRES = 0.25
"""MToon "screen coordinates" outline widths are fractions of the screen height; we turn
them into metres as if the frame were this tall (a head-and-shoulders shot)."""


@dataclass(frozen=True)
class VrmInfo:
    """What the VRM extension says, with binds resolved to primitive indices."""

    version: str
    name: str | None
    humanoid: dict[str, int]
    expressions: dict[str, Expression]
    look_at: str | None
    materials: list[dict[str, Any]]
    """VRM 0.x materialProperties, in file order (empty for 1.0)."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class _Binds:
    """Resolves VRM binds (mesh or node, morph target index, weight) to our primitives,
    counting the ones that point nowhere."""

    def __init__(self, target_counts: list[int]) -> None:
        self.target_counts = target_counts
        self.dropped = 0

    def resolve(self, primitives: list[int], index: Any, weight: Any) -> list[tuple[int, int, float]]:
        """(primitive, target, weight in [0, 1]) for each primitive the bind reaches."""
        valid = isinstance(index, int) and primitives and all(0 <= index < self.target_counts[p] for p in primitives)
        if not valid or not isinstance(weight, (int, float)):
            self.dropped += 1
            return []
        return [(p, index, float(np.clip(weight, 0.0, 1.0))) for p in primitives]


def read_vrm(
    extensions: dict[str, Any] | None,
    node_count: int,
    mesh_primitives: dict[int, list[int]],
    node_primitives: dict[int, list[int]],
    target_counts: list[int],
) -> VrmInfo | None:
    """The VRM data of a file, or None when it has neither VRM extension.

    Args:
        extensions: the document's top-level extensions.
        node_count: number of nodes (humanoid bones pointing elsewhere are dropped).
        mesh_primitives: mesh index -> our primitive indices (all nodes holding it).
        node_primitives: node index -> our primitive indices.
        target_counts: morph-target count of each of our primitives.
    """
    extensions = _dict(extensions)
    binds = _Binds(target_counts)
    if "VRMC_vrm" in extensions:
        info = _read_vrm1(_dict(extensions["VRMC_vrm"]), node_count, node_primitives, binds)
    elif "VRM" in extensions:
        info = _read_vrm0(_dict(extensions["VRM"]), node_count, mesh_primitives, binds)
    else:
        return None
    if binds.dropped:
        log.warning("Ignored %d VRM expression binds that point at missing meshes or morph targets", binds.dropped)
    return info


def _read_vrm1(vrm: dict[str, Any], node_count: int, node_primitives: dict[int, list[int]], binds: _Binds) -> VrmInfo:
    human_bones = _dict(_dict(vrm.get("humanoid")).get("humanBones"))
    bones = {bone: _dict(spec).get("node") for bone, spec in human_bones.items()}
    expressions: dict[str, Expression] = {}
    groups = _dict(vrm.get("expressions"))
    for name, spec in [*_dict(groups.get("preset")).items(), *_dict(groups.get("custom")).items()]:
        spec = _dict(spec)
        found = []
        for bind in map(_dict, _list(spec.get("morphTargetBinds"))):
            found += binds.resolve(node_primitives.get(bind.get("node"), []), bind.get("index"), bind.get("weight", 1.0))
        expressions.setdefault(name, Expression(name, tuple(found), bool(spec.get("isBinary", False))))
    look_type = _dict(vrm.get("lookAt")).get("type")
    look_at = look_type if look_type in ("bone", "expression") else None
    return VrmInfo("1.0", _dict(vrm.get("meta")).get("name"), _humanoid(bones, node_count), expressions, look_at, [])


def _read_vrm0(vrm: dict[str, Any], node_count: int, mesh_primitives: dict[int, list[int]], binds: _Binds) -> VrmInfo:
    human_bones = map(_dict, _list(_dict(vrm.get("humanoid")).get("humanBones")))
    bones = {bone.get("bone"): bone.get("node") for bone in human_bones}
    expressions: dict[str, Expression] = {}
    for group in map(_dict, _list(_dict(vrm.get("blendShapeMaster")).get("blendShapeGroups"))):
        preset = str(group.get("presetName", "unknown")).lower()
        raw_name = str(group.get("name", ""))
        # Custom groups spelled like a 1.0 preset ("Surprised") count as that preset.
        name = _VRM0_PRESETS.get(preset) or _PRESETS_BY_KEY.get(raw_name.lower(), raw_name)
        found = []
        for bind in map(_dict, _list(group.get("binds"))):
            weight = bind.get("weight", 100.0)
            weight = weight / 100.0 if isinstance(weight, (int, float)) else weight
            found += binds.resolve(mesh_primitives.get(bind.get("mesh"), []), bind.get("index"), weight)
        if name:
            expressions.setdefault(name, Expression(name, tuple(found), bool(group.get("isBinary", False))))
    look_at = {"Bone": "bone", "BlendShape": "expression"}.get(_dict(vrm.get("firstPerson")).get("lookAtTypeName"))
    materials = [_dict(m) for m in _list(vrm.get("materialProperties"))]
    return VrmInfo("0.x", _dict(vrm.get("meta")).get("title"), _humanoid(bones, node_count), expressions, look_at, materials)


def _humanoid(bones: dict[Any, Any], node_count: int) -> dict[str, int]:
    return {str(b): n for b, n in bones.items() if b and isinstance(n, int) and 0 <= n < node_count}


def srgb_to_linear(color: np.ndarray) -> np.ndarray:
    """sRGB-encoded colour components in [0, 1] -> linear."""
    c = np.clip(np.asarray(color, np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _color3(value: Any, default: np.ndarray) -> np.ndarray:
    values = _list(value)
    if len(values) < 3 or not all(isinstance(v, (int, float)) for v in values[:3]):
        return default
    return np.asarray(values[:3], np.float64)


@dataclass(frozen=True)
class ToonStyle:
    """MToon settings that override a glTF material's defaults (None: keep the glTF value)."""

    shade_color: np.ndarray
    outline_width: float
    outline_color: np.ndarray
    alpha_mode: str | None = None
    alpha_cutoff: float | None = None
    double_sided: bool | None = None
    unlit: bool = False


def mtoon_1(extension: dict[str, Any], base: np.ndarray) -> ToonStyle:
    """VRMC_materials_mtoon (VRM 1.0; colours are linear, widths in metres or screen units)."""
    mode = extension.get("outlineWidthMode", "none")
    width = float(extension.get("outlineWidthFactor", 0.0) or 0.0)
    if mode == "screenCoordinates":
        width *= SCREEN_OUTLINE_METRES
    elif mode != "worldCoordinates":
        width = 0.0
    return ToonStyle(
        shade_color=_color3(extension.get("shadeColorFactor"), base[:3].astype(np.float64)),
        outline_width=width,
        outline_color=_color3(extension.get("outlineColorFactor"), np.zeros(3)),
    )


def mtoon_0(properties: dict[str, Any], base: np.ndarray) -> ToonStyle | None:
    """VRM 0.x materialProperties: MToon and the Unlit shaders; None for other shaders.

    VRM 0.x stores Unity colours gamma-encoded, so colours are converted to linear;
    `_OutlineWidth` is in centimetres in world mode (`_OutlineWidthMode` 1) and a
    screen fraction in percent in screen mode (2). The render type tag decides the alpha
    mode ("TransparentCutout" -> MASK with `_Cutoff`, "Transparent" -> BLEND), `_CullMode`
    0 means double sided.
    """
    shader = str(properties.get("shader", ""))
    floats = _dict(properties.get("floatProperties"))
    vectors = _dict(properties.get("vectorProperties"))
    render_type = _dict(properties.get("tagMap")).get("RenderType")
    alpha_mode = {"TransparentCutout": "MASK", "Transparent": "BLEND", "Opaque": "OPAQUE"}.get(render_type)
    cutoff = floats.get("_Cutoff")
    cull = floats.get("_CullMode")
    common: dict[str, Any] = {
        "alpha_mode": alpha_mode,
        "alpha_cutoff": float(cutoff) if isinstance(cutoff, (int, float)) else None,
        "double_sided": (cull == 0) if isinstance(cull, (int, float)) else None,
    }
    if shader.startswith("VRM/Unlit"):
        return ToonStyle(base[:3].astype(np.float64), 0.0, np.zeros(3), unlit=True, **common)
    if shader != "VRM/MToon":
        return None
    mode = floats.get("_OutlineWidthMode")
    if not isinstance(mode, (int, float)):
        keywords = _dict(properties.get("keywordMap"))
        mode = 1 if keywords.get("MTOON_OUTLINE_WIDTH_WORLD") else 0
        mode = 2 if keywords.get("MTOON_OUTLINE_WIDTH_SCREEN") else mode
    width = float(floats.get("_OutlineWidth", 0.0) or 0.0)
    width = width * 0.01 if mode == 1 else width * 0.01 * SCREEN_OUTLINE_METRES if mode == 2 else 0.0
    shade = vectors.get("_ShadeColor")
    outline = vectors.get("_OutlineColor")
    return ToonStyle(
        shade_color=srgb_to_linear(_color3(shade, np.zeros(3))) if shade else base[:3] * 0.6,
        outline_width=width,
        outline_color=srgb_to_linear(_color3(outline, np.zeros(3))),
        **common,
    )
