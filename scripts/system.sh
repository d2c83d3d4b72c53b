# Sourced by scripts/test: system programs that some tests use as real servers or engines (OCR,
# Redis, PostgreSQL, Chromium). Each missing one is installed with the system's package manager
# when this machine has one and may use it, and the script says so; otherwise it says what is
# missing and the tests that need it report it themselves.
set -eu
apt_updated=
need() {  # need COMMAND DEBIAN-PACKAGE...
    command -v "$1" >/dev/null 2>&1 && return 0
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "scripts/test: installing $* for the tests that use $1" >&2
        if [ -z "$apt_updated" ]; then
            apt-get update -qq >/dev/null && apt_updated=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${@:2}" \
            >/dev/null || echo "scripts/test: could not install ${*:2}" >&2
    else
        echo "scripts/test: $1 is missing and cannot be installed here (${*:2})" >&2
    fi
}
