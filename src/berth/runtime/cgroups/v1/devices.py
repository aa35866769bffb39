from berth.oci.runtime_spec import DeviceRule, Resources
from berth.runtime.cgroups import device_rules, files

NAME = "devices"


def rule_text(rule: DeviceRule) -> str:
    major = "*" if rule.major is None or rule.major < 0 else rule.major
    minor = "*" if rule.minor is None or rule.minor < 0 else rule.minor
    if rule.type == "a":
        return "a"
    return f"{rule.type} {major}:{minor} {rule.access or 'rwm'}"


def apply(directory: str, resources: Resources, extra: "tuple[DeviceRule, ...]" = ()) -> None:
    files.write_each(directory, [("devices.allow" if rule.allow else "devices.deny", rule_text(rule))
                                 for rule in device_rules.rules_for(resources, extra)])  # fmt: skip
