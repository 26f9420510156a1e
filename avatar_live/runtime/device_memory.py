"""CUDA device buffers and a stream for the TensorRT backend, from whichever library is here.

TensorRT's Python API takes raw device addresses and a raw stream handle; it allocates
nothing for its I/O. Three libraries can provide them, tried in this order:

1. pycuda: chosen by whoever installed it (it needs a CUDA toolkit to build), and it
   makes the primary context current explicitly, so it works from any thread.
2. torch: already installed with the `emoca` extra; its CUDA build ships its own CUDA
   runtime, so no toolkit is needed. Skipped when torch is a CPU-only build.
3. cuda-python (`cuda.bindings.runtime`, or `cuda.cudart` before 12.6): installed by the
   `tensorrt` extra; thin bindings over the driver's runtime API, no toolkit needed.

All three use the device's primary context, which is also the one TensorRT (through the
CUDA runtime) uses, so engines and buffers share one context whichever library is used.
Each provider gives one stream and buffer pairs (page-locked host bytes + device bytes);
every library here is imported lazily so this module imports on any machine.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from avatar_live.errors import AvatarLiveError

INSTALL_HINT = "pip install 'avatar-live[tensorrt]'"


@dataclass
class Buffer:
    """A host staging array and the device memory it is copied to and from.

    Attributes:
        host: `nbytes` uint8, page-locked when the library can allocate that (async copies need it).
        address: the device address, as TensorRT's `set_tensor_address` takes it.
        handle: the library's own object for the device memory, kept alive until freed.
    """

    host: np.ndarray
    address: int
    handle: object


class DeviceMemory(ABC):
    """One GPU's buffers and one stream, from one library.

    Attributes:
        library: "pycuda", "torch" or "cuda-python".
        gpu_name: the GPU's marketing name, e.g. "NVIDIA H200".
        stream_handle: the raw cudaStream_t, as `execute_async_v3` takes it.
    """

    library: str
    gpu_name: str
    stream_handle: int

    def __init__(self) -> None:
        self._buffers: list[Buffer] = []

    def allocate(self, nbytes: int) -> Buffer:
        """A host/device buffer pair of `nbytes`, freed by `close`."""
        buffer = self._allocate(max(nbytes, 1))  # zero-size allocations return null addresses
        self._buffers.append(buffer)
        return buffer

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Make this GPU's context current on the calling thread (pipeline stages are threads)."""
        yield

    def close(self) -> None:
        """Free every buffer; the provider cannot be used afterwards."""
        with self.active():
            for buffer in self._buffers:
                self._free(buffer)
        self._buffers = []

    @abstractmethod
    def _allocate(self, nbytes: int) -> Buffer: ...

    @abstractmethod
    def _free(self, buffer: Buffer) -> None: ...

    @abstractmethod
    def upload(self, buffer: Buffer, nbytes: int) -> None:
        """Queue a copy of the first `nbytes` of `buffer.host` to the device, on the stream."""

    @abstractmethod
    def download(self, buffer: Buffer, nbytes: int) -> None:
        """Queue a copy of the first `nbytes` on the device to `buffer.host`, on the stream."""

    @abstractmethod
    def synchronize(self) -> None:
        """Wait until everything queued on the stream has finished."""


class PyCudaMemory(DeviceMemory):
    library = "pycuda"

    def __init__(self, cuda) -> None:
        super().__init__()
        self._cuda = cuda
        cuda.init()
        if cuda.Device.count() < 1:
            raise AvatarLiveError("no CUDA GPU")
        device = cuda.Device(0)
        self.gpu_name = device.name()
        self._context = device.retain_primary_context()
        with self.active():
            self._stream = cuda.Stream()
        self.stream_handle = self._stream.handle

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self._context.push()
        try:
            yield
        finally:
            self._context.pop()

    def _allocate(self, nbytes: int) -> Buffer:
        allocation = self._cuda.mem_alloc(nbytes)
        return Buffer(self._cuda.pagelocked_empty(nbytes, np.uint8), int(allocation), allocation)

    def _free(self, buffer: Buffer) -> None:
        buffer.handle.free()

    def upload(self, buffer: Buffer, nbytes: int) -> None:
        self._cuda.memcpy_htod_async(buffer.handle, buffer.host[:nbytes], self._stream)

    def download(self, buffer: Buffer, nbytes: int) -> None:
        self._cuda.memcpy_dtoh_async(buffer.host[:nbytes], buffer.handle, self._stream)

    def synchronize(self) -> None:
        self._stream.synchronize()

    def close(self) -> None:
        super().close()
        self._context.detach()


class TorchMemory(DeviceMemory):
    library = "torch"

    def __init__(self, torch) -> None:
        super().__init__()
        if not torch.cuda.is_available():
            raise AvatarLiveError("no CUDA (a CPU-only build, or no GPU)")
        self._torch = torch
        self.gpu_name = torch.cuda.get_device_name(0)
        self._stream = torch.cuda.Stream(device=0)
        self.stream_handle = int(self._stream.cuda_stream)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with self._torch.cuda.device(0):
            yield

    def _allocate(self, nbytes: int) -> Buffer:
        torch = self._torch
        device = torch.empty(nbytes, dtype=torch.uint8, device="cuda:0")
        host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=True)
        # The numpy view shares the pinned tensor's memory; the tensor is kept in `handle`.
        return Buffer(host.numpy(), device.data_ptr(), (device, host))

    def _free(self, buffer: Buffer) -> None:
        buffer.handle = None  # torch's caching allocator takes the memory back

    def upload(self, buffer: Buffer, nbytes: int) -> None:
        device, host = buffer.handle
        with self._torch.cuda.stream(self._stream):
            device[:nbytes].copy_(host[:nbytes], non_blocking=True)

    def download(self, buffer: Buffer, nbytes: int) -> None:
        device, host = buffer.handle
        with self._torch.cuda.stream(self._stream):
            host[:nbytes].copy_(device[:nbytes], non_blocking=True)

    def synchronize(self) -> None:
        self._stream.synchronize()


class CudaPythonMemory(DeviceMemory):
    library = "cuda-python"

    def __init__(self, cudart) -> None:
        super().__init__()
        self._rt = cudart
        if self._call(cudart.cudaGetDeviceCount) < 1:
            raise AvatarLiveError("no CUDA GPU")
        self._call(cudart.cudaSetDevice, 0)  # makes the primary context current
        name = self._call(cudart.cudaGetDeviceProperties, 0).name
        self.gpu_name = (name.split(b"\0")[0].decode() if isinstance(name, bytes) else str(name)).strip()
        self._stream = self._call(cudart.cudaStreamCreate)
        self.stream_handle = int(self._stream)

    def _call(self, function: Callable, *args):
        """Call a runtime function, which returns (error, *results), and raise on an error."""
        error, *results = function(*args)
        if error != self._rt.cudaError_t.cudaSuccess:
            raise AvatarLiveError(f"CUDA {function.__name__} failed: {error}")
        return results[0] if len(results) == 1 else tuple(results) or None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        self._call(self._rt.cudaSetDevice, 0)
        yield

    def _allocate(self, nbytes: int) -> Buffer:
        device = self._call(self._rt.cudaMalloc, nbytes)
        host_address = self._call(self._rt.cudaMallocHost, nbytes)
        host = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(int(host_address)))
        return Buffer(host, int(device), (device, host_address))

    def _free(self, buffer: Buffer) -> None:
        device, host_address = buffer.handle
        self._call(self._rt.cudaFree, device)
        self._call(self._rt.cudaFreeHost, host_address)

    def _copy(self, destination: int, source: int, nbytes: int, kind) -> None:
        self._call(self._rt.cudaMemcpyAsync, destination, source, nbytes, kind, self._stream)

    def upload(self, buffer: Buffer, nbytes: int) -> None:
        self._copy(buffer.address, buffer.host.ctypes.data, nbytes, self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice)

    def download(self, buffer: Buffer, nbytes: int) -> None:
        self._copy(buffer.host.ctypes.data, buffer.address, nbytes, self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost)

    def synchronize(self) -> None:
        self._call(self._rt.cudaStreamSynchronize, self._stream)

    def close(self) -> None:
        super().close()
        self._call(self._rt.cudaStreamDestroy, self._stream)


def _import_first(*names: str):
    """The first of `names` that imports; ImportError naming the first when none does."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(names[0])


# (library, modules to try, provider): the order is the preference, see the module docstring.
PROVIDERS: tuple[tuple[str, tuple[str, ...], Callable[[object], DeviceMemory]], ...] = (
    ("pycuda", ("pycuda.driver",), PyCudaMemory),
    ("torch", ("torch",), TorchMemory),
    ("cuda-python", ("cuda.bindings.runtime", "cuda.cudart"), CudaPythonMemory),
)


def open_device_memory() -> DeviceMemory:
    """Buffers and a stream on CUDA device 0 from the first library that can make them.

    Raises:
        AvatarLiveError: one line naming why each library could not, and what to install.
    """
    reasons = []
    for library, modules, provider in PROVIDERS:
        try:
            module = _import_first(*modules)
        except ImportError:
            reasons.append(f"{library} not installed")
            continue
        try:
            return provider(module)
        except Exception as error:  # each library has its own error types (pycuda.driver.Error, RuntimeError, ...)
            reasons.append(f"{library}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
    raise AvatarLiveError(f"no CUDA device memory for TensorRT ({'; '.join(reasons)}); {INSTALL_HINT} on a "
                          f"machine with an NVIDIA GPU and driver")
