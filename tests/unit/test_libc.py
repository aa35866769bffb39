"""berth.linux.libc against ctypes itself: the same sizes, layouts, calls and errno, so a
Python whose `_ctypes` changes fails here rather than in a container's start."""

import ctypes
import errno
import os

import pytest

from berth.linux import libc as lc
from berth.linux.caps import _Data, _Header
from berth.linux.netdev import _IfReq
from berth.linux.openat2 import _OpenHow
from berth.linux.rlimit import _Rlimit

SIMPLE = {"c_char": ctypes.c_char, "c_short": ctypes.c_short, "c_ushort": ctypes.c_ushort, "c_int": ctypes.c_int,
          "c_uint32": ctypes.c_uint32, "c_long": ctypes.c_long, "c_uint64": ctypes.c_uint64, "c_void_p": ctypes.c_void_p}  # fmt: skip


@pytest.mark.parametrize("name", SIMPLE)
def test_simple_types_are_ctypes_own(name):
    ours, theirs = getattr(lc, name), SIMPLE[name]
    assert (lc.sizeof(ours), ctypes.alignment(ours)) == (ctypes.sizeof(theirs), ctypes.alignment(theirs))
    if name not in ("c_char", "c_void_p"):  # integers: the same signedness
        assert ours(-1).value == theirs(-1).value


def test_structures_lay_out_as_the_kernel_wants():
    assert (lc.sizeof(_Header), lc.sizeof(_Data), lc.sizeof(_IfReq), lc.sizeof(_OpenHow), lc.sizeof(_Rlimit)) == (
        8, 12, 40, 24, 16)  # fmt: skip
    assert _IfReq.flags.offset == 16
    req = _IfReq(b"lo")
    assert req.name == b"lo" and bytes(req)[:3] == b"lo\0"


def test_calls_return_and_keep_errno():
    assert lc.libc.getpid() == os.getpid()
    assert lc.libc.close(-1) == -1 and ctypes.get_errno() in (0, errno.EBADF)  # ours keeps its own copy
    with pytest.raises(OSError) as e:
        lc.check(lc.libc.close(-1), "close")
    assert e.value.errno == errno.EBADF and "Bad file descriptor" in str(e.value)


def test_syscall_returns_a_long_and_pointers_pass():
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        got = lc.syscall("openat2", fd, b"proc", lc.byref(_OpenHow(os.O_PATH | os.O_CLOEXEC, 0, 0x10)),
                         lc.sizeof(_OpenHow))  # fmt: skip
        assert os.path.samestat(os.fstat(got), os.stat("/proc"))
        os.close(got)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as e:
        lc.syscall("openat2", -1, b"x", lc.byref(_OpenHow(0, 0, 0)), lc.sizeof(_OpenHow))
    assert e.value.errno == errno.EBADF


def test_the_runtime_path_does_not_import_ctypes():
    import subprocess
    import sys

    code = ("import sys, berth.runtime.cli, berth.runtime.container_run, berth.runtime.container_exec; "
            "print('ctypes' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "False\n"
