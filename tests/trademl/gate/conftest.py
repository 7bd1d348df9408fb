"""Small fitted gates (seconds to train) and their registry versions, shared by the gate tests."""

import joblib
import numpy as np
import pytest

from trademl.gate.onnx_export import export_onnx
from trademl.gate.training import make_pipeline
from trademl.registry import ModelRegistry


def synthetic_rows(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows shaped like the feed (float32 values) with a learnable label."""
    rng = np.random.default_rng(seed)
    x = (
        np.column_stack([rng.uniform(0, 1, n), rng.lognormal(0, 0.5, n), rng.normal(0, 1.5, n)])
        .astype(np.float32)
        .astype(np.float64)
    )
    logit = 2.5 * (x[:, 0] - 0.5) + 1.5 * np.log(x[:, 1]) - 0.8 * np.abs(x[:, 2])
    y = (logit + rng.logistic(size=n) > 0).astype(int)
    return x, y


def fitted(estimator: str = "gbc", seed: int = 0, **params):
    x, y = synthetic_rows(seed=seed)
    pipeline = make_pipeline(estimator, random_state=seed)
    defaults = {
        "gbc": {"model__n_estimators": 30, "model__max_depth": 3},
        "hist_gbc": {"model__max_iter": 30},
    }
    pipeline.set_params(**{**defaults.get(estimator, {}), **params})
    return pipeline.fit(x, y)


def write_version_dir(folder, pipeline):
    folder.mkdir(parents=True, exist_ok=True)
    export_onnx(pipeline, folder / "model.onnx")
    joblib.dump(pipeline, folder / "pipeline.joblib")
    return folder


@pytest.fixture(scope="session")
def gbc_pipeline():
    return fitted("gbc")


@pytest.fixture
def gate_registry(tmp_path, gbc_pipeline):
    """A registry root with one onnx_gate champion; returns (root, registry, version)."""
    root = tmp_path / "models"
    registry = ModelRegistry(root)
    version = registry.register("onnx_gate", write_version_dir(tmp_path / "v1", gbc_pipeline))
    registry.promote("onnx_gate", version)
    return root, registry, version


@pytest.fixture(scope="session")
def make_fitted():
    """fitted(estimator, seed, **params): a small fitted pipeline."""
    return fitted


@pytest.fixture(scope="session")
def rows():
    return synthetic_rows
