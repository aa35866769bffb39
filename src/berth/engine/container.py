"""A container as the engine reads it: its row in containers.db (the immutable config) and what
changes, derived when read from the files the monitor and the engine write in its directory (so a
killed monitor cannot leave the database lying)."""

from __future__ import annotations

import os

from berth import fastjson
from berth.clock import rfc3339
from berth.errors import BerthError

CREATED, RUNNING, EXITED = "created", "running", "exited"
PAUSED = "paused"  # in the container's directory while the runtime has it paused
SPEC = "bundle/config.json"  # the OCI spec, in the container's directory


class ContainerError(BerthError):
    """A container could not be started; carries Docker's exit code (125, 126, 127)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


class ExecStartError(ContainerError):
    """An exec that could not start: docker's 126, its message on the exec's own output."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 126)


class Container:
    def __init__(self, engine, row) -> None:
        self.engine = engine
        self.row = row
        self.id, self.name, self.image, self.image_name, self.created = row[:5]
        self.dir = f"{engine.root}/containers/{self.id}"  # not os.path.join: a listing makes hundreds

    @property
    def config(self) -> dict:
        """Its record's config, parsed on first use (a listing often needs none of it)."""
        try:
            return self._config
        except AttributeError:
            self._config = fastjson.loads(self.row[5])
            return self._config

    def _read(self, name: str) -> str | None:
        # os.open, not open(): a listing reads two or three of these per container, and a file
        # object costs more than the read (and a missing file is the common case)
        try:
            fd = os.open(f"{self.dir}/{name}", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            data = os.read(fd, 65536)
            if len(data) == 65536:
                while more := os.read(fd, 65536):
                    data += more
            return data.decode()
        finally:
            os.close(fd)

    @property
    def exit(self) -> dict | None:
        text = self._read("exit.json")
        return fastjson.loads(text) if text else None

    @property
    def pid(self) -> int:
        text = self._read("init.pid")
        return int(text) if text and self.status == RUNNING else 0

    @property
    def status(self) -> str:
        if self._read("exit.json") is not None:
            return EXITED
        monitor = self._read("monitor.pid")
        if monitor is None:
            return CREATED
        init = self._read("init.pid")
        if init and _alive(int(init)):
            return RUNNING
        if _alive(int(monitor)):
            return RUNNING if init else CREATED  # starting
        return EXITED  # the monitor was killed and the container is gone with it

    @property
    def restarting(self) -> dict | None:
        """The last run's exit ({"code", "finished"}) while a restart policy waits to run it again;
        meaningful while the status is running, which every caller has read already."""
        text = self._read("restarting.json")
        try:
            return fastjson.loads(text) if text else None
        except ValueError:
            return None

    @property
    def health(self) -> dict | None:
        """Docker's State.Health, while a health check is configured ("starting" from the start
        until the monitor's first check is written)."""
        text = self._read("health.json")
        if text:
            return fastjson.loads(text)
        if self.status == "running" and os.path.exists(os.path.join(self.dir, "healthcheck.json")):
            return {"Status": "starting", "FailingStreak": 0, "Log": []}
        return None

    @property
    def paused(self) -> bool:
        """Frozen by `pause`: the engine's own record of it (the runtime's state says the same, but
        asking it is a process per container; its cgroup files are the runtime's business)."""
        return os.path.exists(os.path.join(self.dir, PAUSED))

    @property
    def args(self) -> list[str]:
        """The command it runs: its entrypoint and command, else the process of its bundle."""
        args = [*(self.config.get("entrypoint") or []), *(self.config.get("command") or [])]
        if args:
            return args
        try:
            with open(f"{self.dir}/bundle/config.json", "rb") as f:
                return fastjson.loads(f.read())["process"]["args"]
        except OSError:
            return []

    @property
    def started_at(self) -> str:
        try:
            return rfc3339(os.stat(os.path.join(self.dir, "init.pid")).st_mtime)
        except FileNotFoundError:
            return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] not in (b"Z", b"X")
    except (OSError, ValueError):
        return False
