#!/bin/bash
# The unit tests and a container smoke set under each other supported Python (3.12, 3.13: pyenv's,
# under /root/.pyenv/versions on this kind of machine), each in a venv of its own (.venv-3.X).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYENV=${PYENV_ROOT:-/root/.pyenv}/versions
smoke=(tests/unit tests/integration/test_runtime_lifecycle.py tests/integration/test_containers.py
       tests/integration/test_images.py tests/integration/test_build.py)
status=0
for want in 3.12 3.13; do
  py=$(ls -d "$PYENV/$want".*/bin/python3 2>/dev/null | sort -V | tail -1)
  if [ -z "$py" ]; then
    echo "test-pythons: no Python $want under $PYENV: it is part of this kind of machine (pyenv)" >&2
    status=1
    continue
  fi
  venv=.venv-$want
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check ".[test]" 2>&1 | grep -v '^WARNING: Location' || true
  "$venv/bin/pip" uninstall -y -q setuptools 2>/dev/null || true
  echo "== Python $("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])')"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider --timeout 300 "${smoke[@]}" || status=1
done
exit $status
