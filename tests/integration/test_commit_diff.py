"""`diff`, `commit` and `restart`, with Docker's output, on a container's writable layer."""

from __future__ import annotations

import json

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.root

CHANGES = "echo hi > /new; rm /bin/vi; mkdir -p /etc/x; echo y >> /etc/passwd"


def test_diff_lists_what_changed_as_docker_does(berth):
    berth("run", "--name", "differ", "busybox", "sh", "-c", CHANGES, check=True)
    out = berth("diff", "differ", check=True).stdout
    assert out == "C /bin\nD /bin/vi\nC /etc\nC /etc/passwd\nA /etc/x\nA /new\n"  # /etc/hosts and kin are not changes
    assert berth("diff", "nosuch").returncode != 0


def test_commit_makes_an_image_with_the_changes_and_the_config(berth):
    berth("run", "-d", "--name", "committer", "busybox", "sh", "-c", CHANGES + "; sleep 60", check=True)
    assert wait_for(lambda: berth("exec", "committer", "sh", "-c", "tail -n1 /etc/passwd | grep -qx y").returncode == 0)
    image = berth("commit", "-c", 'CMD ["cat", "/new"]', "-c", "ENV GREETING=hello", "-m", "a message", "-a",
                  "someone", "committer", "committed:v1", check=True).stdout.strip()  # fmt: skip
    assert image.startswith("sha256:")
    assert berth("ps", "--filter", "name=committer", "--format", "json", check=True).stdout  # still running
    assert berth("run", "--rm", "committed:v1").stdout == "hi\n"
    assert "No such file" in berth("run", "--rm", "committed:v1", "ls", "/bin/vi").stderr
    inspect = json.loads(berth("image", "inspect", "committed:v1", check=True).stdout)[0]
    assert inspect["Config"]["Cmd"] == ["cat", "/new"] and "GREETING=hello" in inspect["Config"]["Env"]
    assert inspect["Author"] == "someone" and inspect["Comment"] == "a message"
    assert len(inspect["RootFS"]["Layers"]) == 2
    untagged = berth("commit", "committer", check=True).stdout.strip()
    assert untagged in berth("images", "-q", "--no-trunc", "--filter", "dangling=true", check=True).stdout
    bad = berth("commit", "-c", "FROM x", "committer")
    assert bad.returncode != 0 and "FROM is not a valid change command" in bad.stderr


def test_restart_runs_the_container_again(berth):
    berth("run", "-d", "--name", "restarted", "busybox", "sh", "-c", "echo started; sleep 60", check=True)
    first = berth("inspect", "-f", "{{.State.Pid}}", "restarted", check=True).stdout
    assert berth("restart", "-t", "1", "restarted", check=True).stdout == "restarted\n"
    second = berth("inspect", "-f", "{{.State.Pid}}", "restarted", check=True).stdout
    assert first != second and berth("inspect", "-f", "{{.State.Running}}", "restarted").stdout.strip() == "true"
    assert berth("logs", "restarted", check=True).stdout.count("started") == 2
    assert berth("restart", "nosuch").returncode == 1
