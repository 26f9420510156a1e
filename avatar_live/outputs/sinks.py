"""Which outputs a run writes, opening them together and finishing them together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from avatar_live.outputs.base import Sink
from avatar_live.outputs.files import check_distinct
from avatar_live.render.backdrop import Backdrop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outputs:
    """Where a run sends its frames and parameters.

    Attributes:
        video: a video file or PNG folder for the rendered avatar (`render -o`,
            `run --record`).
        params: JSON lines of the face parameters ("-" for standard output).
        virtualcam: send the avatar to a virtual camera.
        virtualcam_backend: a pyvirtualcam backend name (None: the first that works).
        vmc: (host, port) to send the VMC protocol to.
        ifacialmocap: (host, port) to send iFacialMocap's UDP format to.
    """

    video: Path | None = None
    params: Path | None = None
    virtualcam: bool = False
    virtualcam_backend: str | None = None
    vmc: tuple[str, int] | None = None
    ifacialmocap: tuple[str, int] | None = None

    def check(self, inputs: list[Path], *, video_option: str = "-o", params_option: str = "--params") -> None:
        """Refuse outputs that would overwrite an input or each other (see `files.check_distinct`)."""
        named = [(video_option, self.video), (params_option, self.params)]
        check_distinct(inputs, [(option, path) for option, path in named if path is not None])


def open_sinks(outputs: Outputs, *, size: tuple[int, int], fps: float, clock: str,
               backdrop: Backdrop) -> list[Sink]:
    """Open every output (all or none: a failure closes and removes those already open).

    Args:
        outputs: what to open.
        size: (width, height) of rendered frames.
        fps: nominal frame rate.
        clock: "capture" (live) or "source" (offline) timestamps for video files.
        backdrop: the renderer's backdrop; a transparent one needs outputs that keep alpha,
            and sinks without alpha show the frames over its colour.

    Raises:
        AvatarLiveError: an output cannot be opened.
    """
    from avatar_live.outputs.params_stream import ParamsStreamSink
    from avatar_live.outputs.video_file import open_video_output
    from avatar_live.outputs.virtual_camera import open_virtual_camera

    sinks: list[Sink] = []
    try:
        if outputs.video is not None:
            sinks.append(open_video_output(outputs.video, size=size, fps=fps, clock=clock,
                                           alpha=backdrop.transparent))
        if outputs.params is not None:
            sinks.append(ParamsStreamSink(outputs.params))
        if outputs.virtualcam:
            camera = open_virtual_camera(size=size, fps=fps, backend=outputs.virtualcam_backend,
                                         background=backdrop.color_u8)
            if camera is not None:
                sinks.append(camera)
        if outputs.vmc is not None:
            from avatar_live.outputs.vmc import VmcSink

            sinks.append(VmcSink(*outputs.vmc))
        if outputs.ifacialmocap is not None:
            from avatar_live.outputs.ifacialmocap import IFacialMocapSink

            sinks.append(IFacialMocapSink(*outputs.ifacialmocap))
    except BaseException:
        for sink in sinks:
            sink.close()
            sink.abandon()
        raise
    return sinks


def finish_sinks(sinks: list[Sink], *, ok: bool) -> list[str]:
    """After a run: move finished files into place (`ok`), or keep what a failed run wrote.

    Returns:
        One line per output for the report: what was written, or what was kept.
    """
    lines = []
    for sink in sinks:
        if ok:
            lines.append(sink.commit())
            continue
        kept = sink.abandon()
        if kept is not None:
            log.warning("kept %s", kept)
            lines.append(kept)
    return lines
