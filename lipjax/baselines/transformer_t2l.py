"""TransformerT2L: the autoregressive transformer text-to-lip baseline of ParaLip (Liu et al.,
AAAI 2022, Sec. 4.2 and Table 5).

text tokens -> ParaLip `TextEncoder` -> memory. The previous lip frame -> a frame encoder (the
ParaLip `IdentityEncoder` conv stack, own weights) -> + identity embedding + alpha * sinusoidal
position -> N pre-LayerNorm decoder layers (causal self-attention, cross-attention to the text,
position-wise feed-forward) -> LayerNorm -> per-frame ParaLip `VideoDecoder` (skips from the
identity image) -> the next frame, and a stop-token logit ("this frame is the last").

Training is teacher-forced under a causal mask; inference is
`lipjax.baselines.autoregressive.autoregressive_decode`, whose decoding step here attends over a
key/value cache.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from lipjax.errors import ConfigError
from lipjax.baselines.autoregressive import (
    AutoregressiveOutput,
    check_ar_inputs,
    teacher_forcing_inputs,
    encode_frames,
    previous_frames,
)
from lipjax.nn.transformer import (
    MASKED_LOGIT,
    ConvFeedForward,
    positions_from_mask,
    sinusoidal_positions,
    zero_padded_rows,
)
from lipjax.paralip.image import IdentityEncoder, VideoDecoder, render_frames
from lipjax.paralip.model import ParaLipConfig, TextEncoder

__all__ = ["TransformerT2LConfig", "TransformerT2L", "Attention", "DecoderLayer"]

PyTree = Any


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
        logits = jnp.where(mask[:, None], logits, MASKED_LOGIT)
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
        tokens, identity, frames, frame_mask = teacher_forcing_inputs(
            cfg, tokens, identity, frames, frame_mask)
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
