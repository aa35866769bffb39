"""`features`: what this runtime implements, in the runtime-spec's features.json shape."""

from __future__ import annotations

from berth import OCI_VERSION
from berth.linux import caps, ns
from berth.runtime import mountopts, seccomp


def features() -> dict:
    hooks = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    options = sorted(set(mountopts._FLAGS) | set(mountopts._PROPAGATION) | mountopts._IGNORED)
    try:
        import pyseccomp  # noqa: F401

        sec = {"enabled": True, "actions": list(seccomp.ACTIONS), "operators": sorted(seccomp._OPS),
               "archs": sorted(seccomp._ARCHES)}  # fmt: skip
    except ImportError:
        sec = {"enabled": False}
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": hooks,
        "mountOptions": options,
        "linux": {
            "namespaces": sorted(ns.TYPES),
            "capabilities": list(caps.NAMES[: caps.last_cap() + 1]),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
            "seccomp": sec,
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "berth-runtime"},
    }
