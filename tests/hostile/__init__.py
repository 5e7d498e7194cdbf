"""Hostile inputs (issue #14 part 5): a corrupted-inputs corpus run through every entry point.

corpus.py builds the cases (zips, sidecars, songs, raw-folder oddities) from the demo synth at test
time; caps.py runs a command under a memory and a time cap; sweep.py and graph_runner.py are the
subprocess bodies for the numeric-field sweeps and for ingest + features; test_hostile_inputs.py
holds the expectations.
"""
