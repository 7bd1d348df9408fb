"""Deployment profiles: one variable, ``TRADEML_PROFILE``, picks how steps execute.

    local       (default) Dagster's multiprocess (or in-process) executor, SQLite instance under $DAGSTER_HOME
    production  the same executor on one host; PostgreSQL instance storage, webserver and daemon
                as separate processes (deploy/production/)
    celery      every step is a Celery task on Redis (dagster-celery); training steps carry
                ``dagster-celery/queue: gpu`` and run only on workers started with ``-q gpu``
    k8s         every step is a Kubernetes Job (dagster-k8s ``k8s_job_executor``); training steps
                ask for ``nvidia.com/gpu`` on a GPU node (deploy/k8s/)

The instance side (run storage, run queue, run launcher) lives in ``$DAGSTER_HOME/dagster.yaml``:
``deploy/<profile>/dagster.yaml`` is the file to copy there (``make instance`` does it for
``TRADEML_PROFILE``). The executor is code, so it is chosen here, by the same variable, and no
code is edited to switch. Dagster's own executors are used throughout: nothing here schedules.

Celery settings come from the environment so that the run process and the workers agree:
``TRADEML_CELERY_BROKER`` / ``TRADEML_CELERY_BACKEND`` (default ``redis://127.0.0.1:6379/0`` and
``/1``) and ``TRADEML_CELERY_VISIBILITY_TIMEOUT`` (seconds, default 6 h: Redis hands an
unacknowledged task to another worker after this long, so it must exceed the longest step).
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

PROFILES = ("local", "production", "celery", "k8s")

#: Step tags of the training assets (see trademl_assets.signals.models.TRAINING_TAGS).
GPU_QUEUE = "gpu"
#: dagster-celery's default queue: CPU steps (ingest, datasets, reports) go here.
CPU_QUEUE = "dagster"


class ProfileError(ValueError):
    """``TRADEML_PROFILE`` names no known profile."""


def current_profile(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    profile = (env.get("TRADEML_PROFILE") or "local").strip().lower()
    if profile not in PROFILES:
        raise ProfileError(
            f"TRADEML_PROFILE={env.get('TRADEML_PROFILE')!r} is not a profile; use one of "
            f"{', '.join(PROFILES)} (deploy/README.md says what each needs)"
        )
    return profile


def celery_config(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The dagster-celery executor config, which is also the workers' ``-y`` YAML.

    ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only after it ran,
    so a worker killed mid-step leaves it on the broker and another worker runs it again (every
    lake write is atomic and idempotent per partition, so nothing is duplicated).
    ``worker_prefetch_multiplier: 1``: a busy worker does not hold tasks an idle one could run.
    """
    env = os.environ if environ is None else environ
    visibility = int(env.get("TRADEML_CELERY_VISIBILITY_TIMEOUT") or 6 * 3600)
    return {
        "broker": env.get("TRADEML_CELERY_BROKER") or "redis://127.0.0.1:6379/0",
        "backend": env.get("TRADEML_CELERY_BACKEND") or "redis://127.0.0.1:6379/1",
        "config_source": {
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": {
                "visibility_timeout": visibility,
                # Ten real priority levels on Redis (kombu's default is four buckets), served
                # strictly in order: on Redis 0 is the highest priority, 9 the lowest.
                "priority_steps": list(range(10)),
                "sep": ":",
                "queue_order_strategy": "priority",
                "max_retries": 3,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
            "result_expires": 24 * 3600,
        },
    }


#: ``dagster-celery/run_priority`` of the scheduled ingest runs. dagster-celery sends each step
#: with priority run_priority + step priority (default 5); on Redis a lower number is served
#: first (RabbitMQ is the other way round), so scheduled ingest (5 - 4 = 1) overtakes a backfill's
#: steps (5) waiting on the same queue. Dagster's concurrency pools do not apply under Celery:
#: the queue and this priority are what route work.
INGEST_RUN_PRIORITY = -4


def executor_for_profile(profile: str | None = None) -> dg.ExecutorDefinition:
    """The executor every job runs on under ``profile`` (default: ``TRADEML_PROFILE``)."""
    profile = (
        current_profile() if profile is None else current_profile({"TRADEML_PROFILE": profile})
    )
    if profile in ("local", "production"):
        # Dagster's default: multiprocess, or in-process when run config asks for it.
        return dg.multi_or_in_process_executor
    if profile == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config(), name="celery")
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(k8s_executor_config(), name="k8s")


def k8s_executor_config(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """``k8s_job_executor`` config: one Job per step, GPU steps on GPU nodes.

    Every step shares the env config map and secret (``TRADEML_K8S_ENV_CONFIGMAP`` /
    ``TRADEML_K8S_ENV_SECRET``). The training steps (the ops tagged ``resource: gpu``, see
    trademl_assets.signals.models.TRAINING_TAGS) get their pod settings from
    ``per_step_k8s_config``, keyed by op name, so no asset carries Kubernetes config and no
    asset code changes per profile (tests/deploy/test_profiles.py fails if a ``resource: gpu`` op
    is missing here):

    - ``nvidia.com/gpu: TRADEML_K8S_GPUS_PER_STEP`` (default 1) as request and limit;
    - ``node_selector`` from ``TRADEML_K8S_GPU_NODE_SELECTOR`` (``key=value,...``; default
      ``nvidia.com/gpu.present=true``, the label NVIDIA's GPU operator puts on GPU nodes);
    - a toleration for the taint ``TRADEML_K8S_GPU_TOLERATION`` (default ``nvidia.com/gpu``, the
      taint GPU node pools usually carry; empty for none);
    - the image ``TRADEML_K8S_GPU_IMAGE`` when set (the CUDA build of deploy/docker/Dockerfile),
      else the code location's image.

    ``tag_concurrency_limits`` runs at most ``TRADEML_K8S_GPU_STEPS_PER_RUN`` (default 1)
    ``resource: gpu`` step at a time within a run, as the run queue does across runs.
    """
    env = os.environ if environ is None else environ
    gpus = str(int(env.get("TRADEML_K8S_GPUS_PER_STEP") or 1))
    selector_text = env.get("TRADEML_K8S_GPU_NODE_SELECTOR")
    if selector_text is None:
        selector_text = "nvidia.com/gpu.present=true"
    node_selector = {}
    for pair in filter(None, (p.strip() for p in selector_text.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ProfileError(
                f"TRADEML_K8S_GPU_NODE_SELECTOR={selector_text!r}: expected key=value[,key=value]"
            )
        node_selector[key.strip()] = value.strip()
    taint = env.get("TRADEML_K8S_GPU_TOLERATION", "nvidia.com/gpu").strip()

    # The ops that carry TRAINING_TAGS (resource: gpu), by op name (= asset name).
    gpu_ops = (
        "signal_classifier",
        "ner_extractor",
        "onnx_gate",
        "sentiment_model",
        "llava_meme_adapter",
    )
    container: dict[str, Any] = {
        "resources": {"requests": {"nvidia.com/gpu": gpus}, "limits": {"nvidia.com/gpu": gpus}}
    }
    if env.get("TRADEML_K8S_GPU_IMAGE"):
        container["image"] = env["TRADEML_K8S_GPU_IMAGE"]
    pod_spec: dict[str, Any] = {}
    if node_selector:
        pod_spec["node_selector"] = node_selector
    if taint:
        pod_spec["tolerations"] = [{"key": taint, "operator": "Exists", "effect": "NoSchedule"}]
    gpu_step = {"container_config": container, "pod_spec_config": pod_spec}

    config: dict[str, Any] = {
        "max_concurrent": int(env.get("TRADEML_K8S_MAX_CONCURRENT") or 8),
        "env_config_maps": [env.get("TRADEML_K8S_ENV_CONFIGMAP") or "trademl-env"],
        "env_secrets": [env.get("TRADEML_K8S_ENV_SECRET") or "trademl-secrets"],
        "tag_concurrency_limits": [
            {
                "key": "resource",
                "value": "gpu",
                "limit": int(env.get("TRADEML_K8S_GPU_STEPS_PER_RUN") or 1),
            }
        ],
        "per_step_k8s_config": {op: gpu_step for op in gpu_ops},
    }
    if env.get("TRADEML_K8S_JOB_NAMESPACE"):
        config["job_namespace"] = env["TRADEML_K8S_JOB_NAMESPACE"]
    return config
