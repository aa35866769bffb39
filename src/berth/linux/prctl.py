"""prctl(2) operations berth needs."""

from berth.linux.libc import check, libc

PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return check(libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def set_thread_name(name: str) -> None:
    """The calling thread's name as ps, top and /proc/PID/task/TID/comm show it (15 bytes at most)."""
    check(libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0), "prctl(PR_SET_NAME)")


def set_dumpable(on: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if on else 0)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_keepcaps(on: bool) -> None:
    prctl(PR_SET_KEEPCAPS, 1 if on else 0)


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_seccomp_filter(program: bytes) -> None:
    """Load a compiled classic-BPF seccomp program (struct sock_filter[]): needs no_new_privs or CAP_SYS_ADMIN."""
    from berth.linux.libc import Structure, addressof, byref, c_char, c_ushort, c_void_p

    class SockFprog(Structure):
        _fields_ = [("len", c_ushort), ("filter", c_void_p)]

    buf = (c_char * len(program)).from_buffer_copy(program)
    fprog = SockFprog(len(program) // 8, addressof(buf))
    # a pointer: passed as one (prctl() takes plain ints, which ctypes would cut to 32 bits)
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, byref(fprog), 0, 0), "prctl(PR_SET_SECCOMP)")
