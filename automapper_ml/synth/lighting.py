"""A beat-synchronous light show for a composed `Song`, optionally with Chroma colours.

Basic (v2-style) events, as most BeatSaver maps light: the centre lights flash on kicks, the
back lasers on snares, ring lights and a ring spin on crashes, laser speeds follow section
energy, side lasers fade through breakdowns, and loud sections switch the colour boost on.
"""

from __future__ import annotations

import numpy as np

from automapper_ml.formats.model import BoostEvent, LightEvent
from automapper_ml.synth.composition import Song

# v2 event types (lightshow.md)
BACK_LASERS, RING_LIGHTS, LEFT_LASERS, RIGHT_LASERS, CENTER_LIGHTS = 0, 1, 2, 3, 4
RING_SPIN, LEFT_SPEED, RIGHT_SPEED = 8, 12, 13
# light values: 0 off, 1/5 on, 2/6 flash, 3/7 fade (blue / red)
OFF, BLUE_ON, BLUE_FLASH, BLUE_FADE, RED_ON, RED_FLASH, RED_FADE = 0, 1, 2, 3, 5, 6, 7


def light_show(
    song: Song, rng: np.random.Generator, chroma: bool = False
) -> tuple[list[LightEvent], list[BoostEvent]]:
    """(events, boosts) sorted by beat; with `chroma`, about a third of the events carry an RGB colour."""
    palette = [tuple(round(float(c), 3) for c in rng.uniform(0.1, 1.0, 3)) for _ in range(3)]
    events: list[LightEvent] = []
    boosts: list[BoostEvent] = []
    for section in song.sections:
        speed = int(round(1 + section.energy * 7))
        events.append(LightEvent(section.start_beat, LEFT_SPEED, speed))
        events.append(LightEvent(section.start_beat, RIGHT_SPEED, speed))
        if section.name == "breakdown":
            events.append(LightEvent(section.start_beat, LEFT_LASERS, BLUE_FADE))
            events.append(LightEvent(section.start_beat, RIGHT_LASERS, RED_FADE))
        if section.name == "chorus":
            boosts.append(BoostEvent(section.start_beat, True))
            boosts.append(BoostEvent(section.end_beat, False))
    for hit in song.hits:
        red = int(hit.beat // 4) % 2 == 1  # colours swap every bar
        if hit.drum == "kick":
            events.append(
                LightEvent(hit.beat, CENTER_LIGHTS, RED_FLASH if red else BLUE_FLASH, round(hit.velocity, 2))
            )
        elif hit.drum == "snare" and hit.velocity >= 0.5:
            events.append(
                LightEvent(hit.beat, BACK_LASERS, BLUE_FLASH if red else RED_FLASH, round(hit.velocity, 2))
            )
        elif hit.drum == "crash":
            events.append(LightEvent(hit.beat, RING_LIGHTS, RED_ON if red else BLUE_ON))
            events.append(LightEvent(hit.beat, RING_SPIN, 0))
    events.append(LightEvent(song.end_beat, CENTER_LIGHTS, OFF))
    events.append(LightEvent(song.end_beat, BACK_LASERS, OFF))
    if chroma:
        for i, event in enumerate(events):
            if event.type <= CENTER_LIGHTS and event.value != OFF and rng.random() < 0.35:
                events[i] = LightEvent(event.beat, event.type, event.value, event.float_value, palette[i % 3])
    events.sort(key=lambda e: (e.beat, e.type))
    boosts.sort(key=lambda b: b.beat)
    return events, boosts


def copy_events(events: list[LightEvent]) -> list[LightEvent]:
    """Independent copies (difficulties of one map share a light show but own their objects)."""
    return [LightEvent(e.beat, e.type, e.value, e.float_value, e.color, e.light_id) for e in events]
