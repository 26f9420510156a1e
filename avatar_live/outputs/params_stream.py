"""Per-frame face parameters as JSON lines, for other apps and for analysis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from avatar_live.errors import AvatarLiveError
from avatar_live.outputs.base import Sink
from avatar_live.types import ARKIT_NAMES, EMOTION_CLASSES, FaceParams, Packet


def params_record(index: int, time: float, params: FaceParams) -> dict[str, Any]:
    """The JSON object for one frame.

    Keys: frame, time (s), face, head {rotation (axis-angle rad), translation}, arkit
    {52 names -> weight}, gaze {yaw, pitch} (rad), confidence, emotion {valence,
    arousal, label, probs {8 classes}, source} (null when not computed), and flame
    {shape 100, expression 50, jaw 3, global 3, cam 3} when FLAME parameters exist.
    """
    emotion = params.emotion
    record = {
        "frame": index,
        "time": round(time, 6),
        "face": bool(params.face),
        "head": {
            "rotation": [round(float(v), 5) for v in params.rotation],
            "translation": [round(float(v), 5) for v in params.translation],
        },
        "arkit": {name: round(float(w), 4) for name, w in zip(ARKIT_NAMES, params.arkit)},
        "gaze": {"yaw": round(float(params.gaze[0]), 5), "pitch": round(float(params.gaze[1]), 5)},
        "confidence": round(float(params.confidence), 4),
        "emotion": None if emotion is None else {
            "valence": round(float(emotion.valence), 4),
            "arousal": round(float(emotion.arousal), 4),
            "label": emotion.label,
            "probs": {name: round(float(p), 4) for name, p in zip(EMOTION_CLASSES, emotion.probs)},
            "source": emotion.source,
        },
    }
    if params.flame is not None:
        flame = params.flame
        record["flame"] = {
            key: [round(float(v), 5) for v in values]
            for key, values in (("shape", flame.shape), ("expression", flame.expression), ("jaw", flame.jaw),
                                ("global", flame.global_rotation), ("cam", flame.cam))
        }
    return record


class ParamsStreamSink(Sink):
    """One JSON object per frame, one per line; flushed each line so a crash loses nothing."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.path = path
        self.frames = 0
        try:
            if path.parent and not path.parent.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
            self._file: TextIO | None = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise AvatarLiveError(f"cannot write {path}: {exc.strerror}") from exc

    def write(self, packet: Packet) -> None:
        if packet.params is None:
            raise ValueError("ParamsStreamSink needs encoded parameters")
        record = params_record(packet.frame.index, packet.frame.time, packet.params)
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        self.frames += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
