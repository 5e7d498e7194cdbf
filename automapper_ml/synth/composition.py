"""Symbolic songs for the demo corpus: tempo map, sections, drum hits, chords and bass.

A `Song` is pure data (no samples): `audio.render_song` turns it into sound and
`charting.chart_difficulty` maps it, so both see the very same hits. Times are in beats on
the song's own timeline; `Song.timing()` turns them into seconds honouring BPM changes
(the same `Timing` the map model uses, so a mapped beat lands exactly on its rendered hit).

Arrangement, as in most 4/4 pop and dance music: kick on 1 and 3, snare on 2 and 4 (varied after a
section's first bar: beat 3 sometimes a snare, beat 4 sometimes a kick), hats on
eighths with accented downbeats, a crash at the top of loud sections, a snare fill in the
last bar before a section change, a bass following the chord roots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automapper_ml.formats.model import BpmChange, Timing

BEATS_PER_BAR = 4
MIN_BPM = 80.0
MAX_BPM = 200.0
TAIL_SECONDS = 1.5  # silence and ring-out after the last bar

# Section name -> energy 0..1: drives drum density, loudness and mapping density.
SECTION_ENERGY = {"intro": 0.3, "verse": 0.6, "chorus": 1.0, "breakdown": 0.2, "outro": 0.4}
DRUMS = ("kick", "snare", "hat", "open_hat", "crash")

# Chord progressions as scale degrees (0-based) with the chord quality of each degree.
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (5, 3, 0, 4), (0, 3, 4, 3), (0, 5, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2)),
}

_TITLE_WORDS = (
    "Neon", "Crystal", "Midnight", "Falling", "Electric", "Silver", "Broken", "Golden", "Paper", "Velvet",
    "Static", "Hollow", "Burning", "Quiet", "Solar", "Lunar", "Runaway", "Fading", "Distant", "Wild",
)  # fmt: skip
_TITLE_NOUNS = (
    "Skyline", "Heart", "Signal", "Rain", "Echo", "Horizon", "Pulse", "Dream", "Circuit", "Tide",
    "Lights", "Garden", "Engine", "Mirror", "Storm", "Season", "Runner", "Anthem", "Machine", "Wave",
)  # fmt: skip
_ARTISTS = (
    "Kiyomi", "The Lanterns", "Oskar Vale", "Nightline", "Mira Sol", "Hexagon Club", "Juniper",
    "DJ Parallax", "Cold Harbour", "Ayla Koi", "Tessellate", "Northbound",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Section:
    name: str  # intro, verse, chorus, breakdown, outro
    start_beat: float  # first beat of the section
    bars: int  # length in 4/4 bars
    energy: float  # 0..1, from SECTION_ENERGY

    @property
    def end_beat(self) -> float:
        return self.start_beat + self.bars * BEATS_PER_BAR


@dataclass(frozen=True, slots=True)
class Hit:
    beat: float  # on the grid (mappers snap to it)
    drum: str  # one of DRUMS
    velocity: float  # 0..1, how hard the drum is hit (rendered level and mapping strength)
    offset_seconds: float = 0.0  # human timing: the rendered hit sits this far from the grid


@dataclass(frozen=True, slots=True)
class Tone:
    beat: float  # start
    beats: float  # length
    midi: tuple[int, ...]  # pitches sounding together (one for bass, three for a chord)
    velocity: float  # 0..1


@dataclass(frozen=True, slots=True)
class Song:
    seed: int  # the seed it was composed from
    title: str
    artist: str
    bpm: float  # initial tempo
    bpm_changes: tuple[BpmChange, ...]  # tempo changes after beat 0, at section starts
    sections: tuple[Section, ...]
    hits: tuple[Hit, ...]  # drum hits, sorted by beat
    chords: tuple[Tone, ...]
    bass: tuple[Tone, ...]
    seconds: float  # total audio length including the tail
    level: float  # peak level the mix is normalised to, 0..1 (songs differ in loudness)

    def timing(self) -> Timing:
        return Timing.from_changes(self.bpm, list(self.bpm_changes))

    @property
    def end_beat(self) -> float:
        return self.sections[-1].end_beat

    def section_at(self, beat: float) -> Section:
        for section in self.sections:
            if section.start_beat <= beat < section.end_beat:
                return section
        return self.sections[-1]

    def hit_seconds(self) -> np.ndarray:
        """(n_hits,) float64: when each drum hit sounds, seconds (grid time + human offset)."""
        timing = self.timing()
        return np.array([timing.to_seconds(h.beat) + h.offset_seconds for h in self.hits], dtype=np.float64)


def compose_song(
    seed: int,
    seconds: float,
    *,
    bpm_change: bool = False,
    title: str | None = None,
    artist: str | None = None,
) -> Song:
    """A whole song of exactly `seconds` (>= 8) from one seed: tempo, form, drums, harmony.

    `bpm_change` adds one or two tempo changes at section starts (as real maps with BPM
    changes have them: a faster chorus, a slower breakdown).
    """
    if not seconds >= 8.0:
        raise ValueError(f"a song needs at least 8 seconds, got {seconds!r}")
    rng = np.random.default_rng(seed)
    bpm = float(rng.integers(int(MIN_BPM), int(MAX_BPM) + 1))
    title = title or f"{rng.choice(_TITLE_WORDS)} {rng.choice(_TITLE_NOUNS)}"
    artist = artist or str(rng.choice(_ARTISTS))
    lead_beats = float(rng.choice([0, 2, 4]))  # some songs start with a silent count-in

    sections, changes = _plan_form(rng, bpm, seconds - TAIL_SECONDS, lead_beats, bpm_change)
    hits = _drums(rng, sections)
    timing = Timing.from_changes(bpm, changes)
    hits = [h for h in hits if timing.to_seconds(h.beat) < seconds - TAIL_SECONDS]
    chords, bass = _harmony(rng, sections)
    return Song(
        seed=seed,
        title=title,
        artist=artist,
        bpm=bpm,
        bpm_changes=tuple(changes),
        sections=tuple(sections),
        hits=tuple(hits),
        chords=tuple(chords),
        bass=tuple(bass),
        seconds=float(seconds),
        level=float(rng.uniform(0.55, 0.95)),
    )


def _plan_form(
    rng: np.random.Generator, bpm: float, music_seconds: float, lead_beats: float, bpm_change: bool
) -> tuple[list[Section], list[BpmChange]]:
    """Sections filling `music_seconds`, and the BPM changes at some of their starts."""
    order = ["intro"] + ["verse", "chorus", "breakdown", "verse", "chorus", "chorus"] * 8
    changes: list[BpmChange] = []
    sections: list[Section] = []
    beat = lead_beats
    tempo = bpm
    n_changes = int(rng.integers(1, 3)) if bpm_change else 0
    for name in order:
        if sections and n_changes and len(changes) < n_changes and name in ("chorus", "breakdown"):
            factor = rng.choice([0.75, 0.9, 1.1, 1.25]) if name == "chorus" else rng.choice([0.8, 0.9])
            new = float(np.clip(round(tempo * factor), MIN_BPM, MAX_BPM))
            if new != tempo:
                tempo = new
                changes.append(BpmChange(beat=beat, bpm=tempo))
        timing = Timing.from_changes(bpm, changes)
        left = music_seconds - timing.to_seconds(beat)
        bar_seconds = BEATS_PER_BAR * 60.0 / tempo
        bars = min(
            int(rng.choice([4, 8]) if name != "intro" else rng.choice([2, 4])), int(left // bar_seconds)
        )
        if bars <= 0:
            break
        sections.append(Section(name, beat, bars, SECTION_ENERGY[name]))
        beat += bars * BEATS_PER_BAR
    if len(sections) > 2 and sections[-1].name != "intro":  # the last bars fade out as an outro
        last = sections[-1]
        if last.bars > 2:
            sections[-1] = Section(last.name, last.start_beat, last.bars - 2, last.energy)
            sections.append(Section("outro", sections[-1].end_beat, 2, SECTION_ENERGY["outro"]))
    changes = [c for c in changes if c.beat < beat]
    if not sections:
        raise ValueError("song too short for one bar")
    return sections, changes


def _drums(rng: np.random.Generator, sections: list[Section]) -> list[Hit]:
    """Kick/snare/hat pattern per bar by section energy, with fills and velocity accents."""
    hits: list[Hit] = []
    extra_kick = float(rng.choice([2.5, 1.5, 3.5]))  # this song's syncopated kick in loud sections
    swing_ms = rng.uniform(0.0, 3.0)  # how loose the drummer is
    sixteenth_hats = rng.random() < 0.5  # some grooves run sixteenth hats through the chorus

    def add(beat: float, drum: str, velocity: float) -> None:
        v = float(np.clip(velocity * rng.uniform(0.88, 1.0), 0.05, 1.0))
        hits.append(Hit(beat, drum, round(v, 3), round(float(rng.normal(0, swing_ms / 1000)), 4)))

    for s_index, section in enumerate(sections):
        e = section.energy
        next_name = sections[s_index + 1].name if s_index + 1 < len(sections) else ""
        for bar in range(section.bars):
            b0 = section.start_beat + bar * BEATS_PER_BAR
            fill = bar == section.bars - 1 and next_name in ("chorus", "verse") and e >= 0.3
            if bar == 0 and e >= 0.6:
                add(b0, "crash", 0.9)
            # The drummer varies the groove after a section's first bar: beat 3 is sometimes a snare,
            # beat 4 sometimes a kick. Which drum a beat carries is then heard, not inferable from
            # the bar position (the charts place notes by drum: see charting.DRUM_ROWS).
            vary = bar > 0 and section.name != "breakdown"
            three = "snare" if vary and e >= 0.5 and rng.random() < 0.4 else "kick"
            four = "kick" if vary and rng.random() < 0.3 else "snare"
            # kick on 1 and 3; sparse sections keep only 1
            add(b0, "kick", 0.95)
            if e >= 0.3 and not (section.name == "breakdown" and bar % 2):
                add(b0 + 2, three, 0.85)
            if e >= 0.9 and rng.random() < 0.7:
                add(b0 + extra_kick, "kick", 0.7)
            # snare on 2 and 4 (the intro teases beat 4 only)
            if e >= 0.5:
                add(b0 + 1, "snare", 0.9)
                if not fill:
                    add(b0 + 3, four, 0.95)
            elif section.name == "intro" and bar % 2:
                add(b0 + 3, "snare", 0.6)
            if fill:  # a rising run of sixteenths into the next section
                for i, step in enumerate((3.0, 3.25, 3.5, 3.75)):
                    add(b0 + step, "snare", 0.55 + 0.12 * i)
            # hats on eighths, downbeats accented; quarters when quiet; none in a breakdown
            if section.name == "breakdown":
                continue
            step = 0.5 if e >= 0.5 else 1.0
            if e >= 0.9 and sixteenth_hats:
                step = 0.25
            for i in range(int(BEATS_PER_BAR / step)):
                beat = b0 + i * step
                if fill and beat >= b0 + 3:
                    break
                level = 0.65 if beat == int(beat) else 0.4 if (beat * 2) == int(beat * 2) else 0.28
                if e >= 0.9 and beat - b0 == 3.5:
                    add(beat, "open_hat", 0.6)
                elif e >= 0.9 and beat - b0 == 3.75:
                    continue  # the open hat rings through
                else:
                    add(beat, "hat", level * (0.6 + 0.4 * e))
    hits.sort(key=lambda h: (h.beat, DRUMS.index(h.drum)))
    return hits


def _harmony(rng: np.random.Generator, sections: list[Section]) -> tuple[list[Tone], list[Tone]]:
    """One chord per bar from a four-chord progression; the bass plays its root."""
    mode = str(rng.choice(["major", "minor"]))
    scale = _MAJOR if mode == "major" else _MINOR
    progression = _PROGRESSIONS[mode][int(rng.integers(len(_PROGRESSIONS[mode])))]
    key = int(rng.integers(0, 12))
    chords: list[Tone] = []
    bass: list[Tone] = []
    bar_index = 0
    for section in sections:
        e = section.energy
        for bar in range(section.bars):
            b0 = section.start_beat + bar * BEATS_PER_BAR
            degree = progression[bar_index % len(progression)]
            bar_index += 1
            root = 60 + key + scale[degree]
            triad = (root, 60 + key + scale[(degree + 2) % 7], 60 + key + scale[(degree + 4) % 7])
            triad = tuple(p + 12 if p < root else p for p in triad)
            chords.append(Tone(b0, BEATS_PER_BAR, triad, 0.5 + 0.3 * (section.name == "breakdown")))
            if section.name == "intro" and bar == 0:
                continue
            bass_root = 36 + (key + scale[degree]) % 12
            step = 1.0 if e < 0.5 else 0.5
            for i in range(int(BEATS_PER_BAR / step)):
                octave = 12 if (e >= 0.9 and i % 2) else 0
                bass.append(Tone(b0 + i * step, step * 0.9, (bass_root + octave,), 0.5 + 0.4 * e))
    return chords, bass
