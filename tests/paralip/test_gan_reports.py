"""The report side of the GAN and quality-table experiments (experiments/gan_training.py,
experiments/quality_tables.py --report_only) on small hand-made inputs: the curves, the
evaluations and the tables they write come from the inputs. The training runs themselves take
CPU-hours and are not run here."""

import json
import os
import subprocess
import sys

import pytest

from tests._paths import REPO

pytestmark = pytest.mark.filterwarnings("ignore")


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS="cpu", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, os.path.join(REPO, "experiments", name), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def _write(path, data) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_gan_training_reads_workdirs_and_diagnostics(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    _write(workdir / "metrics.jsonl", "".join(json.dumps(
        {"step": s, "train/loss/l1": 1.0 / s, "train/loss/discriminator": 0.5}) + "\n"
        for s in (10, 20)))
    _write(workdir / "eval_20.json", {"psnr/gt_dur": 20.0, "psnr/identity_baseline": 18.0,
                                      "sharpness/gt_dur": 0.6})
    _write(workdir / "config.json", {"system": "paralip", "loss": {"adv": 5.0},
                                     "optim": {"generator": {"learning_rate": 1e-3}}})
    diagnostics = _write(tmp_path / "diag.json", {
        "config": "c.py", "overrides": ["a=1"], "runs": {"paper": [
            {"step": 0, "view": {}},
            {"step": 10, "view": {}, "train": {"loss/l1": 0.3, "loss/adv": 0.9}},
            {"step": 20, "eval": {"psnr/gt_dur": 21.5}}]}})
    out = tmp_path / "out"
    result = _script("gan_training.py", f"--out={out}", f"--run=A={workdir}",
                     f"--diagnostics=B={diagnostics}#paper")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "gan_training.json").read_text())
    assert list(report["runs"]) == ["A", "B"]
    a, b = report["runs"]["A"], report["runs"]["B"]
    assert a["curves"]["loss/l1"] == [[10, 0.1], [20, 0.05]]
    assert a["evaluations"]["20"]["psnr/gt_dur"] == 20.0 and a["loss"] == {"adv": 5.0}
    assert b["curves"] == {"loss/l1": [[10, 0.3]], "loss/adv": [[10, 0.9]]}
    assert b["evaluations"] == {"20": {"psnr/gt_dur": 21.5}}
    assert (out / "gan_training.png").stat().st_size > 1000

    missing = _script("gan_training.py", f"--out={out}", f"--diagnostics=B={diagnostics}#warmup")
    assert missing.returncode != 0 and "no variant 'warmup'" in missing.stderr


def _result(psnr: float, seconds: float) -> dict:
    ev = {f"{m}/{s}": v for s in ("gt_dur", "pred_dur") for m, v in
          (("psnr", psnr), ("ssim", 0.5), ("lmd", 3.0))}
    return {"steps": 40, "train_seconds": seconds, "eval": {
        **ev, "psnr/identity_baseline": 18.0, "ssim/identity_baseline": 0.4,
        "lmd/identity_baseline": 5.0}}


def test_quality_tables_report_only_gathers_finished_runs(tmp_path):
    for name, psnr, seconds in (("paralip_ssim", 21.25, 100.0),
                                ("paralip_ssim_adv", 22.5, 150.0), ("not_a_run", 1.0, 1.0)):
        (tmp_path / name).mkdir()
        _write(tmp_path / name / "quality_result.json", _result(psnr, seconds))
    result = _script("quality_tables.py", f"--out={tmp_path}", "--report_only")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| ParaLip | 21.250 | 0.500 | 3.000 | 100 |" in result.stdout
    assert "| +SSIM+ADV | 22.500 | 0.500 | 3.000 | 22.500 | 0.500 | 3.000 | 150 |" in result.stdout
    assert "| repeat the identity frame | 18.000 | 0.400 | 5.000 | - |" in result.stdout
    report = json.loads((tmp_path / "quality_tables.json").read_text())
    assert sorted(report["runs"]) == ["paralip_ssim", "paralip_ssim_adv"]
    assert report["total_train_seconds"] == 250.0 and report["steps_per_run"] == [40]
    assert (tmp_path / "quality_tables.png").stat().st_size > 1000

    empty = tmp_path / "empty"
    empty.mkdir()
    assert _script("quality_tables.py", f"--out={empty}", "--report_only").returncode != 0
