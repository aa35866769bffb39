import os

from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "blkio"


def apply(directory: str, resources: Resources) -> None:
    bio = resources.block_io
    if bio is None or bio.weight is None:
        return
    # kernels with BFQ expose only blkio.bfq.weight
    name = "blkio.weight" if os.path.exists(os.path.join(directory, "blkio.weight")) else "blkio.bfq.weight"
    files.write(directory, name, bio.weight)
