"""slirp4netns for a container's network namespace: Debian's user-mode network stack, what
Podman's rootless containers use by default (pasta is newer and not in Debian 12). Chosen
because it needs no privilege at all: the namespace gets tap0 with 10.0.2.100, outbound
connections leave from slirp4netns's own sockets in the host's namespace, and published ports
are its host forwards, asked for through its API socket. The host's loopback is out of the
container's reach (--disable-host-loopback)."""

from __future__ import annotations

import os

from berth.errors import FailedPrecondition, Unsupported

ADDRESS = "10.0.2.100"
DNS = "10.0.2.3"
READY_TIMEOUT = 10.0


def start(c, netns: int, bindings: list[dict]) -> list[int]:
    """slirp4netns on the namespace held by `netns`, configured, with the ports forwarded: the
    fds the monitor must hold for as long as the container lives (the exit pipe's end)."""
    exit_r, exit_w = os.pipe()
    api = _api_path(c.id)
    try:
        launch(f"/proc/self/fd/{netns}", exit_r, os.path.join(c.dir, "slirp4netns.log"), api, keep=(netns,))
        for b in bindings:
            forward(api, b)
    except BaseException:
        os.close(exit_w)
        raise
    finally:
        os.close(exit_r)
    return [exit_w]


def launch(netns: str, exit_r: int, log_path: str, api: str, keep: tuple[int, ...] = ()) -> None:
    """slirp4netns behind tap0 of the network namespace at path `netns`, until `exit_r` (the read
    end of a pipe) reads end of file; returns once the namespace's network is up."""
    import select
    import shutil
    import subprocess

    binary = shutil.which("slirp4netns")
    if binary is None:
        raise Unsupported("slirp4netns is missing: install Debian's slirp4netns package for rootless networking")
    ready_r, ready_w = os.pipe()
    try:
        os.unlink(api)
    except FileNotFoundError:
        pass
    try:
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([binary, "--configure", "--mtu=65520", "--disable-host-loopback",
                                     f"--exit-fd={exit_r}", f"--ready-fd={ready_w}", f"--api-socket={api}",
                                     "--netns-type=path", netns, "tap0"],
                                    pass_fds=(exit_r, ready_w, *keep), stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=log, start_new_session=True)  # fmt: skip
        os.close(ready_w)
        ready_w = -1
        ready, _, _ = select.select([ready_r], [], [], READY_TIMEOUT)
        if not ready or os.read(ready_r, 1) != b"1":
            proc.kill()
            proc.wait()
            raise FailedPrecondition(f"slirp4netns did not bring the network up: {_log(log_path)}")
    finally:
        os.close(ready_r)
        if ready_w >= 0:
            os.close(ready_w)


def _api_path(cid: str) -> str:
    """Short, in the runtime directory: a socket's path has at most 107 bytes."""
    from berth.engine import rootless

    top = rootless.runtime_dir()
    os.makedirs(top, mode=0o700, exist_ok=True)
    return os.path.join(top, f"slirp-{cid[:16]}.sock")


def forward(api: str, b: dict, guest_port: int = 0) -> None:
    """A host forward of a published port (a PortBindings entry) to `guest_port` (its own port,
    unless given) of the namespace."""
    host_port = int(b.get("HostPort") or b["Port"])
    doc = _ask(api, {"execute": "add_hostfwd", "arguments": {
        "proto": b.get("Proto") or "tcp", "host_addr": b.get("HostIp") or "0.0.0.0", "host_port": host_port,
        "guest_port": guest_port or int(b["Port"])}})  # fmt: skip
    if "error" in doc:
        raise FailedPrecondition(f"Bind for {b.get('HostIp') or '0.0.0.0'}:{host_port} failed: "
                                 f"{doc['error'].get('desc', doc['error'])}")  # fmt: skip


def unforward(api: str, bindings: list[dict]) -> None:
    """The host forwards of these published ports (those there are)."""
    wanted = {(b.get("Proto") or "tcp", b.get("HostIp") or "0.0.0.0", int(b["HostPort"])) for b in bindings}
    listed = _ask(api, {"execute": "list_hostfwd"}).get("return", {}).get("entries") or []
    for entry in listed:
        if (entry.get("proto"), entry.get("host_addr"), entry.get("host_port")) in wanted:
            _ask(api, {"execute": "remove_hostfwd", "arguments": {"id": entry["id"]}})


def _ask(api: str, request: dict) -> dict:
    """One request to slirp4netns's API socket, and its answer."""
    import socket

    from berth import fastjson

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(READY_TIMEOUT)
        s.connect(api)
        s.sendall(fastjson.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    return fastjson.loads(reply or b"{}")


def _log(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").strip().splitlines()[-1]
    except (OSError, IndexError):
        return "no output"
