"""One broken zip per safety and blacklist rule, each with exactly the defect its name says."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import soundfile as sf

from automapper_ml.formats.errors import MapError
from automapper_ml.formats.reader import load_map
from automapper_ml.synth import BROKEN_KINDS
from automapper_ml.synth.broken import BOMB_BYTES
from tests.ml.synth.expectations import READER_CODES


def _by_kind(demo):
    return {b.kind: b for b in demo.broken}


def test_one_zip_per_kind_named_after_it(demo):
    broken = _by_kind(demo)
    assert set(broken) == set(BROKEN_KINDS)
    for kind, b in broken.items():
        assert b.path.name == f"broken_{kind}.zip" and b.path.is_file()
        assert b.description == BROKEN_KINDS[kind]


@pytest.mark.parametrize("kind", sorted(READER_CODES))
def test_the_reader_refuses_structural_breakage_for_the_right_reason(demo, kind):
    with pytest.raises(MapError) as err:
        load_map(_by_kind(demo)[kind].path)
    assert err.value.code in READER_CODES[kind]


def test_the_zip_bomb_is_tiny_on_disk_and_huge_inflated(demo):
    path = _by_kind(demo)["zip_bomb"].path
    with zipfile.ZipFile(path) as zf:
        big = max(zf.infolist(), key=lambda i: i.file_size)
    assert big.file_size > 128 * 1024 * 1024 and big.file_size >= BOMB_BYTES
    assert big.compress_size < 1024 * 1024


def _expert(beatmap):
    return next(d for d in beatmap.difficulties if d.key in ("Standard/Expert", "Standard/ExpertPlus"))


def test_rule_breakers_read_but_show_exactly_their_defect(demo):
    broken = _by_kind(demo)
    loaded = {k: load_map(broken[k].path) for k in BROKEN_KINDS if k not in READER_CODES}

    wall = max((o for d in loaded["long_wall"].difficulties for o in d.obstacles), key=lambda o: o.duration)
    assert wall.duration == 936.0
    assert {d.name for d in loaded["no_expert"].difficulties} == {"Easy", "Normal"}
    with zipfile.ZipFile(broken["short_song"].path) as zf:
        assert sf.info(io.BytesIO(zf.read("song.egg"))).duration < 15.0
    assert len(_expert(loaded["short_song"]).notes) >= 20
    assert len(_expert(loaded["few_notes"]).notes) < 20
    dense = loaded["too_dense"]
    assert len(_expert(dense).notes) / (32.0 / 60.0) > 2000
    heavy = _expert(loaded["wall_heavy"])
    assert len(heavy.obstacles) / (len(heavy.obstacles) + len(heavy.notes)) > 0.9 and len(heavy.notes) >= 20
    for kind, mod in (
        ("noodle_only", "Noodle Extensions"),
        ("mapping_extensions", "Mapping Extensions"),
        ("vivify", "Vivify"),
    ):
        assert all(mod in d.requirements for d in loaded[kind].difficulties)

    record = json.loads(broken["ai_map"].sidecar.read_text())
    assert record["declaredAi"] == "SageScore" and record["automapper"] is True

    with zipfile.ZipFile(broken["bad_audio"].path) as zf:
        garbage = zf.read("song.egg")
    with pytest.raises(sf.LibsndfileError):
        sf.read(io.BytesIO(garbage))


def test_otherwise_good_breakers_keep_the_good_parts(demo):
    """Apart from its defect each zip is a good map: a 32 s song and a sane Standard Expert."""
    broken = _by_kind(demo)
    for kind in ("long_wall", "noodle_only", "ai_map", "bad_audio", "vivify"):
        beatmap = load_map(broken[kind].path)
        expert = _expert(beatmap)
        assert 20 <= len(expert.notes) <= 2000 * 32 / 60
