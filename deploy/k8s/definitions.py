"""Code location for Kubernetes: the normal definitions, executed by `k8s_job_executor`.

    dagster code-server start -m deploy.k8s.definitions      (or point the Helm chart's user
                                                              deployment at this module)

Needs `dagster-k8s==0.29.27`. The executor config is deploy/k8s/executor.yaml; GPU requests ride on
the training assets' op tags, so nothing else changes between the laptop and the cluster.
"""

from pathlib import Path

import dagster as dg
from dagster_k8s import k8s_job_executor

from automapper_assets.definitions import with_executor

EXECUTOR_CONFIG = Path(__file__).with_name("executor.yaml")


@dg.definitions
def defs() -> dg.Definitions:
    return with_executor(k8s_job_executor, EXECUTOR_CONFIG, "k8s_steps")
