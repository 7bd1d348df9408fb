"""Data-quality validation with great_expectations 1.x, as plain results the caller can report.

Expectations are given as small specs (``not_null``, ``unique``, ``between``, ...) so callers need
not import great_expectations (3 s) until a validation actually runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Expect:
    """One expectation: ``kind`` with its arguments (see :func:`_build`)."""

    kind: str
    column: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationSummary:
    success: bool
    n_rows: int
    results: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.results if not r["success"]]


def _build(spec: Expect):
    import great_expectations as gx

    e = gx.expectations
    if spec.kind == "not_null":
        return e.ExpectColumnValuesToNotBeNull(column=spec.column, **spec.args)
    if spec.kind == "unique":
        columns = spec.args["columns"]
        if len(columns) == 1:
            return e.ExpectColumnValuesToBeUnique(column=columns[0])
        return e.ExpectCompoundColumnsToBeUnique(column_list=columns)
    if spec.kind == "between":
        return e.ExpectColumnValuesToBeBetween(column=spec.column, **spec.args)
    if spec.kind == "in_set":
        return e.ExpectColumnValuesToBeInSet(column=spec.column, value_set=spec.args["values"])
    if spec.kind == "min_length":
        return e.ExpectColumnValueLengthsToBeBetween(column=spec.column, min_value=spec.args["min"])
    if spec.kind == "columns":
        return e.ExpectTableColumnsToMatchSet(column_set=spec.args["columns"], exact_match=False)
    raise ValueError(f"unknown expectation kind {spec.kind!r}")


def validate_frame(
    df: pd.DataFrame, expectations: list[Expect], name: str = "data"
) -> ValidationSummary:
    """Validate ``df`` against ``expectations`` in an ephemeral great_expectations context."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = ctx.data_sources.add_pandas(f"{name}_source")
    asset = source.add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe(f"{name}_batch").get_batch(
        batch_parameters={"dataframe": df}
    )
    suite = gx.ExpectationSuite(name=f"{name}_suite")
    for spec in expectations:
        suite.add_expectation(_build(spec))
    outcome = batch.validate(suite)
    results = []
    for r in outcome.results:
        cfg = r.expectation_config
        res = r.result or {}
        results.append(
            {
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
                "success": bool(r.success),
                "unexpected_count": res.get("unexpected_count"),
                "unexpected_percent": res.get("unexpected_percent"),
                "partial_unexpected": [
                    str(v)[:80] for v in (res.get("partial_unexpected_list") or [])[:5]
                ],
            }
        )
    return ValidationSummary(bool(outcome.success), len(df), results)
