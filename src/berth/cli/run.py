"""`berth run` and `berth create`: Docker's flags for what this engine supports so far."""

from __future__ import annotations

import sys

from berth.argv import BOOL, LIST, STR, Option, parse
from berth.engine.options import (
    CreateOptions,
    DeviceMapping,
    Mount,
    PortBinding,
    RestartPolicy,
    Ulimit,
    check_expose,
    check_signal,
)
from berth.errors import InvalidArgument
from berth.units import parse_size

OPTIONS = [
    Option("detach,d", BOOL, help="run in the background and print the container ID"),
    Option("detach-keys", STR, "", help="override the key sequence for detaching a container"),
    Option("sig-proxy", BOOL, True, help="proxy received signals to the process"),
    Option("rm", BOOL, help="remove the container when it exits"),
    Option("restart", STR, "", help="restart policy: no, always, unless-stopped, on-failure[:max-retries]"),
    Option("health-cmd", STR, "", help="command to run to check health"),
    Option("health-interval", STR, "", help="time between running the check (ms|s|m|h)"),
    Option("health-timeout", STR, "", help="maximum time to allow one check to run (ms|s|m|h)"),
    Option("health-start-period", STR, "", help="start period for the container to initialize (ms|s|m|h)"),
    Option("health-retries", STR, "", help="consecutive failures needed to report unhealthy"),
    Option("no-healthcheck", BOOL, help="disable any container-specified HEALTHCHECK"),
    Option("init", BOOL, help="run an init inside the container that forwards signals and reaps processes"),
    Option(
        "pull",
        STR,
        "",
        help='pull image before running ("always", "missing", "never"; default $BERTH_PULL_POLICY or missing)',
    ),
    Option("platform", STR, "", help="the platform to pull (os/arch[/variant])"),
    Option("name", STR, "", help="assign a name"),
    Option("env,e", LIST, help="set environment variables"),
    Option("env-file", LIST, help="read environment variables from a file"),
    Option("workdir,w", STR, "", help="working directory inside the container"),
    Option("user,u", STR, "", help="USER[:GROUP], names or numbers"),
    Option("hostname,h", STR, "", help="container host name"),
    Option("entrypoint", STR, None, help="overwrite the image's ENTRYPOINT"),
    Option("pid", STR, "", help="PID namespace: host or container:NAME"),
    Option("ipc", STR, "", help="IPC namespace: host or container:NAME"),
    Option("uts", STR, "", help="UTS namespace: host or container:NAME"),
    Option("log-driver", STR, "", help="logging driver: json-file (default), k8s-file or none"),
    Option("log-opt", LIST, help="log driver options: max-size=10m, max-file=3"),
    Option("device", LIST, help="add a host device to the container: HOST[:CONTAINER[:PERMISSIONS]]"),
    Option("network,net", STR, "", help="a network (default: bridge), none, host or container:NAME"),
    Option("pod", STR, "", help="run in a pod (berth pod create): its shared namespaces"),
    Option("cgroup-parent", STR, "", help="optional parent cgroup for the container"),
    Option("publish,p", LIST, help="publish a container's port(s) to the host: [IP:][HOSTPORT:]PORT[/PROTO]"),
    Option("publish-all,P", BOOL, help="publish all exposed ports to free host ports"),
    Option("expose", LIST, help="expose a port or a range of ports"),
    Option("ip", STR, "", help="IPv4 address on a user network with a --subnet"),
    Option("mac-address", STR, "", help="container MAC address (e.g. 02:42:0a:59:00:02)"),
    Option("network-alias", LIST, help="add a network-scoped alias for the container"),
    Option("dns", LIST, help="set custom DNS servers"),
    Option("dns-search", LIST, help="set custom DNS search domains"),
    Option("dns-option", LIST, help="set DNS options"),
    Option("label,l", LIST, help="set metadata"),
    Option("memory,m", STR, "", help="memory limit (e.g. 64m)"),
    Option("pids-limit", STR, "", help="tune the container's pids limit"),
    Option("cpus", STR, "", help="number of CPUs"),
    Option("memory-swap", STR, "", help="memory plus swap limit (-1: unlimited swap)"),
    Option("memory-reservation", STR, "", help="memory soft limit"),
    Option("cpu-shares,c", STR, "", help="CPU shares (relative weight)"),
    Option("cpuset-cpus", STR, "", help="CPUs in which to allow execution (0-3, 0,1)"),
    Option("cpuset-mems", STR, "", help="memory nodes in which to allow execution (0-3, 0,1)"),
    Option("read-only", BOOL, help="mount the root file system read only"),
    Option("runtime", STR, "", help="runtime to use for this container (berth-runtime, runc, crun, or daemon.json's)"),
    Option("cap-add", LIST, help="add Linux capabilities"),
    Option("cap-drop", LIST, help="drop Linux capabilities"),
    Option("mount", LIST, help="attach a filesystem mount: type=bind|volume|tmpfs,source=,target=[,readonly]"),
    Option("privileged", BOOL, help="give extended privileges: every capability, no seccomp, no masked paths, rw /sys"),
    Option("security-opt", LIST, help="seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false]"),
    Option("interactive,i", BOOL, help="keep STDIN open"),
    Option("tty,t", BOOL, help="allocate a pseudo-TTY"),
    Option("ulimit", LIST, help="ulimit options, e.g. nofile=1024:2048"),
    Option("shm-size", STR, "", help="size of /dev/shm"),
    Option("sysctl", LIST, help="sysctl options"),
    Option("oom-score-adj", STR, "", help="tune the host's OOM preferences (-1000 to 1000)"),
    Option("stop-signal", STR, "", help="signal to stop the container"),
    Option("stop-timeout", STR, "", help="timeout (seconds) to stop a container"),
    Option("add-host", LIST, help="add a custom host-to-IP mapping (host:ip)"),
    Option(
        "userns", STR, "", help="user namespace: host, auto[:size=N] (ids of its own from berth's subordinate range)"
    ),
    Option("uidmap", LIST, help="CONTAINER_ID:HOST_ID:SIZE: a user namespace with these uid ranges"),
    Option("gidmap", LIST, help="CONTAINER_ID:HOST_ID:SIZE: a user namespace with these gid ranges"),
    Option("group-add", LIST, help="add additional groups to join (a GID or a name in the image's /etc/group)"),
    Option("tmpfs", LIST, help="mount a tmpfs directory"),
    Option("volume,v", LIST, help="bind mount a host path: /host:/container[:ro]"),
]


def options_from(argv: list[str]) -> tuple[CreateOptions, dict]:
    opts, rest = parse(argv, OPTIONS)
    if not rest:
        raise InvalidArgument('"run" requires at least 1 argument.')
    try:
        cpus = float(opts["cpus"]) if opts["cpus"] else 0.0
        pids = int(opts["pids_limit"]) if opts["pids_limit"] else 0
    except ValueError as e:
        raise InvalidArgument(f"invalid argument for --cpus or --pids-limit: {e}") from None
    memory = 0
    if opts["memory"]:
        try:
            memory = parse_size(opts["memory"])
        except InvalidArgument:
            raise InvalidArgument(
                f'invalid argument "{opts["memory"]}" for "-m, --memory" flag: invalid size: \'{opts["memory"]}\''
            ) from None
    extra = _extra(opts)
    entrypoint = None if opts["entrypoint"] is None else tuple(opts["entrypoint"].split()) if opts["entrypoint"] else ()
    labels = dict(item.partition("=")[::2] for item in opts["label"])
    env = _from_caller(_env_files(opts["env_file"]) + list(opts["env"]))
    return CreateOptions(
        image=rest[0], command=tuple(rest[1:]), entrypoint=entrypoint, name=opts["name"], env=env,
        workdir=opts["workdir"], user=opts["user"], hostname=opts["hostname"], pid=opts["pid"], ipc=opts["ipc"],
        uts=opts["uts"], network=opts["network"], labels=labels, memory=memory, pids_limit=pids, cpus=cpus,
        read_only=opts["read_only"], runtime=opts["runtime"], cap_add=tuple(opts["cap_add"]), cap_drop=tuple(opts["cap_drop"]),
        privileged=opts["privileged"], security_opt=tuple(opts["security_opt"]), restart=_restart(opts),
        healthcheck=_healthcheck(opts), no_healthcheck=opts["no_healthcheck"], init=opts["init"],
        auto_remove=opts["rm"], interactive=opts["interactive"], tty=opts["tty"], pod=opts["pod"],
        cgroup_parent=opts["cgroup_parent"], **extra,
    ), opts  # fmt: skip


def _healthcheck(opts: dict) -> dict:
    """--health-* as overrides of the image's HEALTHCHECK (durations in nanoseconds, as Docker keeps them)."""
    from berth.units import parse_duration

    out: dict = {}
    if opts["health_cmd"]:
        out["Test"] = ["CMD-SHELL", opts["health_cmd"]]
    for flag, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_start_period", "StartPeriod")):  # fmt: skip
        if opts[flag]:
            try:
                out[key] = int(parse_duration(opts[flag]) * 1e9)
            except InvalidArgument:
                raise InvalidArgument(
                    f'invalid argument "{opts[flag]}" for "--{flag.replace("_", "-")}" flag'
                ) from None
    if opts["health_retries"]:
        if not opts["health_retries"].isdigit():
            raise InvalidArgument(f'invalid argument "{opts["health_retries"]}" for "--health-retries" flag')
        out["Retries"] = int(opts["health_retries"])
    if opts["no_healthcheck"] and out:
        raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
    return out


def _restart(opts: dict) -> RestartPolicy | None:
    if not opts["restart"] or opts["restart"] == "no":
        return None
    if opts["rm"]:
        raise InvalidArgument("Conflicting options: --restart and --rm")
    return RestartPolicy.parse(opts["restart"])


def _log_opts(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f'invalid argument "{item}" for "--log-opt" flag: KEY=VALUE expected')
        out[key] = value
    return out


def _resources(opts: dict) -> dict:
    """--memory-swap, --memory-reservation, --cpu-shares, --cpuset-cpus/-mems, with docker's checks."""
    out: dict = {}
    for flag, key in (("memory-swap", "memory_swap"), ("memory-reservation", "memory_reservation")):
        value = opts[key]
        if not value:
            continue
        try:
            out[key] = -1 if value == "-1" and key == "memory_swap" else parse_size(value)
        except InvalidArgument:
            raise InvalidArgument(
                f'invalid argument "{value}" for "--{flag}" flag: invalid size: \'{value}\''
            ) from None
    if opts["cpu_shares"]:
        try:
            out["cpu_shares"] = int(opts["cpu_shares"])
        except ValueError:
            raise InvalidArgument(f'invalid argument "{opts["cpu_shares"]}" for "-c, --cpu-shares" flag: '
                                  f'strconv.ParseInt: parsing "{opts["cpu_shares"]}": invalid syntax') from None  # fmt: skip
    for key, what in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if opts[key]:
            _cpuset(opts[key], what)
            out[key] = opts[key]
    return out


def _cpuset(value: str, what: str) -> None:
    for part in value.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and (not high.isdigit() or int(high) < int(low))):
            raise InvalidArgument(f"Invalid value {value} for cpuset {what}")


def _extra(opts: dict) -> dict:
    """The flags that go to the spec as they are, checked here for Docker's messages."""
    # Docker checks these before anything is pulled or made
    mounts = (*(Mount.parse_volume(v) for v in opts["volume"]), *(Mount.parse_tmpfs(t) for t in opts["tmpfs"]),
              *(Mount.parse_mount(m) for m in opts["mount"]))  # fmt: skip
    out: dict = {"ulimits": tuple(Ulimit.parse(u) for u in opts["ulimit"]), "add_hosts": tuple(opts["add_host"]),
                 "group_add": tuple(opts["group_add"]), "userns": opts["userns"],
                 "uidmap": tuple(opts["uidmap"]), "gidmap": tuple(opts["gidmap"]),
                 "mounts": mounts, "publish": tuple(b for p in opts["publish"] for b in PortBinding.parse(p)),
                 "publish_all": opts["publish_all"], "expose": tuple(opts["expose"]), "ip": opts["ip"],
                 "mac_address": opts["mac_address"], "network_aliases": tuple(opts["network_alias"]),
                 "dns": tuple(opts["dns"]), "dns_search": tuple(opts["dns_search"]),
                 "dns_options": tuple(opts["dns_option"]), "devices": tuple(DeviceMapping.parse(d) for d in opts["device"]),
                 "log_driver": opts["log_driver"], "log_opts": _log_opts(opts["log_opt"])}  # fmt: skip
    check_expose(opts["expose"])
    if opts["shm_size"]:
        try:
            out["shm_size"] = parse_size(opts["shm_size"])
        except InvalidArgument:
            raise InvalidArgument(f'invalid argument "{opts["shm_size"]}" for "--shm-size" flag') from None
    sysctls = {}
    for item in opts["sysctl"]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f'invalid argument "{item}" for "--sysctl" flag: sysctl \'{item}\' is not allowed')
        sysctls[key] = value
    out["sysctls"] = sysctls
    out.update(_resources(opts))
    for flag, key in (("oom_score_adj", "oom_score_adj"), ("stop_timeout", "stop_timeout")):
        if opts[flag]:
            try:
                out[key] = int(opts[flag])
            except ValueError:
                raise InvalidArgument(
                    f'invalid argument "{opts[flag]}" for "--{flag.replace("_", "-")}" flag'
                ) from None
    if "oom_score_adj" in out and not -1000 <= out["oom_score_adj"] <= 1000:
        raise InvalidArgument(f"invalid --oom-score-adj value {out['oom_score_adj']}: must be between -1000 and 1000")
    if opts["stop_signal"]:
        check_signal(opts["stop_signal"])
        out["stop_signal"] = opts["stop_signal"]
    return out


def _env_files(paths: list[str]) -> list[str]:
    """Docker's --env-file: KEY=VALUE lines, # comments, a bare KEY (taken from the caller by _from_caller)."""

    out = []
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise InvalidArgument(f"open {path}: {e.strerror.lower() if e.strerror else e}") from None
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, _ = line.partition("=")
            if not key or " " in key:
                raise InvalidArgument(f"invalid env file {path}: variable '{key}' contains whitespaces")
            out.append(line)
    return out


def _from_caller(items: list[str]) -> tuple[str, ...]:
    """Docker's CLI: a bare NAME takes the caller's value, and is left out when the caller has none."""
    import os

    return tuple(
        item if "=" in item else f"{item}={os.environ[item]}" for item in items if "=" in item or item in os.environ
    )


def ensure_image(engine, image: str, policy: str, platform: str = "") -> None:
    """Docker's --pull: always, missing (pull only what is not here) or never."""
    import os

    from berth.cli.pull import Lines

    policy = policy or os.environ.get("BERTH_PULL_POLICY") or "missing"
    engine.ensure_image(image, policy, platform, Lines(sys.stderr, False))


def main(engine, argv: list[str]) -> int:
    from berth.cli.attach import is_terminal_ok
    from berth.engine.attach import detach_keys

    options, opts = options_from(argv)
    if opts["detach_keys"]:
        detach_keys(opts["detach_keys"])  # a bad value fails before anything is made
    if not opts["detach"] and not is_terminal_ok(options.tty, options.interactive):
        return 1
    engine.warm_monitor()  # it starts while the image is checked and the container made
    ensure_image(engine, options.image, opts["pull"], opts["platform"])
    c = engine.create(options)
    try:
        if opts["detach"]:
            engine.start(c.id)
            sys.stdout.write(c.id + "\n")
            return 0
        from berth.cli.attach import run_attached

        code = run_attached(engine, c.id, opts["detach_keys"], opts["sig_proxy"])
    except BaseException:
        engine.remove(c.id, force=True, volumes=True)  # a container that could not start is not left behind
        raise
    if options.auto_remove:
        from berth.engine.autoremove import remove_exited

        remove_exited(engine, c.id)
    return code


def create(engine, argv: list[str]) -> int:
    options, opts = options_from(argv)
    ensure_image(engine, options.image, opts["pull"], opts["platform"])
    sys.stdout.write(engine.create(options).id + "\n")
    return 0
