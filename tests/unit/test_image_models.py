import json

import pytest

from berth.oci import digest, image_spec, reference
from berth.oci.record import SpecError

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, expected, familiar",
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox"),
        ("index.docker.io/library/bash:5", "docker.io/library/bash:5", "bash"),
        ("user/app", "docker.io/user/app:latest", "user/app"),
        ("localhost/simple", "localhost/simple:latest", "localhost/simple"),
        ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "localhost:5000/a/b"),
        ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x"),
        ("quay.io/org/img@" + D, "quay.io/org/img@" + D, "quay.io/org/img"),
        ("img:tag@" + D, "docker.io/library/img:tag@" + D, "img"),
        ("ab-c__d/e---f.g", "docker.io/ab-c__d/e---f.g:latest", "ab-c__d/e---f.g"),
    ],
)
def test_references_normalise_like_docker(text, expected, familiar):
    ref = reference.parse(text)
    assert str(ref) == expected
    assert ref.familiar_name() == familiar


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "invalid reference format"),
        ("UPPER", "must be lowercase"),
        ("a:", "bad tag"),
        ("a:-x", "bad tag"),
        ("a@sha256:abc", "sha256 takes 64"),
        ("a@md5:" + "a" * 32, "expected sha256"),
        ("a//b", "invalid reference format"),
        ("-a", "invalid reference format"),
        ("a_", "invalid reference format"),
        ("host:port/x", "bad registry"),
    ],
)
def test_bad_references(text, message):
    with pytest.raises(reference.ReferenceError, match=message):
        reference.parse(text)


def test_digests():
    assert digest.short_id(D) == "a" * 12
    for bad in ("sha256:" + "A" * 64, "sha256:" + "a" * 63, "a" * 64, "sha1:" + "a" * 40):
        with pytest.raises(digest.DigestError):
            digest.validate(bad)


def test_manifest_and_config_round_trip():
    manifest = {
        "schemaVersion": 2,
        "mediaType": image_spec.OCI_MANIFEST,
        "config": {"mediaType": image_spec.OCI_CONFIG, "digest": D, "size": 10},
        "layers": [{"mediaType": image_spec.OCI_LAYER_GZIP, "digest": D, "size": 20}],
    }
    m = image_spec.parse_manifest(manifest)
    assert m.layers[0].size == 20 and image_spec.as_json(m) == manifest
    config = {
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [D]},
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/", "Labels": {"a": "b"}},
        "history": [{"created_by": "x", "empty_layer": True}],
    }  # fmt: skip
    c = image_spec.parse_config(json.loads(json.dumps(config)))
    assert c.config.cmd == ("sh",) and c.rootfs.diff_ids == (D,) and c.history[0].empty_layer
    assert image_spec.as_json(c) == config


def test_bad_manifest_names_the_field():
    with pytest.raises(SpecError, match=r"\$.config.digest: required"):
        image_spec.parse_manifest({"schemaVersion": 2, "config": {"mediaType": "x", "size": 1}})


def test_layer_compression():
    assert image_spec.layer_compression(image_spec.OCI_LAYER_GZIP) == "gzip"
    assert image_spec.layer_compression(image_spec.DOCKER_LAYER_GZIP) == "gzip"
    assert image_spec.layer_compression(image_spec.OCI_LAYER_ZSTD) == "zstd"
    assert image_spec.layer_compression(image_spec.OCI_LAYER) == ""
    with pytest.raises(ValueError):
        image_spec.layer_compression("application/x-nope")
