"""Small fixes to the HTML the book's Sphinx stack produces (loaded from _config.yml).

1. Inline scripts twice in <head>. Sphinx 7.4 registers an inline script (one added with
   ``app.add_js_file(None, body=...)``) once with the file name ``None`` and once with
   ``''``, and its duplicate check treats them as different, so every page carried
   sphinx-thebe's ``const THEBE_JS_URL = ...`` twice and the browser threw
   "SyntaxError: Identifier 'THEBE_JS_URL' has already been declared". Sphinx fixed this
   upstream in 8.2 (sphinx-doc/sphinx#13402); this drops the second copy on each page.
   Remove this fix when the project moves to Sphinx >= 8.2.
"""
from __future__ import annotations


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
    return {"parallel_read_safe": True, "parallel_write_safe": True}
