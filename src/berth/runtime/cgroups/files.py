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
    """mkdir -p, returning the directories made, outermost first. Retried when a
    parent vanishes midway (another engine removing an empty shared parent)."""
    made: list[str] = []
    for attempt in range(5):
        current = "/"
        try:
            for p in [p for p in path.split("/") if p]:
                current = os.path.join(current, p)
                try:
                    os.mkdir(current, 0o755)
                    made.append(current)
                except FileExistsError:
                    pass
            return tuple(made)
        except FileNotFoundError:
            if attempt == 4:
                raise
    return ()


def remove_dirs(dirs: "tuple[str, ...] | list[str]", leaves: "tuple[str, ...] | list[str]" = ()) -> None:
    """rmdir innermost first. A leaf (the container's own cgroup) is retried briefly
    while its last tasks leave; a parent another cgroup still uses is left alone."""
    import time

    for d in sorted(set(dirs) | set(leaves), key=len, reverse=True):
        for _ in range(100 if d in leaves else 1):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != 16:  # EBUSY: tasks still leaving
                    break
                time.sleep(0.01)


def pids(directory: str) -> list[int]:
    try:
        with open(os.path.join(directory, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []
