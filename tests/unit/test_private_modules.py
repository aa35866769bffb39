"""The private CPython modules berth uses on its hot paths, held on every supported Python (CI
runs the unit tests under 3.11, 3.12 and 3.13): the day one goes or changes, this fails here,
not in a user's container start."""

import hashlib
import importlib
import sys
from pathlib import Path

import pytest

import berth

# module -> what berth uses of it
USED = {
    "_json": ("make_scanner", "make_encoder", "encode_basestring_ascii"),
    "_signal": ("signal", "set_wakeup_fd", "pthread_sigmask", "pidfd_send_signal", "NSIG", "SIG_DFL", "SIGWINCH"),
    "_socket": ("socket", "AF_UNIX", "SOCK_STREAM", "SOL_SOCKET", "SCM_RIGHTS"),
    "_ctypes": ("CFuncPtr", "Structure", "Array", "_SimpleCData", "dlopen", "byref", "sizeof", "addressof",
                "get_errno", "FUNCFLAG_CDECL", "FUNCFLAG_USE_ERRNO", "RTLD_LOCAL"),
    "_sqlite3": ("connect", "Connection", "Row", "OperationalError", "IntegrityError"),
    "_thread": ("_local", "allocate_lock"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(USED))
def test_private_module_has_what_berth_uses(name):
    module = importlib.import_module(name)
    missing = [attr for attr in USED[name] if not hasattr(module, attr)]
    assert not missing, f"{name} on Python {sys.version.split()[0]} lacks {missing}"


def test_every_private_import_is_listed():
    """A new `import _x` in berth must be added above (or to the sha256 case below)."""
    src = Path(berth.__file__).parent
    found = set()
    for path in src.rglob("*.py"):
        for line in path.read_text().splitlines():
            words = line.split()
            if (
                len(words) >= 2
                and words[0] in ("import", "from")
                and words[1].startswith("_")
                and not words[1].startswith("__")
            ):
                found.add(words[1].split(".")[0])
    assert found - set(USED) <= {"_sha256", "_sha2"}, sorted(found - set(USED))


def test_builtin_sha256_without_openssl():
    """oci.digest's sha256 is the interpreter's builtin one (_sha256 to 3.11, _sha2 from 3.12), never
    hashlib's: loading OpenSSL costs every container start ~3 ms."""
    from berth.oci import digest

    assert digest.sha256.__module__ in ("_sha256", "_sha2"), digest.sha256.__module__
    assert digest.sha256(b"berth").hexdigest() == hashlib.sha256(b"berth").hexdigest()
