"""mount(2), umount2(2) and pivot_root(2)."""

from berth.linux.libc import check, libc, syscall

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000
MS_PROPAGATION = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE

MNT_DETACH = 0x2


def _b(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    ret = libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    check(ret, f"mount {fstype or source or ''} on {target}", target)


def umount2(target: str, flags: int = 0) -> None:
    check(libc.umount2(_b(target), flags), f"umount {target}", target)


def pivot_root(new_root: str, put_old: str) -> None:
    syscall("pivot_root", _b(new_root), _b(put_old))


def private_mount_namespace() -> None:
    """A mount namespace of the caller's own, a slave of the host's: what is
    mounted here never propagates back, and goes away with the process.
    Must be called while the process has one thread (unshare refuses CLONE_NEWNS otherwise)."""
    from berth.linux import ns

    ns.unshare(ns.CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_SLAVE)


def mount_all(mounts: list[dict], target: str, idmap: int = -1, maps: tuple | None = None) -> None:
    """Mount a snapshot's mounts (as data: type, source, options, cwd) at target,
    in the calling process's mount namespace. `idmap`: a user namespace whose maps shift the
    owners of an overlay's lower layers (the image's files, as a container with those maps
    sees them); its upper layer keeps the owners its writers have on the host. `maps` (its uid
    and gid maps): where the kernel refuses to idmap a layer, chowned copies of the layers with
    those maps are the lower layers instead (berth.linux.idmap.shifted_copy)."""
    import os

    for mnt in mounts:
        options = list(mnt.get("options", []))
        cwd = mnt.get("cwd") or None
        if mnt["type"] == "bind":
            mount(mnt["source"], target, None, MS_BIND | (MS_REC if "rbind" in options else 0))
            if "ro" in options:
                mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
            continue
        here = os.getcwd()
        if cwd:
            os.chdir(cwd)  # the options' paths are relative to it (deep layer chains)
        held: list[int] = []
        stack = os.path.join(os.path.dirname(target), ".idmapped")  # where the idmapped layers are attached
        try:
            if idmap >= 0 and mnt["type"] == "overlay":
                os.makedirs(stack, exist_ok=True)
                options = _idmapped_lowers(options, idmap, held, stack, maps)
            flags = MS_RDONLY if "ro" in options else 0
            data = ",".join(o for o in options if o not in ("ro", "rw"))
            mount(mnt["source"], target, mnt["type"], flags, data)
        finally:
            for fd in held:  # overlay keeps clones of its layers: the idmapped trees can go
                os.close(fd)
                umount2(stack, MNT_DETACH)
            os.chdir(here)


def _idmapped_lowers(options: list[str], userns: int, held: list[int], stack: str, maps: tuple | None) -> list[str]:
    from berth.linux.idmap import idmapped_tree, shifted_copy

    out = []
    for option in options:
        if option.startswith("lowerdir="):
            paths = option[len("lowerdir=") :].split(":")
            lowers = []
            try:
                for path in paths:
                    held.append(idmapped_tree(path, userns, stack))
                    lowers.append(f"/proc/self/fd/{held[-1]}")
            except OSError as e:
                if maps is None:
                    raise OSError(e.errno, f"idmapping the image's layers: {e.strerror}: a user namespace needs "
                                           "idmapped mounts of the store's file system (Linux 5.19 or later)") from None  # fmt: skip
                lowers = [shifted_copy(path, *maps) for path in paths]  # (trees attached already go with the stack)
            option = "lowerdir=" + ":".join(lowers)
        out.append(option)
    return out
