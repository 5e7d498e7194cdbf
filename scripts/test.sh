#!/usr/bin/env bash
# Set up (if needed), lint, then run the whole test suite on CPU (two pytest-xdist workers).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
echo "[test] ruff"
ruff check .
echo "[test] pytest"
exec python -m pytest -n 2 --dist loadgroup "$@"
