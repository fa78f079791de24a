"""Tests of recsys_course.data: the offline copies, the folder rule, downloads, errors.

Downloads are tested against a local HTTP server on 127.0.0.1 (never the internet).
The offline copies are found through $RECSYS_COURSE_DATA, else ../shared/data next to
the checkout (so a fresh clone at /work/fresh finds /work/shared/data too).
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import shutil
import socket
import threading
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pytest

from recsys_course import data
from recsys_course.data import ChecksumError, DataError, DownloadError

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get(data.DATA_ENV) or REPO.parent / "shared" / "data").resolve()
ML_FILES = data.ML100K_FILES


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".part")]


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ----------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test sees the caller's data settings or writes into the repository's data/."""
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv(data.CACHE_ENV, str(cache))
    return cache


@pytest.fixture(scope="session")
def shared() -> Path:
    if not all((SHARED / "ml-100k" / name).is_file() for name in ML_FILES):
        pytest.skip(f"offline copies not found at {SHARED} (set {data.DATA_ENV})")
    return SHARED


@pytest.fixture
def copy_of_shared(shared: Path, tmp_path: Path) -> Path:
    """A writable copy of the offline data folder."""
    folder = tmp_path / "copy"
    shutil.copytree(shared, folder, ignore=shutil.ignore_patterns("README.md"))
    for p in [folder, *folder.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return folder


def _zip_ml100k(source: Path, dest: Path, replace_files: dict[str, bytes] | None = None) -> Path:
    replace_files = replace_files or {}
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("ml-100k/", b"")
        for name in (*ML_FILES, "README"):
            content = replace_files.get(name)
            if content is None:
                content = (source / name).read_bytes() if name != "README" else b"readme\n"
            zf.writestr(f"ml-100k/{name}", content)
    return dest


@pytest.fixture(scope="session")
def data_files(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mirror folder: ml-100k.zip (built from the offline copy) and the samples."""
    root = tmp_path_factory.mktemp("mirror")
    _zip_ml100k(shared / "ml-100k", root / "ml-100k.zip")
    shutil.copytree(shared / "torch-rechub-samples", root / "torch-rechub-samples")
    return root


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[_Server]:
    """A local HTTP server (127.0.0.1, random port) serving an empty folder `root`."""
    root = tmp_path / "served"
    root.mkdir()
    server = _Server(root)
    yield server
    server.close()


@pytest.fixture
def mirror(http_server: _Server, data_files: Path, monkeypatch: pytest.MonkeyPatch) -> _Server:
    """The local server serving the mirror folder, with RECSYS_COURSE_MIRROR pointing at it."""
    shutil.copytree(data_files, http_server.root, dirs_exist_ok=True)
    monkeypatch.setenv(data.MIRROR_ENV, http_server.url)
    return http_server


@pytest.fixture
def closed_port_mirror(monkeypatch: pytest.MonkeyPatch) -> str:
    """A mirror URL where nothing listens (as when offline)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv(data.MIRROR_ENV, url)
    return url


# ----------------------------------------------------------------------------------------
# The offline copies
# ----------------------------------------------------------------------------------------
def test_movielens_offline_copy_has_the_expected_structure(shared: Path) -> None:
    ml = data.load_movielens_100k(shared, download=False)
    ratings, users, items = ml  # unpacks like a tuple

    assert ratings.shape == (100_000, 4)
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert (ratings.dtypes == np.int64).all()
    assert ratings.iloc[0].tolist() == [196, 242, 3, 881250949]
    assert ratings["rating"].between(1, 5).all() and set(ratings["rating"]) == {1, 2, 3, 4, 5}
    assert ratings["user_id"].nunique() == 943 and ratings["item_id"].nunique() == 1682

    assert users.shape == (943, 5)
    assert list(users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]
    assert users["user_id"].tolist() == list(range(1, 944))
    assert users["age"].dtype == np.int64
    assert set(users["gender"]) == {"M", "F"}
    assert users["occupation"].nunique() == 21
    assert users.loc[0, "zip_code"] == "85711"  # kept as text: some zip codes have letters

    assert len(items) == 1682 and items["item_id"].tolist() == list(range(1, 1683))
    assert len(ml.genres) == 19
    assert ml.genres[:3] == ["unknown", "Action", "Adventure"] and ml.genres[-1] == "Western"
    assert list(items.columns) == ["item_id", "title", "release_date", "imdb_url", *ml.genres]
    assert (items[ml.genres].dtypes == np.int64).all()
    assert items[ml.genres].isin([0, 1]).all().all()
    assert pd.api.types.is_datetime64_any_dtype(items["release_date"])
    assert items["release_date"].isna().sum() == 1  # movie 267, "unknown"
    assert items.loc[0, "title"] == "Toy Story (1995)"
    assert items.loc[0, "release_date"] == pd.Timestamp("1995-01-01")
    assert "Misérables" in items.set_index("item_id").loc[543, "title"]  # read as latin-1


def test_offline_copy_via_env_var_writes_nothing(shared: Path, isolated_env: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 closed_port_mirror: str) -> None:
    monkeypatch.setenv(data.DATA_ENV, str(shared))
    assert data.resolve_data_dir() == shared
    ml = data.load_movielens_100k()
    frame = data.load_rechub_sample("criteo")
    assert len(ml.ratings) == 100_000 and len(frame) == 115
    assert not isolated_env.exists()  # the cache was not even created


@pytest.mark.parametrize("name, shape", [("criteo", (115, 40)),
                                         ("amazon_electronics", (100, 4)),
                                         ("ml-1m", (100, 10))])
def test_rechub_samples_offline(shared: Path, name: str, shape: tuple[int, int]) -> None:
    sample = data.RECHUB_SAMPLES[name]
    path = shared / sample.local_path
    assert _sha256(path) == sample.sha256
    assert path.stat().st_size == sample.size_bytes
    frame = data.load_rechub_sample(name, shared, download=False)
    assert frame.shape == shape == (sample.rows, shape[1])
    assert set(sample.required_columns) <= set(frame.columns)


def test_sample_hashes_match_the_shared_readme_and_ours(shared: Path) -> None:
    listed = dict(re.findall(r"([0-9a-f]{64})\s+\./(\S+)", (shared / "README.md").read_text())
                  ) if (shared / "README.md").is_file() else {}
    ours = (REPO / "data" / "README.md").read_text()
    for sample in data.RECHUB_SAMPLES.values():
        if listed:
            assert {v: k for k, v in listed.items()}[sample.local_path] == sample.sha256
        assert sample.sha256 in ours, f"data/README.md does not list {sample.filename}'s hash"
        assert sample.repo_path in ours


def test_describe_sources_lists_every_dataset() -> None:
    table = data.describe_sources()
    assert table["name"].tolist() == ["ml-100k", "criteo", "amazon_electronics", "ml-1m"]
    assert {"url", "licence", "size", "rows", "verified_by"} <= set(table.columns)
    assert table["url"].str.startswith("https://").all()
    assert all(data.RECHUB_COMMIT in url for url in table["url"][1:])


def test_unknown_sample_name_lists_the_valid_names(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'criteo', 'amazon_electronics', 'ml-1m'"):
        data.load_rechub_sample("criteo_full", tmp_path)


# ----------------------------------------------------------------------------------------
# Which folder
# ----------------------------------------------------------------------------------------
def test_folder_rule(tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, offline = tmp_path / "explicit", tmp_path / "offline"
    # no env var: the cache folder is read and written
    assert data.search_dirs() == [isolated_env]
    assert data.resolve_data_dir() == data.download_dir() == isolated_env
    # RECSYS_COURSE_DATA is read first, but downloads still go to the cache
    monkeypatch.setenv(data.DATA_ENV, str(offline))
    assert data.search_dirs() == [offline, isolated_env]
    assert data.resolve_data_dir() == offline
    assert data.download_dir() == isolated_env
    # an explicit argument wins and is the only folder used
    assert data.search_dirs(explicit) == [explicit]
    assert data.resolve_data_dir(str(explicit)) == data.download_dir(explicit) == explicit
    # the cache without RECSYS_COURSE_CACHE: data/ of a checkout, else ~/.cache/recsys_course
    monkeypatch.delenv(data.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    root = Path(data.__file__).resolve().parents[1]
    in_checkout = (root / "pyproject.toml").is_file() and (root / "data").is_dir()
    expected = root / "data" if in_checkout else tmp_path / "xdg" / "recsys_course"
    assert data.cache_dir() == expected


# ----------------------------------------------------------------------------------------
# Downloads from the local server
# ----------------------------------------------------------------------------------------
def test_download_movielens(mirror: _Server, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "dl"
    ml = data.load_movielens_100k(target)
    assert len(ml.ratings) == 100_000 and len(ml.users) == 943 and len(ml.items) == 1682
    assert mirror.requests == ["/ml-100k.zip"]
    assert sorted(p.name for p in (target / "ml-100k").iterdir()) == sorted(ML_FILES)
    assert _tree(target) == ["ml-100k", *(f"ml-100k/{n}" for n in sorted(ML_FILES))]
    err = capsys.readouterr().err
    assert "downloading ml-100k.zip" in err and "100%" in err  # the tqdm progress bar

    again = data.load_movielens_100k(target)  # present now: no request at all
    assert mirror.requests == ["/ml-100k.zip"]
    pd.testing.assert_frame_equal(again.items, ml.items)


def test_download_sample_then_reuse(mirror: _Server, tmp_path: Path) -> None:
    frame = data.load_rechub_sample("amazon_electronics", tmp_path)
    stored = tmp_path / "torch-rechub-samples" / "amazon_electronics_sample.csv"
    assert _sha256(stored) == data.RECHUB_SAMPLES["amazon_electronics"].sha256
    assert list(frame.columns) == ["user_id", "item_id", "time", "cate_id"]
    assert mirror.requests == ["/torch-rechub-samples/amazon_electronics_sample.csv"]
    data.load_rechub_sample("amazon_electronics", tmp_path)
    assert len(mirror.requests) == 1
    assert _leftovers(tmp_path) == []


def test_present_file_is_never_downloaded(mirror: _Server, copy_of_shared: Path) -> None:
    data.load_movielens_100k(copy_of_shared)
    for name in data.RECHUB_SAMPLES:
        data.load_rechub_sample(name, copy_of_shared)
    assert mirror.requests == []


def test_wrong_hash_served_saves_nothing(http_server: _Server, data_files: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = http_server.root / "torch-rechub-samples"
    folder.mkdir()
    good = (data_files / "torch-rechub-samples" / "criteo_sample.csv").read_bytes()
    (folder / "criteo_sample.csv").write_bytes(good.replace(b"05db9164", b"05db9165", 1))
    monkeypatch.setenv(data.MIRROR_ENV, http_server.url)
    target = tmp_path / "dl"
    with pytest.raises(ChecksumError) as info:
        data.load_rechub_sample("criteo", target)
    message = str(info.value)
    assert "criteo_sample.csv" in message and data.RECHUB_SAMPLES["criteo"].sha256 in message
    assert _sha256(folder / "criteo_sample.csv") in message  # what it got
    assert not (target / "torch-rechub-samples" / "criteo_sample.csv").exists()
    assert _leftovers(tmp_path) == []


def test_bad_zip_served_saves_nothing(http_server: _Server, shared: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (shared / "ml-100k" / "u.data").read_bytes().splitlines(keepends=True)
    _zip_ml100k(shared / "ml-100k", http_server.root / "ml-100k.zip",
                {"u.data": b"".join(lines[:-10])})
    monkeypatch.setenv(data.MIRROR_ENV, http_server.url)
    target = tmp_path / "dl"
    with pytest.raises(DataError, match=r"u\.data.*99,990 ratings, expected 100,000"):
        data.load_movielens_100k(target)
    assert not any(p.is_file() for p in target.rglob("*"))
    assert _leftovers(tmp_path) == []

    (http_server.root / "ml-100k.zip").write_bytes(b"this is not a zip")
    with pytest.raises(DataError, match="not a valid zip"):
        data.load_movielens_100k(target)
    assert not any(p.is_file() for p in target.rglob("*"))


def test_http_error_is_reported(http_server: _Server, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.MIRROR_ENV, http_server.url)  # serves an empty folder
    with pytest.raises(DownloadError, match=r"ml-1m_sample\.csv.*404"):
        data.load_rechub_sample("ml-1m", tmp_path)
    assert _leftovers(tmp_path) == []


def test_offline_with_empty_folder(closed_port_mirror: str, tmp_path: Path) -> None:
    target = tmp_path / "dl"
    with pytest.raises(DownloadError) as info:
        data.load_movielens_100k(target)
    message = str(info.value)
    assert "ml-100k.zip" in message and closed_port_mirror in message
    assert str(target) in message and data.DATA_ENV in message  # where to put the files
    with pytest.raises(DownloadError, match=rf"criteo_sample\.csv.*{data.DATA_ENV}"):
        data.load_rechub_sample("criteo", target)
    assert not target.exists()  # nothing was created, not even the folder


def test_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        monkeypatch.setenv(data.MIRROR_ENV, f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setattr(data, "TIMEOUT", 0.3)
        with pytest.raises(DownloadError, match="timed out"):
            data.load_rechub_sample("criteo", tmp_path)
    assert _leftovers(tmp_path) == []


def test_download_false_with_missing_file(closed_port_mirror: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"u\.data.*download=False.*download=True"):
        data.load_movielens_100k(tmp_path, download=False)
    with pytest.raises(DownloadError, match=r"ml-1m_sample\.csv not found.*download=False"):
        data.load_rechub_sample("ml-1m", tmp_path, download=False)
    assert list(tmp_path.iterdir()) == []


def test_read_only_data_folder_is_never_written(mirror: _Server, shared: Path, tmp_path: Path,
                                                isolated_env: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # RECSYS_COURSE_DATA holds the criteo sample and four of MovieLens' five files
    offline = tmp_path / "offline"
    (offline / "torch-rechub-samples").mkdir(parents=True)
    (offline / "ml-100k").mkdir()
    shutil.copy(shared / "torch-rechub-samples" / "criteo_sample.csv",
                offline / "torch-rechub-samples")
    for name in ML_FILES:
        if name != "u.data":
            shutil.copy(shared / "ml-100k" / name, offline / "ml-100k")
    folders = [offline, *(p for p in offline.rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)  # root may still write here: the loader must not try
    before = {str(p): p.stat().st_mtime_ns for p in offline.rglob("*")}
    monkeypatch.setenv(data.DATA_ENV, str(offline))
    try:
        assert len(data.load_rechub_sample("criteo")) == 115
        assert mirror.requests == []  # found in the offline folder
        assert len(data.load_rechub_sample("ml-1m")) == 100
        ml = data.load_movielens_100k()
        assert len(ml.ratings) == 100_000
        after = {str(p): p.stat().st_mtime_ns for p in offline.rglob("*")}
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert after == before
    assert _tree(isolated_env) == ["ml-100k", "ml-100k/u.data", "torch-rechub-samples",
                                   "torch-rechub-samples/ml-1m_sample.csv"]
    assert mirror.requests == ["/torch-rechub-samples/ml-1m_sample.csv", "/ml-100k.zip"]


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    final, tmp = tmp_path / "f.csv", tmp_path / ".f.csv.x.part"
    final.write_text("mine")
    tmp.write_text("theirs")
    data._move_into_place(tmp, final)
    assert final.read_text() == "mine"


# ----------------------------------------------------------------------------------------
# Damaged files on disk
# ----------------------------------------------------------------------------------------
def test_truncated_u_data(copy_of_shared: Path, closed_port_mirror: str) -> None:
    u_data = copy_of_shared / "ml-100k" / "u.data"
    lines = u_data.read_bytes().splitlines(keepends=True)
    u_data.write_bytes(b"".join(lines[:-10]))
    with pytest.raises(DataError, match=r"u\.data has 99,990 ratings, expected 100,000") as info:
        data.load_movielens_100k(copy_of_shared)
    assert str(u_data) in str(info.value) and "download=True" in str(info.value)
    assert len(u_data.read_bytes().splitlines()) == 99_990  # left alone


def test_malformed_line_in_u_data(copy_of_shared: Path) -> None:
    u_data = copy_of_shared / "ml-100k" / "u.data"
    lines = u_data.read_bytes().splitlines(keepends=True)
    lines[4] = b"1\t2\t3\n"
    u_data.write_bytes(b"".join(lines))
    with pytest.raises(DataError, match=r"u\.data, line 5: 3 fields, expected 4"):
        data.load_movielens_100k(copy_of_shared, download=False)
    lines[4] = b"1\t2\tfive\t881250949\n"
    u_data.write_bytes(b"".join(lines))
    with pytest.raises(DataError, match=r"u\.data: row 5 has 'five' in column 'rating'"):
        data.load_movielens_100k(copy_of_shared, download=False)


def test_bad_rating_and_bad_genre_list(copy_of_shared: Path) -> None:
    folder = copy_of_shared / "ml-100k"
    original = (folder / "u.data").read_bytes()
    (folder / "u.data").write_bytes(original.replace(b"\t3\t", b"\t6\t", 1))
    with pytest.raises(DataError, match=r"u\.data: ratings must lie in 1\.\.5"):
        data.load_movielens_100k(copy_of_shared, download=False)
    (folder / "u.data").write_bytes(original)
    genres = (folder / "u.genre").read_text().splitlines()
    (folder / "u.genre").write_text("\n".join(genres[:-1]) + "\n")
    with pytest.raises(DataError, match=r"u\.genre has 18 genres, expected 19"):
        data.load_movielens_100k(copy_of_shared, download=False)


def test_hash_mismatch_on_disk(copy_of_shared: Path, mirror: _Server) -> None:
    path = copy_of_shared / "torch-rechub-samples" / "criteo_sample.csv"
    damaged = path.read_bytes()[:-100]
    path.write_bytes(damaged)
    with pytest.raises(ChecksumError, match=r"criteo_sample\.csv.*expected.*[Dd]elete"):
        data.load_rechub_sample("criteo", copy_of_shared)
    assert path.read_bytes() == damaged  # not overwritten
    assert mirror.requests == []  # nor re-downloaded behind the user's back


def test_csv_missing_a_column(copy_of_shared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = copy_of_shared / "torch-rechub-samples" / "criteo_sample.csv"
    pd.read_csv(path).drop(columns=["C26"]).to_csv(path, index=False)
    # a file with the right hash always has its columns: pretend this one is the expected
    sample = data.RECHUB_SAMPLES["criteo"]
    monkeypatch.setitem(data.RECHUB_SAMPLES, "criteo", replace(sample, sha256=_sha256(path)))
    with pytest.raises(DataError, match=r"criteo_sample\.csv.*lacks the column\(s\) \['C26'\]"):
        data.load_rechub_sample("criteo", copy_of_shared, download=False)
