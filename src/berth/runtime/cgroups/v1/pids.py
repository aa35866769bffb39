from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "pids"


def apply(directory: str, resources: Resources) -> None:
    if resources.pids is not None:
        limit = resources.pids.limit
        files.write(directory, "pids.max", limit if limit > 0 else "max")
