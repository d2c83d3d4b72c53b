# Sourced by scripts/serve and scripts/test: make .venv at the repository root and install the
# locked dependencies (requirements.lock, or requirements-test.lock with the test extras) and the
# project into it, again only when the lock or pyproject.toml has changed since the last install.
set -eu
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
extras="${1:-}"
lock="$root/requirements${extras:+-$extras}.lock"
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
stamp="$venv/.installed-$(cat "$root/pyproject.toml" "$lock" | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
    # The lock is the whole closure: installing it without resolving again keeps a new release of
    # a dependency that another one asks for with an extra (google-auth[requests]) from breaking it.
    "${pip[@]}" --require-hashes --only-binary :all: --no-deps -r "$lock"
    "$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null
    "${pip[@]}" --no-deps -e "$root"
    rm -f "$venv"/.installed-*
    touch "$stamp"
fi
