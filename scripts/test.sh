#!/bin/bash
# The whole test suite, as CI runs it: installs everything, then pytest under Debian's Python;
# without arguments also the unit tests and a smoke set under Python 3.12 and 3.13
# (scripts/test-pythons.sh) and the cgroup v2 tests in a guest kernel (scripts/test-v2.sh).
# With arguments, only the first, with them passed to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BERTH_EXTRAS=".[test]" bash scripts/install.sh
set +e
.venv/bin/python -m pytest -q --timeout 300 "$@"
status=$?
if [ "$status" -eq 5 ]; then echo "pytest ran no test: failing" >&2; status=1; fi
if [ $# -eq 0 ]; then
  bash scripts/test-pythons.sh || status=1
  bash scripts/test-v2.sh || status=1
fi
exit "$status"
