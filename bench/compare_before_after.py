"""Measure the fast path of an older commit and of the current tree side by side.

    python bench/compare_before_after.py 095f18e                # the quick preset's cases
    python bench/compare_before_after.py 095f18e --preset full --repeats 3
    python bench/compare_before_after.py 095f18e --cases movielens-deepfm --threads 2

The older commit is checked out into a temporary ``git worktree`` (removed afterwards).
Each repeat runs the benchmark of the older tree, then of the current one (the order
alternates from repeat to repeat, so a change in the machine's load hits both), each in
its own processes with ``PYTHONPATH`` pointing at its tree. Both runs time the same
torch-rechub model against their own fast path, so the number compared is the fast
path's ratio to torch-rechub (``ratio`` in summary.csv): the machine's speed cancels.

It prints, per case, the ratios of every repeat, their medians, and the change of the
median; the sentence about the 10% criterion is computed from those numbers. Run it on a
quiet machine: on a shared one the ratios move more than the criterion.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_module(tree: Path) -> str:
    """The benchmark's module in ``tree``: it moved from recsys_course/bench.py to
    recsys_course/perf/bench.py."""
    if (tree / "recsys_course" / "perf" / "bench.py").exists():
        return "recsys_course.perf.bench"
    if (tree / "recsys_course" / "bench.py").exists():
        return "recsys_course.bench"
    raise SystemExit(f"no benchmark module in {tree}")


def run_bench(tree: Path, out: Path, args) -> dict[str, float]:
    """One benchmark run of ``tree``; returns case -> fast path / torch-rechub ratio."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, "-m", bench_module(tree), "--preset", args.preset,
           "--threads", str(args.threads), "--profile", "never", "--out", str(out),
           "--seed", str(args.seed)]
    if args.cases:
        cmd += ["--cases", args.cases]
    print(f"$ (cd {tree} && {' '.join(cmd[1:])})", flush=True)
    subprocess.run(cmd, cwd=tree, env=env, check=True)
    with open(out / "summary.csv") as fh:
        return {row["case"]: float(row["ratio"]) for row in csv.DictReader(fh)}


def verdict(before: list[float], after: list[float], limit: float = 0.10) -> str:
    b, a = statistics.median(before), statistics.median(after)
    change = a / b - 1
    spread = max((max(v) - min(v)) / statistics.median(v) for v in (before, after))
    within = abs(change) <= limit
    text = (f"median ratio {b:.2f}x before, {a:.2f}x after: {change:+.1%}, "
            f"{'within' if within else 'outside'} {limit:.0%}")
    if spread > limit:
        text += (f" (but the repeats spread by up to {spread:.0%}, more than the criterion: "
                 "measure again on a quieter machine)")
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("commit", help="the older commit (hash, tag or branch)")
    p.add_argument("--preset", default="quick")
    p.add_argument("--cases", default=None, help="comma-separated case names of the preset")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", default=None, help="folder to keep the runs' outputs in")
    args = p.parse_args(argv)

    work = Path(args.keep or tempfile.mkdtemp(prefix="before_after_"))
    old_tree = Path(tempfile.mkdtemp(prefix="before_tree_")) / "tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old_tree),
                    args.commit], check=True)
    ratios: dict[str, dict[str, list[float]]] = {}
    try:
        trees = {"before": old_tree, "after": REPO}
        for k in range(args.repeats):
            order = ["before", "after"] if k % 2 == 0 else ["after", "before"]
            for side in order:
                got = run_bench(trees[side], work / f"{side}{k}", args)
                for case, ratio in got.items():
                    ratios.setdefault(case, {"before": [], "after": []})[side].append(ratio)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force",
                        str(old_tree)], check=False)
        shutil.rmtree(old_tree.parent, ignore_errors=True)
    print(f"\nfast path / torch-rechub, {args.commit} (before) vs the current tree (after):")
    for case, sides in ratios.items():
        print(f"  {case}: before {', '.join(f'{r:.2f}x' for r in sides['before'])}; "
              f"after {', '.join(f'{r:.2f}x' for r in sides['after'])}")
        if sides["before"] and sides["after"]:
            print(f"    {verdict(sides['before'], sides['after'])}")
    print(f"outputs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
