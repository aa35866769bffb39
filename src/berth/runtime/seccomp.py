"""linux.seccomp compiled and loaded through libseccomp (pyseccomp, a ctypes binding)."""

from __future__ import annotations

import errno as _errno

from berth.errors import InvalidArgument, Unsupported
from berth.oci.runtime_spec import Seccomp

_OPS = {
    "SCMP_CMP_NE": "NE", "SCMP_CMP_LT": "LT", "SCMP_CMP_LE": "LE", "SCMP_CMP_EQ": "EQ",
    "SCMP_CMP_GE": "GE", "SCMP_CMP_GT": "GT", "SCMP_CMP_MASKED_EQ": "MASKED_EQ",
}  # fmt: skip
_ARCHES = {
    "SCMP_ARCH_X86": "X86", "SCMP_ARCH_X86_64": "X86_64", "SCMP_ARCH_X32": "X32",
    "SCMP_ARCH_ARM": "ARM", "SCMP_ARCH_AARCH64": "AARCH64", "SCMP_ARCH_PPC64LE": "PPC64LE",
    "SCMP_ARCH_S390X": "S390X", "SCMP_ARCH_RISCV64": "RISCV64",
}  # fmt: skip
ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")  # fmt: skip


def _action(sc, name: str, errno_ret: int | None):
    if name == "SCMP_ACT_ERRNO":
        return sc.ERRNO(errno_ret if errno_ret is not None else _errno.EPERM)
    if name == "SCMP_ACT_TRACE":
        return sc.TRACE(errno_ret if errno_ret is not None else _errno.EPERM)
    table = {
        "SCMP_ACT_KILL": sc.KILL, "SCMP_ACT_KILL_THREAD": sc.KILL,
        "SCMP_ACT_KILL_PROCESS": getattr(sc, "KILL_PROCESS", sc.KILL),
        "SCMP_ACT_TRAP": sc.TRAP, "SCMP_ACT_ALLOW": sc.ALLOW, "SCMP_ACT_LOG": getattr(sc, "LOG", sc.ALLOW),
    }  # fmt: skip
    try:
        return table[name]
    except KeyError:
        raise InvalidArgument(f"linux.seccomp: unknown action {name!r}") from None


def build(profile: Seccomp):
    """A pyseccomp filter for the profile, to export as BPF (berth loads the BPF itself,
    so libseccomp never sets no_new_privs behind the process's back)."""
    try:
        import pyseccomp as sc
    except ImportError as e:  # pragma: no cover - dependency missing
        raise Unsupported(f"linux.seccomp needs libseccomp: {e}") from None
    filt = sc.SyscallFilter(_action(sc, profile.default_action, profile.default_errno_ret))
    for arch in profile.architectures:
        try:
            filt.add_arch(getattr(sc.Arch, _ARCHES[arch]))
        except KeyError:
            raise InvalidArgument(f"linux.seccomp: unknown architecture {arch!r}") from None
        except OSError:
            pass  # already present: the native arch
    for rule in profile.syscalls:
        action = _action(sc, rule.action, rule.errno_ret)
        args = []
        for a in rule.args:
            try:
                op = getattr(sc, _OPS[a.op])
            except KeyError:
                raise InvalidArgument(f"linux.seccomp: unknown operator {a.op!r}") from None
            args.append(
                sc.Arg(a.index, op, a.value, a.value_two)
                if a.op == "SCMP_CMP_MASKED_EQ"
                else sc.Arg(a.index, op, a.value)
            )
        for name in rule.names:
            try:
                filt.add_rule(action, name, *args)
            except (ValueError, OSError):
                # a name this libseccomp or arch does not know is skipped, as runc does
                continue
    return filt


class Program:
    """A compiled filter, ready to load with one prctl (nothing left to import after pivot_root)."""

    __slots__ = ("bpf",)

    def __init__(self, bpf: bytes) -> None:
        self.bpf = bpf

    def load(self) -> None:
        from berth.linux import prctl

        prctl.set_seccomp_filter(self.bpf)


def program(profile: Seccomp, cache_dir: str) -> Program:
    """The profile compiled to BPF, from a cache keyed by the profile (libseccomp's compile costs
    ~25 ms with its import, on every container start; reading the cache, a file read)."""
    import os

    from berth import fastjson
    from berth.oci.digest import sha256
    from berth.oci.record import to_json

    key = sha256((fastjson.dumps(to_json(profile)) + os.uname().machine).encode()).hexdigest()
    path = os.path.join(cache_dir, f"{key}.bpf")
    try:
        with open(path, "rb") as f:
            return Program(f.read())
    except FileNotFoundError:
        pass
    filt = build(profile)
    os.makedirs(cache_dir, mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "wb") as f:
        filt.export_bpf(f)
    os.rename(tmp, path)
    with open(path, "rb") as f:
        return Program(f.read())
