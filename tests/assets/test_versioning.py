"""The versioning contract (DESIGN.md), asked of Dagster itself in fresh processes.

A copy of the project's source is made in tmp (with 4 shards instead of 16, to keep runs few);
the main job materialises it on a small demo corpus; then a version constant is edited in the
copy and `python -m automapper_assets.plan` — a fresh process loading the edited source —
reports what Dagster considers unsynced and what the cascade would re-materialise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# Assets of the main job as they exist today, split by what each bump must touch.
EVALUATION = ["reference_snapshots", "evaluation_metrics"]
TOKENIZER_CASCADE = ["map_tokens", "frame_index", "sequence_model", "lighting_model", *EVALUATION]
AUDIO_CASCADE = [
    "audio_features",
    "frame_index",
    "onset_model",
    "sequence_model",
    "lighting_model",
    *EVALUATION,
]
NEVER_FOR_TOKENIZER = {
    "audio_features",
    "map_manifest",
    "outlier_blacklist",
    "sample_weights",
    "dataset_audit",
    "onset_model",
}
# The copy trains one-epoch smoke presets: this test is about versions, not learning.
SMOKE_TRAIN = """
model = "tiny"
[preset.smoke.train]
epochs = 1
batch_size = 8
lr = 1e-3
warmup_steps = 2
patience = 1
progress = false
"""
SMOKE = {
    "onset": "[preset.smoke]" + SMOKE_TRAIN + "[preset.smoke.task]\nepoch_scale = 0.05\naugment = false\n",
    "sequence": "[preset.smoke]"
    + SMOKE_TRAIN
    + "[preset.smoke.task]\nepoch_scale = 0.05\nval_max_samples = 64\neval_songs = 1\n",
    "lighting": "[preset.smoke]"
    + SMOKE_TRAIN
    + "[preset.smoke.task]\nepoch_scale = 0.05\nmax_val_steps = 200\n",
}


def _copy_source(dst: Path) -> Path:
    for name in ("automapper_ml", "automapper_assets", "configs"):
        shutil.copytree(REPO / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dagster.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, dst / name)
    config = dst / "configs" / "ingest.toml"
    config.write_text(re.sub(r"(?m)^count = \d+", "count = 4", config.read_text()))
    for stage, preset in SMOKE.items():
        path = dst / "configs" / f"{stage}.toml"
        path.write_text(path.read_text() + "\n" + preset)
    profiles = dst / "configs" / "profiles.toml"  # the smoke presets, chosen by the default profile
    text = re.sub(r'(?m)^default = "[^"]*"', 'default = "smoke"', profiles.read_text())
    profiles.write_text(text + '\n[profile.smoke]\nonset = "smoke"\nsequence = "smoke"\nlighting = "smoke"\n')
    return dst


def _python(src: Path, code: str, home: Path) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("AUTOMAPPER_PROFILE", "AUTOMAPPER_RAW")},
        "PYTHONPATH": str(src),
        "AUTOMAPPER_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=src, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _run_pipeline(src: Path, home: Path) -> list[str]:
    code = (
        "from pathlib import Path\n"
        "from automapper_assets.pipeline import run_pipeline\n"
        "from automapper_ml.synth import DemoConfig\n"
        f"r = run_pipeline(Path({str(home)!r}), demo_config=DemoConfig(n_songs=3, n_reference=1, include_broken=False), log=lambda *a: None)\n"
        "import json; print('RESULT' + json.dumps(r['materialised']))\n"
    )
    out = _python(src, code, home)
    return json.loads(out.split("RESULT", 1)[1].strip().splitlines()[0])


def _plan(src: Path, home: Path, observe: bool = False) -> dict:
    code = (
        "import sys\nfrom automapper_assets.plan import main\n"
        f"sys.exit(main(['--home', {str(home)!r}, '--json'] + ({[] if observe else ['--no-observe']!r})))\n"
    )
    return json.loads(_python(src, code, home))


def _bump(path: Path, constant: str) -> None:
    text = path.read_text()
    new, n = re.subn(rf'(?m)^{constant} = "([^"]*)"', lambda m: f'{constant} = "{m.group(1)}-bumped"', text)
    assert n == 1, f"{constant} not found in {path}"
    path.write_text(new)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("versioning")
    src = _copy_source(root / "src")
    home = root / "home"
    materialised = _run_pipeline(src, home)
    assert any("frame_index" in line for line in materialised)
    assert _plan(src, home)["unsynced"] == []
    return src, home


def test_tokenizer_bump_unsyncs_exactly_tokens_and_downstream(project):
    src, home = project
    _bump(src / "automapper_ml" / "tokenizer.py", "TOKENIZER_VERSION")
    plan = _plan(src, home)
    # the models' code versions hold TOKENIZER_VERSION (DESIGN.md), so they are unsynced at once;
    # frame_index follows once map_tokens is re-materialised: the cascade lists it
    assert plan["unsynced_assets"] == ["lighting_model", "map_tokens", "sequence_model"]
    shards = {item["partition"] for item in plan["unsynced"] if item["asset"] == "map_tokens"}
    assert shards == {"00", "01", "02", "03"}
    assert all(any(c.startswith("CODE") for c in item["causes"]) for item in plan["unsynced"])
    assert plan["cascade"][0] == "map_tokens" and set(plan["cascade"]) == set(TOKENIZER_CASCADE)
    assert not NEVER_FOR_TOKENIZER & set(plan["cascade"])

    # after re-materialising, frame_index keeps its data version (same onsets), so nothing is left
    materialised = _run_pipeline(src, home)
    assert not any(name in line for line in materialised for name in NEVER_FOR_TOKENIZER)
    assert _plan(src, home)["unsynced"] == []


def test_audio_bump_reruns_audio_features_and_downstream(project):
    src, home = project
    _bump(src / "automapper_ml" / "audio.py", "AUDIO_FEATURES_VERSION")
    plan = _plan(src, home)
    assert plan["unsynced_assets"] == ["audio_features"]
    assert plan["cascade"][0] == "audio_features" and set(plan["cascade"]) == set(AUDIO_CASCADE)
    _run_pipeline(src, home)
    assert _plan(src, home)["unsynced"] == []


def test_one_new_zip_decodes_one_map_in_one_shard(project):
    src, home = project
    raw = home / "raw"
    donor = next(p for p in sorted(raw.glob("*.zip")))
    shutil.copy(donor, raw / "zz_new_copy.zip")
    plan = _plan(src, home, observe=True)
    stale_shards = {
        i["partition"] for i in plan["unsynced"] if i["asset"] in ("audio_features", "map_tokens")
    }
    assert len(stale_shards) == 1
    materialised = _run_pipeline(src, home)
    shard_runs = [line for line in materialised if line.startswith("materialised audio_features [")]
    assert len(shard_runs) == 1
    shard = shard_runs[0].split("[")[1].split("]")[0]
    code = (
        "import dagster as dg\n"
        "inst = dg.DagsterInstance.get()\n"
        "recs = inst.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey('audio_features'),"
        f" asset_partitions=[{shard!r}]), limit=1).records\n"
        "print(recs[0].asset_materialization.metadata['maps_decoded'].value)\n"
    )
    assert _python(src, code, home).strip().splitlines()[-1] == "1"
