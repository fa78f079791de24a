"""The Colab install cell: derived from _config.yml, installs the book's own version,
only on Colab (tools/nb_build.py writes it; tools/build_book.sh stamps the built copies)."""
from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import nb_build  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_install_cell_written_from_the_config(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.metadata["tags"] == ["colab", "remove-cell"]
    assert first.source == nb_build.colab_source(), (
        f"{path.name}: the install cell is not the one _config.yml gives; "
        "run: python tools/nb_build.py --refresh")


def test_the_repository_address_is_written_only_in_the_config():
    url = _config()["repository"]["url"]
    cfg = _config()
    assert cfg["parse"]["myst_substitutions"]["repository_url"] == url
    assert cfg["parse"]["myst_substitutions"]["repository_ref"] == cfg["repository"]["branch"]
    owner_repo = url.split("github.com/", 1)[1]
    typed = [p for p in [*ROOT.glob("tools/*"), *ROOT.glob("tests/*.py"), *ROOT.glob("book/*.md"),
                         ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "Makefile"]
             if p.is_file() and owner_repo in p.read_text(encoding="utf-8", errors="ignore")]
    assert typed == [], f"the repository address is typed outside _config.yml in {typed}"


def _run_cell(source: str, on_colab: bool, returncodes: list[int]) -> tuple[list[list[str]], str]:
    """Execute the install cell with subprocess.run faked; return pip's argument lists."""
    calls = []

    def fake_run(argv, *args, **kwargs):
        calls.append(argv)
        return types.SimpleNamespace(returncode=returncodes[len(calls) - 1])

    saved_run, saved_colab = subprocess.run, sys.modules.get("google.colab")
    subprocess.run = fake_run
    if on_colab:
        sys.modules["google.colab"] = types.ModuleType("google.colab")
    else:
        sys.modules.pop("google.colab", None)
    import contextlib
    import io
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, "install-cell", "exec"), {})
    finally:
        subprocess.run = saved_run
        sys.modules.pop("google.colab", None)
        if saved_colab is not None:
            sys.modules["google.colab"] = saved_colab
    return calls, out.getvalue()


def test_the_cell_does_nothing_outside_colab():
    calls, out = _run_cell(nb_build.colab_source(), on_colab=False, returncodes=[])
    assert calls == [] and out == ""


def test_on_colab_the_cell_installs_the_configured_ref_of_the_configured_repository():
    cfg = _config()["repository"]
    calls, out = _run_cell(nb_build.colab_source(), on_colab=True, returncodes=[0])
    assert len(calls) == 1 and calls[0][1:4] == ["-m", "pip", "install"]
    assert calls[0][-1] == f"recsys-course[reference] @ git+{cfg['url']}@{cfg['branch']}"
    assert out == ""


def test_a_stamped_cell_installs_the_commit_and_falls_back_to_the_branch_in_one_line():
    cfg = _config()["repository"]
    source = nb_build.colab_source("0123abcd" * 5)
    calls, out = _run_cell(source, on_colab=True, returncodes=[0])
    assert [c[-1].rsplit("@", 1)[1] for c in calls] == ["0123abcd" * 5]
    calls, out = _run_cell(source, on_colab=True, returncodes=[1, 0])   # commit never pushed
    assert [c[-1].rsplit("@", 1)[1] for c in calls] == ["0123abcd" * 5, cfg["branch"]]
    assert len(out.splitlines()) == 1 and cfg["branch"] in out
    with pytest.raises(RuntimeError):
        _run_cell(source, on_colab=True, returncodes=[1, 1])


def test_stamping_a_built_copy_changes_only_the_install_cell(tmp_path):
    src = NOTEBOOKS[0]
    copy = tmp_path / "_sources" / "notebooks" / src.name
    copy.parent.mkdir(parents=True)
    copy.write_bytes(src.read_bytes())
    subprocess.run([sys.executable, str(ROOT / "tools" / "nb_build.py"), "--stamp", "abc1234",
                    str(tmp_path)], check=True, capture_output=True)
    before, after = nbformat.read(src, as_version=4), nbformat.read(copy, as_version=4)
    assert after.cells[0].source == nb_build.colab_source("abc1234")
    assert '_REF, _FALLBACK = "abc1234", ' in after.cells[0].source
    assert [c.source for c in after.cells[1:]] == [c.source for c in before.cells[1:]]
