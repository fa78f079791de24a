"""Small fixes to the HTML the book's Sphinx stack produces (loaded from _config.yml).

1. Inline scripts twice in <head>. Sphinx 7.4 registers an inline script (one added with
   ``app.add_js_file(None, body=...)``) once with the file name ``None`` and once with
   ``''``, and its duplicate check treats them as different, so every page carried
   sphinx-thebe's ``const THEBE_JS_URL = ...`` twice and the browser threw
   "SyntaxError: Identifier 'THEBE_JS_URL' has already been declared". Sphinx fixed this
   upstream in 8.2 (sphinx-doc/sphinx#13402); this drops the second copy on each page.
   Remove this fix when the project moves to Sphinx >= 8.2.
2. Code solutions folded. A code cell tagged ``solution`` (an exercise's reference
   solution) is rendered with its source behind a "Show the solution" toggle, as the quiz
   answers are behind their dropdowns, so a reader who wants to try first does not see it
   by scrolling. The notebooks keep only the ``solution`` tag (the one source for this,
   for ``recsys-course assign`` and for the tests): this adds MyST-NB's ``hide-input`` tag
   and the toggle's words to those cells when Sphinx reads a notebook.
"""
from __future__ import annotations

import json

SOLUTION_TAG = "solution"
SOLUTION_PROMPTS = {"code_prompt_show": "Show the solution",
                    "code_prompt_hide": "Hide the solution"}


def fold_solutions(nb: dict) -> int:
    """Tag every code cell tagged ``solution`` in notebook ``nb`` (JSON) ``hide-input``,
    with the toggle's words in its ``mystnb`` metadata; return how many cells changed."""
    changed = 0
    for cell in nb.get("cells", []):
        meta = cell.setdefault("metadata", {})
        tags = meta.get("tags", [])
        if cell.get("cell_type") != "code" or SOLUTION_TAG not in tags:
            continue
        if "hide-input" not in tags:
            meta["tags"] = [*tags, "hide-input"]
        mystnb = meta.setdefault("mystnb", {})
        for key, value in SOLUTION_PROMPTS.items():
            mystnb.setdefault(key, value)
        changed += 1
    return changed


def _fold_solutions_on_read(app, docname, source):
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    try:
        nb = json.loads(source[0])
    except ValueError:
        return  # not JSON: let MyST-NB report it
    if fold_solutions(nb):
        source[0] = json.dumps(nb, ensure_ascii=False)


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen = set()
    unique = []
    for js in scripts:
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    # The list is the builder's own; Sphinx restores it after every page.
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("source-read", _fold_solutions_on_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
