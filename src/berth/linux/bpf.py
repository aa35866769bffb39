"""bpf(2): load a program, attach it to a cgroup, list what a cgroup has attached.

Only what cgroup v2 device control needs. The attribute unions are built as the
kernel reads them (zeroed past the fields set, as it insists), on `_ctypes` like the
rest of this layer.
"""

from __future__ import annotations

import os

from berth.linux.libc import Structure, addressof, byref, c_char, c_uint32, c_uint64, sizeof, syscall

PROG_TYPE_CGROUP_DEVICE = 15
ATTACH_CGROUP_DEVICE = 6
F_ALLOW_MULTI = 1 << 1

_PROG_LOAD = 5
_PROG_ATTACH = 8
_PROG_QUERY = 16
_LOG_SIZE = 1 << 16


class _ProgLoad(Structure):
    _fields_ = [("prog_type", c_uint32), ("insn_cnt", c_uint32), ("insns", c_uint64), ("license", c_uint64),
                ("log_level", c_uint32), ("log_size", c_uint32), ("log_buf", c_uint64),
                ("kern_version", c_uint32), ("prog_flags", c_uint32), ("_rest", c_uint64 * 12)]  # fmt: skip


class _ProgAttach(Structure):
    _fields_ = [("target_fd", c_uint32), ("attach_bpf_fd", c_uint32), ("attach_type", c_uint32),
                ("attach_flags", c_uint32), ("replace_bpf_fd", c_uint32), ("_rest", c_uint32 * 11)]  # fmt: skip


class _ProgQuery(Structure):
    _fields_ = [("target_fd", c_uint32), ("attach_type", c_uint32), ("query_flags", c_uint32),
                ("attach_flags", c_uint32), ("prog_ids", c_uint64), ("prog_cnt", c_uint32),
                ("_rest", c_uint32 * 9)]  # fmt: skip


def prog_load(prog_type: int, instructions: bytes, license: str = "Apache") -> int:
    """Load a program; return its fd. A program the verifier refuses raises OSError with
    the verifier's last line, loaded a second time with its log on to say why."""
    insns = (c_char * len(instructions)).from_buffer_copy(instructions)  # kept alive while the kernel reads
    lic = (c_char * (len(license) + 1)).from_buffer_copy(license.encode() + b"\0")
    attr = _ProgLoad(prog_type=prog_type, insn_cnt=len(instructions) // 8, insns=addressof(insns),
                     license=addressof(lic))  # fmt: skip
    try:
        return syscall("bpf", _PROG_LOAD, byref(attr), sizeof(attr))
    except OSError as e:
        first = e
    log = (c_char * _LOG_SIZE)()
    attr.log_level, attr.log_size, attr.log_buf = 1, _LOG_SIZE, addressof(log)
    try:
        return syscall("bpf", _PROG_LOAD, byref(attr), sizeof(attr))  # loaded after all: let it be
    except OSError:
        pass
    text = log.value.decode(errors="replace").strip().splitlines()
    why = f" (verifier: {text[-1]})" if text else ""
    raise OSError(first.errno, f"bpf: loading the program: {os.strerror(first.errno)}{why}") from None


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    attr = _ProgAttach(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type, attach_flags=flags)
    syscall("bpf", _PROG_ATTACH, byref(attr), sizeof(attr))


def prog_query(target_fd: int, attach_type: int) -> list[int]:
    """The ids of the programs attached to a cgroup directly (not inherited) for attach_type."""
    ids = (c_uint32 * 64)()
    attr = _ProgQuery(target_fd=target_fd, attach_type=attach_type, prog_ids=addressof(ids), prog_cnt=64)
    syscall("bpf", _PROG_QUERY, byref(attr), sizeof(attr))
    return list(ids[: attr.prog_cnt])
