"""Deployment profiles (deploy/): every file parses and validates against the schema of the
Dagster, dagster-celery, dagster-k8s or Kubernetes code that reads it, and the profiles pick the
right executor. Nothing here needs PostgreSQL, Redis, Docker or a cluster: instance configs are
validated without connecting, Helm values and the Dockerfile by parse (no helm, no Docker daemon on
the build machine).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PG_ENV = {
    "TRADEML_PG_USER": "trademl",
    "TRADEML_PG_PASSWORD": "secret",
    "TRADEML_PG_HOST": "db.example",
    "TRADEML_PG_PORT": "5433",
    "TRADEML_PG_DB": "dagster",
}
#: The instance files a profile copies to $DAGSTER_HOME/dagster.yaml (k8s: the Helm chart's).
INSTANCE_FILES = {
    "local": REPO / "dagster.yaml",
    "production": DEPLOY / "production" / "dagster.yaml",
    "celery": DEPLOY / "celery" / "dagster.yaml",
    "postgres (README)": DEPLOY / "dagster.postgres.yaml",
}
GPU_LIMIT = {"key": "resource", "value": "gpu", "limit": 1}


def _load(path: Path):
    return yaml.safe_load(path.read_text())


def _values() -> dict:
    return _load(DEPLOY / "k8s" / "values.yaml")


def _deployment() -> dict:
    (deployment,) = _values()["dagster-user-deployments"]["deployments"]
    return deployment


def _deployment_env() -> dict[str, str]:
    return {e["name"]: e["value"] for e in _deployment()["env"]}


def _process(config_type, value):
    from dagster._config import process_config

    result = process_config(config_type, value)
    assert result.success, [e.message for e in result.errors]
    return result.value


# --- instance files ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(INSTANCE_FILES))
def test_instance_file_validates_as_dagster_instance_config(name, tmp_path, monkeypatch):
    """Dagster's own instance schema, then each configurable class's (storage, run coordinator,
    run launcher) with the env vars resolved; nothing connects to PostgreSQL."""
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes.config_class import class_from_code_pointer

    for key, value in PG_ENV.items():
        monkeypatch.setenv(key, value)
    shutil.copy(INSTANCE_FILES[name], tmp_path / "dagster.yaml")
    ref = InstanceRef.from_dir(str(tmp_path))

    resolved = {}
    for data in (ref.storage_data, ref.run_coordinator_data, ref.run_launcher_data):
        klass = class_from_code_pointer(data.module_name, data.class_name)
        resolved[data.class_name] = _process(klass.config_type(), data.config_dict)

    assert "QueuedRunCoordinator" in resolved
    if name == "local":
        return
    db = resolved["DagsterPostgresStorage"]["postgres_db"]
    assert db["hostname"] == "db.example" and db["port"] == 5433 and db["password"] == "secret"
    assert db["scheme"] == "postgresql+psycopg2"
    raw = _load(INSTANCE_FILES[name])
    assert raw["run_retries"] == {"enabled": True, "max_retries": 2}
    assert raw["run_monitoring"]["enabled"] is True


@pytest.mark.parametrize("name", ["production", "celery", "postgres (README)"])
def test_queued_run_coordinator_limits_gpu_runs_to_one(name):
    coordinator = _load(INSTANCE_FILES[name])["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    assert coordinator["config"]["max_concurrent_runs"] >= 1
    assert GPU_LIMIT in coordinator["config"]["tag_concurrency_limits"]


def test_readme_postgres_file_is_the_production_file():
    """README.md and tests/integration/test_postgres_instance.py name deploy/dagster.postgres.yaml."""
    assert (DEPLOY / "dagster.postgres.yaml").read_text() == INSTANCE_FILES[
        "production"
    ].read_text()


def test_celery_instance_is_the_production_instance():
    strip = ("telemetry", "storage", "run_coordinator", "run_retries", "run_monitoring")
    celery, production = _load(INSTANCE_FILES["celery"]), _load(INSTANCE_FILES["production"])
    assert {k: celery[k] for k in strip} == {k: production[k] for k in strip}


# --- celery ------------------------------------------------------------------------------


def test_celery_yaml_is_the_executor_config(monkeypatch):
    """The workers' -y file, read the way dagster-celery reads it, equals celery_config()."""
    from dagster_celery.cli import get_config_value_from_yaml, get_validated_config

    from trademl_jobs.profiles import celery_config

    for key in list(os.environ):
        if key.startswith("TRADEML_CELERY_"):
            monkeypatch.delenv(key)
    path = DEPLOY / "celery" / "celery.yaml"
    assert get_config_value_from_yaml(str(path)) == celery_config({})
    assert get_validated_config(str(path))["broker"] == "redis://127.0.0.1:6379/0"

    sys.path.insert(0, str(DEPLOY / "celery"))
    try:
        import render_celery_yaml
    finally:
        sys.path.remove(str(DEPLOY / "celery"))
    assert render_celery_yaml.render({}) == path.read_text()
    other = yaml.safe_load(render_celery_yaml.render({"TRADEML_CELERY_BROKER": "redis://q:6379/0"}))
    assert other["execution"]["config"]["broker"] == "redis://q:6379/0"


# --- systemd units and Procfile ----------------------------------------------------------------


def _unit(path: Path) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file (keys may repeat)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith(("#", "[")) and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


UNITS = {
    "webserver": DEPLOY / "production" / "trademl-webserver.service",
    "daemon": DEPLOY / "production" / "trademl-daemon.service",
    "cpu-worker": DEPLOY / "celery" / "trademl-celery-worker@.service",
    "gpu-worker": DEPLOY / "celery" / "trademl-celery-gpu-worker.service",
}


@pytest.mark.parametrize("name", list(UNITS))
def test_systemd_unit(name):
    unit = _unit(UNITS[name])
    assert unit["EnvironmentFile"] == ["/etc/trademl/env"]
    assert unit["Restart"] == ["on-failure"]
    profile = "celery" if "worker" in name else "production"
    assert f"TRADEML_PROFILE={profile}" in unit["Environment"]
    (exec_start,) = unit["ExecStart"]
    argv = shlex.split(exec_start)
    if name == "webserver":
        assert argv[0].endswith("/dagster-webserver")
        host = argv[argv.index("-h") + 1]
        assert host == "${TRADEML_WEBSERVER_HOST}"
        assert "TRADEML_WEBSERVER_HOST=127.0.0.1" in unit["Environment"]
    elif name == "daemon":
        assert argv[0].endswith("/dagster-daemon") and argv[1] == "run"
    else:
        assert argv[0].endswith("/dagster-celery")
        assert argv[1:5] == ["worker", "start", "-A", "dagster_celery.app"]
        queue = argv[argv.index("-q") + 1]
        assert queue == ("gpu" if name == "gpu-worker" else "dagster")
        rendered = argv[argv.index("-y") + 1]
        assert any(rendered in pre for pre in unit["ExecStartPre"])


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_units_verify(tmp_path):
    """systemd's own parser, with /opt/trademl pointed at this checkout (its executables exist)."""
    paths = []
    for path in UNITS.values():
        text = path.read_text().replace("/opt/trademl", str(REPO))
        text = text.replace("/etc/trademl/env", str(DEPLOY / "production" / "env.example"))
        text = re.sub(r"^(User|Group)=trademl$", r"\1=root", text, flags=re.M)
        out = tmp_path / (path.name.replace("@.", "@1.") if "@" in path.name else path.name)
        out.write_text(text)
        paths.append(str(out))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *paths], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr, result.stderr


def test_procfile_runs_webserver_on_loopback_and_daemon():
    lines = [
        line
        for line in (DEPLOY / "production" / "Procfile").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    procs = dict(line.split(": ", 1) for line in lines)
    assert set(procs) == {"webserver", "daemon"}
    assert "-h ${TRADEML_WEBSERVER_HOST:-127.0.0.1}" in procs["webserver"]
    assert "dagster-daemon run" in procs["daemon"]


def test_env_example_lists_every_variable():
    env = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "production" / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    needed = {
        *PG_ENV,
        "DAGSTER_HOME",
        "TRADEML_HOME",
        "TRADEML_LAKE",
        "TRADEML_PROFILE",
        "TRADEML_CELERY_BROKER",
        "TRADEML_CELERY_BACKEND",
        "TRADEML_WEBSERVER_HOST",
        "TRADEML_WEBSERVER_PORT",
    }
    for path in [*UNITS.values(), DEPLOY / "production" / "Procfile"]:
        needed |= set(re.findall(r"\$\{(\w+)", path.read_text()))
    for path in INSTANCE_FILES.values():
        needed |= set(re.findall(r"env: (\w+)", path.read_text()))
    assert needed <= env, sorted(needed - env)


# --- Kubernetes ----------------------------------------------------------------------------


def test_helm_values_k8s_run_launcher_postgres_and_gpu_queue():
    from dagster import QueuedRunCoordinator

    values = _values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    daemon = values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert GPU_LIMIT in queued["tagConcurrencyLimits"]
    # The chart writes these as the instance's run_coordinator config: Dagster's schema takes them.
    _process(
        QueuedRunCoordinator.config_type(),
        {
            "max_concurrent_runs": queued["maxConcurrentRuns"],
            "tag_concurrency_limits": queued["tagConcurrencyLimits"],
        },
    )
    assert daemon["runRetries"]["enabled"] and daemon["runMonitoring"]["enabled"]

    deployment = _deployment()
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "trademl_jobs.definitions"]
    env = _deployment_env()
    assert env["TRADEML_PROFILE"] == "k8s"
    assert env["TRADEML_LAKE"].startswith("s3://")
    # The registry is on a file system every pod mounts, since it cannot live in the bucket.
    from trademl.registry import ModelRegistry, RegistryError

    with pytest.raises(RegistryError):
        ModelRegistry(env["TRADEML_LAKE"] + "/models")
    mounts = {m["mountPath"]: m["name"] for m in deployment["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["volumes"]}
    assert volumes[mounts[env["TRADEML_MODELS"]]]["persistentVolumeClaim"]["claimName"]


def _dockerfile_tags() -> list[str]:
    """The ``-t`` names in the Dockerfile's build instructions (its header comment)."""
    return re.findall(r"^#.* -t (\S+)", (DEPLOY / "docker" / "Dockerfile").read_text(), re.M)


def test_helm_image_is_the_dockerfile_image():
    image = _deployment()["image"]
    tags = _dockerfile_tags()
    assert f"{image['repository']}:{image['tag']}" == tags[0]
    assert _deployment_env()["TRADEML_K8S_GPU_IMAGE"] in tags
    version = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M)[1]
    assert image["tag"] == version


def _executor_config() -> dict:
    from trademl_jobs.profiles import k8s_executor_config

    return k8s_executor_config(_deployment_env())


def test_k8s_executor_config_validates_against_k8s_job_executor():
    from dagster_k8s import k8s_job_executor

    value = _process(k8s_job_executor.config_schema.config_type, _executor_config())
    assert value["env_config_maps"] == ["trademl-env"]
    assert {"key": "resource", "value": "gpu", "limit": 1} in value["tag_concurrency_limits"]
    gpu = value["per_step_k8s_config"]["signal_classifier"]
    assert gpu["container_config"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert gpu["pod_spec_config"]["node_selector"] == {"nvidia.com/gpu.present": "true"}
    assert gpu["pod_spec_config"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_k8s_executor_config_env_knobs():
    from trademl_jobs.profiles import ProfileError, k8s_executor_config

    cfg = k8s_executor_config(
        {"TRADEML_K8S_GPU_NODE_SELECTOR": "pool=a100, zone=b", "TRADEML_K8S_GPU_TOLERATION": ""}
    )
    step = cfg["per_step_k8s_config"]["ner_extractor"]
    assert step["pod_spec_config"] == {"node_selector": {"pool": "a100", "zone": "b"}}
    assert "image" not in step["container_config"]
    with pytest.raises(ProfileError, match="TRADEML_K8S_GPU_NODE_SELECTOR"):
        k8s_executor_config({"TRADEML_K8S_GPU_NODE_SELECTOR": "no-equals-sign"})


def _step_job(op_name: str):
    """The Job dagster-k8s would create for step ``op_name``: the merge K8sStepHandler does
    (executor-wide config, then the per-step override), then construct_dagster_k8s_job."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
    )

    cfg = _executor_config()
    context = K8sContainerContext(
        env_config_maps=cfg["env_config_maps"],
        env_secrets=cfg["env_secrets"],
        namespace=cfg.get("job_namespace"),
    ).merge(
        K8sContainerContext(
            run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(
                cfg["per_step_k8s_config"].get(op_name, {})
            )
        )
    )
    image = _deployment()["image"]
    job_config = DagsterK8sJobConfig(
        job_image=f"{image['repository']}:{image['tag']}",
        dagster_home="/opt/dagster/dagster_home",
        instance_config_map="trademl-instance",
    )
    return construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_step"],
        job_name=f"dagster-step-{op_name.replace('_', '-')}",
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
    )


def test_gpu_step_job_renders_as_a_valid_kubernetes_job():
    """The rendered step Job round-trips through the kubernetes client's own models."""
    import kubernetes

    api = kubernetes.client.ApiClient()
    for op, wants_gpu in [
        ("signal_classifier", True),
        ("llava_meme_adapter", True),
        ("raw_messages", False),
    ]:
        job = _step_job(op)
        body = api.sanitize_for_serialization(job)

        class _Response:
            data = json.dumps(body)

        again = api.deserialize(_Response(), "V1Job")
        assert again == job
        pod = again.spec.template.spec
        (container,) = pod.containers
        limits = (container.resources.limits or {}) if container.resources else {}
        if wants_gpu:
            assert limits == {"nvidia.com/gpu": "1"}
            assert container.resources.requests == {"nvidia.com/gpu": "1"}
            assert pod.node_selector == {"nvidia.com/gpu.present": "true"}
            assert pod.tolerations[0].key == "nvidia.com/gpu"
            assert pod.tolerations[0].effect == "NoSchedule"
            assert container.image.endswith("-gpu")
        else:
            assert "nvidia.com/gpu" not in limits
            assert not pod.node_selector and not pod.tolerations
            assert not container.image.endswith("-gpu")
        env_from = {e.config_map_ref.name for e in container.env_from if e.config_map_ref}
        assert "trademl-env" in env_from


# --- image ---------------------------------------------------------------------------------


def _pip_installs(lines: list[str]) -> list[list[str]]:
    """What each ``pip install`` line installs, without the flags that only change output or
    where a wheel comes from (--quiet, --upgrade, --index-url URL)."""
    installs = []
    for line in lines:
        if "pip install" not in line:
            continue
        argv = shlex.split(line.split("pip install", 1)[1].split("&&")[0].replace("\\", " "))
        kept, skip = [], False
        for arg in argv:
            if skip:
                skip = False
            elif arg == "--index-url":
                skip = True
            elif arg not in ("--quiet", "--upgrade", "-q", "-U"):
                kept.append(arg)
        installs.append(kept)
    return installs


def test_dockerfile_installs_what_the_makefile_installs():
    makefile = (REPO / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(makefile) if line.startswith("$(STAMP):"))
    recipe = []
    for line in makefile[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line)
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    run_lines = [line for line in dockerfile.splitlines() if line.startswith("RUN ")]
    make_steps, docker_steps = _pip_installs(recipe), _pip_installs(run_lines)
    assert make_steps == docker_steps
    assert make_steps[0] == ["pip==25.3"] and make_steps[1] == ["torch==2.13.0"]
    assert make_steps[-1] == ["--no-deps", "--no-build-isolation", "-e", "."]
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in dockerfile

    assert re.search(r"^FROM python:3\.11-slim$", dockerfile, re.M)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "DAGSTER_HOME=" in dockerfile
    assert not re.search(r"^ENTRYPOINT", dockerfile, re.M)  # chart and launcher pass the command
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".venv", "var", "test-artifacts", ".git"} <= ignored


# --- TRADEML_PROFILE -----------------------------------------------------------------------

_PROBE = """
import json
from trademl_jobs.definitions import defs
repo = defs.get_repository_def()
gpu_ops = sorted({n.name for job in repo.get_all_jobs() for n in job.graph.node_dict.values()
                  if n.definition.tags.get("resource") == "gpu"})
executor = repo.get_job("ingest_job").executor_def
print(json.dumps({"executor": executor.name, "gpu_ops": gpu_ops,
                  "config": getattr(executor, "_configured_config_or_config_fn", None)
                  if executor.name == "k8s" else None}, default=str))
"""


@pytest.fixture(scope="module")
def profile_runs():
    """trademl_jobs.definitions imported under each TRADEML_PROFILE, each in its own process
    (the executor is chosen at import), all at once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEML_")}
    procs = {}
    for profile in ("local", "celery", "k8s", "bogus"):
        procs[profile] = subprocess.Popen(
            [sys.executable, "-c", _PROBE],
            cwd=REPO,
            env={**env, "TRADEML_PROFILE": profile},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    out = {}
    for profile, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        out[profile] = (proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize(
    "profile,executor",
    [("local", "multi_or_in_process_executor"), ("celery", "celery"), ("k8s", "k8s")],
)
def test_profile_picks_the_executor(profile_runs, profile, executor):
    rc, stdout, stderr = profile_runs[profile]
    assert rc == 0, stderr[-2000:]
    assert json.loads(stdout.strip().splitlines()[-1])["executor"] == executor


def test_every_gpu_op_gets_a_gpu_pod(profile_runs):
    """Each op tagged resource=gpu (TRAINING_TAGS) has a per_step_k8s_config entry, and nothing
    else does: a new training asset cannot land on a CPU node unnoticed."""
    rc, stdout, stderr = profile_runs["k8s"]
    assert rc == 0, stderr[-2000:]
    gpu_ops = json.loads(stdout.strip().splitlines()[-1])["gpu_ops"]
    assert gpu_ops
    assert sorted(_executor_config()["per_step_k8s_config"]) == gpu_ops


def test_bogus_profile_is_a_clear_error(profile_runs):
    from trademl_jobs.profiles import PROFILES, ProfileError, current_profile

    rc, _, stderr = profile_runs["bogus"]
    assert rc != 0
    assert "ProfileError" in stderr and "'bogus'" in stderr
    assert all(p in stderr for p in PROFILES)
    with pytest.raises(ProfileError, match="bogus.*local, production, celery, k8s"):
        current_profile({"TRADEML_PROFILE": "bogus"})
