"""torch on the CPU (float32) or on CUDA (FP16, channels_last, CUDA graphs, two streams, torch.compile).

The work is `avatar_live.torch_runner.TorchRunner`'s (torch only); this module adapts it
to the numpy interface every backend shares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from avatar_live.errors import AvatarLiveError
from avatar_live.runtime.base import InferenceBackend

try:
    import torch

    from avatar_live.torch_runner import TorchRunner
except ImportError:  # the backend raises a clear error when constructed
    torch = None


class TorchBackend(InferenceBackend):
    """Runs a torch module built by a factory.

    The module is called with the inputs as positional arguments in `input_names` order
    (the order they were given to the ONNX export), and returns a tensor, a tuple of
    tensors in `output_names` order, or a dict keyed by output name.

    On CUDA the module runs in FP16 with channels_last weights; with `cuda_graphs` one
    graph per input shape is captured and replayed (a module with independent `branches()`,
    as `EmocaEncoder`, has them on two streams inside it); with `compile`, torch.compile
    (inductor, cached on disk) builds the kernels first, falling back to eager on failure.
    On the CPU none of that applies: float32, eager.

    Attributes:
        accepts_uint8_nhwc: an "image" input may also be a uint8 B x H x W x 3 RGB array
            (0..255), converted to B x 3 x H x W float in [0, 1] on the device: a quarter of
            the upload, and the same result as the float32 input `pixels / 255`.
    """

    accepts_uint8_nhwc = True

    def __init__(self, factory: Callable[[], torch.nn.Module], input_names: Sequence[str],
                 output_names: Sequence[str], *, device: str = "cpu", cuda_graphs: bool = True,
                 compile: bool = True) -> None:
        """Build and load the module.

        Args:
            factory: returns the model with its weights loaded (on the CPU is fine).
            input_names: the model's input names, in forward's argument order.
            output_names: the model's output names, in its return order.
            device: "cpu" or "cuda" / "cuda:N".
            cuda_graphs: on CUDA, replay captured graphs (ignored on the CPU).
            compile: on CUDA, compile with torch.compile (ignored on the CPU).

        Raises:
            AvatarLiveError: torch is not installed, or CUDA was asked for and is absent.
        """
        if torch is None:
            raise AvatarLiveError("torch is not installed (pip install 'avatar-live[emoca]')")
        cuda = torch.device(device).type == "cuda"
        if cuda and not torch.cuda.is_available():
            raise AvatarLiveError("torch has no CUDA GPU here (CPU-only build or no driver)")
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)
        self.name = "torch-cuda" if cuda else "torch-cpu"
        self.precision = "fp16" if cuda else "fp32"
        self.device = f"{device} ({torch.cuda.get_device_name(torch.device(device))})" if cuda else "cpu"
        self._runner: TorchRunner | None = TorchRunner(
            factory(), output_names, device=device, cuda_graphs=cuda_graphs, channels_last=cuda,
            two_streams=cuda, compile=compile and cuda)

    def _tensors(self, inputs: Mapping[str, np.ndarray]) -> list[torch.Tensor]:
        """Validate a batch (as `base.check_inputs`, but a uint8 NHWC "image" stays uint8) as CPU tensors."""
        if set(inputs) != set(self.input_names):
            raise AvatarLiveError(f"model inputs are {sorted(self.input_names)}, got {sorted(inputs)}")
        arrays = []
        for name in self.input_names:
            array = np.asarray(inputs[name])
            if name == "image" and array.dtype == np.uint8:
                if array.ndim != 4 or array.shape[3] != 3:
                    raise AvatarLiveError(f"a uint8 image must be B x H x W x 3, got {array.shape}")
                arrays.append(np.ascontiguousarray(array))
            else:
                arrays.append(np.ascontiguousarray(array, dtype=np.float32))
        batches = {array.shape[0] if array.ndim else None for array in arrays}
        if None in batches or len(batches) != 1:
            raise AvatarLiveError(f"every input needs the same leading batch axis, got shapes "
                                  f"{ {name: array.shape for name, array in zip(self.input_names, arrays)} }")
        return [torch.from_numpy(array) for array in arrays]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._runner is None:
            raise AvatarLiveError("this torch backend was closed")
        outputs = self._runner.run(self._tensors(inputs))
        return {name: outputs[name].numpy() for name in self.output_names}

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        self._runner = None
