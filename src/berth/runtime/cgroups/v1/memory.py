from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "memory"


def _limit(v: int) -> int:
    return -1 if v < 0 else v


def apply(directory: str, resources: Resources) -> None:
    mem = resources.memory
    if mem is None:
        return
    if mem.limit is not None:
        if mem.swap is not None and mem.swap != 0:
            _set_swap_and_limit(directory, _limit(mem.limit), _limit(mem.swap))
        else:
            files.write(directory, "memory.limit_in_bytes", _limit(mem.limit))
    if mem.reservation is not None:
        files.write(directory, "memory.soft_limit_in_bytes", _limit(mem.reservation))
    if mem.swappiness is not None and 0 <= mem.swappiness <= 100:
        files.write(directory, "memory.swappiness", mem.swappiness)
    if mem.disable_oom_killer:
        files.write(directory, "memory.oom_control", 1)


def _set_swap_and_limit(directory: str, limit: int, swap: int) -> None:
    # memsw must stay >= limit: raising goes memsw first, lowering limit first
    try:
        files.write(directory, "memory.memsw.limit_in_bytes", swap)
        files.write(directory, "memory.limit_in_bytes", limit)
    except InvalidArgument:
        files.write(directory, "memory.limit_in_bytes", limit)
        files.write(directory, "memory.memsw.limit_in_bytes", swap)
