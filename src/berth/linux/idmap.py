"""Idmapped mounts (mount_setattr with MOUNT_ATTR_IDMAP): a tree seen with its owners shifted
by a user namespace's maps, without a copy, and the user namespace that carries the maps."""

from __future__ import annotations

import os

from berth.linux import ns
from berth.linux.libc import Structure, byref, c_int, c_uint64, sizeof, syscall

OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
MOUNT_ATTR_IDMAP = 0x00100000
MOVE_MOUNT_F_EMPTY_PATH = 0x4

Maps = tuple[tuple[int, int, int], ...]  # (first id inside, first id outside, count)


class _MountAttr(Structure):
    _fields_ = [("attr_set", c_uint64), ("attr_clr", c_uint64), ("propagation", c_uint64), ("userns_fd", c_uint64)]


def map_text(maps: Maps) -> str:
    """The maps as /proc/PID/uid_map takes them."""
    return "".join(f"{inside} {outside} {count}\n" for inside, outside, count in maps)


def userns_fd(uid_maps: Maps, gid_maps: Maps) -> int:
    """A user namespace with these maps, held by the returned descriptor alone: a child makes it
    and exits once its parent has written the maps and opened it."""

    def write_maps(pid: int) -> None:
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(map_text(maps))

    return ns.in_a_child(ns.CLONE_NEWUSER, write_maps, ("user",))[1]["user"]


def idmapped_tree(path: str, userns: int, attach_at: str) -> int:
    """A copy of the mount at `path` (relative to the working directory) whose owners are
    shifted by `userns`'s maps, attached at `attach_at` (over what is mounted there already):
    a descriptor, usable as a path through /proc/self/fd/N. Attached, because overlayfs before
    Linux 6.15 takes no detached mount as a layer ("failed to clone lowerpath")."""
    fd = syscall("open_tree", c_int(AT_FDCWD), path.encode(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
    try:
        attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns)
        syscall("mount_setattr", c_int(fd), b"", AT_EMPTY_PATH, byref(attr), sizeof(attr))
        syscall("move_mount", c_int(fd), b"", c_int(AT_FDCWD), attach_at.encode(), MOVE_MOUNT_F_EMPTY_PATH)
    except BaseException:
        os.close(fd)
        raise
    return fd
