"""Student copies of the chapter notebooks: the same notebooks without the solutions.

Conventions (see CONTRIBUTING.md, "Notebooks"):

* A **code** cell tagged ``solution`` holds a reference solution. In the student copy it
  becomes a stub: the cell keeps its imports and the signature (and docstring) of every
  function and class it defines, and each body becomes::

      # YOUR CODE HERE
      raise NotImplementedError("write click_rate")

  so the check cell that follows fails with "not attempted yet: ..." until the learner
  writes the body. A solution cell that defines nothing (or cannot be parsed, e.g.
  IPython magics) becomes ``# YOUR CODE HERE`` + ``raise NotImplementedError(...)``.
  Other top-level statements of a solution cell (demo calls, prints) are dropped. An
  optional cell metadata field ``"exercise": "Exercise 0.1"`` prefixes the stub's message.
* A **markdown** cell tagged ``solution`` (quiz answers, discussion of the open question)
  is removed entirely. As a safety net, answer blocks left in untagged markdown are cut:
  MyST ``{solution}`` directives (and ``{solution-start}`` ... ``{solution-end}``), and
  ``{dropdown}`` / ``{admonition}`` directives or HTML ``<details>`` blocks whose title
  mentions "answer" or "solution". Dropdowns titled otherwise (hints) are kept.
* Any cell tagged ``remove-student`` is removed.
* All outputs and execution counts are cleared; execution-timing metadata is dropped.
* The output is deterministic: the same input gives byte-identical copies.

Chapter: 00 (how the exercises work); used by instructors, not learners.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import re
from pathlib import Path
from typing import Any

SOLUTION_TAG = "solution"
REMOVE_TAG = "remove-student"
STUB_MARK = "# YOUR CODE HERE"
_VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "papermill", "collapsed", "scrolled")
_ANSWER_TITLE = re.compile(r"answer|solution", re.IGNORECASE)


# ----------------------------------------------------------------------------------------
# Code stubs
# ----------------------------------------------------------------------------------------
def _raise_line(indent: str, message: str) -> str:
    quoted = '"' + message.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{indent}{STUB_MARK}\n{indent}raise NotImplementedError({quoted})"


def _docstring_node(node: ast.AST) -> ast.Expr | None:
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[0]
    return None


def _header(lines: list[str], node: ast.AST) -> tuple[list[str], str]:
    """Decorators + ``def``/``class`` line(s) of ``node`` and the indentation of its body."""
    start = min([d.lineno for d in getattr(node, "decorator_list", [])] + [node.lineno])
    first = node.body[0]
    before_body = lines[first.lineno - 1][: first.col_offset]
    if before_body.strip():  # one-liner such as "def f(x): return x"
        def_indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
        return lines[start - 1: first.lineno - 1] + [before_body.rstrip()], def_indent + "    "
    head = lines[start - 1: first.lineno - 1]
    while head and (not head[-1].strip() or head[-1].lstrip().startswith("#")):
        head.pop()  # comments before the body belong to the solution
    return head, before_body


def _signature_and_docstring(lines: list[str], node: ast.AST):
    """The definition's header lines and its docstring (if any), its body indent, and the
    docstring node: what every stub keeps of a solution."""
    head, indent = _header(lines, node)
    out = list(head)
    doc = _docstring_node(node)
    if doc is not None and doc.lineno > node.lineno:
        out += lines[doc.lineno - 1: doc.end_lineno]
    return out, indent, doc


def _function_stub(lines: list[str], node: ast.AST, message: str) -> list[str]:
    out, indent, _ = _signature_and_docstring(lines, node)
    out.append(_raise_line(indent, message))
    return out


def _class_stub(lines: list[str], node: ast.ClassDef, label: str) -> list[str]:
    out, indent, doc = _signature_and_docstring(lines, node)
    methods = [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for i, method in enumerate(methods):
        if i or doc is not None:
            out.append("")
        out += _function_stub(lines, method, f"{label}write {node.name}.{method.name}")
    if not methods:
        out.append(_raise_line(indent, f"{label}write {node.name}"))
    return out


def stub_source(source: str, label: str = "") -> str:
    """The student stub for the solution cell ``source`` (see the module docstring)."""
    prefix = f"{label}: " if label else ""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        tree = None
    if tree is None:
        return _raise_line("", f"{prefix}write your solution here")
    lines = source.splitlines()
    parts: list[list[str]] = []
    defines = False
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append(lines[node.lineno - 1: node.end_lineno])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(_function_stub(lines, node, f"{prefix}write {node.name}"))
            defines = True
        elif isinstance(node, ast.ClassDef):
            parts.append(_class_stub(lines, node, prefix))
            defines = True
    if not defines:
        parts.append([_raise_line("", f"{prefix}write your solution here")])
    blocks, previous_import = [], False
    for part in parts:
        is_import = bool(part) and part[0].lstrip().startswith(("import ", "from "))
        if blocks:
            blocks.append("\n" if (is_import and previous_import) else "\n\n\n")
        blocks.append("\n".join(part))
        previous_import = is_import
    return "".join(blocks)


# ----------------------------------------------------------------------------------------
# Markdown answers
# ----------------------------------------------------------------------------------------
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>:{3,}|`{3,})\{(?P<name>[\w-]+)\}(?P<rest>.*)$")


def _is_answer_block(name: str, rest: str) -> bool:
    if name in ("solution", "solution-start"):
        return True
    return name in ("dropdown", "admonition") and bool(_ANSWER_TITLE.search(rest))


def strip_answers(markdown: str) -> str:
    """Cut answer blocks out of a markdown cell (see the module docstring)."""
    lines = markdown.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m and _is_answer_block(m.group("name"), m.group("rest")):
            fence = m.group("fence")
            if m.group("name") == "solution-start":
                end = re.compile(r"^\s*" + re.escape(fence[0]) + "{3,}\\{solution-end\\}")
                j = i + 1
                while j < len(lines) and not end.match(lines[j]):
                    j += 1
                j += 1  # the solution-end directive itself
                while j < len(lines) and lines[j].strip() and \
                        re.match(r"^\s*" + re.escape(fence[0]) + "{3,}\\s*$", lines[j]):
                    j += 1  # its closing fence
            else:
                close = re.compile(r"^\s*" + re.escape(fence[0]) + "{" + str(len(fence)) +
                                   r",}\s*$")
                j = i + 1
                while j < len(lines) and not close.match(lines[j]):
                    j += 1
                j += 1
            i = j
            continue
        if re.match(r"^\s*<details", lines[i], re.IGNORECASE):
            j, depth, block = i, 0, []
            while j < len(lines):
                depth += len(re.findall(r"<details", lines[j], re.IGNORECASE))
                depth -= len(re.findall(r"</details>", lines[j], re.IGNORECASE))
                block.append(lines[j])
                j += 1
                if depth <= 0:
                    break
            summary = re.search(r"<summary>(.*?)</summary>", "\n".join(block),
                                re.IGNORECASE | re.DOTALL)
            if summary and _ANSWER_TITLE.search(summary.group(1)):
                i = j
                continue
            out += block
            i = j
            continue
        out.append(lines[i])
        i += 1
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") if text != markdown else markdown


# ----------------------------------------------------------------------------------------
# Notebooks
# ----------------------------------------------------------------------------------------
def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def make_student_notebook(nb: Any, name: str = "") -> tuple[Any, int]:
    """The student version of notebook ``nb`` (not modified) and the number of stubs made.

    ``name`` (the notebook's relative path) seeds the ids of cells that lack one.
    """
    nb = copy.deepcopy(nb)
    cells, n_stubs = [], 0
    for index, cell in enumerate(nb.cells):
        tags = _tags(cell)
        if REMOVE_TAG in tags:
            continue
        if SOLUTION_TAG in tags:
            if cell.cell_type != "code":
                continue  # quiz answers, discussions: gone
            label = str(cell.metadata.get("exercise", "")).strip()
            cell.source = stub_source(cell.source, label)
            cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
            n_stubs += 1
        elif cell.cell_type == "markdown":
            cell.source = strip_answers(cell.source)
            if not cell.source.strip():
                continue
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        if nb.get("nbformat_minor", 0) >= 5 and not cell.get("id"):
            cell["id"] = hashlib.sha1(f"{name}:{index}".encode()).hexdigest()[:8]
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    return nb, n_stubs


def make_student_copies(src_dir: str | Path, out_dir: str | Path) -> list[tuple[Path, int]]:
    """Write the student copy of every ``*.ipynb`` under ``src_dir`` into ``out_dir``.

    Sub-folders are mirrored; ``.ipynb_checkpoints`` is skipped. Returns
    ``[(written path, number of stubbed solution cells), ...]`` in sorted order.
    """
    import nbformat

    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"no such folder: {src}")
    written = []
    for path in sorted(src.rglob("*.ipynb")):
        rel = path.relative_to(src)
        if ".ipynb_checkpoints" in rel.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        student, n_stubs = make_student_notebook(nb, rel.as_posix())
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = nbformat.writes(student)
        if not text.endswith("\n"):
            text += "\n"
        target.write_bytes(text.encode("utf-8"))
        written.append((target, n_stubs))
    return written
