"""Promotion: challengers that passed their blocking checks become the served champions."""

import dagster as dg

from trademl_resources import ModelRegistryResource


# ner_extractor_onnx first: the version is promoted with its onnx/ already in place, so serving
# never falls back to torch for a new champion.
@dg.asset(group_name="deploy", kinds={"registry"}, deps=["ner_extractor_onnx"])
def deployed_models(
    context: dg.AssetExecutionContext,
    signal_classifier_eval_report: dict,
    ner_extractor_eval_report: dict,
    registry: ModelRegistryResource,
) -> dict:
    """The champion signal classifier and entity extractor that `trademl predict` and bots serve."""
    reg = registry.registry()
    deployed = {}
    for report in (signal_classifier_eval_report, ner_extractor_eval_report):
        previous = reg.champion(report["name"])
        reason = f"dagster run {context.run.run_id}; deltas {report['deltas'] or 'first model'}"
        reg.promote(report["name"], report["version"], reason=reason)
        deployed[report["name"]] = {
            "version": report["version"],
            "previous": previous.version if previous else None,
            "path": str(reg.deployed_path(report["name"])),
        }
        context.log.info(
            f"{report['name']}: champion is now {report['version']} "
            f"(was {previous.version if previous else 'none'})"
        )
    context.add_output_metadata(
        {f"{name}_version": info["version"] for name, info in deployed.items()}
        | {f"{name}_previous": info["previous"] or "none" for name, info in deployed.items()}
    )
    return deployed
