"""Write the Celery workers' config file (``dagster-celery worker start -y FILE``) from the environment.

The file holds ``execution: config: <trademl_jobs.profiles.celery_config()>``, the config the run
process gives ``celery_executor`` under TRADEML_PROFILE=celery, so a worker started from the same
environment (/etc/trademl/env: TRADEML_CELERY_BROKER, TRADEML_CELERY_BACKEND,
TRADEML_CELERY_VISIBILITY_TIMEOUT) talks to the same broker and backend with the same settings.
deploy/celery/celery.yaml is this file for the default environment (local Redis);
tests/deploy/test_profiles.py keeps the two equal.

    python deploy/celery/render_celery_yaml.py [OUT]     # OUT omitted: print to stdout
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HEADER = """\
# Celery worker config for trademl (TRADEML_PROFILE=celery), rendered by
# deploy/celery/render_celery_yaml.py from trademl_jobs.profiles.celery_config():
#   dagster-celery worker start -A dagster_celery.app -y deploy/celery/celery.yaml            # CPU steps
#   dagster-celery worker start -A dagster_celery.app -y deploy/celery/celery.yaml -q gpu     # training
# dagster-celery reads the `execution: config:` block. This copy holds the defaults (Redis on
# 127.0.0.1); the systemd units render their own from /etc/trademl/env at start.
"""


def render(environ: dict[str, str] | None = None) -> str:
    from trademl_jobs.profiles import celery_config

    body = yaml.safe_dump({"execution": {"config": celery_config(environ)}}, sort_keys=False)
    return HEADER + body


def main(argv: list[str]) -> int:
    text = render()
    if len(argv) > 1:
        out = Path(argv[1])
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
