"""Mount planning and its application, through a recording fake: no root needed."""

import os
from types import SimpleNamespace

import pytest

from berth.errors import InvalidArgument
from berth.linux import mount as m
from berth.oci.runtime_spec import Device, Mount, default_spec
from berth.runtime import mountopts, rootfs

from .fake_syscalls import FakeSyscalls

ROOT = "/bundle/rootfs"


def builder(fake, spec=None):
    b = rootfs.RootfsBuilder(fake, ROOT, in_userns=False, cgroupns=True, bundle="/bundle",
                             cgroup_layout=[("memory", "cgroup", "memory", "/sys/fs/cgroup/memory/x")])  # fmt: skip
    return b


def fake_tree():
    return FakeSyscalls(dirs={ROOT, ROOT + "/proc", ROOT + "/dev", ROOT + "/sys", "/bundle"})


def test_plan_order_proc_before_pivot_masks_after():
    plan = rootfs.plan(default_spec(), in_userns=False)
    kinds = [s.kind for s in plan.before_pivot]
    assert kinds[:2] == ["propagate-root", "bind-rootfs"]
    assert plan.before_pivot[0].flags == m.MS_SLAVE | m.MS_REC
    dests = [s.dest for s in plan.before_pivot if s.kind == "mount"]
    assert dests.index("/dev") < dests.index("/dev/pts")
    assert {s.kind for s in plan.after_pivot} == {"mask", "readonly", "root-readonly"}
    assert plan.after_pivot[-1].kind == "root-readonly"


def test_devices_follow_mounts_and_spec_devices_override_defaults():
    spec = default_spec()
    spec = spec.replace(
        linux=spec.linux.replace(devices=(Device(type="c", path="/dev/null", major=1, minor=3, file_mode=0o600),))
    )
    plan = rootfs.plan(spec, in_userns=False)
    devices = [s for s in plan.before_pivot if s.kind == "device"]
    assert [d.dest for d in devices].count("/dev/null") == 1
    assert next(d for d in devices if d.dest == "/dev/null").device[3] == 0o600
    kinds = [s.kind for s in plan.before_pivot]
    assert kinds.index("device") > max(i for i, k in enumerate(kinds) if k == "mount")


def test_bound_dev_gets_no_device_nodes():
    spec = default_spec().replace(mounts=(Mount(destination="/dev", type="bind", source="/dev", options=("rbind",)),))
    assert not [s for s in rootfs.plan(spec, in_userns=False).before_pivot if s.kind in ("device", "symlink")]


def test_every_mount_goes_through_an_fd():
    fake = fake_tree()
    b = builder(fake)
    b.before_pivot(rootfs.plan(default_spec(), in_userns=False).before_pivot)
    mounts = [c for c in fake.calls if c[0] == "mount"]
    inside = [c for c in mounts if c[2].startswith(ROOT + "/")]
    assert inside, "nothing was mounted in the rootfs"
    assert all(c[6].startswith("/proc/self/fd/") for c in inside), "a mount inside the rootfs used a plain path"
    proc = next(c for c in mounts if c[3] == "proc")
    assert proc[2] == ROOT + "/proc"


def test_bind_with_options_is_bind_then_remount():
    fake = fake_tree()
    fake.dirs.add("/host/data")
    spec = default_spec().replace(
        mounts=(Mount(destination="/data", type="bind", source="/host/data", options=("rbind", "ro", "nosuid")),)
    )
    builder(fake).before_pivot(rootfs.plan(spec, in_userns=False).before_pivot)
    mounts = [c for c in fake.calls if c[0] == "mount" and c[2] == ROOT + "/data"]
    assert mounts[0][4] == m.MS_BIND | m.MS_REC and mounts[0][1] == "/host/data"
    assert mounts[1][4] == m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | m.MS_NOSUID
    assert ("mkdir", ROOT + "/data") in fake.calls


def test_symlinked_proc_is_refused():
    fake = fake_tree()
    fake.dirs.discard(ROOT + "/proc")
    fake.symlinks[ROOT + "/proc"] = "/tmp"
    with pytest.raises(InvalidArgument, match="symlink"):
        builder(fake).before_pivot(rootfs.plan(default_spec(), in_userns=False).before_pivot)


def test_symlink_target_stays_inside_root():
    fake = fake_tree()
    fake.dirs.add(ROOT + "/elsewhere")
    fake.symlinks[ROOT + "/data"] = "/elsewhere"
    fake.dirs.add("/host/data")
    spec = default_spec().replace(
        mounts=(Mount(destination="/data", type="bind", source="/host/data", options=("bind",)),)
    )
    builder(fake).before_pivot(rootfs.plan(spec, in_userns=False).before_pivot)
    target = next(c for c in fake.calls if c[0] == "mount" and c[1] == "/host/data")[2]
    assert target == ROOT + "/elsewhere"


def test_pivot_root_then_detach_old_root():
    fake = fake_tree()
    b = builder(fake)
    b.root_fd = fake._fd(ROOT)
    b.pivot_root()
    kinds = fake.kinds()
    assert kinds == ["fchdir", "pivot_root", "fchdir", "mount", "umount2", "chdir"]
    assert fake.calls[1] == ("pivot_root", ".", ".")
    assert fake.calls[3][4] == m.MS_SLAVE | m.MS_REC and fake.calls[4] == ("umount2", ".", m.MNT_DETACH)


def test_mask_file_with_checked_dev_null_and_dir_with_tmpfs():
    fake = FakeSyscalls(dirs={"/proc", "/proc/acpi", "/dev"}, files={"/proc/kcore", "/dev/null"})
    b = builder(fake)
    b.after_pivot((rootfs.Step(kind="mask", dest="/proc/kcore"), rootfs.Step(kind="mask", dest="/proc/acpi"),
                   rootfs.Step(kind="mask", dest="/proc/missing")))  # fmt: skip
    mounts = [c for c in fake.calls if c[0] == "mount"]
    assert mounts[0][1:3] == ("/dev/null", "/proc/kcore") and mounts[0][4] == m.MS_BIND
    assert mounts[1][2:4] == ("/proc/acpi", "tmpfs") and mounts[1][4] == m.MS_RDONLY


def test_mask_refuses_a_fake_dev_null():
    fake = FakeSyscalls(dirs={"/proc", "/dev"}, files={"/proc/kcore", "/dev/null"})
    fake.fstat = lambda fd: SimpleNamespace(st_mode=0o100644, st_rdev=0)
    with pytest.raises(InvalidArgument, match="null device"):
        builder(fake).after_pivot((rootfs.Step(kind="mask", dest="/proc/kcore"),))


def test_mount_options():
    o = mountopts.parse(("nosuid", "ro", "rw", "rbind", "rslave", "mode=755", "size=1k", "tmpcopyup"))
    assert o.flags == m.MS_NOSUID | m.MS_BIND | m.MS_REC
    assert o.propagation == (m.MS_SLAVE | m.MS_REC,)
    assert o.data == "mode=755,size=1k"
    assert mountopts.rootfs_propagation("") == m.MS_SLAVE | m.MS_REC
    with pytest.raises(ValueError):
        mountopts.rootfs_propagation("sideways")


def test_dangling_symlink_target_is_made_inside_root():
    fake = fake_tree()
    fake.symlinks[ROOT + "/data"] = "/host/outside"  # dangling: nothing there in the rootfs
    fake.dirs.add("/host/data")
    spec = default_spec().replace(
        mounts=(Mount(destination="/data", type="bind", source="/host/data", options=("bind",)),)
    )
    builder(fake).before_pivot(rootfs.plan(spec, in_userns=False).before_pivot)
    assert ("mkdir", ROOT + "/host") in fake.calls and ("mkdir", ROOT + "/host/outside") in fake.calls
    target = next(c for c in fake.calls if c[0] == "mount" and c[1] == "/host/data")[2]
    assert target == ROOT + "/host/outside"


def test_shared_root_is_made_shared_only_after_pivot():
    spec = default_spec()
    spec = spec.replace(linux=spec.linux.replace(rootfs_propagation="rshared"))
    plan = rootfs.plan(spec, in_userns=False)
    assert plan.before_pivot[0].flags == m.MS_SLAVE | m.MS_REC
    assert plan.after_pivot[-1] == rootfs.Step(kind="propagate-root", flags=m.MS_SHARED | m.MS_REC)


class RefusingCgroup2(FakeSyscalls):
    """The kernel's answer in a user namespace whose /sys is the host's, bound (cgroup v2)."""

    def mount(self, source, target, fstype, flags, data=None):
        if fstype == "cgroup2":
            raise OSError(16, "Device or resource busy")
        super().mount(source, target, fstype, flags, data)


def test_a_refused_cgroup2_mount_in_a_user_namespace_binds_the_containers_cgroup():
    fake = RefusingCgroup2(dirs={ROOT, ROOT + "/sys", ROOT + "/sys/fs", ROOT + "/sys/fs/cgroup", "/bundle"})
    layout = [("", "cgroup2", "", "/sys/fs/cgroup/berth/c1")]
    step = rootfs.Step(kind="cgroup", dest="/sys/fs/cgroup", flags=m.MS_RDONLY)

    def built(in_userns: bool):
        b = rootfs.RootfsBuilder(fake, ROOT, in_userns=in_userns, cgroupns=True, bundle="/bundle", cgroup_layout=layout)
        b.root_fd = fake.open(ROOT, os.O_PATH)
        return b

    built(True)._cgroup(step)
    mounts = [c for c in fake.calls if c[0] == "mount"]
    assert mounts[0][1:3] == ("/sys/fs/cgroup/berth/c1", ROOT + "/sys/fs/cgroup")
    assert mounts[0][4] == m.MS_BIND | m.MS_REC and mounts[-1][4] & m.MS_REMOUNT and mounts[-1][4] & m.MS_RDONLY
    with pytest.raises(OSError):  # outside a user namespace the refusal stands
        built(False)._cgroup(step)
