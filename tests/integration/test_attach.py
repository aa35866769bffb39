"""Attaching: `run -it` and its detach keys, `attach` (--detach-keys, --sig-proxy, --no-stdin),
`start -a -i`, logs of attached runs; the error cases side by side with Debian's docker."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import berth_and_docker

pytestmark = pytest.mark.root

CTRL_P, CTRL_Q = b"\x10", b"\x11"


class Terminal:
    """A berth command on a pty of its own, as a user at a terminal runs it."""

    def __init__(self, cli, *args: str) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(cli.binary, [cli.binary, "--root", cli.root, *args])
        self.out = b""
        self.code: int | None = None

    def _read(self) -> bool:
        """What came in the next 50 ms; False once the terminal is closed."""
        if select.select([self.fd], [], [], 0.05)[0]:
            try:
                self.out += os.read(self.fd, 4096)
            except OSError:
                return False
        return True

    def read_until(self, text: bytes, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.out and self._read():
            assert time.monotonic() < deadline, f"{text!r} not seen in {self.out[-300:]!r}"
        assert text in self.out, f"{text!r} not seen in {self.out[-300:]!r}"

    def type(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while self.code is None:
            assert time.monotonic() < deadline, f"still running; output {self.out[-300:]!r}"
            self._read()
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
        os.close(self.fd)
        return self.code


def status(berth, name: str) -> str:
    return berth("inspect", "-f", "{{.State.Status}}", name, check=True).stdout.strip()


def test_run_it_detach_keys_then_attach_and_exit(berth):
    term = Terminal(berth, "run", "-it", "--name", "tty1", "--network", "none", "busybox", "sh")
    term.read_until(b"# ")
    term.type(b"echo $((6*7))\r")
    term.read_until(b"42")
    term.type(CTRL_P + CTRL_Q)
    assert term.wait() == 0  # docker run's quiet detach
    assert status(berth, "tty1") == "running"
    again = Terminal(berth, "attach", "tty1")
    again.type(b"echo back-$((1+1))\r")
    again.read_until(b"back-2")
    again.type(b"exit 5\r")
    assert again.wait() == 5
    assert status(berth, "tty1") == "exited"
    logs = berth("logs", "tty1", check=True).stdout
    assert "42" in logs and "back-2" in logs  # an attached run is logged too


def test_custom_detach_keys_and_a_lone_first_key_passes_through(berth):
    term = Terminal(berth, "run", "-it", "--rm", "--detach-keys", "ctrl-a,x", "--network", "none", "busybox",
                    "sh", "-c", "head -c 3 | od -c | head -1")  # fmt: skip
    time.sleep(0.5)
    term.type(b"\x01b\n")  # ctrl-a not followed by x reaches the container
    assert term.wait() == 0 and b"001   b  \\n" in term.out, term.out
    term = Terminal(berth, "run", "-it", "--detach-keys", "ctrl-a,x", "--name", "tty2", "--network", "none",
                    "busybox", "sh")  # fmt: skip
    term.read_until(b"# ")
    term.type(b"\x01x")
    assert term.wait() == 0 and status(berth, "tty2") == "running"
    att = Terminal(berth, "attach", "--detach-keys", "ctrl-x", "tty2")
    time.sleep(0.5)
    att.type(b"\x18")
    assert att.wait() == 1  # docker attach's: an error, "read escape sequence"
    assert b"read escape sequence" in att.out
    assert status(berth, "tty2") == "running"


def test_ctrl_c_reaches_the_container_through_its_terminal(berth):
    term = Terminal(berth, "run", "-it", "--rm", "--network", "none", "busybox",
                    "sh", "-c", "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.1; done")  # fmt: skip
    term.read_until(b"ready")
    term.type(b"\x03")
    assert term.wait() == 7
    assert b"got-int" in term.out


def test_sigterm_to_the_cli_on_a_terminal_leaves_the_container_and_the_terminal(berth):
    import termios

    term = Terminal(berth, "run", "-it", "--name", "termed", "--network", "none", "busybox", "sh")
    term.read_until(b"# ")
    assert not termios.tcgetattr(term.fd)[3] & termios.ICANON  # raw while attached
    os.kill(term.pid, signal.SIGTERM)  # no proxy with a terminal, as docker's: it ends the CLI
    _, how = os.waitpid(term.pid, 0)
    assert os.waitstatus_to_exitcode(how) == -signal.SIGTERM
    assert termios.tcgetattr(term.fd)[3] & termios.ICANON  # the terminal given back as it was
    os.close(term.fd)
    assert status(berth, "termed") == "running"


def test_ctrl_d_ends_the_shell(berth):
    term = Terminal(berth, "run", "-it", "--rm", "--network", "none", "busybox", "sh")
    term.read_until(b"# ")
    term.type(b"\x04")  # end of input, read by the container's terminal: sh exits 0
    assert term.wait() == 0


def test_window_size_follows_the_terminal(berth):
    import fcntl
    import struct
    import termios

    term = Terminal(berth, "run", "-it", "--rm", "--network", "none", "busybox", "sh")
    fcntl.ioctl(term.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))  # before: sent at attach
    term.read_until(b"# ")
    term.type(b"stty size\r")
    term.read_until(b"33 101")
    fcntl.ioctl(term.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 120, 0, 0))  # SIGWINCH to the CLI
    time.sleep(0.3)
    term.type(b"stty size; exit\r")
    term.read_until(b"44 120")
    assert term.wait() == 0


def test_sig_proxy_and_no_stdin(berth):
    berth("run", "-d", "-i", "--name", "quiet", "--network", "none", "busybox",
          "sh", "-c", "trap 'echo got-usr1' USR1; while :; do sleep 0.1; done", check=True)  # fmt: skip
    proc = subprocess.Popen([berth.binary, "--root", berth.root, "attach", "--no-stdin", "quiet"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    _wait_until_caught(proc.pid, signal.SIGUSR1)  # before that, SIGUSR1 would end it, as docker's CLI
    proc.send_signal(signal.SIGUSR1)  # proxied, as docker attach's --sig-proxy (the default)
    assert proc.stdout.readline() == "got-usr1\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert status(berth, "quiet") == "running"


def _wait_until_caught(pid: int, sig: int, timeout: float = 30.0) -> None:
    """Until process `pid` has a handler for `sig` (its SigCgt mask in /proc): attached, proxying."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        caught = next(line for line in open(f"/proc/{pid}/status") if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) >> (sig - 1) & 1:
            return
        time.sleep(0.01)
    raise AssertionError(f"{pid} never caught signal {sig}")


def test_start_attach_interactive(berth):
    berth("create", "-i", "--name", "later", "--network", "none", "busybox", "sh", "-c", "read l; echo got-$l; exit 3",
          check=True)  # fmt: skip
    proc = berth("start", "-a", "-i", "later", input=b"it\n")
    assert proc.returncode == 3 and proc.stdout == "got-it\n"
    berth("create", "--name", "later2", "--network", "none", "busybox", "sh", "-c", "read l; echo got-$l", check=True)
    proc = berth("start", "-a", "-i", "later2", input=b"it\n")  # created without -i: its stdin is /dev/null
    assert proc.returncode == 0 and proc.stdout == "got-\n"


@pytest.fixture(scope="module")
def engines(tmp_path_factory, dockerd):
    cli, _ = berth_and_docker(tmp_path_factory, dockerd, "attach")
    yield cli, dockerd
    cli.cleanup()


def docker(dockerd, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=dockerd.env, timeout=120, **kw)


def test_errors_as_docker(engines):
    cli, dockerd = engines
    before = cli("ps", "-aq").stdout
    # bad detach keys: docker's CLI leaves them to its daemon, which refuses the attach of a container
    # it has made ("unable to upgrade to tcp, received 400", exit 1); berth refuses before making one
    ours = cli("run", "--detach-keys", "shift-a", "--network", "none", "busybox", "true")
    assert (
        ours.returncode == 125 and ours.stderr == "Error: invalid detach keys (shift-a): Unknown character: 'shift-a'\n"
    )
    args = ["run", "-it", "--network", "none", "busybox", "true"]
    ours, theirs = cli(*args, stdin=subprocess.DEVNULL), docker(dockerd, *args, stdin=subprocess.DEVNULL)
    assert ours.returncode == theirs.returncode, (ours.stderr, theirs.stderr)
    assert "the input device is not a TTY" in ours.stderr and "the input device is not a TTY" in theirs.stderr
    assert cli("ps", "-aq").stdout == before  # nothing made
    for engine in (cli, lambda *a, **kw: docker(dockerd, *a, **kw)):
        engine("create", "--name", "stopped", "--network", "none", "busybox", "true")
    ours, theirs = cli("attach", "stopped"), docker(dockerd, "attach", "stopped")
    assert ours.returncode == theirs.returncode and "You cannot attach to a stopped container" in ours.stderr, (
        ours.stderr, theirs.stderr)  # fmt: skip
    docker(dockerd, "rm", "stopped")


def test_rm_when_detached_from_or_started_detached(berth):
    ids = {berth("run", "-d", "--rm", "--name", "gone1", "--network", "none", "busybox", "sleep", "0.3",
                 check=True).stdout.strip()}  # fmt: skip
    term = Terminal(berth, "run", "-it", "--rm", "--name", "gone2", "--network", "none", "busybox", "sh")
    term.read_until(b"# ")
    ids.add(berth("inspect", "-f", "{{.Id}}", "gone2", check=True).stdout.strip())
    term.type(b"sleep 0.5; exit\r")
    term.type(CTRL_P + CTRL_Q)  # detached: its monitor removes it once it exits
    assert term.wait() == 0
    deadline = time.monotonic() + 15
    while berth("ps", "-aq", "--filter", "name=gone").stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert berth("ps", "-aq", "--filter", "name=gone").stdout.strip() == ""
    left = {p.name for p in Path(berth.root, "containers").iterdir()}
    assert not left & ids, "a removed container's directory stayed"
    assert berth("run", "--rm", "--name", "gone3", "--network", "none", "busybox", "true").returncode == 0
    assert berth("ps", "-aq", "--filter", "name=gone3").stdout.strip() == ""  # attached: gone when run returns


def test_a_container_that_never_reads_its_stdin_does_not_stall_its_monitor(berth, tmp_path):
    berth("run", "-d", "-i", "--name", "deaf", "--network", "none", "busybox",
          "sh", "-c", "while :; do echo tick; sleep 0.1; done", check=True)  # fmt: skip
    flood = tmp_path / "flood"
    flood.write_bytes(b"x" * (48 << 20))  # far more than a pipe holds, or the monitor may hold
    with open(flood, "rb") as stdin:
        client = subprocess.Popen([berth.binary, "--root", berth.root, "attach", "--sig-proxy=false", "deaf"],
                                  stdin=stdin, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(1.0)
        before = berth("logs", "deaf", check=True).stdout.count("tick")
        time.sleep(1.0)
        assert berth("logs", "deaf", check=True).stdout.count("tick") > before + 3  # still logging
        monitor = int(Path(berth.root, "containers", berth("inspect", "-f", "{{.Id}}", "deaf").stdout.strip(),
                           "monitor.pid").read_text())  # fmt: skip
        rss_kib = int(next(line.split()[1] for line in open(f"/proc/{monitor}/status") if line.startswith("VmRSS")))
        assert rss_kib < 40 * 1024  # what it holds for the container is bounded (1 MiB), not the 48 MiB sent
    finally:
        client.kill()
        client.wait()


def test_a_container_that_never_reads_its_terminal_does_not_stall_its_monitor(berth):
    berth("run", "-d", "-it", "--name", "deaftty", "--network", "none", "busybox",
          "sh", "-c", "stty raw -echo; while :; do echo tick; sleep 0.1; done", check=True)  # fmt: skip
    term = Terminal(berth, "attach", "--detach-keys", "ctrl-x", "deaftty")
    try:
        time.sleep(0.5)
        os.set_blocking(term.fd, False)
        sent, deadline = 0, time.monotonic() + 3
        while sent < (1 << 20) and time.monotonic() < deadline:  # far more than the pty holds
            try:
                sent += os.write(term.fd, b"x" * 4096)
            except BlockingIOError:
                term._read()
        before = berth("logs", "deaftty", check=True).stdout.count("tick")
        time.sleep(1.0)
        assert berth("logs", "deaftty", check=True).stdout.count("tick") > before + 3  # still logging
    finally:
        os.kill(term.pid, signal.SIGKILL)
        os.waitpid(term.pid, 0)
        os.close(term.fd)
