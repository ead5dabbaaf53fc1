"""The pure helpers of experiments/mas_durations.py (the script trains for an hour and is not run
here): the GRID word-timing path, the uniform split and the duration-error summary, against
durations worked out by hand."""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

from lipjax.text import GRID_CHARS, SIL_ID
from tests._paths import REPO

EXPERIMENTS = os.path.join(REPO, "experiments")


@pytest.fixture(scope="module")
def mas():
    if EXPERIMENTS not in sys.path:
        sys.path.insert(0, EXPERIMENTS)
    path = os.path.join(EXPERIMENTS, "mas_durations.py")
    spec = importlib.util.spec_from_file_location("mas_durations", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_word_timings_keep_word_edges_and_split_each_word_evenly(mas):
    tokens = GRID_CHARS.encode("bin blue", add_silence=True)  # <sil> b i n ' ' b l u e <sil>
    exact = np.array([3, 1, 2, 3, 1, 2, 5, 1, 4, 4])
    # "bin" spans frames 3..9 (6 frames, 2 per letter), the space 1 frame, "blue" 12 frames
    # (3 per letter); the silences are kept.
    expected = np.array([3, 2, 2, 2, 1, 3, 3, 3, 3, 4])
    np.testing.assert_array_equal(mas.word_timing_durations(tokens, exact), expected)


def test_uniform_split_sums_to_the_frames_and_differs_by_at_most_one(mas):
    for durations in (np.array([5, 1, 1, 2]), np.array([1, 1, 1]), np.array([9, 2, 2, 3, 1])):
        uniform = mas.uniform_durations(durations)
        assert uniform.shape == durations.shape and uniform.sum() == durations.sum()
        assert uniform.max() - uniform.min() <= 1 and uniform.min() >= 1


def test_duration_errors_by_hand(mas):
    space = GRID_CHARS.symbols.index(" ")
    letter = GRID_CHARS.symbols.index("b")
    tokens = [np.array([SIL_ID, letter, space, letter, SIL_ID])]
    truth = [np.array([2, 3, 1, 2, 4])]
    estimate = [np.array([3, 2, 1, 2, 4])]  # errors 1, 1, 0, 0, 0; boundaries 3-2, 5-5, ...
    errors = mas.duration_errors(truth, tokens, estimate)
    assert errors["abs_error"] == pytest.approx(2 / 5)
    assert errors["exact"] == pytest.approx(3 / 5)
    assert errors["boundary_shift"] == pytest.approx(1 / 4)
    assert errors["histogram"] == [3, 2, 0, 0, 0, 0]
    assert errors["by_kind"]["sil"] == {"abs_error": 0.5, "exact": 0.5, "tokens": 2}
    assert errors["by_kind"]["letter"] == {"abs_error": 0.5, "exact": 0.5, "tokens": 2}
    assert errors["by_kind"]["space"] == {"abs_error": 0.0, "exact": 1.0, "tokens": 1}
