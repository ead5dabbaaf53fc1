"""Test set-up: CPU only, two forced host devices for the multi-device tests.

`make test` sets the same variables; setting them here too makes a bare `pytest` behave the same.
They must be set before JAX initialises its backends.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()

import tempfile  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Tests compile the same small programs many times (e.g. a resumed run recompiles its step);
# JAX's persistent cache turns the repeats into disk reads.
jax.config.update("jax_compilation_cache_dir",
                  os.environ.get("LIPJAX_TEST_JAX_CACHE",
                                 os.path.join(tempfile.gettempdir(), "lipjax-test-jax-cache")))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
