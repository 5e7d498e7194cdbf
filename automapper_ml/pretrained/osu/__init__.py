"""The shipped osu! model: trained on the real osu! corpus by `python -m automapper_assets.pretrain_osu`.

    <here>/best.pt         the model (weights only, no optimizer state)
    <here>/card.json       corpus (set names + sha256), preset and its hash, OSU_TOKENIZER_VERSION,
                           AUDIO_FEATURES_VERSION, the sampling settings generation uses, held-out figures
    <here>/MODEL_CARD.md   the same for people

`automapper osu generate SONG` uses these unless --model names another checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OSU_DIR = Path(__file__).resolve().parent
OSU_MODEL_FILE = OSU_DIR / "best.pt"
OSU_CARD_FILE = OSU_DIR / "card.json"


def read_osu_card(path: Path = OSU_CARD_FILE) -> dict[str, Any]:
    """The shipped osu! model's card ({} when there is none: a checkpoint given with --model)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def default_sampling(seed: int = 0, temperature: float | None = None, card: dict[str, Any] | None = None):
    """generation.osu.OsuSampling with the card's settings (chosen on the validation sets), `seed`, and
    `temperature` when given."""
    from automapper_ml.generation.osu import OsuSampling

    settings = dict((card if card is not None else read_osu_card()).get("sampling", {}))
    if temperature is not None:
        settings["temperature"] = temperature
    known = {
        k: v for k, v in settings.items() if k in ("temperature", "top_p", "time_temperature", "place_bias", "onset_weight")
    }
    return OsuSampling(seed=seed, **known)
