"""Turn a jupytext percent script into notebooks/<name>.ipynb, the way every chapter is built.

    jupytext --to py:percent notebooks/03_deepfm.ipynb -o /tmp/03_deepfm.py   # to edit
    python tools/nb_build.py /tmp/03_deepfm.py                              # and back
    python tools/nb_build.py --refresh              # rewrite the install cell of every notebook
    python tools/nb_build.py --stamp COMMIT DIR     # (the book's build) pin the copies in DIR

It puts the Colab install cell first (replacing the script's own, if it starts with one),
tags the parameters cell (the first code cell that sets ``SMOKE =``), gives cells stable
ids and clears outputs, so a rebuilt notebook differs from the committed one only where
the script changed.

The install cell is written from ``_config.yml``, the one place that names the
repository: ``repository.url`` and ``repository.branch`` (a branch or a tag), the same
keys from which Jupyter Book makes the launch buttons. After changing them (a fork, a
release tag), run ``--refresh``; tests/test_colab_cell.py fails until then.

The cell installs ``recsys-course[reference]`` from ``git+<url>@<ref>`` on Colab only.
In the repository ``<ref>`` is the configured branch or tag, so the launch button (which
opens the notebook on that branch or tag) and the package come from the same commit.
``tools/build_book.sh`` stamps the commit the book was built from into the copies of the
notebooks inside the built book (the ones its download button serves): ``--stamp``. When
that commit cannot be installed (it was never pushed), the cell falls back to the
configured branch or tag and says so in one line.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
COLAB_TAGS = ["colab", "remove-cell"]

COLAB_TEMPLATE = '''# On Colab only: install the course package at the version of this notebook (Colab keeps
# its own torch, numpy, pandas). Written by tools/nb_build.py from _config.yml.
_REPOSITORY = "{url}"
_REF, _FALLBACK = "{ref}", "{fallback}"   # _REF: the book's build stamps its commit here
import sys
if "google.colab" in sys.modules:
    import subprocess

    def _install(ref):
        spec = f"recsys-course[reference] @ git+{{_REPOSITORY}}@{{ref}}"
        return subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec]).returncode == 0

    if not _install(_REF):
        if _REF == _FALLBACK:
            raise RuntimeError(f"pip could not install recsys-course from {{_REPOSITORY}}@{{_REF}}")
        print(f"recsys-course could not be installed at {{_REF}}; installing {{_FALLBACK}} instead")
        if not _install(_FALLBACK):
            raise RuntimeError(f"pip could not install recsys-course from {{_REPOSITORY}}@{{_FALLBACK}}")'''


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """(url, branch or tag) of the repository, from the book's configuration."""
    repo = yaml.safe_load(config.read_text(encoding="utf-8"))["repository"]
    return str(repo["url"]).rstrip("/"), str(repo.get("branch") or "main")


def colab_source(ref: str | None = None, config: Path = ROOT / "_config.yml") -> str:
    """The install cell: installs ``ref`` (default: the configured branch or tag)."""
    url, branch = repository(config)
    return COLAB_TEMPLATE.format(url=url, ref=ref or branch, fallback=branch)


def _set_colab_cell(nb, source: str) -> None:
    first = nb.cells[0] if nb.cells else None
    if first is not None and "colab" in first.metadata.get("tags", []):
        first.source = source
    else:
        nb.cells.insert(0, nbformat.v4.new_code_cell(source, metadata={"tags": list(COLAB_TAGS)}))


def build(script: Path, out_dir: Path = ROOT / "notebooks") -> Path:
    nb = jupytext.reads(script.read_text(), fmt="py:percent")
    _set_colab_cell(nb, colab_source())
    for cell in nb.cells:
        if cell.cell_type == "code" and "SMOKE =" in cell.source:
            tags = cell.metadata.setdefault("tags", [])
            if "parameters" not in tags:
                tags.append("parameters")
            break
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("lines_to_next_cell", None)
        cell["id"] = f"c{i:03d}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    out = out_dir / (script.stem + ".ipynb")
    nbformat.write(nb, out)
    return out


def set_install_cell(path: Path, ref: str | None = None) -> bool:
    """Rewrite only the install cell of the notebook at ``path`` (nothing else changes).
    Returns whether the file changed."""
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0] if nb.cells else None
    if first is None or "colab" not in first.metadata.get("tags", []):
        raise ValueError(f"{path}: the first cell is not the Colab install cell (tag 'colab')")
    source = colab_source(ref)
    if first.source == source:
        return False
    first.source = source
    nbformat.write(nb, path)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scripts", nargs="*", type=Path, help="jupytext percent scripts to build")
    ap.add_argument("--refresh", action="store_true",
                    help="rewrite the install cell of every notebook in notebooks/ from _config.yml")
    ap.add_argument("--stamp", nargs=2, metavar=("REF", "DIR"),
                    help="set the install cell of every notebook under DIR to install REF")
    args = ap.parse_args(argv)
    if args.stamp:
        ref, folder = args.stamp
        if not re.fullmatch(r"[0-9A-Za-z._/-]+", ref):
            ap.error(f"not a git ref: {ref!r}")
        paths = sorted(p for p in Path(folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            if nb.cells and "colab" in nb.cells[0].metadata.get("tags", []):
                set_install_cell(path, ref)
        print(f"stamped {ref} into the install cells under {folder}")
    if args.refresh:
        for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
            if set_install_cell(path):
                print("rewrote the install cell of", path)
    for script in args.scripts:
        print("wrote", build(script))
    if not (args.scripts or args.refresh or args.stamp):
        ap.print_usage()
    return 0


if __name__ == "__main__":
    sys.exit(main())
