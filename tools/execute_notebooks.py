"""Execute chapter notebooks with nbclient, time each one, optionally keep the executed copy.

    python tools/execute_notebooks.py notebooks/00_data_tour.ipynb --out /tmp/executed
    RECSYS_SMOKE=1 python tools/execute_notebooks.py notebooks/*.ipynb --csv times.csv

Prints one line per notebook (seconds, status) and exits non-zero if any failed.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute(path: Path, out_dir: Path | None, timeout: int) -> tuple[float, str]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    status = "ok"
    try:
        client.execute()
    except CellExecutionError as err:
        status = "error: " + str(err).strip().splitlines()[-1][:200]
    seconds = time.perf_counter() - t0
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out_dir / path.name)
    return seconds, status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="folder for executed copies")
    ap.add_argument("--csv", type=Path, default=None, help="write notebook,mode,seconds,status")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per cell")
    args = ap.parse_args(argv)
    mode = "smoke" if os.environ.get("RECSYS_SMOKE") == "1" else "full"
    rows, failed = [], False
    for nb in args.notebooks:
        seconds, status = execute(nb, args.out, args.timeout)
        failed |= status != "ok"
        rows.append({"notebook": nb.name, "mode": mode, "seconds": round(seconds, 1), "status": status})
        print(f"{nb.name:<32} {mode:<5} {seconds:7.1f} s  {status}", flush=True)
    passed = sum(r["status"] == "ok" for r in rows)
    print(f"{passed} passed, {len(rows) - passed} failed, {sum(r['seconds'] for r in rows):.1f} s "
          f"in all ({mode} mode, Python {sys.version.split()[0]})", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
