# Sourced by scripts/serve and scripts/test: make .venv at the repository root and install the
# project into it, again only when pyproject.toml has changed since the last install.
set -eu
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
extras="${1:-}"
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)${extras:+-$extras}"
if [ ! -e "$stamp" ]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root${extras:+[$extras]}"
    touch "$stamp"
fi
