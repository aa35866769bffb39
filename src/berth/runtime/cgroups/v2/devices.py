"""Device control on cgroup v2: the rules become an eBPF program of type
BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's cgroup.

The kernel runs the program on every open and mknod of a char or block device by a
process in the cgroup (and in its children); it returns 1 to allow, 0 to deny, and a
denied access fails with EPERM. Attached with BPF_F_ALLOW_MULTI, the programs of the
parent cgroups run too, and all must allow. The program lives as long as the cgroup:
removing the cgroup frees it, so destroy has nothing more to do.

Semantics, the same as the v1 lines berth writes: the rules apply in order, the last one
that matches decides, and nothing matching is a deny. An allow rule matches an access
when it grants every part of it (mknod, read, write); a deny rule when it denies any part.
"""

from __future__ import annotations

import os

from berth.errors import FailedPrecondition
from berth.linux import bpf
from berth.oci.runtime_spec import DeviceRule

NAME = "devices"

# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }:
# access_type is the device type (1 block, 2 char) in its low 16 bits, the access in its high
_TYPE = {"b": 1, "c": 2}
_ACCESS = {"m": 1, "r": 2, "w": 4}

# opcodes (class | op | source)
_LDX_W = 0x61  # dst = *(u32 *)(src + off)
_AND_K = 0x57  # dst &= imm (64-bit)
_RSH_K = 0x77  # dst >>= imm
_MOV_X = 0xBF  # dst = src
_MOV_K = 0xB7  # dst = imm
_JNE_K = 0x55  # if dst != imm: pc += off
_JEQ_K = 0x15  # if dst == imm: pc += off
_EXIT = 0x95

# registers: r1 the context (then scratch), r2 type, r3 access, r4 major, r5 minor, r0 the verdict
_PROLOGUE = ((_LDX_W, 2, 1, 0, 0), (_AND_K, 2, 0, 0, 0xFFFF), (_LDX_W, 3, 1, 0, 0), (_RSH_K, 3, 0, 0, 16),
             (_LDX_W, 4, 1, 4, 0), (_LDX_W, 5, 1, 8, 0))  # fmt: skip


def _insn(code: int, dst: int, src: int, off: int, imm: int) -> bytes:
    return (bytes((code, src << 4 | dst)) + off.to_bytes(2, "little", signed=True)
            + imm.to_bytes(4, "little", signed=True))  # fmt: skip


def _access_bits(access: str) -> int:
    bits = 0
    for ch in access or "rwm":
        if ch not in _ACCESS:
            raise FailedPrecondition(f"device rule: invalid access {access!r} (r, w and m)")
        bits |= _ACCESS[ch]
    return bits


def _block(rule: DeviceRule) -> list[tuple[int, int, int, int, int]]:
    """The instructions of one rule: tests that jump past the block when the rule does not
    match (their offsets filled in by the caller), then the verdict."""
    tests: list[tuple[int, int, int, int, int]] = []
    if rule.type != "a":
        if rule.type not in _TYPE:
            raise FailedPrecondition(f"device rule: invalid type {rule.type!r} (a, b or c)")
        tests.append((_JNE_K, 2, 0, 0, _TYPE[rule.type]))
        bits = _access_bits(rule.access)
        if rule.allow and bits != 7:  # allow: nothing asked beyond what it grants
            tests += [(_MOV_X, 1, 3, 0, 0), (_AND_K, 1, 0, 0, 7 & ~bits), (_JNE_K, 1, 0, 0, 0)]
        elif not rule.allow and bits != 7:  # deny: some of what it denies is asked
            tests += [(_MOV_X, 1, 3, 0, 0), (_AND_K, 1, 0, 0, bits), (_JEQ_K, 1, 0, 0, 0)]
        if rule.major is not None and rule.major >= 0:
            tests.append((_JNE_K, 4, 0, 0, rule.major))
        if rule.minor is not None and rule.minor >= 0:
            tests.append((_JNE_K, 5, 0, 0, rule.minor))
    verdict = [(_MOV_K, 0, 0, 0, int(rule.allow)), (_EXIT, 0, 0, 0, 0)]
    n = len(tests) + len(verdict)
    # a jump's offset counts from the next instruction: past this block is n - i - 1 ahead
    return [
        (c, d, s, n - i - 1 if c in (_JNE_K, _JEQ_K) else o, m) for i, (c, d, s, o, m) in enumerate(tests)
    ] + verdict


def program(rules: list[DeviceRule]) -> bytes:
    """The program for `rules`, checked last to first so that the last match decides."""
    code: list[tuple[int, int, int, int, int]] = list(_PROLOGUE)
    for rule in reversed(rules):
        code += _block(rule)
        if rule.type == "a":
            break  # an "a" rule matches everything: the rules before it can never decide
    else:
        code += [(_MOV_K, 0, 0, 0, 0), (_EXIT, 0, 0, 0, 0)]
    return b"".join(_insn(*i) for i in code)


def apply(directory: str, rules: list[DeviceRule]) -> None:
    """Load the program for `rules` and attach it to the cgroup at `directory`. Failing
    raises: a container never runs without the device filter it was given."""
    insns = program(rules)
    try:
        prog = bpf.prog_load(bpf.PROG_TYPE_CGROUP_DEVICE, insns)
    except OSError as e:
        raise FailedPrecondition(f"cgroup v2 device filter: {e.strerror}") from None
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            bpf.prog_attach(fd, prog, bpf.ATTACH_CGROUP_DEVICE, bpf.F_ALLOW_MULTI)
        finally:
            os.close(fd)
    except OSError as e:
        raise FailedPrecondition(f"cgroup v2 device filter: attaching to {directory}: {e.strerror}") from None
    finally:
        os.close(prog)
