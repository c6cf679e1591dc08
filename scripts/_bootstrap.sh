# Sourced by scripts/serve and scripts/test: creates .venv on first use and
# (re)installs the project whenever pyproject.toml changes, so both commands
# work on a fresh machine that has nothing but Python 3.11+.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating virtual environment in .venv" >&2
    "$PYTHON" -m venv "$VENV"
fi
extras="${RAPIDCARE_INSTALL_EXTRAS:-}"
stamp="$VENV/.deps-stamp"
want="$(cat pyproject.toml; echo "extras=$extras")"
have="$(cat "$stamp" 2>/dev/null || true)"
# A .venv installed with the test extras also serves the commands that need none
# (serve, backup-database, ...): no reinstalling back and forth between them.
if [ -z "$extras" ] && [ "$have" = "$(cat pyproject.toml; echo "extras=test")" ]; then
    want="$have"
fi
if [ "$have" != "$want" ]; then
    echo "bootstrap: installing dependencies${extras:+ [$extras]}" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -e ".${extras:+[$extras]}" >&2
    printf '%s' "$want" > "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export FLASK_APP=wsgi
