"""Write a map (any supported version, folder or zip) as v3 difficulty files + Info.dat v2.1,
with the audio as song.egg: a folder, or a zip when OUT ends in .zip. Whatever the v3 form
cannot carry is listed, never dropped silently."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import soundfile as sf

from automapper_ml.cli import CommandError
from automapper_ml.formats.errors import MapError
from automapper_ml.formats.reader import open_map_source, read_map
from automapper_ml.formats.writer import write_map

OGG_SUFFIXES = (".egg", ".ogg")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="map folder or .zip")
    parser.add_argument("-o", "--output", required=True, help="output folder, or a .zip file")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not args.force:
        raise CommandError(f"{out} exists (use --force to replace it)")
    source = open_map_source(args.path)
    beatmap = read_map(source)
    audio = _audio_as_ogg(source, beatmap.audio_filename)
    written = write_map(beatmap, out, audio=audio, version="3")

    lost = list(beatmap.unconverted)
    for diff in beatmap.difficulties:
        lost += [f"{diff.key}: {line}" for line in diff.unconverted]
    print(f"wrote {written} ({len(beatmap.difficulties)} difficulties as v3, Info.dat v2.1)")
    if audio is None:
        print(
            f"warning: no audio ({beatmap.audio_filename!r} is not in the map); song.egg left out",
            file=sys.stderr,
        )
    if lost:
        print(f"not carried into v3 ({len(lost)}):")
        for line in lost:
            print(f"  - {line}")
    return 0


def _audio_as_ogg(source, filename: str) -> bytes | None:
    """The map's audio as Ogg Vorbis bytes (copied when it already is Ogg, else transcoded)."""
    if not filename or not source.has(filename):
        return None
    data = source.read_bytes(filename)
    if filename.lower().endswith(OGG_SUFFIXES):
        return data
    try:
        samples, rate = sf.read(io.BytesIO(data), always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as err:
        raise MapError(f"audio {filename!r} cannot be decoded: {err}", code="bad_audio") from err
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="OGG", subtype="VORBIS")
    return buffer.getvalue()
