"""The built book, opened in a real browser.

What it checks, on every page listed in ``_toc.yml``:

* the page's title is the title of its source (``# ...`` of the Markdown file or of the
  notebook's first Markdown cell);
* math is rendered: MathJax produced output elements wherever the source has math, no
  MathJax error, and no raw TeX (``$$``, ``\\(``, ``\\[``, ``\\frac`` ...) is left in the
  visible text outside code;
* every ``<img>`` loaded (``naturalWidth > 0``);
* chapter notebooks have the Colab launch link, pointing at the repository named in
  ``_config.yml`` (the one place the URL is written);
* no console errors, no uncaught exceptions, no failed or 4xx/5xx requests, and no
  request leaves 127.0.0.1 (so MathJax and everything else is served offline).

A screenshot of every page goes to ``artifacts/screenshots/`` (git-ignored).

How it runs: the book is built once per session with ``jupyter-book build --all -W``
into a temporary ``--path-output`` with ``RECSYS_SMOKE=1`` (notebooks shrink their
work), unless ``RECSYS_BOOK_HTML`` points at an existing build (the ``_build/html``
folder, or a folder that contains ``_build/html``). The HTML is served by
``http.server`` on 127.0.0.1 and opened in headless Chromium, driven through the
Chrome DevTools protocol over ``--remote-debugging-pipe``: no Python package beyond the
standard library, no WebDriver. Chromium comes from Debian (``tools/install_chromium.sh``);
``RECSYS_CHROMIUM`` may name another binary. Without Chromium the browser tests skip,
except on CI (``CI=true``), where they fail.

``test_error_cell_fails_the_build`` needs no browser: it builds a one-notebook book
with the project's ``_config.yml`` and checks that a cell raising an error fails the
build, while the same book with a harmless cell builds.
"""
from __future__ import annotations

import base64
import fcntl
import functools
import html.parser
import http.server
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
BUILD_TIMEOUT = 3 * 3600  # seconds; a full (non-smoke) build trains real models
PAGE_TIMEOUT = 60  # seconds per page in the browser

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
]


# ----------------------------------------------------------------------------------------
# The book's own description of itself: config and table of contents
# ----------------------------------------------------------------------------------------
def load_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def toc_files() -> list[str]:
    """Every document in _toc.yml, in reading order, as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def source_of(doc: str) -> Path:
    for suffix in (".ipynb", ".md"):
        path = ROOT / (doc + suffix)
        if path.exists():
            return path
    raise FileNotFoundError(f"_toc.yml lists {doc!r} but neither {doc}.ipynb nor {doc}.md exists")


def source_text(path: Path) -> tuple[str, str]:
    """(title, markdown text) of a page's source."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        markdown = "\n\n".join(
            "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"]
            if c["cell_type"] == "markdown"
        )
    else:
        markdown = path.read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    match = re.search(r"^#\s+(.+?)\s*$", prose, flags=re.M)
    title = match.group(1) if match else ""
    return title, markdown


def has_math(markdown: str) -> bool:
    # Drop fenced code and inline code first: a "$" in code is not math.
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return bool(re.search(r"\$[^$\s]|\\begin\{|\{math\}|```\{math\}", text))


def plain_title(title: str) -> str:
    """The title as the browser shows it: Markdown emphasis, code and math marks removed."""
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    return straight_quotes(re.sub(r"[*_`]", "", title).strip())


def straight_quotes(text: str) -> str:
    """Sphinx turns ' and " into typographic quotes (smartquotes); compare without them."""
    return text.translate(str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}))


def colab_url(doc: str) -> str:
    cfg = load_config()
    repo = cfg["repository"]["url"].rstrip("/")
    owner_repo = repo.split("github.com/", 1)[1]
    branch = cfg["repository"].get("branch", "main")
    prefix = cfg["repository"].get("path_to_book", "").strip("/")
    path = "/".join(p for p in (prefix, doc + ".ipynb") if p)
    base = cfg["launch_buttons"]["colab_url"].rstrip("/")
    return f"{base}/github/{owner_repo}/blob/{branch}/{path}"


PAGES = toc_files()


# ----------------------------------------------------------------------------------------
# Building the book
# ----------------------------------------------------------------------------------------
def jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        return str(exe)
    found = shutil.which("jupyter-book")
    if not found:
        pytest.fail("jupyter-book is not installed in this environment")
    return found


def build_book(source: Path, output: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [jupyter_book(), "build", str(source), "--all", "-W", "--path-output", str(output)],
        cwd=source,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )


@pytest.fixture(scope="session")
def book_html(tmp_path_factory) -> Path:
    given = os.environ.get("RECSYS_BOOK_HTML")
    if given:
        path = Path(given).resolve()
        if (path / "_build" / "html").is_dir():
            path = path / "_build" / "html"
        if not (path / "index.html").exists():
            pytest.fail(f"RECSYS_BOOK_HTML={given} holds no built book (no index.html)")
        return path
    missing = [doc for doc in PAGES
               if not any((ROOT / (doc + sfx)).exists() for sfx in (".ipynb", ".md"))]
    if missing:
        pytest.fail(f"_toc.yml lists pages whose source does not exist: {missing}")
    out = tmp_path_factory.mktemp("book")
    started = time.monotonic()
    result = build_book(ROOT, out, env={"RECSYS_SMOKE": "1"})
    elapsed = time.monotonic() - started
    log = result.stdout + result.stderr
    (out / "build.log").write_text(log, encoding="utf-8")
    assert result.returncode == 0, (
        f"jupyter-book build --all -W failed after {elapsed:.0f} s; last lines:\n" + log[-6000:]
    )
    print(f"\nbook built in {elapsed:.0f} s into {out}")
    return out / "_build" / "html"


# ----------------------------------------------------------------------------------------
# Chrome DevTools protocol over a pipe (stdlib only)
# ----------------------------------------------------------------------------------------
def find_chromium() -> str | None:
    candidates = [
        os.environ.get("RECSYS_CHROMIUM"),
        "/usr/lib/chromium/chromium",  # Debian's binary, without the launcher script's extras
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class CDPError(RuntimeError):
    pass


class Browser:
    """Headless Chromium with ``--remote-debugging-pipe``: it reads DevTools commands on
    fd 3 and writes replies and events on fd 4, one JSON message per NUL-terminated chunk."""

    def __init__(self, binary: str, workdir: Path):
        self.profile = workdir / "profile"
        self.profile.mkdir(parents=True)
        self.log_path = workdir / "chromium.log"
        cmd_r, cmd_w = os.pipe()
        resp_r, resp_w = os.pipe()
        # Lift the child's ends above 9 so the dup2 onto 3 and 4 cannot clobber them.
        child_in = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(resp_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(resp_w)
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        argv = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                "--remote-debugging-pipe", "about:blank"]
        # posix_spawn is safe with threads running (unlike preexec_fn) and maps the fds.
        self.pid = os.posix_spawn(
            binary, argv, dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log_fd, 1),
                (os.POSIX_SPAWN_DUP2, log_fd, 2),
                (os.POSIX_SPAWN_DUP2, child_in, 3),
                (os.POSIX_SPAWN_DUP2, child_out, 4),
            ],
        )
        for fd in (child_in, child_out, log_fd):
            os.close(fd)
        self._out = cmd_w
        self._in = resp_r
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        try:
            self.version = self.send("Browser.getVersion", timeout=30)["product"]
        except Exception as exc:
            self.close()
            log = self.log_path.read_text(errors="replace")[-3000:]
            raise CDPError(f"Chromium did not start ({exc}); its output:\n{log}") from exc

    # -- transport --------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message from Chromium in time")
            ready, _, _ = select.select([self._in], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise CDPError("Chromium closed the DevTools pipe; see " + str(self.log_path))
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = PAGE_TIMEOUT) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._out, data):]
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = PAGE_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method and event.get("sessionId") == session:
                    return self.events.pop(i)
            message = self._read_message(deadline)
            if "method" in message:
                self.events.append(message)

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive in the next few seconds."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                message = self._read_message(deadline)
            except TimeoutError:
                return
            if "method" in message:
                self.events.append(message)

    def evaluate(self, session: str, expression: str, timeout: float = PAGE_TIMEOUT):
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True,
             "timeout": int(timeout * 1000)},
            session=session, timeout=timeout + 5,
        )
        if "exceptionDetails" in result:
            raise CDPError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        if self._out is None:
            return
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        for _ in range(100):
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self._out)
        os.close(self._in)
        self._out = self._in = None


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    binary = find_chromium()
    if binary is None:
        how = ("Chromium is not installed: run tools/install_chromium.sh (Debian packages "
               "chromium, chromium-driver, fonts-wqy-zenhei) or set RECSYS_CHROMIUM to a binary")
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(how + " (CI=true requires the browser test)")
        pytest.skip(how)
    chrome = Browser(binary, tmp_path_factory.mktemp("chromium"))
    yield chrome
    chrome.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="session")
def server(browser, book_html):
    # The browser comes first so that, without Chromium, the test skips before building.
    handler = functools.partial(_QuietHandler, directory=str(book_html))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# ----------------------------------------------------------------------------------------
# What is measured inside the page
# ----------------------------------------------------------------------------------------
SETTLE_JS = """
(async () => {
  const until = (p, ms) => Promise.race([p, new Promise(r => setTimeout(r, ms))]);
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await until(MathJax.startup.promise, 30000);
  }
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await until(Promise.all(images.map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); }))), 20000);
  if (document.fonts && document.fonts.ready) { await until(document.fonts.ready, 10000); }
  return true;
})()
"""

INSPECT_JS = r"""
(() => {
  const main = document.querySelector('main') || document.body;
  const h1 = main.querySelector('h1');
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, textarea, mjx-container, .MathJax, '
                         + 'mjx-assistive-mml, .highlight, .cell_input, .output.text_plain')
       .forEach(el => el.remove());
  const host = document.createElement('div');
  host.style.position = 'absolute'; host.style.left = '-99999px';
  host.appendChild(clone); document.documentElement.appendChild(host);
  const visible = clone.innerText; host.remove();
  const images = Array.from(document.images).map(img => ({
      src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0}));
  const colab = Array.from(document.querySelectorAll('a[href*="colab.research.google.com"]'))
      .map(a => a.href);
  return {
    title: document.title,
    h1: h1 ? h1.innerText.replace(/[#¶]\s*$/, '').trim() : '',
    mathjaxLoaded: !!(window.MathJax && window.MathJax.version),
    mathCount: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
    visible: visible,
    images: images,
    colab: colab,
    height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),
  };
})()
"""

RAW_TEX = [
    (re.compile(r"\$\$"), "$$"),
    (re.compile(r"\\\(|\\\)"), r"\( \)"),
    (re.compile(r"\\\[|\\\]"), r"\[ \]"),
    (re.compile(r"\\begin\{"), r"\begin{"),
    (re.compile(r"\\(?:frac|sum|prod|hat|mathrm|mathbf|langle|rangle|sigma|alpha|beta|"
                r"lambda|top|log|exp|sqrt|cdot|odot|in|le|ge|quad|text)\b"), "a TeX command"),
]


def inspect_page(browser: Browser, url: str, shot: Path) -> tuple[dict, list[str]]:
    """Open url in a fresh tab; return what the page shows and the problems the browser saw."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget",
                           {"targetId": target, "flatten": True})["sessionId"]
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                     session=session)
        nav = browser.send("Page.navigate", {"url": url}, session=session)
        if nav.get("errorText"):
            return {}, [f"navigation failed: {nav['errorText']}"]
        browser.wait_for("Page.loadEventFired", session)
        browser.evaluate(session, SETTLE_JS, timeout=90)
        browser.drain(0.5)
        seen = browser.evaluate(session, INSPECT_JS)
        # A viewport as tall as the page (capped) gives a whole-page screenshot with the
        # layout a reader sees; captureBeyondViewport shifts the sticky sidebars.
        height = max(900, min(int(seen["height"]), 12000))
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": height, "deviceScaleFactor": 1, "mobile": False},
                     session=session)
        browser.evaluate(session, "new Promise(r => requestAnimationFrame(() => "
                                  "requestAnimationFrame(() => r(true))))")
        shot.parent.mkdir(parents=True, exist_ok=True)
        png = browser.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
        shot.write_bytes(base64.b64decode(png))
    finally:
        browser.send("Target.closeTarget", {"targetId": target})

    problems = []
    requests = {}
    origin = url.split("/", 3)[:3]
    local = "/".join(origin) + "/"
    for event in [e for e in browser.events if e.get("sessionId") == session]:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            problems.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"uncaught exception: {text}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            problems.append(f"browser log error: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            req_url = params["request"]["url"]
            requests[params["requestId"]] = req_url
            if not (req_url.startswith(local) or req_url.split(":", 1)[0] in ("data", "blob", "about")):
                problems.append(f"request leaves the local server: {req_url}")
        elif method == "Network.responseReceived" and params["response"].get("status", 200) >= 400:
            problems.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            problems.append(f"request failed ({params.get('errorText')}): "
                            f"{requests.get(params['requestId'], '?')}")
    browser.events = [e for e in browser.events if e.get("sessionId") != session]
    return seen, problems


# ----------------------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("doc", PAGES)
def test_page_in_browser(doc, browser, server):
    source = source_of(doc)
    title, markdown = source_text(source)
    shot = SCREENSHOTS / (doc.replace("/", "__") + ".png")
    seen, problems = inspect_page(browser, f"{server}/{doc}.html", shot)
    assert seen, problems
    failures = []

    expected_title = plain_title(title)
    if not expected_title:
        failures.append(f"{source.name} has no '# title'")
    elif not straight_quotes(seen["h1"]).startswith(expected_title):
        failures.append(f"page heading {seen['h1']!r} is not the source title {expected_title!r}")
    if not seen["h1"] or not seen["title"].startswith(seen["h1"]):
        failures.append(f"<title> {seen['title']!r} does not start with the heading {seen['h1']!r}")

    if has_math(markdown):  # Sphinx loads MathJax only on pages that have math
        if not seen["mathjaxLoaded"]:
            failures.append("the source has math but MathJax did not load")
        elif seen["mathCount"] == 0:
            failures.append("the source has math but MathJax rendered none")
    if seen["mathErrors"]:
        failures.append(f"{seen['mathErrors']} MathJax errors on the page")
    raw = [label for pattern, label in RAW_TEX if pattern.search(seen["visible"])]
    if raw:
        failures.append(f"raw TeX left in the visible text: {raw}")

    broken = [img["src"] for img in seen["images"] if not img["ok"]]
    if broken:
        failures.append(f"images that did not load: {broken}")

    if source.suffix == ".ipynb" and colab_url(doc) not in seen["colab"]:
        failures.append(f"no Colab launch link {colab_url(doc)}; found {seen['colab']}")

    failures += [f"browser: {p}" for p in dict.fromkeys(problems)]
    if not shot.exists() or shot.stat().st_size < 1000:
        failures.append("no screenshot")
    assert not failures, f"{doc}.html:\n  " + "\n  ".join(failures)


class _ScriptSources(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.sources.append(attrs["src"])
        if tag == "link" and attrs.get("rel") in ("stylesheet", "preload") and attrs.get("href"):
            self.sources.append(attrs["href"])


def test_math_is_served_locally(book_html):
    """MathJax comes from _static/, and no page loads a script or stylesheet from a CDN."""
    assert (book_html / "_static" / "mathjax" / "tex-chtml.js").exists()
    remote = {}
    mathjax_pages = 0
    for page in book_html.rglob("*.html"):
        parser = _ScriptSources()
        parser.feed(page.read_text(encoding="utf-8"))
        external = [s for s in parser.sources if re.match(r"^(https?:)?//", s)]
        if external:
            remote[str(page.relative_to(book_html))] = external
        mathjax_pages += any("_static/mathjax/" in s for s in parser.sources)
    assert not remote, f"pages load scripts or styles from outside the book: {remote}"
    assert mathjax_pages > 0


# ----------------------------------------------------------------------------------------
# An error in a notebook must fail the build
# ----------------------------------------------------------------------------------------
def _one_notebook_book(folder: Path, code: str) -> None:
    # The project's config, and book/ for what it refers to (bibliography, favicon, the
    # local extension); only the one notebook is in the table of contents.
    shutil.copy(ROOT / "_config.yml", folder / "_config.yml")
    shutil.copytree(ROOT / "book", folder / "book",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "_toc.yml").write_text("format: jb-book\nroot: chapter\n", encoding="utf-8")
    notebook = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"},
                     "language_info": {"name": "python"}},
        "cells": [
            {"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# A chapter"},
            {"cell_type": "code", "id": "code", "metadata": {}, "execution_count": None,
             "outputs": [], "source": code},
        ],
    }
    (folder / "chapter.ipynb").write_text(json.dumps(notebook), encoding="utf-8")


@pytest.mark.parametrize("code, should_build", [
    ("print(6 * 7)", True),
    ("raise ZeroDivisionError('planted error in a notebook cell')", False),
])
def test_error_cell_fails_the_build(tmp_path, code, should_build):
    source = tmp_path / "src"
    source.mkdir()
    _one_notebook_book(source, code)
    result = build_book(source, tmp_path / "out")
    log = result.stdout + result.stderr
    if should_build:
        assert result.returncode == 0, "the control book should build:\n" + log[-4000:]
    else:
        assert result.returncode != 0, "a notebook whose cell raises must fail the build"
        assert "ZeroDivisionError" in log or "planted error" in log, log[-4000:]
