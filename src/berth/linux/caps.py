"""Capabilities: names, the bounding and ambient sets, and capset(2)."""

from berth.linux import prctl as _prctl
from berth.linux.libc import Structure, byref, c_int, c_uint32, check, libc

NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
NUMBERS = {name: i for i, name in enumerate(NAMES)}
_VERSION_3 = 0x20080522


_last_cap: list[int] = []  # read once: bounding and ambient sets both walk it


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    if not _last_cap:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _last_cap.append(min(int(f.read()), len(NAMES) - 1))
        except OSError:
            _last_cap.append(len(NAMES) - 1)
    return _last_cap[0]


def number(name: str) -> int:
    """CAP_SYS_ADMIN, SYS_ADMIN or sys_admin -> 21."""
    key = name.upper()
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    try:
        return NUMBERS[key]
    except KeyError:
        raise ValueError(f"unknown capability {name!r}") from None


def mask(names: "list[str] | tuple[str, ...]") -> int:
    m = 0
    for n in names:
        m |= 1 << number(n)
    return m


def names_of(m: int) -> list[str]:
    return [NAMES[i] for i in range(len(NAMES)) if m >> i & 1]


class _Header(Structure):
    _fields_ = [("version", c_uint32), ("pid", c_int)]


class _Data(Structure):
    _fields_ = [("effective", c_uint32), ("permitted", c_uint32), ("inheritable", c_uint32)]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _Header(_VERSION_3, 0)
    data = (_Data * 2)()
    for i, shift in enumerate((0, 32)):
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    check(libc.capset(byref(hdr), data), "capset")


def drop_bounding(keep: int) -> None:
    for cap in range(last_cap() + 1):
        if not keep >> cap & 1:
            _prctl.prctl(_prctl.PR_CAPBSET_DROP, cap)


def set_ambient(caps: int, inheritable: int, permitted: int) -> None:
    """Raise the ambient caps the kernel allows: those also inheritable and permitted.

    runc's default spec lists ambient caps without inheritable ones (CVE-2022-29162);
    like runc, berth skips what cannot be raised rather than failing.
    """
    _prctl.prctl(_prctl.PR_CAP_AMBIENT, _prctl.PR_CAP_AMBIENT_CLEAR_ALL)
    allowed = caps & inheritable & permitted
    for cap in range(last_cap() + 1):
        if allowed >> cap & 1:
            _prctl.prctl(_prctl.PR_CAP_AMBIENT, _prctl.PR_CAP_AMBIENT_RAISE, cap)
