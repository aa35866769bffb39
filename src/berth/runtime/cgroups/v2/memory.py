from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "memory"


def _max(v: int) -> str:
    return "max" if v < 0 else str(v)


def apply(directory: str, resources: Resources) -> None:
    mem = resources.memory
    if mem is None:
        return
    if mem.limit is not None:
        files.write(directory, "memory.max", _max(mem.limit))
    if mem.swap is not None and mem.swap != 0:
        # the spec's swap is memory+swap; v2's memory.swap.max is swap alone
        swap = -1 if mem.swap < 0 or mem.limit is None or mem.limit < 0 else max(mem.swap - mem.limit, 0)
        files.write(directory, "memory.swap.max", _max(swap))
    if mem.reservation is not None:
        files.write(directory, "memory.low", _max(mem.reservation))
    if mem.disable_oom_killer:
        files.write(directory, "memory.oom.group", 0)
