from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import files

NAME = "hugetlb"


def apply(directory: str, resources: Resources) -> None:
    for h in resources.hugepage_limits:
        files.write(directory, f"hugetlb.{h.page_size}.limit_in_bytes", h.limit)
