"""SyncNet v2: the audio-visual synchronisation network behind the LSE-C / LSE-D metrics.

A Flax reproduction of `SyncNetModel.S(num_layers_in_fc_layers=1024)` of joonson/syncnet_python
(Chung and Zisserman, "Out of time: automated lip sync in the wild", ACCV workshops 2016; MIT
licence), whose published weights are `syncnet_v2.model`: a plain PyTorch state dict (no key
prefix) of 13,631,616 parameters (weights and biases: this module's `params`), plus 8,640
BatchNorm running statistics (`batch_stats`) and 14 `num_batches_tracked` counters (not used).

Inputs (as syncnet_python feeds them; converted here to channels-last):

  audio  `[N, 13, 20]`          13 MFCC coefficients x 20 MFCC frames (0.2 s at 100 frames/s);
                                PyTorch `[N, 1, 13, 20]`, here NHWC `[N, 13, 20, 1]` inside
  video  `[N, 5, 224, 224, 3]`  5 consecutive face crops at 25 fps, BGR, float 0..255 (no
                                normalisation); PyTorch `[N, 3, 5, 224, 224]`, here NDHWC

Both towers end in 512 features of size 1 x 1 (x 1), flattened and mapped by their FC layers
(Linear 512-512, BatchNorm1d, ReLU, Linear 512-1024) to 1024-d embeddings, not normalised.

The architecture, derived from the state dict's layout. The kernel of every convolution is its
weight's shape (`netcnnaud.18.weight [512, 256, 5, 4]` is a 5 x 4 kernel). The PyTorch module
is an `nn.Sequential`, so each index is one layer: a conv or BatchNorm has parameters, the
indices without tensors are parameterless layers. After every BatchNorm comes one ReLU; where the
next conv is two indices further, the extra layer is a max-pool (audio 3, 7, 17; video 3, 7,
17). The FC layers take 512 inputs, so each tower must reduce its published input to 1 x 1 (x 1)
with 512 channels; the final convolutions have no padding, so the map before them must equal
their kernels (audio 5 x 4, video 1 x 6 x 6). The file stores no strides or paddings; this
requirement constrains them: the audio map must shrink from 13 x 20 to 5 x 4 through 3 x 3
kernels (one pool strided on time only, one on both axes, 'same' convolutions), the video's
first kernel spans all 5 frames (5 -> 1, hence time kernels of 1 after it) and 224 must reach 6
through two stride-2 convolutions and pools around 'same' 3 x 3 convolutions. The values below
are syncnet_python's, which meet it exactly (`pool k/s` = kernel / stride, `p` = zero padding of
a conv, -inf padding of a pool; PyTorch floor rounding everywhere). tests/syncnet/test_model.py
recomputes the sizes; tests/convert/test_syncnet.py matches a PyTorch build of the layout:

  audio (H = cepstra, W = time)                       13 x 20
    0  conv 3x3 p1 -> 64, BN, ReLU; 3 pool 1x1/1      13 x 20   (the pool is the identity)
    4  conv 3x3 p1 -> 192, BN, ReLU; 7 pool 3x3/(1,2) 11 x 9
    8, 11, 14  conv 3x3 p1 -> 384, 256, 256, BN, ReLU 11 x 9
    17 pool 3x3/2                                     5 x 4
    18 conv 5x4 p0 -> 512, BN, ReLU                   1 x 1
  video (T x H x W)                                   5 x 224 x 224
    0  conv 5x7x7 s(1,2,2) p0 -> 96, BN, ReLU         1 x 109 x 109
    3  pool 1x3x3/(1,2,2)                             1 x 54 x 54
    4  conv 1x5x5 s(1,2,2) p(0,1,1) -> 256, BN, ReLU  1 x 26 x 26
    7  pool 1x3x3/(1,2,2) p(0,1,1)                    1 x 13 x 13
    8, 11, 14  conv 1x3x3 p(0,1,1) -> 256, BN, ReLU   1 x 13 x 13
    17 pool 1x3x3/(1,2,2)                             1 x 6 x 6
    18 conv 1x6x6 p0 -> 512, BN, ReLU                 1 x 1 x 1

BatchNorm uses PyTorch's epsilon 1e-5 and always its running statistics: lipjax runs SyncNet v2
(in evaluation) but does not train it.

Flax names follow the state dict: `netcnnaud_0/kernel` is `netcnnaud.0.weight`, `netfclip_1`
is the BatchNorm `netfclip.1` (`scale` = `weight`, `batch_stats mean / var` = `running_mean /
running_var`); `lipjax.convert.syncnet` maps them.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.typing import ArrayLike

from lipjax.errors import InputError

__all__ = [
    "SyncNetV2",
    "SyncNetV2Network",
    "AUDIO_SHAPE",
    "VIDEO_SHAPE",
    "NUM_PARAMETERS",
    "NUM_BATCH_STATS",
    "random_variables",
    "variables_template",
]

AUDIO_SHAPE = (13, 20)             # MFCC coefficients x MFCC frames of one window
VIDEO_SHAPE = (5, 224, 224, 3)     # frames x height x width x BGR of one window
NUM_PARAMETERS = 13_631_616       # weights and biases of syncnet_v2.model (`params`)
NUM_BATCH_STATS = 8_640            # BatchNorm running means and variances (`batch_stats`)
_BN_EPSILON = 1e-5                 # PyTorch BatchNorm's default


class _Conv(NamedTuple):
    index: int                     # position in the PyTorch nn.Sequential
    features: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    pool: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None  # kernel, stride, pad


def _same(n: int, value: int) -> tuple[int, ...]:
    return (value,) * n


# netcnnaud: (index, features, kernel, stride, padding, pool after the ReLU).
AUDIO_LAYERS = (
    _Conv(0, 64, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1), (0, 0))),
    _Conv(4, 192, (3, 3), (1, 1), (1, 1), ((3, 3), (1, 2), (0, 0))),
    _Conv(8, 384, (3, 3), (1, 1), (1, 1), None),
    _Conv(11, 256, (3, 3), (1, 1), (1, 1), None),
    _Conv(14, 256, (3, 3), (1, 1), (1, 1), ((3, 3), (2, 2), (0, 0))),
    _Conv(18, 512, (5, 4), (1, 1), (0, 0), None),
)
# netcnnlip, the same for 3-D convolutions over (time, height, width).
VIDEO_LAYERS = (
    _Conv(0, 96, (5, 7, 7), (1, 2, 2), (0, 0, 0), ((1, 3, 3), (1, 2, 2), (0, 0, 0))),
    _Conv(4, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1), ((1, 3, 3), (1, 2, 2), (0, 1, 1))),
    _Conv(8, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1), None),
    _Conv(11, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1), None),
    _Conv(14, 256, (1, 3, 3), (1, 1, 1), (0, 1, 1), ((1, 3, 3), (1, 2, 2), (0, 0, 0))),
    _Conv(18, 512, (1, 6, 6), (1, 1, 1), (0, 0, 0), None),
)
FC_HIDDEN = 512


def _pairs(padding: Sequence[int]) -> tuple[tuple[int, int], ...]:
    return tuple((int(p), int(p)) for p in padding)


class _Tower(nn.Module):
    """One CNN tower (`netcnnaud` or `netcnnlip`) and its FC layers, channels-last.

    Attributes:
      layers: the convolutions (`AUDIO_LAYERS` or `VIDEO_LAYERS`).
      cnn_name, fc_name: the state-dict prefixes, e.g. `"netcnnaud"`, `"netfcaud"`.
      embedding_size: output features (1024 in syncnet_v2.model).
    """

    layers: Sequence[_Conv]
    cnn_name: str
    fc_name: str
    embedding_size: int = 1024

    def _norm(self, index: int, prefix: str) -> nn.BatchNorm:
        return nn.BatchNorm(use_running_average=True, epsilon=_BN_EPSILON,
                            name=f"{prefix}_{index}")

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """`[N, *spatial, C]` -> `[N, embedding_size]`; the spatial map must reduce to 1s."""
        for layer in self.layers:
            x = nn.Conv(layer.features, layer.kernel, strides=layer.stride,
                        padding=_pairs(layer.padding), name=f"{self.cnn_name}_{layer.index}")(x)
            x = nn.relu(self._norm(layer.index + 1, self.cnn_name)(x))
            if layer.pool is not None:
                window, stride, pad = layer.pool
                x = nn.max_pool(x, window, strides=stride, padding=_pairs(pad))
        if any(n != 1 for n in x.shape[1:-1]):
            raise InputError(f"{self.cnn_name}: the input reduces to {x.shape[1:-1]}, not 1s; "
                             "SyncNet v2 reads audio [N, 13, 20] and video [N, 5, 224, 224, 3]")
        x = x.reshape(x.shape[0], -1)
        x = nn.Dense(FC_HIDDEN, name=f"{self.fc_name}_0")(x)
        x = nn.relu(self._norm(1, self.fc_name)(x))
        return nn.Dense(self.embedding_size, name=f"{self.fc_name}_3")(x)


def _check_shape(x: jax.Array, item: tuple[int, ...], what: str) -> None:
    if x.ndim != len(item) + 1 or tuple(x.shape[1:]) != item:
        raise InputError(f"SyncNet v2 {what} windows must be [N, {', '.join(map(str, item))}], "
                         f"got {tuple(x.shape)}")


class SyncNetV2(nn.Module):
    """syncnet_python's `SyncNetModel.S` (see the module docstring): audio and lip towers.

    `init(rng, video, audio)` creates both towers; `apply(v, video, method="embed_video")`
    runs one.

    Attributes:
      embedding_size: `num_layers_in_fc_layers` (1024 for syncnet_v2.model).
    """

    embedding_size: int = 1024

    def setup(self) -> None:
        self.audio_tower = _Tower(AUDIO_LAYERS, "netcnnaud", "netfcaud", self.embedding_size)
        self.video_tower = _Tower(VIDEO_LAYERS, "netcnnlip", "netfclip", self.embedding_size)

    def embed_audio(self, mfcc: ArrayLike) -> jax.Array:
        """`forward_aud`: MFCC windows `[N, 13, 20]` -> float32 `[N, embedding_size]`."""
        mfcc = jnp.asarray(mfcc, jnp.float32)
        _check_shape(mfcc, AUDIO_SHAPE, "audio")
        return self.audio_tower(mfcc[..., None])

    def embed_video(self, frames: ArrayLike) -> jax.Array:
        """`forward_lip`: BGR 0..255 windows `[N, 5, 224, 224, 3]` -> float32
        `[N, embedding_size]`."""
        frames = jnp.asarray(frames, jnp.float32)
        _check_shape(frames, VIDEO_SHAPE, "video")
        return self.video_tower(frames)

    def __call__(self, frames: ArrayLike, mfcc: ArrayLike) -> tuple[jax.Array, jax.Array]:
        """`(embed_video(frames), embed_audio(mfcc))`."""
        return self.embed_video(frames), self.embed_audio(mfcc)


def random_variables(seed: int = 0, *, module: SyncNetV2 | None = None) -> dict[str, Any]:
    """Random variables of `module` (default `SyncNetV2()`), to run it without weights:
    He-normal kernels (std sqrt(2 / fan_in)), zero biases, BatchNorm scale 1 / bias 0 / mean 0 /
    var 1. NumPy float32 (fast: Flax's own `init` of this model compiles for ~10 s on a CPU).
    """
    rng = np.random.default_rng(seed)

    def leaf(path: tuple[Any, ...], spec: jax.ShapeDtypeStruct) -> np.ndarray:
        name = str(getattr(path[-1], "key", path[-1]))
        if name == "kernel":
            fan_in = int(np.prod(spec.shape[:-1]))
            return (rng.standard_normal(spec.shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        fill = 1.0 if name in ("scale", "var") else 0.0
        return np.full(spec.shape, fill, np.float32)

    return jax.tree_util.tree_map_with_path(leaf, variables_template(module))


def variables_template(module: SyncNetV2 | None = None) -> dict[str, Any]:
    """The variables of `module` (default `SyncNetV2()`) as ShapeDtypeStructs (nothing is
    computed): `{"params": ..., "batch_stats": ...}`."""
    module = module or SyncNetV2()
    video, audio = jnp.zeros((1,) + VIDEO_SHAPE), jnp.zeros((1,) + AUDIO_SHAPE)
    return jax.eval_shape(module.init, jax.random.PRNGKey(0), video, audio)


class SyncNetV2Network:
    """What `lipjax.training.workdir.restore_generator` needs for a converted SyncNet v2
    workdir (`config.system = "lipjax.syncnet.SyncNetV2Network"`); SyncNet v2 is not trained in
    lipjax, so this is no `System`. `sync_network(restored)` makes the LSE scorer
    (`lipjax.syncnet.SyncNetV2Sync`) of a restored workdir."""

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> SyncNetV2:
        """`SyncNetV2()` with `config.model.embedding_size` (1024) if the config has one."""
        model = config.get("model") or {}
        return SyncNetV2(embedding_size=int(model.get("embedding_size", 1024)))

    @classmethod
    def sync_network(cls, restored: Any, **kwargs: Any) -> Any:
        """The `lipjax.metrics.SyncNetwork` of a `RestoredGenerator` of this class."""
        from lipjax.syncnet.network import SyncNetV2Sync

        return SyncNetV2Sync(restored.variables, module=restored.module, **kwargs)
