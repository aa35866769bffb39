"""CNI, the Container Network Interface, from the runtime's side (what libcni does for containerd):
find the network configuration, run its plugins with ADD and DEL on a network namespace, and
read the addresses out of the result.

The plugins are the well-kept part (Debian's containernetworking-plugins: bridge, host-local,
portmap, loopback...); what a runtime adds is small and fixed by the spec, so it is written here
rather than taken from a library (no maintained Python libcni exists). A network configuration is
the first file of the configuration directory, by name, that parses (`.conflist`, or a single
plugin's `.conf`/`.json`), as containerd and the kubelet take it. ADD runs the list's plugins in
order, each given the one before's result; DEL runs them in reverse with the ADD's result, and must
succeed again and again (with no namespace left, too), so the caller keeps that result until a DEL
has succeeded.
"""

from __future__ import annotations

import os
import subprocess

from berth import fastjson
from berth.errors import DeadlineExceeded, FailedPrecondition

_EXTENSIONS = (".conf", ".conflist", ".json")


class NotReady(FailedPrecondition):
    """No usable network configuration: the runtime's network is not ready (the message says why)."""


class PluginError(FailedPrecondition):
    """A plugin failed: the CNI error's code and message, and which plugin."""


def load(conf_dir: str) -> dict:
    """The network configuration list: the first file of `conf_dir` by name that is one."""
    try:
        names = sorted(n for n in os.listdir(conf_dir) if n.endswith(_EXTENSIONS))
    except FileNotFoundError:
        raise NotReady(f"no network config found in {conf_dir}: the directory does not exist") from None
    for name in names:
        try:
            with open(os.path.join(conf_dir, name), "rb") as f:
                conf = fastjson.loads(f.read())
        except (OSError, ValueError):
            continue  # an unreadable file is skipped, as libcni skips it
        if not isinstance(conf, dict):
            continue
        if name.endswith(".conflist") or "plugins" in conf:
            if isinstance(conf.get("plugins"), list) and conf["plugins"] and conf.get("name"):
                return conf
        elif conf.get("type") and conf.get("name"):  # one plugin's configuration: a list of one
            return {"cniVersion": conf.get("cniVersion", "0.2.0"), "name": conf["name"], "plugins": [conf]}
    raise NotReady(f"no network config found in {conf_dir}")


def check_plugins(conf: dict, bin_dirs: tuple[str, ...]) -> None:
    """Every plugin of the list is installed (NotReady naming the first that is not)."""
    for plugin in conf["plugins"]:
        _binary(plugin.get("type", ""), bin_dirs, NotReady)


class Call:
    """What every plugin of one ADD, CHECK or DEL is told: the container, the namespace's path
    ("" once gone, for a DEL), the interface, CNI_ARGS, the runtime's settings for the plugins'
    capabilities; and how long each plugin may take."""

    def __init__(self, bin_dirs: tuple[str, ...], container_id: str, netns: str, ifname: str,
                 args: dict[str, str] | None = None, runtime_config: dict | None = None,
                 timeout: float = 60.0) -> None:  # fmt: skip
        self.bin_dirs, self.container_id, self.netns, self.ifname = bin_dirs, container_id, netns, ifname
        self.args, self.runtime_config, self.timeout = args or {}, runtime_config or {}, timeout


def add(conf: dict, call: Call) -> dict:
    """ADD: the namespace joins the network; the last plugin's result."""
    result = None
    for plugin in conf["plugins"]:
        result = _run("ADD", conf, plugin, call, result)
    return result or {}


def delete(conf: dict, call: Call, result: dict | None) -> None:
    """DEL, in reverse order, with the ADD's result."""
    for plugin in reversed(conf["plugins"]):
        _run("DEL", conf, plugin, call, result)


def addresses(result: dict) -> list[str]:
    """The result's IP addresses, without their prefix lengths (IPv4 first)."""
    ips = [ip.get("address", "").split("/")[0] for ip in result.get("ips") or [] if ip.get("address")]
    return sorted(ips, key=lambda ip: ":" in ip)


def _binary(kind: str, bin_dirs: tuple[str, ...], error: type[FailedPrecondition]) -> str:
    if not kind or "/" in kind:
        raise error(f"a plugin of the network config has no valid type: {kind!r}")
    for d in bin_dirs:
        path = os.path.join(d, kind)
        if os.access(path, os.X_OK):
            return path
    raise error(f'failed to find plugin "{kind}" in path {list(bin_dirs)}')


def _run(command: str, conf: dict, plugin: dict, call: Call, prev: dict | None) -> dict | None:
    """One plugin's command: its configuration (with the list's name and version, the runtime's
    settings for the capabilities it declares, and the previous result) on stdin."""
    stdin = {**plugin, "cniVersion": conf.get("cniVersion", "0.2.0"), "name": conf["name"]}
    wanted = {k: v for k, v in call.runtime_config.items() if (plugin.get("capabilities") or {}).get(k)}
    if wanted:
        stdin["runtimeConfig"] = wanted
    if prev is not None:
        stdin["prevResult"] = prev
    env = {
        "CNI_COMMAND": command, "CNI_CONTAINERID": call.container_id, "CNI_NETNS": call.netns,
        "CNI_IFNAME": call.ifname, "CNI_ARGS": ";".join(["IgnoreUnknown=1", *(f"{k}={v}" for k, v in call.args.items())]),
        "CNI_PATH": os.pathsep.join(call.bin_dirs), "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }  # fmt: skip
    binary = _binary(plugin.get("type", ""), bin_dirs=call.bin_dirs, error=PluginError)
    try:
        proc = subprocess.run([binary], input=fastjson.dumps(stdin).encode(), env=env, capture_output=True,
                              timeout=call.timeout, close_fds=True)  # fmt: skip
    except subprocess.TimeoutExpired:  # the plugin is killed (subprocess.run does it)
        raise DeadlineExceeded(
            f"plugin type={plugin['type']!r} {command} did not finish in {call.timeout:g} s"
        ) from None
    out = proc.stdout.strip()
    if proc.returncode != 0:
        try:
            err = fastjson.loads(out)
            detail = err.get("msg", "") + (f": {err['details']}" if err.get("details") else "")
        except (ValueError, AttributeError):
            detail = (proc.stderr or out).decode(errors="replace").strip()
        raise PluginError(f"plugin type={plugin['type']!r} failed ({command}): {detail}")
    if command != "ADD":
        return None
    try:
        return fastjson.loads(out) if out else prev
    except ValueError:
        raise PluginError(f"plugin type={plugin['type']!r} ({command}) printed no JSON result") from None
