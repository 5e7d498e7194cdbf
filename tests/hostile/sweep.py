"""Negative and absurd values in every numeric field of Info.dat and of each difficulty format.

A sweep takes one file of a good map (Info.dat v2.1 or v4, BPMInfo.dat, a v2/v3 difficulty, a v4
beatmap, lightshow or AudioData), enriched so that every object array it can hold has an element,
and finds its numeric fields by walking the JSON: each distinct field path (array indices folded,
`colorNotes[].b`) is a field. Every field gets every value of SWEEP_VALUES, one variant zip each,
and each variant runs through `inspect` and `convert`. For ingest + features, one zip per sweep and
value holds that value in every field of the file at once (`digest_cases`): a few hundred zips
more in the graph would cost minutes.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automapper_ml.synth.audio import SAMPLE_RATE
from tests.hostile.corpus import AUDIO4, DIFF, DIFF4, INFO, LIGHTS4, SONG, Case, Expect, Material, dumps
from tests.hostile.zips import zip_bytes

# negative; absurd but inside every bound the readers check (a beat or a duration of 99,999); absurd
SWEEP_VALUES: tuple[float, ...] = (-1, 99999, 1e308)
BPM_INFO = "BPMInfo.dat"


@dataclass(frozen=True)
class Variant:
    sweep: str
    field: str  # folded path, e.g. colorNotes[].b
    value: float
    zip_path: Path

    @property
    def label(self) -> str:
        return f"{self.sweep} {self.field}={self.value:g}"


@dataclass(frozen=True)
class Sweep:
    name: str
    why: str
    version: str  # "2", "3" or "4": the base map the file belongs to
    file: str  # the file whose fields are swept


SWEEPS = (
    Sweep("sweep_info_v2", "every numeric field of a v2.1 Info.dat", "3", INFO),
    Sweep("sweep_bpminfo", "every numeric field of BPMInfo.dat", "3", BPM_INFO),
    Sweep("sweep_v2_difficulty", "every numeric field of a v2 difficulty", "2", DIFF),
    Sweep("sweep_v3_difficulty", "every numeric field of a v3 difficulty", "3", DIFF),
    Sweep("sweep_info_v4", "every numeric field of a v4 Info.dat", "4", INFO),
    Sweep("sweep_v4_beatmap", "every numeric field of a v4 beatmap file", "4", DIFF4),
    Sweep("sweep_v4_lightshow", "every numeric field of a v4 lightshow file", "4", LIGHTS4),
    Sweep("sweep_v4_audiodata", "every numeric field of a v4 AudioData.dat", "4", AUDIO4),
)


def enriched(material: Material, version: str) -> dict[str, Any]:
    """The base docs of `version` with one element in every object array the sweeps reach."""
    docs = copy.deepcopy(material.docs[version])
    if version == "2":
        d = docs[DIFF]
        d["_notes"].append({"_time": 10, "_lineIndex": 0, "_lineLayer": 0, "_type": 3, "_cutDirection": 0})
        d["_events"] += [
            {"_time": 0, "_type": 100, "_value": 0, "_floatValue": 180},
            {"_time": 1, "_type": 14, "_value": 3, "_floatValue": 1},
        ]
        d["_waypoints"] = [{"_time": 2, "_lineIndex": 1, "_lineLayer": 0, "_offsetDirection": 1}]
        d["_BPMChanges"] = [{"_time": 0, "_BPM": 180, "_beatsPerBar": 4, "_metronomeOffset": 4}]
    elif version == "3":
        d = docs[DIFF]
        d["bombNotes"] = [{"b": 10, "x": 0, "y": 0}]
        d["bpmEvents"] = [{"b": 0, "m": 180}]
        d["rotationEvents"] = [{"b": 1, "e": 0, "r": 15}]
        d["waypoints"] = [{"b": 2, "x": 1, "y": 0, "d": 1}]
        samples = len(material.samples)
        docs[BPM_INFO] = {
            "_version": "2.0.0",
            "_songSampleCount": samples,
            "_songFrequency": SAMPLE_RATE,
            "_regions": [
                {"_startSampleIndex": 0, "_endSampleIndex": samples - 1, "_startBeat": 0, "_endBeat": 60}
            ],
        }
    else:
        b = docs[DIFF4]
        b["bombNotes"], b["bombNotesData"] = [{"b": 10, "r": 0, "i": 0}], [{"x": 0, "y": 0}]
        b["spawnRotations"], b["spawnRotationsData"] = [{"b": 1, "i": 0}], [{"t": 0, "r": 15}]
        ls = docs[LIGHTS4]
        ls["waypoints"], ls["waypointsData"] = [{"b": 2, "i": 0}], [{"x": 1, "y": 0, "d": 1}]
        docs[AUDIO4]["lufsData"] = [{"si": 0, "ei": 100, "l": 0}]
    return docs


def numeric_fields(doc: Any, path: tuple = ()) -> dict[str, tuple]:
    """Folded field path -> the concrete path of its first occurrence, for every number in `doc`."""
    found: dict[str, tuple] = {}
    if isinstance(doc, bool):
        return found
    if isinstance(doc, int | float):
        return {_fold(path): path}
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        for folded, concrete in numeric_fields(value, (*path, key)).items():
            found.setdefault(folded, concrete)
    return found


def _fold(path: tuple) -> str:
    out = ""
    for key in path:
        out += "[]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _set(doc: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _members(docs: dict[str, Any], song: bytes) -> dict[str, bytes]:
    return {**{name: dumps(doc) for name, doc in docs.items()}, SONG: song}


def write_variants(material: Material, root: Path, song: bytes) -> list[Variant]:
    """Every sweep's variant zips under root/<sweep>/; `song` is the (small) audio they carry."""
    variants = []
    for sweep in SWEEPS:
        base = enriched(material, sweep.version)
        folder = root / sweep.name
        folder.mkdir(parents=True)
        for i, (folded, concrete) in enumerate(sorted(numeric_fields(base[sweep.file]).items())):
            for j, value in enumerate(SWEEP_VALUES):
                docs = copy.deepcopy(base)
                _set(docs[sweep.file], concrete, value)
                path = folder / f"{i:03d}_{j}.zip"
                path.write_bytes(zip_bytes(_members(docs, song)))
                variants.append(Variant(sweep.name, folded, value, path))
    return variants


def digest_cases(material: Material) -> list[Case]:
    """Graph-only cases: one zip per sweep and value, the value in every numeric field of the file."""

    def make(sweep: Sweep, value: float) -> bytes:
        docs = enriched(material, sweep.version)
        for concrete in numeric_fields(docs[sweep.file]).values():
            _set(docs[sweep.file], concrete, value)
        return zip_bytes(_members(docs, material.ogg))

    return [
        Case(
            f"{sweep.name}_all_{_value_tag(value)}",
            f"{value:g} in {sweep.why.removeprefix('every ')} at once",
            Expect(None, None, None, "any"),
            lambda name=f"{sweep.name}_all_{_value_tag(value)}", sweep=sweep, value=value: {
                f"{name}.zip".encode(): make(sweep, value)
            },
        )
        for sweep in SWEEPS
        for value in SWEEP_VALUES
    ]


def _value_tag(value: float) -> str:
    return {-1: "neg1", 99999: "99999", 1e308: "1e308"}.get(value, json.dumps(value))
