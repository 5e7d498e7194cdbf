"""Code location for Celery queues: the normal definitions, executed by `celery_executor`.

    dagster dev -m deploy.celery.definitions          (webserver + daemon; workers as in executor.yaml)

Needs `dagster-celery==0.29.27` and Postgres instance storage (deploy/postgres/dagster.yaml), since
workers on other machines write events to the same instance.
"""

from pathlib import Path

import dagster as dg
from dagster_celery import celery_executor

from automapper_assets.definitions import with_executor

EXECUTOR_CONFIG = Path(__file__).with_name("executor.yaml")


@dg.definitions
def defs() -> dg.Definitions:
    return with_executor(celery_executor, EXECUTOR_CONFIG, "celery_steps")
