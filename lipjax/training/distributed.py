"""Multi-process training through `jax.distributed`: who the processes are, how they start,
agree and fail together.

Where the settings come from (the first that gives any wins):

1. `lipjax train --coordinator HOST:PORT --num_processes N --process_id I` (the CLI writes
   them into the config section below);
2. the config, `config.train.distributed`: `coordinator`, `num_processes`, `process_id`,
   `enabled` (None: when asked for here or by a launcher; True: always call
   `jax.distributed.initialize()` and let JAX auto-detect what is not given; False: single
   process even under a launcher), `heartbeat_timeout_s`, `initialization_timeout_s`,
   `shutdown_timeout_s`;
3. the environment a launcher sets, read by JAX's own cluster detection:
   SLURM (`SLURM_JOB_ID`, `SLURM_NTASKS` > 1, `SLURM_PROCID`, ...), Open MPI (`mpirun`:
   `OMPI_COMM_WORLD_SIZE` > 1), Cloud TPU VMs (the TPU metadata server; on GKE
   `TPU_WORKER_HOSTNAMES`), or `JAX_COORDINATOR_ADDRESS`. lipjax only notices that one of them
   is present; `jax.distributed.initialize()` reads the values.

Nothing present: one process, exactly as before (no `jax.distributed` at all).

Failure policy. Start-up errors (config, dataset, checkpoint, a workdir that is not shared) are
exchanged between the processes, so every process stops with the same error. After start-up a
process that dies takes the run down: JAX's coordination service notices the missing heartbeats
within `heartbeat_timeout_s` and aborts the other processes, which would otherwise wait in a
collective forever. JAX aborts them from a native thread with its own message, so `lipjax train`
runs the training of a multi-process run in a forked child (`supervise`) and explains the abort
with `PEER_FAILURE_STATUS` (75, EX_TEMPFAIL): relaunch every process with the same command and
the run resumes from its last checkpoint.
"""

from __future__ import annotations

import atexit
import dataclasses
import glob
import hashlib
import importlib.util
import logging
import os
import re
import signal
import sys
import traceback
from typing import Any, Callable, Mapping

import ml_collections
import numpy as np

from lipjax.errors import ConfigError, LipjaxError

__all__ = ["DistributedError", "PeerFailureError", "DistributedSpec", "PEER_FAILURE_STATUS",
           "launcher_environment", "resolve", "initialize", "ensure_initialized", "is_multi_process", "is_primary",
           "gather_strings", "config_digest", "peer_failure", "supervise"]

logger = logging.getLogger(__name__)

PEER_FAILURE_STATUS = 75  # EX_TEMPFAIL: relaunch every process to resume
_MESSAGE_BYTES = 1024     # a gathered message is cut to this length
_ADDRESS = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


class DistributedError(LipjaxError, RuntimeError):
    """A multi-process run cannot start: the coordinator is unreachable, another process
    failed to start, or the processes disagree (config, workdir, checkpoint)."""


class PeerFailureError(DistributedError):
    """Another process of a running multi-process run died or became unreachable."""


@dataclasses.dataclass(frozen=True)
class DistributedSpec:
    """How to call `jax.distributed.initialize` (None fields: JAX auto-detects them)."""

    coordinator: str | None
    num_processes: int | None
    process_id: int | None
    source: str  # where the settings came from, for messages
    heartbeat_timeout_s: int = 100
    initialization_timeout_s: int = 300
    shutdown_timeout_s: int = 300

    def describe(self) -> str:
        """"process 1 of 2", or "this process" where JAX detects the numbers itself."""
        if self.process_id is None or self.num_processes is None:
            return "this process"
        return f"process {self.process_id} of {self.num_processes}"


# ------------------------------------------------------------------------------- settings
def launcher_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """The multi-process launcher this process runs under, e.g. "SLURM (4 tasks)", or None.

    Only launchers that start several processes count: a one-task SLURM job stays a plain
    single-process run.
    """
    env = os.environ if environ is None else environ

    def count(key: str) -> int:
        try:
            return int(env.get(key, "1"))
        except ValueError:
            return 1

    if env.get("JAX_COORDINATOR_ADDRESS"):
        return "JAX_COORDINATOR_ADDRESS"
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
             "SLURM_LOCALID")
    if all(key in env for key in slurm) and count("SLURM_NTASKS") > 1:
        return f"SLURM ({count('SLURM_NTASKS')} tasks)"
    if "OMPI_MCA_orte_hnp_uri" in env and count("OMPI_COMM_WORLD_SIZE") > 1:
        return f"Open MPI ({count('OMPI_COMM_WORLD_SIZE')} ranks)"
    hosts = env.get("TPU_PROCESS_ADDRESSES") or env.get("TPU_WORKER_HOSTNAMES") or ""
    if "," in hosts:
        return f"Cloud TPU ({len(hosts.split(','))} hosts)"
    if environ is None and _on_cloud_tpu_vm():
        return "Cloud TPU VM"
    return None


def _on_cloud_tpu_vm() -> bool:
    """A TPU VM: TPU chips on this host and libtpu installed (JAX then asks the metadata server
    for the slice's workers)."""
    chips = glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*")
    return bool(chips) and importlib.util.find_spec("libtpu") is not None


def _field(section: Any, key: str, default: Any = None) -> Any:
    return section.get(key, default) if isinstance(section, (dict, ml_collections.ConfigDict)) \
        else default


def _check_int(name: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"train.distributed.{name} (--{name}) must be an integer >= {minimum}, "
                          f"got {value!r}")
    return value


def _check_settings(coordinator: Any, num_processes: Any, process_id: Any) -> None:
    if coordinator is not None and (not isinstance(coordinator, str)
                                    or not _ADDRESS.match(coordinator)
                                    or not 0 < int(coordinator.rsplit(":", 1)[1]) < 65536):
        raise ConfigError(f"--coordinator must be HOST:PORT (process 0's address and a free "
                          f"port, e.g. 10.0.0.1:1234 or 127.0.0.1:12345), got {coordinator!r}")
    _check_int("num_processes", num_processes, 1)
    _check_int("process_id", process_id, 0)
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise ConfigError(f"--process_id must be in 0..{num_processes - 1} for --num_processes "
                          f"{num_processes}, got {process_id}")


def resolve(config: ml_collections.ConfigDict, environ: Mapping[str, str] | None = None
            ) -> DistributedSpec | None:
    """The multi-process settings of a run, or None for a plain single-process run.

    Raises:
      ConfigError: malformed settings, or some but not all of coordinator / num_processes /
        process_id with no launcher to supply the rest.
    """
    section = config.get("train", {}).get("distributed") if "train" in config else None
    enabled = _field(section, "enabled")
    coordinator, num_processes, process_id = (_field(section, k) for k in
                                              ("coordinator", "num_processes", "process_id"))
    if enabled not in (None, True, False):
        raise ConfigError(f"train.distributed.enabled must be None, True or False, got "
                          f"{enabled!r}")
    explicit = [k for k, v in (("coordinator", coordinator), ("num_processes", num_processes),
                               ("process_id", process_id)) if v is not None]
    if enabled is False:
        if explicit:
            raise ConfigError(f"train.distributed.enabled is False but {', '.join(explicit)} "
                              "are set; drop one or the other")
        return None
    _check_settings(coordinator, num_processes, process_id)
    launcher = launcher_environment(environ)
    if not explicit and enabled is None and launcher is None:
        return None
    if explicit and len(explicit) < 3 and launcher is None and not enabled:
        missing = sorted({"coordinator", "num_processes", "process_id"} - set(explicit))
        raise ConfigError(
            "a multi-process run needs --coordinator HOST:PORT, --num_processes N and "
            f"--process_id I on every process (missing: {', '.join('--' + m for m in missing)}); "
            "under SLURM, mpirun or on a Cloud TPU VM they can all be left out")
    source = "flags / config" if explicit else (launcher or "train.distributed.enabled")
    timeouts = {name: _check_int(name, _field(section, name, default), 1) for name, default in
                (("heartbeat_timeout_s", 100), ("initialization_timeout_s", 300),
                 ("shutdown_timeout_s", 300))}
    return DistributedSpec(coordinator, num_processes, process_id, source, **timeouts)


# ------------------------------------------------------------------------------- start-up
def initialize(spec: DistributedSpec) -> None:
    """`jax.distributed.initialize` with `spec` (once per process; a no-op if JAX is already
    initialized, e.g. by the caller).

    Raises:
      ConfigError: JAX already used a device in this process, or JAX cannot work out the
        missing settings. DistributedError: the coordinator cannot be reached in time.
    """
    import jax

    if jax.distributed.is_initialized():
        return
    try:
        jax.distributed.initialize(
            coordinator_address=spec.coordinator, num_processes=spec.num_processes,
            process_id=spec.process_id, initialization_timeout=spec.initialization_timeout_s,
            heartbeat_timeout_seconds=spec.heartbeat_timeout_s,
            shutdown_timeout_seconds=spec.shutdown_timeout_s)
    except (ValueError, TypeError) as error:
        if spec.source == "Cloud TPU VM":  # a single TPU VM without a slice: one process
            logger.info("no multi-host TPU slice detected (%s); training in one process", error)
            return
        raise ConfigError(f"cannot start the multi-process run ({spec.source}): {error}. Give "
                          "--coordinator HOST:PORT --num_processes N --process_id I") from error
    except RuntimeError as error:  # JaxRuntimeError is one
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "before any JAX calls" in text or "backend" in text.lower():
            raise ConfigError("multi-process training must start before this process uses JAX "
                              "devices: call train_and_evaluate (or jax.distributed.initialize) "
                              f"before any JAX computation ({text})") from error
        raise DistributedError(
            f"{spec.describe()} could not join the run at {spec.coordinator or 'the detected '}"
            f"coordinator within {spec.initialization_timeout_s} s ({text}). Start all "
            "processes with the same --coordinator and --num_processes and process ids "
            "0..N-1; process 0 must be reachable at that address.") from error
    atexit.register(jax.distributed.shutdown)  # leave together: see the module docstring
    logger.info("%s: process %d of %d, %d of %d devices local", spec.source,
                jax.process_index(), jax.process_count(), jax.local_device_count(),
                jax.device_count())


def ensure_initialized(config: ml_collections.ConfigDict) -> DistributedSpec | None:
    """Starts `jax.distributed` if the flags, the config or a launcher ask for it; returns the
    settings used (None: a single-process run)."""
    spec = resolve(config)
    if spec is not None:
        initialize(spec)
    return spec


def is_multi_process() -> bool:
    import jax

    return jax.process_count() > 1


def is_primary() -> bool:
    """Process 0: the one that writes config.json, metrics, TensorBoard and evaluation JSON."""
    import jax

    return jax.process_index() == 0


# ------------------------------------------------------------------------------- agreement
def gather_strings(value: str) -> list[str]:
    """Every process's `value` (UTF-8, cut to 1 KiB), in process order; a collective that
    every process must call at the same point."""
    from jax.experimental import multihost_utils

    data = value.encode("utf-8")[:_MESSAGE_BYTES]
    row = np.zeros(_MESSAGE_BYTES + 4, np.uint8)
    row[:4] = np.frombuffer(np.uint32(len(data)).tobytes(), np.uint8)
    row[4:4 + len(data)] = np.frombuffer(data, np.uint8)
    rows = np.asarray(multihost_utils.process_allgather(row))
    out = []
    for r in rows.reshape(-1, _MESSAGE_BYTES + 4):
        n = int(np.frombuffer(r[:4].tobytes(), np.uint32)[0])
        out.append(bytes(r[4:4 + n]).decode("utf-8", "replace"))
    return out


def config_digest(config: ml_collections.ConfigDict) -> str:
    """A hash of the config without `train.distributed` (which differs between processes)."""
    payload = config.to_dict()
    payload.get("train", {}).pop("distributed", None)
    text = ml_collections.ConfigDict(payload).to_json_best_effort(sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def peer_failure(error: BaseException, *, workdir: str | None = None) -> PeerFailureError:
    """A DistributedError that says a peer stopped and what to do, for a runtime error raised
    by a collective whose peer died (e.g. gloo's "Connection reset by peer")."""
    import jax

    text = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    where = f" in {os.path.join(workdir, 'checkpoints')}" if workdir else ""
    return PeerFailureError(
        f"process {jax.process_index()} of {jax.process_count()}: another process of this run "
        f"stopped or became unreachable ({text}). Relaunch all {jax.process_count()} processes "
        f"with the same command: the run resumes from its last checkpoint{where}.")


# ------------------------------------------------------------------------------- supervision
def _die_with_parent(parent: int) -> None:
    """The child is killed with its parent (Linux: PR_SET_PDEATHSIG), so that killing the
    process a launcher started also kills the training."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: a thread polls the parent instead
        import threading
        import time

        def poll() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(PEER_FAILURE_STATUS)

        threading.Thread(target=poll, daemon=True, name="lipjax-parent-watch").start()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(PEER_FAILURE_STATUS)


def _child(run: Callable[[], int]) -> None:
    """Runs the training in the forked child and exits the child; never returns."""
    from lipjax.interrupts import exit_status

    status = 1
    try:
        status = int(run() or 0)
    except PeerFailureError as error:
        print(f"lipjax: error: {error}", file=sys.stderr, flush=True)
        status = PEER_FAILURE_STATUS
    except LipjaxError as error:  # agreed or deterministic: every process stops alike
        print(f"lipjax: error: {error}", file=sys.stderr, flush=True)
        status = 2
    except KeyboardInterrupt as interrupt:
        print("lipjax: interrupted", file=sys.stderr, flush=True)
        status = exit_status(interrupt)
    except BaseException:  # noqa: BLE001 - a crash: report it, leave at once
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    if status in (0, 2):  # the others stop at the same point: leave together
        try:
            import jax

            jax.distributed.shutdown()
        except Exception as error:  # noqa: BLE001
            print(f"lipjax: warning: shutting down jax.distributed: {error}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def supervise(run: Callable[[], int], spec: DistributedSpec, *, workdir: str) -> int:
    """Runs `run()` (the training of one process of a multi-process run) in a forked child and
    returns its exit status; explains a child that JAX aborted because a peer died.

    The parent never touches JAX devices. It passes SIGTERM on to the child (SIGINT from a
    terminal reaches both already) and the child dies with the parent.
    """
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        _die_with_parent(parent)
        _child(run)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(child, signum))
    try:
        _, raw = os.waitpid(child, 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if os.WIFEXITED(raw):
        return os.WEXITSTATUS(raw)
    signum = os.WTERMSIG(raw)
    name = signal.Signals(signum).name
    how = ("the JAX distributed runtime stopped it because another process of the run died or "
           "became unreachable (its lines above name the process)"
           if signum == signal.SIGABRT else f"it was killed by {name}")
    print(f"lipjax: error: {spec.describe()} stopped: {how}. Relaunch all processes with the "
          "same command: the run resumes from its last checkpoint in "
          f"{os.path.join(workdir, 'checkpoints')}.", file=sys.stderr, flush=True)
    return PEER_FAILURE_STATUS
