"""Base images made from the host's own packages, with no network.

busybox comes from Debian's busybox-static: one static binary with every
applet linked beside it, and the few files a container expects. The bash image
adds Debian's bash-static as /bin/bash, standing in for Docker Hub's `bash`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from berth.errors import InvalidArgument, NotFound

BUSYBOX = "/bin/busybox"
BASH_STATIC = "/bin/bash-static"
_DIRS = ("bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr/bin", "usr/sbin", "sbin", "var", "run")
KINDS = ("busybox", "bash")


def _static(path: str, package: str) -> str:
    if not os.path.exists(path):
        raise NotFound(f"{path} not found: install Debian's {package} (apt-get install {package})")
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"/lib64/ld-linux" in head or b"/lib/ld-linux" in head:
        raise NotFound(f"{path} is dynamically linked: install Debian's {package}")
    return path


def _copy_executable(src: str, dest: str) -> None:
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    os.chmod(dest, 0o755)


def make_busybox_rootfs(dest: str, busybox: str = BUSYBOX) -> str:
    """Fill `dest` with busybox and a symlink per applet; return dest."""
    src = _static(busybox, "busybox-static")
    for d in _DIRS:
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    _copy_executable(src, os.path.join(dest, "bin", "busybox"))
    applets = subprocess.run([src, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = os.path.join(dest, applet)
        if os.path.lexists(link) or applet == "bin/busybox":
            continue
        os.symlink(os.path.relpath("bin/busybox", os.path.dirname(applet)), link)  # sbin/ip -> ../bin/busybox
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
        "etc/hostname": "berth\n",
    }
    for name, text in files.items():
        with open(os.path.join(dest, name), "w") as f:
            f.write(text)
    return dest


def make_bash_rootfs(dest: str) -> str:
    """busybox plus bash-static as /bin/bash (and /usr/local/bin/bash, as the bash image has it)."""
    src = _static(BASH_STATIC, "bash-static")
    make_busybox_rootfs(dest)
    _copy_executable(src, os.path.join(dest, "bin", "bash"))
    os.makedirs(os.path.join(dest, "usr/local/bin"), exist_ok=True)
    os.symlink("/bin/bash", os.path.join(dest, "usr/local/bin/bash"))
    return dest


def bootstrap(store, kind: str, tag: str | None = None):
    """Make the `busybox` or `bash` image in the store; return it."""
    from berth.image.create import image_from_directory

    if kind not in KINDS:
        raise InvalidArgument(f"unknown base image {kind!r}: choose from {', '.join(KINDS)}")
    with tempfile.TemporaryDirectory(prefix="berth-bootstrap-") as tmp:
        root = os.path.join(tmp, "rootfs")
        if kind == "busybox":
            make_busybox_rootfs(root)
            cmd = ("sh",)
        else:
            make_bash_rootfs(root)
            cmd = ("bash",)
        return image_from_directory(store, root, [tag or f"{kind}:latest"], f"berth image bootstrap {kind}", cmd=cmd)
