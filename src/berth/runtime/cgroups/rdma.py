"""linux.resources.rdma: the same rdma.max lines on v1 and v2."""

from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "rdma"
_LIMITS = (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object"))


def apply(directory: str, resources: Resources) -> None:
    for device, limits in resources.rdma.items():
        if not isinstance(limits, dict):
            raise InvalidArgument(f"linux.resources.rdma.{device}: expected an object")
        parts = [f"{key}={limits[field]}" for field, key in _LIMITS if limits.get(field) is not None]
        if parts:
            files.write(directory, "rdma.max", " ".join([device, *parts]))
