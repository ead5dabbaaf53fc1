"""The install paths the README documents resolve, checked offline: the extras in setup.cfg and in
the installed distribution's metadata (`importlib.metadata`), the JAX extras they name, and the
extras the README's and the notebooks' install commands use. Nothing is downloaded (`pip install
--dry-run` would need the network to resolve CUDA wheels)."""

from __future__ import annotations

import configparser
import importlib.metadata
import os
import re

import pytest
from packaging.requirements import Requirement

from tests._paths import REPO

EXTRAS = ("cuda", "tpu", "torch", "test")
JAX_ACCELERATOR_EXTRAS = {"cuda": "cuda12", "tpu": "tpu"}


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(os.path.join(REPO, "setup.cfg"), encoding="utf-8")
    return parser


def _requirements(text: str) -> list[Requirement]:
    return [Requirement(line) for line in text.splitlines() if line.strip()]


def cfg_base() -> list[Requirement]:
    return _requirements(_setup_cfg()["options"]["install_requires"])


def cfg_extras() -> dict[str, list[Requirement]]:
    section = _setup_cfg()["options.extras_require"]
    return {name: _requirements(section[name]) for name in section}


def installed_extras() -> tuple[list[Requirement], dict[str, list[Requirement]]]:
    """(base requirements, {extra: requirements}) from the installed lipjax's metadata."""
    base, extras = [], {}
    for line in importlib.metadata.requires("lipjax") or []:
        requirement = Requirement(line)
        marker = str(requirement.marker or "")
        match = re.fullmatch(r'extra == "([^"]+)"', marker)
        requirement.marker = None
        if match:
            extras.setdefault(match.group(1), []).append(requirement)
        else:
            assert not marker, f"unexpected marker in {line!r}"
            base.append(requirement)
    return base, extras


SOURCES = {"setup.cfg": lambda: (cfg_base(), cfg_extras()), "installed metadata": installed_extras}


def _jax(requirements: list[Requirement]) -> Requirement:
    (jax,) = [r for r in requirements if r.name == "jax"]
    return jax


@pytest.mark.parametrize("source", SOURCES)
def test_every_documented_extra_exists(source):
    _, extras = SOURCES[source]()
    assert set(EXTRAS) <= set(extras)
    assert "torch" in {r.name for r in extras["torch"]}
    assert {"pytest", "nbclient", "nbformat", "ipykernel"} <= {r.name for r in extras["test"]}


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("extra", sorted(JAX_ACCELERATOR_EXTRAS))
def test_accelerator_extras_name_jax_with_the_base_bounds(source, extra):
    base, extras = SOURCES[source]()
    jax = _jax(base)
    assert not jax.extras, "the base install must not pull an accelerator build"
    (accelerated,) = extras[extra]
    assert accelerated.name == "jax" and accelerated.extras == {JAX_ACCELERATOR_EXTRAS[extra]}
    assert accelerated.specifier == jax.specifier and str(jax.specifier)  # bounded, equal


def test_no_base_requirement_pulls_cuda_or_tpu_wheels():
    for requirement in cfg_base():
        name = requirement.name.lower()
        assert not any(word in name for word in ("cuda", "nvidia", "libtpu")), name
        assert not any("cuda" in e or "tpu" in e for e in requirement.extras), requirement


def test_installed_metadata_matches_setup_cfg():
    """A stale install (setup.cfg changed since `pip install -e`) would make the checks above
    pass on old metadata; `make` reinstalls when setup.cfg changes."""
    base, extras = installed_extras()
    assert str(_jax(base)) == str(_jax(cfg_base()))
    configured = cfg_extras()
    for name in EXTRAS:
        assert sorted(map(str, extras[name])) == sorted(map(str, configured[name])), name


@pytest.mark.parametrize("extra", sorted(JAX_ACCELERATOR_EXTRAS))
def test_installed_jax_offers_the_extras_we_name(extra):
    """jax[cuda12] and jax[tpu] are extras of the installed JAX's own metadata, which pins their
    plugin / libtpu to its own version: the install resolves to a matching build."""
    jax_extras = importlib.metadata.metadata("jax").get_all("Provides-Extra") or []
    assert JAX_ACCELERATOR_EXTRAS[extra] in jax_extras
    version = importlib.metadata.version("jax")
    assert version in _jax(cfg_base()).specifier


def _readme_install_extras() -> list[str]:
    """The extras named by `pip install ... '.[a,b]'` / `lipjax[a]` commands in the README."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    names = []
    for line in text.splitlines():
        if "pip install" in line:
            for group in re.findall(r"(?:\.|lipjax|\})\[([a-z0-9_,-]+)\]", line):
                names += group.split(",")
    return names


def test_readme_install_commands_use_existing_extras():
    named = _readme_install_extras()
    assert {"cuda", "tpu", "torch", "test"} <= set(named)
    assert set(named) <= set(cfg_extras())


def test_readme_has_a_section_per_install_path():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        headings = [line for line in f if line.startswith("#")]
    for path in ("CPU", "CUDA", "Colab", "Cloud TPU"):
        assert any(path in heading for heading in headings), path
    assert "libtpu_releases.html" in open(os.path.join(REPO, "README.md"), encoding="utf-8").read()


def test_notebook_install_cells_use_existing_extras():
    text = open(os.path.join(REPO, "notebooks", "src", "_install.py"), encoding="utf-8").read()
    mapping = re.search(r'\{"cuda": \[(.*?)\], "tpu": \[(.*?)\], "cpu": \[\]\}', text)
    assert mapping, "the install cell's accelerator -> extras table moved; update this test"
    named = [m.strip('"') for group in mapping.groups() for m in group.split(",") if m]
    assert named == ["cuda", "tpu"]
    generator = open(os.path.join(REPO, "notebooks", "make_notebooks.py"), encoding="utf-8").read()
    named += re.findall(r'\(\["([a-z]+)"\], "(?:GPU|TPU)"\)', generator)
    assert set(named) <= set(cfg_extras())
