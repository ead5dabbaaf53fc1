"""DualLip's text-to-lip model: the autoregressive RNN baseline of ParaLip (Liu et al., AAAI 2022,
Sec. 4.2 and Table 5; DualLip: Chen et al., ACM MM 2020), a Tacotron 2-style decoder.

text tokens -> ParaLip `TextEncoder` -> memory. Per frame: the previous lip frame -> frame
encoder (ParaLip `IdentityEncoder` conv stack, own weights) -> prenet (Dense + ReLU + dropout)
-> attention LSTM (input: prenet output and the previous attention context) -> location-sensitive
attention over the memory (energies from the query, the memory and a convolution of the previous
and cumulative attention weights) -> context -> decoder LSTM -> projection to a frame feature ->
ParaLip `VideoDecoder` (identity embedding + identity skips) -> frame; a stop-token logit from
[decoder state, context].

Training is teacher-forced (`nn.scan` over the recurrence with the ground-truth previous frames;
the conv parts run on all frames in parallel); inference uses `autoregressive_decode` from
`lipjax.baselines.transformer_t2l` (one `lax.while_loop` under jit).

Departures from Tacotron 2: the prenet's dropout is active only in training (decoding is
deterministic), no zoneout, and the text encoder is ParaLip's FFT encoder.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from lipjax.errors import ConfigError
from lipjax.nn.transformer import MASKED_LOGIT
from lipjax.paralip.image import IdentityEncoder, VideoDecoder, render_frames
from lipjax.paralip.model import ParaLipConfig, TextEncoder
from lipjax.baselines.autoregressive import (
    AutoregressiveOutput,
    check_ar_inputs,
    teacher_forcing_inputs,
    encode_frames,
    previous_frames,
)

__all__ = [
    "DualLipConfig",
    "DualLip",
    "Prenet",
    "LocationSensitiveAttention",
    "DualLipDecoderCell",
]

PyTree = Any


@dataclasses.dataclass(frozen=True)
class DualLipConfig(ParaLipConfig):
    """ParaLip's sizes for the shared parts plus the Tacotron 2-style decoder's.

    The defaults (Tacotron 2's sizes) give 41,475,696 parameters at a 32-token vocabulary
    (ParaLip Table 5: 41.483M; -0.02%). `decoder_layers` and the duration fields are unused.

    Attributes:
      prenet_dims: widths of the prenet's Dense + ReLU layers (256, 256).
      prenet_dropout: prenet dropout (0.5; training only here).
      attention_rnn_units: attention LSTM width (1024).
      decoder_rnn_units: decoder LSTM width (1024).
      attention_dim: width of the attention energies' hidden layer (128).
      location_filters: channels of the location convolution (32).
      location_kernel: kernel of the location convolution over text positions (31).
      stop_threshold: a sequence ends at the first frame whose stop probability exceeds this.
    """

    prenet_dims: tuple[int, ...] = (256, 256)
    prenet_dropout: float = 0.5
    attention_rnn_units: int = 1024
    decoder_rnn_units: int = 1024
    attention_dim: int = 128
    location_filters: int = 32
    location_kernel: int = 31
    stop_threshold: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "prenet_dims", tuple(self.prenet_dims))
        if not 0.0 < self.stop_threshold < 1.0:
            raise ConfigError(f"stop_threshold must be in (0, 1), got {self.stop_threshold}")
        if self.location_kernel % 2 == 0:
            raise ConfigError(f"location_kernel must be odd (SAME padding), got {self.location_kernel}")


class Prenet(nn.Module):
    """`[Dense -> ReLU -> Dropout] x len(dims)` (Tacotron 2's bottleneck on the previous frame)."""

    dims: tuple[int, ...]
    dropout: float

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        """Args: x `[..., D]`. Returns `[..., dims[-1]]`."""
        for i, dim in enumerate(self.dims):
            x = nn.relu(nn.Dense(dim, name=f"linear_{i}")(x))
            x = nn.Dropout(self.dropout)(x, deterministic=not train)
        return x


class LocationSensitiveAttention(nn.Module):
    """Tacotron 2 attention: `e_j = v^T tanh(W q + V m_j + U conv([a_prev, a_cum])_j)`.

    Attributes:
      attention_dim: hidden width of the energies.
      location_filters, location_kernel: the location convolution over text positions.
    """

    attention_dim: int
    location_filters: int
    location_kernel: int

    def setup(self) -> None:
        self.query_layer = nn.Dense(self.attention_dim, use_bias=False)
        self.memory_layer = nn.Dense(self.attention_dim, use_bias=False)
        self.location_conv = nn.Conv(self.location_filters, (self.location_kernel,), padding="SAME",
                                     use_bias=False)
        self.location_layer = nn.Dense(self.attention_dim, use_bias=False)
        self.energy = nn.Dense(1, use_bias=False)

    def process_memory(self, memory: jax.Array) -> jax.Array:
        """`V m` for every text position, computed once: `[B, S, C]` -> `[B, S, attention_dim]`."""
        return self.memory_layer(memory)

    def __call__(self, query: jax.Array, memory: jax.Array, processed_memory: jax.Array,
                 token_mask: jax.Array, previous_weights: jax.Array, cumulative_weights: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
        """Args: query `[B, Q]`; memory `[B, S, C]`; processed_memory `[B, S, A]`; token_mask bool
        `[B, S]`; previous and cumulative weights `[B, S]`.

        Returns:
          (context `[B, C]`, attention weights `[B, S]`, zero on padding tokens).
        """
        location = self.location_conv(jnp.stack([previous_weights, cumulative_weights], axis=-1))
        hidden = jnp.tanh(self.query_layer(query)[:, None] + processed_memory
                          + self.location_layer(location))
        energies = jnp.where(token_mask, self.energy(hidden)[..., 0], MASKED_LOGIT)
        weights = jax.nn.softmax(energies, axis=-1) * token_mask
        context = jnp.einsum("bs,bsc->bc", weights, memory)
        return context, weights


class DualLipDecoderCell(nn.Module):
    """One step of the recurrence: attention LSTM -> attention -> decoder LSTM -> feature, stop.

    Carry: `(attention_lstm (c, h), decoder_lstm (c, h), context [B, C], weights [B, S],
    cumulative weights [B, S])`.
    """

    config: DualLipConfig

    def setup(self) -> None:
        cfg = self.config
        self.attention_rnn = nn.LSTMCell(cfg.attention_rnn_units)
        self.attention = LocationSensitiveAttention(cfg.attention_dim, cfg.location_filters,
                                                    cfg.location_kernel)
        self.decoder_rnn = nn.LSTMCell(cfg.decoder_rnn_units)
        self.projection = nn.Dense(cfg.hidden)
        self.stop_head = nn.Dense(1)

    def initial_carry(self, batch: int, num_tokens: int) -> PyTree:
        """All-zero states, context and attention weights."""
        cfg = self.config
        zeros = lambda *shape: jnp.zeros(shape, jnp.float32)  # noqa: E731
        return ((zeros(batch, cfg.attention_rnn_units), zeros(batch, cfg.attention_rnn_units)),
                (zeros(batch, cfg.decoder_rnn_units), zeros(batch, cfg.decoder_rnn_units)),
                zeros(batch, cfg.hidden), zeros(batch, num_tokens), zeros(batch, num_tokens))

    def process_memory(self, memory: jax.Array) -> jax.Array:
        return self.attention.process_memory(memory)

    def __call__(self, carry: PyTree, prenet_out: jax.Array, memory: jax.Array,
                 processed_memory: jax.Array, token_mask: jax.Array
                 ) -> tuple[PyTree, tuple[jax.Array, jax.Array, jax.Array]]:
        """Args: carry; prenet_out `[B, P]`; memory `[B, S, C]`; processed_memory; token_mask.

        Returns:
          (new carry, (feature `[B, hidden]`, stop logit `[B]`, attention weights `[B, S]`)).
        """
        att_state, dec_state, context, weights, cumulative = carry
        att_state, att_h = self.attention_rnn(att_state, jnp.concatenate([prenet_out, context], -1))
        context, weights = self.attention(att_h, memory, processed_memory, token_mask, weights,
                                          cumulative)
        cumulative = cumulative + weights
        dec_state, dec_h = self.decoder_rnn(dec_state, jnp.concatenate([att_h, context], -1))
        both = jnp.concatenate([dec_h, context], -1)
        feature, stop_logit = self.projection(both), self.stop_head(both)[:, 0]
        return (att_state, dec_state, context, weights, cumulative), (feature, stop_logit, weights)


def _scan_cell(cell: DualLipDecoderCell, carry: PyTree, prenet_out: jax.Array, memory: jax.Array,
               processed_memory: jax.Array, token_mask: jax.Array):
    return cell(carry, prenet_out, memory, processed_memory, token_mask)


# Time is axis 1 of the per-frame inputs and outputs; the memory is the same at every step.
_scanned_cell = nn.scan(_scan_cell, variable_broadcast="params", split_rngs={"params": False},
                        in_axes=(1, nn.broadcast, nn.broadcast, nn.broadcast), out_axes=1)


class DualLip(nn.Module):
    """DualLip's text-to-lip generator (variables `params`, `batch_stats`; rng 'dropout').

    `__call__` is the teacher-forced pass; `start_decoding` / `decode_step` serve
    `lipjax.baselines.transformer_t2l.autoregressive_decode`.
    """

    config: DualLipConfig = DualLipConfig()

    def setup(self) -> None:
        cfg = self.config
        self.encoder = TextEncoder(cfg)
        self.identity_encoder = IdentityEncoder(cfg)
        self.frame_encoder = IdentityEncoder(cfg)
        self.prenet = Prenet(cfg.prenet_dims, cfg.prenet_dropout)
        self.cell = DualLipDecoderCell(cfg)
        self.video_decoder = VideoDecoder(cfg)

    def __call__(self, tokens: ArrayLike, identity: ArrayLike, frames: ArrayLike,
                 frame_mask: ArrayLike, *, train: bool,
                 frame_indices: ArrayLike | None = None) -> AutoregressiveOutput:
        """Teacher-forced generation (frame t from the ground-truth frames < t).

        Args: as `TransformerT2L.__call__`: tokens int32 `[B, S]`, identity `[B, H, W, C]`,
          frames `[B, T, H, W, C]` in [0, 1], frame_mask bool `[B, T]`, train, frame_indices.

        Returns:
          `AutoregressiveOutput` with the given frame mask.
        """
        cfg = self.config
        tokens, identity, frames, frame_mask = teacher_forcing_inputs(
            cfg, tokens, identity, frames, frame_mask)
        token_mask = tokens != 0
        memory = self.encoder(tokens, train=train)
        identity_embedding, skips = self.identity_encoder(identity, train=train)
        embedded = encode_frames(self.frame_encoder, previous_frames(frames), train=train)
        prenet_out = self.prenet(embedded, train=train)
        carry = self.cell.initial_carry(tokens.shape[0], tokens.shape[1])
        _, (features, stop_logits, _) = _scanned_cell(
            self.cell, carry, prenet_out, memory, self.cell.process_memory(memory), token_mask)
        out = render_frames(self.video_decoder, identity_embedding, features, skips, frame_mask,
                            train=train, mask_batch_norm=cfg.mask_padding_in_batch_norm,
                            frame_indices=frame_indices)
        return AutoregressiveOutput(out, stop_logits, frame_mask)

    def start_decoding(self, tokens: ArrayLike, identity: ArrayLike, *, max_frames: int) -> PyTree:
        """Encodes text and identity once; the state holds them and the zero recurrent carry.

        `max_frames` is unused (the RNN state does not grow); it keeps the decoding interface.
        """
        del max_frames
        tokens, identity = jnp.asarray(tokens), jnp.asarray(identity, jnp.float32)
        check_ar_inputs(self.config, tokens, identity)
        memory = self.encoder(tokens, train=False)
        identity_embedding, skips = self.identity_encoder(identity, train=False)
        return {
            "token_mask": tokens != 0,
            "memory": memory,
            "processed_memory": self.cell.process_memory(memory),
            "identity_embedding": identity_embedding,
            "skips": skips,
            "carry": self.cell.initial_carry(tokens.shape[0], tokens.shape[1]),
        }

    def decode_step(self, state: PyTree, previous_frame: jax.Array, index: jax.Array
                    ) -> tuple[PyTree, jax.Array, jax.Array]:
        """One frame from the previous one (inference mode); `index` is unused.

        Returns:
          (new state, frame `[B, H, W, C]` in (-1, 1), stop logit `[B]`).
        """
        del index
        embedded, _ = self.frame_encoder(previous_frame, train=False)
        carry, (feature, stop_logit, _) = self.cell(
            state["carry"], self.prenet(embedded, train=False), state["memory"],
            state["processed_memory"], state["token_mask"])
        frame = render_frames(self.video_decoder, state["identity_embedding"], feature[:, None],
                              state["skips"], jnp.ones((feature.shape[0], 1), bool), train=False,
                              mask_batch_norm=False)[:, 0]
        return {**state, "carry": carry}, frame, stop_logit
