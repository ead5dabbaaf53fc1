"""Reading published PyTorch checkpoints safely, and mapping their tensors onto Flax variables.

`read_state_dict(path)` loads a `.pth` / `.ckpt` / `.model` file with `torch.load(...,
weights_only=True)`: only tensors and plain containers are rebuilt. Files that also pickle
training objects (a Lightning checkpoint's hyperparameters, say) name other globals; those are
allow-listed *as inert placeholders* (`torch.serialization.safe_globals` with `(placeholder,
name)` pairs), so nothing from the file is ever executed and the tensors still load. The
`{"state_dict": ...}` wrapper and a common key prefix (`module.` from DataParallel, `model.`
from Lightning) are removed.

An importer describes its model as `TensorSpec`s (Flax path, PyTorch name, layout conversion);
`to_variables` checks the whole state dict against them first and raises one
`ConversionError` listing every missing, unexpected or wrongly shaped tensor with both shapes.

torch is optional (`pip install 'lipjax[torch]'`); it is imported only here, when a file is read.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from lipjax.errors import ConversionError, InputError

__all__ = [
    "Layout",
    "TensorSpec",
    "read_state_dict",
    "strip_prefix",
    "to_variables",
    "specs_from_template",
    "require_torch",
]

# Bookkeeping entries of PyTorch BatchNorm with no Flax counterpart.
_IGNORED_SUFFIXES = ("num_batches_tracked",)


class Layout(enum.Enum):
    """How a PyTorch tensor becomes a Flax array."""

    SAME = "same"                # biases, norms, embeddings, scalars
    LINEAR = "linear"            # [out, in] -> [in, out]
    CONV1D = "conv1d"            # [out, in, k] -> [k, in, out]
    CONV2D = "conv2d"            # [out, in, kh, kw] -> [kh, kw, in, out]
    CONV_TRANSPOSE2D = "convT"   # [in, out, kh, kw] -> [kh, kw, out, in] (transpose_kernel)
    CONV3D = "conv3d"            # [out, in, kt, kh, kw] -> [kt, kh, kw, in, out]

    def apply(self, array: np.ndarray) -> np.ndarray:
        axes = {Layout.SAME: None, Layout.LINEAR: (1, 0), Layout.CONV1D: (2, 1, 0),
                Layout.CONV2D: (2, 3, 1, 0), Layout.CONV_TRANSPOSE2D: (2, 3, 1, 0),
                Layout.CONV3D: (2, 3, 4, 1, 0)}[self]
        return np.ascontiguousarray(array if axes is None else np.transpose(array, axes))

    def torch_shape(self, flax_shape: Sequence[int]) -> tuple[int, ...]:
        """The PyTorch shape whose conversion has `flax_shape`."""
        inverse = {Layout.SAME: None, Layout.LINEAR: (1, 0), Layout.CONV1D: (2, 1, 0),
                   Layout.CONV2D: (3, 2, 0, 1), Layout.CONV_TRANSPOSE2D: (3, 2, 0, 1),
                   Layout.CONV3D: (4, 3, 0, 1, 2)}[self]
        shape = tuple(int(n) for n in flax_shape)
        return shape if inverse is None else tuple(shape[i] for i in inverse)


class TensorSpec(NamedTuple):
    """One Flax array and the PyTorch tensor it comes from.

    Attributes:
      path: `"params/encoder/layer_norm/scale"` style path into the Flax variables.
      torch_name: the state-dict key (without the file's prefix).
      layout: how to convert it.
      shape: the Flax shape (from the lipjax module), checked against the file.
    """

    path: str
    torch_name: str
    layout: Layout
    shape: tuple[int, ...]


def require_torch():
    """Imports torch, or raises an InputError that says how to install it."""
    try:
        import torch
    except ImportError:
        raise InputError("reading PyTorch checkpoints needs torch: pip install 'lipjax[torch]' "
                         "(or pip install torch)") from None
    return torch


def _inert_placeholder(name: str) -> type:
    """A class standing in for an unknown pickled global: it stores what it is given and does
    nothing else."""

    def init(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def setstate(self, state: Any) -> None:
        self.state = state

    return type(f"Inert[{name}]", (), {"__init__": init, "__setstate__": setstate})


def _load(path: Path) -> Any:
    torch = require_torch()
    try:
        unknown = torch.serialization.get_unsafe_globals_in_checkpoint(os.fspath(path))
    except Exception:  # not a zip checkpoint (legacy format): weights_only decides alone
        unknown = []
    placeholders = [(_inert_placeholder(name), name) for name in unknown]
    try:
        with torch.serialization.safe_globals(placeholders):
            return torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as error:  # pickle and zip readers raise many unrelated types
        raise ConversionError(f"cannot read {os.fspath(path)!r} as a PyTorch checkpoint "
                              f"({type(error).__name__}: {error})") from error


def _to_numpy(value: Any) -> np.ndarray | None:
    if hasattr(value, "detach"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    return None


def read_state_dict(path: str | os.PathLike, *, prefixes: Iterable[str] = ("module.", "model.")
                    ) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch checkpoint file as NumPy arrays, by state-dict key.

    Unwraps `{"state_dict": ...}`, drops BatchNorm's `num_batches_tracked`, and removes the
    first of `prefixes` that every key carries.

    Raises:
      InputError: no such file, or torch is not installed. ConversionError: the file is not a
        readable checkpoint or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint file {os.fspath(path)!r} does not exist")
    loaded = _load(path)
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping):
        raise ConversionError(f"{os.fspath(path)!r} holds a {type(loaded).__name__}, not a "
                              "state dict")
    state = {str(k): _to_numpy(v) for k, v in loaded.items()
             if not str(k).endswith(_IGNORED_SUFFIXES)}
    state = {k: v for k, v in state.items() if v is not None}
    if not state:
        raise ConversionError(f"{os.fspath(path)!r} holds no tensors")
    return strip_prefix(state, prefixes)


def strip_prefix(state: Mapping[str, Any], prefixes: Iterable[str]) -> dict[str, Any]:
    """Removes the first of `prefixes` that every key starts with (none if none does)."""
    for prefix in prefixes:
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def _problems(state: Mapping[str, np.ndarray], specs: Sequence[TensorSpec]) -> list[str]:
    wanted = {s.torch_name: s for s in specs}
    problems = []
    for name, spec in wanted.items():
        if name not in state:
            problems.append(f"missing {name} (expected {spec.layout.torch_shape(spec.shape)})")
            continue
        expected = spec.layout.torch_shape(spec.shape)
        if tuple(state[name].shape) != expected:
            problems.append(f"wrong shape {name}: file {tuple(state[name].shape)}, model "
                            f"expects {expected}")
    problems += [f"unexpected {name} {tuple(state[name].shape)}" for name in sorted(state)
                 if name not in wanted]
    return problems


def to_variables(state: Mapping[str, np.ndarray], specs: Sequence[TensorSpec], *,
                 what: str, dtype: Any = np.float32) -> dict[str, Any]:
    """The Flax variables (`{"params": ..., "batch_stats": ...}`) that `specs` describe, filled
    from `state`.

    Raises:
      ConversionError: listing every missing, unexpected and wrongly shaped tensor (with the
        file's and the model's shapes), before anything is converted.
    """
    problems = _problems(state, specs)
    if problems:
        listed = "\n  ".join(problems)
        raise ConversionError(f"the checkpoint does not match {what} ({len(problems)} "
                              f"problem{'s' if len(problems) != 1 else ''}):\n  {listed}")
    variables: dict[str, Any] = {}
    for spec in specs:
        *parents, leaf = spec.path.split("/")
        node = variables
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = spec.layout.apply(np.asarray(state[spec.torch_name])).astype(dtype)
    return variables


def specs_from_template(template: Mapping[str, Any], rule) -> list[TensorSpec]:
    """`TensorSpec`s for every array of a Flax variables `template` (arrays or
    ShapeDtypeStructs, e.g. from `jax.eval_shape(module.init, ...)`).

    Args:
      template: `{"params": ..., "batch_stats": ...}`.
      rule: `rule(path) -> (torch_name, Layout)` for a path such as
        `("params", "encoder", "conv", "kernel")`.
    """
    specs = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, Mapping):
            for key in sorted(node):
                walk(node[key], path + (str(key),))
            return
        torch_name, layout = rule(path)
        specs.append(TensorSpec("/".join(path), torch_name, layout, tuple(node.shape)))

    walk(template, ())
    return specs
