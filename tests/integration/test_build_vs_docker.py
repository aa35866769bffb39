"""The same Dockerfiles built by berth and by Debian's docker (BuildKit), from the
same base images: the meaningful fields of `image inspect` and the exported
file trees (paths, types, modes, owners, link targets, contents) must agree.

Debian's docker 20.10 has BuildKit's built-in Dockerfile frontend of its day,
without heredocs: those are covered by test_build.py alone.
"""

import hashlib
import io
import json
import subprocess
import tarfile

import pytest

from tests.conftest import bootstrapped

pytestmark = pytest.mark.root

_TAR = io.BytesIO()
with tarfile.open(fileobj=_TAR, mode="w:gz") as _t:
    for _name, _data, _mode in (
        ("pkg/bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        ("pkg/README", b"read me\n", 0o644),
    ):
        _info = tarfile.TarInfo(_name)
        _info.size, _info.mode, _info.uid, _info.gid = len(_data), _mode, 7, 8
        _t.addfile(_info, io.BytesIO(_data))

FILES = {"a.txt": "alpha\n", "b.txt": "beta\n", "dir/x": "x\n", "dir/sub/y": "y\n", "run.sh": "#!/bin/sh\necho run\n",
         "notes.md": "notes\n", "skip.log": "skip\n", "keep.log": "keep\n", "pkg.tar.gz": _TAR.getvalue(),
         ".dockerignore": "*.log\n!keep.log\n"}  # fmt: skip

CASES = {
    "seed": 'FROM bash\nCMD ["ping", "killer.sh"]\n',
    "env_forms": 'FROM busybox\nENV A=1 B="two words" C=\nENV OLD form with spaces\nENV D=${A}-${B}\n',
    "args": "ARG TAG=latest\nFROM busybox:${TAG}\nARG X=dflt\nARG Y\nENV X=$X Y=${Y:-unset} Z=${X:+alt}\n",
    "labels": 'FROM busybox\nLABEL a=1 "b c"="d e"\nLABEL a=2\n',
    "expose": "FROM busybox\nEXPOSE 80 443/tcp 53/udp 7000-7002\n",
    "volumes": 'FROM busybox\nVOLUME ["/data", "/logs"]\nVOLUME /cache\n',
    "user": "FROM busybox\nUSER nobody\nUSER 1000:1000\n",
    "workdir": "FROM busybox\nWORKDIR /a\nWORKDIR b\nWORKDIR ../c\nRUN pwd > here\n",
    "stopsignal": "FROM busybox\nSTOPSIGNAL SIGUSR1\n",
    "healthcheck": "FROM busybox\nHEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD wget -q localhost || exit 1\n",
    "healthcheck_none": 'FROM busybox\nHEALTHCHECK CMD ["true"]\nHEALTHCHECK NONE\n',
    "shell": 'FROM busybox\nSHELL ["/bin/sh", "-ec"]\nRUN echo $0 > /shell\nCMD echo shell form\n',
    "entrypoint": 'FROM busybox\nENTRYPOINT echo hello\n',
    "entrypoint_json_cmd": 'FROM busybox\nCMD ["a"]\nENTRYPOINT ["/bin/echo"]\nCMD ["b", "c"]\n',
    "entrypoint_resets_base_cmd": 'FROM bash\nENTRYPOINT ["/bin/sh"]\n',
    "onbuild": "FROM busybox\nONBUILD RUN echo later\nONBUILD COPY . /src\n",
    "maintainer": "FROM busybox\nMAINTAINER Someone <someone@example.com>\n",
    "copy_forms": "FROM busybox\nCOPY a.txt /one/\nCOPY a.txt /renamed.txt\nCOPY dir /dir-contents/\nCOPY *.txt /txts/\n"
                  "COPY run.sh notes.md /multi/\nWORKDIR /w\nCOPY b.txt .\n",
    "copy_owner_mode": "FROM busybox\nCOPY --chown=1000:100 a.txt /o/a\nCOPY --chown=nobody dir /o/d/\n"
                       "COPY --chmod=700 run.sh /o/run\n",
    "add_archive": "FROM busybox\nADD pkg.tar.gz /opt/\nADD a.txt /added\n",
    "run_changes": "FROM busybox\nRUN mkdir -p /data/x && echo 1 > /data/x/f && echo extra >> /etc/passwd\n"
                   "RUN rm -rf /data/x && rm /bin/vi && chmod 700 /home && chown 1:1 /tmp\n",
    "links": "FROM busybox\nRUN echo t > /target && ln -s /target /sym && ln /target /hard && ln -s missing /dangling\n",
    "multistage": "FROM busybox AS build\nRUN echo built > /artifact\nFROM busybox AS unused\nRUN exit 1\n"
                  "FROM busybox\nCOPY --from=build /artifact /artifact\nCOPY --from=0 /bin/busybox /copied-busybox\n",
    "dockerignore": "FROM busybox\nCOPY . /ctx/\n",
    "scratch": 'FROM scratch\nCOPY dir /\nCOPY --from=busybox /bin/busybox /bin/busybox\nCMD ["/bin/busybox"]\n',
    "run_mounts": "FROM busybox\nRUN --mount=type=bind,source=dir,target=/mnt cat /mnt/x > /from-bind\n"
                  "RUN --mount=type=tmpfs,target=/scratch touch /scratch/f && ls /scratch > /tmpfs-list\n",
    "run_env_and_args": 'FROM busybox\nARG V=7\nENV E=e\nRUN echo "$V $E $HOME" > /seen\n',
}  # fmt: skip
SKIP = {".dockerenv", "etc/hosts", "etc/hostname", "etc/resolv.conf", "etc/mtab"}
CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal",
               "Healthcheck", "OnBuild")  # fmt: skip


@pytest.fixture(scope="module")
def pair(tmp_path_factory, dockerd):
    """A berth store and the private dockerd, both holding berth's busybox and bash images."""
    cli = bootstrapped(str(tmp_path_factory.mktemp("compat-root")))
    archive = tmp_path_factory.mktemp("compat") / "bases.tar"
    cli("save", "-o", str(archive), "busybox", "bash", check=True)
    loaded = dockerd("load", "-i", str(archive))
    assert loaded.returncode == 0, loaded.stderr
    yield cli, dockerd
    cli.cleanup()


def tree(tar_bytes: bytes) -> dict:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for m in tar:
            name = m.name.strip("/").removeprefix("./")
            if not name or name in SKIP or name.split("/")[0] in ("dev", "proc", "sys"):
                continue
            content = hashlib.sha256(tar.extractfile(m).read()).hexdigest()[:16] if m.isreg() else ""
            out[name] = (m.type, oct(m.mode & 0o7777), m.uid, m.gid, m.linkname if (m.issym() or m.islnk()) else "",
                         content)  # fmt: skip
    return out


def normalised(config: dict) -> dict:
    return {k: (config.get(k) or None) for k in CONFIG_KEYS}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_image_as_docker(pair, tmp_path, case):
    cli, docker = pair
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(CASES[case])
    for name, data in FILES.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    (ctx / "run.sh").chmod(0o755)
    tag = f"compat-{case.replace('_', '-')}"
    args = ["build", "--network", "none", "--build-arg", "Y=given", "-t", tag, str(ctx)]
    ours = cli(*args, timeout=300)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    theirs = subprocess.run(["/usr/bin/docker", *args], capture_output=True, text=True, timeout=300,
                            env=dict(docker.env, DOCKER_BUILDKIT="1"))  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr
    ours_inspect = json.loads(cli("image", "inspect", tag, check=True).stdout)[0]
    theirs_inspect = json.loads(docker("image", "inspect", tag).stdout)[0]
    assert normalised(ours_inspect["Config"]) == normalised(theirs_inspect["Config"])
    assert (ours_inspect.get("Author") or "") == (theirs_inspect.get("Author") or "")
    cid = cli("create", tag, "true", check=True).stdout.strip()
    ours_tree = _export_berth(cli, cid)
    docker_cid = docker("create", tag, "true").stdout.decode().strip()
    try:
        theirs_tree = docker("export", docker_cid).stdout
    finally:
        docker("rm", "-f", docker_cid)
    a, b = tree(ours_tree), tree(theirs_tree)
    if "etc" not in a or "etc" not in b:  # docker's init layer makes /etc for its mount points
        a.pop("etc", None)
        b.pop("etc", None)
    diff = {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    assert not diff, f"berth vs docker: {diff}"


def _export_berth(cli, cid: str) -> bytes:
    proc = subprocess.run([cli.binary, "--root", cli.root, "export", cid], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
