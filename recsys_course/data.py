"""Data loaders: MovieLens 100K and the torch-rechub sample files, as pandas DataFrames.

Chapter 00 (``00_data_tour``) introduces these loaders and the datasets; every later
chapter starts from one of them (the course's data flow begins with ``data.load_*``).

Two loaders, one rule for where files live
------------------------------------------
* :func:`load_movielens_100k` reads GroupLens' own layout ``<folder>/ml-100k/u.data``,
  ``u.item``, ``u.user``, ``u.genre`` and ``u.occupation``. It checks the data by its
  *structure* (100,000 ratings, 943 users, 1,682 movies, 19 genres, ratings 1..5),
  because copies of MovieLens are not always byte-identical to GroupLens' zip.
* :func:`load_rechub_sample` reads one of the small CSV samples shipped in the
  torch-rechub repository (``"criteo"``, ``"amazon_electronics"``, ``"ml-1m"``). Those
  are fixed files of a fixed commit, so they are checked by their *sha256*.

Which folders are used (see :func:`search_dirs` and :func:`download_dir`):

1. ``data_dir`` passed to a loader: only that folder is read, and missing files are
   downloaded into it.
2. Otherwise the folder named by the environment variable ``RECSYS_COURSE_DATA`` is read
   first. It holds offline copies and may be read-only (CI points it at a shared
   read-only folder), so the loaders **never write into it**.
3. Then the cache folder, which is where downloads go: ``RECSYS_COURSE_CACHE`` if set,
   else the repository's ``data/`` folder when the package runs from a checkout, else
   ``~/.cache/recsys_course`` (e.g. on Colab, where the package is pip-installed).

A file found in a folder is verified there and used as it is: the loaders never write
into a folder that already holds the file. A download goes to a temporary file next to
its destination, is verified, and only then renamed into place (an atomic step), so an
interrupted or bad download leaves no partial file behind.

Downloads use only the standard library (``urllib``) with a timeout and a tqdm progress
bar. Their URLs can be redirected to a mirror (for tests, a local HTTP server) with the
environment variable ``RECSYS_COURSE_MIRROR``; see :func:`source_url`.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

__all__ = [
    "DataError",
    "ChecksumError",
    "DownloadError",
    "MovieLens",
    "Source",
    "RechubSample",
    "SOURCES",
    "RECHUB_SAMPLES",
    "load_movielens_100k",
    "load_rechub_sample",
    "resolve_data_dir",
    "search_dirs",
    "download_dir",
    "cache_dir",
    "source_url",
    "describe_sources",
]

# ----------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------
DATA_ENV = "RECSYS_COURSE_DATA"  # folder of offline copies, read only by the loaders
CACHE_ENV = "RECSYS_COURSE_CACHE"  # writable folder that downloads go to
MIRROR_ENV = "RECSYS_COURSE_MIRROR"  # base URL that replaces the public homes

MOVIELENS_100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
RECHUB_COMMIT = "5a73b2eebc3a670dc64c54971cc06a78ddd55394"
RECHUB_RAW_URL = f"https://raw.githubusercontent.com/datawhalechina/torch-rechub/{RECHUB_COMMIT}"

TIMEOUT = 30.0  # seconds, for connecting and for each read of a download
_CHUNK = 1 << 16  # bytes read at a time while downloading


# ----------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------
class DataError(ValueError):
    """A data file is missing, damaged or not the expected dataset.

    The message always names the file and says what to do about it.
    """


class ChecksumError(DataError):
    """A file's sha256 differs from the one the course expects."""


class DownloadError(DataError):
    """A file is missing and could not be downloaded (offline, unreachable, HTTP error)."""


# ----------------------------------------------------------------------------------------
# The sources (shown by describe_sources(), documented in data/README.md)
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Source:
    """One dataset of the course: where it comes from and how the loader checks it."""

    name: str
    description: str
    url: str
    local_path: str  # relative to a data folder
    rows: str
    size: str
    licence: str
    verified_by: str


@dataclass(frozen=True)
class RechubSample:
    """One sample CSV of the torch-rechub repository (at commit ``RECHUB_COMMIT``)."""

    name: str
    repo_path: str  # path inside the torch-rechub repository
    sha256: str
    required_columns: tuple[str, ...]
    rows: int
    size_bytes: int

    @property
    def filename(self) -> str:
        return self.repo_path.rsplit("/", 1)[-1]

    @property
    def local_path(self) -> str:
        return f"torch-rechub-samples/{self.filename}"


RECHUB_SAMPLES: dict[str, RechubSample] = {
    "criteo": RechubSample(
        name="criteo",
        repo_path="examples/ranking/data/criteo/criteo_sample.csv",
        sha256="6da856f4e05fbeecfbe81f92c3a218fde8db0781a079f043cdb1eeed456aa760",
        required_columns=("label", *(f"I{i}" for i in range(1, 14)),
                          *(f"C{i}" for i in range(1, 27))),
        rows=115,
        size_bytes=30_300,
    ),
    "amazon_electronics": RechubSample(
        name="amazon_electronics",
        repo_path="examples/ranking/data/amazon-electronics/amazon_electronics_sample.csv",
        sha256="266b52fa56851657534acd707843c0ba58caddd57c0c86f15677bccf09f8250a",
        required_columns=("user_id", "item_id", "time", "cate_id"),
        rows=100,
        size_bytes=2_355,
    ),
    "ml-1m": RechubSample(
        name="ml-1m",
        repo_path="examples/matching/data/ml-1m/ml-1m_sample.csv",
        sha256="9322992b2dec24794a3ce8a28e8d871792195d2021f79cf361fd6d295b873b9a",
        required_columns=("user_id", "movie_id", "rating", "timestamp", "title", "genres",
                          "gender", "age", "occupation", "zip"),
        rows=100,
        size_bytes=7_412,
    ),
}

ML100K_FILES = ("u.data", "u.item", "u.user", "u.genre", "u.occupation")
ML100K_SHAPE = {"ratings": 100_000, "users": 943, "items": 1_682, "genres": 19}

_GROUPLENS_TERMS = ("GroupLens usage licence: research use, cite Harper & Konstan (2015), "
                    "no redistribution")
_SAMPLE_TEXT = {
    "criteo": ("Criteo display-ads sample: label, I1..I13 (dense), C1..C26 (hashed categories)",
               "repository MIT; Criteo's data terms (research use)"),
    "amazon_electronics": ("Amazon Electronics behaviour sample: user_id, item_id, time, cate_id",
                           "repository MIT; Amazon review data terms (research use)"),
    "ml-1m": ("MovieLens 1M sample: ratings joined with user and movie side features",
              f"repository MIT; {_GROUPLENS_TERMS}"),
}

SOURCES: tuple[Source, ...] = (
    Source(
        name="ml-100k",
        description="MovieLens 100K ratings, users and movies (GroupLens layout)",
        url=MOVIELENS_100K_URL,
        local_path="ml-100k/{u.data,u.item,u.user,u.genre,u.occupation}",
        rows="100,000 ratings; 943 users; 1,682 movies",
        size="zip about 4.9 MB; the five files used about 2.2 MB",
        licence=_GROUPLENS_TERMS,
        verified_by="structure (row counts, fields per line, ids, ratings 1..5, 19 genres)",
    ),
    *(
        Source(
            name=s.name,
            description=_SAMPLE_TEXT[s.name][0],
            url=f"{RECHUB_RAW_URL}/{s.repo_path}",
            local_path=s.local_path,
            rows=f"{s.rows:,}",
            size=f"{s.size_bytes:,} bytes",
            licence=_SAMPLE_TEXT[s.name][1],
            verified_by=f"sha256 {s.sha256}",
        )
        for s in RECHUB_SAMPLES.values()
    ),
)


def describe_sources() -> pd.DataFrame:
    """The table of the course's datasets (chapter 00_data_tour and data/README.md)."""
    return pd.DataFrame([asdict(s) for s in SOURCES])


# ----------------------------------------------------------------------------------------
# Where files live
# ----------------------------------------------------------------------------------------
def _checkout_data_dir() -> Path | None:
    """The repository's ``data/`` folder when the package runs from a checkout."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "data").is_dir():
        return root / "data"
    return None


def cache_dir() -> Path:
    """The writable folder that downloads go to when no ``data_dir`` is passed.

    ``$RECSYS_COURSE_CACHE`` if set, else the repository's ``data/`` folder when running
    from a checkout, else ``$XDG_CACHE_HOME/recsys_course`` (``~/.cache/recsys_course``).
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    checkout = _checkout_data_dir()
    if checkout is not None:
        return checkout
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "recsys_course"


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders a loader looks in, in order (the first one holding a file wins).

    With ``data_dir``: only that folder. Without: ``$RECSYS_COURSE_DATA`` (if set), then
    :func:`cache_dir`.
    """
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    folders = []
    env = os.environ.get(DATA_ENV)
    if env:
        folders.append(Path(env).expanduser())
    cache = cache_dir()
    if not any(_same_folder(cache, f) for f in folders):
        folders.append(cache)
    return folders


def download_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder a missing file is downloaded into: ``data_dir`` if given, else
    :func:`cache_dir`. Never the ``$RECSYS_COURSE_DATA`` folder (it may be read-only)."""
    return Path(data_dir).expanduser() if data_dir is not None else cache_dir()


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The first folder the loaders look in: ``data_dir``, else ``$RECSYS_COURSE_DATA``,
    else the cache folder (see the module docstring for the full rule)."""
    return search_dirs(data_dir)[0]


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _find(relpath: str, data_dir: str | os.PathLike | None) -> Path | None:
    for folder in search_dirs(data_dir):
        candidate = folder / relpath
        if candidate.is_file():
            return candidate
    return None


def source_url(relpath: str, default: str) -> str:
    """The URL a file is downloaded from.

    ``default`` (its public home) unless ``$RECSYS_COURSE_MIRROR`` is set; a mirror has
    the layout of a data folder, with MovieLens zipped: ``<mirror>/ml-100k.zip`` and
    ``<mirror>/torch-rechub-samples/<file>.csv``.
    """
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{relpath}"
    return default


def _where_to_put(relpath: str, data_dir: str | os.PathLike | None) -> str:
    return (f"put it at {download_dir(data_dir) / relpath}, or set {DATA_ENV} to a folder "
            f"that holds {relpath}")


# ----------------------------------------------------------------------------------------
# Downloads: temporary file -> verify -> atomic rename
# ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _temporary_file(folder: Path, name: str) -> Iterator[Path]:
    """A new empty file ``.<name>.*.part`` in ``folder``, removed on exit unless it was
    renamed into place meanwhile."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    except OSError as err:
        raise DownloadError(
            f"Cannot write {name} into {folder} ({err}). Pass a writable data_dir=..., "
            f"or set {CACHE_ENV} to a writable folder."
        ) from err
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _download(url: str, folder: Path, name: str, fix: str) -> Iterator[Path]:
    """Download ``url`` into a temporary file in ``folder``, with a progress bar.

    Yields the temporary file for the caller to verify and move into place; it is
    removed on exit otherwise. The connection is opened before anything is written, so
    an unreachable source leaves the folder untouched.
    """
    def failure(err: BaseException) -> DownloadError:
        if isinstance(err, urllib.error.HTTPError):
            reason = f"HTTP {err.code} {err.reason}"
        else:
            reason = str(getattr(err, "reason", None) or err or type(err).__name__)
        return DownloadError(
            f"{name} is missing and could not be downloaded from {url} ({reason}). "
            f"If you are offline or the source is unreachable: {fix}. Then run again "
            f"(download=False never uses the network)."
        )

    network_errors = (OSError, http.client.HTTPException)  # URLError, HTTPError, timeouts
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT)
    except network_errors as err:
        raise failure(err) from err
    with response, _temporary_file(folder, name) as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        received = 0
        try:
            with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                              unit_divisor=1024, desc=f"downloading {name}") as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except network_errors as err:
            raise failure(err) from err
        if total is not None and received != total:
            raise DownloadError(f"The download of {name} from {url} stopped after {received:,} "
                                f"of {total:,} bytes; nothing was saved. Run again, or {fix}.")
        yield tmp


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename a verified temporary file to its final name (atomic in one folder).

    If ``final`` appeared meanwhile (another process), it is kept and ``tmp`` dropped:
    a file already in place is never overwritten.
    """
    if final.exists():
        return
    os.replace(tmp, final)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------
# Reading GroupLens' text files, strictly
# ----------------------------------------------------------------------------------------
def _read_fields(path: Path, shown: str, sep: str, n_fields: int) -> list[list[str]]:
    """Lines of a latin-1 text file split on ``sep``; every line must have ``n_fields``."""
    text = path.read_text(encoding="latin-1")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue  # GroupLens' u.genre ends with an empty line
        fields = line.split(sep)
        if len(fields) != n_fields:
            raise DataError(f"{shown}, line {number}: {len(fields)} fields, expected "
                            f"{n_fields} separated by {sep!r}: {line[:80]!r}")
        rows.append(fields)
    return rows


def _int_column(values: Sequence[str], column: str, shown: str) -> np.ndarray:
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    bad = np.flatnonzero(numbers.isna().to_numpy())
    if len(bad):
        raise DataError(f"{shown}: row {bad[0] + 1} has {values[bad[0]]!r} in column "
                        f"{column!r}, expected an integer")
    if numbers.dtype.kind != "i":
        bad = np.flatnonzero(numbers.to_numpy() != np.round(numbers.to_numpy()))
        if len(bad):
            raise DataError(f"{shown}: row {bad[0] + 1} has {values[bad[0]]!r} in column "
                            f"{column!r}, expected an integer")
    return numbers.to_numpy().astype(np.int64)


def _expect_count(n: int, expected: int, what: str, shown: str) -> None:
    if n != expected:
        raise DataError(f"{shown} has {n:,} {what}, expected {expected:,}: the file is "
                        f"truncated or not MovieLens 100K")


def _expect_ids(ids: np.ndarray, n: int, what: str, shown: str) -> None:
    if not np.array_equal(np.sort(ids), np.arange(1, n + 1)):
        raise DataError(f"{shown}: {what} ids are not exactly 1..{n:,} (duplicates or gaps)")


def _read_genres(path: Path, shown: str) -> list[str]:
    rows = _read_fields(path, shown, "|", 2)
    _expect_count(len(rows), ML100K_SHAPE["genres"], "genres", shown)
    names = [name for name, _ in rows]
    codes = [code for _, code in rows]
    if codes != [str(i) for i in range(len(rows))]:
        raise DataError(f"{shown}: genre codes should be 0..{len(rows) - 1} in order, got {codes}")
    return names


def _read_occupations(path: Path, shown: str) -> list[str]:
    names = [fields[0] for fields in _read_fields(path, shown, "|", 1)]
    if not names:
        raise DataError(f"{shown} is empty, expected one occupation per line")
    return names


def _read_users(path: Path, shown: str, occupations: list[str]) -> pd.DataFrame:
    rows = _read_fields(path, shown, "|", 5)
    _expect_count(len(rows), ML100K_SHAPE["users"], "users", shown)
    user_id, age, gender, occupation, zip_code = zip(*rows)
    users = pd.DataFrame({
        "user_id": _int_column(user_id, "user_id", shown),
        "age": _int_column(age, "age", shown),
        "gender": list(gender),
        "occupation": list(occupation),
        "zip_code": list(zip_code),
    })
    _expect_ids(users["user_id"].to_numpy(), ML100K_SHAPE["users"], "user", shown)
    if not users["gender"].isin(["M", "F"]).all():
        raise DataError(f"{shown}: gender must be 'M' or 'F', got "
                        f"{sorted(set(users['gender']) - {'M', 'F'})}")
    unknown = sorted(set(users["occupation"]) - set(occupations))
    if unknown:
        raise DataError(f"{shown}: occupations {unknown} are not listed in u.occupation")
    return users.sort_values("user_id", ignore_index=True)


def _read_items(path: Path, shown: str, genres: list[str]) -> pd.DataFrame:
    rows = _read_fields(path, shown, "|", 5 + len(genres))
    _expect_count(len(rows), ML100K_SHAPE["items"], "movies", shown)
    columns = list(zip(*rows))
    dates = pd.Series(columns[2], dtype=object)
    dates = dates.mask(dates == "")  # an empty date becomes NaN, then NaT
    release_date = pd.to_datetime(dates, format="%d-%b-%Y", errors="coerce")
    bad = np.flatnonzero((release_date.isna() & dates.notna()).to_numpy())
    if len(bad):
        raise DataError(f"{shown}: row {bad[0] + 1} has release date {dates[bad[0]]!r}, "
                        f"expected a date like '01-Jan-1995' or nothing")
    items = pd.DataFrame({
        "item_id": _int_column(columns[0], "item_id", shown),
        "title": list(columns[1]),
        "release_date": release_date,
        # columns[3], the video release date, is empty for every movie: dropped
        "imdb_url": pd.Series(columns[4], dtype=object).replace("", np.nan),
    })
    for genre, values in zip(genres, columns[5:]):
        flags = _int_column(values, genre, shown)
        if not np.isin(flags, (0, 1)).all():
            raise DataError(f"{shown}: genre column {genre!r} must hold 0 or 1")
        items[genre] = flags
    _expect_ids(items["item_id"].to_numpy(), ML100K_SHAPE["items"], "movie", shown)
    return items.sort_values("item_id", ignore_index=True)


def _read_ratings(path: Path, shown: str) -> pd.DataFrame:
    rows = _read_fields(path, shown, "\t", 4)
    _expect_count(len(rows), ML100K_SHAPE["ratings"], "ratings", shown)
    names = ("user_id", "item_id", "rating", "timestamp")
    ratings = pd.DataFrame({n: _int_column(c, n, shown) for n, c in zip(names, zip(*rows))})
    if not ratings["rating"].between(1, 5).all():
        raise DataError(f"{shown}: ratings must lie in 1..5, found "
                        f"{ratings['rating'].min()}..{ratings['rating'].max()}")
    return ratings


# ----------------------------------------------------------------------------------------
# MovieLens 100K
# ----------------------------------------------------------------------------------------
class MovieLens(NamedTuple):
    """MovieLens 100K as three DataFrames (chapter 00_data_tour).

    * ``ratings``: user_id, item_id, rating (1..5), timestamp (unix seconds); all int64.
    * ``users``: user_id (int64), age (int64), gender ('M'/'F'), occupation, zip_code.
    * ``items``: item_id (int64), title, release_date (datetime64, NaT when unknown),
      imdb_url (NaN when unknown), then one int64 0/1 column per genre of ``u.genre``
      ("unknown", "Action", ..., "Western"). GroupLens' video release date column is
      empty for every movie and is dropped.
    """

    ratings: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame

    @property
    def genres(self) -> list[str]:
        """The genre flag columns of ``items``, in u.genre's order."""
        return list(self.items.columns[4:])


def _read_movielens(paths: dict[str, Path], shown: dict[str, str]) -> MovieLens:
    """Parse and check the five files (``paths`` maps u.data, ... to files on disk)."""
    genres = _read_genres(paths["u.genre"], shown["u.genre"])
    occupations = _read_occupations(paths["u.occupation"], shown["u.occupation"])
    users = _read_users(paths["u.user"], shown["u.user"], occupations)
    items = _read_items(paths["u.item"], shown["u.item"], genres)
    ratings = _read_ratings(paths["u.data"], shown["u.data"])
    for column, table in (("user_id", users), ("item_id", items)):
        unknown = ~ratings[column].isin(table[column])
        if unknown.any():
            raise DataError(f"{shown['u.data']}: {column} {ratings.loc[unknown, column].iloc[0]} "
                            f"is not in {'u.user' if column == 'user_id' else 'u.item'}")
    return MovieLens(ratings=ratings, users=users, items=items)


def load_movielens_100k(data_dir: str | os.PathLike | None = None,
                        download: bool = True) -> MovieLens:
    """Load MovieLens 100K as ``MovieLens(ratings, users, items)`` (chapter 00_data_tour).

    Reads ``<folder>/ml-100k/{u.data,u.item,u.user,u.genre,u.occupation}`` in GroupLens'
    layout. Each file is taken from the first folder of :func:`search_dirs` that holds
    it: ``data_dir`` if given, else ``$RECSYS_COURSE_DATA`` then the cache folder.

    When files are missing and ``download`` is true, GroupLens' ``ml-100k.zip`` is
    downloaded (into :func:`download_dir`: ``data_dir`` or the cache, never
    ``$RECSYS_COURSE_DATA``), the missing files are extracted, the data is checked, and
    only then are the files moved into ``<folder>/ml-100k/``. Files already present are
    never overwritten.

    The data is checked by structure every time it is loaded: 100,000 ratings in 1..5,
    943 users, 1,682 movies, 19 genre flags, the right number of fields on every line.

    Raises:
        DataError: a file is damaged or not MovieLens 100K (the message names it).
        DownloadError: files are missing and ``download`` is false or the download failed.
    """
    found = {name: _find(f"ml-100k/{name}", data_dir) for name in ML100K_FILES}
    missing = [name for name, path in found.items() if path is None]
    fix = ("put GroupLens' ml-100k folder (u.data, u.item, u.user, u.genre, u.occupation) "
           f"into {download_dir(data_dir)}, or set {DATA_ENV} to a folder holding ml-100k/")

    if not missing:
        paths = {name: path for name, path in found.items() if path is not None}
        try:
            return _read_movielens(paths, {name: str(path) for name, path in paths.items()})
        except DataError as err:
            raise DataError(
                f"{err}. Fix: replace the file with the one from GroupLens' ml-100k.zip "
                f"({MOVIELENS_100K_URL}), or delete it and run again with download=True."
            ) from None

    looked = ", ".join(str(folder / "ml-100k") for folder in search_dirs(data_dir))
    if not download:
        raise DownloadError(f"MovieLens 100K: {', '.join(missing)} not found (looked in "
                            f"{looked}) and download=False. To fix: {fix}, or call "
                            f"again with download=True.")
    return _download_movielens(found, missing, data_dir, fix)


def _download_movielens(found: dict[str, Path | None], missing: list[str],
                        data_dir: str | os.PathLike | None, fix: str) -> MovieLens:
    url = source_url("ml-100k.zip", MOVIELENS_100K_URL)
    target = download_dir(data_dir) / "ml-100k"
    with contextlib.ExitStack() as stack:
        archive = stack.enter_context(_download(url, download_dir(data_dir), "ml-100k.zip", fix))
        extracted: dict[str, Path] = {}
        try:
            with zipfile.ZipFile(archive) as zf:
                members = {m.rsplit("/", 1)[-1]: m for m in zf.namelist() if not m.endswith("/")}
                for name in missing:
                    if name not in members:
                        raise DataError(f"The zip downloaded from {url} has no {name}: it is not "
                                        f"MovieLens 100K; nothing was saved. Check {MIRROR_ENV} "
                                        f"or {fix}.")
                    tmp = stack.enter_context(_temporary_file(target, name))
                    with zf.open(members[name]) as src, open(tmp, "wb") as dst:
                        while block := src.read(_CHUNK):
                            dst.write(block)
                    extracted[name] = tmp
        except zipfile.BadZipFile as err:
            raise DataError(f"The file downloaded from {url} is not a valid zip ({err}); "
                            f"nothing was saved. Run again, or {fix}.") from err

        paths = {name: extracted.get(name) or found[name] for name in ML100K_FILES}
        shown = {name: (f"{name} from {url}" if name in extracted else str(found[name]))
                 for name in ML100K_FILES}
        try:
            data = _read_movielens(paths, shown)  # type: ignore[arg-type]
        except DataError as err:
            raise DataError(f"{err}. Nothing was saved. Check the download source "
                            f"({MIRROR_ENV}) or {fix}.") from None
        for name, tmp in extracted.items():
            _move_into_place(tmp, target / name)
    return data


# ----------------------------------------------------------------------------------------
# torch-rechub samples
# ----------------------------------------------------------------------------------------
def _sample(name: str) -> RechubSample:
    if name not in RECHUB_SAMPLES:
        raise DataError(f"Unknown torch-rechub sample {name!r}; valid names: "
                        f"{', '.join(repr(n) for n in RECHUB_SAMPLES)}")
    return RECHUB_SAMPLES[name]


def _read_sample(sample: RechubSample, path: Path, shown: str, fix: str) -> pd.DataFrame:
    """Check the sha256 and the columns of a sample CSV, then read it."""
    got = _sha256(path)
    if got != sample.sha256:
        raise ChecksumError(f"{sample.filename} ({shown}) has sha256 {got}, expected "
                            f"{sample.sha256} (torch-rechub commit {RECHUB_COMMIT[:7]}). "
                            f"{fix}")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(f"{sample.filename} ({shown}) cannot be read as CSV ({err}). "
                        f"{fix}") from err
    absent = [c for c in sample.required_columns if c not in frame.columns]
    if absent:
        raise DataError(f"{sample.filename} ({shown}) lacks the column(s) {absent}; it has "
                        f"{list(frame.columns)}. {fix}")
    return frame


def load_rechub_sample(name: str, data_dir: str | os.PathLike | None = None,
                       download: bool = True) -> pd.DataFrame:
    """Load one sample CSV of the torch-rechub repository (chapter 00_data_tour).

    ``name`` is ``"criteo"``, ``"amazon_electronics"`` or ``"ml-1m"``. The file lives at
    ``<folder>/torch-rechub-samples/<file>.csv`` in the first folder of
    :func:`search_dirs` that holds it (``data_dir`` if given, else ``$RECSYS_COURSE_DATA``
    then the cache folder). When it is missing and ``download`` is true it is downloaded
    from the repository's commit ``RECHUB_COMMIT`` into :func:`download_dir` (never into
    ``$RECSYS_COURSE_DATA``). Its sha256 is checked after a download and at every read,
    and so are its columns (``RECHUB_SAMPLES[name].required_columns``).

    Raises:
        DataError: unknown ``name``, unreadable file or missing columns.
        ChecksumError: the file's sha256 is not the expected one.
        DownloadError: the file is missing and ``download`` is false or the download failed.
    """
    sample = _sample(name)
    path = _find(sample.local_path, data_dir)
    if path is not None:
        return _read_sample(sample, path, str(path),
                            "Delete the file and run again with download=True to fetch it "
                            f"again, or replace it with {RECHUB_RAW_URL}/{sample.repo_path}.")

    fix = _where_to_put(sample.local_path, data_dir)
    if not download:
        looked = ", ".join(str(folder / sample.local_path) for folder in search_dirs(data_dir))
        raise DownloadError(f"{sample.filename} not found (looked for {looked}) and "
                            f"download=False. To fix: {fix}, or call again with download=True.")

    url = source_url(sample.local_path, f"{RECHUB_RAW_URL}/{sample.repo_path}")
    final = download_dir(data_dir) / sample.local_path
    with _download(url, final.parent, sample.filename, fix) as tmp:
        frame = _read_sample(sample, tmp, f"downloaded from {url}",
                             f"Nothing was saved. Check the download source ({MIRROR_ENV}) "
                             f"or {fix}.")
        _move_into_place(tmp, final)
    return frame
