"""Reading and writing cgroup control files with errors that name the file."""

import os

from berth.errors import InvalidArgument


def write(directory: str, name: str, value: object) -> None:
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidArgument(f"cgroup: {name} is not supported on this host ({path} missing)") from None
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise InvalidArgument(f"cgroup: writing {value!r} to {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


def make_dirs(path: str) -> tuple[str, ...]:
    """mkdir -p, returning the directories made, outermost first."""
    made = []
    parts = [p for p in path.split("/") if p]
    current = "/"
    for p in parts:
        current = os.path.join(current, p)
        try:
            os.mkdir(current, 0o755)
            made.append(current)
        except FileExistsError:
            pass
    return tuple(made)


def remove_dirs(dirs: "tuple[str, ...] | list[str]") -> None:
    """rmdir innermost first; a busy cgroup is retried briefly, as its tasks exit."""
    import time

    for d in sorted(dirs, key=len, reverse=True):
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != 16:  # EBUSY: processes still leaving
                    break
                time.sleep(0.01)


def pids(directory: str) -> list[int]:
    try:
        with open(os.path.join(directory, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []
