"""The OCI image-spec (and Docker schema2) documents as records."""

from __future__ import annotations

from berth.oci.record import from_json, record, to_json

# media types, OCI and the Docker schema2 equivalents berth reads and writes
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"

MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
LAYERS = (
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_LAYER_GZIP.replace(".gzip", ""),
)


_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64"}  # fmt: skip


def host_arch() -> str:
    """The host's architecture as image configs name it (Go's GOARCH: amd64, arm64 ...)."""
    import os

    machine = os.uname().machine
    return _GOARCH.get(machine, machine)


def host_platform() -> str:
    return f"linux/{host_arch()}"


def layer_compression(media_type: str) -> str:
    """'gzip', 'zstd' or '' (plain tar) for a layer media type."""
    if media_type.endswith(("+gzip", ".gzip")):
        return "gzip"
    if media_type.endswith("+zstd"):
        return "zstd"
    if media_type in LAYERS:
        return ""
    raise ValueError(f"unknown layer media type {media_type!r}")


@record
class Platform:
    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""


@record
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = {}
    platform: Platform | None = None
    urls: tuple[str, ...] = ()


@record
class Manifest:
    schema_version: int
    config: Descriptor
    layers: tuple[Descriptor, ...] = ()
    media_type: str = ""
    annotations: dict[str, str] = {}


@record
class Index:
    schema_version: int
    manifests: tuple[Descriptor, ...] = ()
    media_type: str = ""
    annotations: dict[str, str] = {}


@record
class RootFS:
    _json_names = {"diff_ids": "diff_ids"}
    type: str
    diff_ids: tuple[str, ...] = ()


@record
class History:
    _json_names = {"created_by": "created_by", "empty_layer": "empty_layer"}
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False


@record
class ContainerConfig:
    _json_names = {
        "user": "User", "exposed_ports": "ExposedPorts", "env": "Env", "entrypoint": "Entrypoint", "cmd": "Cmd",
        "volumes": "Volumes", "working_dir": "WorkingDir", "labels": "Labels", "stop_signal": "StopSignal",
        "healthcheck": "Healthcheck", "on_build": "OnBuild", "shell": "Shell",
    }  # fmt: skip
    user: str = ""
    exposed_ports: dict[str, object] = {}
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    volumes: dict[str, object] = {}
    working_dir: str = ""
    labels: dict[str, str] = {}
    stop_signal: str = ""
    healthcheck: dict[str, object] = {}
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()


@record
class ImageConfig:
    architecture: str
    os: str
    rootfs: RootFS
    created: str = ""
    author: str = ""
    config: ContainerConfig | None = None
    history: tuple[History, ...] = ()
    variant: str = ""


def parse_manifest(data: object) -> Manifest:
    return from_json(Manifest, data)


def parse_index(data: object) -> Index:
    return from_json(Index, data)


def parse_config(data: object) -> ImageConfig:
    return from_json(ImageConfig, data)


def as_json(doc: object) -> dict:
    return to_json(doc)
