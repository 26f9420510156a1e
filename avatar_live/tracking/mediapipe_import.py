"""Import mediapipe without the parts of it that avatar-live never uses.

`import mediapipe` runs every module its package files name: the legacy solutions' drawing
utilities (which import matplotlib.pyplot, about 0.75 s), the other legacy solutions
(hands, pose, holistic, ...) and the whole Tasks API (audio, text, vision, with
sounddevice and PortAudio). Of those, avatar-live needs FaceMesh and the face detector, and
the Tasks API only for `--tracker landmarker`. `import_mediapipe` imports the package with
the modules in `DEFERRED` put in place as deferred modules: they are in `sys.modules` and
where the package would have put them, and their code runs the first time one of their
attributes is read, so code that really uses them (mediapipe's own drawing styles, the
landmarker's `mediapipe.tasks.python.vision`) gets them whole.

importlib.util.LazyLoader cannot do this: its modules load on any attribute access,
`__spec__` included, and an import statement that finds its module in `sys.modules` reads
that module's `__spec__`, so mediapipe's own imports of them would load them all at once.
A `DeferredModule` only loads when an attribute it does not have yet is asked for.

Every place that imports mediapipe calls `import_mediapipe()` first; once mediapipe is
imported, by this or by a plain `import mediapipe`, it returns that module as it is.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from pathlib import Path

DEFERRED: tuple[str, ...] = (
    "mediapipe.python.solutions.drawing_styles",
    "mediapipe.python.solutions.drawing_utils",
    "mediapipe.python.solutions.hands",
    "mediapipe.python.solutions.holistic",
    "mediapipe.python.solutions.objectron",
    "mediapipe.python.solutions.pose",
    "mediapipe.python.solutions.selfie_segmentation",
    "mediapipe.tasks",
    "mediapipe.tasks.python",
)
"""Modules that `import mediapipe` runs and avatar-live's FaceMesh tracker does not need,
parents before children. Names that this mediapipe version lacks are skipped."""

_IMPORT_LOCK = threading.Lock()
"""Two threads importing mediapipe at once would each put their own deferred modules in place."""


class DeferredModule(types.ModuleType):
    """A module whose code runs the first time an attribute it lacks is read.

    Until then it holds only what the import system sets (`__spec__`, `__file__`,
    `__path__` for packages, ...), so finding it in `sys.modules` does not load it. Like
    LazyLoader's modules, the first use is not guarded against a second thread using it
    at the same moment.
    """

    def __getattr__(self, name: str) -> object:
        self.__class__ = types.ModuleType
        try:
            self.__spec__.loader.exec_module(self)
        except BaseException:
            self.__class__ = DeferredModule  # a failed load is retried on the next use, like a failed import
            raise
        return getattr(self, name)


def import_mediapipe() -> types.ModuleType:
    """The `mediapipe` package, imported with the modules in `DEFERRED` deferred.

    Raises:
        ImportError: mediapipe is not installed.
    """
    with _IMPORT_LOCK:
        if "mediapipe" in sys.modules:
            return sys.modules["mediapipe"]
        spec = importlib.util.find_spec("mediapipe")  # finds the package without running it
        if spec is None or spec.origin is None:
            raise ImportError("No module named 'mediapipe'", name="mediapipe")
        root = Path(spec.origin).parent
        deferred = [module for name in DEFERRED if (module := _deferred_module(name, root)) is not None]
        try:
            import mediapipe
        except BaseException:
            for module in deferred:
                sys.modules.pop(module.__name__, None)
            raise
        for module in deferred:
            # The import system binds a submodule to its parent when it loads it; these were
            # found in sys.modules instead, so bind them as it would have.
            parent, _, child = module.__name__.rpartition(".")
            vars(sys.modules[parent]).setdefault(child, module)
        return mediapipe


def _deferred_module(name: str, root: Path) -> DeferredModule | None:
    """Put a deferred module for `name` (a module under the mediapipe package at `root`)
    into sys.modules, or do nothing and return None when there is no such file."""
    relative = Path(*name.split(".")[1:])
    if (root / relative / "__init__.py").is_file():
        spec = importlib.util.spec_from_file_location(name, root / relative / "__init__.py",
                                                      submodule_search_locations=[str(root / relative)])
    elif (root / relative).with_suffix(".py").is_file():
        spec = importlib.util.spec_from_file_location(name, (root / relative).with_suffix(".py"))
    else:
        return None
    module = importlib.util.module_from_spec(spec)
    module.__class__ = DeferredModule
    sys.modules[name] = module
    return module
