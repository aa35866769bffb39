from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "cpu"


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] -> v2 cpu.weight [1, 10000], as runc converts."""
    return 1 + ((shares - 2) * 9999) // 262142


def apply(directory: str, resources: Resources) -> None:
    cpu = resources.cpu
    if cpu is None:
        return
    if cpu.shares:
        files.write(directory, "cpu.weight", shares_to_weight(cpu.shares))
    if cpu.quota is not None or cpu.period:
        quota = "max" if cpu.quota is None or cpu.quota <= 0 else str(cpu.quota)
        files.write(directory, "cpu.max", f"{quota} {cpu.period or 100000}")
    if cpu.idle is not None:
        files.write(directory, "cpu.idle", cpu.idle)
