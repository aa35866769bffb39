"""/etc/berth/cri.toml: the settings read, and each kind of mistake refused by name."""

from __future__ import annotations

import pytest

from berth.cri.config import CriConfig, load
from berth.errors import InvalidArgument


def test_the_settings_are_read(tmp_path):
    path = tmp_path / "cri.toml"
    path.write_text('listen = "unix:///tmp/x.sock"\nstream_address = "127.0.0.1:10010"\n[cni]\n'
                    'conf_dir = "/etc/x/net.d"\nbin_dirs = ["/opt/x"]\nplugin_timeout = 2.5\n')  # fmt: skip
    config = load(str(path))
    assert (config.listen, config.stream_address) == ("unix:///tmp/x.sock", ("127.0.0.1", 10010))
    assert (config.cni.conf_dir, config.cni.bin_dirs, config.cni.plugin_timeout) == ("/etc/x/net.d", ("/opt/x",), 2.5)
    path.write_text("")
    assert load(str(path)) == CriConfig()


@pytest.mark.parametrize("text, words", [
    ('[cni]\nconf_dirr = "/x"\n', "unknown setting 'cni.conf_dirr'"),
    ('lissen = "unix:///x"\n', "unknown setting 'lissen'"),
    ('stream_address = "127.0.0.1"\n', "stream_address: HOST:PORT"),
    ('stream_address = "127.0.0.1:99999"\n', "stream_address: HOST:PORT"),
    ('[cni]\nconf_dir = "net.d"\n', "cni.conf_dir: an absolute directory"),
    ('[cni]\nbin_dirs = "/opt/cni/bin"\n', "cni.bin_dirs: a list of absolute directories"),
    ('[cni]\nplugin_timeout = 0\n', "cni.plugin_timeout: a number of seconds above 0"),
    ('[cni]\nplugin_timeout = true\n', "cni.plugin_timeout: a number of seconds above 0"),
    ("cni = 3\n", "cni: a table"),
    ("listen = 3\n", "listen: a string"),
    ("[cni\n", "not TOML"),
])  # fmt: skip
def test_mistakes_are_refused_by_name(tmp_path, text, words):
    path = tmp_path / "cri.toml"
    path.write_text(text)
    with pytest.raises(InvalidArgument) as e:
        load(str(path))
    assert words in str(e.value) and str(path) in str(e.value)


def test_a_missing_file_is_an_error_only_when_named(tmp_path, monkeypatch):
    with pytest.raises(InvalidArgument, match="no such file"):
        load(str(tmp_path / "none.toml"))
    monkeypatch.setattr("berth.cri.config.DEFAULT_PATH", str(tmp_path / "none.toml"))
    assert load("") == CriConfig()


def test_registry_mirrors(tmp_path):
    path = tmp_path / "cri.toml"
    path.write_text('[registry.mirrors."registry.k8s.io"]\nendpoint = ["http://127.0.0.1:5000", "https://m.example"]\n')
    assert load(str(path)).mirrors == {"registry.k8s.io": ("http://127.0.0.1:5000", "https://m.example")}
    for text in ('[registry.mirrors."r.io"]\nendpoint = ["127.0.0.1:5000"]\n', '[registry.mirrors."r.io"]\nendpoints = []\n',
                 '[registry]\nconfigs = 1\n'):  # fmt: skip
        path.write_text(text)
        with pytest.raises(InvalidArgument, match="registry"):
            load(str(path))
