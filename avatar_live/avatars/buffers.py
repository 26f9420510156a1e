"""Reading a glTF/GLB/VRM file with pygltflib, and decoding its accessors and images safely.

Every problem becomes a one-line `AvatarLiveError` that names the file. Sizes are checked
against the buffers before anything is allocated, so a crafted count cannot exhaust memory.
"""

from __future__ import annotations

import base64
import json
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import cv2
import numpy as np
import pygltflib

from avatar_live.errors import AvatarLiveError

MAX_FILE_BYTES = 512 * 1024 * 1024
"""Refuse avatar files (and their external buffers, together) larger than this."""

MAX_ELEMENTS = 50_000_000
"""Refuse any single accessor with more elements than this (it could not be a real avatar)."""

_COMPONENT_DTYPES = {
    5120: np.dtype("<i1"), 5121: np.dtype("<u1"), 5122: np.dtype("<i2"),
    5123: np.dtype("<u2"), 5125: np.dtype("<u4"), 5126: np.dtype("<f4"),
}
_TYPE_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
# glTF's normalized integers: signed values are clamped so that -128 and -127 both give -1.
_NORMALIZE_SCALE = {5120: 127.0, 5121: 255.0, 5122: 32767.0, 5123: 65535.0, 5125: 4294967295.0}


def one_line(text: object) -> str:
    """`text` squeezed onto one line (for exception messages from libraries)."""
    return " ".join(str(text).split())


class GltfSource:
    """A parsed glTF document with its buffers.

    Args:
        path: a .glb, .vrm (binary glTF) or .gltf (JSON) file.

    Raises:
        AvatarLiveError: the file is missing, too large, not glTF, truncated or malformed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._images: dict[int, np.ndarray | None] = {}
        self._decoded: dict[tuple[int, bool], np.ndarray] = {}
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise AvatarLiveError(f"Avatar file {path} cannot be read: {one_line(exc.strerror or exc)}") from None
        if size > MAX_FILE_BYTES:
            raise self.error(f"is too large ({size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB)")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise self.error(f"cannot be read: {exc.strerror or exc}") from None
        self.doc, blob = self._parse(data)
        self.buffers = [self._buffer(i, buffer, blob) for i, buffer in enumerate(self.doc.buffers or [])]

    def error(self, what: str) -> AvatarLiveError:
        """An error about this file; `what` continues "Avatar file PATH ...", one line."""
        return AvatarLiveError(one_line(f"Avatar file {self.path} {what}"))

    def _parse(self, data: bytes) -> tuple[pygltflib.GLTF2, bytes | None]:
        """The document and the GLB binary chunk (None for JSON glTF)."""
        if data[:4] == b"glTF":
            if len(data) < 12:
                raise self.error("is truncated (incomplete GLB header)")
            version, length = struct.unpack("<II", data[4:12])
            if version != 2:
                raise self.error(f"is GLB version {version}; only glTF 2.0 is supported")
            if length > len(data):
                raise self.error(f"is truncated (the header says {length} bytes, the file has {len(data)})")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # pygltflib warns about unknown chunks
                    doc = pygltflib.GLTF2.load_from_bytes(data[:length])
            except Exception as exc:  # noqa: BLE001 - any parser failure is a damaged file
                raise self.error(f"is not a valid GLB file ({type(exc).__name__}: {exc})") from None
            if doc is None:
                raise self.error("is not a valid GLB file (no JSON chunk)")
            return doc, doc.binary_blob()
        text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text.startswith(b"{"):
            raise self.error(f"is not a glTF, GLB or VRM file (it starts with {data[:4]!r}, not b'glTF' or JSON)")
        try:
            json.loads(text)
            doc = pygltflib.GLTF2.from_json(text.decode("utf-8"), infer_missing=True)
        except Exception as exc:  # noqa: BLE001 - bad JSON or bad structure
            raise self.error(f"is not valid glTF JSON ({type(exc).__name__}: {exc})") from None
        return doc, None

    def _buffer(self, index: int, buffer: pygltflib.Buffer, blob: bytes | None) -> bytes:
        uri = buffer.uri
        if not uri:
            if index != 0 or blob is None:
                raise self.error(f"buffer {index} has no data (no uri and no GLB binary chunk)")
            data = blob
        elif uri.startswith("data:"):
            try:
                data = base64.b64decode(uri.split(",", 1)[1], validate=False)
            except (IndexError, ValueError) as exc:
                raise self.error(f"buffer {index} has a bad data: URI ({exc})") from None
        else:
            data = self._external(uri, f"buffer {index}")
        if len(data) < (buffer.byteLength or 0):
            raise self.error(
                f"is truncated: buffer {index} has {len(data)} bytes of the {buffer.byteLength} it declares")
        return data

    def _external(self, uri: str, what: str) -> bytes:
        """The bytes of a file referenced by a relative URI."""
        target = self.path.parent / unquote(uri)
        try:
            if target.stat().st_size > MAX_FILE_BYTES:
                raise self.error(f"{what} refers to {target}, which is larger than {MAX_FILE_BYTES // 2**20} MB")
            return target.read_bytes()
        except OSError as exc:
            raise self.error(f"{what} refers to {target}, which cannot be read ({exc.strerror or exc})") from None

    def item(self, items: Sequence[Any] | None, index: Any, what: str, where: str) -> Any:
        """`items[index]`, or a one-line error when `index` is out of range."""
        count = len(items or [])
        if not isinstance(index, int) or not 0 <= index < count:
            raise self.error(f"{where} refers to {what} {index}, but the file has {count} {what}s")
        return items[index]  # type: ignore[index]

    def accessor_count(self, index: Any, where: str) -> int:
        """The element count of accessor `index` (range-checked), without decoding it."""
        return int(self.item(self.doc.accessors, index, "accessor", where).count)

    def read(self, index: Any, where: str, *, as_float: bool = True) -> np.ndarray:
        """Decode an accessor.

        Args:
            index: the accessor index.
            where: what refers to it, for error messages ("mesh 'Face' primitive 0 POSITION").
            as_float: return float32, applying glTF normalization to normalized integers;
                otherwise the stored integer (or float) type.

        Returns:
            (count, components) array (components: 1 for SCALAR ... 16 for MAT4, matrices
            column-major as stored), sparse substitutions applied. Read-only: primitives
            that share an accessor share the array.
        """
        accessor = self.item(self.doc.accessors, index, "accessor", where)
        if (index, as_float) not in self._decoded:
            values = self._decode(accessor, f"{where} (accessor {index})", as_float)
            values.setflags(write=False)
            self._decoded[(index, as_float)] = values
        return self._decoded[(index, as_float)]

    def _decode(self, accessor: Any, where: str, as_float: bool) -> np.ndarray:
        """A fresh, writable decoding of an accessor (see `read`)."""
        dtype = _COMPONENT_DTYPES.get(accessor.componentType)
        width = _TYPE_SIZES.get(accessor.type)
        count = accessor.count or 0
        if dtype is None or width is None:
            raise self.error(f"{where} has an unknown type {accessor.type}/{accessor.componentType}")
        if not 0 <= count <= MAX_ELEMENTS:
            raise self.error(f"{where} has {count} elements; the limit is {MAX_ELEMENTS}")
        if accessor.bufferView is None:
            values = np.zeros((count, width), dtype)
        else:
            values = self._view(accessor.bufferView, accessor.byteOffset or 0, dtype, count, width, where)
        if accessor.sparse is not None and (accessor.sparse.count or 0) > 0:
            self._apply_sparse(accessor.sparse, values, dtype, width, where)
        if not as_float:
            return values
        if accessor.normalized and accessor.componentType in _NORMALIZE_SCALE:
            scaled = values.astype(np.float32) / np.float32(_NORMALIZE_SCALE[accessor.componentType])
            return np.maximum(scaled, np.float32(-1.0))
        return values.astype(np.float32)

    def _view(self, view_index: Any, offset: int, dtype: np.dtype, count: int, width: int, where: str) -> np.ndarray:
        """`count` elements of `width` components from a buffer view, bounds-checked, copied."""
        view = self.item(self.doc.bufferViews, view_index, "bufferView", where)
        data = self.item(self.buffers, view.buffer, "buffer", f"bufferView {view_index}")
        element = dtype.itemsize * width
        stride = view.byteStride or element
        start = (view.byteOffset or 0) + offset
        if count == 0:
            return np.zeros((0, width), dtype)
        end = start + stride * (count - 1) + element
        view_end = (view.byteOffset or 0) + (view.byteLength or 0)
        if end > view_end or end > len(data):
            raise self.error(
                f"is truncated or malformed: {where} needs bytes {start}..{end} of buffer {view.buffer}, "
                f"which has {len(data)} (bufferView {view_index} ends at {view_end})"
            )
        if stride < element:
            raise self.error(f"{where}: bufferView {view_index} has byteStride {stride} < element size {element}")
        strided = np.ndarray((count, width), dtype, buffer=data, offset=start, strides=(stride, dtype.itemsize))
        return strided.copy()

    def _apply_sparse(self, sparse: Any, values: np.ndarray, dtype: np.dtype, width: int, where: str) -> None:
        """Substitute a sparse accessor's values into `values` (in place)."""
        count = int(sparse.count)
        index_dtype = _COMPONENT_DTYPES.get(sparse.indices.componentType)
        if index_dtype is None or index_dtype.kind != "u":
            raise self.error(f"{where} has sparse indices of type {sparse.indices.componentType}")
        indices = self._view(sparse.indices.bufferView, sparse.indices.byteOffset or 0, index_dtype, count, 1, where)
        indices = indices[:, 0].astype(np.int64)
        if indices.size and indices.max() >= len(values):
            raise self.error(f"{where} has a sparse index {indices.max()} beyond its {len(values)} elements")
        values_offset = sparse.values.byteOffset or 0
        values[indices] = self._view(sparse.values.bufferView, values_offset, dtype, count, width, where)

    def image(self, index: int, where: str) -> np.ndarray | None:
        """Image `index` decoded with OpenCV as (H, W, 4) uint8 RGBA (sRGB as stored), or
        None (with a warning from the caller's logger) when OpenCV cannot decode it."""
        if index not in self._images:
            self._images[index] = self._decode_image(index, where)
        return self._images[index]

    def _decode_image(self, index: int, where: str) -> np.ndarray | None:
        image = self.item(self.doc.images, index, "image", where)
        if image.bufferView is not None:
            view = self.item(self.doc.bufferViews, image.bufferView, "bufferView", f"image {index}")
            data = self.item(self.buffers, view.buffer, "buffer", f"bufferView {image.bufferView}")
            start = view.byteOffset or 0
            if start + (view.byteLength or 0) > len(data):
                raise self.error(f"is truncated: image {index} lies beyond the end of buffer {view.buffer}")
            encoded = data[start:start + (view.byteLength or 0)]
        elif image.uri and image.uri.startswith("data:"):
            try:
                encoded = base64.b64decode(image.uri.split(",", 1)[1])
            except (IndexError, ValueError):
                return None
        elif image.uri:
            encoded = self._external(image.uri, f"image {index}")
        else:
            return None
        pixels = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_UNCHANGED)
        if pixels is None:
            return None
        if pixels.dtype == np.uint16:
            pixels = (pixels >> 8).astype(np.uint8)
        if pixels.ndim == 2:
            return cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGBA)
        if pixels.shape[2] == 3:
            return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGBA)
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
