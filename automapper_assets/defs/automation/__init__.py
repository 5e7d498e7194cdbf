"""Automation: the nightly retrain (schedule + layer-by-layer continuation), the feature-shard sensor,
evaluation following training, champion/challenger promotion and the knobs training assets read."""
