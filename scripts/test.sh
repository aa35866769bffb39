#!/bin/bash
# The whole test suite, as CI runs it: installs everything, then pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BERTH_EXTRAS=".[test]" bash scripts/install.sh
set +e
.venv/bin/python -m pytest -q --timeout 300 "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then echo "pytest ran no test: failing" >&2; exit 1; fi
exit "$code"
