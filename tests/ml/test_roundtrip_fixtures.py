"""The tokenizer round trip on every real fixture map (exact against the quantised reference),
and the `automapper roundtrip` command on them (folder and zip, table and JSON)."""

from __future__ import annotations

import json
import zipfile
from collections import Counter

import pytest

from automapper_ml import tokenizer as T
from automapper_ml.cli import main
from automapper_ml.commands.roundtrip import roundtrip_report
from automapper_ml.formats.reader import load_map
from tests.conftest import beatsaber_fixture_dirs, fixture_params

NOTE_KINDS = ("notes", "bombs", "obstacles", "arcs", "chains")


def ms(objects) -> Counter:
    return Counter(tuple(getattr(o, f) for f in o.__slots__) for o in objects)


@pytest.mark.parametrize("folder", fixture_params())
def test_tokenizer_round_trip_is_exact_on_fixture(folder):
    beatmap = load_map(folder)
    assert beatmap.difficulties
    for diff in beatmap.difficulties:
        ref = T.quantize_difficulty(diff)
        groups = T.encode_notes(beatmap, diff)
        flat = T.flatten(groups)
        for decoded in (T.decode_flat(flat), T.decode_notes(groups)):
            assert decoded.dropped == 0, diff.key
            for kind in NOTE_KINDS:
                assert ms(getattr(decoded, kind)) == ms(getattr(ref, kind)), (diff.key, kind)
        state = T.NoteGrammar.state_after(flat)
        assert state.can_end, diff.key
        # Quantisation moves an object by at most half a tick; only unrepresentable ones are lost.
        lost = T.quantize_notes(diff).lost
        assert len(ref.notes) + len(lost["notes"]) == len(diff.notes)
        assert len(ref.arcs) + len(lost["arcs"]) == len(diff.arcs)
        for obj in (*diff.notes, *diff.bombs, *diff.obstacles, *diff.chains):
            quantised, _ = T.quantize_object(obj)
            assert quantised is None or abs(quantised.beat - obj.beat) <= 0.5 / T.TICKS_PER_BEAT + 1e-9
        for step in (0.5, 0.25):
            lgroups = T.encode_lights(beatmap, diff, step=step)
            for decoded in (T.decode_lights(lgroups, step), T.decode_lights(T.flatten_lights(lgroups), step)):
                assert ms(decoded.events) == ms(ref.events), (diff.key, step)
                assert ms(decoded.boosts) == ms(ref.boosts), (diff.key, step)
            assert T.LightGrammar(step).state_after(T.flatten_lights(lgroups)).can_end


@pytest.mark.parametrize("folder", fixture_params())
def test_roundtrip_report_on_fixture(folder):
    beatmap = load_map(folder)
    report = roundtrip_report(beatmap)
    assert set(report) == {d.key for d in beatmap.difficulties}
    for key, diff_report in report.items():
        for kind, k in diff_report["kinds"].items():
            assert k["mismatch"] == 0, (key, kind)
            assert k["in"] == k["exact"] + k["quantised"] + k["lost"], (key, kind)
            assert k["lost"] == sum(k["lost_reasons"].values())
            assert len(k["differences"]) <= 3
            if k["quantised"] or k["lost"]:
                assert k["differences"], (key, kind)


def _fixture(name: str):
    dirs = {d.name: d for d in beatsaber_fixture_dirs()}
    if name not in dirs:
        pytest.skip(f"fixture {name} is absent")
    return dirs[name]


def test_roundtrip_command_table_and_json(capsys, tmp_path):
    folder = _fixture("hyperclocked")  # Noodle bombs, arcs, chains, Chroma colours, box groups
    assert main(["roundtrip", str(folder)]) == 0
    table = capsys.readouterr().out
    assert "Standard/ExpertPlus" in table and "uninteractable (Noodle)" in table
    assert "ignored by the tokenizers" in table and "light box groups" in table
    header = next(line for line in table.splitlines() if line.strip().startswith("kind"))
    assert header.split() == ["kind", "in", "exact", "quantised", "lost", "mismatch"]

    archive = tmp_path / "map.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f.name)
    assert main(["roundtrip", str(archive), "--json", "--light-step", "0.25"]) == 0
    report = json.loads(capsys.readouterr().out)
    expert = report["Standard/ExpertPlus"]
    assert expert["kinds"]["bombs"]["lost_reasons"] == {
        "uninteractable (Noodle)": expert["kinds"]["bombs"]["in"]
    }
    assert expert["tokens"]["light_step"] == 0.25 and expert["ignored"]["light_box_groups"] >= 1


def test_roundtrip_command_bad_input(capsys, tmp_path):
    assert main(["roundtrip", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("automapper roundtrip: ") and len(err.strip().splitlines()) == 1
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    assert main(["roundtrip", str(tmp_path / "junk.zip")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["roundtrip", str(tmp_path), "--light-step", "0.3"])
    assert exit_info.value.code == 2
