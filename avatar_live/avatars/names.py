"""Name matching: ARKit blendshape names in their common spellings, and humanoid bones
guessed from the node names of plain glTF files."""

from __future__ import annotations

import re

from avatar_live.types import ARKIT_NAMES

_ARKIT_KEYS: dict[str, int] = {name.lower(): i for i, name in enumerate(ARKIT_NAMES)}

_PREFIXES = ("", "arkit", "blendshape", "bs")
"""Prefixes tolerated before an ARKit name once separators are gone ("ARKit_eyeBlinkLeft",
"BS_jawOpen"); anything up to the last "." is dropped before that ("blendShape1.jawOpen")."""

# "_L", "-r", ".L", " R" at the end, or a capital L/R right after a lowercase letter
# ("eyeBlinkL"). A bare lowercase final letter is part of the word ("mouthRollUpper").
_SIDE_SUFFIX = re.compile(r"(?:[_\-. ]([LlRr])|(?<=[a-z])([LR]))$")


def _key(name: str) -> str:
    """Lowercase letters and digits only, sides spelled out ("eyeBlink_L" -> "eyeblinkleft")."""

    def side(match: re.Match[str]) -> str:
        letter = (match.group(1) or match.group(2)).upper()
        return "Left" if letter == "L" else "Right"

    return re.sub(r"[^0-9a-z]", "", _SIDE_SUFFIX.sub(side, name).lower())


def arkit_index(name: str) -> int | None:
    """The index in `ARKIT_NAMES` that a morph-target or expression name means, else None.

    Matched, case-insensitively and ignoring "_", "-", " " and ".": the ARKit name itself
    ("eyeBlinkLeft", "EyeBlinkLeft", "eye_blink_left"); sides as a suffix ("eyeBlink_L",
    "eyeBlink_l", "EyeBlink_R", "eyeBlinkL"); a prefix up to the last dot
    ("blendShape1.eyeBlinkLeft"); and the prefixes "ARKit", "blendShape", "BS"
    ("ARKit_eyeBlinkLeft").
    """
    candidates = [name]
    if "." in name.strip("."):
        candidates.append(name.rsplit(".", 1)[1])
    for candidate in candidates:
        key = _key(candidate)
        for prefix in _PREFIXES:
            if key.startswith(prefix) and key[len(prefix):] in _ARKIT_KEYS:
                return _ARKIT_KEYS[key[len(prefix):]]
    return None


_BONE_NAMES: dict[str, tuple[str, ...]] = {
    # Keys of node names with separators removed, lowercase, anything up to ":" dropped
    # ("mixamorig:Head" -> "head", "J_Bip_C_Head" -> "jbipchead", "eye.L" -> "eyel").
    "head": ("head", "jbipchead", "bip01head", "bip001head", "ccbasehead", "defhead", "head01"),
    "neck": ("neck", "jbipcneck", "bip01neck", "bip001neck", "ccbaseneck", "defneck", "neck01", "neck1"),
    "leftEye": ("lefteye", "eyeleft", "eyel", "leye", "jadjlfaceeye", "ccbaselefteye", "deflefteye", "eyel01"),
    "rightEye": ("righteye", "eyeright", "eyer", "reye", "jadjrfaceeye", "ccbaserighteye", "defrighteye", "eyer01"),
    "hips": ("hips", "hip", "pelvis", "jbipchips", "bip01pelvis", "bip001pelvis", "ccbasehip", "defhips"),
}


def _bone_key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.rsplit(":", 1)[-1].lower())


def guess_humanoid(node_names: list[str]) -> dict[str, int]:
    """Humanoid bones guessed from node names, for glTF files without VRM data.

    A node matches a bone when its key (lowercase, separators removed, any "prefix:"
    dropped) is one of the spellings in `_BONE_NAMES`: Head, head, J_Bip_C_Head,
    mixamorig:Head, Bip01 Head, CC_Base_Head; Neck, J_Bip_C_Neck; LeftEye, Eye_L, eye.L,
    J_Adj_L_FaceEye; Hips, Pelvis, J_Bip_C_Hips. Failing an exact match, a head is a node
    whose key ends in "head" (not "forehead", not "headtop"/"headend" helpers). The first
    matching node in file order wins.

    Returns:
        bone name ("head", "neck", "leftEye", "rightEye", "hips") -> node index, only for
        the bones found.
    """
    keys = [_bone_key(name) for name in node_names]
    found: dict[str, int] = {}
    for bone, spellings in _BONE_NAMES.items():
        for index, key in enumerate(keys):
            if key in spellings:
                found[bone] = index
                break
    if "head" not in found:
        for index, key in enumerate(keys):
            if key.endswith("head") and not key.endswith("forehead"):
                found["head"] = index
                break
    return found
