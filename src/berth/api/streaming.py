"""Long operations answered as they go: a pull's or a push's progress as Docker's JSON lines,
and an archive written by the engine streamed out as it is made. The operation runs in a
thread of its own; a client gone mid-stream cancels it (the progress callback raises in the
operation's thread, whose own cleanup removes what it had begun) and the thread is joined."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator

from berth import fastjson
from berth.errors import BerthError
from berth.units import progress_bar

JOIN = 60.0  # seconds a cancelled operation has to notice and end
_END = object()


class Cancelled(BerthError):
    """The client went away: what the operation had begun is undone."""


def line(doc: dict) -> bytes:
    return fastjson.dumps(doc).encode() + b"\r\n"


def error_line(message: str) -> bytes:
    return line({"errorDetail": {"message": message}, "error": message})


class JsonProgress:
    """berth's progress calls (berth.image.progress.Progress) as Docker's JSON messages, put on a queue."""

    def __init__(self, out: queue.Queue, cancelled: threading.Event) -> None:
        self.out, self.cancelled = out, cancelled

    def _put(self, doc: dict) -> None:
        if self.cancelled.is_set():
            raise Cancelled("the client went away")
        self.out.put(line(doc))

    def line(self, text: str) -> None:
        ref, sep, rest = text.partition(": ")
        if sep and rest.startswith("Pulling from "):
            self._put({"status": rest, "id": ref})
        else:
            self._put({"status": text})

    def layer(self, digest: str, status: str, current: int = 0, total: int = 0) -> None:
        doc: dict = {"status": status, "progressDetail": {}, "id": digest.removeprefix("sha256:")[:12]}
        if total and status in ("Downloading", "Pushing", "Extracting"):
            doc["progressDetail"] = {"current": current, "total": total}
            doc["progress"] = progress_bar(current, total)
        self._put(doc)

    def aux(self, doc: dict) -> None:
        self._put({"aux": doc})

    # a build's output as a binary stream: Docker's {"stream": line} messages, a line each (the
    # SDK finds the image's ID in a message that is one line)
    _decoder = None
    _partial = ""

    def write(self, data: bytes) -> int:
        if self._decoder is None:
            import codecs

            self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        lines = (self._partial + self._decoder.decode(data)).splitlines(keepends=True)
        self._partial = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        for text in lines:
            self._put({"stream": text})
        return len(data)

    def flush(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled("the client went away")

    def finish(self) -> None:
        if self._partial:
            self._put({"stream": self._partial})
            self._partial = ""


def progress(run: Callable[[JsonProgress], None]) -> Iterator[bytes]:
    """run(progress) in a thread; its messages as they come, its error as Docker's last line."""
    out: queue.Queue = queue.Queue()
    cancelled = threading.Event()
    reporter = JsonProgress(out, cancelled)

    def work() -> None:
        try:
            run(reporter)
            reporter.finish()
        except Cancelled:
            pass
        except BerthError as e:
            out.put(error_line(str(e)))
        except Exception as e:  # noqa: BLE001 - reported to the client, as dockerd's errorDetail
            out.put(error_line(f"{type(e).__name__}: {e}"))
        finally:
            out.put(_END)

    thread = threading.Thread(target=work, name="api-progress", daemon=True)
    thread.start()
    finished = False
    try:
        while (item := out.get()) is not _END:
            yield item
        finished = True
    finally:
        cancelled.set()
        thread.join(JOIN)
        if not finished:
            # a cancelled operation's exception holds its frames, and with them its registry
            # connections and files, in reference cycles: collected now, not at some later time
            import gc

            gc.collect()


def piped(write: Callable[[object], None], chunk: int = 64 << 10) -> Iterator[bytes]:
    """write(file) in a thread, what it writes read back as it comes. A client gone mid-way
    closes the read end: the writer's next write fails and it ends."""
    r, w = os.pipe()
    failure: list[BaseException] = []

    def work() -> None:
        with open(w, "wb", buffering=chunk) as f:
            try:
                write(f)
            except BrokenPipeError:
                pass
            except BaseException as e:  # noqa: BLE001 - the stream ends short; the reader logs why
                failure.append(e)

    thread = threading.Thread(target=work, name="api-pipe", daemon=True)
    thread.start()
    reader = open(r, "rb", buffering=0)
    try:
        while data := reader.read(chunk):
            yield data
    finally:
        reader.close()
        thread.join(JOIN)
    if failure:  # the stream is cut, not ended: the client must not take a short archive for whole
        raise ConnectionAbortedError(f"the archive could not be made: {failure[0]}")
