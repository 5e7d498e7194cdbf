#!/usr/bin/env bash
# The main job: set up (if needed), generate the demo corpus when data/raw has no zips, and
# materialise every asset of the graph on it (tiny configs, CPU). Extra arguments go to
# automapper_assets.pipeline (e.g. --home DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec python -m automapper_assets.pipeline "$@"
