"""Dagster side: launch a training script under `torchrun` through Dagster Pipes.

A training asset that needs several GPUs does:

    @dg.asset(group_name="training", pool=GPU_POOL, op_tags=GPU_OP_TAGS, ...)
    def sequence_model(context: dg.AssetExecutionContext, paths: AutomapperPaths):
        return run_torchrun(context, TRAIN_SCRIPT, nproc_per_node=4, args=["--home", str(paths.root())])

and the script wraps its work in `rank0_pipes()` (rank0.py) so exactly one materialisation comes
back. torchrun starts as `python -m torch.distributed.run` of the same interpreter, so the venv's
torch is used. On several nodes, pass `nnodes` and `rdzv_endpoint` (host:port of node 0) and start
the same command on every node (or let the k8s executor's pod spec do it).
"""

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg


def torchrun_command(
    script: str | Path,
    nproc_per_node: int,
    args: Sequence[str] = (),
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
) -> list[str]:
    """The argv of a torchrun launch (single node: --standalone rendezvous on a free local port)."""
    if nproc_per_node < 1 or nnodes < 1:
        raise ValueError(f"nproc_per_node and nnodes must be >= 1, got {nproc_per_node}, {nnodes}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc_per_node)]
    if nnodes == 1:
        cmd.append("--standalone")
    else:
        if not rdzv_endpoint:
            raise ValueError("several nodes need rdzv_endpoint (host:port of node 0)")
        cmd += ["--nnodes", str(nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", rdzv_endpoint]
    return [*cmd, str(script), *map(str, args)]


def run_torchrun(
    context: dg.AssetExecutionContext,
    script: str | Path,
    nproc_per_node: int,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    client: dg.PipesSubprocessClient | None = None,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
) -> dg.MaterializeResult:
    """Run `script` under torchrun; returns the MaterializeResult rank 0 reported.

    Raises dagster's Pipes error (with the child's exit code) if any rank fails: torchrun tears
    the whole group down and exits non-zero, so the step fails and the retry policy applies.
    """
    threads = max(1, (os.cpu_count() or 1) // max(1, nproc_per_node))
    child_env = {"OMP_NUM_THREADS": str(threads), **(env or {})}  # ranks must not oversubscribe the CPU
    command = torchrun_command(script, nproc_per_node, args, nnodes, rdzv_endpoint)
    context.log.info("launching: " + " ".join(command))
    client = client or dg.PipesSubprocessClient()
    return client.run(command=command, context=context, env=child_env).get_materialize_result()
