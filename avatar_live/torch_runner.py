"""The torch backend's core on torch tensors: FP16, channels_last, CUDA graphs, two streams, torch.compile.

It imports only torch and the standard library, so `benchmarks/gpu_check.py` can run it on
GPU machines that have torch and nothing else; `runtime.torch_backend.TorchBackend` wraps
it for numpy arrays.

On CUDA, per input shape: the input is uploaded from a pinned host buffer into a static
device buffer (uint8 NHWC crops are 4x smaller than float32 and are converted on the GPU),
one captured graph converts it, runs the network and casts the outputs to float32, and the
outputs come back into pinned host buffers; one synchronize per run. A module with
independent `branches()` (EMOCA's two ResNet-50s) has them forked onto two streams inside
that one graph, so the two networks' small batch-1 kernels overlap.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from avatar_live.errors import AvatarLiveError

log = logging.getLogger(__name__)

COMPILE_MODE = "default"
"""torch.compile's mode. "default" compiles in well under a minute; "max-autotune*" benchmarks
kernel variants for several minutes, and "reduce-overhead" adds inductor's own CUDA graphs,
which the runner's captured graph already provides."""

Combine = Callable[[Sequence[torch.Tensor]], object]


def inductor_cache_dir() -> Path:
    """Where inductor keeps its compiled kernels: `$AVATAR_LIVE_CACHE/inductor`, else the user cache folder's.

    platformdirs is imported lazily (GPU check machines lack it); without it
    `~/.cache/avatar-live/inductor` is used.
    """
    try:
        from avatar_live.user_folders import cache_folder
    except ImportError:  # no platformdirs
        override = os.environ.get("AVATAR_LIVE_CACHE")
        return (Path(override) if override else Path.home() / ".cache" / "avatar-live") / "inductor"
    return cache_folder() / "inductor"


def prepare_input(tensor: torch.Tensor, dtype: torch.dtype, channels_last: bool) -> torch.Tensor:
    """An uploaded input as the network takes it.

    Args:
        tensor: float (any layout), or a uint8 B x H x W x 3 image (RGB 0..255).
        dtype: the network's dtype.
        channels_last: give 4-D tensors the channels_last layout (else contiguous NCHW).

    Returns:
        `dtype`; a uint8 image becomes B x 3 x H x W in [0, 1].

    Raises:
        ValueError: a uint8 input that is not B x H x W x 3.
    """
    if tensor.dtype == torch.uint8:
        if tensor.dim() != 4 or tensor.shape[3] != 3:
            raise ValueError(f"a uint8 image must be B x H x W x 3, got {tuple(tensor.shape)}")
        # float32 before dividing: the same rounding as the CPU crop's float32 / 255.
        tensor = tensor.permute(0, 3, 1, 2).float() / 255
    tensor = tensor.to(dtype)
    if tensor.dim() == 4:
        layout = torch.channels_last if channels_last else torch.contiguous_format
        return tensor.contiguous(memory_format=layout)
    return tensor.contiguous()


def run_branches(branches: Sequence[Callable], combine: Combine, inputs: Sequence[torch.Tensor],
                 streams: Sequence[torch.cuda.Stream] | None = None) -> object:
    """Run independent branches on the same inputs and combine their outputs.

    Args:
        branches: callables that each take all `inputs`.
        combine: merges the branches' outputs, in order, into the module's output.
        inputs: the prepared inputs.
        streams: one CUDA stream per branch to fork onto (joined back into the current
            stream before combining; capturable), or None to run them one after another.
    """
    if streams is None:
        return combine([branch(*inputs) for branch in branches])
    main = torch.cuda.current_stream()
    outputs = []
    for branch, stream in zip(branches, streams, strict=True):
        stream.wait_stream(main)
        with torch.cuda.stream(stream):
            outputs.append(branch(*inputs))
    for stream in streams:
        main.wait_stream(stream)
    return combine(outputs)


def max_relative_error(outputs: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]) -> float:
    """`runtime.base.max_relative_error` on tensors: the largest |output - reference| / max|reference|."""
    if set(outputs) != set(reference):
        raise AvatarLiveError(f"outputs {sorted(outputs)} do not match the reference's {sorted(reference)}")
    worst = 0.0
    for name, expected in reference.items():
        got, expected = outputs[name].double().cpu(), expected.double().cpu()
        if got.shape != expected.shape:
            raise AvatarLiveError(f"output {name!r} has shape {tuple(got.shape)}, the reference {tuple(expected.shape)}")
        if expected.numel() == 0:
            continue
        scale = max(float(expected.abs().max()), 1e-12)
        worst = max(worst, float((got - expected).abs().max()) / scale)
    return worst


@dataclass
class _Plan:
    """Buffers (and the graph) for one set of input shapes and dtypes on CUDA."""

    host_inputs: list[torch.Tensor]
    device_inputs: list[torch.Tensor]
    host_outputs: dict[str, torch.Tensor]
    device_outputs: dict[str, torch.Tensor]
    graph: torch.cuda.CUDAGraph | None


class TorchRunner:
    """Runs a torch module on CPU tensors and returns float32 CPU tensors.

    Args:
        module: the model with its weights loaded; called with the inputs positionally and
            returning a tensor, a tuple in `output_names` order, or a dict by name. When it
            has `branches()` and `combine(outputs)`, the branches are run separately.
        output_names: the model's output names.
        device: "cpu" (float32) or "cuda" / "cuda:N" (FP16 weights: a half module rather than
            autocast, so no cast caches live across graph replays).
        cuda_graphs: on CUDA, capture one graph per input shape and replay it.
        channels_last: the channels_last layout for the weights and 4-D inputs.
        two_streams: on CUDA with graphs, fork the branches onto two streams.
        compile: wrap the module (or each branch) in torch.compile; any failure logs a
            warning and the runner continues uncompiled.
    """

    def __init__(self, module: nn.Module, output_names: Sequence[str], *, device: str = "cpu",
                 cuda_graphs: bool = True, channels_last: bool = False, two_streams: bool = False,
                 compile: bool = False) -> None:
        self._device = torch.device(device)
        self.cuda = self._device.type == "cuda"
        if self.cuda and not torch.cuda.is_available():
            raise AvatarLiveError("torch has no CUDA GPU here (CPU-only build or no driver)")
        self.output_names = tuple(output_names)
        self.dtype = torch.float16 if self.cuda else torch.float32
        self.channels_last = channels_last
        self.label = getattr(module, "label", type(module).__name__)
        module = module.eval().to(device=self._device, dtype=self.dtype)
        if channels_last:
            module = module.to(memory_format=torch.channels_last)
        self._module = module
        has_branches = callable(getattr(module, "branches", None)) and callable(getattr(module, "combine", None))
        self._parts: tuple[Callable, ...] = tuple(module.branches()) if has_branches else (module,)
        self._combine: Combine | None = module.combine if has_branches else None
        self.cuda_graphs = self.cuda and cuda_graphs
        # Only inside a graph: eager multi-stream use would need record_stream bookkeeping
        # and gains little, since eager batch 1 is bound by the host launching kernels.
        self._streams = (tuple(torch.cuda.Stream(self._device) for _ in self._parts)
                         if self.cuda_graphs and two_streams and has_branches else None)
        self.compiled = compile and self._compile()
        self._plans: dict[tuple, _Plan] = {}
        self._warm: set[tuple] = set()
        self._last: _Plan | None = None

    @property
    def two_streams(self) -> bool:
        """Whether the branches run on two streams."""
        return self._streams is not None

    def _compile(self) -> bool:
        """Wrap the parts in torch.compile (compilation itself happens on their first call)."""
        cache = inductor_cache_dir()
        # setdefault: a user's own inductor settings win.
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
        os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")
        try:
            self._parts = tuple(torch.compile(part, mode=COMPILE_MODE, dynamic=False) for part in self._parts)
        except Exception as error:  # noqa: BLE001 - any failure means "run uncompiled"
            log.warning("torch.compile is not usable here (%s: %s); running the %s uncompiled",
                        type(error).__name__, error, self.label)
            return False
        return True

    def _simplify(self, error: BaseException) -> bool:
        """After a failed first call: drop compilation, else the second stream; False when nothing is left to drop."""
        if self.compiled:
            log.warning("compiling the %s failed (%s: %s); running it uncompiled",
                        self.label, type(error).__name__, error)
            self.compiled = False
            self._parts = tuple(self._module.branches()) if self._combine is not None else (self._module,)
            return True
        if self._streams is not None:
            log.warning("capturing the %s on two streams failed (%s: %s); using one",
                        self.label, type(error).__name__, error)
            self._streams = None
            return True
        return False

    def _first_call(self, key: tuple, attempt: Callable[[], object]) -> object:
        """Run `attempt` (the first call for `key`: compiles, captures), simplifying and retrying on failure."""
        marker = None
        if self.compiled:
            device = torch.cuda.get_device_name(self._device) if self.cuda else "cpu"
            digest = hashlib.sha256(repr((self.label, torch.__version__, device, key)).encode()).hexdigest()[:16]
            marker = inductor_cache_dir() / "compiled" / digest
            if not marker.exists():
                log.info("compiling the %s for this %s (about a minute, once)",
                         self.label, "GPU" if self.cuda else "CPU")
        while True:
            try:
                result = attempt()
                break
            except Exception as error:  # a compile or capture failure must not stop the app
                if not self._simplify(error):
                    raise
        if marker is not None and self.compiled:
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:  # only the next start's message depends on the marker
                pass
        return result

    def _forward(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Prepare the inputs, run the network, name its outputs and make them float32."""
        prepared = [prepare_input(tensor, self.dtype, self.channels_last) for tensor in inputs]
        with torch.no_grad():
            if self._combine is not None:
                result = run_branches(self._parts, self._combine, prepared, self._streams)
            else:
                result = self._parts[0](*prepared)
        if isinstance(result, torch.Tensor):
            result = (result,)
        if isinstance(result, Mapping):
            named = dict(result)
        else:
            if len(result) != len(self.output_names):
                raise AvatarLiveError(f"the torch model returned {len(result)} outputs, "
                                      f"expected {len(self.output_names)} ({', '.join(self.output_names)})")
            named = dict(zip(self.output_names, result))
        if set(named) != set(self.output_names):
            raise AvatarLiveError(f"the torch model returned {sorted(named)}, expected {sorted(self.output_names)}")
        return {name: named[name].float() for name in self.output_names}

    def _capture(self, inputs: Sequence[torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.cuda.CUDAGraph]:
        # Warm-up on a side stream is what torch's CUDA graph recipe asks for: it lets
        # cuDNN pick its algorithms (and inductor compile) before capture.
        side = torch.cuda.Stream(self._device)
        side.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self._forward(inputs)
        torch.cuda.current_stream(self._device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = self._forward(inputs)
        return outputs, graph

    def _plan(self, key: tuple, inputs: Sequence[torch.Tensor]) -> _Plan:
        host = [torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True) for tensor in inputs]
        device = [torch.zeros(tensor.shape, dtype=tensor.dtype, device=self._device) for tensor in inputs]
        if self.cuda_graphs:
            outputs, graph = self._first_call(key, lambda: self._capture(device))
        else:
            outputs, graph = self._first_call(key, lambda: self._forward(device)), None
        host_outputs = {name: torch.empty(out.shape, dtype=out.dtype, pin_memory=True) for name, out in outputs.items()}
        return _Plan(host, device, host_outputs, outputs, graph)

    def run(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run one batch.

        Args:
            inputs: CPU tensors in the module's argument order: float (B x 3 x H x W for an
                image) or, for an image, uint8 B x H x W x 3.

        Returns:
            One float32 CPU tensor per output name (owned by the caller).
        """
        if self._module is None:
            raise AvatarLiveError("this torch backend was closed")
        key = tuple((tuple(tensor.shape), tensor.dtype) for tensor in inputs)
        if not self.cuda:
            if key in self._warm:
                return self._forward(inputs)
            outputs = self._first_call(key, lambda: self._forward(inputs))
            self._warm.add(key)
            return outputs
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(key, inputs)
        for host, device, tensor in zip(plan.host_inputs, plan.device_inputs, inputs):
            host.copy_(tensor)
            device.copy_(host, non_blocking=True)
        self._last = plan
        self.replay()
        for name, host in plan.host_outputs.items():
            host.copy_(plan.device_outputs[name], non_blocking=True)
        torch.cuda.current_stream(self._device).synchronize()
        # Cloned: the next run overwrites the pinned buffers.
        return {name: host.clone() for name, host in plan.host_outputs.items()}

    def replay(self) -> None:
        """The device work of the last CUDA run again, on its buffers, without copies or synchronizing (for GPU timing)."""
        plan = self._last
        if plan is None:
            raise AvatarLiveError("replay needs a CUDA run first")
        if plan.graph is not None:
            plan.graph.replay()
        else:
            plan.device_outputs = self._forward(plan.device_inputs)

    def close(self) -> None:
        """Release the module, graphs and buffers."""
        self._module = None
        self._parts = ()
        self._plans = {}
        self._last = None
