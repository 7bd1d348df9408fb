"""Promotion of the trade gate: its own asset, so a gate retrain never waits on the signal models."""

import dagster as dg

from trademl_resources import ModelRegistryResource


@dg.asset(group_name="deploy", kinds={"registry"})
def deployed_gate(
    context: dg.AssetExecutionContext, gate_eval_report: dict, registry: ModelRegistryResource
) -> dict:
    """The champion onnx_gate that `trademl gate serve`, `trademl.gate.Gate` and the exports use."""
    reg = registry.registry()
    name, version = gate_eval_report["name"], gate_eval_report["version"]
    previous = reg.champion(name)
    reason = (
        f"dagster run {context.run.run_id}; deltas {gate_eval_report['deltas'] or 'first model'}"
    )
    reg.promote(name, version, reason=reason)
    context.log.info(
        f"{name}: champion is now {version} (was {previous.version if previous else 'none'})"
    )
    context.add_output_metadata(
        {f"{name}_version": version, f"{name}_previous": previous.version if previous else "none"}
    )
    return {
        "version": version,
        "previous": previous.version if previous else None,
        "path": str(reg.deployed_path(name)),
    }
