from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "net_prio"


def apply(directory: str, resources: Resources) -> None:
    for p in resources.network.priorities if resources.network is not None else ():
        files.write(directory, "net_prio.ifpriomap", f"{p.name} {p.priority}")
