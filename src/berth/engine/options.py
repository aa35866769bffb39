"""What `berth create` and `berth run` are asked for, as one record."""

from __future__ import annotations

from berth.oci.record import record


@record
class CreateOptions:
    image: str
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    name: str = ""
    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    hostname: str = ""
    pid: str = ""  # "", host, container:NAME
    ipc: str = ""
    uts: str = ""
    network: str = ""  # "", none, host, container:NAME
    labels: dict[str, str] = {}
    memory: int = 0
    pids_limit: int = 0
    cpus: float = 0.0
    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    auto_remove: bool = False
    interactive: bool = False
    tty: bool = False
