"""Hostile zips, built in the test: each is refused with a specific UnsafeZipError/MapError code."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from automapper_ml.formats.errors import MapError, MapFormatError, MissingFileError, UnsafeZipError
from automapper_ml.formats.reader import load_map
from automapper_ml.formats.safezip import MIB, SafeZip, ZipLimits, normalize_member_name
from automapper_ml.formats.source import FolderSource, ZipSource, open_map_source
from tests.ml.formats import minimal

INFO = {**minimal.INFO, "_songName": "Zip Test", "_songAuthorName": "Artist", "_levelAuthorName": "Mapper"}
DIFF = minimal.V3


def _map_files(prefix: str = "") -> dict[str, bytes]:
    return {
        prefix + "Info.dat": json.dumps(INFO).encode(),
        prefix + "Expert.dat": json.dumps(DIFF).encode(),
        prefix + "song.egg": b"OggS" + bytes(100),
    }


def _write_zip(path: Path, members: dict[str, bytes] | list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in items:
            zf.writestr(name, data)
    return path


def _code(path: Path, **kwargs) -> str:
    with pytest.raises(MapError) as info:
        load_map(path, **kwargs)
    message = str(info.value)
    assert message and "\n" not in message
    return info.value.code


def test_good_zip_reads_and_audio_is_available(tmp_path: Path) -> None:
    path = _write_zip(tmp_path / "good.zip", _map_files())
    with open_map_source(path) as source:
        assert isinstance(source, ZipSource)
        assert sorted(source.list()) == ["Expert.dat", "Info.dat", "song.egg"]
        assert source.has("INFO.DAT") and source.has("expert.dat")
        assert source.read_bytes("Song.EGG").startswith(b"OggS")
    assert len(load_map(path).difficulties[0].notes) == 1


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../x", "zip_slip"),
        ("a/../../x", "zip_slip"),
        ("..\\x", "zip_slip"),
        ("/etc/x", "absolute_path"),
        ("\\evil\\x", "absolute_path"),
        ("C:/Windows/x", "absolute_path"),
        ("c:x", "absolute_path"),
    ],
)
def test_hostile_names(tmp_path: Path, name: str, code: str) -> None:
    members = list(_map_files().items()) + [(zipfile.ZipInfo(name), b"gotcha")]
    path = _write_zip(tmp_path / "bad.zip", members)
    with zipfile.ZipFile(path) as zf:  # the hostile name really is stored as written
        assert name in zf.namelist()
    assert _code(path) == code


def test_normalize_member_name() -> None:
    assert normalize_member_name("a\\b\\Info.dat") == "a/b/Info.dat"
    assert normalize_member_name("./a//b.dat") == "a/b.dat"
    assert normalize_member_name("folder/") == "folder/"
    with pytest.raises(UnsafeZipError) as info:
        normalize_member_name("a\x00b")
    assert info.value.code == "bad_name"


def test_symlink_member(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("Expert.dat")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    members = [("Info.dat", json.dumps(INFO).encode()), (link, b"/etc/passwd")]
    assert _code(_write_zip(tmp_path / "link.zip", members)) == "symlink"


def test_zip_bomb_ratio(tmp_path: Path) -> None:
    files = _map_files()
    files["song.egg"] = bytes(20 * MIB)  # deflates ~1000x
    path = _write_zip(tmp_path / "bomb.zip", files)
    assert path.stat().st_size < 100_000
    assert _code(path) == "zip_bomb"


def test_member_over_cap(tmp_path: Path) -> None:
    files = _map_files()
    files["song.egg"] = os.urandom(2 * MIB)  # incompressible: not a bomb, just too big for these limits
    path = _write_zip(tmp_path / "big.zip", files)
    assert _code(path, limits=ZipLimits(max_member_bytes=1 * MIB)) == "too_large"
    assert _code(path, limits=ZipLimits(max_total_bytes=1 * MIB)) == "too_large"
    assert load_map(path).title == "Zip Test"  # the default caps allow it


def test_lying_size_header_is_not_trusted(tmp_path: Path) -> None:
    """Declared sizes patched down to 10 bytes: the member must not inflate past them unnoticed."""
    payload = bytes(200_000)
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Info.dat", json.dumps(INFO).encode())
        zf.writestr("Expert.dat", payload)
    raw = bytearray(data.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        info = zf.getinfo("Expert.dat")
    # Local header: uncompressed size at offset 22; central directory entry: at offset 24.
    raw[info.header_offset + 22 : info.header_offset + 26] = (10).to_bytes(4, "little")
    cd = raw.rfind(b"PK\x01\x02")  # Expert.dat is the last central directory entry
    raw[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(raw))
    with SafeZip(path) as z:
        assert z.size("Expert.dat") == 10
        with pytest.raises(UnsafeZipError) as err:
            z.read("Expert.dat")
    assert err.value.code in ("corrupt", "zip_bomb")


def test_too_many_members(tmp_path: Path) -> None:
    files = _map_files()
    files.update({f"pad/{i}.txt": b"x" for i in range(20)})
    path = _write_zip(tmp_path / "many.zip", files)
    assert _code(path, limits=ZipLimits(max_members=10)) == "too_many_members"
    many = _map_files()
    many.update({f"pad/{i}.txt": b"" for i in range(1001)})
    assert _code(_write_zip(tmp_path / "many_default.zip", many)) == "too_many_members"


def test_truncated_zip(tmp_path: Path) -> None:
    good = _write_zip(tmp_path / "good.zip", _map_files()).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(good[: len(good) // 2])
    assert _code(path) == "truncated"


def test_corrupt_member_data(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "stored.zip", "w", zipfile.ZIP_STORED) as zf:
        for name, data in _map_files().items():
            zf.writestr(name, data)
    raw = bytearray((tmp_path / "stored.zip").read_bytes())
    at = raw.find(b"colorNotes")
    raw[at : at + 5] = b"XXXXX"  # same length, wrong CRC
    path = tmp_path / "crc.zip"
    path.write_bytes(bytes(raw))
    assert _code(path) == "corrupt"


@pytest.mark.parametrize(
    "payload", [b"", b"not a zip at all", b"OggS" + bytes(1000), json.dumps(INFO).encode()]
)
def test_non_zip_bytes(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "fake.zip"
    path.write_bytes(payload)
    assert _code(path) == "not_a_zip"


def test_encrypted_flag(tmp_path: Path) -> None:
    # zipfile will not write the flag itself: set bit 0 in the local header (offset 6) and
    # the central directory entry (offset 8) of the last member.
    raw = bytearray(_write_zip(tmp_path / "plain.zip", _map_files()).read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        offset = zf.infolist()[-1].header_offset
    raw[offset + 6] |= 0x1
    raw[raw.rfind(b"PK\x01\x02") + 8] |= 0x1
    path = tmp_path / "enc.zip"
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as zf:
        assert zf.infolist()[-1].flag_bits & 0x1
    assert _code(path) == "encrypted"


def test_duplicate_names(tmp_path: Path) -> None:
    members = list(_map_files().items()) + [("expert.DAT", b"{}")]
    assert _code(_write_zip(tmp_path / "dup.zip", members)) == "duplicate_name"


def test_map_depth_rules(tmp_path: Path) -> None:
    one_deep = load_map(_write_zip(tmp_path / "one.zip", _map_files("My Map/")))
    assert one_deep.title == "Zip Test"
    backslashes = load_map(_write_zip(tmp_path / "bs.zip", _map_files("My Map\\")))
    assert backslashes.title == "Zip Test"
    assert _code(_write_zip(tmp_path / "two.zip", _map_files("a/b/"))) == "map_too_deep"
    both = {**_map_files("a/"), **_map_files("b/")}
    assert _code(_write_zip(tmp_path / "both.zip", both)) == "multiple_maps"
    assert _code(_write_zip(tmp_path / "none.zip", {"readme.txt": b"hi"})) == "missing_info"
    macos = {**_map_files(), "__MACOSX/._Info.dat": b"\x00\x05", "__MACOSX/x/Info.dat": b"junk"}
    assert load_map(_write_zip(tmp_path / "mac.zip", macos)).title == "Zip Test"


def test_info_cannot_point_outside_the_map(tmp_path: Path) -> None:
    outside = tmp_path / "secret.dat"
    outside.write_text(json.dumps(DIFF))
    folder = tmp_path / "map"
    folder.mkdir()
    info = json.loads(json.dumps(INFO))
    info["_difficultyBeatmapSets"][0]["_difficultyBeatmaps"][0]["_beatmapFilename"] = "../secret.dat"
    (folder / "Info.dat").write_text(json.dumps(info))
    assert _code(folder) == "bad_filename"
    # A symlink inside the folder that leads out of it is refused too.
    info["_difficultyBeatmapSets"][0]["_difficultyBeatmaps"][0]["_beatmapFilename"] = "Expert.dat"
    (folder / "Info.dat").write_text(json.dumps(info))
    (folder / "Expert.dat").symlink_to(outside)
    assert _code(folder) == "bad_filename"


def test_folder_source_lookup(tmp_path: Path) -> None:
    folder = tmp_path / "wrapper" / "map"
    folder.mkdir(parents=True)
    for name, data in _map_files().items():
        (folder / name.lower()).write_bytes(data)
    with open_map_source(tmp_path / "wrapper") as source:  # the map one folder down
        assert isinstance(source, FolderSource)
        assert source.has("Info.dat") and source.has("EXPERT.dat")
        with pytest.raises(MissingFileError) as err:
            source.read_bytes("Hard.dat")
        assert err.value.code == "missing_file"
        with pytest.raises(MapFormatError):
            source.read_bytes("../map/Info.dat")
    assert load_map(tmp_path / "wrapper").difficulties[0].name == "Expert"
    with pytest.raises(MissingFileError) as err:
        open_map_source(tmp_path / "nope.zip")
    assert err.value.code == "not_found"
