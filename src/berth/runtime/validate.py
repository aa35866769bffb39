"""Checks on a config.json before anything is made, so that bad input fails at once."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument, NotFound
from berth.linux import ns
from berth.oci.runtime_spec import Spec

_SYSCTL_NS = (("kernel.msg", "ipc"), ("kernel.sem", "ipc"), ("kernel.shm", "ipc"), ("fs.mqueue.", "ipc"),
              ("net.", "network"), ("kernel.hostname", "uts"), ("kernel.domainname", "uts"))  # fmt: skip


def namespace_types(spec: Spec) -> dict[str, str]:
    """type -> path ('' for a new namespace)."""
    found: dict[str, str] = {}
    for n in spec.linux.namespaces if spec.linux else ():
        if n.type not in ns.TYPES:
            raise InvalidArgument(f"config.json: unknown namespace type {n.type!r}")
        if n.type in found:
            raise InvalidArgument(f"config.json: namespace {n.type!r} given twice")
        found[n.type] = n.path
    return found


def validate(spec: Spec, bundle: str) -> str:
    """Raise a one-line error for the first problem; return the rootfs's absolute path."""
    if spec.process is None:
        raise InvalidArgument("config.json: process is required")
    if not spec.process.args:
        raise InvalidArgument("config.json: process.args must not be empty")
    if not spec.process.cwd.startswith("/"):
        raise InvalidArgument(f"config.json: process.cwd {spec.process.cwd!r} must be an absolute path")
    if spec.root is None or not spec.root.path:
        raise InvalidArgument("config.json: root.path is required")
    rootfs = os.path.realpath(os.path.join(bundle, spec.root.path))
    if not os.path.isdir(rootfs):
        raise NotFound(f"rootfs {rootfs} does not exist or is not a directory")
    types = namespace_types(spec)
    for t, path in types.items():
        if path and not os.path.exists(path):
            raise NotFound(f"namespace {t}: {path} does not exist")
    if "mount" not in types:
        raise InvalidArgument("config.json: a mount namespace is required; berth never changes the host's mounts")
    if spec.hostname and "uts" not in types:
        raise InvalidArgument("config.json: hostname needs a uts namespace of the container's own")
    linux = spec.linux
    if linux and (linux.uid_mappings or linux.gid_mappings) and "user" not in types:
        raise InvalidArgument("config.json: uid/gid mappings need a user namespace")
    if "user" in types and not types["user"] and not (linux.uid_mappings and linux.gid_mappings):
        raise InvalidArgument("config.json: a new user namespace needs uidMappings and gidMappings")
    for key in linux.sysctl if linux else ():
        for prefix, needed in _SYSCTL_NS:
            if key.startswith(prefix) and needed not in types:
                raise InvalidArgument(f"config.json: sysctl {key} needs a {needed} namespace of the container's own")
    if linux:
        from berth.runtime.mountopts import rootfs_propagation

        try:
            rootfs_propagation(linux.rootfs_propagation)
        except ValueError as e:
            raise InvalidArgument(f"config.json: {e}") from None
    _check_capabilities(spec)
    warn_unsupported_lsm(spec)
    return rootfs


def _check_capabilities(spec: Spec) -> None:
    """An unknown name is refused here, at create: it used to pass create and start, then kill the
    process as init set its capabilities (runc warns and drops it; a container never runs with
    other capabilities than it asked for)."""
    capset = spec.process.capabilities
    if capset is None:
        return
    from berth.linux import caps

    for kind in ("bounding", "effective", "inheritable", "permitted", "ambient"):
        for name in getattr(capset, kind):
            try:
                caps.number(name)
            except ValueError:
                raise InvalidArgument(
                    f"config.json: process.capabilities.{kind}: unknown capability {name!r}"
                ) from None


def warn_unsupported_lsm(spec: Spec) -> None:
    """AppArmor and SELinux fields are ignored, with a warning, where the host has no such LSM."""
    import sys

    if spec.process.apparmor_profile and not os.path.isdir("/sys/kernel/security/apparmor"):
        sys.stderr.write(
            f"berth-runtime: warning: apparmorProfile {spec.process.apparmor_profile!r} ignored: AppArmor is not enabled on this host\n"
        )
    selinux = spec.process.selinux_label or (spec.linux.mount_label if spec.linux else "")
    if selinux and not os.path.isdir("/sys/fs/selinux"):
        sys.stderr.write(
            f"berth-runtime: warning: SELinux label {selinux!r} ignored: SELinux is not enabled on this host\n"
        )
