"""Turn a jupytext percent script into notebooks/<name>.ipynb, the way every chapter is built.

    jupytext --to py:percent notebooks/03_deepfm.ipynb -o /tmp/03_deepfm.py   # to edit
    python tools/nb_build.py /tmp/03_deepfm.py                              # and back

It puts the Colab install cell first (unless the script already starts with it), tags
the parameters cell (the first code cell that sets ``SMOKE =``), gives cells stable ids
and clears outputs, so a rebuilt notebook differs from the committed one only where the
script changed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
COLAB_SOURCE = '''# On Colab only: install the course package (Colab keeps its own torch, numpy, pandas).
import sys
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "recsys-course[reference] @ git+https://github.com/recsys-course/ranking-from-scratch"],
                   check=True)'''


def build(script: Path, out_dir: Path = ROOT / "notebooks") -> Path:
    nb = jupytext.reads(script.read_text(), fmt="py:percent")
    first = nb.cells[0] if nb.cells else None
    if first is None or "colab" not in first.metadata.get("tags", []):
        colab = nbformat.v4.new_code_cell(COLAB_SOURCE, metadata={"tags": ["colab", "remove-cell"]})
        nb.cells.insert(0, colab)
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


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print("wrote", build(Path(arg)))
