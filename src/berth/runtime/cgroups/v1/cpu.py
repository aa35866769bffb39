from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "cpu"


def apply(directory: str, resources: Resources) -> None:
    cpu = resources.cpu
    if cpu is None:
        return
    if cpu.shares:
        files.write(directory, "cpu.shares", cpu.shares)
    if cpu.period:
        files.write(directory, "cpu.cfs_period_us", cpu.period)
    if cpu.quota is not None and cpu.quota != 0:
        files.write(directory, "cpu.cfs_quota_us", cpu.quota if cpu.quota > 0 else -1)
    if cpu.realtime_period:
        files.write(directory, "cpu.rt_period_us", cpu.realtime_period)
    if cpu.realtime_runtime:
        files.write(directory, "cpu.rt_runtime_us", cpu.realtime_runtime)
