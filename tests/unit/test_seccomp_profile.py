"""berth's default seccomp profile as data: what it allows, refuses and how."""

import errno

from berth.engine.seccomp import CLONE_NAMESPACE_FLAGS, default_profile, docker_profile
from berth.engine.spec import DOCKER_CAPS


def rules_for(profile, name):
    return [r for r in profile.syscalls if name in r.names]


def test_default_profile_shape():
    p = default_profile(DOCKER_CAPS)
    assert p.default_action == "SCMP_ACT_ERRNO" and p.default_errno_ret == errno.ENOSYS  # the unknown: ENOSYS
    for name in ("mount", "umount2", "unshare", "setns", "keyctl", "add_key", "kexec_load", "init_module", "bpf",
                 "perf_event_open", "clock_settime", "reboot", "swapon", "open_by_handle_at", "io_uring_setup",
                 "fsopen", "move_mount", "pivot_root"):  # fmt: skip
        (rule,) = rules_for(p, name)
        assert rule.action == "SCMP_ACT_ERRNO" and rule.errno_ret == errno.EPERM, name
    (clone3,) = rules_for(p, "clone3")
    assert clone3.errno_ret == errno.ENOSYS
    (clone,) = rules_for(p, "clone")
    assert clone.action == "SCMP_ACT_ALLOW" and clone.args[0].value == CLONE_NAMESPACE_FLAGS
    assert clone.args[0].op == "SCMP_CMP_MASKED_EQ" and clone.args[0].value_two == 0
    assert {a.args[0].value for a in rules_for(p, "personality")} == {0, 8, 0x20000, 0x20008, 0xFFFFFFFF}
    for name in ("read", "execve", "openat", "chroot", "ptrace", "setuid"):
        assert rules_for(p, name)[0].action == "SCMP_ACT_ALLOW", name


def test_capabilities_unlock_their_syscalls():
    admin = default_profile((*DOCKER_CAPS, "CAP_SYS_ADMIN"))
    for name in ("mount", "unshare", "setns", "clone3"):
        assert rules_for(admin, name)[0].action == "SCMP_ACT_ALLOW", name
    assert not rules_for(admin, "clone")[0].args  # clone with any flags
    assert rules_for(admin, "keyctl")[0].action == "SCMP_ACT_ERRNO"  # never
    time = default_profile((*DOCKER_CAPS, "CAP_SYS_TIME"))
    assert rules_for(time, "clock_settime")[0].action == "SCMP_ACT_ALLOW"
    assert rules_for(time, "mount")[0].action == "SCMP_ACT_ERRNO"


def test_docker_format_with_includes_and_excludes():
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}], "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}  # fmt: skip
    plain = docker_profile(doc, DOCKER_CAPS, "p.json")
    assert [r.names for r in plain.syscalls] == [("read",), ("ptrace",), ("personality",)]
    assert plain.architectures == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86") and plain.default_errno_ret == 1
    admin = docker_profile(doc, (*DOCKER_CAPS, "CAP_SYS_ADMIN"), "p.json")
    assert [r.names for r in admin.syscalls] == [("read",), ("mount",), ("personality",)]
    import pytest

    from berth.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="defaultAction is missing"):
        docker_profile({"syscalls": []}, DOCKER_CAPS, "p.json")
