"""ParaLip: parallel (non-autoregressive) text-to-lip generation (Liu et al., AAAI 2022).

text tokens -> `TextEncoder` -> `DurationPredictor` (log(d + 1)) -> length regulation (gather
through a frame->token map, `lipjax.ops`) -> + identity embedding -> `MotionDecoder` ->
per-frame `VideoDecoder` (U-Net-style skips from the `IdentityEncoder`) -> frames.

All frames of all videos are decoded in one batched call (`[B, T]` folded into the batch), so the
latency does not grow with the video length, which is the point of the paper.

With the official release's weights (`lipjax.convert.paralip`, which also holds the tensor-by-
tensor correspondence) inference reproduces the official PyTorch model (measured max-abs
difference of the frames < 1e-5, `tests/convert/test_paralip.py`). The official behaviour:

- tokens: embedding * sqrt(hidden) (pad id 0) + sinusoidal positions counted from 1 over
  non-padding tokens (padding: the zero vector); FFT layers (`lipjax.nn.transformer`: attention
  dropout 0.0, FFN-ReLU dropout 0.2, residual dropout 0.2, LayerNorm eps 1e-5); the encoder's
  final LayerNorm has eps 1e-12 (the motion decoder's 1e-5); padded rows zeroed.
- durations: the predictor reads the encoder output with its gradient stopped; LayerNorm eps
  1e-12; inference `d = max(round(exp(x) - 1), 0)`, all 1 where a sequence's are all 0. (The
  official code would also zero the durations of its word-separator token unless
  `sep_dur_loss`; the released configuration sets `sep_dur_loss`, so nothing is zeroed.)
- the identity embedding is added to every expanded frame, padding frames are zeroed, the motion
  decoder adds alpha * positions (padding: 0), and its output (on padding frames: the final
  LayerNorm's bias, as officially) is rendered per frame; frames past each length are zeroed.
  The tanh output is read as [0, 1] at inference (`to_unit_range`, the official clip at 0).

Switchable departures (parameters unchanged): `mask_padding_in_batch_norm` (training statistics
only); `mask_padding_in_ffn`: off, the official padded-batch arithmetic (the FFN convs see
padding rows, so outputs equal the official ones for a batch padded alike: tokens to its longest
text, frames to its longest video, not to a larger bucket); on, as `LipGenerator` runs it, each
sequence's output equals the official model's on that sequence alone, whatever the bucket.
Where the official code finds padding frames as all-zero rows (and their positions from a zero
first channel), lipjax uses the frame mask: the same unless a valid frame is exactly zero.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError
from lipjax.nn.transformer import FFTLayer, positions_from_mask, sinusoidal_positions, zero_padded_rows
from lipjax.ops.length_regulator import expand, length_regulate
from lipjax.paralip.image import IdentityEncoder, VideoDecoder, render_frames

__all__ = [
    "ParaLipConfig",
    "ParaLipOutput",
    "ParaLipFeatures",
    "TextEncoder",
    "DurationPredictor",
    "IdentityEncoder",
    "MotionDecoder",
    "VideoDecoder",
    "ParaLip",
    "durations_from_log",
    "to_unit_range",
]


@dataclasses.dataclass(frozen=True)
class ParaLipConfig:
    """Hyperparameters of the ParaLip generator; defaults are the paper / official configuration.

    Attributes:
      vocab_size: number of token ids including padding id 0 (GRID characters: 32 in the
        official checkpoint).
      hidden: model width (256).
      num_heads: attention heads (2).
      ffn_hidden: FFT feed-forward width (1024).
      ffn_kernel: FFT feed-forward conv kernel (9).
      encoder_layers: FFT layers in the text encoder (4).
      decoder_layers: FFT layers in the motion decoder (4).
      dropout: FFT residual dropout, also on the embedded input of both stacks (official 0.2).
      attention_dropout: dropout on attention weights (official 0.0).
      relu_dropout: dropout after the FFT feed-forward's ReLU (official 0.2: the released
        layers take it from the same hparam as the residual dropout).
      layer_norm_epsilon: LayerNorm epsilon in the FFT layers and the motion decoder's final
        LayerNorm (1e-5).
      encoder_final_layer_norm_epsilon: epsilon of the text encoder's final LayerNorm (official
        1e-12: that one is the FastSpeech LayerNorm class).
      mask_padding_in_ffn: zero padding rows before each FFT feed-forward conv, so that outputs
        do not depend on the padding (see `FFTLayer`); False = the official arithmetic.
      duration_channels: duration predictor conv width (256).
      duration_kernel: duration predictor conv kernel (3).
      duration_layers: duration predictor conv layers (2).
      duration_dropout: duration predictor dropout (0.5).
      duration_layer_norm_epsilon: duration predictor LayerNorm epsilon (1e-12).
      image_height, image_width, image_channels: lip frames (80 x 160 x 3).
      identity_channels: identity encoder widths, one stride-2 conv each (16, 32, 64, 128).
      video_decoder_channels: widths of the 4 transposed convs and the following conv
        (196, 128, 80, 48, 16); a last conv maps to `image_channels`.
      decoder_seed_channels: channels of the map the video decoder's Linear produces (256).
      identity_dim: identity embedding width; must equal `hidden` because it is added to the
        expanded encoder output (256).
      conv_kernel: kernel of the image convs (5).
      bn_momentum: flax BatchNorm momentum (0.9 = PyTorch's 0.1).
      bn_epsilon: BatchNorm epsilon (1e-5).
      bn_axis_name: mapped axis name for cross-device batch statistics ('data' under pmap /
        shard_map), None for per-device statistics.
      mask_padding_in_batch_norm: exclude padding frames from the video decoder's training-mode
        batch statistics (the reference includes them; with masking, bucket padding does not
        change the statistics). Inference is unaffected.
    """

    vocab_size: int = 32
    hidden: int = 256
    num_heads: int = 2
    ffn_hidden: int = 1024
    ffn_kernel: int = 9
    encoder_layers: int = 4
    decoder_layers: int = 4
    dropout: float = 0.2
    attention_dropout: float = 0.0
    relu_dropout: float = 0.2
    layer_norm_epsilon: float = 1e-5
    encoder_final_layer_norm_epsilon: float = 1e-12
    mask_padding_in_ffn: bool = False
    duration_channels: int = 256
    duration_kernel: int = 3
    duration_layers: int = 2
    duration_dropout: float = 0.5
    duration_layer_norm_epsilon: float = 1e-12
    image_height: int = 80
    image_width: int = 160
    image_channels: int = 3
    identity_channels: tuple[int, ...] = (16, 32, 64, 128)
    video_decoder_channels: tuple[int, ...] = (196, 128, 80, 48, 16)
    decoder_seed_channels: int = 256
    identity_dim: int = 256
    conv_kernel: int = 5
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    bn_axis_name: Optional[str] = None
    mask_padding_in_batch_norm: bool = True

    def __post_init__(self) -> None:
        # ml_collections configs hand over lists; flax module attributes must be hashable.
        object.__setattr__(self, "identity_channels", tuple(self.identity_channels))
        object.__setattr__(self, "video_decoder_channels", tuple(self.video_decoder_channels))
        down = 2 ** len(self.identity_channels)
        if self.image_height % down or self.image_width % down:
            raise ConfigError(
                f"image {self.image_height}x{self.image_width} must be divisible by {down} "
                f"(one stride-2 conv per identity_channels entry); pick sizes that are"
            )
        if len(self.video_decoder_channels) != len(self.identity_channels) + 1:
            raise ConfigError(
                "video_decoder_channels needs one entry per identity skip plus one final conv: "
                f"got {len(self.video_decoder_channels)} for {len(self.identity_channels)} skips"
            )
        if self.identity_dim != self.hidden:
            raise ConfigError(
                f"identity_dim ({self.identity_dim}) must equal hidden ({self.hidden}): the "
                "identity embedding is added to the expanded text features"
            )
        if self.hidden % self.num_heads:
            raise ConfigError(f"hidden ({self.hidden}) must be divisible by num_heads ({self.num_heads})")
        if self.vocab_size < 2:
            raise ConfigError(f"vocab_size must be >= 2 (id 0 is padding), got {self.vocab_size}")

    @property
    def bottleneck_shape(self) -> tuple[int, int]:
        """Spatial size after the identity encoder (5 x 10 for 80 x 160)."""
        down = 2 ** len(self.identity_channels)
        return self.image_height // down, self.image_width // down

    def fft_layer(self, name: str) -> FFTLayer:
        """An FFT layer with this config's sizes."""
        return FFTLayer(
            num_heads=self.num_heads,
            ffn_hidden=self.ffn_hidden,
            ffn_kernel=self.ffn_kernel,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            relu_dropout=self.relu_dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            mask_padding_in_ffn=self.mask_padding_in_ffn,
            name=name,
        )


class ParaLipOutput(NamedTuple):
    """What `ParaLip` returns.

    Attributes:
      frames: `[B, T, H, W, C]` tanh output; frames at and beyond each length are exactly 0. The
        official code reads it as [0, 1] (clip at inference; see `to_unit_range`).
      log_durations: `[B, S]` predicted log(d + 1), 0 on padding tokens.
      durations: int32 `[B, S]` durations used for expansion (given or predicted).
      frame_mask: bool `[B, T]`, True on valid frames.
      overflow: bool `[B]`, True where the durations summed to more than `max_frames`.
    """

    frames: jax.Array
    log_durations: jax.Array
    durations: jax.Array
    frame_mask: jax.Array
    overflow: jax.Array


class ParaLipFeatures(NamedTuple):
    """`ParaLip.features`: `ParaLipOutput`'s fields but the frames, the identity embedding
    `[B, D]` and skips (finest first), and the motion decoder's output `[B, T, hidden]`."""

    log_durations: jax.Array
    durations: jax.Array
    frame_mask: jax.Array
    overflow: jax.Array
    identity_embedding: jax.Array
    skips: tuple[jax.Array, ...]
    motion: jax.Array


def to_unit_range(frames: ArrayLike) -> jax.Array:
    """Clips generator output to [0, 1], the official inference-time reading of the tanh output."""
    return jnp.clip(jnp.asarray(frames), 0.0, 1.0)


def durations_from_log(log_durations: ArrayLike, mask: ArrayLike) -> jax.Array:
    """Inference durations from predicted log(d + 1) (ParaLip / FastSpeech rule).

    `d = max(round(exp(x) - 1), 0)` (round half to even, like PyTorch), 0 on padding tokens; a
    sequence whose durations are all 0 gets 1 for every valid token, so no video is empty.

    Args:
      log_durations: float `[B, S]`.
      mask: bool `[B, S]`, True on valid tokens.

    Returns:
      int32 `[B, S]`.
    """
    mask = jnp.asarray(mask, bool)
    d = jnp.maximum(jnp.round(jnp.exp(jnp.asarray(log_durations, jnp.float32)) - 1.0), 0.0)
    d = jnp.where(mask, d, 0.0).astype(jnp.int32)
    all_zero = jnp.sum(d, axis=-1, keepdims=True) == 0
    return jnp.where(all_zero & mask, 1, d).astype(jnp.int32)


class TextEncoder(nn.Module):
    """Token embedding * sqrt(hidden) + sinusoidal positions -> FFT layers -> LayerNorm.

    Dropout (rate `dropout`) on the embedded input, as in the FastSpeech encoder. Padded rows of
    the output are zero.
    """

    config: ParaLipConfig

    @nn.compact
    def __call__(self, tokens: jax.Array, *, train: bool) -> jax.Array:
        """Args: tokens int32 `[B, S]`, 0 = padding. Returns `[B, S, hidden]`."""
        cfg = self.config
        mask = tokens != 0
        embed = nn.Embed(cfg.vocab_size, cfg.hidden, name="embed_tokens")
        # The reference's padding row is zero (padding_idx=0); masking gives the same result
        # without constraining the parameter.
        x = embed(tokens) * jnp.sqrt(float(cfg.hidden)) * mask[..., None]
        x = x + sinusoidal_positions(positions_from_mask(mask), dim=cfg.hidden)
        x = nn.Dropout(cfg.dropout)(x, deterministic=not train)
        for i in range(cfg.encoder_layers):
            x = cfg.fft_layer(f"layers_{i}")(x, mask, train=train)
        x = nn.LayerNorm(epsilon=cfg.encoder_final_layer_norm_epsilon, name="layer_norm")(x)
        return zero_padded_rows(x, mask)


class DurationPredictor(nn.Module):
    """`n x [Conv1d SAME -> ReLU -> LayerNorm -> Dropout, zero padding] -> Linear -> 1`.

    Predicts log(d + 1) per token (ParaLip Sec. 3.1). The caller stops the gradient of its input.
    """

    config: ParaLipConfig

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool) -> jax.Array:
        """Args: x `[B, S, C]`; mask bool `[B, S]`. Returns `[B, S]`, 0 on padding."""
        cfg = self.config
        for j in range(cfg.duration_layers):
            x = nn.Conv(cfg.duration_channels, (cfg.duration_kernel,), padding="SAME", name=f"conv_{j}")(x)
            x = nn.relu(x)
            x = nn.LayerNorm(epsilon=cfg.duration_layer_norm_epsilon, name=f"layer_norm_{j}")(x)
            x = nn.Dropout(cfg.duration_dropout)(x, deterministic=not train)
            x = zero_padded_rows(x, mask)
        out = nn.Dense(1, name="linear")(x)[..., 0]
        return out * mask


class MotionDecoder(nn.Module):
    """Input + alpha * sinusoidal positions -> FFT layers -> LayerNorm (alpha a learned scalar).

    Positions count valid frames from 1; padding frames get the zero vector. (The reference
    detects padding frames as all-zero rows; here the frame mask says which they are.) As in the
    reference the output is not masked: padding frames carry the final LayerNorm's bias (they
    are rendered and zeroed, and reach training statistics only without
    `mask_padding_in_batch_norm`, as in the reference).
    """

    config: ParaLipConfig

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool) -> jax.Array:
        """Args: x `[B, T, hidden]`, padding rows zero; mask bool `[B, T]`.

        Returns `[B, T, hidden]` (padding rows: the final LayerNorm's bias)."""
        cfg = self.config
        alpha = self.param("pos_embed_alpha", nn.initializers.ones, (1,), jnp.float32)
        x = x + alpha * sinusoidal_positions(positions_from_mask(mask), dim=cfg.hidden)
        x = nn.Dropout(cfg.dropout)(x, deterministic=not train)
        for i in range(cfg.decoder_layers):
            x = cfg.fft_layer(f"layers_{i}")(x, mask, train=train)
        return nn.LayerNorm(epsilon=cfg.layer_norm_epsilon, name="layer_norm")(x)


class ParaLip(nn.Module):
    """The ParaLip generator: text + one identity lip image -> lip video, all frames in parallel.

    Variables: `params` and `batch_stats` (BatchNorm, updated only with `train=True` and
    `mutable=['batch_stats']`). Dropout draws from the 'dropout' rng when training.
    """

    config: ParaLipConfig = ParaLipConfig()

    def setup(self) -> None:
        cfg = self.config
        self.encoder = TextEncoder(cfg)
        self.duration_predictor = DurationPredictor(cfg)
        self.identity_encoder = IdentityEncoder(cfg)
        self.decoder = MotionDecoder(cfg)
        self.video_decoder = VideoDecoder(cfg)

    def __call__(
        self,
        tokens: ArrayLike,
        identity: ArrayLike,
        durations: Optional[ArrayLike] = None,
        *,
        max_frames: int,
        train: bool,
        frame_indices: Optional[ArrayLike] = None,
    ) -> ParaLipOutput:
        """Generates lip frames.

        Args:
          tokens: int32 `[B, S]`, 0 = padding.
          identity: float `[B, H, W, C]` in [0, 1], one lip image per video.
          durations: optional int32 `[B, S]` ground-truth frames per token (teacher forcing in
            training, or the paper's GT-duration ablation); None -> predicted durations.
          max_frames: static number of output frames (the bucket size).
          train: dropout on, BatchNorm in batch-statistics mode.
          frame_indices: optional int32 `[B, F]`: decode only these frames (training-time
            subsampling: every ParaLip loss is per frame, so decoding F random valid frames gives
            an unbiased estimate at F/T of the video decoder's cost). The whole sequence still
            goes through the encoder, length regulator and motion decoder. The returned
            `frames` and `frame_mask` are then `[B, F, ...]` / `[B, F]`.

        Returns:
          `ParaLipOutput`; durations past `max_frames` are truncated and reported in `overflow`.
        """
        cfg = self.config
        feats = self.features(tokens, identity, durations, max_frames=max_frames, train=train)
        frames = render_frames(self.video_decoder, feats.identity_embedding, feats.motion,
                               feats.skips, feats.frame_mask, train=train,
                               mask_batch_norm=cfg.mask_padding_in_batch_norm,
                               frame_indices=frame_indices)
        frame_mask = feats.frame_mask
        if frame_indices is not None:  # the mask of the rendered frames
            frame_mask = jnp.take_along_axis(frame_mask, jnp.asarray(frame_indices, jnp.int32),
                                             axis=1)
        return ParaLipOutput(frames=frames, log_durations=feats.log_durations,
                             durations=feats.durations, frame_mask=frame_mask,
                             overflow=feats.overflow)

    def features(self, tokens: ArrayLike, identity: ArrayLike,
                 durations: Optional[ArrayLike] = None, *, max_frames: int,
                 train: bool) -> "ParaLipFeatures":
        """Everything before the per-frame video decoder (arguments as `__call__`): what
        `lipjax.paralip.fast` renders at inference."""
        tokens = jnp.asarray(tokens)
        identity = jnp.asarray(identity, jnp.float32)
        self._check_inputs(tokens, identity, durations, max_frames)
        token_mask = tokens != 0
        text = self.encoder(tokens, train=train)
        log_durations = self.duration_predictor(jax.lax.stop_gradient(text), token_mask, train=train)
        if durations is None:
            used = durations_from_log(log_durations, token_mask)
        else:
            used = jnp.where(token_mask, jnp.maximum(jnp.asarray(durations, jnp.int32), 0), 0)
        regulation = length_regulate(used, max_frames)
        identity_embedding, skips = self.identity_encoder(identity, train=train)
        x = expand(text, regulation.frame_to_token) + identity_embedding[:, None, :]
        motion = self.decoder(zero_padded_rows(x, regulation.frame_mask), regulation.frame_mask,
                              train=train)
        return ParaLipFeatures(log_durations, used, regulation.frame_mask, regulation.overflow,
                               identity_embedding, skips, motion)

    def _check_inputs(
        self, tokens: jax.Array, identity: jax.Array, durations: Optional[ArrayLike], max_frames: int
    ) -> None:
        cfg = self.config
        if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames <= 0:
            raise InputError(f"max_frames must be a positive Python int (a static bucket size), got {max_frames!r}")
        if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
            raise InputError(f"tokens must be an int array [B, S], got {tokens.dtype} {tokens.shape}")
        expected = (tokens.shape[0], cfg.image_height, cfg.image_width, cfg.image_channels)
        if identity.shape != expected:
            raise InputError(
                f"identity must be [B, H, W, C] = {expected} (one lip image per sequence, NHWC), "
                f"got {identity.shape}; crop/resize the lip region to {cfg.image_height}x{cfg.image_width}"
            )
        if durations is not None and jnp.shape(durations) != tokens.shape:
            raise InputError(
                f"durations must have the tokens' shape {tokens.shape}, got {jnp.shape(durations)}"
            )
