#!/usr/bin/env python3
"""Plot-ready data: every CSV of every bundled scenario loads in pandas and polars without
options, with the columns and polars dtypes docs/outputs.md lists, and like files concatenate.

    check_outputs.py --sim target/release/sim --out DIR

runs scenarios/*.ron, scenarios/bench/*.ron and the sweeps' base scenarios
(scenarios/sweeps/*.ron but *.sweep.ron) with `sim run --out DIR/<name>` and the blog
suite with `sim suite scenarios/blog --iterations 1 --out DIR/blog`, then checks every CSV.
Prints `SKIPPED: ...` and exits 0 when pandas or polars cannot be imported; ends with the line
`N passed, N failed` and exits 1 on any failure.
"""

import argparse
import glob
import os
import re
import subprocess
import sys
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:
    import pandas as pd
    import polars as pl
except ImportError as e:
    print(
        f"SKIPPED: tests/python/check_outputs.py: {e.name} not importable; "
        "python3 -m venv VENV && VENV/bin/pip install pandas polars (.ci/run does this)"
    )
    sys.exit(0)

def documented(path):
    """{file name: [(column, dtype)]} from the docs' tables under `## name.csv: ...`."""
    files = {}
    current = None
    for line in open(path, encoding="utf-8"):
        m = re.match(r"#{2,3} (\S+\.csv):", line)
        if m:
            current = m.group(1)
            files[current] = []
            continue
        if line.startswith("#"):
            current = None
            continue
        if current is None:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            files[current].append((cells[0].strip("`"), cells[1]))
    return files


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
            print(f"FAILED: {what}")


def run(cmd):
    t = time.monotonic()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    print(f"ran {' '.join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd)} in {time.monotonic() - t:.1f} s")


def blank_latency_rule(name, df, checks):
    """Latency columns are blank exactly when the bucket answered nothing."""
    counted = {"timeseries_probes.csv": ("probes_answered", "rtt_")}.get(
        name, ("requests_ok", "latency_")
    )
    count, prefix = counted
    for col in [c for c in df.columns if c.startswith(prefix)]:
        bad = df.filter(df[col].is_null() != (df[count] == 0)).height
        checks.check(bad == 0, f"{name}: {col} blank exactly when {count} is 0 ({bad} rows differ)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip-runs", action="store_true", help="check what is in --out already")
    a = ap.parse_args()
    sim, out = os.path.abspath(a.sim), os.path.abspath(a.out)
    docs = documented(os.path.join(ROOT, "docs", "outputs.md"))
    if not a.skip_runs:
        scenarios = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.ron")))
        scenarios += sorted(glob.glob(os.path.join(ROOT, "scenarios", "bench", "*.ron")))
        # The sweeps' base scenarios (a *.sweep.ron is a sweep, not a scenario).
        scenarios += sorted(
            f for f in glob.glob(os.path.join(ROOT, "scenarios", "sweeps", "*.ron")) if not f.endswith(".sweep.ron")
        )
        for s in scenarios:
            run([sim, "run", s, "--out", os.path.join(out, os.path.splitext(os.path.basename(s))[0])])
        run([sim, "suite", os.path.join(ROOT, "scenarios", "blog"), "--iterations", "1", "--out", os.path.join(out, "blog")])

    checks = Checks()
    frames = defaultdict(list)
    with_rows = set()
    files = sorted(glob.glob(os.path.join(out, "**", "*.csv"), recursive=True))
    for path in files:
        name = os.path.basename(path)
        rel = os.path.relpath(path, out)
        stem = os.path.splitext(path)[0]
        if name not in docs and os.path.exists(stem + ".json") and "vegeta" in name:
            continue  # vegeta's own results stream: headerless, in vegeta's format
        checks.check(name in docs, f"{rel}: a CSV docs/outputs.md does not describe")
        if name not in docs:
            continue
        want = docs[name]
        try:
            pdf = pd.read_csv(path)
            checks.check(True, f"{rel}: pandas loads it")
        except Exception as e:  # noqa: BLE001 - any failure to load is the finding
            checks.check(False, f"{rel}: pandas: {e}")
            continue
        try:
            df = pl.read_csv(path)
        except Exception as e:  # noqa: BLE001
            checks.check(False, f"{rel}: polars: {e}")
            continue
        checks.check(list(pdf.columns) == [c for c, _ in want], f"{rel}: pandas columns {list(pdf.columns)} are the documented ones")
        checks.check(df.columns == [c for c, _ in want], f"{rel}: columns {df.columns} are the documented {[c for c, _ in want]}")
        if df.height == 0:
            continue  # no rows: nothing to infer dtypes from (docs/outputs.md says so)
        with_rows.add(name)
        typed = True
        for col, dtype in want:
            if col not in df.columns:
                continue
            got = str(df.schema[col])
            # Only where the docs say a column may be blank in every row (polars: String).
            if df[col].null_count() == df.height and "blank in every row" in dtype:
                typed = False
                continue
            checks.check(got == dtype.split()[0], f"{rel}: {col} is {got}, documented {dtype}")
        if name.startswith("timeseries"):
            blank_latency_rule(name, df, checks)
        if typed:
            frames[name].append((rel, df))

    for name, dfs in sorted(frames.items()):
        try:
            total = pl.concat([d for _, d in dfs]).height
            checks.check(True, f"pl.concat of {len(dfs)} {name}")
            print(f"pl.concat of {len(dfs)} non-empty {name}: {total} rows")
        except Exception as e:  # noqa: BLE001
            checks.check(False, f"pl.concat of {len(dfs)} {name}: {e}")
    empty = sorted({os.path.basename(f) for f in files} - with_rows)
    if empty:
        print(f"files without rows in every run (header only): {', '.join(empty)}")
    print(f"checked {len(files)} CSV files")
    print(f"{checks.passed} passed, {len(checks.failed)} failed")
    sys.exit(1 if checks.failed else 0)


if __name__ == "__main__":
    main()
