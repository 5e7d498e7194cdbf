"""Every option type of map generation, frozen dataclasses: `GenerationOptions` (tempo, difficulties,
export, with `PostProcessOptions` for the rules), `DecodingOptions` (stage 2) and `LightingOptions`
(stage 3). `generate_level` gives the call's one seed to the stages (`level.GenerationRequest`).

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
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Density = Literal["keep", "none", "low", "medium", "high"]
Strategy = Literal["greedy", "beam", "sample"]
Precision = Literal["float32", "bfloat16"]
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


@dataclass(frozen=True)
class DecodingOptions:
    strategy: Strategy = "greedy"  # "greedy" (argmax), "beam" (beam search) or "sample" (nucleus)
    beam_size: int = 4  # hypotheses kept per row with strategy "beam"
    length_penalty: float = 1.0  # beam ranking: sum log p / length ** length_penalty (0: raw sum)
    temperature: float = 1.0  # "sample": logits divided by this before top-p
    top_p: float = 0.9  # "sample": smallest set of tokens holding this probability mass
    cfg_scale: float = 1.0  # classifier-free guidance: uncond + s * (cond - uncond); 1 = conditional only
    min_length: int = 0  # EOS is masked until this many tokens precede it (grammar permitting)
    max_length: int = 48  # most tokens per group, EOS included (< config.max_group_tokens)
    seed: int = 0  # "sample": seed of the torch.Generator when none is passed
    # decode_song: each run after the first once per hand-state prompt, keep the one that flows on
    # (generation.seams); False starts every run blind
    seam_prompts: bool = True
    use_cache: bool = True  # False recomputes the full forward every step (benchmark / test baseline)
    precision: Precision = "float32"  # "bfloat16": bf16 weights/memories/K/V (~2x less memory traffic
    # on CPUs with AMX/AVX512-BF16; outputs close to, not identical with, float32)
    # added to the logits of up and down arrows (DIR_0, DIR_1) before the grammar mask: < 0 leaves
    # diagonal and side arrows more room; None: generate_level's per-difficulty default (level.py says why)
    up_down_bias: float | None = None

    def __post_init__(self) -> None:
        if self.strategy not in ("greedy", "beam", "sample"):
            raise ValueError(f"unknown decoding strategy {self.strategy!r} (greedy, beam, sample)")
        if self.beam_size < 1 or self.max_length < 1 or self.min_length < 0:
            raise ValueError("beam_size and max_length must be >= 1, min_length >= 0")
        if not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ValueError("temperature must be > 0 and top_p in (0, 1]")
        if self.precision not in ("float32", "bfloat16"):
            raise ValueError(f"unknown precision {self.precision!r} (float32, bfloat16)")

    @property
    def dtype(self) -> torch.dtype:
        import torch  # here, so the option types import without torch

        return torch.bfloat16 if self.precision == "bfloat16" else torch.float32


@dataclass(frozen=True)
class LightingOptions:
    difficulty: int | None = 3  # 0..4 (Easy .. ExpertPlus); None = unconditional
    temperature: float = 0.0  # 0 = greedy (grammar-masked argmax); > 0 samples
    top_p: float = 0.9  # nucleus mass kept when sampling
    seed: int = 0  # sampling seed: same seed, same lights
    chunk_steps: int = 24  # steps per batch row; 0 = the whole song in one row
    burn_in: int = 8  # steps decoded before each chunk (for its context), then dropped
    max_group_tokens: int = 0  # cap per step incl. EOS; 0 = the model's
    chroma: bool = True  # allow Chroma COLOR tokens
    boosts: bool = True  # allow colour boost events
    device: str = "cpu"
