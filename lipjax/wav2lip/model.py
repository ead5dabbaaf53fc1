"""Wav2Lip (Prajwal et al., ACM MM 2020) as Flax modules: the generator and the lip-sync expert.

Both follow the published PyTorch networks layer for layer, so that the published checkpoints
(`wav2lip.pth`, `wav2lip_gan.pth`, `lipsync_expert.pth`) import exactly
(`lipjax.convert.load_wav2lip`, `load_syncnet_color`). Images are NHWC here (PyTorch: NCHW).

Conventions of the checkpoints (and of Wav2Lip's data loader and `inference.py`):
- faces are 96x96 crops in OpenCV's **BGR** channel order, float values `pixel / 255`;
- the generator sees 6 channels: `[frame with rows 48..95 (its lower half) zeroed, reference
  frame]` (`generator_input`); at inference the reference is the same frame unmasked, in
  training another frame of the same video;
- audio is an `[80, 16]` mel window (80 mel bins x 16 mel frames = 0.2 s) per video frame;
- the expert (`SyncNet_color`) sees the lower halves (48x96) of 5 consecutive frames stacked on
  the channel axis in time order (15 channels, `sync_face_input`) and the mel window of the
  first of them.

Every block is Wav2Lip's `Conv2d`: Conv2d (bias) -> BatchNorm (eps 1e-5) -> (+ input if
residual) -> ReLU (`lipjax.nn.audio_encoder.ConvNormBlock`), or its `Conv2dTranspose`:
ConvTranspose2d (bias) -> BatchNorm -> ReLU (`lipjax.nn.conv.ConvTransposeNormAct`).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError
from lipjax.nn.audio_encoder import WAV2LIP_AUDIO_BLOCKS, AudioEncoder, ConvBlockSpec, ConvNormBlock
from lipjax.nn.conv import ConvTransposeNormAct

__all__ = [
    "Wav2LipConfig", "Wav2LipGenerator", "SyncNetColor", "SyncEmbeddings",
    "FaceEncoder", "FaceDecoder", "ConvStack", "ConvTransposeSpec", "WAV2LIP_FACE_ENCODER", "WAV2LIP_FACE_DECODER",
    "SYNCNET_FACE_BLOCKS", "SYNCNET_AUDIO_BLOCKS",
    "FACE_SIZE", "NUM_MELS", "MEL_WINDOW", "SYNC_FRAMES",
    "lower_half", "generator_input", "sync_face_input", "sync_similarity",
]

FACE_SIZE = 96      # Wav2Lip's face crops are FACE_SIZE x FACE_SIZE
NUM_MELS = 80       # mel bins of a window
MEL_WINDOW = 16     # mel frames of a window (0.2 s at 80 mel frames per second)
SYNC_FRAMES = 5     # consecutive frames the expert sees (Wav2Lip's syncnet_T)


class ConvTransposeSpec(NamedTuple):
    """One ConvTranspose2d -> BatchNorm -> ReLU block (PyTorch arguments)."""

    features: int
    kernel_size: int
    stride: int
    padding: int
    output_padding: int


def _conv(features: int, kernel: int, stride: int | tuple[int, int] = 1,
          padding: int = 1) -> ConvBlockSpec:
    """A non-residual block (stride: one int for both axes, or (rows, columns))."""
    strides = stride if isinstance(stride, tuple) else (stride, stride)
    return ConvBlockSpec(features, kernel, strides, padding, False)


def _residuals(features: int, count: int) -> tuple[ConvBlockSpec, ...]:
    """`count` residual 3x3 stride-1 padding-1 blocks."""
    return (ConvBlockSpec(features, 3, (1, 1), 1, True),) * count


# The generator's face encoder, block group by block group (`face_encoder_blocks.<i>.<j>`); the
# output of each group is a skip. 96x96 -> 96, 48, 24, 12, 6, 3, 1.
WAV2LIP_FACE_ENCODER: tuple[tuple[ConvBlockSpec, ...], ...] = (
    (_conv(16, 7, 1, 3),),
    (_conv(32, 3, 2),) + _residuals(32, 2),
    (_conv(64, 3, 2),) + _residuals(64, 3),
    (_conv(128, 3, 2),) + _residuals(128, 2),
    (_conv(256, 3, 2),) + _residuals(256, 2),
    (_conv(512, 3, 2),) + _residuals(512, 1),
    (_conv(512, 3, 1, 0), _conv(512, 1, 1, 0)),
)

# The decoder (`face_decoder_blocks.<i>.<j>`), from the 1x1 audio embedding: group 0 is a 1x1
# conv, every other group starts with a transposed conv: 1 -> 1, 3, 6, 12, 24, 48, 96. After
# each group the deepest unused skip is concatenated (channel axis, decoder output first).
WAV2LIP_FACE_DECODER: tuple[tuple[ConvBlockSpec | ConvTransposeSpec, ...], ...] = (
    (_conv(512, 1, 1, 0),),
    (ConvTransposeSpec(512, 3, 1, 0, 0),) + _residuals(512, 1),
    (ConvTransposeSpec(512, 3, 2, 1, 1),) + _residuals(512, 2),
    (ConvTransposeSpec(384, 3, 2, 1, 1),) + _residuals(384, 2),
    (ConvTransposeSpec(256, 3, 2, 1, 1),) + _residuals(256, 2),
    (ConvTransposeSpec(128, 3, 2, 1, 1),) + _residuals(128, 2),
    (ConvTransposeSpec(64, 3, 2, 1, 1),) + _residuals(64, 2),
)

# The expert's face encoder (`face_encoder.<i>`), Wav2Lip's `models/syncnet.py`. Kernels and
# channels are those of the checkpoint's tensors; strides and paddings cannot be read from a
# state dict. With the published ones the 48x96 lower half goes: 48x96 (7x7, pad 3) -> 46x47
# (5x5, stride (1, 2), pad 1: (48 + 2 - 5) + 1 = 46, (96 + 2 - 5) // 2 + 1 = 47) -> 23x24 ->
# 12x12 -> 6x6 -> 3x3 (four 3x3 stride-2 pad-1 convs) -> 1x1 (3x3 pad 0) -> 1x1 (1x1): a
# 512-vector. (Padding 2 on the 5x5 conv would also end at 1x1, through 48x48, but is not the
# published network and gives different embeddings.)
SYNCNET_FACE_BLOCKS: tuple[ConvBlockSpec, ...] = (
    (_conv(32, 7, 1, 3), _conv(64, 5, (1, 2), 1)) + _residuals(64, 2)
    + (_conv(128, 3, 2),) + _residuals(128, 3)
    + (_conv(256, 3, 2),) + _residuals(256, 2)
    + (_conv(512, 3, 2),) + _residuals(512, 2)
    + (_conv(512, 3, 2), _conv(512, 3, 1, 0), _conv(512, 1, 1, 0))
)

# The expert's audio encoder (`audio_encoder.<i>`): the generator's with a second residual
# 256-block (14 blocks). 80x16 -> 27x16 (stride (3, 1)) -> 9x6 (3) -> 3x3 ((3, 2)) -> 1x1.
SYNCNET_AUDIO_BLOCKS: tuple[ConvBlockSpec, ...] = (
    WAV2LIP_AUDIO_BLOCKS[:11] + _residuals(256, 1) + WAV2LIP_AUDIO_BLOCKS[11:])


@dataclasses.dataclass(frozen=True)
class Wav2LipConfig:
    """BatchNorm settings and width of the Wav2Lip networks (layer tables: the published ones).

    Attributes:
      bn_axis_name: BatchNorm cross-device axis in training (None; 'data' under `jax.pmap`).
      bn_momentum, bn_epsilon: flax convention (PyTorch's momentum 0.1 is 0.9 here; eps 1e-5).
      channel_divisor: every block's channels are divided by it (rounded down, at least 1), the
        generator's 3 output channels excepted: 1 is the published networks (and what the
        importers build); e.g. 8 makes CPU-sized networks with the same layers and strides.
    """

    bn_axis_name: str | None = None
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    channel_divisor: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.channel_divisor, bool) or not isinstance(self.channel_divisor, int) \
                or self.channel_divisor < 1:
            raise ConfigError(f"Wav2LipConfig.channel_divisor must be an int >= 1, got "
                              f"{self.channel_divisor!r}")

    def width(self, channels: int) -> int:
        """`channels` of a published block at this width."""
        return max(1, channels // self.channel_divisor)


def _narrow(specs: Sequence[ConvBlockSpec], cfg: Wav2LipConfig) -> tuple[ConvBlockSpec, ...]:
    """A block table at the config's width."""
    return tuple(spec._replace(features=cfg.width(spec.features)) for spec in specs)


def _block(spec: ConvBlockSpec, cfg: Wav2LipConfig, name: str) -> ConvNormBlock:
    spec = spec._replace(features=cfg.width(spec.features))
    return ConvNormBlock(spec, axis_name=cfg.bn_axis_name, momentum=cfg.bn_momentum,
                         epsilon=cfg.bn_epsilon, name=name)


def _transpose_block(spec: ConvTransposeSpec, cfg: Wav2LipConfig, name: str
                     ) -> ConvTransposeNormAct:
    return ConvTransposeNormAct(
        cfg.width(spec.features), kernel_size=spec.kernel_size, stride=spec.stride, padding=spec.padding,
        output_padding=spec.output_padding, bn_momentum=cfg.bn_momentum,
        bn_epsilon=cfg.bn_epsilon, bn_axis_name=cfg.bn_axis_name, name=name)


class ConvStack(nn.Module):
    """Wav2Lip `Conv2d` blocks in sequence (`block_<i>`); NHWC in, NHWC out."""

    blocks: Sequence[ConvBlockSpec]
    config: Wav2LipConfig = Wav2LipConfig()

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        for i, spec in enumerate(self.blocks):
            x = _block(spec, self.config, f"block_{i}")(x, train=train)
        return x


class FaceEncoder(nn.Module):
    """The generator's face encoder: `[N, 96, 96, 6]` -> its 7 group outputs (the skips),
    96x96x16, 48x48x32, 24x24x64, 12x12x128, 6x6x256, 3x3x512, 1x1x512. Blocks `block_<i>_<j>`."""

    config: Wav2LipConfig = Wav2LipConfig()

    @nn.compact
    def __call__(self, faces: jax.Array, *, train: bool) -> list[jax.Array]:
        skips, x = [], faces
        for i, group in enumerate(WAV2LIP_FACE_ENCODER):
            for j, spec in enumerate(group):
                x = _block(spec, self.config, f"block_{i}_{j}")(x, train=train)
            skips.append(x)
        return skips


class FaceDecoder(nn.Module):
    """The generator's decoder: the audio embedding `[N, 1, 1, 512]` and the encoder's skips ->
    `[N, 96, 96, 80]` (64 decoded + the 16-channel first skip). Blocks `block_<i>_<j>`."""

    config: Wav2LipConfig = Wav2LipConfig()

    @nn.compact
    def __call__(self, audio: jax.Array, skips: Sequence[jax.Array], *, train: bool
                 ) -> jax.Array:
        remaining, x = list(skips), audio
        for i, group in enumerate(WAV2LIP_FACE_DECODER):
            for j, spec in enumerate(group):
                name = f"block_{i}_{j}"
                if isinstance(spec, ConvTransposeSpec):
                    x = _transpose_block(spec, self.config, name)(x, train=train)
                else:
                    x = _block(spec, self.config, name)(x, train=train)
            x = jnp.concatenate([x, remaining.pop()], axis=-1)
        return x


def _check_leading(faces: jax.Array, mels: jax.Array, face_shape: tuple[int, ...], *,
                   what: str) -> tuple[tuple[int, ...], jax.Array, jax.Array]:
    """`(leading dims, faces [N, ...face_shape], mels [N, 80, 16])` or an InputError."""
    if faces.ndim < len(face_shape) + 1 or faces.shape[-len(face_shape):] != face_shape:
        raise InputError(f"{what} faces must be [..., {', '.join(map(str, face_shape))}], got "
                         f"shape {faces.shape}")
    lead = faces.shape[:-len(face_shape)]
    mel_shape = mels.shape[len(lead):]
    if mels.shape[:len(lead)] != lead or mel_shape not in ((NUM_MELS, MEL_WINDOW),
                                                           (NUM_MELS, MEL_WINDOW, 1)):
        raise InputError(f"{what} mel windows must be [..., {NUM_MELS}, {MEL_WINDOW}] (or with "
                         f"a trailing 1) with the faces' leading dims {lead}, got shape "
                         f"{mels.shape}; build them with lipjax.audio.mel_windows")
    return (lead, faces.reshape((-1,) + face_shape),
            mels.reshape(-1, NUM_MELS, MEL_WINDOW))


class Wav2LipGenerator(nn.Module):
    """Wav2Lip's generator (`Wav2Lip`, 36,298,035 parameters): masked face + reference face +
    mel window -> the face with a lower half that matches the audio.

    Submodules: `face_encoder` (`FaceEncoder`), `audio_encoder` (`lipjax.nn.AudioEncoder`,
    Wav2Lip's 13 blocks), `face_decoder` (`FaceDecoder`), `output_block_0` (Conv 3x3 80->32 +
    BatchNorm + ReLU) and `output_conv` (Conv 1x1 32->3), then a sigmoid.
    """

    config: Wav2LipConfig = Wav2LipConfig()

    @nn.compact
    def __call__(self, faces: ArrayLike, mels: ArrayLike, *, train: bool = False) -> jax.Array:
        """Generates faces.

        Args:
          faces: `[..., 96, 96, 6]` (`generator_input`): BGR / 255, the masked frame in channels
            0-2 and the reference in 3-5. Any leading dims (`[N]`, or `[B, T]` as in Wav2Lip's
            training, where T = 5 frames are folded into the batch); frames are independent
            except through BatchNorm's batch statistics when `train`.
          mels: `[..., 80, 16]` (or `[..., 80, 16, 1]`) mel windows, the faces' leading dims.
          train: BatchNorm uses (and updates) batch statistics when True.

        Returns:
          `[..., 96, 96, 3]` generated faces in (0, 1), BGR.
        """
        cfg = self.config
        lead, flat_faces, flat_mels = _check_leading(
            jnp.asarray(faces), jnp.asarray(mels), (FACE_SIZE, FACE_SIZE, 6), what="Wav2Lip")
        audio = AudioEncoder(_narrow(WAV2LIP_AUDIO_BLOCKS, cfg), axis_name=cfg.bn_axis_name,
                             bn_momentum=cfg.bn_momentum, bn_epsilon=cfg.bn_epsilon,
                             name="audio_encoder")(flat_mels, train=train)
        skips = FaceEncoder(cfg, name="face_encoder")(flat_faces, train=train)
        x = FaceDecoder(cfg, name="face_decoder")(audio[:, None, None, :], skips, train=train)
        x = _block(_conv(32, 3), cfg, "output_block_0")(x, train=train)
        x = nn.sigmoid(nn.Conv(3, (1, 1), name="output_conv")(x))
        return x.reshape(lead + x.shape[1:])


class SyncEmbeddings(NamedTuple):
    """The expert's L2-normalised embeddings, `[..., 512]` each."""

    audio: jax.Array
    face: jax.Array


def _l2_normalise(x: jax.Array) -> jax.Array:
    """PyTorch `F.normalize(x, p=2, dim=-1)`: `x / max(||x||, 1e-12)`."""
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class SyncNetColor(nn.Module):
    """Wav2Lip's lip-sync expert (`SyncNet_color`, 16,435,072 parameters): 5 lower-half frames
    and a mel window -> a face and an audio embedding whose cosine similarity is high when the
    lips match the audio (`sync_similarity`).

    Submodules: `face_encoder` (`ConvStack` of `SYNCNET_FACE_BLOCKS`, 17 blocks) and
    `audio_encoder` (`lipjax.nn.AudioEncoder` of `SYNCNET_AUDIO_BLOCKS`, 14 blocks). The two
    towers are independent: `embed_faces` and `embed_audio` run one each (training embeds a
    face window once and its in-sync and off-sync audio together).
    """

    config: Wav2LipConfig = Wav2LipConfig()

    def setup(self) -> None:
        cfg = self.config
        self.face_encoder = ConvStack(SYNCNET_FACE_BLOCKS, cfg)
        self.audio_encoder = AudioEncoder(_narrow(SYNCNET_AUDIO_BLOCKS, cfg),
                                          axis_name=cfg.bn_axis_name,
                                          bn_momentum=cfg.bn_momentum, bn_epsilon=cfg.bn_epsilon)

    def __call__(self, faces: ArrayLike, mels: ArrayLike, *, train: bool = False
                 ) -> SyncEmbeddings:
        """Embeds faces and audio.

        Args:
          faces: `[..., 48, 96, 15]` (`sync_face_input`): the lower halves of 5 consecutive
            96x96 BGR / 255 faces, stacked on the channel axis in time order.
          mels: `[..., 80, 16]` (or `[..., 80, 16, 1]`) mel windows, the faces' leading dims.
          train: BatchNorm uses (and updates) batch statistics when True.

        Returns:
          `SyncEmbeddings(audio, face)`, each `[..., 512]` (`[..., 512 // channel_divisor]`)
          with unit L2 norm.
        """
        _check_leading(jnp.asarray(faces), jnp.asarray(mels),
                       (FACE_SIZE // 2, FACE_SIZE, 3 * SYNC_FRAMES), what="SyncNet_color")
        return SyncEmbeddings(self.embed_audio(mels, train=train),
                              self.embed_faces(faces, train=train))

    def embed_faces(self, faces: ArrayLike, *, train: bool = False) -> jax.Array:
        """`[..., 48, 96, 15]` (`sync_face_input`) -> unit face embeddings `[..., D]`."""
        faces = jnp.asarray(faces)
        shape = (FACE_SIZE // 2, FACE_SIZE, 3 * SYNC_FRAMES)
        if faces.ndim < 4 or faces.shape[-3:] != shape:
            raise InputError(f"SyncNet_color faces must be [..., {', '.join(map(str, shape))}], "
                             f"got shape {faces.shape}")
        lead = faces.shape[:-3]
        face = self.face_encoder(faces.reshape((-1,) + shape), train=train)
        return _l2_normalise(face.reshape(face.shape[0], -1)).reshape(lead + (-1,))

    def embed_audio(self, mels: ArrayLike, *, train: bool = False) -> jax.Array:
        """`[..., 80, 16]` (or `[..., 80, 16, 1]`) mel windows -> unit audio embeddings
        `[..., D]`."""
        mels = jnp.asarray(mels)
        if mels.ndim >= 3 and mels.shape[-3:] == (NUM_MELS, MEL_WINDOW, 1):
            mels = mels[..., 0]
        if mels.ndim < 3 or mels.shape[-2:] != (NUM_MELS, MEL_WINDOW):
            raise InputError(f"SyncNet_color mel windows must be [..., {NUM_MELS}, {MEL_WINDOW}] "
                             f"(or with a trailing 1), got shape {mels.shape}; build them with "
                             "lipjax.audio.mel_windows")
        lead = mels.shape[:-2]
        audio = self.audio_encoder(mels.reshape(-1, NUM_MELS, MEL_WINDOW), train=train)
        return _l2_normalise(audio).reshape(lead + (-1,))


def sync_similarity(audio: ArrayLike, face: ArrayLike) -> jax.Array:
    """Wav2Lip's sync score: PyTorch `F.cosine_similarity(audio, face)` over the last axis,
    `a . v / (max(||a||, 1e-8) max(||v||, 1e-8))`; Wav2Lip trains the expert (and the
    generator, against the frozen expert) with binary cross-entropy of this score. `[...]`."""
    audio, face = jnp.asarray(audio), jnp.asarray(face)
    norms = (jnp.maximum(jnp.linalg.norm(audio, axis=-1), 1e-8)
             * jnp.maximum(jnp.linalg.norm(face, axis=-1), 1e-8))
    return jnp.sum(audio * face, axis=-1) / norms


def _check_faces(faces: jax.Array, what: str) -> None:
    if faces.ndim < 3 or faces.shape[-3:] != (FACE_SIZE, FACE_SIZE, 3):
        raise InputError(f"{what} must be [..., {FACE_SIZE}, {FACE_SIZE}, 3] faces, got shape "
                         f"{faces.shape}")


def lower_half(faces: ArrayLike) -> jax.Array:
    """Rows `H // 2 ..` of `[..., H, W, C]` faces (Wav2Lip's `get_lower_half`: 96 -> rows 48..95),
    what the quality discriminator (`lipjax.nn.discriminators.WAV2LIP_QUALITY_CONFIG`) and the
    expert score."""
    faces = jnp.asarray(faces)
    if faces.ndim < 3:
        raise InputError(f"faces must be [..., H, W, C], got shape {faces.shape}")
    return faces[..., faces.shape[-3] // 2:, :, :]


def generator_input(frames: ArrayLike, reference: ArrayLike) -> jax.Array:
    """The generator's 6-channel input: `[frames with the lower half zeroed, reference]`.

    Args:
      frames: `[..., 96, 96, 3]` BGR / 255 faces whose lower half is to be generated.
      reference: `[..., 96, 96, 3]` identity faces (inference: `frames` themselves).

    Returns:
      `[..., 96, 96, 6]`; rows 48..95 of channels 0-2 are 0 (Wav2Lip's `img_masked[:, 48:] = 0`).
    """
    frames, reference = jnp.asarray(frames), jnp.asarray(reference)
    _check_faces(frames, "frames")
    _check_faces(reference, "reference")
    if frames.shape != reference.shape:
        raise InputError(f"frames {frames.shape} and reference {reference.shape} differ in shape")
    rows = jnp.arange(FACE_SIZE)[:, None, None] < FACE_SIZE // 2
    return jnp.concatenate([jnp.where(rows, frames, 0.0), reference], axis=-1)


def sync_face_input(frames: ArrayLike) -> jax.Array:
    """The expert's face input: `[..., 5, 96, 96, 3]` consecutive BGR / 255 faces ->
    `[..., 48, 96, 15]`, their lower halves with frame t in channels 3t..3t+2 (Wav2Lip's
    `torch.cat([g[:, :, t] for t in range(5)], dim=1)` on the lower half)."""
    frames = jnp.asarray(frames)
    if frames.ndim < 4 or frames.shape[-4] != SYNC_FRAMES:
        raise InputError(f"frames must be [..., {SYNC_FRAMES}, {FACE_SIZE}, {FACE_SIZE}, 3], got "
                         f"shape {frames.shape}")
    _check_faces(frames, "frames")
    halves = lower_half(frames)                                   # [..., 5, 48, 96, 3]
    halves = jnp.moveaxis(halves, -4, -2)                         # [..., 48, 96, 5, 3]
    return halves.reshape(halves.shape[:-2] + (3 * SYNC_FRAMES,))
