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


def write_each(directory: str, entries: "list[tuple[str, str]]") -> None:
    """Write each (file name, value) in order, as separate writes, opening each file once
    (device rules: one rule per write, a dozen or more per container)."""
    fds: dict[str, int] = {}
    try:
        for name, value in entries:
            fd = fds.get(name)
            if fd is None:
                path = os.path.join(directory, name)
                try:
                    fd = fds[name] = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    raise InvalidArgument(f"cgroup: {name} is not supported on this host ({path} missing)") from None
            try:
                os.write(fd, value.encode())
            except OSError as e:
                raise InvalidArgument(f"cgroup: writing {value!r} to {directory}/{name}: {e.strerror}") from None
    finally:
        for fd in fds.values():
            os.close(fd)


def read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read().strip()


def read_or(directory: str | None, name: str, default: str = "") -> str:
    """A control file's content, or `default` where the controller or the file is missing
    (statistics: a host without blkio still reports the rest)."""
    if directory is None:
        return default
    try:
        return read(directory, name)
    except OSError:
        return default


def number(text: str) -> int:
    """A counter or a limit ("max" is none: 0)."""
    word = text.split()[0] if text.split() else ""
    return int(word) if word.isdigit() else 0


def keyed(text: str) -> dict[str, int]:
    """memory.stat, cpu.stat: `key value` lines."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def make_dirs(path: str) -> tuple[str, ...]:
    """mkdir -p, returning the directories made, outermost first.

    Tries the leaf first (its parent mostly exists: one mkdir), then walks up to
    what exists and makes its way down. A parent that vanishes midway (another
    engine removing an empty shared parent) is made again."""
    made: list[str] = []
    todo = [path]
    for _ in range(64):
        if not todo:
            return tuple(made)
        d = todo[-1]
        try:
            os.mkdir(d, 0o755)
            made.append(d)
        except FileExistsError:
            pass
        except FileNotFoundError:
            todo.append(os.path.dirname(d))
            continue
        todo.pop()
    raise OSError(f"cgroup: could not make {path}: its parents keep vanishing")


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
