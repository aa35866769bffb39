"""The builder's StepRunner: images from the image store, RUN steps as
containers through the monitor and the runtime, with `berth run`'s defaults."""

from __future__ import annotations

import os
import time

from berth.build.backend import BaseImage, RunRequest, StepRunner
from berth.fs import remove_tree
from berth.image.store import ImageStore
from berth.oci import image_spec


class EngineStepRunner(StepRunner):
    """Opens only what a step needs: a fully cached build never opens the
    containers' database nor the snapshotter's."""

    def __init__(self, root: str, pull: str = "missing") -> None:
        self.root = root
        self.pull = pull  # FROM's images: always, missing or never pulled
        self.images = ImageStore(root)
        self.content = self.images.content
        self._engine = None

    @property
    def snapshotter(self):
        return self.images.snapshotter

    @property
    def engine(self):
        if self._engine is None:
            from berth.engine.engine import Engine

            self._engine = Engine(self.root)
            self._engine._store = self.images
        return self._engine

    def base(self, ref: str) -> BaseImage:
        self.engine.ensure_image(ref, self.pull)
        image = self.images.get(ref)
        manifest = self.images.json_blob(image.manifest)
        return BaseImage(id=image.id, config=self.images.json_blob(manifest["config"]["digest"]),
                         layers=list(manifest.get("layers") or []))  # fmt: skip

    def unpack(self, layers: list[dict], diff_ids: list[str]) -> str:
        from berth.image.unpack import unpack_layers

        descriptors = [
            image_spec.Descriptor(media_type=d["mediaType"], digest=d["digest"], size=d["size"]) for d in layers
        ]
        return unpack_layers(self.images, descriptors, diff_ids)

    def run(self, request: RunRequest, output, cancelled) -> int:
        from berth.engine.options import CreateOptions, Mount
        from berth.foreground import HeldSignals

        config = image_spec.parse_config(request.config)
        mounts = (*(Mount.parse_volume(b) for b in request.binds), *(Mount.parse_tmpfs(t) for t in request.tmpfs))
        # userns=host: a step's writable layer becomes an image layer as it is on disk, and layers
        # keep the image's own ids (a remapped step would write the host's mapped ones)
        opts = CreateOptions(image="(build)", command=tuple(request.argv), entrypoint=(), env=tuple(request.env),
                             network=request.network, mounts=mounts, userns="host")  # fmt: skip
        monitor = None
        try:
            # the id is the builder's: a Ctrl-C at any point here still finds what to remove
            c = self.engine.create_on(opts, "", config, request.parent, image_volumes=False, cid=request.key)
            output.flush()
            # the monitor is in a session of its own: Ctrl-C reaches the builder, which stops the step;
            # held while it is spawned, so that it lands once the builder knows the monitor's pid
            with HeldSignals():
                sandbox = self.engine._sandbox(c)  # a RUN step on a bridge network: Docker's default
                try:
                    monitor = self.engine._monitor(c, attach=True, sandbox=sandbox)
                finally:
                    if sandbox is not None:
                        sandbox.close()  # the monitor holds its own copies
            self._copy_output(c, monitor, output, cancelled)
            error = c._read("error")
            code = monitor.returncode
            if error and code == 0:
                code = 125
            if error:
                output.write(f"{error.strip()}\n".encode())
            return code
        except BaseException:
            if monitor is not None and monitor.poll() is None:
                self._stop(request.key, monitor)
            raise
        finally:
            self._forget(request.key, request.network)

    def _copy_output(self, c, monitor, output, cancelled) -> None:
        """The step's output (attached before it starts) into the build's, until it exits."""
        import select

        from berth import streams
        from berth.engine import attach as attaching

        try:
            att = attaching.connect(c.dir, False, alive=lambda: monitor.poll() is None)
        except FileNotFoundError:
            monitor.wait()  # it could not start: its error says why
            return
        reader = streams.Reader()
        try:
            while True:
                if cancelled():
                    self._stop(c.id, monitor)
                ready, _, _ = select.select([att.sock], [], [], 0.02)
                if not ready:
                    continue
                chunk = att.sock.recv(65536)
                if not chunk:
                    break
                for stream, payload in reader.feed(chunk):
                    if stream in (streams.STDOUT, streams.STDERR):
                        output.write(payload)
                        output.flush()
        finally:
            att.close()
        monitor.wait()

    def _stop(self, cid: str, monitor) -> None:
        """Kill the step's processes; the monitor then records the exit and deletes the runtime state."""
        monitor.send_signal(15)  # one still waiting for us gives up before it makes the container
        c = self.engine.get(cid)
        for _ in range(20):
            self.engine._runtime(c, "kill", "--all", cid, "KILL")
            for _ in range(25):
                if monitor.poll() is not None:
                    return
                time.sleep(0.02)
        monitor.send_signal(9)  # the container never came up: the monitor itself, by its PID
        monitor.wait()

    def _forget(self, cid: str, network: str) -> None:
        """Remove the step's container but keep its snapshot: the builder commits or removes it."""
        from berth.errors import NotFound

        try:
            c = self.engine.get(cid)
        except NotFound:
            c = None  # interrupted before its row was written: no monitor, nothing in the runtime
        if c is not None and self.engine.runtime_leftover(c):
            self.engine._runtime(c, "delete", "--force", cid)
        if network not in ("none", "host"):
            self.engine.networking.down(cid)  # its address and veth (none if it never got that far)
        self.engine.db.execute("DELETE FROM containers WHERE id = ?", (cid,))
        remove_tree(os.path.join(self.engine.root, "containers", cid))

    def close(self) -> None:
        if self._engine is not None:
            self._engine._store = None  # closed below, once
            self._engine.close()
        self.images.close()

    def add_image(self, config: bytes, manifest: bytes, tags: list[str]) -> str:
        self.content.put(config)
        image = self.images.add(self.content.put(manifest), tags)
        return image.id
