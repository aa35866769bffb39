import json

import pytest

from berth import fastjson
from berth.oci.record import SpecError
from berth.oci.runtime_spec import IDMapping, Spec, default_spec, parse_spec, spec_to_json


def test_default_spec_round_trips():
    spec = default_spec()
    again = parse_spec(json.loads(json.dumps(spec_to_json(spec))))
    assert again == spec


def test_default_spec_has_runc_shape():
    data = spec_to_json(default_spec())
    assert data["process"]["user"] == {"uid": 0, "gid": 0}
    assert data["process"]["cwd"] == "/"
    assert {n["type"] for n in data["linux"]["namespaces"]} == {"pid", "network", "ipc", "uts", "mount", "cgroup"}
    assert data["root"] == {"path": "rootfs", "readonly": True}


def test_special_json_names():
    spec = parse_spec({"ociVersion": "1.0.0", "linux": {"uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                       "resources": {"blockIO": {"weight": 100}, "memory": {"disableOOMKiller": True}}}})  # fmt: skip
    assert spec.linux.uid_mappings == (IDMapping(container_id=0, host_id=1000, size=1),)
    assert spec.linux.resources.block_io.weight == 100
    assert spec.linux.resources.memory.disable_oom_killer is True


@pytest.mark.parametrize(
    "data, where",
    [
        ({}, "$.ociVersion: required"),
        ({"ociVersion": "1", "process": {"args": "sh"}}, "$.process.args"),
        ({"ociVersion": "1", "process": {"user": {"uid": "0"}}}, "$.process.user.uid"),
        ({"ociVersion": "1", "mounts": [{"type": "bind"}]}, "$.mounts[0].destination"),
        ({"ociVersion": "1", "process": {"terminal": 1}}, "$.process.terminal"),
        ([], "$: expected an object"),
    ],
)
def test_bad_config_names_the_field(data, where):
    with pytest.raises(SpecError, match=where.replace("[", r"\[").replace("$", r"\$")):
        parse_spec(data)


def test_records_are_frozen_and_compare_by_value():
    a, b = default_spec(), default_spec()
    assert a == b and a is not b
    with pytest.raises(AttributeError):
        a.hostname = "x"
    assert a.replace(hostname="x").hostname == "x" and a.hostname == "berth"
    assert isinstance(fastjson.dumps(spec_to_json(a)), str)
    assert Spec(oci_version="1") != Spec(oci_version="2")


def test_records_of_the_same_name_in_two_modules_do_not_clash():
    import berth.snapshot.base  # defines a Mount record of its own  # noqa: F401

    spec = parse_spec({"ociVersion": "1", "mounts": [{"destination": "/x", "type": "tmpfs"}]})
    assert type(spec.mounts[0]).__module__ == "berth.oci.runtime_spec"
