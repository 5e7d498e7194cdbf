"""Models shipped with the project: trained on ../shared/corpus by `python -m automapper_assets.pretrain`.

    <here>/{onset,sequence,lighting}/best.pt   the three stages (weights only, no optimizer state)
    <here>/ablation/sequence.pt                stage 2 trained the same way with its audio zeroed (the proof
                                               that stage 2 listens: tests/ml/test_real_corpus.py)
    <here>/card.json, MODEL_CARD.md            corpus (zip names + sha256), configs and their hashes,
                                               TOKENIZER_VERSION, AUDIO_FEATURES_VERSION, held-out figures

`automapper generate SONG` and `automapper onsets SONG` use these unless --models / --model names other
checkpoints. tests/ml/test_pretrained.py fails when they no longer match the code.
"""

from __future__ import annotations

import json
from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent
CARD_FILE = PRETRAINED_DIR / "card.json"
ABLATION_FILE = PRETRAINED_DIR / "ablation" / "sequence.pt"


def read_card(path: Path = CARD_FILE) -> dict:
    """The shipped models' card (ValueError when it is absent or not JSON)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: no readable model card ({err})") from err
