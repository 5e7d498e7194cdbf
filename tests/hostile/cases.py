"""The case table: one builder per family, each returning Cases with a one-line `why`.

Shorthands for `Expect` (inspect, convert, generate, graph):
  REJECT  - not a readable map: one-line errors, quarantined with a reason;
  GOOD    - a good map: inspect and convert succeed, it reaches the frame index with its own audio;
  PLAYS   - a legit map with nothing to train on (OneSaber, 360-only, Lightshow): reads, converts,
            is quarantined;
  ANY     - either outcome, but never a crash, a traceback, a signal or a cap.
`generate` runs only where a case brings a song of its own (`song=`); every other case holds the
base song, whose generate run is good_v3's. Builders only describe: every byte is made inside a
lambda, when the corpus is written.
"""

from __future__ import annotations

import functools
import json
import stat
from collections.abc import Callable
from typing import Any

import numpy as np

from automapper_ml.synth.audio import SAMPLE_RATE, encode_ogg
from tests.hostile.corpus import (
    AUDIO4,
    BASE_SECONDS,
    DIFF,
    DIFF4,
    INFO,
    SONG,
    Case,
    Expect,
    Fifo,
    Folder,
    Material,
    Symlink,
    dumps,
    flac_bytes,
    flac_zeros,
    looped,
    song_map,
    wav_bytes,
    with_wav_rate,
)
from tests.hostile.sweep import digest_cases
from tests.hostile.zips import info, patch_member, replace_name_bytes, zip_bytes

REJECT = Expect("err", "err", None, "out")
GOOD = Expect("ok", "ok", None, "in")
PLAYS = Expect("ok", "ok", None, "out")
ANY = Expect()
ANY_OUT = Expect("any", "any", None, "out")
HUGE_INT = 10**400  # a 401-digit integer literal once dumped
REL = "../../escaped/rel_"
Make = Callable[[], bytes]


def one(name: str, why: str, make: Make, expect: Expect, **kwargs: Any) -> Case:
    """A case that is a single zip, raw/<name>.zip."""
    return Case(name, why, expect, lambda: {f"{name}.zip".encode(): make()}, **kwargs)


def entry(docs: dict) -> dict:
    """The first difficulty entry of a v2.1 Info.dat."""
    return docs[INFO]["_difficultyBeatmapSets"][0]["_difficultyBeatmaps"][0]


def info_doc(docs: dict) -> dict:
    return docs[INFO]


def diff_doc(docs: dict) -> dict:
    return docs[DIFF]


def note0(docs: dict) -> dict:
    return docs[DIFF]["colorNotes"][0]


def setter(where: Callable[[dict], dict], key: str, value: Any) -> Callable[[dict], None]:
    def change(docs: dict) -> None:
        where(docs)[key] = value

    return change


# --------------------------------------------------------------------- good controls ---------------


def good_maps(m: Material) -> list[Case]:
    return [
        one("good_v2", "control: a good v2 map of a 22 s song", lambda: song_map(2, 22.0, "Good Two", "2"), GOOD, seconds={b"good_v2.zip": 22.0}),
        one(
            "good_v3", "control: the base map (v3, 20 s song); its song is every other case's song", lambda: m.zip(),
            Expect("ok", "ok", "ok", "in"), seconds={b"good_v3.zip": BASE_SECONDS}, song=(b"good_v3.egg", lambda: m.ogg),
        ),
        one("good_v4", "control: a good v4 map of a 25 s song", lambda: song_map(4, 25.0, "Good Four", "4"), GOOD, seconds={b"good_v4.zip": 25.0}),
    ]  # fmt: skip


# --------------------------------------------------------------------- the archive -----------------


def archive_cases(m: Material) -> list[Case]:
    evil_dir = f"/tmp/automapper-hostile-{m.token}"

    def plus(extra: dict[str, bytes]) -> Make:
        return lambda: zip_bytes({**m.members(), **extra})

    def moved(prefix: str) -> Make:
        return lambda: zip_bytes({f"{prefix}{k}": v for k, v in m.members().items()})

    def renamed(placeholder: str, raw: bytes, utf8: bool) -> Make:
        return lambda: replace_name_bytes(
            zip_bytes({**m.members(), placeholder: b"\xff\xd8\xff"}),
            placeholder.encode(),
            raw,
            utf8_flag=utf8,
        )

    def cut(share: float | None = None, tail: int = 0) -> Make:
        def make() -> bytes:
            data = m.zip()
            return data[: int(len(data) * share)] if share else data[:-tail]

        return make

    def bomb() -> bytes:
        members = m.members()
        return zip_bytes({**members, DIFF: members[DIFF] + b" " * (24 << 20)})

    def lying() -> bytes:
        members = m.members()
        data = zip_bytes({**members, DIFF: members[DIFF] + b" " * (2 << 20)})
        return patch_member(data, DIFF, declared_size=100)

    def two_maps() -> bytes:
        members = m.members()
        return zip_bytes(
            {**{f"a/{k}": v for k, v in members.items()}, **{f"b/{k}": v for k, v in members.items()}}
        )

    def info_folder() -> bytes:
        rest = [(k, v) for k, v in m.members().items() if k != INFO]
        return zip_bytes([(info("Info.dat/"), b""), (info("Info.dat/readme.txt"), b"hi"), *rest])

    return [
        one("not_a_zip", "an HTML error page saved as .zip", lambda: b"<html><body>502 Bad Gateway</body></html>\n" * 4, REJECT),
        one("zero_byte_zip", "an empty file named .zip", lambda: b"", REJECT),
        one("truncated_half", "the download stopped halfway: no central directory", cut(share=0.5), REJECT),
        one("truncated_tail", "the last 10 bytes (end of the central directory) are cut", cut(tail=10), REJECT),
        one("zip_slip_member", "a member named ../../escaped/evil.dat", plus({"../../escaped/evil.dat": b"x"}), REJECT),
        one("absolute_member", "a member at an absolute path /tmp/automapper-hostile-<token>/evil.dat", plus({f"{evil_dir}/evil.dat": b"x"}), REJECT, forbidden=(evil_dir,)),
        one("backslash_member", r"a member named ..\..\escaped\evil.dat (Windows separators)", plus({"..\\..\\escaped\\evil.dat": b"x"}), REJECT),
        one("drive_member", "a member named C:/evil.dat", plus({"C:/evil.dat": b"x"}), REJECT),
        one(
            "symlink_member", "cover.jpg is a symlink member pointing at /etc/passwd",
            lambda: zip_bytes([*m.members().items(), (info("cover.jpg", mode=stat.S_IFLNK | 0o777), b"/etc/passwd")]), REJECT,
        ),
        one("encrypted_member", "the difficulty's 'encrypted' flag bit is set", lambda: patch_member(m.zip(), DIFF, flags=0x1), REJECT),
        one(
            "duplicate_member", "ExpertStandard.dat twice, the second a different chart",
            lambda: zip_bytes([*m.members().items(), (DIFF, dumps({"version": "3.3.0", "colorNotes": []}))]), REJECT,
        ),
        one("case_collision_members", "Info.dat and INFO.DAT with different maps", plus({"INFO.DAT": b'{"_version":"2.1.0","_songName":"Other"}'}), REJECT),
        one("non_utf8_member_name", "a member flagged UTF-8 whose name is not UTF-8 (0xC3 0x28)", renamed("cover\u00e9.jpg", b"cover\xc3(.jpg", True), ANY),
        one("cp437_member_name", "a member named with a raw 0x82 byte and no UTF-8 flag (cp437)", renamed("coverX.jpg", b"cover\x82.jpg", False), ANY),
        one("nested_zip_only", "the map is a zip inside the zip", lambda: zip_bytes({"map.zip": m.zip()}), REJECT),
        one(
            "nested_zip_beside", "a good map carrying a zip-slip zip inside it",
            lambda: zip_bytes({**m.members(), "extra.zip": zip_bytes({"../../escaped/inner.dat": b"x", **m.members()})}), ANY,
        ),
        one("zip_bomb_ratio", "the difficulty inflates ~1000x to 24 MiB (its JSON, then whitespace)", bomb, REJECT),
        one("lying_size_header", "the difficulty declares 100 bytes and inflates to 2 MiB", lying, REJECT),
        one("many_members", "1,500 tiny members", plus({f"pad/{i}.txt": b"" for i in range(1500)}), REJECT),
        one("deflate64_member", "the difficulty claims compression method 9 (deflate64)", lambda: patch_member(m.zip(), DIFF, method=9), REJECT),
        one("map_in_folder", "the map sits one folder down (hand-made zips do this)", moved("Song Folder/"), GOOD, seconds={b"map_in_folder.zip": BASE_SECONDS}),
        one("map_too_deep", "the map sits two folders down", moved("a/b/"), REJECT),
        one("two_maps", "two map folders in one zip", two_maps, REJECT),
        one("info_is_folder", "Info.dat is a folder entry, the real file is absent", info_folder, REJECT),
    ]  # fmt: skip


# --------------------------------------------------------------------- JSON text ---------------------


def json_cases(m: Material) -> list[Case]:
    def info_text() -> str:
        return json.dumps(m.docs["3"][INFO])

    def raw_info(encode: Callable[[str], bytes]) -> Make:
        return lambda: m.zip(raw={INFO: encode(info_text())})

    def raw(name: str, data: bytes) -> Make:
        return lambda: m.zip(raw={name: data})

    def changed(change: Callable[[dict], None]) -> Make:
        return lambda: m.zip(change=change)

    def deep_note() -> bytes:
        head = b'{"version":"3.3.0","colorNotes":[{"b":4,"customData":'
        deep = head + b'{"a":' * 200_000 + b"1" + b"}" * 200_000 + b"}]}"
        return zip_bytes({**m.members(), DIFF: deep}, stored=(DIFF,))  # stored: past the ratio check

    def note_900() -> bytes:
        text = json.dumps(m.docs["3"][DIFF], separators=(",", ":"))
        nested = "[" * 900 + "]" * 900
        return m.zip(
            raw={
                DIFF: text.replace(
                    '"colorNotes":[{', f'"colorNotes":[{{"customData":{{"x":{nested}}},', 1
                ).encode()
            }
        )

    def huge_name() -> bytes:
        letters = (
            np.random.default_rng(5).integers(ord("a"), ord("z") + 1, 16 << 20, dtype=np.uint8).tobytes()
        )
        return m.zip(change=setter(info_doc, "_songName", letters.decode()))

    def invalid_utf8(text: str) -> bytes:
        return text.replace("Base Song", "Base \udcffSong").encode("utf-8", "surrogateescape")

    beatmaps_string = lambda d: d[INFO]["_difficultyBeatmapSets"][0].update(_difficultyBeatmaps="Expert")  # noqa: E731
    label = lambda d: entry(d).update(_customData={"_difficultyLabel": "\ud800"})  # noqa: E731
    return [
        one("info_utf8_bom", "Info.dat starts with a UTF-8 byte-order mark", raw_info(lambda t: b"\xef\xbb\xbf" + t.encode()), GOOD, seconds={b"info_utf8_bom.zip": BASE_SECONDS}),
        one("info_utf16_bom", "Info.dat is UTF-16 LE with a BOM", raw_info(lambda t: t.encode("utf-16")), ANY),
        one("info_utf16_no_bom", "Info.dat is UTF-16 LE without a BOM", raw_info(lambda t: t.encode("utf-16-le")), REJECT),
        one("difficulty_utf32", "the difficulty is UTF-32 (its BOM starts like UTF-16's)", lambda: m.zip(raw={DIFF: json.dumps(m.docs["3"][DIFF]).encode("utf-32")}), REJECT),
        one("info_invalid_utf8", "a raw 0xFF byte inside _songName", raw_info(invalid_utf8), REJECT),
        one("info_top_array", "Info.dat is a JSON array", raw(INFO, b"[]"), REJECT),
        one("info_top_number", "Info.dat is the JSON number 42", raw(INFO, b"42"), REJECT),
        one("info_empty_object", "Info.dat is {}", raw(INFO, b"{}"), REJECT),
        one("difficulty_top_string", "the difficulty is a JSON string", raw(DIFF, b'"colorNotes"'), REJECT),
        one("sets_is_object", "_difficultyBeatmapSets is an object, not an array", changed(setter(info_doc, "_difficultyBeatmapSets", {})), REJECT),
        one("beatmaps_is_string", "_difficultyBeatmaps is a string", changed(beatmaps_string), REJECT),
        one("notes_are_numbers", "colorNotes holds numbers where note objects belong", changed(setter(diff_doc, "colorNotes", [1, 2, 3])), REJECT),
        one("notes_is_object", "colorNotes is an object, not an array", changed(setter(diff_doc, "colorNotes", {"b": 1})), REJECT),
        one("custom_data_wrong_types", "every customData is an array or a string", changed(_junk_custom_data), ANY),
        one("json_trailing_garbage", "a second JSON value after the Info.dat object", raw_info(lambda t: t.encode() + b' {"x": 1}'), REJECT),
        one("depth_bomb_info", "Info.dat is 200,000 nested arrays", raw(INFO, b"[" * 200_000 + b"]" * 200_000), REJECT),
        one("depth_bomb_difficulty", "a note's customData nests 200,000 objects", deep_note, REJECT),
        one("depth_900_custom_data", "a note's customData nests 900 lists: it parses, then meets recursive code", note_900, ANY),
        one("huge_song_name", "_songName is 16 MiB of random letters (incompressible, under every cap)", huge_name, ANY),
        one("lone_surrogate_song_name", r'_songName is "\ud800": a lone surrogate no UTF-8 writer can encode', changed(setter(info_doc, "_songName", "\ud800")), ANY),
        one("lone_surrogate_label", r'the difficulty label (_customData._difficultyLabel) is "\ud800"', changed(label), ANY),
    ]  # fmt: skip


def _junk_custom_data(docs: dict) -> None:
    entry(docs)["_customData"] = []
    docs[INFO]["_customData"] = "x"
    docs[DIFF]["customData"] = [1]
    for note in docs[DIFF]["colorNotes"]:
        note["customData"] = "junk"


# --------------------------------------------------------------------- numbers -----------------------


def number_cases(m: Material) -> list[Case]:
    def changed(change: Callable[[dict], None], version: str = "3") -> Make:
        return lambda: m.zip(version, change=change)

    def huge_bpm() -> bytes:
        text = json.dumps(m.docs["3"][INFO]).replace(
            '"_beatsPerMinute": 180.0', f'"_beatsPerMinute": {HUGE_INT}'
        )
        assert str(HUGE_INT) in text
        return m.zip(raw={INFO: text.encode()})

    def empty_notes() -> bytes:
        notes = b'{"version":"3.3.0","colorNotes":[' + b"{}," * 12_000_000 + b"{}]}"
        return zip_bytes({**m.members(), DIFF: notes}, stored=(DIFF,))

    def absurd_regions() -> bytes:
        region = {"_startSampleIndex": 0, "_endSampleIndex": 1, "_startBeat": 0, "_endBeat": 100000}
        bpm_info = {
            "_version": "2.0.0",
            "_songSampleCount": len(m.samples),
            "_songFrequency": SAMPLE_RATE,
            "_regions": [region],
        }
        return m.zip(raw={"BPMInfo.dat": dumps(bpm_info)})

    bpm_data = lambda d: d[AUDIO4].update(bpmData=[{"si": 0, "ei": 1, "sb": 0, "eb": 100000}])  # noqa: E731
    return [
        one("bpm_nan", "_beatsPerMinute is NaN", changed(setter(info_doc, "_beatsPerMinute", float("nan"))), REJECT),
        one("bpm_infinity", "_beatsPerMinute is Infinity", changed(setter(info_doc, "_beatsPerMinute", float("inf"))), REJECT),
        one("bpm_401_digits", "_beatsPerMinute is a 401-digit integer literal", huge_bpm, REJECT),
        one("note_time_401_digits", "a note's beat is a 401-digit integer literal", changed(setter(note0, "b", HUGE_INT)), REJECT),
        one("note_time_infinity", "a note's beat is Infinity", changed(setter(note0, "b", float("inf"))), REJECT),
        one("njs_negative_infinity", "_noteJumpMovementSpeed is -Infinity", changed(setter(entry, "_noteJumpMovementSpeed", float("-inf"))), REJECT),
        one("bpm_zero", "_beatsPerMinute is 0: every beat lies at infinity", changed(setter(info_doc, "_beatsPerMinute", 0)), ANY),
        one("bpm_negative", "_beatsPerMinute is -180", changed(setter(info_doc, "_beatsPerMinute", -180)), ANY),
        one("bpm_subnormal", "_beatsPerMinute is 1e-300", changed(setter(info_doc, "_beatsPerMinute", 1e-300)), ANY),
        one("bpm_string", '_beatsPerMinute is the string "180"', changed(setter(info_doc, "_beatsPerMinute", "180")), ANY),
        one("bpm_event_zero", "a v3 bpmEvents entry drops to 0 BPM at beat 8", changed(setter(diff_doc, "bpmEvents", [{"b": 0, "m": 180}, {"b": 8, "m": 0}])), ANY),
        one("bpminfo_region_absurd", "BPMInfo.dat maps samples 0..1 onto beats 0..100000", absurd_regions, ANY),
        one("v4_bpmdata_absurd", "v4 AudioData bpmData maps samples 0..1 onto beats 0..100000", changed(bpm_data, "4"), ANY),
        one("v4_song_frequency_zero", "v4 AudioData songFrequency is 0", changed(lambda d: d[AUDIO4].update(songFrequency=0), "4"), ANY),
        one("wall_duration_huge", "a wall lasts 99,999 beats (just inside the reader's bound)", changed(lambda d: d[DIFF]["obstacles"][0].update(d=99999)), ANY),
        one("empty_notes_12m", "12,000,001 empty note objects {} (36 MB, stored so the ratio check passes)", empty_notes, ANY),
    ]  # fmt: skip


# --------------------------------------------------------------------- names and paths ---------------


def path_cases(m: Material) -> list[Case]:
    absolute = f"/tmp/automapper-hostile-{m.token}/abs_"
    forbidden = (absolute.rsplit("/", 1)[0],)

    def named(name: str, why: str, key: str, value: str, **kwargs: Any) -> Case:
        where = (
            (lambda d: d[INFO]["_difficultyBeatmapSets"][0]) if key == "_beatmapCharacteristicName" else entry
        )
        return one(
            name, why, lambda: m.zip(change=setter(where, key, value)), ANY, convert_zip=True, **kwargs
        )

    def v4_named(name: str, why: str, key: str, value: str) -> Case:
        change = lambda d: d[INFO]["difficultyBeatmaps"][0].update({key: value})  # noqa: E731
        return one(name, why, lambda: m.zip("4", change=change), ANY, convert_zip=True, forbidden=forbidden)

    def changed(where: Callable[[dict], dict], key: str, value: Any) -> Make:
        return lambda: m.zip(change=setter(where, key, value))

    def subfolder() -> bytes:
        members = m.members(change=setter(entry, "_beatmapFilename", f"charts/{DIFF}"), raw={DIFF: None})
        return zip_bytes({**members, f"charts/{DIFF}": dumps(m.docs["3"][DIFF])})

    return [
        named("difficulty_name_dotdot", f"_difficulty is {REL!r}: convert names files after it", "_difficulty", REL),
        named("characteristic_dotdot", f"_beatmapCharacteristicName is {REL!r}", "_beatmapCharacteristicName", REL),
        named("difficulty_name_absolute", "_difficulty is an absolute path under /tmp", "_difficulty", absolute, forbidden=forbidden),
        named("characteristic_absolute", "_beatmapCharacteristicName is an absolute path under /tmp", "_beatmapCharacteristicName", absolute, forbidden=forbidden),
        named("difficulty_name_backslash", r"_difficulty is ..\..\escaped\rel_ (Windows separators)", "_difficulty", REL.replace("/", "\\")),
        v4_named("v4_difficulty_dotdot", f"v4 difficultyBeatmaps[0].difficulty is {REL!r}", "difficulty", REL),
        v4_named("v4_characteristic_absolute", "v4 difficultyBeatmaps[0].characteristic is an absolute path", "characteristic", absolute),
        one("beatmap_filename_dotdot", "_beatmapFilename is ../../etc/passwd", changed(entry, "_beatmapFilename", "../../etc/passwd"), REJECT),
        one("beatmap_filename_absolute", "_beatmapFilename is /etc/passwd", changed(entry, "_beatmapFilename", "/etc/passwd"), REJECT),
        one("beatmap_filename_nul", "_beatmapFilename holds a NUL byte", changed(entry, "_beatmapFilename", "Expert\x00Standard.dat"), REJECT),
        one("beatmap_filename_subfolder", "_beatmapFilename is charts/ExpertStandard.dat (and the file is there)", subfolder, ANY, convert_zip=True),
        one("difficulty_is_info", "_beatmapFilename is Info.dat itself", changed(entry, "_beatmapFilename", INFO), ANY_OUT),
        one("song_filename_dotdot", "_songFilename is ../../etc/passwd", changed(info_doc, "_songFilename", "../../etc/passwd"), ANY_OUT),
        one("song_filename_absolute", "_songFilename is /etc/passwd", changed(info_doc, "_songFilename", "/etc/passwd"), ANY_OUT),
        one("song_missing", "_songFilename names a file the zip lacks", changed(info_doc, "_songFilename", "gone.egg"), Expect("ok", "any", None, "out")),
        one("cover_dotdot", "_coverImageFilename is ../../etc/passwd", changed(info_doc, "_coverImageFilename", "../../etc/passwd"), ANY),
    ]  # fmt: skip


# --------------------------------------------------------------------- shapes of a map ---------------


def shape_cases(m: Material) -> list[Case]:
    def only(characteristic: str, rotations: bool = False) -> Callable[[dict], None]:
        def change(docs: dict) -> None:
            docs[INFO]["_difficultyBeatmapSets"][0]["_beatmapCharacteristicName"] = characteristic
            if rotations:
                docs[DIFF]["rotationEvents"] = [
                    {"b": 4 * i, "e": 0, "r": 15 * (-1) ** i} for i in range(1, 12)
                ]

        return change

    def lightshow(docs: dict) -> None:
        only("Lightshow")(docs)
        for key in ("colorNotes", "bombNotes", "obstacles", "sliders", "burstSliders"):
            docs[DIFF][key] = []

    def lawless(docs: dict) -> None:
        lawless_entry = {**entry(docs), "_beatmapFilename": "ExpertLawless.dat"}
        docs[INFO]["_difficultyBeatmapSets"].append(
            {"_beatmapCharacteristicName": "Lawless", "_difficultyBeatmaps": [lawless_entry]}
        )
        docs["ExpertLawless.dat"] = json.loads(json.dumps(docs[DIFF]))

    def duplicated(docs: dict) -> None:
        docs[INFO]["_difficultyBeatmapSets"][0]["_difficultyBeatmaps"] = [
            dict(entry(docs)) for _ in range(50)
        ]

    def changed(change: Callable[[dict], None]) -> Make:
        return lambda: m.zip(change=change)

    def raw(name: str, data: bytes, version: str = "3") -> Make:
        return lambda: m.zip(version, raw={name: data})

    empty_v4 = dumps({"version": "4.0.0", "colorNotes": [], "colorNotesData": []})
    return [
        one("lightshow_only", "only a Lightshow characteristic: events, no notes", changed(lightshow), PLAYS),
        one("only_360", "only 360Degree, with rotation events", changed(only("360Degree", rotations=True)), PLAYS),
        one("only_90", "only 90Degree, with rotation events", changed(only("90Degree", rotations=True)), PLAYS),
        one("one_saber", "only OneSaber", changed(only("OneSaber")), PLAYS),
        one("lawless_beside_standard", "Standard Expert plus a Lawless Expert", changed(lawless), GOOD, seconds={b"lawless_beside_standard.zip": BASE_SECONDS}),
        one("unknown_characteristic", "a characteristic named Unicorn", changed(only("Unicorn")), ANY_OUT),
        one("unknown_difficulty_name", "_difficulty is Impossible", changed(setter(entry, "_difficulty", "Impossible")), ANY_OUT),
        one("duplicate_difficulty_entries", "Standard Expert listed 50 times, one file", changed(duplicated), ANY),
        one("no_difficulties", "_difficultyBeatmapSets is empty", changed(setter(info_doc, "_difficultyBeatmapSets", [])), REJECT),
        one("empty_difficulty_v3", 'the v3 difficulty is {"version": "3.3.0"} alone', raw(DIFF, b'{"version":"3.3.0"}'), ANY_OUT),
        one("empty_difficulty_v2", "the v2 difficulty has no notes, walls or events", raw(DIFF, b'{"_version":"2.6.0","_notes":[]}', "2"), ANY_OUT),
        one("empty_difficulty_v4", "the v4 beatmap holds nothing", raw(DIFF4, empty_v4, "4"), ANY_OUT),
        one("zero_byte_info", "Info.dat is 0 bytes", raw(INFO, b""), REJECT),
        one("zero_byte_difficulty", "the difficulty is 0 bytes", raw(DIFF, b""), REJECT),
    ]  # fmt: skip


# --------------------------------------------------------------------- audio -------------------------


def audio_cases(m: Material) -> list[Case]:
    def garbage() -> bytes:
        return b"OggS" + np.random.default_rng(7).integers(0, 256, 64 << 10, dtype=np.uint8).tobytes()

    def flac_60() -> bytes:
        return flac_bytes(looped(m.samples, 60.0, SAMPLE_RATE), SAMPLE_RATE)

    def flac_96k() -> bytes:
        hi = looped(m.samples, 64.0, 96000)
        return flac_bytes(np.stack([hi, hi[::-1]], axis=1), 96000)

    def wav_nan() -> bytes:
        samples = looped(m.samples, 60.0, 8000).copy()
        samples[::1000] = np.nan
        return wav_bytes(samples, 8000, "FLOAT")

    def wav_2g() -> bytes:
        return with_wav_rate(wav_bytes(looped(m.samples, 60.0, 8000), 8000), 2_147_483_647)

    def ogg_1s() -> bytes:
        return encode_ogg(m.samples[:SAMPLE_RATE])

    def tagged() -> bytes:
        data = flac_bytes(looped(m.samples, 60.0, SAMPLE_RATE), SAMPLE_RATE, title="TITLEMARKX")
        return data.replace(b"TITLEMARKX", b"\xff\xfe\xc3(\x80ARK\xed\xa0", 1)  # same length: 10 bytes

    def as_song(name: str, make: Make) -> Make:
        return lambda: m.zip(change=setter(info_doc, "_songFilename", name), raw={SONG: None, name: make()})

    def audio_case(
        name: str, why: str, file: str, make: Make, expect: Expect, song: bytes, **kw: Any
    ) -> Case:
        make = functools.cache(
            make
        )  # the zip and the song file share the bytes (the 29-minute FLAC takes ~4 s)
        return one(name, why, as_song(file, make), expect, song=(song, make), **kw)

    silent = lambda: flac_zeros(20 * 60, 8000, 1)  # noqa: E731
    long_31 = lambda: flac_zeros(31 * 60, 8000, 1)  # noqa: E731
    big = lambda: flac_zeros(29 * 60, 96000, 4, burst_every=0.5)  # noqa: E731  (bursts: not silent)
    return [
        one("bad_audio_garbage", "song.egg is 'OggS' then 64 KiB of noise", lambda: m.zip(audio=garbage()), Expect("any", "any", "err", "out"), song=(b"garbage.egg", garbage)),
        one("zero_byte_song", "song.egg is 0 bytes", lambda: m.zip(audio=b""), Expect("any", "any", "err", "out"), song=(b"empty.egg", lambda: b"")),
        one("audio_is_json", "_songFilename points at Info.dat", lambda: m.zip(change=setter(info_doc, "_songFilename", INFO)), ANY_OUT),
        audio_case("song_flac_60s", "a real 60 s FLAC, named song.flac in Info.dat", "song.flac", flac_60, Expect("ok", "ok", "ok", "in"), b"song60.flac", seconds={b"song_flac_60s.zip": 60.0}),
        audio_case("flac_96k_stereo", "a 64 s 96 kHz stereo FLAC", "song.flac", flac_96k, Expect("ok", "ok", "ok", "in"), b"song96k.flac", seconds={b"flac_96k_stereo.zip": 64.0}),
        audio_case("wav_float_nan", "a 60 s float WAV holding NaN samples", "song.wav", wav_nan, ANY_WITH_SONG, b"nan.wav"),
        audio_case("wav_rate_2g", "a 60 s WAV whose header claims 2,147,483,647 Hz", "song.wav", wav_2g, Expect("any", "any", "err", "out"), b"fast.wav"),
        audio_case("silent_20min", "20 minutes of digital silence (8 kHz mono FLAC): nothing to map, big to decode", "song.flac", silent, Expect("any", "any", "err", "any"), b"silent.flac"),
        audio_case(
            "long_31min", "31 minutes of 8 kHz mono FLAC: past the 30-minute bound, must not be decoded", "song.flac", long_31,
            Expect("any", "any", "err", "out"), b"long.flac", no_audio_record=True,
        ),
        audio_case("flac_29min_4ch_96k", "29 minutes of 4-channel 96 kHz FLAC (bursts, not silence): ~2.7 GB of float samples if decoded whole", "song.flac", big, ANY_WITH_SONG, b"big.flac"),
        one("one_second_song", "a map of a 1-second song", lambda: m.zip(audio=ogg_1s()), Expect("ok", "ok", "err", "out"), song=(b"one_second.ogg", ogg_1s)),
        audio_case("song_tag_invalid_utf8", "the FLAC's TITLE tag is not UTF-8", "song.flac", tagged, ANY_WITH_SONG, b"tagged.flac"),
        one("zip_as_song", "generate is handed a map zip instead of a song", lambda: m.zip(), Expect(None, None, "err", "any"), song=(b"map.zip", lambda: m.zip())),
    ]  # fmt: skip


ANY_WITH_SONG = Expect("any", "any", "any", "any")


# --------------------------------------------------------------------- the raw folder ----------------


def raw_cases(m: Material) -> list[Case]:
    return [
        Case(
            "raw_name_e9", "the zip's file name holds a raw 0xE9 byte (Latin-1, not UTF-8)", Expect("ok", "ok", "any", "any"),
            lambda: {b"caf\xe9.zip": m.zip()}, names=(b"caf\xe9.zip",), song=(b"caf\xe9.egg", lambda: m.ogg),
            seconds={b"caf\xe9.zip": BASE_SECONDS},
        ),
        Case(
            "raw_case_collision", "x.zip and x.ZIP hold different songs (27 s and 30 s)", Expect("ok", "ok", None, "any"),
            lambda: {b"x.zip": song_map(27, 27.0, "Lower Case"), b"x.ZIP": song_map(30, 30.0, "Upper Case")},
            names=(b"x.zip", b"x.ZIP"), target=b"x.ZIP", seconds={b"x.zip": 27.0, b"x.ZIP": 30.0},
        ),
        Case("raw_symlink_dev_zero", "devzero.zip is a symlink to /dev/zero", Expect("err", "err", None, "out"), lambda: {b"devzero.zip": Symlink("/dev/zero")}, names=(b"devzero.zip",)),
        Case("raw_symlink_loop", "loop.zip is a symlink to itself", Expect("err", "err", None, "out"), lambda: {b"loop.zip": Symlink("loop.zip")}, names=(b"loop.zip",)),
        Case("raw_fifo", "fifo.zip is a named pipe: opening it blocks forever", Expect("err", "err", None, "out"), lambda: {b"fifo.zip": Fifo()}, names=(b"fifo.zip",)),
        Case("raw_folder_named_zip", "folder.zip is a folder holding a good map", ANY_OUT, lambda: {b"folder.zip": Folder(m.members())}, names=(b"folder.zip",)),
    ]  # fmt: skip


# --------------------------------------------------------------------- BeatSaver sidecars ------------


def sidecar_cases(m: Material) -> list[Case]:
    record = {"id": "h0", "ranked": False, "stats": {"score": 0.9, "upvotes": 5, "downvotes": 1},
              "declaredAi": "None", "automapper": False, "uploaded": "2024-01-01T00:00:00Z", "tags": ["pop"]}  # fmt: skip

    def sidecar(name: str, why: str, side: Callable[[], bytes | Fifo | Symlink]) -> Case:
        zip_name, json_name = f"{name}.zip".encode(), f"{name}.json".encode()
        return Case(
            name, why, Expect("ok", "ok", None, "any"), lambda: {zip_name: m.zip(), json_name: side()},
            names=(zip_name, json_name), seconds={zip_name: BASE_SECONDS},
        )  # fmt: skip

    def text(**changes: Any) -> Callable[[], bytes]:
        return lambda: json.dumps({**record, **changes}).encode()

    return [
        sidecar("sidecar_surrogate_id", r'the sidecar id is "\ud800" (it becomes the map id)', text(id="\ud800")),
        sidecar("sidecar_surrogate_fields", r'declaredAi, uploaded and a tag are "\ud800"', text(declaredAi="\ud800", uploaded="\ud800", tags=["\ud800"])),
        sidecar("sidecar_score_401_digits", "stats.score is a 401-digit integer", text(stats={"score": HUGE_INT, "upvotes": 1, "downvotes": 0})),
        sidecar("sidecar_depth_bomb", "the sidecar is 200,000 nested arrays", lambda: b"[" * 200_000 + b"]" * 200_000),
        sidecar("sidecar_not_object", "the sidecar is a JSON array", lambda: b"[1, 2, 3]"),
        sidecar("sidecar_huge", "a 5 MiB sidecar (over the 4 MiB record cap)", text(tags=["x" * (5 << 20)])),
        sidecar("sidecar_fifo", "the sidecar is a named pipe: reading it blocks forever", Fifo),
        sidecar("sidecar_dev_zero", "the sidecar is a symlink to /dev/zero", lambda: Symlink("/dev/zero")),
    ]  # fmt: skip


CASE_BUILDERS = (
    good_maps,
    archive_cases,
    json_cases,
    number_cases,
    path_cases,
    shape_cases,
    audio_cases,
    raw_cases,
    sidecar_cases,
    digest_cases,
)
