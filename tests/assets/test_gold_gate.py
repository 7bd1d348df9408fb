"""The desk's gold set in the promotion gate (issue 9 item 5): both eval reports score challenger
and champion on each TRADEML_GOLD file, and the blocking checks stop a challenger worse on any.

Fast: the models are fakes that answer from a table, the registry and lake live in tmp_path, and
only the report assets and their checks run (their upstream model assets are stubs)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from trademl.labels import SIGNAL_CLASSES
from trademl.registry import ModelRegistry
from trademl.signals.model_reports import (
    GoldSet,
    classifier_gold_scores,
    extractor_gold_scores,
    split_gold_paths,
)
from trademl_assets.signals import reports
from trademl_resources import LakeResource, ModelRegistryResource

LONG = "SIGNAL_LONG"
SHORT = "SIGNAL_SHORT"
NON = "NON_SIGNAL"

#: The test split: templated messages (what the parser labels).
TEST_SPLIT = {
    "BTCUSDT LONG entry 62000 tp 64000 sl 60000": LONG,
    "ETHUSDT SHORT entry 3100 tp 3000 sl 3200": SHORT,
    "gm fam": NON,
    "SOLUSDT LONG entry 150 tp 160 sl 140": LONG,
}
#: The desk's gold file: messages in its own channels' layouts.
GOLD = [
    {"text": "#AVAX 🟢 buy zone 35.2 - 34.1, targets 36 / 36.9, stop 32.9", "label": LONG},
    {"text": "LINK: 14.25 in, 15.10 out, 13.40 invalidation", "label": LONG},
    {"text": "DOGE looking weak. Entry 0.081 TP 0.075 SL 0.086", "label": SHORT},
    {"text": "TP1 hit ✅ on AVAX, 12% profit", "label": NON},
    {"text": "what do you think about SOL?", "label": None},  # not scored
]
GOLD_TRUTH = {r["text"]: r["label"] for r in GOLD if r["label"]}


class TableClassifier:
    """A classifier that answers from a table (anything else: NON_SIGNAL)."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def predict_proba(self, texts, batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), len(SIGNAL_CLASSES)))
        for i, text in enumerate(texts):
            out[i, SIGNAL_CLASSES.index(self.answers.get(text, NON))] = 1.0
        return out


def good_on_test_bad_on_gold() -> TableClassifier:
    return TableClassifier({**TEST_SPLIT, **{t: NON for t in GOLD_TRUTH}})


def good_on_both() -> TableClassifier:
    return TableClassifier({**TEST_SPLIT, **GOLD_TRUTH})


def bad_on_test_good_on_gold() -> TableClassifier:
    return TableClassifier({**{t: NON for t in TEST_SPLIT}, **GOLD_TRUTH})


def write_gold(path: Path, rows=GOLD) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def write_test_split(lake_root: Path) -> None:
    export = lake_root / "exports" / "classification_data.csv"
    export.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {"text": list(TEST_SPLIT), "label": list(TEST_SPLIT.values()), "split": "test"}
    ).to_csv(export, index=False)


def deploy_champion(registry_root: Path, tmp_path: Path, name: str) -> str:
    """A champion version whose files are placeholders (the fakes never read them)."""
    source = tmp_path / f"{name}-champion"
    (source / "onnx").mkdir(parents=True)
    (source / "onnx" / "model.int8.onnx").write_bytes(b"placeholder")
    (source / "hf").mkdir()
    registry = ModelRegistry(registry_root)
    version = registry.register(name, source)
    registry.promote(name, version)
    return version


def classifier_run(tmp_path, monkeypatch, challenger, champion, gold_files=(), **registry_kw):
    """Materialize signal_classifier_eval_report + its check; the challenger and the champion
    are the given fakes (``champion`` None: nothing deployed)."""
    lake_root, registry_root = tmp_path / "lake", tmp_path / "models"
    write_test_split(lake_root)
    if champion is not None:
        deploy_champion(registry_root, tmp_path, "signal_classifier")
    challenger_dir = tmp_path / "challenger" / "onnx"

    def fake_load(path):  # the report loads the challenger's onnx/ folder (INT8, else fp32)
        return challenger if challenger_dir in (Path(path), Path(path).parent) else champion

    monkeypatch.setattr(reports, "load_classifier", fake_load)

    @dg.asset(name="signal_classifier_onnx")
    def stub() -> dict:
        return {"version": "challenger-v", "onnx": str(challenger_dir)}

    resources = {
        "lake": LakeResource(root=str(lake_root)),
        "registry": ModelRegistryResource(
            root=str(registry_root), gold_files=[str(p) for p in gold_files], **registry_kw
        ),
    }
    return dg.materialize(
        [stub, reports.signal_classifier_eval_report, reports.classifier_not_worse_than_champion],
        resources=resources,
        raise_on_error=False,
    )


def check_of(result) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def report_metadata(result, asset: str) -> dict:
    return result.asset_materializations_for_node(asset)[0].metadata


def test_a_challenger_worse_on_the_gold_file_but_better_on_the_test_split_is_not_promoted(
    tmp_path, monkeypatch
):
    gold = write_gold(tmp_path / "desk_gold.jsonl")
    result = classifier_run(
        tmp_path, monkeypatch, good_on_test_bad_on_gold(), bad_on_test_good_on_gold(), [gold]
    )
    check = check_of(result)
    assert not check.passed and not result.success  # blocking: nothing downstream would run
    meta = report_metadata(result, "signal_classifier_eval_report")
    assert meta["deltas_vs_champion"].value["macro_f1"] > 0.5  # far better on the test split
    assert meta["gold_desk_gold_macro_f1"].value < meta["gold_desk_gold_macro_f1_champion"].value
    assert meta["gold_desk_gold_macro_f1_delta"].value < -0.5
    assert meta["gold"].value["desk_gold.jsonl"]["challenger"]["n"] == 4  # null label skipped
    assert "## The desk's gold set" in meta["report"].value
    assert "desk_gold.jsonl" in meta["report"].value
    # The check says which file and by how much.
    assert str(gold) in check.description and "macro_f1" in check.description
    delta = meta["gold_desk_gold_macro_f1_delta"].value
    assert f"{delta:+.4f}" in check.description
    assert check.metadata["worse_on_gold"].value == [str(gold)]
    assert check.metadata["gold_margin"].value == 0.01
    assert check.metadata["gold_deltas"].value["desk_gold.jsonl"] == pytest.approx(delta, abs=1e-4)


def test_a_challenger_better_on_the_gold_file_is_promoted(tmp_path, monkeypatch):
    gold = write_gold(tmp_path / "desk_gold.jsonl")
    result = classifier_run(
        tmp_path, monkeypatch, good_on_both(), good_on_test_bad_on_gold(), [gold]
    )
    check = check_of(result)
    assert check.passed and result.success
    assert check.metadata["worse_on_gold"].value == []
    assert "nor on 1 gold file" in check.description
    meta = report_metadata(result, "signal_classifier_eval_report")
    assert meta["gold_desk_gold_macro_f1"].value == 1.0


def test_the_gold_margin_is_a_setting(tmp_path, monkeypatch):
    """Worse on the gold file, but within a gold_margin the desk chose: promoted."""
    gold = write_gold(tmp_path / "desk_gold.jsonl")
    result = classifier_run(
        tmp_path,
        monkeypatch,
        good_on_test_bad_on_gold(),
        bad_on_test_good_on_gold(),
        [gold],
        gold_margin=1.0,
    )
    assert check_of(result).passed


def test_every_gold_file_counts_and_the_first_model_passes(tmp_path, monkeypatch):
    ok_file = write_gold(tmp_path / "a.jsonl", [r for r in GOLD if r["label"] == NON])
    hard = write_gold(tmp_path / "b.jsonl")
    # Both models answer NON_SIGNAL on a.jsonl alike (delta 0); b.jsonl decides.
    result = classifier_run(
        tmp_path,
        monkeypatch,
        good_on_test_bad_on_gold(),
        good_on_both(),
        [f"{ok_file},{hard}"],
    )
    check = check_of(result)
    assert not check.passed and check.metadata["worse_on_gold"].value == [str(hard)]
    assert str(ok_file) not in check.description

    first = classifier_run(tmp_path / "first", monkeypatch, good_on_both(), None, [hard])
    check = check_of(first)
    assert check.passed and "first model" in check.description
    meta = report_metadata(first, "signal_classifier_eval_report")
    assert meta["gold_b_macro_f1"].value == 1.0 and "gold_b_macro_f1_champion" not in meta


@pytest.mark.parametrize(
    "problem, content",
    [
        ("no such file", None),
        ("unknown label", '{"text": "x", "label": "SIGNAL_MAYBE"}\n'),
        ("not valid JSON", '{"text": "x", "label": \n'),
        ("no labelled gold row", '{"text": "x", "label": null}\n'),
    ],
)
def test_a_missing_or_malformed_gold_file_fails_the_report_naming_it(
    tmp_path, monkeypatch, problem, content
):
    gold = tmp_path / "desk_gold.jsonl"
    if content is not None:
        gold.write_text(content)
    result = classifier_run(tmp_path, monkeypatch, good_on_both(), good_on_both(), [gold])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    message = failure.message + str(failure.event_specific_data)
    assert str(gold) in message and problem in message and "TRADEML_GOLD" in message
    assert not result.get_asset_check_evaluations()  # no check ran: the gate is not silent


def test_without_a_gold_set_the_test_split_alone_decides(tmp_path, monkeypatch):
    """No TRADEML_GOLD: today's behaviour (better on the test split: promoted; no gold keys)."""
    result = classifier_run(
        tmp_path, monkeypatch, good_on_test_bad_on_gold(), bad_on_test_good_on_gold()
    )
    check = check_of(result)
    assert check.passed and result.success
    assert not any(k.startswith("gold") for k in check.metadata)
    meta = report_metadata(result, "signal_classifier_eval_report")
    assert not any(k.startswith("gold") for k in meta)
    assert "gold set" not in meta["report"].value

    worse = classifier_run(
        tmp_path / "worse", monkeypatch, bad_on_test_good_on_gold(), good_on_test_bad_on_gold()
    )
    check = check_of(worse)
    assert not check.passed and "on the test split" in check.description


# --- the extractor ---------------------------------------------------------------------------

SIGNAL_GOLD = [
    {
        "text": "#AVAX buy 35.2 targets 36 / 36.9 stop 32.9",
        "label": LONG,
        "pair": "AVAXUSDT",
        "side": "LONG",
        "entry": [35.2],
        "targets": [36, 36.9],
        "stop_loss": 32.9,
        "leverage": None,
    },
    {
        "text": "DOGE 0.081 → 0.075, stop 0.086",  # the levels say short; no side word
        "label": SHORT,
        "pair": "DOGEUSDT",
        "side": "SHORT",
        "entry": [0.081],
        "targets": [0.075],
        "stop_loss": 0.086,
        "leverage": None,
    },
    {"text": "gm", "label": NON},
]
FIELDS = ("pair", "side", "entry", "targets", "stop_loss", "leverage")


class TableExtractor:
    """An extractor that answers from the gold rows (``right``) or with nothing."""

    def __init__(self, right: bool):
        self.right = right

    def extract(self, texts):
        rows = {r["text"]: r for r in SIGNAL_GOLD}
        out = []
        for text in texts:
            row = rows[text]
            fields = {f: row.get(f) for f in FIELDS} if self.right else {}
            if self.right and row["text"].startswith("DOGE"):
                fields["side"] = None  # no SIDE span: the levels give the side
            out.append({"pair": None, "side": None, "entry": [], "targets": [], **fields})
        return out


def ner_run(tmp_path, monkeypatch, challenger, champion, gold_files=()):
    registry_root = tmp_path / "models"
    if champion is not None:
        deploy_champion(registry_root, tmp_path, "ner_extractor")
    challenger_dir = tmp_path / "challenger"

    class FakeLoader:
        @staticmethod
        def load(path):
            return challenger if Path(path).parent == challenger_dir else champion

    test_metrics = {"entity_f1": 0.9, "entity": {}, "fields": {}, "test_rows": 0}
    monkeypatch.setattr(reports, "NerExtractor", FakeLoader)
    monkeypatch.setattr(reports, "ner_test_rows", lambda lake: [])
    monkeypatch.setattr(reports, "evaluate_ner", lambda extractor, rows: dict(test_metrics))

    @dg.asset(name="ner_extractor")
    def stub() -> dict:
        return {"version": "challenger-v", "path": str(challenger_dir)}

    resources = {
        "lake": LakeResource(root=str(tmp_path / "lake")),
        "registry": ModelRegistryResource(
            root=str(registry_root), gold_files=[str(p) for p in gold_files]
        ),
    }
    return dg.materialize(
        [stub, reports.ner_extractor_eval_report, reports.extractor_not_worse_than_champion],
        resources=resources,
        raise_on_error=False,
    )


def test_an_extractor_worse_on_the_gold_fields_is_not_promoted(tmp_path, monkeypatch):
    gold = write_gold(tmp_path / "fields.jsonl", SIGNAL_GOLD)
    result = ner_run(tmp_path, monkeypatch, TableExtractor(False), TableExtractor(True), [gold])
    check = check_of(result)
    assert not check.passed  # equal on the test rows (delta 0), worse on the gold fields
    assert str(gold) in check.description and "field_f1" in check.description
    meta = report_metadata(result, "ner_extractor_eval_report")
    assert meta["gold_fields_field_f1_champion"].value == 1.0  # the levels gave DOGE's side
    assert meta["gold_fields_field_f1"].value == 0.0
    assert meta["gold"].value["fields.jsonl"]["challenger"]["n"] == 2  # signal rows only

    better = ner_run(
        tmp_path / "better", monkeypatch, TableExtractor(True), TableExtractor(False), [gold]
    )
    assert check_of(better).passed


# --- the pieces --------------------------------------------------------------------------------


def test_classifier_gold_macro_f1_is_over_the_classes_in_the_file():
    gold = GoldSet("g.jsonl", "g.jsonl", GOLD)
    # One LONG row called SIGNAL_NONE: a class absent from the file is not averaged in.
    answers = {**GOLD_TRUTH, GOLD[1]["text"]: "SIGNAL_NONE"}
    scores = classifier_gold_scores(TableClassifier(answers), gold)
    assert set(scores["per_class"]) == {LONG, SHORT, NON}
    long_f1 = 2 * 1.0 * 0.5 / 1.5
    assert scores["macro_f1"] == pytest.approx((long_f1 + 1 + 1) / 3)
    assert scores["n"] == 4 and scores["accuracy"] == 0.75


def test_extractor_gold_scores_only_signal_rows_and_none_without_any():
    extractor = TableExtractor(True)
    scores = extractor_gold_scores(extractor.extract, GoldSet("f", "f", SIGNAL_GOLD))
    assert scores["n"] == 2 and scores["field_f1"] == 1.0
    empty = extractor_gold_scores(extractor.extract, GoldSet("f", "f", [SIGNAL_GOLD[-1]]))
    assert empty == {"n": 0, "field_f1": None, "fields": {}}


def test_trademl_gold_is_the_registry_resources_env_source(monkeypatch, tmp_path):
    import os

    from trademl_resources import default_resources

    monkeypatch.setenv("TRADEML_HOME", str(tmp_path))
    monkeypatch.setenv("TRADEML_GOLD", f"a.jsonl{os.pathsep}b.jsonl, c.jsonl,a.jsonl")
    monkeypatch.setenv("TRADEML_GOLD_MARGIN", "0.02")
    registry = default_resources()["registry"]
    assert registry.gold_paths() == ["a.jsonl", "b.jsonl", "c.jsonl"]
    assert registry.gold_margin == 0.02
    monkeypatch.delenv("TRADEML_GOLD")
    monkeypatch.delenv("TRADEML_GOLD_MARGIN")
    registry = default_resources()["registry"]
    assert registry.gold_paths() == [] and registry.gold_margin == 0.01
    assert split_gold_paths(None) == [] and split_gold_paths(["x.jsonl,", " "]) == ["x.jsonl"]


def test_the_demo_gold_file_loads(tmp_path):
    """The demo's TRADEML_GOLD (Makefile) is a valid gold set."""
    repo = Path(__file__).resolve().parents[2]
    (gold,) = ModelRegistryResource(
        root=str(tmp_path), gold_files=[str(repo / "tests" / "data" / "channel_styles.jsonl")]
    ).gold_sets()
    assert gold.name == "channel_styles.jsonl" and len(gold.rows) > 20
