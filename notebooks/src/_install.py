# Installs lipjax for this machine: JAX for an NVIDIA GPU ([cuda]), a TPU ([tpu]) or the CPU,
# detected. Inside a checkout of the repository (as in CI) it installs nothing and uses that
# checkout. Re-running the cell is harmless.
LIPJAX_REPO = "https://github.com/<org>/lipjax"  # the repository to clone: set to yours
EXTRAS = __EXTRAS__  # this notebook's extras besides the accelerator's

import glob
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

# One switch for CI: tiny corpora, tiny models and a few steps, on the CPU.
TINY = os.environ.get("LIPJAX_NOTEBOOK_TINY", "0") not in ("", "0")
IN_COLAB = "google.colab" in sys.modules


def find_checkout(folder: pathlib.Path):
    """The lipjax checkout that contains `folder`, or None."""
    for candidate in (folder, *folder.parents):
        if (candidate / "setup.cfg").is_file() and (candidate / "lipjax" / "__init__.py").is_file():
            return candidate
    return None


def detect_accelerator() -> str:
    """'cuda' (nvidia-smi lists a GPU), 'tpu' (Colab / Cloud TPU variables or devices) or 'cpu'."""
    smi = shutil.which("nvidia-smi")
    if smi and subprocess.run([smi, "-L"], capture_output=True).returncode == 0:
        return "cuda"
    if (os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME")
            or glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*")):
        return "tpu"
    return "cpu"


ACCELERATOR = detect_accelerator()
LIPJAX_ROOT = find_checkout(pathlib.Path.cwd().resolve())
if LIPJAX_ROOT is not None:
    print(f"running inside the lipjax checkout {LIPJAX_ROOT}: nothing to install")
else:
    LIPJAX_ROOT = pathlib.Path("/content/lipjax" if IN_COLAB else "~/lipjax").expanduser()
    if not (LIPJAX_ROOT / "setup.cfg").is_file():
        if "<org>" in LIPJAX_REPO:
            raise ValueError("set LIPJAX_REPO at the top of this cell to the repository's URL")
        subprocess.run(["git", "clone", "--depth", "1", LIPJAX_REPO, str(LIPJAX_ROOT)], check=True)
    spec = importlib.util.find_spec("lipjax")
    if spec is None or not str(spec.origin).startswith(str(LIPJAX_ROOT)):
        extras = EXTRAS + {"cuda": ["cuda"], "tpu": ["tpu"], "cpu": []}[ACCELERATOR]
        target = f"{LIPJAX_ROOT}[{','.join(extras)}]" if extras else str(LIPJAX_ROOT)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "-e", target]
        if ACCELERATOR == "tpu":
            command += ["-f", "https://storage.googleapis.com/jax-releases/libtpu_releases.html"]
        print("$", " ".join(command))
        subprocess.run(command, check=True)
if str(LIPJAX_ROOT) not in sys.path:
    sys.path.insert(0, str(LIPJAX_ROOT))  # this kernel predates the install; tests/ helpers too

import jax

import lipjax

print(f"lipjax {lipjax.__version__}, jax {jax.__version__}, accelerator {ACCELERATOR}: "
      f"{jax.device_count()} x {jax.devices()[0].device_kind}; tiny mode: {TINY}")
