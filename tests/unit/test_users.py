"""berth.users: /etc/passwd and /etc/group read inside a root, never through it to the host's."""

import os

from berth import users


def make_root(tmp_path, passwd: str | None = None, group: str | None = None):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    if passwd is not None:
        (root / "etc" / "passwd").write_text(passwd)
    if group is not None:
        (root / "etc" / "group").write_text(group)
    return root


def test_entries_and_lookups(tmp_path):
    root = make_root(tmp_path, "root:x:0:0::/root:/bin/sh\n\napp:x:1000:1001::/home/app:/bin/sh\n",
                     "root:x:0:\nstaff:x:50:app,other\nwheel:x:10:root\n")  # fmt: skip
    passwd = users.entries(str(root), "/etc/passwd")
    assert users.find(passwd, "app") == ["app", "x", "1000", "1001", "", "/home/app", "/bin/sh"]
    assert users.find(passwd, "1000", field=2)[0] == "app"
    assert users.find(passwd, "nobody") is None
    assert users.member_of(users.entries(str(root), "/etc/group"), "app") == [50]


def test_missing_file_or_root(tmp_path):
    root = make_root(tmp_path)
    assert users.entries(str(root), "/etc/passwd") is None
    assert users.entries(str(tmp_path / "nowhere"), "/etc/passwd") is None


def test_symlinks_resolve_inside_the_root(tmp_path):
    """An absolute symlink and a climb through .. both land inside the root."""
    outside = tmp_path / "secret"
    outside.write_text("host:x:0:0::/:/bin/sh\n")
    root = make_root(tmp_path)
    os.symlink(str(outside), root / "etc" / "passwd")
    os.symlink("../../../../secret", root / "etc" / "group")
    assert users.entries(str(root), "/etc/passwd") is None
    assert users.entries(str(root), "/etc/group") is None
    (root / "secret").write_text("inside:x:7:7::/:/bin/sh\n")
    assert users.entries(str(root), "/etc/group") == [["inside", "x", "7", "7", "", "/", "/bin/sh"]]
