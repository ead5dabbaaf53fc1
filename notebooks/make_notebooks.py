"""Writes notebooks/*.ipynb from their sources in notebooks/src/ (percent format).

    python notebooks/make_notebooks.py           # (re)writes the notebooks
    python notebooks/make_notebooks.py --check   # exit 1 if a notebook differs from its source

A source is a Python file cut into cells by `# %%` lines: `# %% [markdown]` starts a markdown
cell (its lines without the leading `# `), `# %% tag another-tag` a code cell with those tags.
A line `__INSTALL__` becomes the shared install cell (`src/_install.py`), with `__EXTRAS__` set
to the notebook's extras. The notebooks are written without outputs or execution counts, with
fixed cell ids, so that regenerating them changes nothing unless a source changed.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import nbformat

from lipjax.files import write_atomic

HERE = pathlib.Path(__file__).resolve().parent
SOURCES = HERE / "src"

# notebook name -> (extras the install cell adds besides the accelerator's, Colab runtime)
NOTEBOOKS = {
    "quickstart": ([], "GPU"),
    "bring_your_own_weights": (["torch"], "GPU"),
    "train_grid_tpu": ([], "TPU"),
}
TINY_VARIABLE = "LIPJAX_NOTEBOOK_TINY"


def split_cells(text: str) -> list[tuple[str, list[str], str]]:
    """`(kind, tags, source)` for each `# %%` cell of a percent-format file."""
    cells: list[tuple[str, list[str], list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# %%"):
            header = line[len("# %%"):].split()
            kind = "markdown" if header[:1] == ["[markdown]"] else "code"
            cells.append((kind, header[1:] if kind == "markdown" else header, []))
        elif cells:
            cells[-1][2].append(line)
        elif line.strip():
            raise ValueError(f"text before the first '# %%' line: {line!r}")
    result = []
    for kind, tags, lines in cells:
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        result.append((kind, tags, "\n".join(lines).strip("\n")))
    return result


def install_cell(extras: list[str]) -> str:
    """The shared install cell with this notebook's extras."""
    text = (SOURCES / "_install.py").read_text(encoding="utf-8")
    return text.replace("__EXTRAS__", repr(extras)).strip("\n")


def build(name: str) -> nbformat.NotebookNode:
    """The notebook `name` from `src/<name>.py`."""
    extras, runtime = NOTEBOOKS[name]
    source = (SOURCES / f"{name}.py").read_text(encoding="utf-8")
    cells = []
    for index, (kind, tags, text) in enumerate(split_cells(source)):
        text = text.replace("__INSTALL__", install_cell(extras))
        metadata = {"tags": tags} if tags else {}
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = make(text, metadata=metadata)
        cell.id = f"{name[:40]}-{index}"
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "accelerator": runtime,  # Colab opens it with this runtime type
        "colab": {"provenance": []},
    })
    nbformat.validate(notebook)
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        text = nbformat.writes(build(name)) + "\n"
        path = HERE / f"{name}.ipynb"
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            write_atomic(path, text)
            print("wrote", path)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/make_notebooks.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
