"""The CTC lipreader as a trainable `System` (ParaLip, AAAI 2022, Sec. 6; LipNet's loss).

Training minimises the CTC loss (`optax.ctc_loss`, Graves et al., 2006) of each video's token
sequence (for lipjax's vocabularies `<sil> ... <sil>`, spaces included) given the lipreader's
per-frame outputs; column 0 (`<pad>`) is the blank. The loss is reported per label token.

Evaluation decodes greedily (`lipjax.lipreading.decode`) and reports, over the split:
`ctc` (per token), `cer` (edit distance over the symbols without `<sil>`, per reference symbol;
GRID: characters with spaces), `wer` (over words, for vocabularies with a space symbol),
`sentence_accuracy`, and how far the lipreader's MAS durations (`lipjax.lipreading.align`) are
from the durations the dataset stores: `duration_abs_error` (frames per token) and
`duration_exact` (fraction of tokens exactly right). On `synthetic_lips` those are the exact
durations; on GRID they come from word timings.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from lipjax.errors import ConfigError
from lipjax.lipreading import decode
from lipjax.lipreading.align import mas_durations
from lipjax.lipreading.data import lipreading_example, lipreading_lengths
from lipjax.lipreading.model import BLANK_ID, Lipreader, LipreaderConfig, validate_lipreader_config
from lipjax.text import SIL, get_vocabulary
from lipjax.training.system import DiscriminatorInputs, LossTerm, dataclass_from_config

__all__ = ["LipreaderSystem", "lipreader_config", "ctc_loss_term", "vocabulary_ids"]

WORD_SEPARATOR = " "


def lipreader_config(config: ml_collections.ConfigDict) -> LipreaderConfig:
    """`config.model` -> a checked `LipreaderConfig`."""
    model = dataclass_from_config(LipreaderConfig, config.model)
    validate_lipreader_config(model)
    return model


def vocabulary_ids(config: ml_collections.ConfigDict) -> tuple[tuple[int, ...], int | None]:
    """`(ids left out of CER/WER, word separator id or None)` of `config.data.vocabulary`:
    `<sil>` carries no text; the space separates words (GRID characters)."""
    vocabulary = get_vocabulary(config.data.get("vocabulary", "grid_chars"))
    if vocabulary.size != int(config.model.vocab_size):
        raise ConfigError(f"model.vocab_size is {config.model.vocab_size} but the vocabulary "
                          f"{vocabulary.name!r} (data.vocabulary) has {vocabulary.size} "
                          "symbols; the lipreader has one output per symbol (0 = blank)")
    symbols = vocabulary.symbols
    ignored = tuple(i for i, s in enumerate(symbols) if s == SIL)
    separator = symbols.index(WORD_SEPARATOR) if WORD_SEPARATOR in symbols else None
    return ignored, separator


def ctc_loss_term(logits: jax.Array, batch: Mapping[str, jax.Array]) -> LossTerm:
    """CTC negative log-likelihood per label token over the valid examples.

    Returns `LossTerm(sum of the examples' losses / their tokens, tokens)`."""
    valid = batch["example_mask"]
    frame_mask = batch["frame_mask"] & valid[:, None]
    token_mask = batch["token_mask"] & valid[:, None]
    per_video = optax.ctc_loss(logits, 1.0 - frame_mask.astype(jnp.float32), batch["tokens"],
                               1.0 - token_mask.astype(jnp.float32), blank_id=BLANK_ID)
    count = jnp.sum(token_mask)
    total = jnp.sum(jnp.where(valid, per_video, 0.0))
    return LossTerm(total / jnp.maximum(count, 1), count)


def _ratio(numerator: jax.Array, denominator: jax.Array) -> LossTerm:
    """A corpus-level rate as a LossTerm (its mean over batches is sum / sum)."""
    denominator = jnp.sum(denominator)
    return LossTerm(jnp.sum(numerator) / jnp.maximum(denominator, 1), denominator)


@dataclasses.dataclass(frozen=True, eq=False)
class LipreaderSystem:
    """A `Lipreader` trained with CTC; no discriminator."""

    generator: nn.Module
    discriminator: None = None
    loss_weights: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"ctc": 1.0})
    adversarial_start_step: int = 0
    ignored_ids: tuple[int, ...] = ()          # left out of CER / WER (`<sil>`)
    word_separator: int | None = None          # the space: words for WER

    example_fn = staticmethod(lipreading_example)
    length_fn = staticmethod(lipreading_lengths)

    @classmethod
    def generator_from_config(cls, config: ml_collections.ConfigDict) -> Lipreader:
        return Lipreader(lipreader_config(config))

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "LipreaderSystem":
        ignored, separator = vocabulary_ids(config)
        return cls(generator=cls.generator_from_config(config),
                   loss_weights={"ctc": float(config.loss.get("ctc", 1.0))},
                   ignored_ids=ignored, word_separator=separator)

    def example_batch(self, bucket: tuple[int, int], batch_size: int = 1) -> dict[str, Any]:
        max_tokens, max_frames = bucket
        cfg = self.generator.config
        frames = (batch_size, max_frames, cfg.image_height, cfg.image_width, 3)
        return {"frames": np.zeros(frames, np.float32),
                "frame_mask": np.ones((batch_size, max_frames), bool),
                "tokens": np.ones((batch_size, max_tokens), np.int32),
                "token_mask": np.ones((batch_size, max_tokens), bool),
                "num_frames": np.full(batch_size, max_frames, np.int32),
                "num_tokens": np.full(batch_size, max_tokens, np.int32),
                "durations": np.zeros((batch_size, max_tokens), np.int32),
                "has_durations": np.zeros(batch_size, bool),
                "example_mask": np.ones(batch_size, bool)}

    def init_variables(self, rng: jax.Array, batch: Mapping[str, Any]):
        params_rng, dropout_rng = jax.random.split(rng)
        variables = jax.jit(lambda p, d: self.generator.init(
            {"params": p, "dropout": d}, batch["frames"], batch["frame_mask"], train=False))(
                params_rng, dropout_rng)
        return variables, None

    def generate(self, variables, batch, *, train: bool, rngs: Mapping[str, jax.Array]):
        """Per-frame logits `[B, T, V]`; no BatchNorm statistics."""
        rngs = {"dropout": rngs["dropout"]} if train else {}
        return self.generator.apply(variables, batch["frames"], batch["frame_mask"],
                                    train=train, rngs=rngs), {}

    def reconstruction_terms(self, logits: jax.Array, batch) -> dict[str, LossTerm]:
        return {"ctc": ctc_loss_term(logits, batch)}

    def discriminator_inputs(self, outputs, batch) -> DiscriminatorInputs:
        raise NotImplementedError("the lipreader trains without a discriminator")

    def decode(self, logits: jax.Array, batch) -> tuple[decode.Sequences, decode.Sequences]:
        """(greedy hypotheses, references), both without the ignored ids."""
        frame_mask = batch["frame_mask"] & batch["example_mask"][:, None]
        hypotheses = decode.drop_ids(decode.greedy_decode(logits, frame_mask,
                                                          blank_id=BLANK_ID), self.ignored_ids)
        valid_tokens = batch["token_mask"] & batch["example_mask"][:, None]
        references = decode.drop_ids(
            decode.Sequences(batch["tokens"], jnp.sum(valid_tokens, -1).astype(jnp.int32)),
            self.ignored_ids)
        return hypotheses, references

    def evaluate(self, variables, batch) -> dict[str, LossTerm]:
        logits, _ = self.generate(variables, batch, train=False, rngs={})
        valid = batch["example_mask"]
        hypotheses, references = self.decode(logits, batch)
        errors = jnp.where(valid, decode.symbol_errors(hypotheses, references), 0)
        out = {"ctc": ctc_loss_term(logits, batch),
               "cer": _ratio(errors, references.lengths),
               "sentence_accuracy": _ratio(valid & (errors == 0), valid)}
        if self.word_separator is not None:
            word_errors, words = decode.word_errors(hypotheses, references,
                                                    separator=self.word_separator)
            out["wer"] = _ratio(jnp.where(valid, word_errors, 0), jnp.where(valid, words, 0))
        token_mask = batch["token_mask"] & valid[:, None]
        durations = mas_durations(logits, batch["tokens"], token_mask,
                                  batch["frame_mask"] & valid[:, None])
        known = token_mask & batch["has_durations"][:, None]
        difference = jnp.abs(durations - batch["durations"])
        out["duration_abs_error"] = _ratio(jnp.where(known, difference, 0), known)
        out["duration_exact"] = _ratio(known & (difference == 0), known)
        return out
