"""Base root file systems made from the host's own packages, with no network.

busybox comes from Debian's busybox-static: one static binary with every
applet linked beside it, and the few files a container expects.
"""

from __future__ import annotations

import os
import subprocess

from berth.errors import NotFound

BUSYBOX = "/bin/busybox"
_DIRS = ("bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr/bin", "usr/sbin", "sbin", "var", "run")


def _static_busybox(path: str = BUSYBOX) -> str:
    if not os.path.exists(path):
        raise NotFound(f"{path} not found: install Debian's busybox-static (apt-get install busybox-static)")
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"/lib64/ld-linux" in head or b"/lib/ld-linux" in head:
        raise NotFound(f"{path} is dynamically linked: install Debian's busybox-static")
    return path


def make_busybox_rootfs(dest: str, busybox: str = BUSYBOX) -> str:
    """Fill `dest` with busybox and a symlink per applet; return dest."""
    src = _static_busybox(busybox)
    for d in _DIRS:
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    target = os.path.join(dest, "bin", "busybox")
    with open(src, "rb") as fin, open(target, "wb") as fout:
        fout.write(fin.read())
    os.chmod(target, 0o755)
    applets = subprocess.run([src, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = os.path.join(dest, applet)
        if os.path.lexists(link) or applet == "bin/busybox":
            continue
        depth = applet.count("/")
        os.symlink("../" * depth + "bin/busybox" if depth > 1 else "busybox", link)
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        "etc/group": "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n",
        "etc/hostname": "berth\n",
    }
    for name, text in files.items():
        with open(os.path.join(dest, name), "w") as f:
            f.write(text)
    return dest
