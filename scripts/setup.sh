#!/usr/bin/env bash
# The one install recipe. Sourced by scripts/demo.sh and scripts/test.sh (safe to run alone).
# Creates .venv with Python 3.11 and installs the project with every pinned dependency;
# a second run checks a stamp and skips what is already done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AUTOMAPPER_VENV:-$ROOT/.venv}"

pick_python() {
    for candidate in "${PYTHON:-}" python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "automapper needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

if [ ! -x "$VENV/bin/python" ]; then
    PY="$(pick_python)"
    echo "[setup] creating virtual environment in $VENV"
    "$PY" -m venv "$VENV"
fi

# The stamp covers everything that decides what gets installed.
want="$(cat "$ROOT/pyproject.toml" "$ROOT/constraints.txt" | sha256sum | cut -c1-16)"
stamp="$VENV/.automapper-installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[setup] installing automapper and pinned dependencies (first run: a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
    echo "$want" > "$stamp"
fi

# bsmap (KivalEvan's map library, npm) validates the v3 files we write; tests only.
BSMAP_DIR="$ROOT/tools/bsmap-check"
if [ -f "$BSMAP_DIR/package.json" ] && command -v npm >/dev/null 2>&1; then
    bwant="$(cat "$BSMAP_DIR/package.json" "$BSMAP_DIR/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16)"
    bstamp="$BSMAP_DIR/node_modules/.automapper-installed"
    if [ "$(cat "$bstamp" 2>/dev/null)" != "$bwant" ]; then
        echo "[setup] installing bsmap (npm) for schema checks"
        (cd "$BSMAP_DIR" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1) ||
            echo "[setup] warning: npm ci failed; bsmap schema tests will be skipped" >&2
        [ -d "$BSMAP_DIR/node_modules" ] && echo "$bwant" > "$bstamp"
    fi
fi

# Idle OpenMP threads sleep instead of spinning: on a shared or busy CPU, spinning torch threads
# made training steps up to 20x slower (measured); on an idle machine the cost is negligible.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"
