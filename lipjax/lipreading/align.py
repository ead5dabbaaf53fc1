"""Token durations without audio: a CTC lipreader's outputs + monotonic alignment search.

ParaLip (Liu et al., AAAI 2022, Sec. 6) obtains the "ground-truth" durations of a corpus without
audio this way: 1) train a lipreader with CTC; 2) for each video, take the CTC outputs of its own
label tokens, `O[t, l_j]` for the m tokens `l_1..l_m` of its text; 3) a softmax over those m
tokens per frame gives `P(s_t = l_j)`; 4) monotonic alignment search (MAS) finds the best
alignment, hence every token's number of frames.

`label_log_likelihood` is steps 2-3, `mas_durations` adds step 4 (`lipjax.ops`), and `Aligner`
runs both on records with a trained lipreader (one compilation per bucket). A token that occurs
twice in a sentence has two identical columns; MAS keeps them apart by monotonicity. The blank's
column is not used (the paper takes the label tokens' outputs only), so frames where the blank
dominates are placed by the relative scores of the label tokens alone.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from lipjax.errors import BadRecordError, CheckpointError, DataError
from lipjax.lipreading.data import lipreading_example, lipreading_lengths
from lipjax.ops import durations_from_alignment, monotonic_alignment_search

__all__ = ["label_log_likelihood", "mas_durations", "Aligner", "restore_lipreader",
           "lipreader_workdir_config"]

_MASKED = -1e9  # finite stand-in for -inf: a row of padding tokens stays NaN-free


def label_log_likelihood(logits: ArrayLike, tokens: ArrayLike, token_mask: ArrayLike
                         ) -> jax.Array:
    """`log P(frame t shows token j)`: the log-softmax, over a video's own label tokens, of
    their CTC outputs (ParaLip Sec. 6, steps 2-3).

    Args:
      logits: float `[B, T, V]` per-frame CTC outputs (logits or log-probabilities: the
        softmax over a subset removes any per-frame constant).
      tokens: int `[B, S]` label ids, 0 on padding.
      token_mask: bool `[B, S]`, True on valid tokens.

    Returns:
      float32 `[B, S, T]` (the layout `lipjax.ops.monotonic_alignment_search` reads); 0 on
      padding tokens.
    """
    logits = jnp.asarray(logits, jnp.float32)
    tokens, token_mask = jnp.asarray(tokens, jnp.int32), jnp.asarray(token_mask, bool)
    gathered = jnp.take_along_axis(logits, tokens[:, None, :], axis=-1)  # [B, T, S]
    gathered = jnp.where(token_mask[:, None, :], gathered, _MASKED)
    log_p = jnp.where(token_mask[:, None, :], jax.nn.log_softmax(gathered, axis=-1), 0.0)
    return jnp.swapaxes(log_p, 1, 2)


def mas_durations(logits: ArrayLike, tokens: ArrayLike, token_mask: ArrayLike,
                  frame_mask: ArrayLike) -> jax.Array:
    """Frames per token from CTC outputs (ParaLip Sec. 6), jit-able.

    Args:
      logits: float `[B, T, V]`; tokens int `[B, S]`; token_mask bool `[B, S]`; frame_mask bool
        `[B, T]` (valid entries first).

    Returns:
      int32 `[B, S]`: each valid token >= 1 frame, the valid ones summing to the valid frames
      (when there are at least as many frames as tokens); 0 on padding.
    """
    log_likelihood = label_log_likelihood(logits, tokens, token_mask)
    alignment = monotonic_alignment_search(log_likelihood, token_mask, frame_mask)
    return durations_from_alignment(alignment)


def lipreader_workdir_config(workdir: str | os.PathLike):
    """The config of a lipreader workdir, read without restoring anything.

    Raises:
      CheckpointError: not a workdir, or a workdir of another system (named).
    """
    from lipjax.lipreading.system import LipreaderSystem
    from lipjax.training.system import system_class
    from lipjax.training.workdir import read_config

    config = read_config(workdir)
    cls = system_class(config, require=("generator_from_config",))
    if not issubclass(cls, LipreaderSystem):
        raise CheckpointError(f"{os.fspath(workdir)!r} is a workdir of {config.system}, not of "
                              "a lipreader (lipjax.lipreading.LipreaderSystem); train one with "
                              "experiments/configs/lipreader_*.py")
    return config


def restore_lipreader(workdir: str | os.PathLike):
    """`restore_generator(workdir)` of a lipreader workdir.

    Raises:
      CheckpointError: not a workdir or no checkpoint, or a workdir of another system (named).
    """
    from lipjax.training.workdir import restore_generator

    lipreader_workdir_config(workdir)
    return restore_generator(workdir)


class Aligner:
    """MAS durations of lips records from a trained lipreader (ParaLip Sec. 6).

    Records are padded to the lipreader's buckets (`config.data.buckets`, or `buckets`) and
    aligned `batch_size` at a time by one jitted function per bucket.
    """

    def __init__(self, workdir: str | os.PathLike, *, batch_size: int = 8,
                 buckets: Sequence[tuple[int, int]] | None = None):
        restored = restore_lipreader(workdir)
        self.workdir, self.step = os.fspath(workdir), restored.step
        self.config = restored.config
        self.system = restored.system_class.from_config(restored.config)
        self.vocab_size = int(restored.config.model.vocab_size)
        self.batch_size = int(batch_size)
        self.buckets = sorted(tuple(int(x) for x in b)
                              for b in (buckets or restored.config.data.buckets))
        variables = restored.variables

        def align(batch: Mapping[str, jax.Array]) -> jax.Array:
            logits, _ = self.system.generate(variables, batch, train=False, rngs={})
            return mas_durations(logits, batch["tokens"], batch["token_mask"],
                                 batch["frame_mask"])

        self._align = jax.jit(align)

    def check_record(self, record: Mapping[str, Any], name: str = "record") -> tuple[int, int]:
        """`(tokens, frames)` of a record this lipreader can align.

        Raises:
          DataError: token ids outside the lipreader's vocabulary, a video with fewer frames
            than tokens, or one longer than every bucket.
        """
        try:
            num_tokens, num_frames = lipreading_lengths(record, require_ctc_frames=False)
        except BadRecordError as error:
            raise DataError(f"{name}: {error}") from None
        tokens = np.asarray(record["tokens"])
        if tokens.min() < 1 or tokens.max() >= self.vocab_size:
            raise DataError(f"{name}: token ids {int(tokens.min())}..{int(tokens.max())} are "
                            f"not in the lipreader's vocabulary (1..{self.vocab_size - 1}, "
                            f"{self.config.data.get('vocabulary', '?')}); align a dataset with "
                            "the vocabulary the lipreader was trained on")
        if num_frames < num_tokens:
            raise DataError(f"{name}: {num_frames} frames cannot hold {num_tokens} tokens of "
                            "at least one frame each")
        if self.bucket_of(num_tokens, num_frames) is None:
            raise DataError(f"{name}: {num_tokens} tokens / {num_frames} frames fit none of "
                            f"the buckets {self.buckets}; pass larger --buckets")
        return num_tokens, num_frames

    def bucket_of(self, num_tokens: int, num_frames: int) -> tuple[int, int] | None:
        """The smallest bucket that holds a record, or None."""
        return next((b for b in self.buckets if num_tokens <= b[0] and num_frames <= b[1]),
                    None)

    def durations(self, records: Iterable[Mapping[str, Any]]) -> list[np.ndarray]:
        """int32 `[S]` MAS durations of each record, in order.

        Records are read once; each waits in its bucket's queue until `batch_size` records of
        that bucket are there (only durations are kept, never frames of a finished batch)."""
        results: dict[int, np.ndarray] = {}
        pending: dict[tuple[int, int], list[tuple[int, dict]]] = {}
        for index, record in enumerate(records):
            num_tokens, num_frames = self.check_record(record, f"record {index}")
            bucket = self.bucket_of(num_tokens, num_frames)
            example = lipreading_example(record, max_tokens=bucket[0], max_frames=bucket[1],
                                         rng=None, training=False)
            queue = pending.setdefault(bucket, [])
            queue.append((index, example))
            if len(queue) == self.batch_size:
                results.update(self._align_batch(queue))
                queue.clear()
        for queue in pending.values():
            if queue:
                results.update(self._align_batch(queue))
        return [results[i] for i in range(len(results))]

    def _align_batch(self, queue: list[tuple[int, dict]]) -> dict[int, np.ndarray]:
        examples = [e for _, e in queue]
        examples += [examples[0]] * (self.batch_size - len(examples))  # one shape per bucket
        batch = {k: np.stack([e[k] for e in examples]) for k in examples[0]}
        durations = np.asarray(self._align(batch))
        return {index: durations[row, :int(example["num_tokens"])].astype(np.int32)
                for row, (index, example) in enumerate(queue)}
