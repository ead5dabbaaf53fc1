"""The helpers of benchmarks/latency_vs_length.py (ParaLip Fig. 4 / Table 3): the predicted
lengths it sweeps, the text that makes ParaLip predict them, the Table-3 summary, and that
`--device gpu` refuses cleanly where JAX has no GPU. The sweep itself is not run here."""

import importlib.util
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lipjax.paralip.model import durations_from_log
from lipjax.text import GRID_CHARS
from tests._paths import REPO


def _module():
    path = os.path.join(REPO, "benchmarks", "latency_vs_length.py")
    spec = importlib.util.spec_from_file_location("latency_vs_length", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


latency = _module()


def test_predicted_lengths_are_three_frames_per_token():
    assert [latency.predicted_length(n) for n in (1, 25, 75, 76, 150, 301)] == [
        6, 24, 75, 75, 150, 300]


@pytest.mark.parametrize("frames", [24, 75, 150])
def test_benchmark_text_has_one_token_per_three_frames(frames):
    ids = GRID_CHARS.encode_sentence(latency.benchmark_text(frames, seed=0))
    assert len(ids) == frames // latency.FRAMES_PER_TOKEN   # `<sil>` at both ends included


def test_constant_duration_params_predict_three_frames_for_every_token():
    rng = np.random.default_rng(0)
    params = {"duration_predictor": {"linear": {"kernel": jnp.asarray(rng.normal(size=(8, 1))),
                                                "bias": jnp.zeros((1,))}, "conv": 1},
              "other": 2}
    fixed = latency.constant_duration_params(params)
    assert fixed["other"] == 2 and fixed["duration_predictor"]["conv"] == 1
    hidden = jnp.asarray(rng.normal(size=(2, 5, 8)), jnp.float32)
    linear = fixed["duration_predictor"]["linear"]
    log_d = (hidden @ linear["kernel"] + linear["bias"])[..., 0]
    assert float(linear["bias"][0]) == pytest.approx(math.log(4))
    np.testing.assert_array_equal(durations_from_log(log_d, jnp.ones((2, 5), bool)), 3)


def test_summary_speedups_against_the_paper():
    rows = [{"num_frames": n, "median_s": {"ParaLip": 0.1 * n, "TransformerT2L": 0.2 * n,
                                           "DualLip": 0.4 * n}} for n in (75, 150, 240)]
    out = latency.summary(rows)
    assert out["GRID"]["num_frames"] == [75]
    assert out["GRID"]["speedup_of_paralip"] == pytest.approx(
        {"TransformerT2L": 2.0, "DualLip": 4.0})
    assert out["TIMIT"]["num_frames"] == [150, 240]
    assert out["TIMIT"]["latency_s"]["ParaLip"] == pytest.approx(0.1 * 195)
    assert out["GRID"]["paper_speedup_of_paralip"]["DualLip"] == pytest.approx(0.299 / 0.022)


@pytest.mark.skipif(any(d.platform == "gpu" for d in jax.devices()), reason="a GPU is present")
def test_device_gpu_refuses_without_a_gpu():
    with pytest.raises(SystemExit, match="--device gpu"):
        latency.select_device("gpu")


def test_bad_lengths_are_a_usage_error():
    assert latency.parse_args(["--lengths", "25,75", "--device", "gpu"])[1] == [25, 75]
    for bad in ("25,x", "0,75"):
        with pytest.raises(SystemExit):
            latency.parse_args(["--lengths", bad])
