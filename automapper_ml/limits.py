"""Every bound on what an input may hold, in one place (issue: bounded inputs).

Each limit is checked before the work it protects (parsing, building objects, decoding audio,
allocating arrays), and breaking one is a one-line `MapError`/`AudioError` (a quarantine reason in
the ingest group), never a crash, a hang or an exhausted machine. Values are sized from what the
game and real maps hold, with a wide margin; a map or song a person could play stays well inside.
"""

from __future__ import annotations

MIB = 1024 * 1024

# -- map files: formats/* (readers, writers) and the commands that read maps ----------------------

# Map zips (formats.safezip.ZipLimits defaults). A real map is a few JSON files, a cover and one
# song: under 30 MiB in the 63-map corpus.
ZIP_MAX_MEMBERS = 1000  # files and folders in one archive (or map folder)
ZIP_MAX_MEMBER_BYTES = 128 * MIB  # uncompressed size of any one member
ZIP_MAX_TOTAL_BYTES = 300 * MIB  # uncompressed size of all members together
ZIP_MAX_COMPRESSION_RATIO = 200.0  # uncompressed / compressed, for members of ZIP_RATIO_MIN_BYTES or more
ZIP_RATIO_MIN_BYTES = 1 * MIB  # small members may compress extremely well (JSON full of zeros)

# One JSON file (Info.dat, a difficulty, a lightshow, BPMInfo/AudioData). Real difficulty files are
# under 3 MB (fixtures and corpus); only Noodle modcharts reach tens of MiB. Parsing costs up to
# ~40x the bytes (36 MB of `{}` took 1.5 GB), and a v4 difficulty holds two files parsed at once.
MAX_JSON_BYTES = 32 * MIB
# Containers nested in one JSON document. Real files nest under 10 deep (light event box groups:
# group > box > events > event); the cap keeps every recursive walk and json.dumps far from
# Python's recursion limit.
MAX_JSON_DEPTH = 64
# Integer literals longer than this are refused while parsing: Python would parse a 4,000-digit
# integer, then float() raises OverflowError past 309 digits. 300 digits still fit a float.
MAX_INT_DIGITS = 300

# Objects built per difficulty file, counted from the JSON array lengths before any is built
# (notes, bombs, walls, arcs, chains, basic events, boosts, BPM changes, rotations, fakes, v4
# light box events). Real maps hold up to ~21 k (hyperclocked) and Chroma lightshows a few 100 k;
# a model object costs ~100 bytes (plus its parsed JSON, ~400), so 1 M is ~0.5 GB at most.
MAX_OBJECTS_PER_DIFFICULTY = 1_000_000
# The same over all difficulties of a map (a map may list 8 characteristics x 5 difficulties).
MAX_OBJECTS_PER_MAP = 2_000_000

# Beats and durations past these are never music: 1e5 beats is over 8 hours at 200 BPM.
MAX_ABS_BEAT = 1e5
MAX_DURATION = 1e5
# Integers (positions, directions, types, Mapping Extensions encodings) stay inside int32; the
# limit is int32 itself because legacy Chroma encodes RGB as event values 2_000_000_000 + rgb.
MAX_ABS_INT = 2**31 - 1
# Any other float (brightness, multipliers, offsets): only infinity-like values are absurd.
MAX_ABS_FLOAT = 1e9

# Tempo, for the Info BPM, every BPM change and every BPMInfo/AudioData region (beats per minute
# of the stretch it maps). Real maps run 55..12,000 BPM, editor tricks included (hyperclocked
# 10,000); one corpus map has a 101,002 BPM region. Below MIN_BPM one beat lasts over a minute:
# a region that slow, like one mapping a sample onto 1e5 beats, expands time without limit.
# BPM changes of 0 or less are skipped (the tempo before them holds), as they always were.
MIN_BPM = 1.0
MAX_BPM = 1e6
# Sample positions in BPMInfo.dat / AudioData.dat: 1e10 samples is over 60 hours at 44.1 kHz.
MAX_SAMPLE_INDEX = 1e10

# -- audio: decoding and re-encoding (audio.py) ---------------------------------------------------

# From the header (soundfile's sf.info), before any sample is decoded. Real songs are 44.1 or
# 48 kHz stereo; hi-res files go to 192 kHz, WAV/FLAC to 8 channels (7.1).
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000
MAX_CHANNELS = 8
# Longest song decoded: the log-mel features of 30 min peak at ~3.9 GB (the STFT of the whole
# song); real maps' songs are 1-6 min and marathon maps rarely pass 20. A header that under-states
# its length is caught while decoding: decoding stops at this many seconds of samples.
MAX_AUDIO_SECONDS = 30 * 60.0

# -- ingest and features: what one map may put into the tables (data/*, defs/ingest, features) ----

# Any one string from a map or a sidecar (title, artist, mapper, names, tags) kept in a parquet
# table. Real titles are under 200 characters; a 1 MiB title would be copied into every row.
MAX_TEXT_CHARS = 1000
# A quarantine reason: the exception's type name and the first line of its message.
MAX_REASON_CHARS = 300

# -- generation: what `automapper generate` maps (generation/level.py) -----------------------------

# A song shorter than this is no song to map (a jingle or a cut file): refused with one line, as the
# ingest group excludes maps under `min_song_seconds` (15 s) from training.
MIN_GENERATE_SECONDS = 5.0
# A song whose loudest 0.5 s window (RMS) is quieter than this is silence: refused with one line,
# never a map of notes on noise. The ingest group's silent_audio rule uses the same figure
# (configs/ingest.toml `min_peak_dbfs`); the real corpus's quietest song peaks at -18.6 dBFS.
SILENT_PEAK_DBFS = -40.0
SILENCE_WINDOW_SECONDS = 0.5
