"""Options of map generation's rule-based half: tempo, post-processing, export. Frozen dataclasses.

Defaults and why:
- NPS ranges per difficulty (notes per second of audio, `BeatMap.nps`'s definition): the bands
  ranked maps of each difficulty usually sit in. Above the band post-processing drops the
  weakest notes; below it nothing is invented (the model must map), it is only reported.
- NJS per difficulty (Easy 10, Normal 10, Hard 12, Expert 16, ExpertPlus 18) are the official
  editor's and most mappers' defaults; the start-beat offset is 0 (the game then derives the jump
  distance from the NJS and BPM, which is what players expect of an unknown map).
- Bomb and wall density "keep" leaves the model's bombs and walls (minus unsafe walls and
  duplicates); "none", "low", "medium", "high" set a target per minute of song (DENSITY_PER_MINUTE)
  reached by removing objects or adding safe ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Density = Literal["keep", "none", "low", "medium", "high"]
RGB = tuple[float, ...]

DEFAULT_NPS_RANGES: dict[str, tuple[float, float]] = {
    "Easy": (1.0, 2.0),
    "Normal": (2.0, 3.0),
    "Hard": (3.0, 4.5),
    "Expert": (4.0, 6.5),
    "ExpertPlus": (5.5, 9.0),
}
DEFAULT_NJS: dict[str, float] = {
    "Easy": 10.0,
    "Normal": 10.0,
    "Hard": 12.0,
    "Expert": 16.0,
    "ExpertPlus": 18.0,
}
DEFAULT_OFFSET = 0.0  # note jump start beat offset for every difficulty
# Objects per minute of song for each density; "keep" and "none" are handled apart.
DENSITY_PER_MINUTE: dict[str, dict[str, float]] = {
    "bombs": {"low": 4.0, "medium": 12.0, "high": 30.0},
    "walls": {"low": 3.0, "medium": 8.0, "high": 16.0},
}


@dataclass(frozen=True, slots=True)
class PostProcessOptions:
    grid: bool = True  # clamp objects into the 4x3 grid, drop invalid ones
    duplicates: bool = True  # remove objects sharing a cell at one time
    handclaps: bool = True  # move apart simultaneous notes of both hands that collide or cross
    vision_blocks: bool = True  # move centre notes that hide the next notes (rule in postprocess)
    vision_block_seconds: float = 0.25  # a centre note hides notes this soon after it
    parity: bool = True  # fix forehand/backhand flow until the shared checker reports zero errors
    balance_colors: bool = True  # recolour when a colour's share leaves color_range
    color_range: tuple[float, float] = (0.35, 0.65)  # allowed share of left (red) notes
    nps: bool = True  # enforce the difficulty's NPS range (drop above; report below)
    nps_range: tuple[float, float] | None = None  # None: DEFAULT_NPS_RANGES[difficulty name]
    bomb_density: Density = "keep"  # bombs: keep the model's, or none/low/medium/high
    wall_density: Density = "keep"  # walls: likewise
    chroma_palette: tuple[RGB, ...] | None = None  # (left, right[, white]) RGB 0..1 for light events
    sliders: bool = True  # add arcs and chains where the music holds notes (generation.sliders)
    seed: int = 0  # for the deterministic choice of added bombs and walls

    def nps_range_for(self, difficulty_name: str) -> tuple[float, float] | None:
        """The NPS band used for a difficulty, or None when none is known (nothing enforced)."""
        return self.nps_range if self.nps_range is not None else DEFAULT_NPS_RANGES.get(difficulty_name)


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    bpm: float | None = None  # None: detect (tempo.detect_tempo); else the user's BPM
    first_beat_seconds: float | None = None  # None: detect the phase; else the user's first beat
    subdivisions: tuple[int, ...] = (8, 6)  # beat grid objects snap to (1/8 and 1/6)
    difficulties: tuple[str, ...] = ("Expert",)  # difficulty names to generate (Standard characteristic)
    environment_name: str = "DefaultEnvironment"  # Info.dat environment (Chroma light IDs depend on it)
    njs: dict[str, float] = field(default_factory=dict)  # per-difficulty NJS overrides of DEFAULT_NJS
    njs_offset: dict[str, float] = field(default_factory=dict)  # per-difficulty start-beat offsets
    postprocess: PostProcessOptions = PostProcessOptions()  # rules applied to every difficulty
    title: str = ""  # Info.dat song name ("" -> the audio file's stem)
    artist: str = ""
    mapper: str = "automapper"
