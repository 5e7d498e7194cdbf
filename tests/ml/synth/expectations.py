"""What each broken demo zip (automapper_ml.synth.broken) must make the reader and the ingest say."""

from __future__ import annotations

# kinds the reader itself must refuse, with the error code it gives
READER_CODES = {
    "zip_slip": {"zip_slip"},
    "absolute_path": {"absolute_path"},
    "symlink": {"symlink"},
    "zip_bomb": {"zip_bomb", "too_large"},
    "truncated_zip": {"truncated", "corrupt", "not_a_zip"},
    "not_a_zip": {"not_a_zip"},
    "bad_json": {"bad_json"},
    "missing_difficulty": {"missing_difficulty_file"},
    "missing_info": {"missing_info"},
    "unknown_version": {"unsupported_version"},
    "nan_value": {"invalid_value"},
}

# broken kind -> blacklist rule(s) it must trip: the reader's code for the kinds the reader refuses
# (but a truncated zip must be blacklisted as truncated or corrupt, never as not a zip), then the
# blacklist's own rules
EXPECTED_RULES = {
    **READER_CODES,
    "truncated_zip": {"truncated", "corrupt"},
    "long_wall": {"objects_past_end"},
    "no_expert": {"no_standard_expert"},
    "short_song": {"song_too_short"},
    "few_notes": {"too_few_notes"},
    "too_dense": {"too_dense"},
    "wall_heavy": {"wall_heavy"},
    "noodle_only": {"excluded_category"},
    "mapping_extensions": {"excluded_category"},
    "vivify": {"excluded_category"},
    "ai_map": {"ai_made"},
    "bad_audio": {"undecodable_audio"},
}
