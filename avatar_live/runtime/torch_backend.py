"""torch on the CPU (float32) or on CUDA (FP16 weights, CUDA graphs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.base import InferenceBackend, check_inputs

try:
    import torch
except ImportError:  # the backend raises a clear error when constructed
    torch = None


class TorchBackend(InferenceBackend):
    """Runs a torch module built by a factory.

    The module is called with the inputs as positional arguments in `input_names` order
    (the order they were given to the ONNX export), and returns a tensor, a tuple of
    tensors in `output_names` order, or a dict keyed by output name.

    On CUDA the module is converted to FP16 (a half module rather than autocast, so no
    cast caches live across CUDA graph replays) and, with `cuda_graphs`, its forward pass
    is captured once per input shape with static input buffers and replayed; a batch of
    another size re-captures.
    """

    def __init__(self, factory: Callable[[], "torch.nn.Module"], input_names: Sequence[str],
                 output_names: Sequence[str], *, device: str = "cpu", cuda_graphs: bool = True) -> None:
        """Build and load the module.

        Args:
            factory: returns the model with its weights loaded (on the CPU is fine).
            input_names: the model's input names, in forward's argument order.
            output_names: the model's output names, in its return order.
            device: "cpu" or "cuda" / "cuda:N".
            cuda_graphs: on CUDA, replay captured graphs (ignored on the CPU).

        Raises:
            AvatarLiveError: torch is not installed, or CUDA was asked for and is absent.
        """
        if torch is None:
            raise AvatarLiveError("torch is not installed (pip install 'avatar-live[emoca]')")
        self._device = torch.device(device)
        self._cuda = self._device.type == "cuda"
        if self._cuda and not torch.cuda.is_available():
            raise AvatarLiveError("torch has no CUDA GPU here (CPU-only build or no driver)")
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)
        self.name = "torch-cuda" if self._cuda else "torch-cpu"
        self.precision = "fp16" if self._cuda else "fp32"
        self._dtype = torch.float16 if self._cuda else torch.float32
        self.device = f"{self._device} ({torch.cuda.get_device_name(self._device)})" if self._cuda else "cpu"
        self._module = factory().eval().to(device=self._device, dtype=self._dtype)
        self._use_graphs = self._cuda and cuda_graphs
        self._graph = None
        self._graph_shapes: tuple[tuple[int, ...], ...] | None = None
        self._static_inputs: list = []
        self._static_outputs: dict = {}

    def _forward(self, tensors: Sequence["torch.Tensor"]) -> dict[str, "torch.Tensor"]:
        result = self._module(*tensors)
        if isinstance(result, torch.Tensor):
            result = (result,)
        if isinstance(result, Mapping):
            named = dict(result)
        else:
            named = dict(zip(self.output_names, result))
            if len(result) != len(self.output_names):
                raise AvatarLiveError(f"the torch model returned {len(result)} outputs, "
                                      f"expected {len(self.output_names)} ({', '.join(self.output_names)})")
        if set(named) != set(self.output_names):
            raise AvatarLiveError(f"the torch model returned {sorted(named)}, expected {sorted(self.output_names)}")
        return named

    def _capture(self, shapes: tuple[tuple[int, ...], ...]) -> None:
        self._static_inputs = [torch.zeros(shape, dtype=self._dtype, device=self._device) for shape in shapes]
        # Warm-up on a side stream is what torch's CUDA graph recipe asks for: it lets
        # cuDNN pick its algorithms and allocate workspaces before capture.
        side = torch.cuda.Stream(self._device)
        side.wait_stream(torch.cuda.current_stream(self._device))
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(3):
                self._forward(self._static_inputs)
        torch.cuda.current_stream(self._device).wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph), torch.no_grad():
            self._static_outputs = self._forward(self._static_inputs)
        self._graph_shapes = shapes

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._module is None:
            raise AvatarLiveError("this torch backend was closed")
        arrays, _ = check_inputs(inputs, self.input_names)
        ordered = [arrays[name] for name in self.input_names]
        if self._use_graphs:
            shapes = tuple(array.shape for array in ordered)
            if shapes != self._graph_shapes:
                self._capture(shapes)
            for static, array in zip(self._static_inputs, ordered):
                static.copy_(torch.from_numpy(array))
            self._graph.replay()
            outputs = self._static_outputs
        else:
            tensors = [torch.from_numpy(array).to(device=self._device, dtype=self._dtype) for array in ordered]
            with torch.inference_mode():
                outputs = self._forward(tensors)
        # .float().cpu() copies, so later replays cannot overwrite what was returned.
        return {name: outputs[name].float().cpu().numpy() for name in self.output_names}

    def close(self) -> None:
        self._module = None
        self._graph = None
        self._static_inputs = []
        self._static_outputs = {}
