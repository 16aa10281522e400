"""The adversarial suite (issue 14): bad and edge inputs across every command and the Python API, one table row each.

Each row names what it tests (the issue's silently wrong cases are ``silent-N-...``, its tracebacks ``trace-...``,
its late checks ``late-...`` and its silently accepted values ``accepted-...``; issue 25's rows, grouped by input
surface, are in tests/adversarial_cases_inputs.py) and expects one of: a one-line error
(exit status, message, and for most: refused before any work, i.e. no model built or run, no image decoded, nothing
written), a warning that says what happened, or a correct result checked against a known answer. No row may end in
a traceback or a normal-looking wrong report. ``benchmarks/adversarial_tally.py`` runs the same table and prints the
reliability table of benchmarks/RESULTS.md. Machinery: tests/adversarial_support.py; fixtures (all generated):
tests/adversarial_fixtures.py; odd models: tests/adversarial_models.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from adversarial_cases_api import API_CASES
from adversarial_cases_cli import CLI_CASES
from adversarial_cases_inputs import INPUT_CASES
from adversarial_cases_integrations import INTEGRATION_CASES
from adversarial_fixtures import build_fixtures
from adversarial_support import Case, Fixtures, environment, judge, run_case

CASES: list[Case] = [*CLI_CASES, *API_CASES, *INPUT_CASES, *INTEGRATION_CASES]
SURFACES = ("CLI", "API score", "Dataset", "DataLoader", "callable transform", "streaming metric", "zoo-API inputs",
            "integrations")


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixtures]:
    root = tmp_path_factory.mktemp("adversarial")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in environment(root / "cache").items():
            mp.setenv(key, value)
        yield Fixtures(root, build_fixtures(root))
    (root / "readonly").chmod(0o700)


def test_the_table_is_large_and_names_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 150
    for name in (
        "silent-1-nan-rows",
        "silent-1-inf-values",
        "silent-1-constant-features",
        "silent-1-constant-logits",
        "silent-2-png16",
        "silent-3-weights-with-checkpoint",
        "silent-3-weights-other-arch",
    ):
        assert name in ids
    assert sum(i.startswith("trace-") for i in ids) >= 17
    counts = {surface: sum(c.group == surface for c in CASES) for surface in SURFACES}
    assert set(c.group for c in CASES) == set(SURFACES) and min(counts.values()) >= 5, counts


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, fx: Fixtures) -> None:
    if case.skip is not None and (reason := case.skip()):
        pytest.skip(reason)
    category, problem = judge(case, run_case(case, fx))
    assert problem is None, f"{case.id} [{category}]: {problem}"


def test_nothing_ran_the_malicious_pickle(fx: Fixtures) -> None:
    assert not Path(fx.pwned).exists()
