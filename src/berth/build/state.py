"""What a build's parts share: its options, a stage's state as it goes, the step lines, and the
cache keys."""

from __future__ import annotations

from _thread import allocate_lock

from berth import fastjson
from berth.errors import BerthError
from berth.oci.digest import sha256  # the builtin one: hashlib's OpenSSL import costs ~4 ms on the all-cached path

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
              "no_proxy", "ALL_PROXY", "all_proxy")  # fmt: skip
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildError(BerthError):
    """A step failed; exit_code is Docker's (1) and the message names the step."""


class Options:
    def __init__(self, context: str, dockerfile: str, dockerfile_name: str = "Dockerfile", tags=(), build_args=None,
                 target: str = "", no_cache: bool = False, labels=None, network: str = "", quiet: bool = False) -> None:  # fmt: skip
        self.context = context
        self.dockerfile = dockerfile  # the Dockerfile's text
        self.dockerfile_name = dockerfile_name
        self.tags = list(tags)
        self.build_args: dict[str, str] = dict(build_args or {})
        self.target = target
        self.no_cache = no_cache
        self.labels: dict[str, str] = dict(labels or {})
        self.network = network
        self.quiet = quiet


class State:
    __slots__ = ("config", "layers", "key", "top", "args", "image_id", "cmd_set")

    def __init__(self, config: dict, layers: list[dict], key: str, top: str = "", args: dict | None = None,
                 image_id: str = "", cmd_set: bool = False) -> None:  # fmt: skip
        self.config = config
        self.layers = layers
        self.key = key
        self.top = top  # snapshot key of the top layer, once unpacked (checked before use)
        self.args: dict[str, str] = args if args is not None else {}  # ARGs in scope with their values
        self.image_id = image_id  # the image this state is exactly, when known
        self.cmd_set = cmd_set  # a CMD in this stage: an ENTRYPOINT after it keeps it


def copy_json(doc: dict) -> dict:
    return fastjson.loads(fastjson.dumps(doc))


def cache_key(*parts: object) -> str:
    return "sha256:" + sha256(fastjson.dumps(parts).encode()).hexdigest()


class Progress:
    """Docker's step lines (`Step N/M : ...`, ` ---> Using cache`, ` ---> ID`), one whole line at a time."""

    def __init__(self, out: object, quiet: bool) -> None:
        self.out, self.quiet = out, quiet
        self.lock = allocate_lock()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self.lock:
            self.out.write(text.encode() + b"\n")
            self.out.flush()
