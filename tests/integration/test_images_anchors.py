"""Archives move between berth and the installed tools, both ways, keeping the image ID."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unique

pytestmark = [pytest.mark.root, pytest.mark.anchor]
BERTH = str(Path(sys.executable).parent / "berth")


@pytest.fixture
def berth(tmp_path):
    root = str(tmp_path / "store")

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([BERTH, "--root", root, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"berth {' '.join(args)}: {proc.stderr}"
        return proc

    return run


def image_id(berth, name: str) -> str:
    return json.loads(berth("image", "inspect", name).stdout)[0]["Id"]


def test_berth_to_docker_and_back(berth, dockerd, tmp_path):
    name = f"berth-test/{unique('img')}:v1"
    berth("image", "bootstrap", "busybox", "--tag", name)
    archive = tmp_path / "from-berth.tar"
    berth("save", "-o", str(archive), name)
    try:
        loaded = dockerd("load", "-i", str(archive), text=True)
        assert loaded.returncode == 0, loaded.stderr
        assert f"Loaded image: {name}" in loaded.stdout
        assert dockerd("image", "inspect", "-f", "{{.Id}}", name, text=True).stdout.strip() == image_id(berth, name)
        ran = dockerd("run", "--rm", "--network", "none", name, "echo", "hi from docker", text=True)
        assert ran.returncode == 0 and ran.stdout == "hi from docker\n", ran.stderr
        back = tmp_path / "from-docker.tar"
        assert dockerd("save", "-o", str(back), name).returncode == 0
        berth("rmi", name)
        assert berth("load", "-i", str(back)).stdout == f"Loaded image: {name}\n"
        assert image_id(berth, name) == dockerd("image", "inspect", "-f", "{{.Id}}", name, text=True).stdout.strip()
    finally:
        dockerd("rmi", "-f", name)


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_berth_to_podman_and_back(berth, podman, tmp_path, fmt):
    name = f"localhost/{unique('img')}:v1"
    berth("image", "bootstrap", "busybox", "--tag", name)
    archive = tmp_path / "from-berth.tar"
    berth("save", "--format", fmt, "-o", str(archive), name)
    try:
        loaded = podman("load", "-i", str(archive))
        assert loaded.returncode == 0, loaded.stderr
        assert name in loaded.stdout
        assert podman("image", "inspect", "-f", "{{.Id}}", name).stdout.strip() == image_id(berth, name)[7:]
        ran = podman("run", "--rm", "--network", "none", name, "echo", "hi from podman")
        assert ran.returncode == 0 and ran.stdout == "hi from podman\n", ran.stderr
        back = tmp_path / "from-podman.tar"
        assert podman("save", "--format", fmt, "-o", str(back), name).returncode == 0
        berth("rmi", name)
        out = berth("load", "-i", str(back)).stdout
        assert out == f"Loaded image: {name}\n", out
        assert image_id(berth, name)[7:] == podman("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()
    finally:
        podman("rmi", "-f", name)
