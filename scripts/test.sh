#!/usr/bin/env bash
# Set up (if needed), lint, then run the whole test suite on CPU (two pytest-xdist workers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
echo "[test] ruff"
ruff check .
# librosa's numba kernels cache their compiled code beside librosa's sources (cache=True). Compiled
# first by two xdist workers and the hostile-input subprocesses at once, a half-written cache file
# crashed a worker (segfault in peak_pick); compiling them once here, alone, leaves nothing to race.
python -c "import numpy as np, librosa; x = np.random.default_rng(0).standard_normal(22050).astype(np.float32); librosa.onset.onset_detect(y=x, sr=22050)"
echo "[test] pytest"
exec python -m pytest -n 2 --dist loadgroup "$@"
