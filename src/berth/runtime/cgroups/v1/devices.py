from berth.oci.runtime_spec import DeviceRule, Resources
from berth.runtime.cgroups import files

NAME = "devices"

# what every container may use whatever its config says, as runc allows (/dev/net/tun included)
ALWAYS_ALLOWED = (
    DeviceRule(allow=True, type="c", access="m"), DeviceRule(allow=True, type="b", access="m"),
    DeviceRule(allow=True, type="c", major=1, minor=3), DeviceRule(allow=True, type="c", major=1, minor=5),
    DeviceRule(allow=True, type="c", major=1, minor=7), DeviceRule(allow=True, type="c", major=1, minor=8),
    DeviceRule(allow=True, type="c", major=1, minor=9), DeviceRule(allow=True, type="c", major=5, minor=0),
    DeviceRule(allow=True, type="c", major=5, minor=1), DeviceRule(allow=True, type="c", major=5, minor=2),
    DeviceRule(allow=True, type="c", major=136), DeviceRule(allow=True, type="c", major=10, minor=200),
)  # fmt: skip


def rule_text(rule: DeviceRule) -> str:
    major = "*" if rule.major is None or rule.major < 0 else rule.major
    minor = "*" if rule.minor is None or rule.minor < 0 else rule.minor
    if rule.type == "a":
        return "a"
    return f"{rule.type} {major}:{minor} {rule.access or 'rwm'}"


def rules_for(resources: Resources, extra: "tuple[DeviceRule, ...]" = ()) -> list[DeviceRule]:
    """The rules in the order to write them: deny all, the config's, then the defaults."""
    return [DeviceRule(allow=False), *resources.devices, *ALWAYS_ALLOWED, *extra]


def apply(directory: str, resources: Resources, extra: "tuple[DeviceRule, ...]" = ()) -> None:
    files.write_each(directory, [("devices.allow" if rule.allow else "devices.deny", rule_text(rule))
                                 for rule in rules_for(resources, extra)])  # fmt: skip
