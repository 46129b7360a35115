# Sourced by scripts/test: a venv of its own for Feast (once), which the Feast importer's
# tests run as the user's Feast. Feast pins pandas<3, which lakebed's venv does not hold.
FEAST_VENV="${LAKEBED_FEAST_VENV:-$VENV-feast}"
if [ ! -f "$FEAST_VENV/.lakebed-installed" ]; then
  "$PY" -m venv "$FEAST_VENV"
  "$FEAST_VENV/bin/python" -m pip install -q --disable-pip-version-check "feast==0.67.0" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  touch "$FEAST_VENV/.lakebed-installed"
fi
export LAKEBED_FEAST_PYTHON="${LAKEBED_FEAST_PYTHON:-$FEAST_VENV/bin/python}"
