"""The schema version of every JSON file the project writes: one constant per schema, written under the key
``"schema_version"`` and raised when a key changes meaning or goes away (tests/test_schemas.py reads each writer's
output). A split's ``spec.json`` in the data cache is versioned by its ``"format"``, which is part of its cache key.
"""

from __future__ import annotations

__all__ = ["REPORT_SCHEMA_VERSION", "ZOO_ROW_SCHEMA_VERSION", "CELL_RECORD_SCHEMA_VERSION",
           "EXPERIMENT_RESULTS_SCHEMA_VERSION", "CHECKPOINT_SIDECAR_SCHEMA_VERSION", "SELECTION_SCHEMA_VERSION"]

REPORT_SCHEMA_VERSION = 1
"""A measurement's report (``Report.to_json``, ``invmeter score --json``, a sweep's JSON object)."""

ZOO_ROW_SCHEMA_VERSION = 1
"""A zoo row: each line of ``results.jsonl`` (:mod:`invmeter.leaderboard.records`)."""

CELL_RECORD_SCHEMA_VERSION = 1
"""A finished runner cell's record (``OUT/cells/<id>.json``: config, result, provenance)."""

EXPERIMENT_RESULTS_SCHEMA_VERSION = 1
"""A reproduced figure's ``results.json`` (claims, rows, cells)."""

CHECKPOINT_SIDECAR_SCHEMA_VERSION = 1
"""A checkpoint's ``model.json`` sidecar (architecture, preprocessing, training config and per-epoch history)."""

SELECTION_SCHEMA_VERSION = 1
"""A model selection's ``selection.json`` (``invmeter select --out``, ``Selection.to_dict``: the ranked candidates
with their estimators, invariance and reasons, the rule, and with ``--evaluate`` each signal's τ)."""
