"""The two steps every eval-report-gated model shares: the blocking not-worse check on the
report's deltas, and the promotion of the report's version to champion."""

import dagster as dg

from trademl_resources import ModelRegistryResource


def not_worse_check(report: dict, margin: float, first: str) -> dg.AssetCheckResult:
    """Passed unless a delta (challenger - champion) in ``report["deltas"]`` is worse than
    ``-margin``; ``first`` names what passes without a champion ("the first sentiment model")."""
    deltas = report["deltas"]
    worse = {k: v for k, v in deltas.items() if v is not None and -v > margin}
    champion = report["champion"]
    if champion is None:
        description = f"no champion to compare with: {first} passes"
    elif worse:
        description = f"worse than the champion {champion} by more than {margin}: " + ", ".join(
            f"{k} {v:+.4f}" for k, v in worse.items()
        )
    else:
        description = f"not worse than the champion {champion} on the test split"
    return dg.AssetCheckResult(
        passed=not worse,
        severity=dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "challenger": report["version"],
            "champion": champion or "none",
            "margin": margin,
            "deltas": deltas,
        },
    )


def promote_reported(
    context: dg.AssetExecutionContext,
    registry: ModelRegistryResource,
    name: str,
    report: dict,
    first: str = "first model",
) -> dict:
    """Make the report's version the champion of ``name``; what the deploy asset returns."""
    reg = registry.registry()
    previous = reg.champion(name)
    reason = f"dagster run {context.run.run_id}; deltas {report['deltas'] or first}"
    reg.promote(name, report["version"], reason=reason)
    context.log.info(
        f"{name}: champion is now {report['version']} "
        f"(was {previous.version if previous else 'none'})"
    )
    context.add_output_metadata(
        {"version": report["version"], "previous": previous.version if previous else "none"}
    )
    return {
        "name": name,
        "version": report["version"],
        "previous": previous.version if previous else None,
        "path": str(reg.get(name, report["version"]).path),
    }
