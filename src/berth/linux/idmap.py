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


def shifted_id(maps: Maps, inside: int) -> int:
    """The id outside that `inside` is under the maps (65534, the overflow id, if none maps it)."""
    for first, outside, count in maps:
        if first <= inside < first + count:
            return outside + inside - first
    return 65534


def shifted_copy(layer: str, uid_maps: Maps, gid_maps: Maps) -> str:
    """A copy of the layer directory (relative to the working directory) whose owners are shifted
    by the maps, made once per layer and maps beside it (`<layer>-idmap-<key>`, so it goes with
    the layer) and kept for the next container with those maps: what a user namespace's
    container sees where the kernel cannot idmap the layer (an ordinary user's berth on the
    host's file system, a file system without idmapped mounts). Podman's fallback, the same."""
    import hashlib

    key = hashlib.sha256((map_text(uid_maps) + "/" + map_text(gid_maps)).encode()).hexdigest()[:12]
    source = os.path.realpath(layer)
    target = f"{source}-idmap-{key}"
    if os.path.isdir(target):
        return target
    scratch = f"{target}.{os.getpid()}"
    _copy_tree(source, scratch, uid_maps, gid_maps)
    try:
        os.rename(scratch, target)
    except OSError:  # another container's start made it meanwhile
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _copy_tree(source: str, target: str, uid_maps: Maps, gid_maps: Maps) -> None:
    import shutil
    import stat

    linked: dict[tuple[int, int], str] = {}  # hard links stay links within the copy
    for top, dirs, files in os.walk(source):
        here = target if top == source else os.path.join(target, os.path.relpath(top, source))
        entries = [(top, here, True)] + [(os.path.join(top, n), os.path.join(here, n), False) for n in files + [
            d for d in dirs if os.path.islink(os.path.join(top, d))]]  # fmt: skip
        for src, dst, is_top in entries:
            st = os.lstat(src)
            mode = stat.S_IMODE(st.st_mode)
            if is_top:
                os.mkdir(dst, 0o700)
            elif (st.st_dev, st.st_ino) in linked and not stat.S_ISDIR(st.st_mode):
                os.link(linked[(st.st_dev, st.st_ino)], dst)
                continue
            elif stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISREG(st.st_mode):
                shutil.copyfile(src, dst, follow_symlinks=False)
            else:  # whiteouts (0/0 character devices), fifos, device nodes
                os.mknod(dst, st.st_mode, st.st_rdev)
            if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
                linked[(st.st_dev, st.st_ino)] = dst
            os.lchown(dst, shifted_id(uid_maps, st.st_uid), shifted_id(gid_maps, st.st_gid))
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(dst, mode)  # after chown, which clears set-id bits
            for name in _xattrs(src):
                try:
                    os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
                except OSError:
                    pass  # trusted.* needs the host's CAP_SYS_ADMIN: an ordinary user's layers have none
            os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]


def _xattrs(path: str) -> list[str]:
    try:
        return os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
