#!/usr/bin/env bash
# Installs what the test suite uses beyond Swift, from Debian's packages, once; does nothing when it
# is already there:
# - rsvg-convert (librsvg2-bin), with which the tests render the SVG charts of `spindle time --plot`
#   and `spindle compare --plot` to PNG;
# - Open MPI (openmpi-bin, libopenmpi-dev): mpirun, and the headers and library SpindleMPI builds
#   against. Without them the package leaves SpindleMPI out and its tests do not run.
set -euo pipefail

missing=()
command -v rsvg-convert >/dev/null 2>&1 || missing+=(librsvg2-bin)
if ! command -v mpirun >/dev/null 2>&1 || ! pkg-config --exists ompi 2>/dev/null; then
    missing+=(openmpi-bin libopenmpi-dev pkg-config)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-tools: ${missing[*]} missing and there is no apt-get; the tests that need them will be skipped" >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "install-test-tools: not root and no sudo; install ${missing[*]} to run every test" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be empty or stale: update once, only when needed.
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v rsvg-convert >/dev/null
command -v mpirun >/dev/null
