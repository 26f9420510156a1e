"""Keeps native libraries' log lines off the user's console; our own messages say it in one line.

MediaPipe's C++ code writes warnings such as "Feedback manager requires a model with a
single signature inference" straight to file descriptor 2, from its own threads, where
Python's logging cannot filter them. The command line routes fd 2 through a pipe and drops
those lines; Python's own `sys.stderr` keeps writing to the real terminal directly, so
error messages are never delayed or lost.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading

NATIVE_NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "  # glog/absl INFO and WARNING lines
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog)"
)


def quiet_native_libraries() -> None:
    """Silence OpenCV's and its FFmpeg's own logging ("can't open camera by index",
    "moov atom not found"). Takes effect only before cv2 is first imported."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def filter_native_stderr() -> None:
    """Drop native INFO/WARNING log lines written to fd 2; pass everything else through."""
    try:
        terminal = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return
    sys.stderr.flush()
    sys.stderr = io.TextIOWrapper(io.FileIO(terminal, "w", closefd=False), encoding=sys.stderr.encoding,
                                  errors="backslashreplace", line_buffering=True)
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not NATIVE_NOISE.match(line):
                    os.write(terminal, line)

    threading.Thread(target=forward, name="stderr-filter", daemon=True).start()
