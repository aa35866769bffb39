"""The engine's side of networking: which network a container joins, its network namespace made at
start (a veth into each network's bridge, an address, published ports), its /etc/hosts and
/etc/resolv.conf, and the cleanup of what ended containers left.

The namespace is made here, held by an fd that the container's monitor inherits and enters before
it starts the runtime, so the container (its spec has no network namespace of its own) lives in it
and the monitor keeps it for restarts. Nothing is mounted on the host to keep it (no `ip netns`).
Bridge modes import the network package; `--network none|host|container:` never do.
"""

from __future__ import annotations

import _thread
import os
import sys

from berth import fastjson
from berth.errors import AlreadyExists, FailedPrecondition, InvalidArgument

_JOINED: set[int] = set()  # threads that have joined the user's network namespace (rootless)
LINGER = 2.0  # seconds the idle default bridge stays for the next container
HOSTS_HEAD = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
              "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")  # fmt: skip


CNI_FILE = "cni.json"  # in the container's directory: its CNI attachment, while a DEL is owed


def kind(mode: str) -> str:
    """none, host, container, cni, slirp4netns or bridge (the default network or a user network
    by name)."""
    if mode in ("none", "host", "cni", "slirp4netns"):
        return mode
    if mode.startswith("container:"):
        return "container"
    return "bridge"


def hosts_file(hostname: str, add_hosts: tuple[str, ...], ip: str = "") -> str:
    extra = ""
    for item in add_hosts:
        name, sep, address = item.partition(":")
        if not sep or not name or not address:
            raise InvalidArgument(f'invalid argument "{item}" for "--add-host" flag: bad format for add-host')
        extra += f"{address}\t{name}\n"
    return HOSTS_HEAD + extra + (f"{ip}\t{hostname}\n" if ip else "")


def host_resolv_conf() -> str:
    """The host's /etc/resolv.conf, which a container's starts from ("" if it has none)."""
    try:
        with open("/etc/resolv.conf") as f:
            return f.read()
    except OSError:
        return ""


def resolv_conf(host_text: str, dns: tuple[str, ...], search: tuple[str, ...], options: tuple[str, ...],
                embedded: str = "") -> str:  # fmt: skip
    """Docker's rules: the host's file without its loopback servers (unreachable from a container);
    --dns/--dns-search/--dns-option replace what they name; on a user network the network's DNS
    server answers (embedded) and forwards the rest."""
    servers, searches, opts = [], [], []
    for line in host_text.splitlines():
        fields = line.split()
        if len(fields) < 2 or fields[0].startswith(("#", ";")):
            continue
        if fields[0] == "nameserver" and not fields[1].startswith("127.") and fields[1] != "::1":
            servers.append(fields[1])
        elif fields[0] in ("search", "domain"):
            searches = fields[1:]
        elif fields[0] == "options":
            opts += fields[1:]
    servers = list(dns) or servers
    searches = list(search) or searches
    opts = list(options) or opts
    if embedded:
        servers, opts = [embedded], list(options) or ["ndots:0"]
    text = "".join(f"nameserver {s}\n" for s in servers)
    if searches and searches != ["."]:
        text += "search " + " ".join(searches) + "\n"
    if opts:
        text += "options " + " ".join(opts) + "\n"
    return text


class Sandbox:
    """A container's network namespace and host ports, held by fds until its monitor has them;
    for a CNI network, the thread joining the namespace to it (`joining`), which the start waits
    for once the container runs."""

    def __init__(self, netns: int, held: list[int]) -> None:
        self.netns, self.held = netns, held
        self.joining = None
        self._error: BaseException | None = None

    def join_in_background(self, work) -> None:
        import threading

        def run() -> None:
            try:
                work()
            except BaseException as e:  # noqa: BLE001 - handed to settle()
                self._error = e

        self.joining = threading.Thread(target=run, name="cni-add", daemon=True)
        self.joining.start()

    def settle(self, raise_error: bool = False) -> None:
        """Wait for the joining to end; with raise_error, raise what it failed with."""
        self.joining.join()
        if raise_error and self._error is not None:
            raise self._error

    @property
    def fds(self) -> list[int]:
        return [self.netns, *self.held]

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass


def _where_networks_live(method=None, make: bool = True):
    """Rootless, the method runs in the user's network namespace, where that user's networks live
    (berth.engine.rootless.in_network_namespace); root's berth's live in the host's. Not `make`:
    a method that only undoes runs where it is if that namespace is gone (and all in it)."""
    if method is None:
        return lambda m: _where_networks_live(m, make)

    def run(self, *args, **kwargs):
        from berth.engine import rootless

        if not rootless.active() or _thread.get_ident() in _JOINED:
            return method(self, *args, **kwargs)

        def inside():
            _JOINED.add(_thread.get_ident())
            try:
                return method(self, *args, **kwargs)
            finally:
                _JOINED.discard(_thread.get_ident())

        return rootless.in_network_namespace(inside, make)

    run.__name__, run.__doc__ = method.__name__, method.__doc__
    return run


class Networking:
    def __init__(self, root: str) -> None:
        self.root = root  # the berth root; network state is the host's (network.store.state_dir)
        self._store = None

    @property
    def store(self):
        if self._store is None:
            from berth.network.store import NetworkStore, state_dir

            os.makedirs(state_dir(), exist_ok=True)
            self._store = NetworkStore(state_dir())
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- create: what the options ask for -------------------------------------------
    def check(self, opts, exposed: tuple[str, ...]) -> dict:
        """Validate the network options at create; Docker's HostConfig.PortBindings and
        Config.ExposedPorts for the container's config."""
        from berth.engine import rootless
        from berth.network import ports

        mode = kind(opts.network)
        chosen = {}
        if mode == "bridge" and rootless.active():
            if opts.network in ("", "bridge", "default"):
                mode, chosen = "slirp4netns", {"network": "slirp4netns"}  # Podman's rootless default
        bindings = [b.docker() for b in opts.publish]
        expose = list(exposed) + [p for spec in opts.expose for p in ports.parse_expose(spec)]
        expose += [f"{b['Port']}/{b['Proto']}" for b in bindings]
        if opts.mac_address and not _valid_mac(opts.mac_address):
            raise InvalidArgument(f"{opts.mac_address} is not a valid mac address")
        if mode == "bridge":
            net = self.store.get(opts.network)
            if opts.ip:
                if net.is_default:
                    raise InvalidArgument("user specified IP address is supported on user defined networks only")
                if not net.configured:
                    raise InvalidArgument(
                        "user specified IP address is supported only when connecting to networks with user configured subnets"
                    )
            if opts.network_aliases and net.is_default:
                raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
        elif mode == "cni":
            if opts.ip or opts.network_aliases:
                raise InvalidArgument("a CNI network's addresses are its IPAM plugin's: no --ip or --network-alias")
        elif mode == "slirp4netns":
            if opts.ip or opts.network_aliases:
                raise InvalidArgument("slirp4netns gives the container 10.0.2.100: no --ip or --network-alias")
        else:
            if opts.ip or opts.network_aliases:
                raise InvalidArgument("user specified IP address is supported on user defined networks only"
                                      if opts.ip else "network-scoped aliases are only supported for user-defined networks")  # fmt: skip
            bindings = []  # Docker discards published ports outside of bridge networks
        return {"PortBindings": bindings, "ExposedPorts": sorted(set(expose), key=_port_key), **chosen}

    # -- slirp4netns: a user-mode network stack, the rootless default --------------------
    def slirp_up(self, c, hostname: str) -> Sandbox:
        """A network namespace of the container's own reached through slirp4netns (Podman's
        rootless default): a user-mode TCP/IP stack in a process of its own behind the
        namespace's tap0 (10.0.2.100, DNS at 10.0.2.3), which forwards the published ports from
        the host. It ends with the container's monitor: its --exit-fd is a pipe whose other end
        only the monitor holds (with the namespace)."""
        from berth.engine import slirp
        from berth.linux.ns import new_net_namespace

        netns = new_net_namespace()
        try:
            held = slirp.start(c, netns, list(c.config.get("PortBindings") or []))
        except BaseException:
            os.close(netns)
            raise
        self._write_etc(c, hostname, slirp.ADDRESS, slirp.DNS)
        return Sandbox(netns, held)

    def _write_etc(self, c, hostname: str, ip: str, dns: str) -> None:
        """/etc/hosts with the container's address, /etc/resolv.conf with `dns` as its server
        ("": the host's servers, Docker's default network)."""
        from berth.fs import atomic_write

        cfg = c.config
        atomic_write(os.path.join(c.dir, "hosts"), hosts_file(hostname, tuple(cfg.get("addHosts") or ()), ip).encode())
        text = resolv_conf(host_resolv_conf(), tuple(cfg.get("dns") or ()), tuple(cfg.get("dnsSearch") or ()),
                           tuple(cfg.get("dnsOptions") or ()), dns)  # fmt: skip
        atomic_write(os.path.join(c.dir, "resolv.conf"), text.encode())

    # -- start: the namespace and its endpoint --------------------------------------
    @_where_networks_live
    def up(self, c, hostname: str) -> Sandbox:
        """The container's network namespace on its network, its ports held, /etc files written."""
        from berth.engine import rootless
        from berth.linux.ns import new_net_namespace

        cfg = c.config
        self.collect()
        net = self.store.get(cfg.get("network") or "")
        bindings = list(cfg.get("PortBindings") or [])
        if cfg.get("publishAll"):
            bindings += [{"HostIp": "", "HostPort": "", "Port": int(p.split("/")[0]), "Proto": p.split("/")[1]}
                         for p in cfg.get("ExposedPorts") or [] if not any(
                             f"{b['Port']}/{b['Proto']}" == p for b in bindings)]  # fmt: skip
        held: list[int] = []
        netns = -1
        leased = False
        try:
            bound = []
            if bindings:  # socket and the firewall only for published ports (~3 ms of imports)
                from berth.network import ports

                bound, held = ports.reserve(bindings)
            netns = new_net_namespace()
            joins = [{"Name": cfg.get("network") or "", "IP": cfg.get("ip", ""), "Aliases": cfg.get("networkAliases") or []},
                     *(cfg.get("ExtraNetworks") or [])]  # fmt: skip
            first = None
            for i, join in enumerate(joins):
                other = self.store.get(join["Name"]) if i else net
                leased = True
                lease = self._attach(c, other, netns, f"eth{i}", join, default_route=i == 0)
                first = first or (lease, other)
            lease, net = first
            if bound:
                from berth.network import firewall

                self.store.set_ports(lease, bound)
                if rootless.active():  # the host's side is slirp4netns's, forwarding into the user's namespace
                    firewall.publish(c.id, lease.ip, [{**b, "HostIp": ""} for b in bound])
                    rootless.forward_ports(bound)
                else:
                    firewall.publish(c.id, lease.ip, bound)
            self._write_etc(c, hostname, lease.ip, "" if net.is_default else net.gateway)
        except BaseException:
            for fd in held:
                os.close(fd)
            if netns >= 0:
                os.close(netns)
            if leased:
                self.down(c.id)
            raise
        return Sandbox(netns, held)

    # -- CNI: a pod's network made by the plugins of a CNI configuration ------------------
    def cni_up(self, c) -> Sandbox:
        """A new network namespace, to be joined to the CNI network of the container's configuration
        (the network on eth0, ports through the plugins that take portMappings) by a thread while
        the container starts. Its loopback is brought up here, with one ioctl: what containerd has
        the loopback plugin do, without a plugin's process (~4 ms of CPU beside the start's). The attachment is written
        before the first plugin runs, so that whoever finds it later owes a DEL even if this process
        dies part way; and a pause process of its own holds the namespace until that DEL (containerd
        pins it with a mount), because plugins undo some of their work only inside it (the bridge
        plugin's masquerade rule), and the container may be gone by then. The container's /etc/hosts
        stays as create wrote it: it is bound in before the address is known (a kubelet mounts its
        own)."""
        from berth.fs import atomic_write
        from berth.linux.ns import new_net_namespace
        from berth.network import cni

        cfg = c.config
        opts = cfg["cni"]
        bin_dirs = tuple(opts["binDirs"])
        self.cni_down(c)  # what a killed run left
        conf = cni.load(opts["confDir"])
        cni.check_plugins(conf, bin_dirs)
        mappings = [{"hostPort": int(b["HostPort"] or b["Port"]), "containerPort": b["Port"], "protocol": b["Proto"],
                     "hostIP": b["HostIp"]} for b in cfg.get("PortBindings") or []]  # fmt: skip
        attachment = {"conf": conf, "binDirs": list(bin_dirs), "args": dict(opts.get("args") or {}),
                      "runtimeConfig": {"portMappings": mappings} if mappings else {},
                      "timeout": opts.get("pluginTimeout") or 60.0, "result": None}  # fmt: skip
        path = os.path.join(c.dir, CNI_FILE)
        netns = new_net_namespace()
        try:
            _loopback_up(netns)
            attachment["holder"], attachment["netns"] = _hold(netns), os.fstat(netns).st_ino
            atomic_write(path, fastjson.dumps(attachment).encode())
        except BaseException:
            try:
                self.cni_down(c)
            finally:
                os.close(netns)
            raise
        sandbox = Sandbox(netns, [])
        sandbox.join_in_background(lambda: self._cni_add(c, conf, attachment))
        return sandbox

    def _cni_add(self, c, conf: dict, attachment: dict) -> None:
        """The plugins' ADD, the result written in; on failure, their DEL."""
        from berth.fs import atomic_write
        from berth.network import cni

        held = f"/proc/{attachment['holder']}/ns/net"
        try:
            attachment["result"] = cni.add(conf, _call(attachment, c.id, held))
            atomic_write(os.path.join(c.dir, CNI_FILE), fastjson.dumps(attachment).encode())
        except BaseException:
            try:
                self.cni_down(c)
            except Exception:  # noqa: BLE001 - the ADD's error is the one to tell; a later DEL retries
                pass
            raise

    @staticmethod
    def cni_problem(settings) -> str:
        """Why a pod could not be joined to a CNI network with these settings (an options.CniNetwork)
        now: no configuration, or a plugin not installed; "" if it could."""
        from berth.network import cni

        try:
            cni.check_plugins(cni.load(settings.conf_dir), tuple(settings.bin_dirs))
        except cni.NotReady as e:
            return str(e)
        return ""

    def cni_down(self, c) -> None:
        """DEL of the container's CNI attachment, if it has one, in the namespace its holder kept
        (or with none, if the holder was killed: the plugins free what they can), then the holder.
        Kept if a plugin fails, to be tried again."""
        from berth.linux.signals import NUMBERS, kill_checked
        from berth.network import cni

        attachment = _cni_attachment(c)
        if not attachment:
            return
        holder, inode = attachment.get("holder", 0), attachment.get("netns", 0)
        held = f"/proc/{holder}/ns/net" if holder and _inode(f"/proc/{holder}/ns/net") == inode else ""
        cni.delete(attachment["conf"], _call(attachment, c.id, held), attachment["result"])
        if held:
            kill_checked(holder, NUMBERS["SIGKILL"], lambda: _inode(held) == inode)
        os.unlink(os.path.join(c.dir, CNI_FILE))

    def cni_joined(self, c) -> bool:
        """Whether the container's CNI attachment has its ADD's result (False while none, or when
        the ADD never finished)."""
        return _cni_attachment(c).get("result") is not None

    def cni_addresses(self, c) -> list[str]:
        """The addresses the CNI network gave a running container (none otherwise)."""
        from berth.network import cni

        return cni.addresses(_cni_attachment(c).get("result") or {})

    def _attach(self, c, net, netns: int, ifname: str, join: dict, default_route: bool):
        """An address on `net` and a veth from its bridge into the namespace held by `netns`."""
        from berth.network import bridge, endpoint

        cfg = c.config
        lease = self.store.lease(net, c.id, c.name, ip=join.get("IP", ""), mac=cfg.get("macAddress", "") if default_route else "",
                                 aliases=list(join.get("Aliases") or []), dns=list(cfg.get("dns") or []),
                                 locked=lambda: bridge.ensure(net, self.store.root))  # fmt: skip
        endpoint.attach(netns, net, lease, ifname, default_route=default_route)
        self.store.touch(lease)
        if not net.is_default:
            from berth.network import dns

            dns.ensure(self.store.root, net)
        return lease

    # -- networks: create, remove, connect, disconnect ---------------------------------
    def event(self, ref: str, action: str, **attrs: str) -> None:
        from berth import events

        net = self.store.get(ref)
        events.record(self.root, "network", action, net.id, {"name": net.name, "type": "bridge", **attrs})

    @_where_networks_live
    def create(self, name: str, subnet: str = "", gateway: str = "", internal: bool = False,
               labels: dict[str, str] | None = None):  # fmt: skip
        """A user network and its bridge (made now, as Docker does, so `ip link` shows it)."""
        from berth.network import bridge

        net = self.store.create(name, subnet, gateway, internal, labels)
        try:
            self.store.locked(lambda: bridge.ensure(net, self.store.root))
        except BaseException:
            self.store.remove(net)
            raise
        self.event(net.id, "create")
        return net

    @_where_networks_live
    def remove(self, ref: str) -> None:
        from berth.network import bridge, dns
        from berth.network.store import PSEUDO

        if ref in PSEUDO:
            raise FailedPrecondition(f"{ref} is a pre-defined network and cannot be removed")
        net = self.store.get(ref)
        if net.is_default:
            raise FailedPrecondition(f"{net.name} is a pre-defined network and cannot be removed")
        if self.store.leases(net.id):
            raise FailedPrecondition(
                f"error while removing network: network {net.name} id {net.id} has active endpoints"
            )
        dns.stop(self.store.root, net.id)
        self.event(net.id, "destroy")

        def drop() -> None:
            self.store.remove(net)
            bridge.remove(net.bridge, self.store.root)

        self.store.locked(drop)
        self._prune_rules()

    @_where_networks_live
    def connect(self, c, ref: str, ip: str = "", aliases: tuple[str, ...] = (), running_pid: int = 0) -> dict | None:
        """Join a running container now (a new interface); a stopped one joins at its next start:
        the entry to keep in its config is returned then."""
        net = self.store.get(ref)
        if ip and (net.is_default or not net.configured):
            raise InvalidArgument(
                "user specified IP address is supported only when connecting to networks with user configured subnets"
            )
        if aliases and net.is_default:
            raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
        names = [cfg.get("Name") for cfg in c.config.get("ExtraNetworks") or []] + [c.config.get("network") or "bridge"]
        if net.name in names or net.id in names or any(lease.network == net.id for lease in self.store.container_leases(c.id)
                                                         if lease.live):  # fmt: skip
            raise AlreadyExists(f"endpoint with name {c.name} already exists in network {net.name}")
        join = {"Name": net.name, "IP": ip, "Aliases": list(aliases)}
        if running_pid:
            fd = os.open(f"/proc/{running_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                ifname = f"eth{len([x for x in self.store.container_leases(c.id) if x.live])}"
                try:
                    self._attach(c, net, fd, ifname, join, default_route=False)
                except BaseException:
                    self.store.release(c.id, net.id)
                    raise
            finally:
                os.close(fd)
        return join

    @_where_networks_live(make=False)
    def disconnect(self, c, ref: str) -> None:
        from berth.network import endpoint

        net = self.store.get(ref)
        for lease in self.store.release(c.id, net.id):
            endpoint.detach(lease)

    # -- the end: leases, rules and an idle default bridge ------------------------------
    @_where_networks_live(make=False)
    def down(self, container: str) -> None:
        """Give back what a container had (its veth goes with its namespace; deleted here if that
        has not happened yet, so the addresses are free at once)."""
        from berth.network import endpoint

        leases = self.store.release(container)
        for lease in leases:
            try:
                endpoint.detach(lease)
            except Exception:  # noqa: BLE001 - gone meanwhile with its namespace
                pass
        if any(lease.ports for lease in leases):
            self._unpublish(leases)
        if any(lease.network == self.store.get("").id for lease in leases):
            self._retire_default_later()

    @_where_networks_live(make=False)
    def collect(self) -> None:
        """What ended containers left (their monitors may have been killed): leases and port rules."""
        stale = self.store.stale()
        if not stale:
            return
        for lease in stale:
            self.store.release(lease.container, lease.network)
        if any(lease.ports for lease in stale):
            self._unpublish(stale)
        if any(lease.network == self.store.get("").id for lease in stale):
            self._retire_default_later()

    def _unpublish(self, leases) -> None:
        """The port rules of these released leases, and rootless, slirp4netns's forwards to them."""
        from berth.engine import rootless

        if rootless.active():
            rootless.unforward_ports([b for lease in leases for b in lease.ports])
        self._prune_rules()

    def _prune_rules(self) -> None:
        from berth.network import bridge, firewall
        from berth.network.iproute import link_exists

        def prune() -> None:
            others = bridge.foreign(self.store.root)
            bridges = {n.bridge for n in self.store.list() if link_exists(n.bridge)} | set(others)
            firewall.prune(bridges, {lease.container for lease in self.store.leases()}, tuple(others.values()))

        self.store.locked(prune)

    @_where_networks_live(make=False)
    def retire_default(self, linger: float = 0.0) -> bool:
        """The default bridge and its rules, once no container has used it for `linger` seconds."""
        return self._retire_default(linger) == "retired"

    def _retire_default(self, linger: float) -> str:
        """'retired', 'in use' (a live lease), 'recent' (idle for less than linger) or 'gone'."""
        from berth.network import bridge
        from berth.network.iproute import link_exists

        default = self.store.get("")

        def retire() -> str:
            idle = self.store.idle_for(default)
            if not link_exists(default.bridge):
                return "gone"
            if idle < 0:  # never under a live container
                return "in use"
            if idle < linger:
                return "recent"
            bridge.remove(default.bridge, self.store.root)
            return "retired"

        outcome = self.store.locked(retire)
        if outcome == "retired":
            self._prune_rules()
        return outcome

    def _retire_default_later(self) -> None:
        """Removing a bridge costs ~60 ms (the kernel waits out RCU readers, iptables matches rules to
        delete them): a process of its own does it once the bridge has been idle for LINGER seconds,
        so the command returns at once and a burst of `run --rm` keeps one bridge. One such process
        at a time: while one waits (holding retire.lock), it sees this release too."""
        from berth.foreground import DEVNULL, spawn
        from berth.fs import Flock

        free = Flock(self._retire_lock(), file=True)
        if not free.try_acquire():
            return
        free.release()  # the process started below takes it
        # A fresh interpreter, never a fork: SQLite's lock bookkeeping is per process and a forked
        # child inherits the parent's, so its transactions took no real lock and read a stale
        # snapshot (no leases at all) and removed the bridge under live containers. A fork of a
        # threaded caller (a build's stages) could also keep a lock held forever.
        from berth.engine import children

        children.adopt(spawn([sys.executable, "-c", "import sys; from berth.engine.networking import Networking; "
                              "Networking(sys.argv[1])._retire_after_linger()", self.root],
                             stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, setsid=True))  # fmt: skip

    def _retire_lock(self) -> str:
        from berth.network.store import state_dir

        return os.path.join(state_dir(), "retire.lock")

    def _retire_after_linger(self) -> None:
        """The retiring process: waits out LINGER from the last release, lets go of retire.lock and
        then looks (so a release that found the lock held is seen here), and goes round again while
        the bridge has been idle too briefly. It ends once the bridge is gone or in use: the next
        release starts another."""
        import time

        from berth.fs import Flock

        lock = Flock(self._retire_lock(), file=True)
        if not lock.try_acquire():
            return  # another one waits
        wait = LINGER
        while True:
            time.sleep(wait + 0.05)
            lock.release()
            if not os.path.exists(self._retire_lock()) or self._retire_default(LINGER) != "recent":
                return
            if not lock.try_acquire():
                return  # a newer one took over
            wait = max(0.0, LINGER - self.store.idle_for(self.store.get("")))

    # -- reading --------------------------------------------------------------------
    def settings(self, c, running: bool) -> dict:
        """Docker's NetworkSettings for inspect."""
        leases = self.store.container_leases(c.id) if running and kind(c.config.get("network", "")) == "bridge" else []
        nets = {n.id: n for n in self.store.list()} if leases else {}
        ports: dict[str, list | None] = {p: None for p in c.config.get("ExposedPorts") or []}
        networks = {}
        for lease in leases:
            net = nets.get(lease.network)
            if net is None:
                continue
            for b in lease.ports:
                ports.setdefault(f"{b['Port']}/{b['Proto']}", None)
                ports[f"{b['Port']}/{b['Proto']}"] = (ports[f"{b['Port']}/{b['Proto']}"] or []) + [
                    {"HostIp": b["HostIp"], "HostPort": b["HostPort"]}]  # fmt: skip
            networks[net.name] = {
                "IPAMConfig": {"IPv4Address": c.config["ip"]} if c.config.get("ip") else None, "Links": None,
                "Aliases": (lease.aliases + [c.id[:12]]) if not net.is_default else None, "MacAddress": lease.mac,
                "DriverOpts": None, "NetworkID": net.id, "EndpointID": lease.veth, "Gateway": net.gateway,
                "IPAddress": lease.ip, "IPPrefixLen": net.prefix, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DNSNames": None if net.is_default else [c.name, c.id[:12], *lease.aliases],
            }  # fmt: skip
        first = next(iter(networks.values()), None)
        mode = c.config.get("network") or "bridge"
        if not leases and kind(mode) == "bridge":
            net_name = "bridge" if mode in ("", "default") else mode
            networks = {net_name: {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
                                   "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                                   "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}}  # fmt: skip
        elif kind(mode) == "cni" and running:
            name = (_cni_attachment(c).get("conf") or {}).get("name", "cni")
            ip = next(iter(self.cni_addresses(c)), "")
            first = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
                     "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": ip, "IPPrefixLen": 0,
                     "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}  # fmt: skip
            networks = {name: first}
        elif kind(mode) in ("none", "host"):
            networks = {mode: {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
                               "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                               "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None}}  # fmt: skip
        default = first if first and mode in ("", "bridge", "default", "cni") else None
        return {
            "Bridge": "", "SandboxID": first["EndpointID"] if first else "", "SandboxKey": "",
            "Ports": ports, "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": default["EndpointID"] if default else "", "Gateway": default["Gateway"] if default else "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": default["IPAddress"] if default else "",
            "IPPrefixLen": default["IPPrefixLen"] if default else 0, "IPv6Gateway": "",
            "MacAddress": default["MacAddress"] if default else "", "Networks": networks,
        }  # fmt: skip


def _loopback_up(netns: int) -> None:
    from berth.linux.netdev import set_up
    from berth.linux.ns import InNetNamespace

    with InNetNamespace(netns):
        set_up("lo")


def _hold(netns: int) -> int:
    """A pause process (catatonit, as a pod's infra container) started in the namespace held by
    `netns`, in a session of its own: it keeps the namespace while no container does; its PID."""
    from berth.engine import children
    from berth.engine.pods import catatonit
    from berth.foreground import DEVNULL, spawn
    from berth.linux.ns import InNetNamespace

    with InNetNamespace(netns):
        child = spawn([catatonit(), "-P"], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, setsid=True)
    children.adopt(child)
    return child.pid


def _call(attachment: dict, container_id: str, netns: str):
    """The plugins' call on eth0 for a CNI attachment (berth.network.cni.Call)."""
    from berth.network import cni

    return cni.Call(tuple(attachment["binDirs"]), container_id, netns, "eth0", attachment["args"],
                    attachment["runtimeConfig"], attachment.get("timeout") or 60.0)  # fmt: skip


def _cni_attachment(c) -> dict:
    """The container's CNI attachment ({} if it has none)."""
    try:
        with open(os.path.join(c.dir, CNI_FILE), "rb") as f:
            return fastjson.loads(f.read())
    except (FileNotFoundError, ValueError):
        return {}


def _inode(path: str) -> int:
    try:
        return os.stat(path).st_ino
    except OSError:
        return 0


def _valid_mac(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(len(p) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in p) for p in parts)


def _port_key(p: str) -> tuple[int, str]:
    number, _, proto = p.partition("/")
    return int(number), proto
