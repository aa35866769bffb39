"""The device rules a container's cgroup gets, whatever the driver writes them as
(v1: devices.allow/deny lines; v2: an eBPF program)."""

from __future__ import annotations

from berth.oci.runtime_spec import DeviceRule, Resources

# what every container may use whatever its config says, as runc allows (/dev/net/tun included)
ALWAYS_ALLOWED = (
    DeviceRule(allow=True, type="c", access="m"), DeviceRule(allow=True, type="b", access="m"),
    DeviceRule(allow=True, type="c", major=1, minor=3), DeviceRule(allow=True, type="c", major=1, minor=5),
    DeviceRule(allow=True, type="c", major=1, minor=7), DeviceRule(allow=True, type="c", major=1, minor=8),
    DeviceRule(allow=True, type="c", major=1, minor=9), DeviceRule(allow=True, type="c", major=5, minor=0),
    DeviceRule(allow=True, type="c", major=5, minor=1), DeviceRule(allow=True, type="c", major=5, minor=2),
    DeviceRule(allow=True, type="c", major=136), DeviceRule(allow=True, type="c", major=10, minor=200),
)  # fmt: skip


def rules_for(resources: Resources | None, extra: tuple[DeviceRule, ...] = ()) -> list[DeviceRule]:
    """The rules in the order they apply, a later one overriding an earlier: deny all, the
    config's, the defaults, then `extra` (the config's linux.devices)."""
    return [DeviceRule(allow=False), *(resources.devices if resources else ()), *ALWAYS_ALLOWED, *extra]


def for_devices(devices: tuple) -> tuple[DeviceRule, ...]:
    """Allow rules for the device nodes a config creates (linux.devices). A FIFO ("p") is no
    device to the cgroup: the kernel takes only char and block rules. "u" is an unbuffered char."""
    return tuple(DeviceRule(allow=True, type="c" if d.type == "u" else d.type, major=d.major, minor=d.minor,
                            access="rwm") for d in devices if d.type in ("c", "u", "b"))  # fmt: skip
