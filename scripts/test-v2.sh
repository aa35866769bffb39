#!/bin/bash
# The runtime, container, limit, escape and user namespace tests on a kernel whose only cgroup hierarchy is v2:
# a User-mode Linux guest (tests/v2vm/README.md). Builds the guest once (about two minutes, from
# Debian's packages; again when pyproject.toml changes), then boots it with this tree copied in.
# Exit: pytest's in the guest; 124 the guest timed out, 125 it died twice (its console is shown).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export V2VM_DIR=${V2VM_DIR:-/var/tmp/bv2}
bash tests/v2vm/build-vm.sh
# (the user namespace tests but their comparison with docker, which the guest does not have; rootless
# berth's limits under a delegated subtree)
tests=(tests/unit tests/integration/test_device_filter.py tests/integration/test_limits.py
       tests/integration/test_escapes.py tests/integration/test_runtime_lifecycle.py
       tests/integration/test_containers.py tests/integration/test_userns.py tests/integration/test_rootless_cgroups.py
       --deselect tests/integration/test_userns.py::test_the_probes_under_a_user_namespace_are_never_looser_than_docker)
run() {
  V2VM_SRC=$PWD V2VM_TIMEOUT=${V2VM_TIMEOUT:-2400} bash tests/v2vm/run-in-vm.sh \
    "test -f /sys/fs/cgroup/cgroup.controllers && ! awk '\$3 == \"cgroup\"' /proc/mounts | grep -q . || { echo 'the guest is not cgroup v2-only' >&2; exit 1; }
     .venv/bin/python -m pytest -q -p no:cacheprovider --timeout 600 ${tests[*]} ${*:-}"
}
# 125: the guest's kernel died and gave no verdict (UML 6.12 has panicked with a kernel-mode fault
# right after the memory-limit test's OOM kill while the host was busy); one more boot then, said
# aloud. A test's failure is pytest's exit code, never retried.
set +e
run "$@"
rc=$?
if [ "$rc" -eq 125 ]; then
  echo "test-v2: the guest died without a verdict (its console is above): booting it once more" >&2
  run "$@"
  rc=$?
fi
exit "$rc"
