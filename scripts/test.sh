#!/usr/bin/env bash
# The whole test suite, as CI runs it. The admin console's browser tests
# drive headless Chromium through chromedriver (Debian's `chromium` and
# `chromium-driver`); the shared store's tests run a real PostgreSQL server
# (`initdb`, `pg_ctl`, `postgres`, from Debian's `postgresql`). Both are
# installed first when missing and apt-get is there. Extra arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
    sudo="sudo"
fi

if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } && command -v apt-get >/dev/null; then
    echo "scripts/test.sh: installing chromium and chromium-driver for the console's browser tests" >&2
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends chromium chromium-driver
fi

# The server binaries on PATH or in Debian's versioned directory, as
# tests/src/postgres.rs looks for them.
have_postgres() {
    local dir
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null; then
        return 0
    fi
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
            return 0
        fi
    done
    return 1
}

if ! have_postgres && command -v apt-get >/dev/null; then
    echo "scripts/test.sh: installing postgresql for the shared store's tests" >&2
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends postgresql
fi

# PostgreSQL refuses to run as root; as root the tests run it as `postgres`
# (Debian's package creates that user; a hand-installed server may not have).
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "scripts/test.sh: creating the system user postgres to run the test clusters" >&2
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

exec cargo test --workspace "$@"
