"""Dagster Pipes launchers: run a training stage outside the Dagster process (e.g. `torchrun` over
several GPUs) while its rank 0 reports logs, metadata and the materialisation back to the run.

Not under defs/: nothing here is a definition; a training asset imports `run_torchrun`.
The child side (`rank0.py`, `toy_ddp.py`) imports only `dagster_pipes`, never `dagster`.
"""
