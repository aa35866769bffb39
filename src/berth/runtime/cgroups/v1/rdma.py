from berth.runtime.cgroups.rdma import NAME, apply

__all__ = ["NAME", "apply"]
