"""User namespaces for root's berth: `--userns=auto`, `--uidmap/--gidmap`, daemon.json's
`userns-remap` and `userns-auto-user`. What the tests assert is what the host sees: the
container's root is an unprivileged id in /proc/PID/status, a root-owned 0600 file bound in
stays unreadable, a volume's new files belong to the mapped id, ranges are disjoint; the image's
files keep their owners inside with no copy of the layers (idmapped mounts).

The tests make their own users (bt18*) with subordinate ranges after every range in
/etc/subuid and /etc/subgid, and remove them and their lines at the end: no other user's range
is touched."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest
from bench.anchors import first_free_subordinate_id, subordinate_user, without_user

from tests.conftest import bootstrapped, unique
from tests.integration.test_hardening_vs_docker import PROBE, assert_not_looser, probe

pytestmark = pytest.mark.root

COUNT = 65536 * 8
SUBID_FILES = ("/etc/subuid", "/etc/subgid")


def _entries(path: str) -> list[list[str]]:
    with open(path) as f:
        return [line.split(":") for line in f.read().splitlines() if line.count(":") == 2]


@pytest.fixture(scope="module")
def subids():
    """(a test user with COUNT subordinate ids of its own, its first id)."""
    name = f"bt18u{os.getpid() % 100000}"
    with subordinate_user(name, COUNT) as first:
        yield name, first


@pytest.fixture(scope="module")
def ns_root():
    """A store whose path a mapped root can search (pytest's own directories are 0700)."""
    root = tempfile.mkdtemp(prefix="berth-userns-", dir="/tmp")
    os.chmod(root, 0o711)
    cli = bootstrapped(root)
    yield cli
    cli.cleanup()
    for name in cli("volume", "ls", "-q").stdout.split():
        cli("volume", "rm", "-f", name)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def configured(ns_root, subids, tmp_path, monkeypatch):
    """berth with daemon.json's settings given: configured(**{"userns-remap": ...})."""

    def with_settings(**settings) -> None:
        import json

        (tmp_path / "daemon.json").write_text(json.dumps({"userns-auto-user": subids[0], **settings}))
        monkeypatch.setenv("BERTH_CONFIG_DIR", str(tmp_path))

    with_settings()
    yield with_settings
    ns_root.cleanup()


def _host_ids(pid: str) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["Uid"].split()[0]), int(fields["Gid"].split()[0])


@pytest.fixture
def searchable():
    """A directory the mapped root can reach (pytest's own are 0700)."""
    top = tempfile.mkdtemp(prefix="berth-userns-host-", dir="/tmp")
    os.chmod(top, 0o711)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def test_auto_root_is_an_unprivileged_id_on_the_host(ns_root, configured, subids, searchable):
    berth, (_, first) = ns_root, subids
    secret = os.path.join(searchable, "secret")
    with open(secret, "w") as f:
        f.write("the host's\n")
    os.chmod(secret, 0o600)
    name, volume = unique(), unique()
    berth("run", "-d", "--name", name, "--userns=auto", "--network", "none", "-v", f"{volume}:/data",
          "-v", f"{secret}:/secret", "busybox", "sleep", "300", check=True)  # fmt: skip
    pid = berth("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout.strip()
    uid, gid = _host_ids(pid)
    assert first <= uid < first + COUNT and first <= gid < first + COUNT, (uid, gid)
    inside = berth(
        "exec", name, "sh", "-c", "id -u; cat /secret 2>&1; touch /data/made; stat -c %u:%g /bin/sh /data/made"
    )
    lines = inside.stdout.split("\n")
    assert lines[0] == "0" and "Permission denied" in lines[1], inside.stdout
    assert lines[2:4] == ["0:0", "0:0"], "the image's files and the volume's are root's inside"
    mountpoint = berth("volume", "inspect", "-f", "{{.Mountpoint}}", volume, check=True).stdout.strip()
    made = os.stat(os.path.join(mountpoint, "made"))
    assert (made.st_uid, made.st_gid) == (uid, gid), "the volume's file is the mapped id's on the host"
    report = berth("security", name, check=True).stdout
    assert f"User mapping:     0->{uid} (65536)" in report
    assert berth(
        "inspect", "-f", "{{.HostConfig.UsernsMode}} {{json .HostConfig.IDMappings}}", name
    ).stdout.strip() == (f'auto {{"UidMap":["0:{uid}:65536"],"GidMap":["0:{gid}:65536"]}}')
    # no copy of the image's layers: the container's writable layer holds only its mount points
    upper = berth("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", name, check=True).stdout.strip()
    assert "bin" not in os.listdir(upper) and os.stat(upper).st_uid == uid, os.listdir(upper)


def test_a_bind_mount_with_U_is_made_the_containers_users(ns_root, configured, searchable):
    """Podman's -v SRC:DST:U: the content chowned, recursively, to the container's user as the host
    sees it (the mapped id under a user namespace)."""
    berth = ns_root
    owned = os.path.join(searchable, "owned")
    os.makedirs(os.path.join(owned, "sub"))
    with open(os.path.join(owned, "sub", "f"), "w") as f:
        f.write("x")
    out = berth("run", "--rm", "--userns=auto", "--network", "none", "-u", "1000:1000", "-v", f"{owned}:/d:U",
                "busybox", "sh", "-c", "stat -c %u:%g /d /d/sub/f && cat /proc/self/uid_map", check=True).stdout.split()  # fmt: skip
    assert out[:2] == ["1000:1000", "1000:1000"]
    host = int(out[3]) + 1000
    assert (os.stat(owned).st_uid, os.stat(os.path.join(owned, "sub", "f")).st_gid) == (host, host)
    bad = berth("run", "--rm", "--network", "none", "-v", f"{owned}:/d:X", "busybox", "true")
    assert bad.returncode == 125 and "invalid mode: X" in bad.stderr


def test_two_auto_containers_get_disjoint_ranges_and_a_removed_ones_range_comes_back(ns_root, configured, subids):
    berth, (_, first) = ns_root, subids
    a, b, c = unique(), unique(), unique()
    for name in (a, b):
        berth("run", "-d", "--name", name, "--userns=auto:size=1000", "--network", "none", "busybox", "sleep", "300",
              check=True)  # fmt: skip
    maps = {}
    for name in (a, b):
        out = berth("exec", name, "cat", "/proc/self/uid_map", check=True).stdout.split()
        maps[name] = (int(out[1]), int(out[2]))
    assert maps == {a: (first, 1000), b: (first + 1000, 1000)}
    berth("rm", "-f", a, check=True)
    berth(
        "run", "-d", "--name", c, "--userns=auto:size=1000", "--network", "none", "busybox", "sleep", "300", check=True
    )
    again = berth("exec", c, "cat", "/proc/self/uid_map", check=True).stdout.split()
    assert (int(again[1]), int(again[2])) == (first, 1000), "the removed container's range is free again"


def test_userns_remap_maps_every_container_but_those_that_opt_out(ns_root, configured, subids):
    berth, (user, first) = ns_root, subids
    configured(**{"userns-remap": user})
    name = unique()
    berth("run", "-d", "--name", name, "busybox", "sleep", "300", check=True)  # the default bridge network too
    pid = berth("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout.strip()
    assert _host_ids(pid) == (first, first)
    inside = berth(
        "exec", name, "sh", "-c", "cat /proc/self/uid_map; ip -o -4 addr show eth0", check=True
    ).stdout.split()
    assert inside[:3] == ["0", str(first), str(COUNT)] and "inet" in inside
    host = berth(
        "run", "--rm", "--userns=host", "--network", "none", "busybox", "cat", "/proc/self/uid_map", check=True
    )
    assert host.stdout.split() == ["0", "0", "4294967295"]
    bad = berth("run", "--rm", "--privileged", "--network", "none", "busybox", "true")
    assert bad.returncode == 125 and "--userns=host" in bad.stderr
    info = berth("info", check=True).stdout
    assert "  userns\n" in info and f"  Remap: {user}" in info and f"ranges {first}:{COUNT}" in info, info


def test_the_auto_user_is_made_on_first_use(ns_root, configured):
    berth = ns_root
    name = f"bt18m{os.getpid() % 100000}"
    without_user(name)
    configured(**{"userns-auto-user": name})
    try:
        first = first_free_subordinate_id()
        out = berth(
            "run", "--rm", "--userns=auto", "--network", "none", "busybox", "cat", "/proc/self/uid_map", check=True
        )
        assert out.stdout.split() == ["0", str(first), "65536"]
        pwd.getpwnam(name)
        for path in SUBID_FILES:
            assert [name, str(first), str(65536 * 1024)] in _entries(path)
    finally:
        without_user(name)


def _container_dirs(root: str) -> list[str]:
    return sorted(d for d in os.listdir(os.path.join(root, "containers")) if len(d) == 64)


def test_bad_input_is_one_line_and_leaves_nothing(ns_root, configured, subids, tmp_path):
    berth, (user, _) = ns_root, subids
    closed = tmp_path / "closed"
    (closed / "d").mkdir(parents=True)
    os.chmod(closed, 0o700)
    before = _container_dirs(berth.root)
    cases = [
        (["--userns=auto:size=99999999"], f"no 99999999 free ids left in {user}'s {COUNT} subordinate ids"),
        (["--userns=auto:size=x"], "auto takes size=N"),
        (["--userns=bogus"], "invalid --userns 'bogus'"),
        (["--userns=keep-id"], "--userns=keep-id is for rootless berth"),
        (["--uidmap", "0:0:65536"], "maps the host's root (id 0) into the container"),
        (["--uidmap", "0:200000:10", "--uidmap", "5:300000:10"], "overlap on the container's side"),
        (["--uidmap", "0:200000:10", "--uidmap", "20:200005:10"], "overlap on the host's side"),
        (["--uidmap", "1:200000:10"], "id 0 is not mapped"),
        (["--uidmap", "0:200000"], "CONTAINER_ID:HOST_ID:SIZE"),
        (["--userns=auto", "--uidmap", "0:200000:10"], "use one or the other"),
        (["--userns=auto", "--privileged"], "privileged mode is incompatible with user namespaces"),
        (["--userns=auto", "-v", f"{closed / 'd'}:/d"], f"cannot reach {closed} (mode 700)"),
    ]
    for flags, words in cases:
        proc = berth("run", "--rm", "--network", "none", *flags, "busybox", "true")
        assert proc.returncode == 125 and words in proc.stderr, (flags, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    configured(**{"userns-remap": "bt18nosuchuser"})
    proc = berth("run", "--rm", "--network", "none", "busybox", "true")
    assert proc.returncode == 125 and "userns-remap 'bt18nosuchuser': no subordinate ids" in proc.stderr
    assert berth("ps", "-aq").stdout == ""
    assert _container_dirs(berth.root) == before


def test_the_probes_under_a_user_namespace_are_never_looser_than_docker(ns_root, configured, dockerd, tmp_path):
    berth = ns_root
    berth("save", "-o", str(tmp_path / "busybox.tar"), "busybox", check=True)
    assert dockerd("load", "-i", str(tmp_path / "busybox.tar")).returncode == 0
    ours = berth("run", "--rm", "--userns=auto", "--network", "none", "busybox", "sh", "-c", PROBE)
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run(["docker", "run", "--rm", "--network", "none", "busybox", "sh", "-c", PROBE],
                            capture_output=True, text=True, env=dockerd.env, timeout=120)  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr
    assert_not_looser(probe(ours.stdout), probe(theirs.stdout))


def test_under_remap_the_walkthrough_builds_shares_and_commits(ns_root, configured, subids, searchable):
    """Build (its steps keep the image's ids in their layers), run, exec, --pid=container:c1 (the
    joiner is in c1's user namespace, which owns the namespaces it joins), commit (the layer gets
    the container's ids, not the host's)."""
    berth, (user, first) = ns_root, subids
    configured(**{"userns-remap": user})
    context = os.path.join(searchable, "ctx")
    os.mkdir(context)
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write('FROM busybox\nRUN echo built > /built\nCMD ["sleep", "300"]\n')
    tag = f"userns-simple-{unique()}"
    berth("build", "-q", "-t", tag, context, check=True)
    try:
        c1 = unique()
        berth("run", "-d", "--name", c1, "--network", "none", tag, check=True)
        assert "sleep 300" in berth("exec", c1, "ps", "aux", check=True).stdout
        shared = berth("run", "--rm", f"--pid=container:{c1}", tag, "ps", "aux", check=True).stdout
        assert "sleep 300" in shared
        berth("exec", c1, "sh", "-c", "echo mine > /mine", check=True)
        berth("commit", c1, f"{tag}:committed", check=True)
        owners = berth("run", "--rm", "--userns=host", "--network", "none", f"{tag}:committed",
                       "stat", "-c", "%u:%g", "/built", "/mine", check=True).stdout.split()  # fmt: skip
        assert owners == ["0:0", "0:0"]
        pid = berth("inspect", "-f", "{{.State.Pid}}", c1, check=True).stdout.strip()
        assert _host_ids(pid) == (first, first)
    finally:
        berth.cleanup()
        berth("rmi", "-f", f"{tag}:committed", tag)


def test_a_layers_chowned_copy_keeps_what_overlayfs_reads(tmp_path):
    """Where the kernel cannot idmap a layer (an ordinary user's berth), a copy of it is chowned:
    owners shifted by the maps, modes (set-id bits too), hard links, symlinks, whiteouts and the
    opaque mark kept; made once per maps."""
    import stat

    from berth.linux.idmap import shifted_copy

    layer = tmp_path / "fs"
    (layer / "d").mkdir(parents=True)
    os.setxattr(layer / "d", "trusted.overlay.opaque", b"y")
    (layer / "f").write_text("x")
    os.chown(layer / "f", 5, 6)
    os.chmod(layer / "f", 0o4755)
    os.link(layer / "f", layer / "hard")
    os.symlink("f", layer / "d" / "s")
    os.mknod(layer / "gone", stat.S_IFCHR, os.makedev(0, 0))
    maps = ((0, 100000, 65536),)
    copy = shifted_copy(str(layer), maps, maps)
    assert copy == shifted_copy(str(layer), maps, maps) and copy != str(layer)
    f = os.lstat(f"{copy}/f")
    assert (f.st_uid, f.st_gid, stat.S_IMODE(f.st_mode)) == (100005, 100006, 0o4755)
    assert os.lstat(f"{copy}/hard").st_ino == f.st_ino
    assert os.readlink(f"{copy}/d/s") == "f" and os.lstat(f"{copy}/d/s").st_uid == 100000
    gone = os.lstat(f"{copy}/gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == os.makedev(0, 0)
    assert os.getxattr(f"{copy}/d", "trusted.overlay.opaque") == b"y"
    assert (layer / "f").stat().st_uid == 5, "the layer itself changed"
