#!/bin/bash
# Installs what berth and its tests need on a fresh Debian 12 machine (as root),
# then berth itself into ./.venv. Sourced by demo.sh and test.sh; idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive
# busybox-static, bash-static: local images; libseccomp2: seccomp; runc, podman and
# docker.io: the anchors the tests compare with, load archives into and drive
# berth-runtime from; procps: `berth-runtime ps`; time: GNU time, for the
# benchmarks' peak memory; util-linux: unshare, for private mount namespaces
# iproute2 and iptables: bridge networks (links, addresses, routes; NAT and forwarding rules)
# catatonit: the pause program of a pod's infra container (and of CNI namespaces)
# uidmap (newuidmap, newgidmap) and slirp4netns: rootless berth's user namespace and network
# containernetworking-plugins: the CNI plugins `berth cri` networks pods with
pkgs="busybox-static bash-static libseccomp2 runc podman docker.io docker-compose tini catatonit containernetworking-plugins skopeo docker-registry apache2-utils openssl procps time util-linux iproute2 iptables python3 python3-venv uidmap slirp4netns passwd"
missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  apt-get update -qq >/dev/null
  apt-get install -y -qq $missing >/dev/null
fi
# Debian's python3, installed above, whatever else comes first on PATH (pyenv...): an
# optimised build, and berth-runtime pays the interpreter's start on every container
PY=/usr/bin/python3
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "berth needs Python 3.11 or newer" >&2; exit 1; }
if [ -e .venv ] && ! grep -qx "home = $(dirname "$PY")" .venv/pyvenv.cfg 2>/dev/null; then
  rm -rf .venv # made from another interpreter
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check "${BERTH_EXTRAS:-.}" 2>&1 | grep -v '^WARNING: Location' || true
# setuptools is for building (pip builds in an isolated environment); left in the venv, its
# distutils-precedence.pth costs every berth and berth-runtime command ~0.5 ms at start
.venv/bin/pip uninstall -y -q setuptools 2>/dev/null || true
.venv/bin/python -c 'import berth' # the install must have worked
