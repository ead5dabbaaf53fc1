"""`benchmarks/gpu_suite.sh --cpu --tiny` runs the parts of the speed suite and merges them
into one JSON with the papers' figures (no timing is checked: only that it runs and reports);
`benchmarks/_profile.py` attributes a compiled call's time to its ops."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_suite_runs_on_the_cpu_in_tiny_mode(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, JAX_PLATFORMS="cpu",
               LIPJAX_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("XLA_FLAGS", None)  # one host device, as the benchmarks expect
    # compile_cache (three CLI start-ups) is left out to keep this test short; the CLI's
    # persistent cache itself is tested in test_compile_cache.py
    result = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_suite.sh"), "--cpu",
                             "--tiny", "--skip", "compile_cache", "--out",
                             str(tmp_path / "suite")], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "suite" / "gpu_suite.json").read_text())
    assert report["tiny"] and report["missing_parts"] == ["compile_cache"]
    assert "skipping compile_cache" in result.stdout
    assert report["papers"]["DCK ms per 256x256 frame"]["generator"] == 4.7
    parts = report["parts"]
    families = {row["family"] for row in parts["vs_pytorch"]["results"]}
    assert families == {"ParaLip", "Wav2Lip", "DCK"}
    for row in parts["vs_pytorch"]["results"]:
        assert row["median_s"]["lipjax"] > 0 and row["model_flops"] > 0
    assert [row["system"] for row in parts["train_step"]["results"]] == ["paralip"]
    assert parts["train_step"]["results"][0]["examples_per_s"] > 0
    assert parts["talk_pipeline"]["pipeline"]["frames"] == 25
    assert any(key.startswith("ParaLip ms per video") for key in report["measured"])
    assert (tmp_path / "suite" / "parts" / "vs_pytorch.png").stat().st_size > 0


def test_the_suite_refuses_to_start_without_a_gpu(tmp_path):
    if __import__("jax").default_backend() == "gpu":
        pytest.skip("a GPU is present")
    env = dict(os.environ, PYTHON=sys.executable, JAX_PLATFORMS="cpu")
    result = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_suite.sh"), "--out",
                             str(tmp_path / "suite")], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 2 and "pass --cpu" in result.stderr
    assert not (tmp_path / "suite").exists()


def test_the_op_profile_finds_the_convolution():
    import jax
    import numpy as np

    sys.path.insert(0, str(REPO / "benchmarks"))
    from _profile import op_profile

    x = np.random.default_rng(0).random((4, 64, 64, 32), np.float32)
    w = np.random.default_rng(1).random((3, 3, 32, 64), np.float32)
    fn = jax.jit(lambda x, w: jax.numpy.tanh(jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))))
    report = op_profile(fn, x, w, calls=2)
    assert report["calls"] == 2 and report["wall_s"] > 0 and report["thunk_s"] > 0
    assert abs(sum(row["share"] for row in report["by_kind"]) - 1) < 1e-6
    # the convolution (a YNNPACK call or an Eigen convolution) dominates, and its thunk is
    # traced back to the jax primitive that produced it
    assert report["top_ops"][0]["layer"] == "conv_general_dilated"
    assert report["top_ops"][0]["share"] > 0.5
    assert report["by_layer"][0]["layer"] == "conv_general_dilated"
