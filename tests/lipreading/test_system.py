"""The lipreader trains as a lipjax System, and its evaluation (CTC, CER, WER, alignment error)
agrees with the same quantities computed in NumPy from its outputs."""

from __future__ import annotations

import numpy as np
import pytest

from lipjax.data.builders import load_split
from lipjax.lipreading import Aligner, lipreading_example
from lipjax.text import GRID_CHARS, SIL_ID
from lipjax.training.evaluation import evaluate_workdir
from lipjax.training.workdir import restore_generator
from tests.lipreading.test_decode import levenshtein

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tiny_lipreader):
    return tiny_lipreader


def test_trains_and_reports_every_metric(trained):
    _, _, result = trained
    assert result["final_step"] == 3 and result["skipped_steps"] == 0
    assert set(result["eval"]) == {"ctc", "cer", "wer", "sentence_accuracy",
                                   "duration_abs_error", "duration_exact"}
    assert np.isfinite(result["eval"]["ctc"]) and result["eval"]["ctc"] > 0
    assert 0 <= result["eval"]["duration_exact"] <= 1


def _numpy_rates(logits, records):
    """CER and WER of greedy decoding, computed with plain Python."""
    char_errors = chars = word_errors = words = 0
    for row, record in zip(logits, records):
        best = row[:len(record["frames"])].argmax(-1)
        hyp = [int(c) for i, c in enumerate(best) if c != 0 and (i == 0 or c != best[i - 1])]
        hyp_text = GRID_CHARS.decode_text(np.asarray([c for c in hyp if c != SIL_ID], np.int64))
        ref_text = GRID_CHARS.decode_text(record["tokens"])
        char_errors += levenshtein(hyp_text, ref_text)
        chars += len(ref_text)
        word_errors += levenshtein(hyp_text.split(), ref_text.split())
        words += len(ref_text.split())
    return char_errors / chars, word_errors / words


def test_evaluation_equals_a_numpy_recomputation(trained):
    data_dir, workdir, _ = trained
    result = evaluate_workdir(workdir, split="test", progress=False)
    restored = restore_generator(workdir)
    source = load_split("synthetic_lips", "test", data_dir=data_dir, config="tiny")
    records = [source[i] for i in range(len(source))]
    examples = [lipreading_example(r, max_tokens=40, max_frames=112, rng=None, training=False)
                for r in records]
    frames = np.stack([e["frames"] for e in examples])
    masks = np.stack([e["frame_mask"] for e in examples])
    logits = np.asarray(restored.module.apply(restored.variables, frames, masks))
    cer, wer = _numpy_rates(logits, records)
    assert result["cer"] == pytest.approx(cer, abs=1e-6)
    assert result["wer"] == pytest.approx(wer, abs=1e-6)
    aligned = Aligner(workdir, batch_size=2).durations(records)
    difference = np.concatenate([np.abs(a - r["durations"]) for a, r in zip(aligned, records)])
    assert result["duration_abs_error"] == pytest.approx(difference.mean(), abs=1e-5)
    assert result["duration_exact"] == pytest.approx(np.mean(difference == 0), abs=1e-6)
