#!/usr/bin/env bash
# The whole test suite, as CI runs it. The admin console's browser tests
# drive headless Chromium through chromedriver (Debian's `chromium` and
# `chromium-driver`); they are installed first when missing and apt-get is
# there. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } && command -v apt-get >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
        sudo="sudo"
    fi
    echo "scripts/test.sh: installing chromium and chromium-driver for the console's browser tests" >&2
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends chromium chromium-driver
fi

exec cargo test --workspace "$@"
