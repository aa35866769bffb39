"""OCI mount options -> mount(2) flags, propagation flags and fs data."""

from berth.linux import mount as m

# option -> (flag, set it?)
_FLAGS = {
    "ro": (m.MS_RDONLY, True), "rw": (m.MS_RDONLY, False),
    "nosuid": (m.MS_NOSUID, True), "suid": (m.MS_NOSUID, False),
    "nodev": (m.MS_NODEV, True), "dev": (m.MS_NODEV, False),
    "noexec": (m.MS_NOEXEC, True), "exec": (m.MS_NOEXEC, False),
    "sync": (m.MS_SYNCHRONOUS, True), "async": (m.MS_SYNCHRONOUS, False),
    "dirsync": (m.MS_DIRSYNC, True), "remount": (m.MS_REMOUNT, True),
    "mand": (m.MS_MANDLOCK, True), "nomand": (m.MS_MANDLOCK, False),
    "atime": (m.MS_NOATIME, False), "noatime": (m.MS_NOATIME, True),
    "diratime": (m.MS_NODIRATIME, False), "nodiratime": (m.MS_NODIRATIME, True),
    "bind": (m.MS_BIND, True), "rbind": (m.MS_BIND | m.MS_REC, True),
    "relatime": (m.MS_RELATIME, True), "norelatime": (m.MS_RELATIME, False),
    "strictatime": (m.MS_STRICTATIME, True), "nostrictatime": (m.MS_STRICTATIME, False),
    "nosymfollow": (m.MS_NOSYMFOLLOW, True), "symfollow": (m.MS_NOSYMFOLLOW, False),
    "lazytime": (m.MS_LAZYTIME, True), "nolazytime": (m.MS_LAZYTIME, False),
}  # fmt: skip
_PROPAGATION = {
    "private": m.MS_PRIVATE, "rprivate": m.MS_PRIVATE | m.MS_REC,
    "shared": m.MS_SHARED, "rshared": m.MS_SHARED | m.MS_REC,
    "slave": m.MS_SLAVE, "rslave": m.MS_SLAVE | m.MS_REC,
    "unbindable": m.MS_UNBINDABLE, "runbindable": m.MS_UNBINDABLE | m.MS_REC,
}  # fmt: skip
# options berth accepts and has nothing to do for
_IGNORED = {"tmpcopyup", "defaults", "idmap", "ridmap"}


class MountOptions:
    __slots__ = ("flags", "propagation", "data")

    def __init__(self, flags: int, propagation: tuple[int, ...], data: str) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data


def parse(options: "tuple[str, ...] | list[str]") -> MountOptions:
    flags = 0
    propagation = []
    data = []
    for opt in options:
        if opt in _FLAGS:
            flag, on = _FLAGS[opt]
            flags = flags | flag if on else flags & ~flag
        elif opt in _PROPAGATION:
            propagation.append(_PROPAGATION[opt])
        elif opt not in _IGNORED:
            data.append(opt)
    return MountOptions(flags, tuple(propagation), ",".join(data))


def rootfs_propagation(value: str) -> int:
    """linux.rootfsPropagation -> flags for `/`; rslave unless the spec says otherwise."""
    if not value:
        return m.MS_SLAVE | m.MS_REC
    try:
        return _PROPAGATION[value] | m.MS_REC
    except KeyError:
        raise ValueError(f"invalid rootfsPropagation {value!r}") from None
