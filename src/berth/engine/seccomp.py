"""berth's default seccomp profile, and Docker-format profiles from `--security-opt seccomp=FILE`.

The default is written for berth with the intent of Docker's: an allowlist.
- Every syscall an ordinary program needs is allowed (ALLOWED).
- Known-dangerous ones fail with EPERM unless the container holds the
  capability that makes them legitimate (BY_CAPABILITY): namespaces and the
  mount API (CAP_SYS_ADMIN), modules, kexec and reboot, clock setting, swap,
  raw I/O, BPF, perf, accounting, NUMA policy, another process's memory.
- Some fail with EPERM for everyone (ALWAYS_DENIED): the kernel keyring, io_uring,
  obsolete and unused calls.
- `clone` is allowed only without namespace flags; `clone3` fails with ENOSYS
  (its flags are in memory, out of seccomp's reach), so libc falls back to clone;
  `personality` only with the harmless personas.
- Anything else, syscalls newer than this list included, fails with ENOSYS, which
  programs treat as "not implemented here" and work around.
Names unknown to the host's libseccomp or architecture are skipped by the runtime.
"""

from __future__ import annotations

import errno

from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Seccomp, SeccompArg, SyscallRule

ALLOWED = """
accept accept4 access adjtimex alarm arch_prctl bind brk cachestat capget capset chdir chmod chown chown32
chroot clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64
close close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat
faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32
fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64
fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake
futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc
kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack
membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap nanosleep
newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
pselect6_time64 ptrace pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32
setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socket socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat
sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev modify_ldt
""".split()

BY_CAPABILITY = {
    "CAP_SYS_ADMIN": """mount umount umount2 pivot_root unshare setns clone3 fsopen fsconfig fsmount fspick move_mount
        open_tree mount_setattr quotactl quotactl_fd lookup_dcookie fanotify_init name_to_handle_at sethostname
        setdomainname swapon swapoff bpf perf_event_open""",
    "CAP_SYS_BOOT": "reboot kexec_load kexec_file_load",
    "CAP_SYS_MODULE": "init_module finit_module delete_module create_module query_module get_kernel_syms",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64 clock_adjtime clock_adjtime64",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_PTRACE": "process_vm_readv process_vm_writev kcmp pidfd_getfd process_madvise userfaultfd",
    "CAP_SYS_NICE": "mbind set_mempolicy get_mempolicy move_pages migrate_pages set_mempolicy_home_node",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYSLOG": "syslog",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
}
ALWAYS_DENIED = """add_key request_key keyctl io_uring_setup io_uring_enter io_uring_register uselib ustat sysfs
    _sysctl nfsservctl vm86 vm86old afs_syscall tuxcall security vserver getpmsg putpmsg""".split()
# clone's flags that make namespaces: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
CLONE_NAMESPACE_FLAGS = 0x7E020000
PERSONAS = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)  # PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE, both, query


def default_profile(caps: tuple[str, ...]) -> Seccomp:
    """The default profile for a container holding `caps`."""
    held = set(caps)
    allowed = list(ALLOWED)
    denied = list(ALWAYS_DENIED)
    granted: set[str] = set()
    for cap, names in BY_CAPABILITY.items():
        (granted if cap in held else set()).update(names.split())
    for names in BY_CAPABILITY.values():
        for name in names.split():
            if name in granted:
                if name not in allowed:
                    allowed.append(name)
            elif name not in denied and name != "clone3":
                denied.append(name)
    rules = [SyscallRule(names=tuple(allowed), action="SCMP_ACT_ALLOW")]
    if "CAP_SYS_ADMIN" in held:
        rules.append(SyscallRule(names=("clone",), action="SCMP_ACT_ALLOW"))
    else:
        rules.append(SyscallRule(names=("clone",), action="SCMP_ACT_ALLOW",
                                 args=(SeccompArg(index=0, value=CLONE_NAMESPACE_FLAGS, value_two=0, op="SCMP_CMP_MASKED_EQ"),)))  # fmt: skip
        rules.append(SyscallRule(names=("clone3",), action="SCMP_ACT_ERRNO", errno_ret=errno.ENOSYS))
    rules += [SyscallRule(names=("personality",), action="SCMP_ACT_ALLOW", args=(SeccompArg(index=0, value=p, op="SCMP_CMP_EQ"),))
              for p in PERSONAS]  # fmt: skip
    rules.append(SyscallRule(names=tuple(denied), action="SCMP_ACT_ERRNO", errno_ret=errno.EPERM))
    return Seccomp(default_action="SCMP_ACT_ERRNO", default_errno_ret=errno.ENOSYS, architectures=_arches(),
                   syscalls=tuple(rules))  # fmt: skip


def _arches() -> tuple[str, ...]:
    """The native architecture and the compat ones it can run, as Docker lists them."""
    import os

    return {"x86_64": ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"),
            "aarch64": ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")}.get(os.uname().machine, ())  # fmt: skip


def docker_profile(doc: dict, caps: tuple[str, ...], where: str) -> Seccomp:
    """A profile in Docker's format (defaultAction, syscalls with includes/excludes by
    capability and architecture) for a container holding `caps`."""

    from berth.oci.image_spec import host_arch

    arch = host_arch()
    if not isinstance(doc, dict) or "defaultAction" not in doc:
        raise InvalidArgument(f"{where}: not a seccomp profile: defaultAction is missing")
    held = set(caps)

    def applies(rule: dict) -> bool:
        inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
        if inc.get("caps") and not set(inc["caps"]) <= held:
            return False
        if inc.get("arches") and arch not in inc["arches"]:
            return False
        if exc.get("caps") and set(exc["caps"]) & held:
            return False
        return not (exc.get("arches") and arch in exc["arches"])

    rules = []
    for i, rule in enumerate(doc.get("syscalls") or []):
        if not applies(rule):
            continue
        names = tuple(rule.get("names") or ([rule["name"]] if rule.get("name") else []))
        if not names or "action" not in rule:
            raise InvalidArgument(f"{where}: syscalls[{i}] needs names and an action")
        args = tuple(SeccompArg(index=a["index"], value=a.get("value", 0), value_two=a.get("valueTwo", 0), op=a["op"])
                     for a in rule.get("args") or [])  # fmt: skip
        rules.append(SyscallRule(names=names, action=rule["action"], errno_ret=rule.get("errnoRet"), args=args))
    arches = tuple(doc.get("architectures") or ())
    for entry in doc.get("archMap") or []:
        arches += (entry["architecture"], *entry.get("subArchitectures", ()))
    return Seccomp(default_action=doc["defaultAction"], default_errno_ret=doc.get("defaultErrnoRet"),
                   architectures=tuple(dict.fromkeys(arches)), syscalls=tuple(rules))  # fmt: skip
