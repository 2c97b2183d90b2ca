#!/usr/bin/env bash
# Installs what the test suite uses beyond Swift, from Debian's packages, once; does nothing when it
# is already there. Today that is rsvg-convert (librsvg2-bin), with which the tests render the SVG
# charts of `spindle time --plot` and `spindle compare --plot` to PNG.
set -euo pipefail

if command -v rsvg-convert >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools: rsvg-convert is missing and there is no apt-get; the chart rendering tests will be skipped" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "install-test-tools: not root and no sudo; install librsvg2-bin to run the chart rendering tests" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be empty or stale: update once, only when needed.
if ! $sudo apt-get install -y -q --no-install-recommends librsvg2-bin >/dev/null 2>&1; then
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q --no-install-recommends librsvg2-bin >/dev/null
fi
command -v rsvg-convert >/dev/null
