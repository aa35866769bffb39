"""The façade's protocol (berth.engine.protocol) and what implements it: every call it declares
exists on Engine and Images with the same parameters, names and defaults; and the protocol
stays off the hot path."""

import inspect
import subprocess
import sys

import pytest

from berth.engine import protocol
from berth.engine.engine import Engine
from berth.engine.images import Images


def declared(proto) -> list[str]:
    return [n for n, v in vars(proto).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))]


def parameters(fn) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("proto, impl", [(protocol.ContainerEngine, Engine), (protocol.Images, Images)])
def test_every_declared_call_is_implemented_alike(proto, impl):
    names = declared(proto)
    assert len(names) > 10
    for name in names:
        want, have = getattr(proto, name), getattr(impl, name, None)
        assert have is not None, f"{impl.__name__} lacks {name}"
        if isinstance(want, property):
            assert isinstance(have, property), name
            continue
        assert parameters(have) == parameters(want), f"{impl.__name__}.{name}"


def test_nothing_on_the_run_path_imports_the_protocol():
    code = "import sys; import berth.cli.main, berth.cli.run, berth.engine.engine; print('berth.engine.protocol' in sys.modules, 'typing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
