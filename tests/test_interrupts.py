"""Tests of lipjax.interrupts: deferred interrupts, SIGTERM as Ctrl-C, exit statuses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from lipjax.interrupts import Interrupted, deferred_interrupts, exit_status, terminate_like_interrupt


def test_an_interrupt_during_a_deferred_block_arrives_after_it():
    done = []
    with pytest.raises(Interrupted) as info:
        with terminate_like_interrupt():
            with deferred_interrupts():
                os.kill(os.getpid(), signal.SIGINT)
                done.append("block finished")  # not cut short
    assert done == ["block finished"] and info.value.signum == signal.SIGINT
    assert exit_status(info.value) == 130


def test_sigterm_is_handled_like_ctrl_c_and_handlers_come_back():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as info:
        with terminate_like_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()  # pragma: no cover - the handler raises first
    assert exit_status(info.value) == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_console_script_cleans_up_on_sigterm(tmp_path):
    """A command killed with SIGTERM runs its finally blocks and exits 143."""
    marker = tmp_path / "cleaned"
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        from lipjax import cli

        def handler(args):
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            finally:
                open({str(marker)!r}, "w").close()
            return 0

        def register(subparsers):
            subparsers.add_parser("wait").set_defaults(handler=handler)

        cli.REGISTRARS = cli.REGISTRARS + (register,)
        sys.exit(cli.main(["wait"]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 143 and "interrupted" in result.stderr
    assert marker.exists()
