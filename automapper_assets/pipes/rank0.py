"""Child side of the Pipes + torchrun path: only global rank 0 talks to Dagster.

Every rank inherits the Pipes environment from torchrun; if all of them opened the channel the
run would receive one materialisation per rank. Imports only `dagster_pipes` (a tiny package with
no dependency on dagster), so a training script can use it on any worker image.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager


def global_rank() -> int:
    """torchrun's RANK (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


@contextmanager
def rank0_pipes() -> Iterator[object | None]:
    """The open Pipes context on rank 0 when launched by Dagster Pipes, else None.

    with rank0_pipes() as pipes:
        ... train ...
        if pipes is not None:
            pipes.report_asset_materialization(metadata={"val_loss": loss})
    """
    if global_rank() != 0 or "DAGSTER_PIPES_CONTEXT" not in os.environ:
        yield None
        return
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        yield pipes
