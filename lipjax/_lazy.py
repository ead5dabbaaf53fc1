"""Lazy package exports: a package lists its public names by submodule and imports a submodule
only when one of its names is first used.

This keeps `import lipjax` and the `lipjax` console script fast (JAX, Flax, orbax and
tensorflow-datasets load only when a model, a training loop or a dataset is touched) while
`lipjax.paralip.ParaLip` or `from lipjax.dck import talk` work without any explicit submodule
import. It is PEP 562 (`__getattr__` / `__dir__` on a module), as SciPy and scikit-image do it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping, Sequence

__all__ = ["attach"]


def attach(package: str, exports: Mapping[str, Sequence[str]], *,
           submodules: Sequence[str] = ()) -> tuple[Callable[[str], Any], Callable[[], list[str]],
                                                     list[str]]:
    """`(__getattr__, __dir__, __all__)` for `package`.

    Args:
      package: the package's `__name__`.
      exports: submodule name -> the public names it defines (re-exported by the package).
      submodules: submodules (or subpackages) that are themselves public attributes.

    Returns:
      The module-level `__getattr__` and `__dir__` and the sorted `__all__`; `dir(package)`
      shows exactly `__all__`.
    """
    owner = {name: module for module, names in exports.items() for name in names}
    # A submodule import sets the package attribute of the same name, which would shadow an
    # exported function of that name: keep the two name sets apart.
    clash = set(owner) & (set(exports) | set(submodules))
    if clash:
        raise ImportError(f"{package}: exported names equal submodule names: {sorted(clash)}")
    public = sorted(set(owner) | set(submodules))

    def __getattr__(name: str) -> Any:
        if name in owner:
            value = getattr(importlib.import_module(f"{package}.{owner[name]}"), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return list(public)

    return __getattr__, __dir__, public
