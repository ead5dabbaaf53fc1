# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
# Each creates .venv with the machine's python3 if it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lipjax-installed
# Tests run on forced CPU devices so that multi-device code paths are exercised anywhere.
TEST_ENV := JAX_PLATFORMS=cpu XLA_FLAGS=--xla_force_host_platform_device_count=2
PYTEST_ARGS ?=

.PHONY: demo demo-train demo-checkpoints test bench recipe venv clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The conversion tests compare with PyTorch: a CPU build, pinned so that pip takes the local
	# wheel instead of a CUDA download; without it those tests skip with a reason.
	$(BIN)/python -m pip install --quiet 'torch==2.13.0' || echo "torch unavailable: the checkpoint-conversion tests will skip"
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(TEST_ENV) $(BIN)/python -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS) tests

# Minutes: the shipped checkpoints in experiments/demo_checkpoints/ (checked by SHA-256).
demo: $(STAMP)
	JAX_PLATFORMS=cpu $(BIN)/python -m lipjax.demo --out demo_out

# ~45 minutes on 2 cores: trains the three demo models from nothing, then the same showcase.
demo-train: $(STAMP)
	JAX_PLATFORMS=cpu $(BIN)/python -m lipjax.demo --train --out demo_train_out

# demo-train, then writes what it trained as the demo checkpoints (commit them afterwards).
demo-checkpoints: $(STAMP)
	JAX_PLATFORMS=cpu $(BIN)/python -m lipjax.demo --train --out demo_train_out \
		--export experiments/demo_checkpoints

# The DCK paper's recipe on the synthetic corpus (expert -> Wav2Lip -> pairs -> DCK -> Table II),
# resumable by stage (BUILD_NOTES.md: steps and time). RECIPE_ARGS=--tiny: 3 CPU-minutes.
RECIPE_ARGS ?=
recipe: $(STAMP)
	JAX_PLATFORMS=cpu $(BIN)/python experiments/dck_recipe.py --out runs/dck_recipe $(RECIPE_ARGS)

bench: $(STAMP)
	JAX_PLATFORMS=cpu $(BIN)/python benchmarks/dynamic_conv.py --out benchmarks/results

clean:
	rm -rf $(VENV) demo_out demo_train_out .pytest_cache
