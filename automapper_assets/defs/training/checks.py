"""Champion/challenger: a retrained model is promoted only when it beats the champion on validation."""

from automapper_assets.defs.automation.champion import champion_check
from automapper_assets.defs.training.assets import lighting_model, onset_model, sequence_model

onset_beats_champion = champion_check(onset_model, "onset", "val_f1", higher_is_better=True)
# placement tokens: what generation samples (timing tokens are forced from stage 1)
sequence_beats_champion = champion_check(sequence_model, "sequence", "note_accuracy", higher_is_better=True)
lighting_beats_champion = champion_check(lighting_model, "lighting", "token_accuracy", higher_is_better=True)
