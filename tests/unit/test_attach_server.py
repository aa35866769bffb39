"""The monitor's attach socket with real sockets and pipes, no container: what clients send
reaches the container's stdin whenever that comes, in order, and closes it when asked."""

import os
import socket

import pytest

from berth import streams
from berth.monitor.attach import AttachServer


def _serve_until_quiet(server: AttachServer) -> None:
    import select

    while True:
        ready, _, _ = select.select(server.fds(), [], [], 0.2)
        if not ready:
            return
        for fd in ready:
            server.handle(fd)


def _client(server: AttachServer, stdin: bool) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(server.path)
    sock.sendall(b'{"stdin": %s}\n' % (b"true" if stdin else b"false"))
    return sock


def _read_all(fd: int) -> bytes:
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    return out


def test_input_sent_before_the_container_has_a_stdin_is_kept(tmp_path):
    # an attached start lets its client in before the container exists: `echo it | berth run -i`
    server = AttachServer(str(tmp_path), stdin=True, stdin_once=True)
    client = _client(server, stdin=True)
    client.sendall(streams.frame(streams.STDIN, b"it\n") + streams.frame(streams.STDIN_CLOSED, b""))
    _serve_until_quiet(server)
    r, w = os.pipe()
    os.set_blocking(w, False)
    server.attach_stdin(w)
    assert _read_all(r) == b"it\n"  # and then end of file: the client closed its input
    assert server.stdin_fd == -1
    os.close(r)
    client.close()
    server.finish(0)


@pytest.mark.parametrize("server_stdin, client_stdin", [(False, True), (True, False)])
def test_input_nobody_may_write_is_dropped(tmp_path, server_stdin, client_stdin):
    # a container without an open stdin; a client that attached without one
    server = AttachServer(str(tmp_path), stdin=server_stdin)
    client = _client(server, stdin=client_stdin)
    client.sendall(streams.frame(streams.STDIN, b"lost\n"))
    _serve_until_quiet(server)
    assert not server.pending
    server.finish(0)


def test_exit_frame_reaches_the_client_and_the_socket_goes(tmp_path):
    server = AttachServer(str(tmp_path))
    client = _client(server, stdin=False)
    _serve_until_quiet(server)
    server.broadcast(streams.STDOUT, b"out")
    server.finish(7)
    frames = list(streams.Reader().feed(_read_all(client.fileno())))
    assert frames == [(streams.STDOUT, b"out"), (streams.EXIT, b"7")]
    assert not os.path.exists(server.path)
