"""What the builder needs from the layers above it: the engine implements it
(`berth.engine.build_backend`), so `build` never imports the image store or the
engine (they are its sibling and its parent in the layers).

Plain classes, not dataclasses or typing.Protocol: a fully cached rebuild is a
hot path, and those two imports alone cost ~12 ms.
"""

from __future__ import annotations


class BaseImage:
    __slots__ = ("id", "config", "layers")

    def __init__(self, id: str, config: dict, layers: list[dict]) -> None:
        self.id = id  # the config digest
        self.config = config  # the image config, as JSON
        self.layers = layers  # the manifest's layer descriptors, as JSON


class RunRequest:
    """One RUN step: a container on the snapshot `parent` with the image config `config`."""

    __slots__ = ("key", "parent", "config", "argv", "env", "network", "binds", "tmpfs")

    def __init__(self, key: str, parent: str, config: dict, argv: list[str], env: list[str] = (), network: str = "",
                 binds: list[str] = (), tmpfs: list[str] = ()) -> None:  # fmt: skip
        # the step container's id and its active snapshot's key, chosen by the builder before the step:
        # however early the build is interrupted, it knows what to remove
        self.key = key
        self.parent = parent  # committed snapshot key ("" for an empty root)
        self.config = config  # image config JSON: Env, User, WorkingDir of the step
        self.argv = argv
        self.env = list(env)  # build args, on top of the config's Env
        self.network = network  # "", none, host
        self.binds = list(binds)  # /host:/container[:ro]
        self.tmpfs = list(tmpfs)


class StepRunner:
    """The interface; `snapshotter` and `content` are the image store's. One per thread."""

    snapshotter = None
    content = None

    def base(self, ref: str) -> BaseImage:
        """The image `ref` names, from the local store."""
        raise NotImplementedError

    def unpack(self, layers: list[dict], diff_ids: list[str]) -> str:
        """Make sure the layers are unpacked; the top snapshot's key ("" for none)."""
        raise NotImplementedError

    def run(self, request: RunRequest, output, cancelled) -> int:
        """Run the step; its exit code. Its changes are in the active snapshot `request.key`, which
        the builder commits or removes. `cancelled()` is polled: when true the container is killed."""
        raise NotImplementedError

    def add_image(self, config: bytes, manifest: bytes, tags: list[str]) -> str:
        """Record the image (its blobs are in the content store); its ID."""
        raise NotImplementedError

    def close(self) -> None:
        """Close what it opened (it is used by one thread only)."""
