from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "cpuset"


def apply(directory: str, resources: Resources) -> None:
    cpu = resources.cpu
    if cpu is None:
        return
    if cpu.cpus:
        files.write(directory, "cpuset.cpus", cpu.cpus)
    if cpu.mems:
        files.write(directory, "cpuset.mems", cpu.mems)
