"""`berth image inspect`: Docker's JSON shape, or -f/--format with a Go template."""

from __future__ import annotations

import sys

from berth.argv import STR, Option, parse
from berth.cli.gotemplate import format_documents
from berth.errors import BerthError, InvalidArgument
from berth.oci import image_spec, reference

OPTIONS = [Option("format,f", STR, "", help="Go template, or json")]


def image_json(store, image) -> dict:
    config = store.config(image)
    raw_config = store.json_blob(image.id).get("config") or {}
    manifest = store.manifest(image)
    repo_tags = [f"{r.familiar_name()}:{r.tag}" for r in map(reference.parse, image.tags)]
    repo_digests = sorted({f"{reference.parse(t).familiar_name()}@{image.manifest}" for t in image.tags})
    container_config = {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
        "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
        "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
    }  # fmt: skip
    container_config.update(raw_config)
    return {
        "Id": image.id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": config.history[-1].comment if config.history else "",
        "Created": config.created,
        "DockerVersion": "",
        "Author": config.author,
        "Config": container_config,
        "Architecture": config.architecture,
        "Os": config.os,
        "Size": image.size,
        "GraphDriver": {"Data": None, "Name": "overlay"},
        "RootFS": {"Type": config.rootfs.type, "Layers": list(config.rootfs.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {
            "mediaType": manifest.media_type or image_spec.OCI_MANIFEST,
            "digest": image.manifest,
            "size": store.content.size(image.manifest),
        },  # fmt: skip
    }


def main(store, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if not names:
        raise InvalidArgument('"inspect" requires at least 1 argument.')
    found, failed = [], []
    for name in names:
        try:
            found.append(image_json(store, store.get(name)))
        except BerthError as e:
            failed.append(str(e))
    sys.stdout.write(format_documents(opts["format"], found))
    for message in failed:
        sys.stderr.write(f"Error: {message}\n")
    return 1 if failed else 0
