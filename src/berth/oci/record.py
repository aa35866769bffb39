"""`@record`: frozen, typed data classes that cost nothing to import.

`dataclasses` imports `inspect` and `re` (~14 ms here), which the runtime's
start-up path cannot afford. A record declares its fields as annotations
(never evaluated), is built with keyword arguments, compares by value, and
converts to and from JSON with camelCase names. Nested types are read from the
annotation strings: `str`, `int`, `bool`, `X | None`, `tuple[X, ...]`,
`dict[str, str]` and other records by name.
"""

# (module, class name) -> record: annotations name records of their own module
_REGISTRY: dict[tuple[str, str], type] = {}
_SCALARS = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}


class SpecError(ValueError):
    """A JSON document does not have the shape a record requires."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _init(self, **kwargs):
    cls = type(self)
    for f in cls._fields:
        if f in kwargs:
            value = kwargs.pop(f)
        elif f in cls._defaults:
            value = cls._defaults[f]
        else:
            raise TypeError(f"{cls.__name__}: missing field {f!r}")
        object.__setattr__(self, f, value)
    if kwargs:
        raise TypeError(f"{cls.__name__}: unknown fields {sorted(kwargs)}")


def _setattr(self, key, value):
    raise AttributeError(f"{type(self).__name__} is frozen")


def _eq(self, other):
    if other.__class__ is not self.__class__:
        return NotImplemented
    return all(getattr(self, f) == getattr(other, f) for f in self._fields)


def _repr(self):
    return f"{type(self).__name__}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields) + ")"


def _replace(self, **changes):
    values = {f: getattr(self, f) for f in self._fields}
    values.update(changes)
    return type(self)(**values)


def record(cls: type) -> type:
    """Make `cls` a frozen record of its annotated fields (methods shared by all records)."""
    annotations = cls.__dict__.get("__annotations__", {})
    fields = tuple(annotations)
    names = cls.__dict__.get("_json_names", {})
    cls._fields = fields
    cls._defaults = {f: cls.__dict__[f] for f in fields if f in cls.__dict__}
    cls._json_names = {f: names.get(f) or _camel(f) for f in fields}
    cls._types = annotations
    cls.__init__ = _init
    cls.__setattr__ = _setattr
    cls.__eq__ = _eq
    cls.__repr__ = _repr
    cls.__hash__ = None
    cls.replace = _replace
    _REGISTRY[(cls.__module__, cls.__name__)] = cls
    return cls


def _convert(kind: str, value: object, where: str, module: str) -> object:
    kind = kind.strip()
    if kind.endswith("| None"):
        return None if value is None else _convert(kind[: -len("| None")], value, where, module)
    if kind.startswith("tuple["):
        if not isinstance(value, list):
            raise SpecError(f"{where}: expected a list, got {type(value).__name__}")
        inner = kind[len("tuple[") : -len(", ...]")]
        return tuple(_convert(inner, v, f"{where}[{i}]", module) for i, v in enumerate(value))
    if kind.startswith("dict["):
        if not isinstance(value, dict):
            raise SpecError(f"{where}: expected an object, got {type(value).__name__}")
        inner = kind[len("dict[str, ") : -1]
        return {k: _convert(inner, v, f"{where}.{k}", module) for k, v in value.items()}
    scalar = _SCALARS.get(kind)
    if scalar is not None:
        if scalar is object:
            return value
        if isinstance(value, bool) and scalar is not bool:
            raise SpecError(f"{where}: expected {kind}, got bool")
        if not isinstance(value, scalar):
            raise SpecError(f"{where}: expected {kind}, got {type(value).__name__}")
        return value
    return from_json(_REGISTRY[(module, kind)], value, where)


def from_json(cls: type, data: object, where: str = "$") -> object:
    """Build a record from parsed JSON; raise SpecError naming the bad field."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected an object, got {type(data).__name__}")
    values = {}
    for f in cls._fields:
        key = cls._json_names[f]
        if key in data and data[key] is not None:
            values[f] = _convert(cls._types[f], data[key], f"{where}.{key}", cls.__module__)
        elif f not in cls._defaults:
            raise SpecError(f"{where}.{key}: required")
    return cls(**values)


def to_json(obj: object) -> object:
    """A record as JSON-ready data; unset, empty and optional-false fields are omitted."""
    if isinstance(obj, tuple):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    fields = getattr(obj, "_fields", None)
    if fields is None:
        return obj
    out = {}
    for f in fields:
        value = getattr(obj, f)
        if value is None or value == "" or value == () or value == {}:
            continue
        if value is False and obj._defaults.get(f) is False:
            continue  # an optional flag left off; a required false (DeviceRule.allow) stays
        out[obj._json_names[f]] = to_json(value)
    return out
