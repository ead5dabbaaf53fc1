"""TransformerT2L: the autoregressive transformer text-to-lip baseline of ParaLip (Liu et al.,
AAAI 2022, Sec. 4.2 and Table 5), plus the autoregressive machinery it shares with DualLip.

text tokens -> ParaLip `TextEncoder` -> memory. The previous lip frame -> a frame encoder (the
ParaLip `IdentityEncoder` conv stack, own weights) -> + identity embedding + alpha * sinusoidal
position -> N pre-LayerNorm decoder layers (causal self-attention, cross-attention to the text,
position-wise feed-forward) -> LayerNorm -> per-frame ParaLip `VideoDecoder` (skips from the
identity image) -> the next frame, and a stop-token logit ("this frame is the last").

Training is teacher-forced: the inputs are the ground-truth frames shifted right by one (an
all-zero "go" frame first) and all frames are decoded in parallel under a causal mask.
Inference (`autoregressive_decode`) is one `lax.while_loop` under `jax.jit`: each iteration
encodes the previously generated frame, attends over a key/value cache, renders one frame and
stops when every sequence has emitted its stop token or `max_frames` is reached. Frames after a
sequence's stop are exactly 0. The latency therefore grows linearly with the video length, which
is what ParaLip's Figure 4 compares against.

The shared pieces for autoregressive lip models (`AutoregressiveOutput`, `previous_frames`,
`render_frames`, `stop_threshold_logit`, `autoregressive_decode`) live here and are imported by
`lipjax.models.duallip`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple, Optional, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from lipjax.errors import ConfigError, InputError
from lipjax.models.layers import (
    ConvFeedForward,
    positions_from_mask,
    sinusoidal_positions,
    zero_padded_rows,
)
from lipjax.models.paralip import (
    IdentityEncoder,
    ParaLipConfig,
    TextEncoder,
    VideoDecoder,
    to_unit_range,
)

__all__ = [
    "TransformerT2LConfig",
    "TransformerT2L",
    "AutoregressiveOutput",
    "Attention",
    "DecoderLayer",
    "previous_frames",
    "stop_labels",
    "stop_threshold_logit",
    "render_frames",
    "encode_frames",
    "check_ar_inputs",
    "autoregressive_decode",
]

PyTree = Any
# Padded / future keys get this logit (not -inf) so that a fully masked row stays finite.
_MASKED_LOGIT = -1e9


@dataclasses.dataclass(frozen=True)
class TransformerT2LConfig(ParaLipConfig):
    """ParaLip's sizes for the shared parts plus the autoregressive decoder's.

    Inherits every `ParaLipConfig` field (text encoder, identity encoder, video decoder; the
    duration-predictor fields are unused). `decoder_layers` counts the autoregressive decoder
    layers here. The defaults give 37,720,881 parameters at a 32-token vocabulary (ParaLip
    Table 5: 37.780M; -0.16%).

    Attributes:
      decoder_layers: autoregressive decoder layers (6).
      decoder_ffn_hidden: width of each decoder layer's position-wise feed-forward (3072).
      stop_threshold: a sequence ends at the first frame whose stop probability exceeds this.
    """

    decoder_layers: int = 6
    decoder_ffn_hidden: int = 3072
    stop_threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.stop_threshold < 1.0:
            raise ConfigError(f"stop_threshold must be in (0, 1), got {self.stop_threshold}")
        if self.decoder_layers < 1:
            raise ConfigError(f"decoder_layers must be >= 1, got {self.decoder_layers}")


class AutoregressiveOutput(NamedTuple):
    """What the autoregressive lip models return (teacher-forced or free-running).

    Attributes:
      frames: `[B, T, H, W, C]` tanh output; 0 on invalid frames (see `to_unit_range`).
      stop_logits: `[B, T]` logit of "frame t is the last frame".
      frame_mask: bool `[B, T]`: the given mask (teacher forcing) or the frames up to and
        including each sequence's stop (free running).
    """

    frames: jax.Array
    stop_logits: jax.Array
    frame_mask: jax.Array


def previous_frames(frames: ArrayLike) -> jax.Array:
    """Teacher-forcing inputs: the video shifted right by one frame, an all-zero "go" frame first.

    Args:
      frames: `[B, T, H, W, C]` target frames in [0, 1].

    Returns:
      `[B, T, H, W, C]` where output t is input t - 1 (and output 0 is zeros).
    """
    frames = jnp.asarray(frames, jnp.float32)
    return jnp.concatenate([jnp.zeros_like(frames[:, :1]), frames[:, :-1]], axis=1)


def stop_labels(frame_mask: ArrayLike) -> jax.Array:
    """Stop-token targets: True at the last valid frame of each (prefix-valid) sequence.

    Args:
      frame_mask: bool `[B, T]`, True on valid frames (a prefix of each row).

    Returns:
      bool `[B, T]`.
    """
    mask = jnp.asarray(frame_mask, bool)
    following = jnp.concatenate([mask[:, 1:], jnp.zeros_like(mask[:, :1])], axis=1)
    return mask & ~following


def stop_threshold_logit(threshold: float) -> float:
    """The logit of probability `threshold` (comparing logits avoids sigmoid saturation)."""
    return math.log(threshold / (1.0 - threshold))


def render_frames(
    video_decoder: nn.Module,
    identity_embedding: jax.Array,
    features: jax.Array,
    skips: tuple[jax.Array, ...],
    frame_mask: jax.Array,
    *,
    train: bool,
    mask_batch_norm: bool,
    frame_indices: jax.Array | None = None,
) -> jax.Array:
    """Renders per-frame features with ParaLip's `VideoDecoder`, every frame of a video sharing
    its identity embedding and skips; invalid frames are zeroed.

    Args:
      video_decoder: a bound `VideoDecoder`.
      identity_embedding: `[B, D]`.
      features: `[B, T, hidden]` decoder output per frame.
      skips: identity-encoder maps, each `[B, h, w, c]`.
      frame_mask: bool `[B, T]`.
      train: BatchNorm batch statistics when True.
      mask_batch_norm: only valid frames count in training batch statistics.
      frame_indices: int `[B, F]`: render only these frames (the F of the result), as ParaLip's
        `frames_per_example` training does; None renders all T.

    Returns:
      `[B, T, H, W, C]` (or `[B, F, ...]`) in (-1, 1), exactly 0 on invalid frames.
    """
    if frame_indices is not None:  # render only these frames (training subsample)
        frame_indices = jnp.asarray(frame_indices, jnp.int32)
        features = jnp.take_along_axis(features, frame_indices[..., None], axis=1)
        frame_mask = jnp.take_along_axis(frame_mask, frame_indices, axis=1)
    batch, length = features.shape[:2]
    ident = jnp.broadcast_to(identity_embedding[:, None], (batch, length, identity_embedding.shape[-1]))
    z = jnp.concatenate([ident, features], axis=-1).reshape(batch * length, -1)
    frame_skips = tuple(
        jnp.broadcast_to(s[:, None], (batch, length) + s.shape[1:]).reshape((batch * length,) + s.shape[1:])
        for s in skips
    )
    bn_mask = frame_mask.reshape(-1) if mask_batch_norm else None
    frames = video_decoder(z, frame_skips, train=train, mask=bn_mask)
    frames = frames.reshape((batch, length) + frames.shape[1:])
    return frames * frame_mask[:, :, None, None, None]


def encode_frames(frame_encoder: nn.Module, frames: jax.Array, *, train: bool) -> jax.Array:
    """`[B, T, H, W, C]` -> `[B, T, D]` through a per-frame `IdentityEncoder`-style stack."""
    batch, length = frames.shape[:2]
    embedding, _ = frame_encoder(frames.reshape((batch * length,) + frames.shape[2:]), train=train)
    return embedding.reshape(batch, length, -1)


def check_ar_inputs(config: ParaLipConfig, tokens: jax.Array, identity: jax.Array,
                    frames: Optional[jax.Array] = None, frame_mask: Optional[jax.Array] = None) -> None:
    """Raises `InputError` unless tokens `[B, S]` int, identity `[B, H, W, C]`, and (if given)
    frames `[B, T, H, W, C]` and frame_mask `[B, T]` match the config."""
    if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
        raise InputError(f"tokens must be an int array [B, S], got {tokens.dtype} {tokens.shape}")
    image = (config.image_height, config.image_width, config.image_channels)
    if identity.shape != (tokens.shape[0],) + image:
        raise InputError(
            f"identity must be [B, H, W, C] = {(tokens.shape[0],) + image} (one lip image per "
            f"sequence), got {identity.shape}; crop/resize the lips to {image[0]}x{image[1]}")
    if frames is not None:
        if frames.ndim != 5 or frames.shape[0] != tokens.shape[0] or frames.shape[2:] != image:
            raise InputError(f"frames must be [B, T, {image[0]}, {image[1]}, {image[2]}] with "
                             f"B = {tokens.shape[0]}, got {frames.shape}")
        if frame_mask is None or frame_mask.shape != frames.shape[:2]:
            raise InputError(f"frame_mask must be bool [B, T] = {frames.shape[:2]}, got "
                             f"{None if frame_mask is None else frame_mask.shape}")


class Attention(nn.Module):
    """Multi-head attention with separate query and key/value projections, no biases.

    Self-attention projects keys/values from the same sequence, cross-attention from the text
    memory; incremental decoding stores projected keys/values in a cache, so one module serves
    the full causal pass and the cached step with the same arithmetic.

    Attributes:
      width: model width C (query, key and value width).
      num_heads: heads; C must be divisible by it.
      attention_dropout: dropout on the attention weights (train only).
    """

    width: int
    num_heads: int
    attention_dropout: float = 0.0

    def setup(self) -> None:
        if self.width % self.num_heads:
            raise ConfigError(f"width {self.width} is not divisible by num_heads={self.num_heads}")
        self.q_proj = nn.Dense(self.width, use_bias=False)
        self.kv_proj = nn.Dense(2 * self.width, use_bias=False)
        self.out_proj = nn.Dense(self.width, use_bias=False)
        self.dropout = nn.Dropout(self.attention_dropout)

    def keys_values(self, memory: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Args: memory `[B, L, C]`. Returns keys, values `[B, L, heads, C / heads]`."""
        batch, length, _ = memory.shape
        k, v = jnp.split(self.kv_proj(memory), 2, axis=-1)
        shape = (batch, length, self.num_heads, self.width // self.num_heads)
        return k.reshape(shape), v.reshape(shape)

    def __call__(self, x: jax.Array, keys: jax.Array, values: jax.Array, mask: jax.Array, *,
                 train: bool) -> jax.Array:
        """Args: x `[B, Lq, C]`; keys/values `[B, Lk, heads, d]`; mask bool broadcastable to
        `[B, Lq, Lk]` (True = may attend). Returns `[B, Lq, C]`."""
        batch, length, _ = x.shape
        head_dim = self.width // self.num_heads
        q = self.q_proj(x).reshape(batch, length, self.num_heads, head_dim) * head_dim**-0.5
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, keys)
        logits = jnp.where(mask[:, None], logits, _MASKED_LOGIT)
        weights = self.dropout(jax.nn.softmax(logits, axis=-1), deterministic=not train)
        attended = jnp.einsum("bhqk,bkhd->bqhd", weights, values).reshape(batch, length, self.width)
        return self.out_proj(attended)


class DecoderLayer(nn.Module):
    """Pre-LayerNorm transformer decoder layer (TransformerTTS-style):

        x = x + dropout(SelfAttn(LN1(x)))      causal
        x = x + dropout(CrossAttn(LN2(x), text))
        x = x + dropout(FFN(LN3(x)))           position-wise (a kernel-1 `ConvFeedForward`)

    `__call__` runs every position under a causal mask (teacher forcing); `step` runs one
    position against a key/value cache and gives the same result for that position.
    """

    config: TransformerT2LConfig

    def setup(self) -> None:
        cfg = self.config
        norm = lambda: nn.LayerNorm(epsilon=cfg.layer_norm_epsilon)  # noqa: E731
        self.layer_norm1, self.layer_norm2, self.layer_norm3 = norm(), norm(), norm()
        self.self_attn = Attention(cfg.hidden, cfg.num_heads, cfg.attention_dropout)
        self.cross_attn = Attention(cfg.hidden, cfg.num_heads, cfg.attention_dropout)
        # Kernel 1 keeps the feed-forward causal (ParaLip's kernel-9 FFN would look ahead).
        self.ffn = ConvFeedForward(cfg.decoder_ffn_hidden, 1, cfg.relu_dropout)
        self.dropout = nn.Dropout(cfg.dropout)

    def memory_keys_values(self, text: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Cross-attention keys/values of the encoded text `[B, S, C]` (computed once)."""
        return self.cross_attn.keys_values(text)

    def _cross_and_ffn(self, x: jax.Array, memory_kv: tuple[jax.Array, jax.Array],
                       token_mask: jax.Array, *, train: bool) -> jax.Array:
        h = self.cross_attn(self.layer_norm2(x), *memory_kv, token_mask[:, None, :], train=train)
        x = x + self.dropout(h, deterministic=not train)
        h = self.ffn(self.layer_norm3(x), train=train)
        return x + self.dropout(h, deterministic=not train)

    def __call__(self, x: jax.Array, frame_mask: jax.Array, memory_kv: tuple[jax.Array, jax.Array],
                 token_mask: jax.Array, *, train: bool) -> jax.Array:
        """Args: x `[B, T, C]`; frame_mask bool `[B, T]`; memory_kv from `memory_keys_values`;
        token_mask bool `[B, S]`. Returns `[B, T, C]`, padded rows zero."""
        length = x.shape[1]
        causal = jnp.tril(jnp.ones((length, length), bool))
        mask = causal[None] & frame_mask[:, None, :]
        h = self.layer_norm1(x)
        h = self.self_attn(h, *self.self_attn.keys_values(h), mask, train=train)
        x = zero_padded_rows(x + self.dropout(h, deterministic=not train), frame_mask)
        return zero_padded_rows(self._cross_and_ffn(x, memory_kv, token_mask, train=train), frame_mask)

    def step(self, x: jax.Array, cache: tuple[jax.Array, jax.Array], index: jax.Array,
             memory_kv: tuple[jax.Array, jax.Array], token_mask: jax.Array
             ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        """One decoding position (inference: no dropout).

        Args:
          x: `[B, 1, C]` the input at position `index`.
          cache: self-attention keys, values `[B, T_max, heads, d]` of earlier positions.
          index: int32 scalar, the position being decoded.
          memory_kv, token_mask: as in `__call__`.

        Returns:
          (`[B, 1, C]`, the cache with this position's keys/values written at `index`).
        """
        h = self.layer_norm1(x)
        k_new, v_new = self.self_attn.keys_values(h)
        keys = lax.dynamic_update_slice_in_dim(cache[0], k_new, index, axis=1)
        values = lax.dynamic_update_slice_in_dim(cache[1], v_new, index, axis=1)
        mask = (jnp.arange(keys.shape[1]) <= index)[None, None, :]
        x = x + self.self_attn(h, keys, values, mask, train=False)
        return self._cross_and_ffn(x, memory_kv, token_mask, train=False), (keys, values)


class TransformerT2L(nn.Module):
    """The TransformerT2L generator (variables: `params`, `batch_stats`; dropout rng 'dropout').

    `__call__` is the teacher-forced pass; `start_decoding` / `decode_step` are the pieces that
    `autoregressive_decode` loops over.
    """

    config: TransformerT2LConfig = TransformerT2LConfig()

    def setup(self) -> None:
        cfg = self.config
        self.encoder = TextEncoder(cfg)
        self.identity_encoder = IdentityEncoder(cfg)
        self.frame_encoder = IdentityEncoder(cfg)
        self.pos_embed_alpha = self.param("pos_embed_alpha", nn.initializers.ones, (1,), jnp.float32)
        self.layers = [DecoderLayer(cfg) for _ in range(cfg.decoder_layers)]
        self.layer_norm = nn.LayerNorm(epsilon=cfg.layer_norm_epsilon)
        self.video_decoder = VideoDecoder(cfg)
        self.stop_head = nn.Dense(1)
        self.input_dropout = nn.Dropout(cfg.dropout)

    def _positions(self, positions: jax.Array) -> jax.Array:
        return self.pos_embed_alpha * sinusoidal_positions(positions, dim=self.config.hidden)

    def __call__(self, tokens: ArrayLike, identity: ArrayLike, frames: ArrayLike,
                 frame_mask: ArrayLike, *, train: bool,
                 frame_indices: ArrayLike | None = None) -> AutoregressiveOutput:
        """Teacher-forced generation of every frame in parallel.

        Args:
          tokens: int32 `[B, S]`, 0 = padding.
          identity: `[B, H, W, C]` in [0, 1].
          frames: `[B, T, H, W, C]` target frames in [0, 1]; frame t is predicted from frames < t.
          frame_mask: bool `[B, T]`, True on valid frames (a prefix of each row).
          train: dropout on, BatchNorm batch statistics.
          frame_indices: int `[B, F]`: decode only these frames to images (`frames` is then
            `[B, F, ...]`; stop logits still cover all T); None = all.

        Returns:
          `AutoregressiveOutput` with the given frame mask.
        """
        cfg = self.config
        tokens, identity = jnp.asarray(tokens), jnp.asarray(identity, jnp.float32)
        frames, frame_mask = jnp.asarray(frames, jnp.float32), jnp.asarray(frame_mask, bool)
        check_ar_inputs(cfg, tokens, identity, frames, frame_mask)
        token_mask = tokens != 0
        text = self.encoder(tokens, train=train)
        identity_embedding, skips = self.identity_encoder(identity, train=train)
        x = encode_frames(self.frame_encoder, previous_frames(frames), train=train)
        x = x + identity_embedding[:, None] + self._positions(positions_from_mask(frame_mask))
        x = zero_padded_rows(self.input_dropout(x, deterministic=not train), frame_mask)
        for layer in self.layers:
            x = layer(x, frame_mask, layer.memory_keys_values(text), token_mask, train=train)
        features = zero_padded_rows(self.layer_norm(x), frame_mask)
        stop_logits = self.stop_head(features)[..., 0]
        out = render_frames(self.video_decoder, identity_embedding, features, skips, frame_mask,
                            train=train, mask_batch_norm=cfg.mask_padding_in_batch_norm,
                            frame_indices=frame_indices)
        return AutoregressiveOutput(out, stop_logits, frame_mask)

    def start_decoding(self, tokens: ArrayLike, identity: ArrayLike, *, max_frames: int) -> PyTree:
        """Encodes the text and identity once; returns the decoding state (empty caches).

        Args:
          tokens: int32 `[B, S]`; identity `[B, H, W, C]` in [0, 1]; max_frames: cache length.
        """
        cfg = self.config
        tokens, identity = jnp.asarray(tokens), jnp.asarray(identity, jnp.float32)
        check_ar_inputs(cfg, tokens, identity)
        text = self.encoder(tokens, train=False)
        identity_embedding, skips = self.identity_encoder(identity, train=False)
        batch = tokens.shape[0]
        cache_shape = (batch, max_frames, cfg.num_heads, cfg.hidden // cfg.num_heads)
        empty = jnp.zeros(cache_shape, jnp.float32)
        return {
            "token_mask": tokens != 0,
            "identity_embedding": identity_embedding,
            "skips": skips,
            "memory_kv": [layer.memory_keys_values(text) for layer in self.layers],
            "cache": [(empty, empty) for _ in self.layers],
        }

    def decode_step(self, state: PyTree, previous_frame: jax.Array, index: jax.Array
                    ) -> tuple[PyTree, jax.Array, jax.Array]:
        """Generates frame `index` from the previous frame (inference mode).

        Args:
          state: from `start_decoding` or the previous step.
          previous_frame: `[B, H, W, C]` in [0, 1] (zeros for the first frame).
          index: int32 scalar position.

        Returns:
          (new state, frame `[B, H, W, C]` in (-1, 1), stop logit `[B]`).
        """
        frame_embedding, _ = self.frame_encoder(previous_frame, train=False)
        x = frame_embedding + state["identity_embedding"] + self._positions(index + 1)
        x = x[:, None]
        caches = []
        for layer, cache, memory_kv in zip(self.layers, state["cache"], state["memory_kv"]):
            x, cache = layer.step(x, cache, index, memory_kv, state["token_mask"])
            caches.append(cache)
        features = self.layer_norm(x)
        stop_logit = self.stop_head(features)[:, 0, 0]
        frame = render_frames(self.video_decoder, state["identity_embedding"], features,
                              state["skips"], jnp.ones(features.shape[:2], bool), train=False,
                              mask_batch_norm=False)[:, 0]
        return {**state, "cache": caches}, frame, stop_logit


class AutoregressiveLipModel(Protocol):
    """What `autoregressive_decode` needs from a model (TransformerT2L, DualLip)."""

    config: ParaLipConfig

    def start_decoding(self, tokens, identity, *, max_frames): ...

    def decode_step(self, state, previous_frame, index): ...


def autoregressive_decode(
    model: AutoregressiveLipModel,
    variables: PyTree,
    tokens: ArrayLike,
    identity: ArrayLike,
    *,
    max_frames: int,
    use_stop_token: bool = True,
) -> AutoregressiveOutput:
    """Free-running generation: one frame per `lax.while_loop` iteration, no Python loop.

    Each iteration feeds the previous generated frame (clipped to [0, 1], the official reading
    of the tanh output) back in. A sequence's frames end at (and include) the first frame whose
    stop probability exceeds `config.stop_threshold`; later frames are 0. The loop exits when all
    sequences have stopped or after `max_frames` frames. Jit the caller with `max_frames` and
    `use_stop_token` static.

    Args:
      model: a TransformerT2L or DualLip module (unbound).
      variables: its `{'params', 'batch_stats'}`.
      tokens: int32 `[B, S]`; identity: `[B, H, W, C]` in [0, 1].
      max_frames: static maximum length (the output's T).
      use_stop_token: False ignores the stop head and always generates `max_frames` frames
        (latency measurements at a fixed length).

    Returns:
      `AutoregressiveOutput`; `frame_mask` marks the frames before and at each stop.
    """
    if not isinstance(max_frames, int) or isinstance(max_frames, bool) or max_frames <= 0:
        raise InputError(f"max_frames must be a positive Python int, got {max_frames!r}")
    cfg = model.config
    identity = jnp.asarray(identity, jnp.float32)
    state = model.apply(variables, tokens, identity, max_frames=max_frames,
                        method=model.start_decoding)
    batch = identity.shape[0]
    threshold = stop_threshold_logit(cfg.stop_threshold)
    init = (
        jnp.zeros((), jnp.int32),
        jnp.zeros_like(identity),
        state,
        jnp.zeros((batch, max_frames) + identity.shape[1:], jnp.float32),
        jnp.zeros((batch, max_frames), jnp.float32),
        jnp.zeros((batch,), bool),
        jnp.zeros((batch,), jnp.int32),
    )

    def keep_going(carry):
        index, *_, done, _ = carry
        return (index < max_frames) & ~jnp.all(done)

    def one_frame(carry):
        index, previous, state, frames, stops, done, lengths = carry
        state, frame, stop_logit = model.apply(variables, state, previous, index,
                                               method=model.decode_step)
        alive = ~done
        frames = lax.dynamic_update_slice_in_dim(
            frames, (frame * alive[:, None, None, None])[:, None], index, axis=1)
        stops = lax.dynamic_update_slice_in_dim(stops, stop_logit[:, None], index, axis=1)
        lengths = lengths + alive.astype(jnp.int32)
        if use_stop_token:
            done = done | (stop_logit > threshold)
        return index + 1, to_unit_range(frame), state, frames, stops, done, lengths

    *_, frames, stops, _, lengths = lax.while_loop(keep_going, one_frame, init)
    frame_mask = jnp.arange(max_frames)[None, :] < lengths[:, None]
    return AutoregressiveOutput(frames, stops, frame_mask)
