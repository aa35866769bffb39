from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "cpuset"


def prepare(directory: str) -> None:
    """A new v1 cpuset starts empty and takes no tasks until cpus and mems are set."""
    import os

    chain = []
    d = directory
    while True:
        try:
            if files.read(d, "cpuset.cpus") and files.read(d, "cpuset.mems"):
                break
        except FileNotFoundError:
            break
        chain.append(d)
        d = os.path.dirname(d)
    for d in reversed(chain):
        parent = os.path.dirname(d)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if not files.read(d, name):
                files.write(d, name, files.read(parent, name))


def apply(directory: str, resources: Resources) -> None:
    cpu = resources.cpu
    if cpu is None:
        return
    if cpu.cpus:
        files.write(directory, "cpuset.cpus", cpu.cpus)
    if cpu.mems:
        files.write(directory, "cpuset.mems", cpu.mems)
