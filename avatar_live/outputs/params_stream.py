"""Per-frame face parameters as JSON lines, for other apps and for analysis."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, TextIO

from avatar_live.errors import AvatarLiveError
from avatar_live.outputs.base import Sink
from avatar_live.outputs.files import STDOUT, OutputFile, write_error
from avatar_live.types import ARKIT_NAMES, EMOTION_CLASSES, FaceParams, Packet


def _number(value: Any, digits: int) -> float | None:
    """A rounded float, or None (JSON null) for NaN and infinities, which JSON cannot hold."""
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def params_record(index: int, time: float, params: FaceParams) -> dict[str, Any]:
    """The JSON object for one frame.

    Keys: frame, time (s), face, head {rotation (axis-angle rad), translation}, arkit
    {52 names -> weight}, gaze {yaw, pitch} (rad), confidence, emotion {valence,
    arousal, label, probs {8 classes}, source} (null when not computed), and flame
    {shape 100, expression 50, jaw 3, global 3, cam 3} when FLAME parameters exist. A
    value that is not a finite number is null.
    """
    emotion = params.emotion
    record = {
        "frame": index,
        "time": round(time, 6),
        "face": bool(params.face),
        "head": {
            "rotation": [_number(v, 5) for v in params.rotation],
            "translation": [_number(v, 5) for v in params.translation],
        },
        "arkit": {name: _number(w, 4) for name, w in zip(ARKIT_NAMES, params.arkit)},
        "gaze": {"yaw": _number(params.gaze[0], 5), "pitch": _number(params.gaze[1], 5)},
        "confidence": _number(params.confidence, 4),
        "emotion": None if emotion is None else {
            "valence": _number(emotion.valence, 4),
            "arousal": _number(emotion.arousal, 4),
            "label": emotion.label,
            "probs": {name: _number(p, 4) for name, p in zip(EMOTION_CLASSES, emotion.probs)},
            "source": emotion.source,
        },
    }
    if params.flame is not None:
        flame = params.flame
        record["flame"] = {
            key: [_number(v, 5) for v in values]
            for key, values in (("shape", flame.shape), ("expression", flame.expression), ("jaw", flame.jaw),
                                ("global", flame.global_rotation), ("cam", flame.cam))
        }
    return record


class ParamsStreamSink(Sink):
    """One JSON object per frame, one per line, flushed each line so a crash loses nothing.

    Args:
        path: the file to write, or "-" for standard output (the app then keeps every
            human message on standard error).

    Raises:
        AvatarLiveError: the file cannot be created.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames = 0
        self._to_stdout = str(path) == STDOUT
        self.name = "standard output" if self._to_stdout else str(path)
        self._output = None if self._to_stdout else OutputFile(path)
        self._failed = False
        if self._to_stdout:
            self._file: TextIO | None = sys.stdout
            return
        try:
            self._file = self._output.writing.open("w", encoding="utf-8")
        except OSError as exc:
            raise AvatarLiveError(f"cannot write {path}: {exc.strerror}") from exc

    def write(self, packet: Packet) -> None:
        if packet.params is None:
            raise ValueError("ParamsStreamSink needs encoded parameters")
        record = params_record(packet.frame.index, packet.frame.time, packet.params)
        try:
            self._file.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
            self._file.flush()
        except OSError as exc:
            self._failed = True
            if self._to_stdout and isinstance(exc, BrokenPipeError):
                raise  # the reader went away (`| head`): the command line ends quietly
            where = self.name if self._output is None else self._output.writing
            raise write_error(Path(where), exc, "the lines written before are kept") from exc
        self.frames += 1

    def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        if self._to_stdout:
            return
        try:
            file.close()
        except OSError:
            self._failed = True  # the write error was reported; a second line adds nothing

    def commit(self) -> str:
        if self._output is None:
            return f"{self.name} ({self.frames} lines)"
        if self._failed:
            return f"{self._output.writing} (incomplete: {self.frames} lines)"
        return f"{self._output.commit()} ({self.frames} lines)"

    def abandon(self) -> str | None:
        if self._output is None:
            return None
        kept = self._output.abandon(empty=self.frames == 0)
        return None if kept is None else f"{kept} (incomplete: {self.frames} lines)"
