from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "net_cls"


def apply(directory: str, resources: Resources) -> None:
    if resources.network is not None and resources.network.class_id is not None:
        files.write(directory, "net_cls.classid", resources.network.class_id)
