import time

from berth.errors import Unavailable
from berth.runtime.cgroups import files

NAME = "freezer"


def set_state(directory: str, state: str) -> None:
    """FROZEN or THAWED, waiting until the kernel has got there."""
    for _ in range(1000):
        files.write(directory, "freezer.state", state)
        if files.read(directory, "freezer.state") == state:
            return
        time.sleep(0.001)
    raise Unavailable(f"cgroup freezer in {directory} did not reach {state}")
