"""Bad input fails at once with one line naming the problem, a non-zero exit,
and nothing left behind: no state directory, cgroup, mount or process."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import cgroup_dir, host_mountinfo, unique

pytestmark = pytest.mark.root


def leftovers(runtime, bundle, cid) -> list[str]:
    found = []
    if os.path.exists(os.path.join(runtime.root, cid)):
        found.append("state directory")
    cg = bundle.config.get("linux", {}).get("cgroupsPath", "")
    for ctl in ("memory", "pids", "cpu", "freezer", "unified"):
        if cg and os.path.exists(cgroup_dir(ctl, cg)):
            found.append(f"{ctl} cgroup")
    return found


def fails(runtime, bundle, *args, expect: str):
    cid = unique()
    before = host_mountinfo()
    proc = runtime(*args, "--bundle", str(bundle), cid)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expect in lines[0], lines[0]
    assert leftovers(runtime, bundle, cid) == []
    assert host_mountinfo() == before
    return lines[0]


@pytest.mark.parametrize("command", ["create", "run"])
def test_missing_config(runtime, bundle, command):
    os.unlink(os.path.join(str(bundle), "config.json"))
    fails(runtime, bundle, command, expect="config.json not found")


def test_malformed_config(runtime, bundle):
    (bundle.path / "config.json").write_text('{"ociVersion": "1.0.0", "process": ')
    fails(runtime, bundle, "create", expect="invalid JSON")


def test_wrong_type_names_the_field(runtime, bundle):
    bundle.config["process"]["args"] = "sh"
    bundle.write()
    fails(runtime, bundle, "create", expect="$.process.args: expected a list")


def test_unknown_namespace(runtime, bundle):
    bundle.config["linux"]["namespaces"].append({"type": "galaxy"})
    bundle.write()
    fails(runtime, bundle, "create", expect="unknown namespace type 'galaxy'")


@pytest.mark.parametrize(
    "entry, expect",
    [({"type": "pid"}, "namespace 'pid' given twice"), ({"path": "/proc/1/ns/net"}, "namespaces[6].type: required")],
)
def test_namespace_entries_checked_as_runc_does(runtime, bundle, entry, expect):
    """runc refuses both too ("duplicated ns", "namespace ... does not exist")."""
    assert len(bundle.config["linux"]["namespaces"]) == 6
    bundle.config["linux"]["namespaces"].append(entry)
    bundle.write()
    fails(runtime, bundle, "create", expect=expect)


def test_missing_namespace_path(runtime, bundle):
    bundle.config["linux"]["namespaces"][0] = {"type": "pid", "path": "/proc/999999999/ns/pid"}
    bundle.write()
    fails(runtime, bundle, "create", expect="does not exist")


def test_no_mount_namespace(runtime, bundle):
    bundle.config["linux"]["namespaces"] = [n for n in bundle.config["linux"]["namespaces"] if n["type"] != "mount"]
    bundle.write()
    fails(runtime, bundle, "create", expect="mount namespace is required")


def test_missing_rootfs(runtime, bundle):
    bundle.config["root"]["path"] = "/nonexistent/rootfs"
    bundle.write()
    fails(runtime, bundle, "create", expect="rootfs /nonexistent/rootfs does not exist")


def test_missing_cwd(runtime, bundle):
    bundle.config["process"]["cwd"] = "/no/such/dir"
    bundle.set_args("true")
    fails(runtime, bundle, "run", expect="process.cwd /no/such/dir")


def test_missing_executable(runtime, bundle):
    bundle.set_args("/bin/nonesuch")
    fails(runtime, bundle, "create", expect='exec: "/bin/nonesuch": stat /bin/nonesuch: no such file or directory')


def test_terminal_without_console_socket(runtime, bundle):
    bundle.config["process"]["terminal"] = True
    bundle.write()
    fails(runtime, bundle, "create", expect="console socket")


def test_bad_seccomp_action(runtime, bundle):
    bundle.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_EXPLODE"}
    bundle.write()
    fails(runtime, bundle, "create", expect="unknown action 'SCMP_ACT_EXPLODE'")


def test_bad_cgroup_value(runtime, bundle):
    bundle.config["linux"]["resources"]["cpu"] = {"cpus": "999"}
    bundle.set_args("true")
    fails(runtime, bundle, "create", expect="cpuset.cpus")


def test_unknown_capability_is_refused_at_create(runtime, bundle):
    bundle.config["process"]["capabilities"]["permitted"].append("CAP_NOPE")
    bundle.set_args("true")
    fails(runtime, bundle, "create", expect="process.capabilities.permitted: unknown capability 'CAP_NOPE'")


@pytest.mark.parametrize(
    "resources, named",
    [
        ({"network": {"classID": 1048577}}, "linux.resources.network"),
        ({"network": {"priorities": [{"name": "eth0", "priority": 5}]}}, "linux.resources.network"),
        ({"hugepageLimits": [{"pageSize": "64KB", "limit": 65536}]}, "hugetlb"),
    ],
)
def test_a_limit_the_host_cannot_apply_fails_create(runtime, bundle, resources, named):
    """A container never runs without a limit it asked for (these were dropped silently). This host
    and the v2 guest have no net_cls/net_prio and no 64KB huge pages."""
    bundle.config["linux"]["resources"].update(resources)
    bundle.set_args("true")
    fails(runtime, bundle, "create", expect=named)


def test_id_in_use(runtime, bundle):
    bundle.set_args("sleep", "100")
    cid = unique()
    runtime("create", "--bundle", str(bundle), cid, check=True)
    proc = runtime("create", "--bundle", str(bundle), cid)
    assert proc.returncode != 0 and proc.stderr.strip() == f"berth-runtime: container with id exists: {cid}"
    assert runtime.state(cid)["status"] == "created"


@pytest.mark.parametrize("cid", ["../x", "a/b", "", "white space"])
def test_bad_id(runtime, bundle, cid):
    proc = runtime("create", "--bundle", str(bundle), cid)
    assert proc.returncode != 0 and (
        "invalid container id" in proc.stderr or "requires exactly 1 argument" in proc.stderr
    )


def test_bad_signal_and_unknown_container(runtime, bundle):
    bundle.set_args("sleep", "100")
    cid = unique()
    runtime("run", "-d", "--bundle", str(bundle), cid, check=True)
    proc = runtime("kill", cid, "SIGNOPE")
    assert proc.returncode != 0 and proc.stderr.strip() == "berth-runtime: invalid signal: SIGNOPE"
    assert runtime.state(cid)["status"] == "running"
    for args in (("state", "nope"), ("kill", "nope"), ("start", "nope"), ("delete", "nope"), ("exec", "nope", "true")):
        proc = runtime(*args)
        assert proc.returncode == 1 and "container does not exist: nope" in proc.stderr, args
    assert runtime("delete", "--force", "nope").returncode == 0


def test_unknown_command_and_flag(runtime):
    assert runtime("frobnicate").returncode != 0
    proc = runtime("list", "--frob")
    assert proc.returncode != 0 and "unknown flag: --frob" in proc.stderr


def test_spec_refuses_to_overwrite(runtime, bundle):
    proc = runtime("spec", "--bundle", str(bundle))
    assert proc.returncode != 0 and "exists" in proc.stderr
    assert json.loads((bundle.path / "config.json").read_text())["linux"]["cgroupsPath"]


def test_relative_rootfs_resolves_against_bundle(runtime, bundle, busybox_rootfs):
    shutil.copytree(busybox_rootfs, bundle.path / "rootfs", symlinks=True)
    bundle.config["root"]["path"] = "rootfs"
    bundle.set_args("true")
    runtime("run", "--bundle", str(bundle), unique(), check=True)
