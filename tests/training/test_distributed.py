"""Multi-process training through `jax.distributed`: two local processes on 127.0.0.1, each
with two forced CPU devices (gloo collectives), against one process with four devices.

The runs are `lipjax train` commands (the console script's `main`, with its fork supervisor)
on the toy system (`tests._toy_system`) and in-memory records, through a driver that replaces
the loop's `load_source` (as tests/training/test_faults.py does) and logs, per process, the
index of every training record it reads. They show:

(a) each process reads a disjoint shard, the shards together are the epoch, and at every step
    they are exactly the global batch that one process reads;
(b) the parameters (the whole TrainState) after 6 steps equal those of one process with the same
    global batch to float rounding, for pmap and for shard_map (see TOLERANCE), and evaluation
    gives the same numbers on both processes;
(c) checkpoints are written once (only process 0's orbax files), metrics once per step, and a
    2-process run resumes from its step-3 checkpoint to the bitwise state of an uninterrupted one;
(d) a process killed with SIGKILL stops the other with exit status 75 and a message that says a
    peer died and what to do, within seconds (heartbeat timeout 5 s), whichever one dies; and
    processes started with different configs stop together with one error at start-up.

Nine launches of ~30 s each on 2 idle cores (~115 s each with the cores 10x oversubscribed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest

from lipjax.errors import ConfigError
from lipjax.training import distributed
from lipjax.training.checkpoint import Checkpointer
from lipjax.training.state import init_state, make_rng
from lipjax.training.system import make_system
from lipjax.training.workdir import checkpoint_dir
from tests._paths import REPO

NUM_STEPS = 6        # two epochs: 24 records in global batches of 8
RECORDS = 24
GLOBAL_BATCH = 8
TIMEOUT = 480        # seconds for any one launch (~30 s on 2 idle cores); a hang fails
# (b): the runs differ only in how the cross-device sums are added up (XLA's in-process
# all-reduce vs gloo's across processes), i.e. in the last bit of each psum; after 6 Adam
# steps the largest difference measured is 1.1e-7 of a leaf's largest magnitude (float32
# eps is 1.2e-7). A wrong placement of the batch changes the state by ~1e-2.
TOLERANCE = 1e-6

_CONFIG = textwrap.dedent(f"""
    import ml_collections
    from tests._tiny_configs import tiny_paralip_config

    def get_config():
        config = tiny_paralip_config("unused", adv=0.5, num_steps={NUM_STEPS})
        config.system = "tests._toy_system.ToySystem"
        config.data.batch_size = {GLOBAL_BATCH}
        config.data.eval_batch_size = {GLOBAL_BATCH}
        config.train.update(dict(checkpoint_every=3, checkpoints_to_keep=None))
        config.train.distributed = ml_collections.ConfigDict(dict(
            enabled=None, coordinator=None, num_processes=None, process_id=None,
            heartbeat_timeout_s=5, initialization_timeout_s=120, shutdown_timeout_s=60),
            type_safe=False)
        return config
""")

# `lipjax` on in-memory toy records; with TOY_READS set, every process appends the index of each
# training record it turns into an example to TOY_READS/reads_<process>.txt.
_DRIVER = textwrap.dedent(f"""
    import os, sys
    import numpy as np
    import lipjax.training.evaluation as evaluation
    import lipjax.training.loop as loop
    from lipjax import cli
    from tests._toy_system import ToySystem

    def toy_source(data_config, split):
        count = {RECORDS} if split == "train" else 8
        x = np.random.default_rng(0 if split == "train" else 1).normal(size=(count, 6))
        return [{{"x": row.astype(np.float32), "y": np.tanh(row[::-1]).astype(np.float32),
                  "i": np.int32(i)}} for i, row in enumerate(x)]

    example_fn = ToySystem.example_fn

    def logged(self, record, *, training, **kwargs):
        if training and os.environ.get("TOY_READS"):
            import jax
            path = os.path.join(os.environ["TOY_READS"], f"reads_{{jax.process_index()}}.txt")
            with open(path, "a") as f:
                f.write(f"{{int(record['i'])}}\\n")
        return example_fn(self, record, training=training, **kwargs)

    ToySystem.example_fn = logged
    loop.load_source = evaluation.load_source = toy_source
    sys.exit(cli.main(sys.argv[1:]))
""")


# ---------------------------------------------------------------------------------------------
# Launching


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(config: Path, workdir: Path, *, processes: int, devices: int,
            overrides: tuple[str, ...] = (), process_overrides: dict | None = None
            ) -> list[subprocess.Popen]:
    """`lipjax train` as `processes` processes with `devices` CPU devices each
    (`process_overrides`: {process: more overrides})."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", TOY_READS=str(workdir.parent),
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]).rstrip(":"))
    args = ["train", "--config", str(config), "--workdir", str(workdir), "--no_progress"]
    for override in overrides:
        args += ["--set", override]
    port = _free_port()
    launched = []
    for process in range(processes):
        flags = ([] if processes == 1 else
                 ["--coordinator", f"127.0.0.1:{port}", "--num_processes", str(processes),
                  "--process_id", str(process)])
        for override in (process_overrides or {}).get(process, ()):
            flags += ["--set", override]
        launched.append(subprocess.Popen([sys.executable, "-c", _DRIVER, *args, *flags],
                                         cwd=REPO, env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True))
    return launched


def _finish(launched: list[subprocess.Popen], timeout: float = TIMEOUT
            ) -> list[tuple[int, str, str]]:
    deadline = time.monotonic() + timeout
    results = []
    for process in launched:
        try:
            out, err = process.communicate(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            for p in launched:
                p.kill()
            pytest.fail(f"a process hung (killed after {timeout} s)")
        results.append((process.returncode, out, err))
    return results


def _train(config: Path, workdir: Path, *, processes: int, devices: int,
           overrides: tuple[str, ...] = ()) -> list[dict]:
    """Runs to the end; returns each process's printed result."""
    finished = _finish(_launch(config, workdir, processes=processes, devices=devices,
                               overrides=overrides))
    for status, _, err in finished:
        assert status == 0, err[-3000:]
    return [json.loads(out[out.index("{\n"):]) for _, out, _ in finished]  # gloo prints too


def _reads(folder: Path, process: int) -> list[int]:
    return [int(line) for line in (folder / f"reads_{process}.txt").read_text().split()]


# ---------------------------------------------------------------------------------------------
# States


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "toy_distributed.py"
    path.write_text(_CONFIG)
    return path


@pytest.fixture(scope="module")
def template():
    namespace: dict = {}
    exec(_CONFIG, namespace)
    config = namespace["get_config"]()
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch((1, 1)), make_rng(config))
    return jax.device_get(state)


def _restore(workdir: Path, template) -> tuple:
    checkpointer = Checkpointer(checkpoint_dir(workdir), async_save=False, create=False)
    try:
        return checkpointer.restore(template)
    finally:
        checkpointer.close()


def _leaves(state) -> list[tuple[str, np.ndarray]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(state)
    return [(jax.tree_util.keystr(path), np.asarray(leaf)) for path, leaf in flat]


def _run(tmp_path_factory, config_file, name: str, *, processes: int, devices: int,
         kind: str) -> dict:
    folder = tmp_path_factory.mktemp(name)
    results = _train(config_file, folder / "run", processes=processes, devices=devices,
                     overrides=(f"train.parallel={kind}",))
    return {"kind": kind, "folder": folder, "workdir": folder / "run", "results": results}


@pytest.fixture(scope="module")
def single(tmp_path_factory, config_file) -> dict:
    """The reference: 6 steps in one process with 4 devices (shard_map; one process's pmap
    gives the same bits, tests/training/test_parallel.py)."""
    return _run(tmp_path_factory, config_file, "single", processes=1, devices=4,
                kind="shard_map")


@pytest.fixture(scope="module", params=["shard_map", "pmap"])
def multi(request, tmp_path_factory, config_file) -> dict:
    """The same 6 steps in 2 processes with 2 devices each."""
    return _run(tmp_path_factory, config_file, f"multi_{request.param}", processes=2,
                devices=2, kind=request.param)


# ---------------------------------------------------------------------------------------------
# (a) - (c)


@pytest.mark.slow
def test_each_process_reads_a_disjoint_shard_and_together_the_global_batch(single, multi):
    whole = _reads(single["folder"], 0)
    shards = [_reads(multi["folder"], p) for p in range(2)]
    per_process = GLOBAL_BATCH // 2
    assert len(whole) == NUM_STEPS * GLOBAL_BATCH
    assert [len(s) for s in shards] == [NUM_STEPS * per_process] * 2
    steps_per_epoch = RECORDS // GLOBAL_BATCH
    for epoch in range(NUM_STEPS // steps_per_epoch):
        part = slice(epoch * steps_per_epoch * per_process,
                     (epoch + 1) * steps_per_epoch * per_process)
        first, second = set(shards[0][part]), set(shards[1][part])
        assert not first & second, f"epoch {epoch}: the shards overlap"
        assert first | second == set(range(RECORDS)), f"epoch {epoch}: not the whole epoch"
    for step in range(NUM_STEPS):  # process p holds the p-th block of the global batch
        rows = slice(step * per_process, (step + 1) * per_process)
        assert shards[0][rows] + shards[1][rows] == \
            whole[step * GLOBAL_BATCH:(step + 1) * GLOBAL_BATCH], f"step {step}"


@pytest.mark.slow
def test_two_processes_train_the_parameters_of_one(single, multi, template):
    one, one_meta = _restore(single["workdir"], template)
    two, two_meta = _restore(multi["workdir"], template)
    assert one_meta["step"] == two_meta["step"] == NUM_STEPS
    assert two_meta["pipeline"]["epoch"] == one_meta["pipeline"]["epoch"] == 2
    moved = 0.0
    for (key, a), (_, b), (_, start) in zip(_leaves(two), _leaves(one), _leaves(template)):
        assert a.shape == b.shape and a.dtype == b.dtype, key
        scale = max(float(np.max(np.abs(b))), 1e-30) if b.size else 1.0
        difference = float(np.max(np.abs(a.astype(np.float64) - b))) if b.size else 0.0
        assert difference <= TOLERANCE * scale, f"{key}: {difference:.3g} of {scale:.3g}"
        if key.startswith(".generator.params"):
            moved = max(moved, float(np.max(np.abs(b - start))))
    assert moved > 1e-3  # training changed the parameters: not a comparison of no-ops
    # evaluation: the same numbers on both processes, those of the single process
    first, second = (r["eval"] for r in multi["results"])
    assert first == second and set(first) == {"mae"}
    np.testing.assert_allclose(first["mae"], single["results"][0]["eval"]["mae"], rtol=1e-5)


@pytest.mark.slow
def test_process_zero_writes_checkpoints_metrics_and_config_once(multi):
    workdir = multi["workdir"]
    steps = sorted(int(n) for n in os.listdir(checkpoint_dir(workdir)) if n.isdigit())
    assert steps == [3, 6]
    for step in steps:  # orbax: one writer (process 0) of the replicated state
        names = os.listdir(Path(checkpoint_dir(workdir)) / str(step) / "state")
        assert [n for n in names if n.startswith("ocdbt.process_")] == ["ocdbt.process_0"]
    lines = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "train/loss/l1" in line] == list(range(1, 7))
    assert [line["step"] for line in lines if "eval/mae" in line] == [NUM_STEPS]
    events = [p.name for p in (workdir / "tensorboard").iterdir() if p.name.startswith("events")]
    assert len(events) == 1, events  # one writer
    assert json.loads((workdir / "config.json").read_text())["system"].endswith("ToySystem")
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith("eval_")) == \
        ["eval_6.json"]


@pytest.mark.slow
def test_two_processes_resume_their_checkpoint_bitwise(multi, tmp_path, config_file, template):
    """A workdir holding step 3 of the 2-process run (its config and that step folder, as a run
    stopped after step 3 leaves it) resumed by 2 processes ends bitwise where the
    uninterrupted run ended, having read exactly the records of steps 4-6."""
    if multi["kind"] != "shard_map":
        pytest.skip("resuming is shown once (pmap and shard_map share the checkpoint code)")
    workdir = tmp_path / "run"
    shutil.copytree(Path(checkpoint_dir(multi["workdir"])) / "3",
                    Path(checkpoint_dir(workdir)) / "3")
    shutil.copy(multi["workdir"] / "config.json", workdir / "config.json")
    _train(config_file, workdir, processes=2, devices=2, overrides=("train.parallel=shard_map",))
    resumed, meta = _restore(workdir, template)
    uninterrupted, meta_u = _restore(multi["workdir"], template)
    assert meta["step"] == meta_u["step"] == NUM_STEPS
    assert meta["pipeline"] == meta_u["pipeline"]  # the data position
    for (key, a), (_, b) in zip(_leaves(resumed), _leaves(uninterrupted)):
        assert a.tobytes() == b.tobytes(), f"{key} differs"
    half = NUM_STEPS // 2 * GLOBAL_BATCH // 2
    for p in range(2):  # the resumed processes continued the data at step 4
        assert _reads(tmp_path, p) == _reads(multi["folder"], p)[half:]


# ---------------------------------------------------------------------------------------------
# (d) failures


@pytest.mark.slow
@pytest.mark.parametrize("victim", [1, 0])
def test_a_killed_process_stops_the_other_with_a_clear_error(tmp_path, config_file, victim):
    workdir = tmp_path / "run"
    launched = _launch(config_file, workdir, processes=2, devices=2,
                       overrides=("train.num_steps=1000000", "train.checkpoint_every=1000000",
                                  "train.eval_every=1000000", "train.log_every=50"))
    deadline = time.monotonic() + TIMEOUT
    metrics = workdir / "metrics.jsonl"
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2):  # training runs
        if any(p.poll() is not None for p in launched) or time.monotonic() > deadline:
            for p in launched:
                p.kill()
            pytest.fail("training never started: " + launched[0].communicate()[1][-3000:])
        time.sleep(0.2)
    killed_at = time.monotonic()
    launched[victim].send_signal(signal.SIGKILL)  # the process the launcher started
    status, _, err = _finish([launched[1 - victim]], timeout=120)[0]
    waited = time.monotonic() - killed_at
    launched[victim].wait()
    assert status == distributed.PEER_FAILURE_STATUS, err[-3000:]
    message = [line for line in err.splitlines() if line.startswith("lipjax: error:")]
    assert message, err[-3000:]
    for words in ("another process of", "Relaunch all", "last checkpoint"):
        assert words in message[-1], message[-1]
    print(f"process {1 - victim} stopped {waited:.1f} s after process {victim} was killed: "
          f"{message[-1]}")
    assert waited < 60


@pytest.mark.slow
def test_processes_started_differently_stop_together(tmp_path, config_file):
    """A start-up disagreement (here: another learning rate on process 1) is one error on
    every process, with status 2, instead of a run that silently trains two models."""
    workdir = tmp_path / "run"
    for status, _, err in _finish(_launch(
            config_file, workdir, processes=2, devices=2,
            process_overrides={1: ("optim.generator.learning_rate=0.5",)})):
        assert status == 2, err[-3000:]
        assert "the processes prepared different runs" in err, err[-3000:]
    assert not (workdir / "config.json").exists()


# ---------------------------------------------------------------------------------------------
# Settings (no processes)


def _config(**section) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict({"train": {"distributed": ml_collections.ConfigDict(
        section, type_safe=False)}})


def test_settings_come_from_flags_config_or_a_launcher():
    assert distributed.resolve(_config(), environ={}) is None  # plain single process
    spec = distributed.resolve(_config(coordinator="127.0.0.1:1234", num_processes=2,
                                       process_id=1), environ={})
    assert (spec.coordinator, spec.num_processes, spec.process_id) == ("127.0.0.1:1234", 2, 1)
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "node[1-2]", "SLURM_NTASKS": "4",
             "SLURM_PROCID": "3", "SLURM_LOCALID": "1"}
    assert distributed.launcher_environment(slurm) == "SLURM (4 tasks)"
    spec = distributed.resolve(_config(), environ=slurm)  # JAX reads the values itself
    assert spec.source == "SLURM (4 tasks)" and spec.coordinator is None
    assert distributed.launcher_environment({**slurm, "SLURM_NTASKS": "1"}) is None
    assert distributed.launcher_environment({"TPU_WORKER_HOSTNAMES": "a,b"}) == \
        "Cloud TPU (2 hosts)"
    assert distributed.resolve(_config(enabled=False), environ=slurm) is None
    assert distributed.resolve(_config(enabled=True), environ={}).source == \
        "train.distributed.enabled"


@pytest.mark.parametrize("section, match", [
    ({"coordinator": "127.0.0.1:1234"}, "missing: --num_processes, --process_id"),
    ({"coordinator": "localhost", "num_processes": 2, "process_id": 0}, "HOST:PORT"),
    ({"coordinator": "h:99999", "num_processes": 2, "process_id": 0}, "HOST:PORT"),
    ({"coordinator": "h:1", "num_processes": 2, "process_id": 2}, "0..1"),
    ({"coordinator": "h:1", "num_processes": 0, "process_id": 0}, "num_processes"),
    ({"enabled": False, "process_id": 0}, "enabled is False"),
    ({"enabled": "yes"}, "enabled must be"),
])
def test_bad_settings_are_config_errors(section, match):
    with pytest.raises(ConfigError, match=match):
        distributed.resolve(_config(**section), environ={})
