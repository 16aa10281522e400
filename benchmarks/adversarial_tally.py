"""The reliability table of issue 14: run every row of the adversarial suite (tests/test_adversarial.py) and count
how each ended, beside the facts other tests establish (kill -9, determinism, unsafe pickles).

    python benchmarks/adversarial_tally.py             # the table (markdown), as in benchmarks/RESULTS.md
    python benchmarks/adversarial_tally.py --failures  # also each row that did not end as its expectation says
    python benchmarks/adversarial_tally.py -k trace-   # only the rows whose id contains 'trace-'

Besides the totals it prints the rows per input surface (issue 25: the command line, ``score()``, a Dataset, a
DataLoader, a callable transform, the streaming metric, the zoo's API inputs) and how each ended.

A row is judged by tests/adversarial_support.py: ``clear error`` (the expected one-line error, before any work when
the row says so), ``warning`` (runs, and a warning says what happened), ``correct`` (runs, and the result passes
the row's check), ``traceback``, ``silent wrong`` (ran and looked normal, but should have failed or warned, or its
result is wrong), ``wrong error`` (failed, but not as expected). The suite passes when every row ends in its
expected category; this script counts them without stopping at the first miss.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

# Facts the rest of the suite establishes: (row, the tests that prove it, the value they assert)
FACTS = [
    ("kill -9 cells lost", ("tests/test_reproduce.py::test_kill_9_loses_at_most_the_cell_in_flight",
                            "tests/test_zoo.py::test_kill_9_loses_at_most_the_model_in_flight"), "0"),
    ("determinism (same seed)", ("tests/test_api.py::test_same_seed_identical_json_metrics",
                                 "tests/test_adversarial.py::test_case[edge-determinism-same-seed]",
                                 "tests/test_reproduce.py::test_worker_processes_give_the_numbers_of_one_process"),
     "identical JSON"),
    ("unsafe pickles executed (malicious weights, checkpoints, training states)", ("tests/test_input_limits.py",), "0"),
]


Row = tuple[str, str, str, str | None, str]  # id, expected, category, problem, input surface


def run_table(select: str | None) -> tuple[list[Row], float, bool, Counter[str]]:
    """Run the rows (those whose id contains ``select``); returns ``[(id, expected, category, problem, surface)]``,
    the seconds taken, whether the table's malicious pickles ran (they create a marker file if they do), and the
    rows per command or API."""
    from adversarial_fixtures import build_fixtures
    from adversarial_support import Correct, Error, Fixtures, Warns, environment, judge, run_case
    from test_adversarial import CASES

    expected = {Error: "clear error", Warns: "warning", Correct: "correct"}
    root = Path(tempfile.mkdtemp(prefix="invmeter-adversarial-"))
    os.environ.update(environment(root / "cache"))
    start = time.perf_counter()
    fx = Fixtures(root, build_fixtures(root))
    rows, areas = [], Counter()
    for case in CASES:
        if select and select not in case.id:
            continue
        areas[case.area] += 1
        if case.skip is not None and (reason := case.skip()):
            rows.append((case.id, expected[type(case.expect)], "skipped", reason, case.group))
            continue
        category, problem = judge(case, run_case(case, fx))
        rows.append((case.id, expected[type(case.expect)], category, problem, case.group))
    (root / "readonly").chmod(0o700)
    return rows, time.perf_counter() - start, Path(fx.pwned).exists(), areas


def facts_hold() -> dict[str, bool]:
    """Run the tests behind each fact (``pytest -q``); True where they pass."""
    out = {}
    for name, tests, _ in FACTS:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
        out[name] = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False).returncode == 0
    return out


def surfaces(rows: list[Row]) -> str:
    """Rows per input surface (issue 25): how many ran, how each ended, and how many ended as expected."""
    from test_adversarial import SURFACES

    kinds = ("clear error", "warning", "correct", "traceback", "silent wrong", "wrong error")
    lines = ["| surface | rows | " + " | ".join(kinds) + " | as expected |", "| --- " * (len(kinds) + 3) + "|"]
    for surface in SURFACES:
        ran = [r for r in rows if r[4] == surface and r[2] != "skipped"]
        counts = Counter(r[2] for r in ran)
        good = sum(1 for _, want, got, problem, _ in ran if want == got and problem is None)
        lines.append(f"| {surface} | {len(ran)} | " + " | ".join(str(counts[k]) for k in kinds) + f" | {good} |")
    return "\n".join(lines)


def table(rows: list[Row], facts: dict[str, bool] | None, pwned: bool) -> str:
    counts = Counter(r[2] for r in rows)
    ran = [r for r in rows if r[2] != "skipped"]
    as_expected = sum(1 for _, want, got, problem, _ in ran if want == got and problem is None)
    skipped = f" (+{counts['skipped']} skipped)" if counts["skipped"] else ""
    lines = [
        "| measure | value |",
        "| --- | --- |",
        f"| cases tried (CLI and API) | {len(ran)}{skipped} |",
        f"| clear one-line errors | {counts['clear error']} |",
        f"| runs with a warning that says what happened | {counts['warning']} |",
        f"| correct edge results (checked against known answers) | {counts['correct']} |",
        f"| tracebacks | {counts['traceback']} |",
        f"| silent wrong results | {counts['silent wrong']} |",
        f"| errors other than expected (wording, several lines, after work) | {counts['wrong error']} |",
        f"| rows ending as their expectation says | {as_expected} of {len(ran)} |",
        f"| malicious pickles of this table executed | {int(pwned)} |",
    ]
    for name, tests, value in FACTS:
        shown = "not run (--no-facts)" if facts is None else value if facts[name] else f"NOT SHOWN ({' '.join(tests)})"
        lines.append(f"| {name} | {shown} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", action="store_true", help="list the rows that did not end as expected")
    parser.add_argument("-k", dest="select", default=None, help="only rows whose id contains this text")
    parser.add_argument("--no-facts", action="store_true", help="skip running the tests behind the fact rows")
    args = parser.parse_args()
    rows, seconds, pwned, areas = run_table(args.select)
    facts = None if args.no_facts else facts_hold()
    print(table(rows, facts, pwned))
    print("\n" + surfaces(rows))
    print(f"\n{len(rows)} rows in {seconds:.0f} s (fixtures included); load average {os.getloadavg()[0]:.2f}")
    print("rows by command: " + ", ".join(f"{k} {v}" for k, v in areas.items()))
    prefixes = Counter(row[0].split("-")[0] for row in rows)
    print("rows by id prefix: " + ", ".join(f"{k} {v}" for k, v in sorted(prefixes.items())))
    if args.failures:
        for case_id, want, got, problem, _ in rows:
            if got != "skipped" and (want != got or problem):
                print(f"\n{case_id}: expected {want}, got {got}\n    {(problem or '').strip()[:1500]}")


if __name__ == "__main__":
    main()
