"""A container's user namespace: which host ids its ids are, from `--userns`, `--uidmap` and
`--gidmap` (Podman's forms) or daemon.json's `userns-remap` (Docker's), checked before anything
is made.

`auto` gives each container a range of its own from the subordinate ids (/etc/subuid and
/etc/subgid) of daemon.json's `userns-auto-user` (`berth` unless set; made on first use, with a
range after every range given out already). A range stays the container's until it is removed,
so two containers never share one. `userns-remap` maps every container that does not opt out
(`--userns=host`) to one range, as Docker does: `default` is the first 65536 ids of the auto
user, a user's name all of that user's ranges."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument, Unsupported
from berth.oci.record import record

Maps = tuple[tuple[int, int, int], ...]  # (first id inside, first id on the host, count)

AUTO_USER = "berth"
AUTO_SIZE = 65536  # ids per `auto` container unless `auto:size=N`
NEW_RANGE = 65536 * 1024  # the range a user made on first use is given
LOCK = "userns.lock"  # under the root: held from a range's choice until its container's record is written
SUBUID, SUBGID = "/etc/subuid", "/etc/subgid"
MAX_ID = 1 << 32
OVERFLOW_ID = 65534  # the kernel's for an id a namespace does not map


@record
class IdMappings:
    mode: str  # auto, private (--uidmap/--gidmap), remap, or container (another's, joined)
    uid: Maps = ()
    gid: Maps = ()
    path: str = ""  # with mode container: the user namespace joined (/proc/PID/ns/user)

    def docker(self) -> dict:
        """inspect's HostConfig.IDMappings, Podman's shape."""
        return {"UidMap": [f"{a}:{b}:{n}" for a, b, n in self.uid], "GidMap": [f"{a}:{b}:{n}" for a, b, n in self.gid]}

    def inside(self, uid: int, gid: int) -> tuple[int, int]:
        """The container's ids of host ids (the overflow id, 65534, for one it does not map)."""
        return _inside(self.uid, uid), _inside(self.gid, gid)

    def root(self) -> tuple[int, int]:
        """The host's ids of the container's root (uid, gid)."""
        return self.host_ids(0, 0)

    def host_ids(self, uid: int, gid: int) -> tuple[int, int]:
        return host_id(self.uid, uid), host_id(self.gid, gid)


def host_id(maps: Maps, inside: int) -> int:
    for first, host, count in maps:
        if first <= inside < first + count:
            return host + inside - first
    raise InvalidArgument(f"id {inside} is not mapped: the maps must give the container a root (id 0)")


def _inside(maps: Maps, host: int) -> int:
    for first, start, count in maps:
        if start <= host < start + count:
            return first + host - start
    return OVERFLOW_ID


def parse_mode(text: str) -> tuple[str, int]:
    """--userns: ("", 0), ("host", 0) or ("auto", size)."""
    if text in ("", "host"):
        return text, 0
    if text == "auto" or text.startswith("auto:"):
        size = AUTO_SIZE
        for option in text[len("auto:") :].split(",") if ":" in text else ():
            key, _, value = option.partition("=")
            if key != "size" or not value.isdigit() or not 0 < int(value) <= MAX_ID:
                raise InvalidArgument(f"invalid --userns {text!r}: auto takes size=N (a positive number of ids)")
            size = int(value)
        return "auto", size
    if text in ("keep-id", "nomap"):
        return text, 0
    raise InvalidArgument(f"invalid --userns {text!r}: host, auto[:size=N], or --uidmap/--gidmap")


def parse_maps(entries: tuple[str, ...], flag: str) -> Maps:
    """--uidmap/--gidmap CONTAINER:HOST:SIZE entries: no two overlapping inside or on the host,
    and never the host's root."""
    maps = []
    for entry in entries:
        for part in entry.split(","):
            fields = part.split(":")
            if len(fields) != 3 or not all(f.isdigit() for f in fields) or int(fields[2]) == 0:
                raise InvalidArgument(f"invalid {flag} {part!r}: CONTAINER_ID:HOST_ID:SIZE (numbers, a size above 0)")
            inside, host, count = (int(f) for f in fields)
            if inside + count > MAX_ID or host + count > MAX_ID:
                raise InvalidArgument(f"invalid {flag} {part!r}: ids end at {MAX_ID - 1}")
            if host == 0:
                raise InvalidArgument(f"{flag} {part}: maps the host's root (id 0) into the container, which "
                                      "user namespaces are there to prevent: use ids from a subordinate range")  # fmt: skip
            maps.append((inside, host, count))
    for i, a in enumerate(maps):
        for b in maps[i + 1 :]:
            for side, what in ((0, "container"), (1, "host")):
                if a[side] < b[side] + b[2] and b[side] < a[side] + a[2]:
                    raise InvalidArgument(f"{flag}: {_text(a)} and {_text(b)} overlap on the {what}'s side")
    return tuple(maps)


def _text(m: tuple[int, int, int]) -> str:
    return f"{m[0]}:{m[1]}:{m[2]}"


def subordinate(user: str, path: str) -> list[tuple[int, int]]:
    """The user's ranges in /etc/subuid or /etc/subgid (by name or by uid), in file order."""
    import pwd

    try:
        uid = str(pwd.getpwnam(user).pw_uid)
    except KeyError:
        uid = ""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in (user, uid) and fields[1].isdigit() and fields[2].isdigit():
            out.append((int(fields[1]), int(fields[2])))
    return out


def _ranges_of(user: str, make: bool) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    uids, gids = subordinate(user, SUBUID), subordinate(user, SUBGID)
    if (not uids or not gids) and make:
        _make_user(user)
        uids, gids = subordinate(user, SUBUID), subordinate(user, SUBGID)
    if not uids or not gids:
        raise InvalidArgument(f"user {user} has no subordinate ids in {SUBUID} and {SUBGID}: add a range "
                              f"(usermod --add-subuids FIRST-LAST --add-subgids FIRST-LAST {user})")  # fmt: skip
    return uids, gids


def _make_user(user: str) -> None:
    """A system user with a range of its own after every range in the files (Docker's dockremap)."""
    import pwd
    import subprocess

    try:
        pwd.getpwnam(user)
    except KeyError:
        proc = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell",
                               "/usr/sbin/nologin", user], capture_output=True, text=True)  # fmt: skip
        if proc.returncode != 0:
            raise InvalidArgument(f"making the user {user} for user namespaces: {proc.stderr.strip()}") from None
    first = 100000
    for path in (SUBUID, SUBGID):
        for line in _lines(path):
            fields = line.split(":")
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                first = max(first, int(fields[1]) + int(fields[2]))
    for path in (SUBUID, SUBGID):
        if not subordinate(user, path):
            with open(path, "a") as f:
                f.write(f"{user}:{first}:{NEW_RANGE}\n")


def _lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def settings() -> tuple[str, str]:
    """daemon.json's (userns-remap, userns-auto-user)."""
    from berth import daemon_config

    doc = daemon_config.load()
    remap, auto = doc.get("userns-remap", ""), doc.get("userns-auto-user", AUTO_USER)
    for key, value in (("userns-remap", remap), ("userns-auto-user", auto)):
        if not isinstance(value, str):
            raise InvalidArgument(f"daemon.json: {key} must be a string (a user's name)")
    return remap, auto or AUTO_USER


def remap_maps(remap: str, auto_user: str) -> IdMappings:
    """Docker's userns-remap: `default` (the auto user's first 65536 ids) or USER[:GROUP]."""
    if remap == "default":
        uids, gids = _ranges_of(auto_user, make=True)
        return IdMappings(mode="remap", uid=((0, uids[0][0], min(uids[0][1], AUTO_SIZE)),),
                          gid=((0, gids[0][0], min(gids[0][1], AUTO_SIZE)),))  # fmt: skip
    user, _, group = remap.partition(":")
    uids = subordinate(user, SUBUID)
    gids = subordinate(group or user, SUBGID)
    if not uids or not gids:
        raise InvalidArgument(f"daemon.json: userns-remap {remap!r}: no subordinate ids for it in {SUBUID} and "
                              f"{SUBGID}: add a range, or use \"default\"")  # fmt: skip
    return IdMappings(mode="remap", uid=_concatenated(uids), gid=_concatenated(gids))


def _concatenated(ranges: list[tuple[int, int]]) -> Maps:
    out, inside = [], 0
    for first, count in ranges:
        out.append((inside, first, count))
        inside += count
    return tuple(out)


def check(opts) -> None:
    """The flags' forms, before anything is looked up or made."""
    from berth.engine import rootless

    mode, _ = parse_mode(opts.userns)
    if (opts.uidmap or opts.gidmap) and mode:
        raise InvalidArgument(f"--userns={opts.userns} and --uidmap/--gidmap: use one or the other")
    if mode in ("keep-id", "nomap") and not rootless.active():
        raise Unsupported(f"--userns={mode} is for rootless berth, which runs as a user: as root use auto or --uidmap")
    if (opts.uidmap or opts.gidmap) and rootless.active():
        raise Unsupported(
            "rootless berth: --uidmap and --gidmap are not there yet: use --userns=auto, keep-id or nomap"
        )
    for entries, flag in ((opts.uidmap, "--uidmap"), (opts.gidmap, "--gidmap")):
        if entries:
            host_id(parse_maps(entries, flag), 0)


def wanted(opts) -> bool:
    """Whether the container may get a user namespace: asked for, or daemon.json's remap (root's)."""
    from berth.engine import rootless

    if opts.uidmap or opts.gidmap or opts.userns not in ("", "host"):
        return True
    return not opts.userns and not rootless.active() and bool(settings()[0])


def choose(opts, taken: list[IdMappings]) -> IdMappings | None:
    """The container's maps (None: the host's ids). `taken`: the maps of the containers there
    are, which an auto range never overlaps. Called under the root's LOCK."""
    from berth.engine import rootless

    mode, size = parse_mode(opts.userns)
    if rootless.active():
        return _checked(_rootless(mode, size, taken), opts)
    if opts.uidmap or opts.gidmap:
        uid = parse_maps(opts.uidmap, "--uidmap") if opts.uidmap else None
        gid = parse_maps(opts.gidmap, "--gidmap") if opts.gidmap else None
        maps = IdMappings(mode="private", uid=uid or gid, gid=gid or uid)
        maps.root()  # the container has a root
        return _checked(maps, opts)
    if mode == "host":
        return None
    remap, auto_user = settings()
    if mode == "auto":
        uids, gids = _ranges_of(auto_user, make=True)
        reserved = [remap_maps(remap, auto_user)] if remap else []
        uid = _free(uids, size, [r for m in taken + reserved for r in m.uid], auto_user, SUBUID)
        gid = _free(gids, size, [r for m in taken + reserved for r in m.gid], auto_user, SUBGID)
        return _checked(IdMappings(mode="auto", uid=((0, uid, size),), gid=((0, gid, size),)), opts)
    if remap:
        return _checked(remap_maps(remap, auto_user), opts)
    return None


def _rootless(mode: str, size: int, taken: list[IdMappings]) -> IdMappings:
    """Rootless berth's maps: a container's ids are among those of the user's own namespace (the
    user's uid as 0, then the user's subordinate ids), Podman's modes. keep-id: the user's host
    uid and gid are the container's same ids (files the user owns stay the user's inside);
    nomap: the user's own ids are not in the container at all; auto: a range of the subordinate
    ids of its own."""
    sizes = [_own_size(f"/proc/self/{name}") for name in ("uid_map", "gid_map")]
    if mode == "keep-id":
        user, group = (_outside_of_root(f"/proc/self/{name}") for name in ("uid_map", "gid_map"))
        return IdMappings(mode="keep-id", uid=_kept(user, sizes[0]), gid=_kept(group, sizes[1]))
    if mode == "nomap":
        return IdMappings(mode="nomap", uid=((0, 1, sizes[0] - 1),), gid=((0, 1, sizes[1] - 1),))
    uid = _free([(1, sizes[0] - 1)], size, [r for m in taken for r in m.uid], "this user", SUBUID)
    gid = _free([(1, sizes[1] - 1)], size, [r for m in taken for r in m.gid], "this user", SUBGID)
    return IdMappings(mode="auto", uid=((0, uid, size),), gid=((0, gid, size),))


def _kept(own: int, total: int) -> Maps:
    """keep-id's map: the container's `own` is the namespace's 0 (the user), the rest in order."""
    if own + 1 >= total:
        raise InvalidArgument(f"--userns=keep-id: id {own} is beyond the {total - 1} subordinate ids of the user's "
                              "namespace: ask root for a larger range")  # fmt: skip
    return ((0, 1, own), (own, 0, 1), (own + 1, own + 1, total - 1 - own))


def _own_size(path: str) -> int:
    with open(path) as f:
        return sum(int(line.split()[2]) for line in f if line.strip())


def _outside_of_root(path: str) -> int:
    """The host id that this namespace's 0 is (the user's own)."""
    with open(path) as f:
        return next(int(fields[1]) for fields in (line.split() for line in f) if fields and fields[0] == "0")


def _checked(maps: IdMappings, opts) -> IdMappings:
    if opts.privileged:
        raise InvalidArgument("privileged mode is incompatible with user namespaces: run it with --userns=host")
    return maps


def _free(ranges: list[tuple[int, int]], size: int, used: list[tuple[int, int, int]], user: str, path: str) -> int:
    """The first id of `size` ids in `ranges` that no map in `used` holds."""
    busy = sorted((host, host + count) for _, host, count in used)
    for first, count in ranges:
        start, end = first, first + count
        for low, high in busy:
            if start + size <= low:
                break
            if high > start:
                start = max(start, high)
        if start + size <= end:
            return start
    total = sum(count for _, count in ranges)
    raise InvalidArgument(f"--userns=auto: no {size} free ids left in {user}'s {total} subordinate ids ({path}): "
                          f"remove containers, ask for a smaller size=N, or give {user} a larger range")  # fmt: skip


def joined(opts, donor: str, maps: IdMappings | None, pid: int) -> IdMappings | None:
    """A container sharing another's namespaces (--pid, --ipc, --uts or --network
    container:NAME) shares its user namespace too, as Docker's do: that namespace owns them."""
    if opts.userns or opts.uidmap or opts.gidmap:
        raise InvalidArgument(f"--userns, --uidmap and --gidmap cannot be set for a container sharing {donor}'s "
                              "namespaces: it is in that container's user namespace")  # fmt: skip
    if maps is None:
        return None
    return maps.replace(mode="container", path=f"/proc/{pid}/ns/user")


def from_config(config: dict) -> IdMappings | None:
    """A container's maps as its record keeps them."""
    doc = config.get("IdMappings")
    if not doc:
        return None
    return IdMappings(
        mode=doc["mode"], uid=tuple(tuple(m) for m in doc["uid"]), gid=tuple(tuple(m) for m in doc["gid"])
    )


def to_config(maps: IdMappings) -> dict:
    return {"mode": maps.mode, "uid": [list(m) for m in maps.uid], "gid": [list(m) for m in maps.gid]}


def traversable(path: str, root: str) -> None:
    """The container's root must reach its files (the runtime mounts them inside its user
    namespace): directories under berth's root get o+x, those above it must have it."""
    import stat

    root = os.path.abspath(root)
    for here in _upwards(os.path.abspath(path)):
        st = os.stat(here)
        if not st.st_mode & stat.S_IXOTH:
            if here == root or here.startswith(root + "/"):
                os.chmod(here, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
            else:
                raise InvalidArgument(f"{here} is mode {stat.S_IMODE(st.st_mode):o}: a container with a user "
                                      f"namespace cannot reach its files under {root}; give it o+x or use another --root")  # fmt: skip


def _upwards(path: str):
    """path, its parent, and so on up to /."""
    while True:
        yield path
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent


def shift_tree(path: str, maps: IdMappings) -> None:
    """A directory made for the container (a new volume) and what was copied into it, owned by
    the host's ids of their owners inside: files copied from the image keep their owners there."""
    chown_tree(path, lambda st: maps.host_ids(st.st_uid, st.st_gid))


def chown_tree(path: str, owner) -> None:
    """`path` and everything under it (symbolic links themselves) owned by owner(its lstat)."""

    def chown(name: str) -> None:
        os.chown(name, *owner(os.lstat(name)), follow_symlinks=False)

    chown(path)
    for top, dirs, files in os.walk(path):
        for name in dirs + files:
            chown(os.path.join(top, name))


def check_reachable(source: str, maps: IdMappings) -> None:
    """A bind mount's source must be reachable by the container's root, which the runtime
    mounts it as: every directory above it searchable by that host id."""
    import stat

    uid, gid = maps.root()
    for here in _upwards(os.path.dirname(os.path.abspath(source))):
        st = os.stat(here)
        bit = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        if not st.st_mode & bit:
            raise InvalidArgument(f"bind mount {source}: the container's root (uid {uid} on the host) cannot reach "
                                  f"{here} (mode {stat.S_IMODE(st.st_mode):o}): make it searchable, or use --userns=host")  # fmt: skip
