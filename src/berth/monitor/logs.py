"""Container logs as the monitor writes them and `berth logs` reads them: Docker's json-file
driver, the k8s-file driver (CRI's format, Podman's default), or none; with --log-opt max-size
and max-file, the file rotates (container.log.1 is the newest older one). k8s-file's
--log-opt path=/ABS puts the file there instead of the container's directory (Podman's option;
the CRI's log path), and the monitor opens it again when asked (the kubelet rotates it by moving
it away, then asks).

    json-file  {"log": "hi\\n", "stream": "stdout", "time": "2026-11-29T05:00:00.000000000Z"}
    k8s-file   2026-11-29T05:00:00.000000000Z stdout F hi      (F: a full line, P: a partial one)
"""

from __future__ import annotations

import os

from berth import fastjson
from berth.clock import rfc3339
from berth.errors import InvalidArgument

DRIVERS = ("json-file", "k8s-file", "none")
OPTIONS = ("max-size", "max-file", "path")
LOG = "container.log"


def check(driver: str, opts: dict[str, str]) -> dict:
    """--log-driver and --log-opt as Docker's HostConfig.LogConfig, with Docker's errors."""
    from berth.units import parse_size

    driver = driver or "json-file"
    if driver not in DRIVERS:
        raise InvalidArgument(f"logger: no log driver named '{driver}' is registered (berth has {', '.join(DRIVERS)})")
    for key, value in opts.items():
        if key not in OPTIONS or driver == "none":
            raise InvalidArgument(f"unknown log opt '{key}' for {driver} log driver")
        if key == "path":
            if driver != "k8s-file" or not value.startswith("/"):
                raise InvalidArgument(f"log opt 'path' is k8s-file's, an absolute path: {value!r}")
        elif key == "max-size":
            parse_size(value)
        elif not value.isdigit() or int(value) < 1:
            raise InvalidArgument(f"invalid value for max-file: {value}: it must be a positive number")
    if "max-file" in opts and int(opts["max-file"]) > 1 and "max-size" not in opts:
        raise InvalidArgument("max-file cannot be set without max-size")
    return {"Type": driver, "Config": dict(opts)}


class Logger:
    """One record a line, per chunk of output; rotated when a line would take the file over max-size."""

    def __init__(self, cdir: str, config: dict) -> None:
        from berth.units import parse_size

        self.path = log_path(cdir, config)
        self.k8s = config.get("Type") == "k8s-file"
        opts = config.get("Config") or {}
        self.max_size = parse_size(opts["max-size"]) if opts.get("max-size") else 0
        self.max_file = int(opts.get("max-file") or 1)
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size
        self.partial = {"stdout": b"", "stderr": b""}

    def _open(self) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        try:
            return os.open(self.path, flags, 0o640)
        except FileNotFoundError:  # a path option's directory, not made yet
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            return os.open(self.path, flags, 0o640)

    def reopen(self) -> None:
        """The file at its path again (a new one if it was moved away)."""
        os.close(self.fd)
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial[stream] + data
        *lines, self.partial[stream] = buf.split(b"\n")
        for line in lines:
            self._line(stream, line + b"\n")

    def flush(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self._line(stream, rest)
                self.partial[stream] = b""

    def _line(self, stream: str, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        if self.k8s:
            full = text.endswith("\n")
            record = f"{rfc3339()} {stream} {'F' if full else 'P'} {text.removesuffix(chr(10))}\n".encode()
        else:
            record = (fastjson.dumps({"log": text, "stream": stream, "time": rfc3339()}) + "\n").encode()
        if self.max_size and self.size and self.size + len(record) > self.max_size:
            self._rotate()
        os.write(self.fd, record)
        self.size += len(record)

    def _rotate(self) -> None:
        """max-file files in all: container.log.1 the newest older one, the oldest dropped."""
        os.close(self.fd)
        if self.max_file > 1:
            for i in range(self.max_file - 1, 1, -1):
                if os.path.exists(f"{self.path}.{i - 1}"):
                    os.replace(f"{self.path}.{i - 1}", f"{self.path}.{i}")
            os.replace(self.path, f"{self.path}.1")
        else:
            os.unlink(self.path)  # one file: start it again, as Docker's json-file does
        self.fd = self._open()
        self.size = 0


class NoLogger:
    """--log-driver none: the output is read and dropped."""

    def reopen(self) -> None:
        pass

    def write(self, stream: str, data: bytes) -> None:
        pass

    def flush(self) -> None:
        pass


def open_logger(cdir: str):
    try:
        with open(os.path.join(cdir, "log-config.json"), "rb") as f:
            config = fastjson.loads(f.read())
    except FileNotFoundError:
        config = {"Type": "json-file"}
    return NoLogger() if config.get("Type") == "none" else Logger(cdir, config)


def parse(raw: bytes) -> dict:
    """A line of either format as {"time", "stream", "log"}."""
    if raw[:1] == b"{":
        return fastjson.loads(raw)
    stamp, stream, tag, text = raw.decode("utf-8", "replace").split(" ", 3)
    return {"time": stamp, "stream": stream, "log": text + ("\n" if tag == "F" else "")}


def log_path(cdir: str, config: dict | None) -> str:
    """Where the live file is: the container's directory, or k8s-file's path option."""
    return ((config or {}).get("Config") or {}).get("path") or os.path.join(cdir, LOG)


def files(cdir: str, config: dict | None = None) -> list[str]:
    """The log files, oldest first."""
    path = log_path(cdir, config)
    rotated = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    return [*reversed(rotated), path]
