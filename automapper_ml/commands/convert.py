"""Write a map (any supported version, folder or zip) as v3 difficulty files + Info.dat v2.1,
with the audio as song.egg: a folder, or a zip when OUT ends in .zip. Whatever the v3 form
cannot carry is listed, never dropped silently."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from automapper_ml.cli import CommandError
from automapper_ml.formats.reader import open_map_source, read_map
from automapper_ml.formats.source import MapSource
from automapper_ml.formats.writer import write_map


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="map folder or .zip")
    parser.add_argument("-o", "--output", required=True, help="output folder, or a .zip file")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")


def run(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not args.force:
        raise CommandError(f"{out} exists (use --force to replace it)")
    with open_map_source(args.path) as source:
        beatmap = read_map(source)
        audio = _audio_as_ogg(source, beatmap.audio_filename)
    # Every name inside OUT comes from the writer's fixed vocabulary (Info.dat, `ExpertPlusStandard.dat`,
    # song.egg), never from the map's own text.
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


def _audio_as_ogg(source: MapSource, filename: str) -> bytes | None:
    """The map's audio as Ogg Vorbis bytes: copied when it already is what the game plays (Ogg
    Vorbis, 1-2 channels, at most 48 kHz), else transcoded a block at a time. Either way the header
    is checked first (audio.audio_info: rate, channels, length); a bad song is an AudioError."""
    from automapper_ml.audio import audio_info, export_rate, transcode_to_ogg

    if not filename or not source.has(filename):
        return None
    data = source.read_bytes(filename)
    info = audio_info(data)
    playable = info.format == "OGG" and info.subtype == "VORBIS" and info.channels <= 2
    if playable and export_rate(info.rate) == info.rate:
        return data
    return transcode_to_ogg(data)
