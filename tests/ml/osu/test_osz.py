"""`.osz` sets: write -> read keeps every map and file; other modes are listed as refused; the zip
safety rules of Beat Saber maps hold; the real corpus (AUTOMAPPER_OSU_CORPUS) reads and round trips."""

from __future__ import annotations

import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automapper_ml.formats.errors import MapError, UnsafeZipError
from automapper_ml.formats.osu import osu_bytes, read_osu, read_osz, write_osz
from automapper_ml.formats.safezip import ZipLimits
from tests.ml.osu.fixtures import CORPUS_ENV, corpus_sets
from tests.ml.osu.test_reader import SMALL, small


def test_osz_round_trip_keeps_maps_and_files(tmp_path):
    m = read_osu(small(), "small.osu")
    out = write_osz(tmp_path / "set.osz", [m], {"audio.mp3": b"ID3 not really"})
    got = read_osz(out, with_files=True)
    assert [b for _, b in got.beatmaps] == [m] and got.refused == ()
    assert got.audio() == b"ID3 not really"
    assert (
        write_osz(tmp_path / "again.osz", [m], {"audio.mp3": b"ID3 not really"}).read_bytes()
        == out.read_bytes()
    )


def test_other_modes_in_a_set_are_refused_not_fatal(tmp_path):
    mania = small(**{"Mode: 0": "Mode: 3"})
    path = tmp_path / "mixed.osz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("std.osu", small())
        zf.writestr("mania.osu", mania)
    got = read_osz(path)
    assert [n for n, _ in got.beatmaps] == ["std.osu"]
    ((name, err),) = got.refused
    assert name == "mania.osu" and err.code == "unsupported_mode" and "osu!mania" in str(err)


def test_zip_limits_apply(tmp_path):
    path = write_osz(
        tmp_path / "set.osz", {"a.osu": read_osu(small(), "a.osu")}, {"b.mp3": b"x", "c.jpg": b"y"}
    )
    with pytest.raises(UnsafeZipError) as err:
        read_osz(path, limits=ZipLimits(max_members=2))
    assert err.value.code == "too_many_members"
    (tmp_path / "junk.osz").write_bytes(b"not a zip")
    with pytest.raises(UnsafeZipError):
        read_osz(tmp_path / "junk.osz")


@settings(max_examples=150, deadline=None)
@given(st.integers(0, SMALL.count("\n")), st.text(max_size=40))
def test_any_line_replaced_is_read_or_refused_in_one_line(index, junk):
    lines = SMALL.split("\n")
    lines[index] = junk
    try:
        m = read_osu("\n".join(lines).encode(), "fuzz.osu")
    except MapError as err:
        assert "\n" not in str(err)
    else:
        assert read_osu(osu_bytes(m), "fuzz.osu") == m


@pytest.mark.skipif(not corpus_sets(), reason=f"{CORPUS_ENV} is unset (the real osu! corpus is not built)")
def test_real_corpus_reads_and_round_trips():
    read = refused = 0
    for path in corpus_sets():
        got = read_osz(path)
        for name, m in got.beatmaps:
            assert read_osu(osu_bytes(m), name) == m, f"{path.name} :: {name}"
        assert all(err.code == "unsupported_mode" for _, err in got.refused), got.refused
        read, refused = read + len(got.beatmaps), refused + len(got.refused)
    print(f"{read} osu!standard difficulties read, {refused} of other modes refused")
    assert read > 0
