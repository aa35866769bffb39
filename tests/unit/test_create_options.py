"""create's options as records: Docker's flag forms parsed into them (with Docker's messages for
bad ones), and containers.db of version 1, which kept the flags' strings, read as records."""

import _sqlite3 as sqlite3
import json

import pytest

from berth.engine.engine import Engine
from berth.engine.options import DeviceMapping, Mount, PortBinding, RestartPolicy, Ulimit, upgrade_config
from berth.errors import InvalidArgument


def test_volume_forms():
    assert Mount.parse_volume("/data") == Mount(type="volume", target="/data")
    assert Mount.parse_volume("name:/data:ro") == Mount(type="volume", source="name", target="/data", read_only=True)
    assert Mount.parse_volume("/h:/c:rw,z") == Mount(type="bind", source="/h", target="/c")
    assert Mount.parse_volume("/h:/c:ro,rslave") == Mount(type="bind", source="/h", target="/c", read_only=True,
                                                          propagation="rslave")  # fmt: skip
    for bad, message in (("a:b", "invalid volume specification: 'a:b'"), ("/h:/c:rx", "invalid mode: rx"),
                         (":/c", "invalid volume specification: ':/c'"),
                         ("/h:/c:rslave,private", "invalid mode: rslave,private"),
                         ("name:/c:rslave", "for bind mounts only, not volume mounts"),
                         ("/h:/c:rshared", "a container's mounts never reach the host")):  # fmt: skip
        with pytest.raises(InvalidArgument, match=message):
            Mount.parse_volume(bad)


def test_mount_and_tmpfs_forms():
    assert Mount.parse_mount("type=bind,src=/h,dst=/c,ro") == Mount(type="bind", source="/h", target="/c",
                                                                   read_only=True)  # fmt: skip
    assert Mount.parse_mount("type=tmpfs,target=/t,tmpfs-size=1m") == Mount(type="tmpfs", target="/t",
                                                                           options=("size=1m",))  # fmt: skip
    assert Mount.parse_tmpfs("/t:size=2m,mode=1777") == Mount(
        type="tmpfs", target="/t", options=("size=2m", "mode=1777")
    )
    assert Mount.parse_mount("type=bind,src=/h,dst=/c,bind-propagation=slave").propagation == "slave"
    with pytest.raises(InvalidArgument, match="invalid bind propagation 'sideways'"):
        Mount.parse_mount("type=bind,src=/h,dst=/c,bind-propagation=sideways")
    with pytest.raises(InvalidArgument, match="unexpected key 'colour'"):
        Mount.parse_mount("type=bind,colour=red")
    with pytest.raises(InvalidArgument, match="mount type unknown: 'nfs'"):
        Mount.parse_mount("type=nfs,target=/x")
    with pytest.raises(InvalidArgument, match="the path must be absolute"):
        Mount.parse_tmpfs("t")


def test_ports_limits_devices_restart():
    assert PortBinding.parse("127.0.0.1:8080-8081:80-81/udp") == (
        PortBinding(port=80, proto="udp", host_ip="127.0.0.1", host_port="8080"),
        PortBinding(port=81, proto="udp", host_ip="127.0.0.1", host_port="8081"))  # fmt: skip
    assert Ulimit.parse("nofile=10:20") == Ulimit(name="nofile", soft=10, hard=20)
    assert Ulimit.parse("nproc=5") == Ulimit(name="nproc", soft=5, hard=5)
    assert DeviceMapping.parse("/dev/fuse") == DeviceMapping(path_on_host="/dev/fuse")
    assert RestartPolicy.parse("on-failure:3") == RestartPolicy(name="on-failure", maximum_retry_count=3)
    for parse, bad, message in ((Ulimit.parse, "nofile=20:10", "invalid ulimit argument"),
                                (Ulimit.parse, "nofile", "invalid ulimit argument: nofile"),
                                (DeviceMapping.parse, "/dev/fuse:/x:rwx", "bad format for path"),
                                (RestartPolicy.parse, "always:3", "invalid restart policy 'always:3'"),
                                (RestartPolicy.parse, "on-failure:x", "maximum retry count must be a positive"),
                                (PortBinding.parse, "80/sctpx", "invalid proto: sctpx")):  # fmt: skip
        with pytest.raises(InvalidArgument, match=message):
            parse(bad)


V1_CONFIG = {"image": "busybox", "publish": ["8080:80"], "volumes": ["/h:/c:ro", "vol:/data", "/anon"],
             "tmpfs": ["/t:size=1m"], "ulimits": ["nofile=10:20"], "devices": ["/dev/fuse::r"],
             "restart": "on-failure:2", "PortBindings": [{"HostIp": "", "HostPort": "8080", "Port": 80, "Proto": "tcp"}]}  # fmt: skip


def test_a_version_1_container_database_is_read_as_records(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    db = sqlite3.connect(str(root / "containers.db"))
    db.executescript("CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, image TEXT NOT NULL,"
                     " image_name TEXT NOT NULL, created TEXT NOT NULL, config TEXT NOT NULL); PRAGMA user_version = 1;")  # fmt: skip
    db.execute("INSERT INTO containers VALUES ('c1', 'old', 'sha256:x', 'busybox', '', ?)", (json.dumps(V1_CONFIG),))
    db.commit()
    db.close()
    engine = Engine(str(root))
    try:
        [(text,)] = engine.db.execute("SELECT config FROM containers").fetchall()
        version = engine.db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        engine.close()
    cfg = json.loads(text)
    assert version == 2
    assert cfg["publish"] == [{"port": 80, "proto": "tcp", "hostPort": "8080"}]
    assert cfg["mounts"] == [{"type": "bind", "target": "/c", "source": "/h", "readOnly": True},
                             {"type": "volume", "target": "/data", "source": "vol"},
                             {"type": "volume", "target": "/anon"},
                             {"type": "tmpfs", "target": "/t", "options": ["size=1m"]}]  # fmt: skip
    assert cfg["ulimits"] == [{"name": "nofile", "soft": 10, "hard": 20}]
    assert cfg["devices"] == [{"pathOnHost": "/dev/fuse", "permissions": "r"}]
    assert cfg["restart"] == {"name": "on-failure", "maximumRetryCount": 2}
    assert "volumes" not in cfg and "tmpfs" not in cfg and cfg["PortBindings"] == V1_CONFIG["PortBindings"]


def test_upgrade_leaves_a_version_2_config_alone():
    cfg = upgrade_config(V1_CONFIG)
    assert upgrade_config(cfg) == cfg
