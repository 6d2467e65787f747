#!/bin/sh
# Prepares a checkout to run: a virtualenv in .venv with phonehome, its
# development tools and labgrid (its tests start a coordinator and an exporter), one in .venv-tls for the bench's TLS service (mitmproxy), then `phonehome doctor --install` for the host packages
# the bench needs (dnsmasq-base, nftables, tcpdump, tshark, busybox; postgresql for the results store's tests).
# Idempotent and quiet when nothing is to do; used by the README's commands and CI.
set -eu
cd "$(dirname "$0")"

as_root() { [ "$(id -u)" = 0 ]; }

# Installs Debian packages when root with apt-get; otherwise stops with what to do (the first argument).
apt_install() {
    hint=$1
    shift
    if as_root && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing $* with apt-get" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        echo "bootstrap: $hint" >&2
        exit 1
    fi
}

# A fresh Debian has python3 but neither venv nor pip; install them when we can.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install "python3 with venv is needed: apt-get install python3-venv (as root)" \
        python3 python3-venv python3-pip
fi

# The analyzer's packet path is compiled to C with mypyc when installed (setup.py): that needs a C
# compiler and Python's headers, which a fresh Debian lacks.
case "${PHONEHOME_PURE:-0}" in "" | 0) compiling=1 ;; *) compiling= ;; esac
if [ -n "$compiling" ] && ! { command -v cc >/dev/null 2>&1 &&
    python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; }; then
    apt_install "a C compiler and Python's headers are needed: apt-get install gcc python3-dev (as root), or PHONEHOME_PURE=1 for a slower, interpreted analyzer" \
        gcc libc6-dev python3-dev
fi

stamp=.venv/.phonehome-installed
# Reinstalled when the project file changed, and when the compiled analyzer no longer matches its
# sources (phonehome.traffic refuses to import then): an edit to one of them needs a new build.
if [ ! -x .venv/bin/python ] || [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] ||
    ! .venv/bin/python -c 'import phonehome.traffic' >/dev/null 2>&1; then
    [ -x .venv/bin/python ] || python3 -m venv .venv
    echo "bootstrap: installing phonehome into .venv (compiling the analyzer takes a few minutes)" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev,labgrid]'
    touch "$stamp"
fi

# The bench's TLS service (mitmproxy) runs from an environment of its own: mitmproxy 11.0 pins
# dependencies (brotli <= 1.1.0...) below what the analyzer needs (pyproject.toml, extra `tls`).
tls=.venv-tls
tls_stamp=$tls/.phonehome-installed
if [ ! -x $tls/bin/python ] || [ ! -f "$tls_stamp" ] || [ pyproject.toml -nt "$tls_stamp" ]; then
    [ -x $tls/bin/python ] || python3 -m venv $tls
    # Its editable install must map the compiled analyzer's shared library too (the TLS service
    # imports phonehome.traffic); the build finds the objects .venv's build left and only links.
    $tls/bin/python -m pip install -q --disable-pip-version-check -e '.[tls]'
    touch "$tls_stamp"
fi

if as_root; then
    .venv/bin/phonehome doctor --install --quiet
else
    # Unprivileged: unit tests still run; privileged tests skip and say why.
    .venv/bin/phonehome doctor --quiet || echo "bootstrap: not root; bench tests will be skipped" >&2
fi
