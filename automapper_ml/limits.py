"""Every bound on what an input may hold, in one place (issue: bounded inputs).

Each limit is checked before the work it protects (parsing, building objects, decoding audio,
allocating arrays), and breaking one is a one-line `MapError`/`AudioError` (a quarantine reason in
the ingest group), never a crash, a hang or an exhausted machine. Values are sized from what the
game and real maps hold, with a wide margin; a map or song a person could play stays well inside.
"""

from __future__ import annotations
