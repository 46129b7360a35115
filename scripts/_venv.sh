# Sourced by scripts/demo and scripts/test: make (once) and activate the project's venv
# with lakebed and all its extras installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LAKEBED_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
STAMP="$VENV/.lakebed-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  extra_args=()
  # torch is pinned to the CPU build; a local wheel directory is used when the machine has one
  [ -d /opt/wheels ] && extra_args+=(--find-links /opt/wheels)
  python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  # (the machine's pip configuration names optional local indexes; their "is ignored" warnings are noise)
  python -m pip install -q --disable-pip-version-check "${extra_args[@]}" -e "$ROOT[all,dev]" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  touch "$STAMP"
fi
cd "$ROOT"
