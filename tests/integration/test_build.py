"""`berth build` end to end: instructions, the cache, multi-stage, bad input,
and what an interrupted build leaves (nothing)."""

import io
import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, bootstrapped

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    c = bootstrapped(str(tmp_path_factory.mktemp("build-root")))
    yield c
    c.cleanup()


def context(tmp_path: Path, dockerfile: str, files: dict[str, str | bytes] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return ctx


def build(cli, ctx, *args, check=True):
    proc = cli("build", *args, str(ctx), timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def config(cli, name):
    return json.loads(cli("image", "inspect", name, check=True).stdout)[0]["Config"]


def run(cli, *args):
    proc = cli("run", "--rm", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def leftovers(cli) -> tuple[list[str], list[str], str]:
    """(containers, active snapshots, mounts under the root): a build must leave none."""
    import sqlite3

    db = sqlite3.connect(os.path.join(cli.root, "overlay", "metadata.db"))
    active = [k for (k,) in db.execute("SELECT key FROM snapshots WHERE kind != 'committed'")]
    db.close()
    mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if cli.root in line]
    return cli("ps", "-aq").stdout.split(), active, "\n".join(mounts)


def test_seed_dockerfile_builds_simple(cli, tmp_path):
    ctx = tmp_path / "seed"
    ctx.mkdir()
    (ctx / "ch5Dockerfile").write_text('FROM bash\nCMD ["ping", "killer.sh"]\n')
    proc = subprocess.run([cli.binary, "--root", cli.root, "build", "-t", "simple", "-f", "ch5Dockerfile", "."],
                          cwd=ctx, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Successfully tagged simple:latest" in proc.stdout
    assert "simple" in cli("image", "ls").stdout
    assert config(cli, "simple")["Cmd"] == ["ping", "killer.sh"]


def test_every_config_instruction(cli, tmp_path):
    ctx = context(tmp_path, """\
# escape=\\
ARG BASE=busybox
FROM ${BASE}
MAINTAINER someone <a@b.c>
ARG WHO=world
ENV GREETING="hello ${WHO}" EMPTY= DEF=${NOPE:-fallback} ALT=${WHO:+set}
LABEL org.example.a="1" b=two
EXPOSE 80 53/udp 8000-8001
VOLUME ["/data"]
VOLUME /cache
USER 1000:1000
USER root
WORKDIR /srv
WORKDIR sub
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=2s --retries=3 CMD ["true"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered > /onbuild
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING from $(pwd)"]
""")  # fmt: skip
    build(cli, ctx, "-t", "allconf", "--build-arg", "WHO=berth", "--label", "from=cli")
    c = config(cli, "allconf")
    assert "GREETING=hello berth" in c["Env"] and "EMPTY=" in c["Env"]
    assert "DEF=fallback" in c["Env"] and "ALT=set" in c["Env"]
    assert c["Labels"] == {"org.example.a": "1", "b": "two", "from": "cli"}
    assert set(c["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert set(c["Volumes"]) == {"/data", "/cache"}
    assert c["User"] == "root" and c["WorkingDir"] == "/srv/sub" and c["StopSignal"] == "SIGINT"
    assert c["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Timeout": 2_000_000_000,
                                "Retries": 3}  # fmt: skip
    assert c["OnBuild"] == ["RUN echo triggered > /onbuild"]
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ["echo $GREETING from $(pwd)"]
    assert run(cli, "allconf") == "hello berth from /srv/sub\n"
    inspect = json.loads(cli("image", "inspect", "allconf", check=True).stdout)[0]
    assert inspect["Author"] == "someone <a@b.c>"
    # ONBUILD fires in a build FROM this image, and is not inherited further
    child = context(tmp_path / "child", "FROM allconf\nRUN cat /onbuild\n")
    proc = build(cli, child, "-t", "child")
    assert "Executing ONBUILD trigger" in proc.stdout and "triggered" in proc.stdout
    assert not config(cli, "child").get("OnBuild")
    assert run(cli, "--entrypoint", "cat", "child", "/onbuild") == "triggered\n"


def test_run_copy_add_and_their_forms(cli, tmp_path):
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz") as tar:
        info = tarfile.TarInfo("inner/x.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"xyz"))
    ctx = context(tmp_path, """\
FROM busybox
COPY a.txt /one/
COPY --chown=1000:100 --chmod=600 a.txt /two/b.txt
COPY dir /three/
COPY *.md /md/
ADD payload.tar.gz /add/
COPY <<EOF /heredoc.txt
from a heredoc
EOF
RUN <<EOF
echo line one > /script
echo line two >> /script
EOF
RUN ["/bin/sh", "-c", "echo exec form > /exec"]
RUN echo $HOME:$(id -u) > /shell
RUN rm /one/a.txt
""", {"a.txt": "A\n", "dir/sub/f": "F\n", "x.md": "x", "y.md": "y", "payload.tar.gz": payload.getvalue()})  # fmt: skip
    build(cli, ctx, "-t", "files")
    out = run(cli, "files", "sh", "-c",
              "ls /one; stat -c '%u:%g %a' /two/b.txt; cat /three/sub/f; ls /md; cat /add/inner/x.txt; echo;"
              " cat /heredoc.txt /script /exec /shell")  # fmt: skip
    assert out == "1000:100 600\nF\nx.md\ny.md\nxyz\nfrom a heredoc\nline one\nline two\nexec form\n/root:0\n"
    # the deletion is a whiteout in the last layer
    assert "No such file" in cli("run", "--rm", "files", "cat", "/one/a.txt").stderr


def test_cache_rules(cli, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nRUN echo one > /1\nCOPY f /f\nRUN cat /f > /2\n", {"f": "v1"})
    first = build(cli, ctx, "-t", "cached")
    assert "Using cache" not in first.stdout
    image = cli("images", "-q", "cached").stdout
    again = build(cli, ctx, "-t", "cached")
    assert again.stdout.count("Using cache") == 3
    assert cli("images", "-q", "cached").stdout == image  # same steps, same image
    (ctx / "f").write_text("v2")
    changed = build(cli, ctx, "-t", "cached")
    steps = changed.stdout.split("Step ")
    assert "Using cache" in steps[2] and "Using cache" not in steps[3] and "Using cache" not in steps[4]
    assert run(cli, "cached", "cat", "/2") == "v2"
    no_cache = build(cli, ctx, "-t", "cached", "--no-cache")
    assert "Using cache" not in no_cache.stdout
    # a build arg RUN sees is part of its key
    ctx2 = context(tmp_path / "a", "FROM busybox\nARG X=1\nRUN echo $X > /x\n")
    build(cli, ctx2, "-t", "argc")
    assert "Using cache" not in build(cli, ctx2, "-t", "argc", "--build-arg", "X=2").stdout
    assert run(cli, "argc", "cat", "/x") == "2\n"


def test_multi_stage_target_and_parallel_stages(cli, tmp_path):
    ctx = context(tmp_path, """\
FROM busybox AS a
RUN sleep 2 && echo from-a > /a
FROM busybox AS b
RUN sleep 2 && echo from-b > /b
FROM busybox AS broken
RUN exit 3
FROM scratch AS final
COPY --from=a /a /a
COPY --from=b /b /b
COPY --from=busybox /bin/busybox /bin/busybox
""")  # fmt: skip
    start = time.monotonic()
    proc = build(cli, ctx, "-t", "multi")
    elapsed = time.monotonic() - start
    assert "exit 3" not in proc.stdout  # the stage the target does not need is not built
    assert elapsed < 3.8, f"independent stages ran one after the other ({elapsed:.1f}s)"
    assert run(cli, "multi", "/bin/busybox", "cat", "/a", "/b") == "from-a\nfrom-b\n"
    proc = build(cli, ctx, "-t", "only-a", "--target", "a")
    assert "from-b" not in proc.stdout
    bad = build(cli, ctx, "--target", "nope", check=False)
    assert bad.returncode != 0 and "failed to reach build target nope" in bad.stderr


def test_dockerignore(cli, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nCOPY . /ctx/\n",
                  {".dockerignore": "*.log\n**/secret\n!keep.log\n", "a.log": "", "keep.log": "", "x/y/secret": "",
                   "x/y/ok": ""})  # fmt: skip
    build(cli, ctx, "-t", "ignored")
    out = run(cli, "ignored", "find", "/ctx", "-type", "f")
    assert sorted(out.split()) == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/keep.log", "/ctx/x/y/ok"]


def test_run_mounts(cli, tmp_path):
    ctx = context(tmp_path, """\
FROM busybox
RUN --mount=type=cache,target=/cache echo x >> /cache/count && wc -l < /cache/count > /seen
RUN --mount=type=bind,source=data,target=/mnt cat /mnt/d > /copied
RUN --mount=type=tmpfs,target=/scratch touch /scratch/t && test -z "$(ls /scratch/../scratch/../scratch 2>/dev/null | grep nothing)"
""", {"data/d": "bound\n"})  # fmt: skip
    build(cli, ctx, "-t", "mounts")
    assert run(cli, "mounts", "cat", "/copied") == "bound\n"
    (ctx / "Dockerfile").write_text((ctx / "Dockerfile").read_text().replace("echo x", "echo y"))
    build(cli, ctx, "-t", "mounts")
    assert run(cli, "mounts", "cat", "/seen") == "2\n"  # the cache mount kept the first build's line
    assert run(cli, "mounts", "sh", "-c", "ls /cache /scratch 2>&1 | wc -l") != ""


def test_context_from_stdin_and_dockerfile_from_stdin(cli, tmp_path):
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY f /f\n"), ("f", b"in tar\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    proc = cli("build", "-t", "fromtar", "-", input=tar_bytes.getvalue())
    assert proc.returncode == 0, proc.stderr
    assert run(cli, "fromtar", "cat", "/f") == "in tar\n"
    ctx = context(tmp_path, "unused", {"g": "from dir\n"})
    proc = cli("build", "-t", "fromstdin", "-f", "-", str(ctx), input=b"FROM busybox\nCOPY g /g\n")
    assert proc.returncode == 0, proc.stderr
    assert run(cli, "fromstdin", "cat", "/g") == "from dir\n"


@pytest.mark.parametrize(
    "dockerfile, files, message",
    [
        ("FROM busybox\nFROOM x\n", {}, "Dockerfile:2: unknown instruction: FROOM"),
        ("FROM busybox\nCOPY missing /x\n", {}, "file not found in build context or excluded by .dockerignore"),
        ("FROM busybox\nCOPY ../outside /x\n", {}, "forbidden path outside the build context"),
        ("FROM busybox\nCOPY link/ /x\n", {}, "forbidden path outside the build context"),
        ("FROM nosuchimage\n", {}, "No such image"),
        (
            "FROM busybox\nADD http://127.0.0.1:9/x /x\n",
            {},
            "ADD failed: http://127.0.0.1:9/x: [Errno 111] Connection refused",
        ),
        ("FROM busybox\nCOPY http://127.0.0.1:9/x /x\n", {}, "Dockerfile:2: COPY: source can't be a URL"),
        ("FROM --platform=linux/s390x busybox\n", {}, "berth builds for the host's platform"),
        ("FROM busybox\nRUN --security=insecure true\n", {}, "Dockerfile:2: unknown flag: --security for RUN"),
        ("FROM busybox\nENV A=${B:?required}\n", {}, "Dockerfile:2: ENV: B: required"),
    ],
)
def test_bad_input_is_one_clear_line_and_leaves_nothing(cli, tmp_path, dockerfile, files, message):
    ctx = context(tmp_path, dockerfile, files)
    os.symlink("/etc", ctx / "link")
    before = cli.store_state()
    proc = build(cli, ctx, "-t", "bad", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert cli.store_state() == before
    assert leftovers(cli) == ([], [], "")


def test_failing_run_shows_output_and_code(cli, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nRUN echo about to fail && exit 7\n")
    before = cli.store_state()
    proc = build(cli, ctx, "-t", "fails", check=False)
    assert proc.returncode == 1
    assert "about to fail" in proc.stdout
    assert "returned a non-zero code: 7" in proc.stderr
    proc = build(cli, ctx, "-q", "-t", "fails", check=False)
    assert "about to fail" in proc.stdout  # quiet builds still show a failing step's output
    assert cli.store_state()[1] == before[1]
    assert leftovers(cli) == ([], [], "")


def _interrupt_build(cli, tmp_path, ctx, wait_for: bytes, delay: float = 0.0) -> None:
    """Ctrl-C a build `delay` seconds after its output shows `wait_for`; it must stop with 130."""
    out = tmp_path / "out"
    with open(out, "wb") as f:
        # PYTHONFAULTHANDLER: a build that hangs is sent SIGABRT below and shows where each thread was
        proc = subprocess.Popen([str(BIN / "berth"), "--root", cli.root, "build", "-t", "interrupted", str(ctx)],
                                stdout=f, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONFAULTHANDLER="1"))  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while wait_for not in out.read_bytes():
            assert time.monotonic() < deadline and proc.poll() is None, out.read_text()
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            proc.wait(10)
            raise AssertionError(f"the build did not end after Ctrl-C (delay {delay}):\n{out.read_text()}") from None
        assert code == 130, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_interrupted_build_leaves_nothing(cli, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nRUN echo started && sleep 60\n")
    images = cli.store_state()[1]
    _interrupt_build(cli, tmp_path, ctx, b"\nstarted\n")  # the step's own output: its container runs
    assert cli.store_state()[1] == images
    assert leftovers(cli) == ([], [], "")
    # and while the step's container and its monitor are being made (CI once caught one left then)
    for delay in (0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15):
        _interrupt_build(cli, tmp_path, ctx, b"Step 2/2", delay)
        assert cli.store_state()[1] == images
        assert leftovers(cli) == ([], [], ""), delay


def test_add_url_from_a_loopback_server(cli, tmp_path):
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "file.tar").write_bytes(b"not extracted, even as a tar name\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(served))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/file.tar"
        ctx = context(tmp_path, f"FROM busybox\nADD {url} /dl/\nADD {url} /renamed\n")
        build(cli, ctx, "-t", "addurl")
        out = run(cli, "addurl", "sh", "-c", "stat -c '%a %u' /dl/file.tar /renamed; cat /renamed")
        assert out == "600 0\n600 0\nnot extracted, even as a tar name\n"
    finally:
        server.shutdown()
        server.server_close()


def test_proxy_and_platform_args(cli, tmp_path):
    ctx = context(tmp_path, """\
ARG BASE=busybox
FROM $BASE
ARG TARGETARCH
ARG TARGETPLATFORM
RUN echo "$TARGETPLATFORM $TARGETARCH ${HTTP_PROXY:-none}" > /seen
""")  # fmt: skip
    proc = build(cli, ctx, "-t", "proxy", "--build-arg", "HTTP_PROXY=http://127.0.0.1:3128")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    assert run(cli, "proxy", "cat", "/seen") == f"linux/{arch} {arch} http://127.0.0.1:3128\n"
    assert "not consumed" not in proc.stdout
    history = cli("history", "--no-trunc", "proxy", check=True).stdout
    assert "127.0.0.1:3128" not in history  # proxies stay out of the image
    again = build(cli, ctx, "-t", "proxy", "--build-arg", "HTTP_PROXY=http://127.0.0.1:3129")
    assert "Using cache" in again.stdout  # and out of the cache key


def test_builder_prune_forgets_the_cache(cli, tmp_path):
    ctx = context(tmp_path, "FROM busybox\nRUN --mount=type=cache,target=/c echo pruned > /c/f && echo x > /x\n")
    build(cli, ctx, "-t", "prunable")
    assert "Using cache" in build(cli, ctx, "-t", "prunable").stdout
    proc = cli("builder", "prune", "-f", check=True)
    assert proc.stdout.startswith("Total:")
    assert not Path(cli.root, "build", "mounts").exists()
    assert "Using cache" not in build(cli, ctx, "-t", "prunable").stdout


def test_run_steps_get_the_default_bridge_unless_told(cli, tmp_path):
    """As Docker's builder: a RUN step has the default bridge's address and route (so `apt-get
    install` can work); --network none takes it away; nothing of the step's network stays."""
    probe = "RUN ip -o -4 addr show eth0 | grep -q 'inet 10\\.89\\.' && ip route | grep -q '^default via'"
    ctx = context(tmp_path, f"FROM busybox\n{probe}\n")
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.count("veth")
    build(cli, ctx, "--no-cache", "-t", "netstep")
    refused = build(cli, ctx, "--no-cache", "--network", "none", check=False)
    assert refused.returncode != 0
    assert subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.count("veth") == links
    assert leftovers(cli) == ([], [], "")
    cli("rmi", "netstep", check=True)
