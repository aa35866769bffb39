"""Health checks, run by the monitor while the container runs, as Docker runs them.

The check is `berth-runtime exec` of the HEALTHCHECK command (CMD: as given;
CMD-SHELL: through /bin/sh -c) every Interval, killed after Timeout. Status:
"starting" until the first success (failures inside StartPeriod do not count),
"healthy" after a success, "unhealthy" after Retries failures in a row. The
result lives in DIR/health.json (Docker's State.Health: Status, FailingStreak,
Log of the last five probes), written atomically for `ps` and `inspect`.
"""

from __future__ import annotations

import os
import subprocess
import time

from berth import fastjson
from berth.clock import rfc3339
from berth.foreground import REAPED
from berth.fs import atomic_write

NS = 1_000_000_000


class Health:
    def __init__(self, cdir: str, base: list[str], cid: str, check: dict) -> None:
        test = list(check.get("Test") or [])
        self.argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        self.interval = (check.get("Interval") or 30 * NS) / NS
        self.timeout = (check.get("Timeout") or 30 * NS) / NS
        self.retries = check.get("Retries") or 3
        self.start_period = (check.get("StartPeriod") or 0) / NS
        self.cdir, self.base, self.cid = cdir, base, cid
        self.started = time.monotonic()
        self.next_at = self.started + self.interval
        self.proc: subprocess.Popen | None = None
        self.began = 0.0
        self.state = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self._write()

    @classmethod
    def load(cls, cdir: str, base: list[str], cid: str) -> Health | None:
        try:
            with open(os.path.join(cdir, "healthcheck.json"), "rb") as f:
                check = fastjson.loads(f.read())
        except FileNotFoundError:
            return None
        return cls(cdir, base, cid, check)

    def tick(self) -> None:
        now = time.monotonic()
        if self.proc is None:
            if now >= self.next_at:
                self.began = time.time()
                self.started_at = now
                self.proc = subprocess.Popen([*self.base, "exec", self.cid, *self.argv], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
            return
        # the monitor's reap() may have collected the check's exit already (waitpid(-1)): look there first
        reaped = REAPED.pop(self.proc.pid, None)
        if reaped is not None:
            self.proc.returncode = reaped
        if self.proc.poll() is None and now - self.started_at < self.timeout:
            return
        timed_out = self.proc.poll() is None
        if timed_out:
            self.proc.kill()
        out = self.proc.communicate()[0][-4096:].decode(errors="replace")
        code = -1 if timed_out else self.proc.returncode
        if timed_out:
            out = f"Health check exceeded timeout ({self.timeout:g}s)"
        self._record(code, out, now)
        self.proc = None
        self.next_at = now + self.interval

    def _record(self, code: int, output: str, now: float) -> None:
        state = self.state
        state["Log"] = [*state["Log"], {"Start": rfc3339(self.began), "End": rfc3339(), "ExitCode": code,
                                        "Output": output}][-5:]  # fmt: skip
        if code == 0:
            state["Status"], state["FailingStreak"] = "healthy", 0
        elif now - self.started >= self.start_period or state["Status"] != "starting":
            state["FailingStreak"] += 1
            if state["FailingStreak"] >= self.retries:
                state["Status"] = "unhealthy"
        self._write()

    def _write(self) -> None:
        atomic_write(os.path.join(self.cdir, "health.json"), fastjson.dumps(self.state).encode())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
