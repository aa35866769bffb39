from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "io"


def weight_to_v2(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000]."""
    return 1 + (weight - 10) * 9999 // 990


def apply(directory: str, resources: Resources) -> None:
    bio = resources.block_io
    if bio is not None and bio.weight:
        files.write(directory, "io.weight", f"default {weight_to_v2(bio.weight)}")
