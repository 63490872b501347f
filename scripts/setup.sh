#!/usr/bin/env bash
# Set up everything igcs needs on a fresh Debian/Ubuntu machine: apt packages, a venv, pip packages.
# Idempotent and quick when already done. Used by `make demo` and `make test`.
#
# Python packages come from requirements/lock.txt (exact versions with hashes: the tested set), so a
# clone set up today and one set up next year get the same environment. With --latest (the canary,
# `make test-latest`) the newest releases allowed by pyproject.toml are installed instead, into a new
# environment.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
LOCK=requirements/lock.txt
latest=0
[ "${1:-}" = "--latest" ] && latest=1

mapfile -t pkgs < <(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup: igcs needs Python >= 3.10; $PYTHON is $("$PYTHON" --version 2>&1). Set PYTHON=python3.11 (say)." >&2
  exit 2
fi

stamp="$VENV/.igcs-installed"
if [ "$latest" = 1 ]; then
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [ "$latest" = 1 ]; then
  echo "setup: installing the NEWEST releases (no lock) into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q --upgrade --upgrade-strategy eager -e ".[all]"
  "$VENV/bin/python" -m pip freeze --exclude-editable > "$VENV/resolved.txt"
  echo "setup: resolved versions in $VENV/resolved.txt"
  touch "$stamp"
elif [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$LOCK" -nt "$stamp" ]; then
  echo "setup: installing the locked Python packages ($LOCK) into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q --require-hashes -r "$LOCK"
  "$VENV/bin/python" -m pip install -q --no-deps -e .
  touch "$stamp"
fi
