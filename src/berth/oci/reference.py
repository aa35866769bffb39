"""Image references parsed and normalised as Docker does.

    busybox                 -> docker.io/library/busybox:latest
    localhost:5000/a/b:v1   -> localhost:5000/a/b:v1
    name@sha256:...         -> by digest (a tag may stand beside it)

Hand-written rather than with `re`, which costs start-up time on `berth run`.
"""

from __future__ import annotations

from berth.oci import digest as _digest
from berth.oci.record import record

DEFAULT_DOMAIN = "docker.io"
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


class ReferenceError(ValueError):
    pass


@record
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def familiar_name(self) -> str:
        """What `docker images` shows in REPOSITORY: busybox, not docker.io/library/busybox."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path.removeprefix("library/")
        return self.repository()

    def __str__(self) -> str:
        out = self.repository()
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out


def _valid_component(comp: str) -> bool:
    """Lowercase alphanumerics, separated by '.', '_', '__' or any run of '-'."""
    if not comp or comp[0] not in _LOWER_ALNUM or comp[-1] not in _LOWER_ALNUM:
        return False
    i = 0
    while i < len(comp):
        c = comp[i]
        if c in _LOWER_ALNUM:
            i += 1
            continue
        j = i
        while j < len(comp) and comp[j] not in _LOWER_ALNUM:
            j += 1
        sep = comp[i:j]
        if sep not in (".", "_", "__") and set(sep) != {"-"}:
            return False
        i = j
    return True


def _valid_domain(domain: str) -> bool:
    host, _, port = domain.partition(":")
    if port and not port.isdigit():
        return False
    if host.startswith("[") and host.endswith("]"):
        return True  # an IPv6 literal
    return bool(host) and set(host) <= _DOMAIN_CHARS and all(part and part[0] != "-" and part[-1] != "-"
                                                             for part in host.split("."))  # fmt: skip


def parse(text: str, default_tag: str = "latest") -> Reference:
    """Parse and normalise; a reference with neither tag nor digest gets `default_tag`."""
    if not text or len(text) > 255 + 71 + 129:
        raise ReferenceError(f"invalid reference format: {text!r}")
    name, at, digest = text.partition("@")
    if at:
        try:
            _digest.validate(digest)
        except _digest.DigestError as e:
            raise ReferenceError(f"invalid reference format: {e}") from None
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not tag or len(tag) > 128 or not set(tag) <= _TAG_CHARS or tag[0] in ".-":
            raise ReferenceError(f"invalid reference format: bad tag {tag!r} in {text!r}")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain, path = first, rest
        if not _valid_domain(domain):
            raise ReferenceError(f"invalid reference format: bad registry {domain!r} in {text!r}")
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain in ("index.docker.io", "registry-1.docker.io"):
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = "library/" + path
    if not path or not all(_valid_component(c) for c in path.split("/")):
        if path != path.lower():
            raise ReferenceError(f"invalid reference format: repository name ({path}) must be lowercase")
        raise ReferenceError(f"invalid reference format: {text!r}")
    if len(domain) + 1 + len(path) > 255:
        raise ReferenceError(
            f"invalid reference format: repository name must not be more than 255 characters: {text!r}"
        )
    if not tag and not at:
        tag = default_tag
    return Reference(domain=domain, path=path, tag=tag, digest=digest if at else "")
