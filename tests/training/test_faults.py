"""Fault tests: `lipjax` commands killed or interrupted in a subprocess, at the moments that
matter, leave workdirs that resume exactly and outputs that are either complete or absent.

Training runs use the toy system (`tests._toy_system`) on `tiny_paralip_config`'s loop settings
(a checkpoint every step, so kills land in a save often), with in-memory records instead of a
tfds corpus: the driver below replaces the loop's `load_source` and then runs the real console
script, `lipjax.cli.main`, with its signal handling. A resumed run must end bitwise where an
uninterrupted one ends (the whole TrainState: both networks, BatchNorm statistics, both optimiser
states, the step; and the data position).

Kills are placed by watching the workdir (a step folder, or orbax's temporary folder of a save
in progress) and, for restores, by a marker line that the driver prints as a restore starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Callable

import jax
import numpy as np
import pytest

from lipjax.training.checkpoint import Checkpointer
from lipjax.training.state import TrainState, init_state, make_rng
from lipjax.training.system import make_system
from lipjax.training.workdir import checkpoint_dir
from tests._paths import REPO

NUM_STEPS = 10
TIMEOUT = 120  # seconds for any one subprocess (a hang is a failure, not a stuck suite)
_TMP_MARK = ".orbax-checkpoint-tmp"

# A config file for `lipjax train --config`: the tiny loop settings, the toy system.
_CONFIG = textwrap.dedent(f"""
    from tests._tiny_configs import tiny_paralip_config

    def get_config():
        config = tiny_paralip_config("unused", adv=0.5, num_steps={NUM_STEPS})
        config.system = "tests._toy_system.ToySystem"
        config.train.tensorboard = False
        config.train.checkpoints_to_keep = 3
        return config
""")

# Runs `lipjax.cli.main(argv)` on in-memory toy records. With LIPJAX_FAULT_MARK_RESTORE set,
# prints "restore started" when a checkpoint restore begins and "restore finished" when it has
# returned, then waits (so that a late signal still finds the command running).
_DRIVER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    import lipjax.training.evaluation as evaluation
    import lipjax.training.loop as loop
    from lipjax import cli
    from lipjax.training.checkpoint import Checkpointer

    def toy_source(data_config, split):
        rng = np.random.default_rng(0 if split == "train" else 1)
        x = rng.normal(size=(24, 6)).astype(np.float32)
        return [{"x": row, "y": np.tanh(row[::-1]).copy()} for row in x]

    def marked(restore):
        def wrapper(*args, **kwargs):
            print("restore started", flush=True)
            result = restore(*args, **kwargs)
            print("restore finished", flush=True)
            time.sleep(60)
            return result
        return wrapper

    loop.load_source = evaluation.load_source = toy_source
    if os.environ.get("LIPJAX_FAULT_MARK_RESTORE"):
        Checkpointer.restore = marked(Checkpointer.restore)
        Checkpointer.restore_generator = marked(Checkpointer.restore_generator)
    sys.exit(cli.main(sys.argv[1:]))
""")


# ---------------------------------------------------------------------------------------------
# Subprocesses


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=2",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]).rstrip(":"))
    env.update(extra)
    return env


def _lipjax(args: list[str], **extra_env: str) -> subprocess.Popen:
    """`lipjax ARGS` through the toy driver, stdout and stderr captured as text."""
    return subprocess.Popen([sys.executable, "-c", _DRIVER, *args], cwd=REPO, env=_env(**extra_env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _train_args(config: Path, workdir: Path) -> list[str]:
    return ["train", "--config", str(config), "--workdir", str(workdir), "--no_progress"]


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    """Waits for `process`; returns (status, stdout, stderr)."""
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the command hung (killed after {TIMEOUT} s): {err[-2000:]}")
    return process.returncode, out, err


def _train(config: Path, workdir: Path) -> None:
    status, _, err = _finish(_lipjax(_train_args(config, workdir)))
    assert status == 0, err[-3000:]


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen, what: str,
              poll_s: float = 0.001) -> None:
    """Polls `condition` until it holds; fails if `process` ends or TIMEOUT passes first."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            _, err = process.communicate()
            pytest.fail(f"never saw {what} (status {process.returncode}): {err[-3000:]}")
        time.sleep(poll_s)


def _steps(workdir: Path) -> list[int]:
    folder = Path(checkpoint_dir(workdir))
    names = os.listdir(folder) if folder.is_dir() else []
    return sorted(int(name) for name in names if name.isdigit())


def _saves_in_progress(workdir: Path) -> list[str]:
    folder = Path(checkpoint_dir(workdir))
    return [n for n in (os.listdir(folder) if folder.is_dir() else []) if _TMP_MARK in n]


def _clean_interrupt(status: int, err: str, expected: int) -> None:
    """`expected` status and nothing on stderr but "lipjax: interrupted" (and absl's log lines):
    no traceback, no crash report, no warning of an orbax coroutine cut short."""
    assert status == expected, err[-3000:]
    lines = [line for line in err.splitlines()
             if line.strip() and not line.startswith("WARNING:absl:")]
    assert lines == ["lipjax: interrupted"], err[-3000:]


# ---------------------------------------------------------------------------------------------
# Checkpoints and states


def _template() -> TrainState:
    """A freshly initialised toy TrainState: the structure to restore into."""
    namespace: dict = {}
    exec(_CONFIG, namespace)
    config = namespace["get_config"]()
    system = make_system(config)
    state, _ = init_state(system, config, system.example_batch((1, 1)), make_rng(config))
    return jax.device_get(state)


def _restore(workdir: Path, template: TrainState) -> tuple[TrainState, dict]:
    """The newest checkpoint of `workdir`; a damaged one (a fallback warning) fails the test."""
    checkpointer = Checkpointer(checkpoint_dir(workdir), async_save=False, create=False)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*cannot be read")
            return checkpointer.restore(template)
    finally:
        checkpointer.close()


def _assert_bitwise_equal(got: tuple[TrainState, dict], want: tuple[TrainState, dict]) -> None:
    (got_state, got_meta), (want_state, want_meta) = got, want
    assert got_meta["step"] == want_meta["step"] and got_meta["pipeline"] == want_meta["pipeline"]
    got_leaves, got_tree = jax.tree_util.tree_flatten_with_path(got_state)
    want_leaves, want_tree = jax.tree.flatten(want_state)
    assert jax.tree.structure(got_state) == want_tree
    for (path, a), b in zip(got_leaves, want_leaves):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, jax.tree_util.keystr(path)
        assert a.tobytes() == b.tobytes(), f"{jax.tree_util.keystr(path)} differs"


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "toy_run.py"
    path.write_text(_CONFIG)
    return path


@pytest.fixture(scope="module")
def template() -> TrainState:
    return _template()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, config_file, template) -> dict:
    """An uninterrupted run of NUM_STEPS steps: its workdir and final checkpoint."""
    workdir = tmp_path_factory.mktemp("reference") / "run"
    _train(config_file, workdir)
    final = _restore(workdir, template)
    assert final[1]["step"] == NUM_STEPS
    return {"workdir": workdir, "final": final}


# ---------------------------------------------------------------------------------------------
# Training: SIGKILL, SIGKILL inside a save, SIGTERM


def test_sigkill_mid_training_then_resume_equals_an_uninterrupted_run(
        tmp_path, config_file, template, reference):
    workdir = tmp_path / "run"
    process = _lipjax(_train_args(config_file, workdir))
    _wait_for(lambda: any(step >= 2 for step in _steps(workdir)), process, "checkpoint step 2")
    process.kill()
    assert process.wait(timeout=TIMEOUT) == -signal.SIGKILL
    assert max(_steps(workdir)) < NUM_STEPS  # the kill did interrupt the run
    _train(config_file, workdir)
    _assert_bitwise_equal(_restore(workdir, template), reference["final"])


def test_sigkill_inside_a_checkpoint_save_still_resumes(tmp_path, config_file, template,
                                                        reference):
    workdir = tmp_path / "run"
    process = _lipjax(_train_args(config_file, workdir))
    # A save in progress is a temporary folder that orbax renames to the step when complete.
    _wait_for(lambda: bool(_saves_in_progress(workdir)) and bool(_steps(workdir)), process,
              "a checkpoint save in progress")
    process.kill()
    assert process.wait(timeout=TIMEOUT) == -signal.SIGKILL
    left = _saves_in_progress(workdir)  # the interrupted save, unless it finished meanwhile
    survived = _steps(workdir)
    assert survived and max(survived) < NUM_STEPS
    print(f"killed with steps {survived} complete and {left} in progress")
    _train(config_file, workdir)
    _assert_bitwise_equal(_restore(workdir, template), reference["final"])
    assert not _saves_in_progress(workdir)  # the resumed run removed the incomplete save


def test_sigterm_mid_training_exits_143_and_the_workdir_resumes(tmp_path, config_file, template,
                                                                reference):
    workdir = tmp_path / "run"
    process = _lipjax(_train_args(config_file, workdir))
    _wait_for(lambda: any(step >= 2 for step in _steps(workdir)), process, "checkpoint step 2")
    process.send_signal(signal.SIGTERM)
    status, _, err = _finish(process)
    _clean_interrupt(status, err, 143)
    assert max(_steps(workdir)) < NUM_STEPS
    _train(config_file, workdir)
    _assert_bitwise_equal(_restore(workdir, template), reference["final"])


# ---------------------------------------------------------------------------------------------
# SIGINT while a checkpoint is being restored


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_sigint_during_a_restore_exits_130_cleanly(tmp_path, config_file, template, reference,
                                                   command):
    workdir = tmp_path / "run"
    shutil.copytree(reference["workdir"], workdir)
    args = (["evaluate", "--workdir", str(workdir), "--no_progress"] if command == "evaluate"
            else _train_args(config_file, workdir))
    inside = 0
    for delay_s in (0.0, 0.005, 0.02):
        process = _lipjax(args, LIPJAX_FAULT_MARK_RESTORE="1")
        line = process.stdout.readline()
        assert line == "restore started\n", line + process.communicate()[1][-3000:]
        time.sleep(delay_s)
        process.send_signal(signal.SIGINT)
        status, out, err = _finish(process)
        _clean_interrupt(status, err, 130)
        inside += "restore finished" not in out
    assert inside >= 1, "no SIGINT landed inside a restore; the test tested nothing"
    _assert_bitwise_equal(_restore(workdir, template), reference["final"])


# ---------------------------------------------------------------------------------------------
# `lipjax talk` killed while it encodes


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _processes(text: str) -> dict[int, str]:
    """Running processes whose command line contains `text`: {pid: command line}."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and _alive(int(entry)):
            found[int(entry)] = cmdline
    return found


def _encoders(parent: int) -> set[int]:
    """FFmpeg encoders (frames on stdin) started by `parent`."""
    out = set()
    for pid, cmdline in _processes("pipe:0").items():
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[-1].split()[1])
        except OSError:
            continue
        if ppid == parent and "ffmpeg" in cmdline:
            out.add(pid)
    return out


@pytest.fixture(scope="module")
def talk_inputs(tmp_path_factory) -> dict:
    """A tiny DCK workdir and a 2.4 s face video with its audio."""
    from lipjax.data.synthetic.talking_faces import TalkingFacesConfig, generate_pairs
    from lipjax.video import write_video
    from tests.lipsync.test_pipeline import _tiny_dck_workdir

    folder = tmp_path_factory.mktemp("talk")
    (folder / "dck").mkdir()
    workdir, _, _ = _tiny_dck_workdir(folder / "dck")
    config = TalkingFacesConfig(
        num_identities=1, train_pairs_per_identity=0, test_pairs_per_identity=1,
        test_fraction=0.3, frame_height=96, frame_width=128, min_frames=60, max_frames=60,
        num_words=4)
    pair = next(generate_pairs(config, "test"))
    write_video(folder / "face.mp4", pair["frames_a"], 25.0, audio=pair["audio_a"])
    return {"workdir": workdir, "video": folder / "face.mp4"}


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_signal_while_talk_encodes_leaves_no_file_and_no_ffmpeg(tmp_path, talk_inputs, signum):
    out, private_tmp = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    private_tmp.mkdir()  # the command's TMPDIR: where VideoWriter's private folder goes
    process = subprocess.Popen(
        [sys.executable, "-m", "lipjax.cli", "talk", "--checkpoint", str(talk_inputs["workdir"]),
         "--video", str(talk_inputs["video"]), "--audio", str(talk_inputs["video"]),
         "--out", str(out / "synced.mp4"), "--batch_size", "4", "--no_progress"],
        cwd=REPO, env=_env(TMPDIR=str(private_tmp)), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    encoders: set[int] = set()

    def encoding() -> bool:
        encoders.update(_encoders(process.pid))
        return bool(encoders)

    _wait_for(encoding, process, "an FFmpeg encoder", poll_s=0.005)
    process.send_signal(signum)
    status, _, err = _finish(process)
    if signum == signal.SIGTERM:
        _clean_interrupt(status, err, 143)
        assert not any(_alive(pid) for pid in encoders), "FFmpeg outlived lipjax"
        assert not list(private_tmp.glob("lipjax-video-*")), "the temporary folder is left"
    else:
        assert status == -signal.SIGKILL
    deadline = time.monotonic() + 20  # a killed parent's encoder ends when its stdin closes
    while _processes(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _processes(str(tmp_path)), "an FFmpeg of the command is still running"
    assert not any(_alive(pid) for pid in encoders)
    assert os.listdir(out) == [], "something was left at or beside the output"
