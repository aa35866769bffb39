"""The intermediate's order of operations, recorded: non-dumpable before it
joins the cgroup or any namespace, user namespace first, init forked last."""

import os

import pytest

from berth.linux import ns, prctl
from berth.runtime import intermediate, sync

_close = os.close


class Recorder:
    def __init__(self):
        self.calls = []

    def join(self):
        self.calls.append("cgroup")


@pytest.fixture
def recorded(monkeypatch):
    rec = Recorder()
    monkeypatch.setattr(prctl, "set_dumpable", lambda on: rec.calls.append(f"dumpable={on}"))
    monkeypatch.setattr(ns, "setns", lambda fd, flag: rec.calls.append(f"setns {flag:#x}"))
    monkeypatch.setattr(ns, "unshare", lambda flags: rec.calls.append(f"unshare {flags:#x}"))
    monkeypatch.setattr(os, "fork", lambda: rec.calls.append("fork") or 4242)
    monkeypatch.setattr(os, "close", lambda fd: None)
    monkeypatch.setattr(os, "setresuid", lambda *a: rec.calls.append("setresuid"))
    monkeypatch.setattr(os, "setresgid", lambda *a: rec.calls.append("setresgid"))
    monkeypatch.setattr(os, "geteuid", lambda: 0)

    def exit_(code):
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", exit_)
    return rec


def run(rec, types, ns_fds):
    parent, child = sync.pipes()
    parent.send(sync.OK)  # main's answer to a usermap request, waiting in the pipe
    with pytest.raises(SystemExit) as done:
        intermediate.run(child, types, ns_fds, rec, lambda: None)
    messages = []
    for fd in (child.rfd, child.wfd, parent.wfd):
        _close(fd)
    while (m := parent.recv())[0] != "eof":
        messages.append(m)
    _close(parent.rfd)
    return done.value.code, messages


def test_new_namespaces(recorded):
    code, messages = run(recorded, {"pid": "", "mount": "", "user": ""}, {})
    assert code == 0, messages
    assert recorded.calls[:2] == ["dumpable=False", "cgroup"]
    assert recorded.calls[2] == f"unshare {ns.CLONE_NEWUSER:#x}"
    assert recorded.calls[-2:] == [f"unshare {ns.CLONE_NEWPID | ns.CLONE_NEWNS:#x}", "fork"]
    assert messages[0][0] == sync.USERMAP and messages[-1] == (sync.PID, "4242")


def test_joined_namespaces_user_first(recorded, monkeypatch):
    monkeypatch.setattr(ns, "user_joined_late", lambda: False)
    code, messages = run(recorded, {"network": "/x", "user": "/y", "pid": ""}, {"network": 5, "user": 6})
    assert code == 0, messages
    assert recorded.calls[0] == "dumpable=False"
    assert recorded.calls[2:7] == [
        f"setns {ns.CLONE_NEWUSER:#x}",
        "setresgid",
        "setresuid",
        f"setns {ns.CLONE_NEWNET:#x}",
        f"unshare {ns.CLONE_NEWPID:#x}",
    ]


def test_failure_is_reported_up(recorded, monkeypatch):
    def boom(flags):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(ns, "unshare", boom)
    code, messages = run(recorded, {"pid": ""}, {})
    assert code == 1 and messages == [(sync.ERROR, "Operation not permitted")]


def test_init_forked_straight_into_its_pid_namespace(recorded):
    """Without a user namespace main picks the PID namespace; the child becomes init itself."""
    started = []
    parent, child = sync.pipes()
    with pytest.raises(SystemExit) as done:
        intermediate.become_init(child, {"mount": "", "network": ""}, {}, recorded,
                                 lambda: started.append(True))  # fmt: skip
    for fd in (child.rfd, child.wfd, parent.wfd, parent.rfd):
        _close(fd)
    assert started == [True] and done.value.code == 1  # init.run never returns; reaching the end is exit 1
    assert recorded.calls == ["dumpable=False", "cgroup", f"unshare {ns.CLONE_NEWNS | ns.CLONE_NEWNET:#x}"]


def test_new_user_namespace_after_the_joined_ones(recorded):
    """A network namespace the engine made is joined while the process still has the host's
    privilege over it; the user namespace is made after, then the namespaces it owns."""
    code, messages = run(recorded, {"network": "/x", "user": "", "pid": ""}, {"network": 5})
    assert code == 0, messages
    assert recorded.calls[2:5] == [
        f"setns {ns.CLONE_NEWNET:#x}",
        f"unshare {ns.CLONE_NEWUSER:#x}",
        "setresgid",
    ]
    assert recorded.calls[-2:] == [f"unshare {ns.CLONE_NEWPID:#x}", "fork"]
    assert messages[0][0] == sync.USERMAP


def test_joined_user_namespace_late_for_the_hosts_root(recorded, monkeypatch):
    """Root of the host joins the others while it still has privilege over the host's (the
    engine's network namespace), then the user namespace, then the mount namespace."""
    monkeypatch.setattr(ns, "user_joined_late", lambda: True)
    code, messages = run(
        recorded, {"network": "/x", "user": "/y", "mount": "/z"}, {"network": 5, "user": 6, "mount": 7}
    )
    assert code == 0, messages
    assert recorded.calls[2:7] == [
        f"setns {ns.CLONE_NEWNET:#x}",
        f"setns {ns.CLONE_NEWUSER:#x}",
        "setresgid",
        "setresuid",
        f"setns {ns.CLONE_NEWNS:#x}",
    ]


def test_an_ordinary_users_runtime_is_dumpable_until_its_maps_are_written(recorded, monkeypatch):
    """Main, the same ordinary user, writes the new user namespace's maps through /proc, which a
    non-dumpable process keeps from it."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, messages = run(recorded, {"pid": "", "mount": "", "user": ""}, {})
    assert code == 0, messages
    assert recorded.calls[:2] == ["cgroup", f"unshare {ns.CLONE_NEWUSER:#x}"]
    assert recorded.calls.index("dumpable=False") > recorded.calls.index("setresuid")
    assert recorded.calls.index("dumpable=False") < recorded.calls.index("fork")
