"""A restricted unpickler for the face-model files users download (FLAME, DECA embeddings).

Those files are Python pickles, and a pickle can call any function it names. This reader
only resolves an explicit allow-list of globals: numpy's array and dtype reconstruction,
scipy's sparse matrix classes (read into an inert record, rebuilt afterwards), chumpy's
`Ch` (read into an inert record that keeps its array; chumpy itself is never imported),
and the few builtins such pickles use to rebuild plain objects. Anything else is refused
before it is called.

Files written by Python 2 (FLAME's) are read with encoding="latin1", which is also what
numpy needs to rebuild their arrays.

A pickle stores an object it refers to twice only once, so a file of a few hundred bytes
can hold a list 2**60 items long when walked as a tree, a list that holds itself, or one
nested deeper than Python's stack. `plain` converts each object once and refuses cycles,
such depths, and structures too large when their shared references are copied out.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import copyreg
import io
import math
import pickle
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np
import scipy.sparse

from avatar_live.errors import AvatarLiveError

# Deeper than any face-model file nests (FLAME's: dict -> Ch -> array); a deeper file
# would only run Python out of stack.
MAX_DEPTH = 100
# FLAME 2023 holds about 7 million values; this leaves room and still refuses a file whose
# shared references would make np.asarray (or a dense toarray) allocate gigabytes.
MAX_VALUES = 100_000_000


def _numeric_array(value: Any, what: str) -> np.ndarray:
    """`value` as an array, refusing containers: np.asarray would copy out every shared reference in them."""
    if (isinstance(value, np.ndarray) and value.dtype != object) or isinstance(value, (int, float, np.number)):
        return np.asarray(value)
    raise pickle.UnpicklingError(f"{what} is a {type(value).__name__}, expected a numeric array")


class _Record:
    """An object rebuilt from a pickle as nothing but its saved attribute dict."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{type(self).__name__} state is a {type(state).__name__}, expected a dict")
        self.state = state

    def _get(self, key: str) -> Any:
        # Pickles rebuild objects without calling __init__, so `state` exists only after BUILD.
        state = getattr(self, "state", {})
        if key not in state:
            raise pickle.UnpicklingError(f"{type(self).__name__} without {key!r}")
        return state[key]


class ChumpyArray(_Record):
    """What a pickled `chumpy.ch.Ch` becomes: its saved attributes, nothing executable.

    A plain `Ch` (how FLAME stores its arrays) keeps its value in the attribute `x`.
    """

    @property
    def x(self) -> np.ndarray:
        """The array this `Ch` holds (float64 in chumpy's files); UnpicklingError if it holds something else."""
        return _numeric_array(self._get("x"), "Ch x")


class SparseMatrixRecord(_Record):
    """What a pickled scipy sparse matrix becomes: its attributes, rebuilt by `to_scipy`.

    Rebuilding from (data, indices, indptr, shape) rather than restoring the pickled
    `__dict__` keeps files from old scipy versions (attribute names differ) readable.
    """

    fmt = ""

    def to_scipy(self) -> scipy.sparse.spmatrix:
        """The matrix as a scipy `csc_matrix` or `csr_matrix`."""
        state = getattr(self, "state", {})
        shape = self._get("_shape" if "_shape" in state else "shape")
        arrays = tuple(_numeric_array(self._get(key), f"sparse matrix {key}") for key in ("data", "indices", "indptr"))
        cls = scipy.sparse.csc_matrix if self.fmt == "csc" else scipy.sparse.csr_matrix
        return cls(arrays, shape=tuple(int(n) for n in shape))


class _CscRecord(SparseMatrixRecord):
    fmt = "csc"


class _CsrRecord(SparseMatrixRecord):
    fmt = "csr"


def _sparse_names() -> dict[tuple[str, str], type]:
    # scipy moved these classes from scipy.sparse.csc to scipy.sparse._csc (1.8); old
    # pickles name the old module, new ones the new; the *_array classes came with 1.8.
    names: dict[tuple[str, str], type] = {}
    for fmt, record in (("csc", _CscRecord), ("csr", _CsrRecord)):
        for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}"):
            for kind in ("matrix", "array"):
                names[(module, f"{fmt}_{kind}")] = record
    return names


class Guarded:
    """An allowed function as an object a pickle cannot modify.

    A pickle can BUILD onto anything it holds: on a plain Python function that would set
    attributes such as `__defaults__`, changing it for the whole process.
    """

    __slots__ = ("function",)

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)

    def __setstate__(self, state: Any) -> None:
        raise pickle.UnpicklingError(f"the pickle tries to modify {self.function.__name__}")


def _latin1_encode(text: str, encoding: str) -> bytes:
    # Python 3 writes bytes into protocol-2 pickles as codecs.encode(text, "latin1");
    # other codecs are no part of that and are refused.
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"codecs.encode with {encoding!r}, only latin1 is expected")
    return codecs.encode(text, encoding)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("chumpy.ch", "Ch"): ChumpyArray,
    ("copyreg", "_reconstructor"): Guarded(copyreg._reconstructor),
    ("builtins", "object"): object,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): Guarded(_latin1_encode),
    **_sparse_names(),
}


class _Refused(Exception):
    """A global outside the allow-list; kept apart from ordinary corruption errors."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names (copy_reg, __builtin__) map to Python 3's as pickle itself maps them.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def plain(obj: Any) -> Any:
    """Replace the inert records in a loaded object by arrays and scipy matrices.

    Each object is converted once and references the pickle shares stay shared: a pickle
    stores a repeated object once, so a few hundred bytes can hold a list that is 2**60
    items long when walked as a tree.

    Args:
        obj: what `load` read: dicts, lists, tuples, arrays, `ChumpyArray`, `SparseMatrixRecord`.

    Returns:
        The same structure with each `ChumpyArray` replaced by its array and each
        `SparseMatrixRecord` by a scipy sparse matrix; object arrays are converted element-wise.

    Raises:
        pickle.UnpicklingError: a container holds itself, containers nest deeper than
            `MAX_DEPTH`, or `obj` holds more than `MAX_VALUES` values when shared references
            are counted as copies (as `np.asarray` or a dense `toarray` would allocate them).
    """
    # id(original) -> (converted, values it holds counting shared references as copies);
    # the originals stay alive in `obj`, so no id is reused during the walk.
    done: dict[int, tuple[Any, int]] = {}
    walking: set[int] = set()

    def convert(value: Any, depth: int) -> tuple[Any, int]:
        if isinstance(value, np.ndarray) and value.dtype != object:
            return value, value.size
        if not isinstance(value, (ChumpyArray, SparseMatrixRecord, dict, list, tuple, np.ndarray)):
            return value, 1
        key = id(value)
        if key in done:
            return done[key]
        if key in walking:
            raise pickle.UnpicklingError(f"a {type(value).__name__} contains itself")
        if depth >= MAX_DEPTH:
            raise pickle.UnpicklingError(f"containers nested deeper than {MAX_DEPTH} levels")
        walking.add(key)
        done[key] = convert_new(value, depth + 1)
        walking.discard(key)
        return done[key]

    def convert_new(value: Any, depth: int) -> tuple[Any, int]:
        if isinstance(value, ChumpyArray):
            array = value.x
            return array, array.size
        if isinstance(value, SparseMatrixRecord):
            matrix = value.to_scipy()
            return matrix, math.prod(matrix.shape)
        if isinstance(value, dict):
            items = {name: convert(item, depth) for name, item in value.items()}
            return {name: item for name, (item, _) in items.items()}, 1 + sum(n for _, n in items.values())
        if isinstance(value, (list, tuple)):
            pairs = [convert(item, depth) for item in value]
            return type(value)(item for item, _ in pairs), 1 + sum(n for _, n in pairs)
        if value.ndim == 0:
            return convert(value[()], depth)
        out = np.empty(value.shape, object)
        total = 1
        for index, item in np.ndenumerate(value):
            out[index], count = convert(item, depth)
            total += count
        return out, total

    converted, values = convert(obj, 0)
    if values > MAX_VALUES:
        raise pickle.UnpicklingError(f"it holds {values:,} values counting shared references, over {MAX_VALUES:,}")
    return converted


def load(stream: BinaryIO, description: str) -> Any:
    """Read one pickle from a stream with the restricted unpickler.

    Args:
        stream: a binary stream positioned at the pickle.
        description: how to name the source in errors, e.g. the file path.

    Returns:
        The unpickled object, passed through `plain`.

    Raises:
        AvatarLiveError: the pickle names a global outside the allow-list (nothing it
            names is called), or it is truncated or corrupt.
    """
    try:
        obj = _RestrictedUnpickler(stream, encoding="latin1").load()
        return plain(obj)
    except _Refused as exc:
        raise AvatarLiveError(
            f"{description}: refusing to load: the pickle asks for {exc}, which is not a face-model data type"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, UnicodeError, OverflowError, RecursionError) as exc:
        reason = "truncated" if isinstance(exc, EOFError) else f"corrupt ({type(exc).__name__}: {exc})"
        raise AvatarLiveError(f"{description}: not a readable pickle: {reason}".splitlines()[0]) from None


def load_file(path: str | Path) -> Any:
    """`load` a whole pickle file; see `load`.

    Raises:
        AvatarLiveError: the file is missing or unreadable, or as `load`.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AvatarLiveError(f"cannot read {path}: {exc.strerror or exc}") from None
    return load(io.BytesIO(data), str(path))
