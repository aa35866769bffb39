"""keyctl(2): give a container a session keyring of its own."""

from berth.linux.libc import syscall

KEYCTL_JOIN_SESSION_KEYRING = 1


def join_session_keyring(name: str) -> None:
    syscall("keyctl", KEYCTL_JOIN_SESSION_KEYRING, name.encode())
