"""A tiny DDP training script for the Pipes + torchrun smoke test (CPU, gloo, a few seconds).

Each rank fits y = X w* on its own shard of random data; gradients are averaged by DDP, so the
ranks end with identical weights. Rank 0 checks that, writes the checkpoint atomically and
reports the materialisation through Pipes.

    python -m torch.distributed.run --standalone --nproc_per_node 2 toy_ddp.py OUT.pt [STEPS]
"""

import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from automapper_assets.pipes.rank0 import rank0_pipes
from automapper_ml.atomic import atomic_path

DIM = 8  # features
BATCH = 64  # rows per rank per step


def main(argv: list[str]) -> int:
    out, steps = argv[0], int(argv[1]) if len(argv) > 1 else 60
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    true_w = torch.randn(DIM, 1)  # same on every rank
    model = DistributedDataParallel(torch.nn.Linear(DIM, 1, bias=False))  # DDP broadcasts rank 0's init
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(1000 + rank)  # each rank its own data shard
    started, losses = time.monotonic(), []
    with rank0_pipes() as pipes:
        for step in range(steps):
            x = torch.randn(BATCH, DIM, generator=gen)  # (B, DIM)
            loss = torch.nn.functional.mse_loss(model(x), x @ true_w)
            opt.zero_grad()
            loss.backward()  # DDP all-reduces the gradients here
            opt.step()
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            losses.append(mean.item() / world)
            if pipes is not None and step % 20 == 0:
                pipes.log.info(f"step {step}: loss {losses[-1]:.5f}")
        weights = model.module.weight.detach().clone()
        gathered = [torch.zeros_like(weights) for _ in range(world)]
        dist.all_gather(gathered, weights)
        in_sync = all(torch.equal(gathered[0], w) for w in gathered)
        if rank == 0:
            with atomic_path(out) as tmp:
                torch.save({"weight": weights, "world_size": world}, tmp)
        if pipes is not None:
            pipes.report_asset_materialization(
                metadata={
                    "world_size": world,
                    "steps": steps,
                    "first_loss": losses[0],
                    "final_loss": losses[-1],
                    "ranks_in_sync": in_sync,
                    "checkpoint": {"raw_value": out, "type": "path"},
                    "seconds": round(time.monotonic() - started, 2),
                }
            )
    dist.destroy_process_group()
    return 0 if in_sync else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
