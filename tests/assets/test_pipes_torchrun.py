"""The Pipes + torchrun path: a 2-process CPU (gloo) DDP smoke run whose rank 0 alone reports back."""

import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest

from automapper_assets.pipes import torchrun as torchrun_mod
from automapper_assets.pipes.torchrun import run_torchrun, torchrun_command

TOY = Path(torchrun_mod.__file__).with_name("toy_ddp.py")


def test_command_shapes():
    single = torchrun_command("train.py", 2, ["--x", 1])
    assert single[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in single and single[-3:] == ["train.py", "--x", "1"]
    multi = torchrun_command("train.py", 8, nnodes=2, rdzv_endpoint="node0:29400")
    assert "--standalone" not in multi and multi[multi.index("--rdzv-endpoint") + 1] == "node0:29400"
    with pytest.raises(ValueError):
        torchrun_command("train.py", 8, nnodes=2)
    with pytest.raises(ValueError):
        torchrun_command("train.py", 0)


@pytest.mark.slow
def test_torchrun_two_ranks_report_one_materialisation(tmp_path):
    pytest.importorskip("torch.distributed")
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch built without gloo")
    out = tmp_path / "toy.pt"

    @dg.asset
    def toy_model(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return run_torchrun(context, TOY, nproc_per_node=2, args=[str(out), "60"])

    result = dg.materialize([toy_model])
    assert result.success
    events = result.asset_materializations_for_node("toy_model")
    assert len(events) == 1  # rank 1 stays silent
    meta = {k: v.value for k, v in events[0].metadata.items()}
    assert meta["world_size"] == 2 and meta["ranks_in_sync"] is True
    assert meta["final_loss"] < 0.1 * meta["first_loss"]  # the toy fit learned
    assert meta["checkpoint"] == str(out) and out.exists()
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_failing_rank_fails_the_step(tmp_path):
    bad = tmp_path / "bad.py"
    shutil.copyfile(TOY, bad)
    bad.write_text(
        bad.read_text().replace(
            "def main(argv: list[str]) -> int:\n",
            "def main(argv: list[str]) -> int:\n    raise SystemExit(3)\n",
        )
    )

    @dg.asset
    def broken(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        return run_torchrun(context, bad, nproc_per_node=2, args=[str(tmp_path / "x.pt")])

    assert not dg.materialize([broken], raise_on_error=False).success
