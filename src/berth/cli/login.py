"""`berth login [-u USER] [-p PASSWORD | --password-stdin] [SERVER]` and `berth logout [SERVER]`:
credentials kept as Docker keeps them ($DOCKER_CONFIG/config.json, mode 0600)."""

from __future__ import annotations

import sys

from berth.argv import BOOL, STR, Option, parse
from berth.errors import InvalidArgument

OPTIONS = [
    Option("username,u", STR, "", help="username"),
    Option("password,p", STR, "", help="password"),
    Option("password-stdin", BOOL, help="take the password from stdin"),
    Option("tls-verify", BOOL, True, help="require HTTPS and verify certificates"),
]


def _server(engine, args: list[str]) -> str:
    if len(args) > 1:
        raise InvalidArgument('"login" requires at most 1 argument: [SERVER]')
    server = args[0] if args else engine.images.default_registry()
    return server.removeprefix("https://").removeprefix("http://").rstrip("/")


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    server = _server(engine, args)
    user, password = opts["username"], opts["password"]
    if opts["password_stdin"]:
        if password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not user:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.readline().rstrip("\n")
    if not user or not password:
        raise InvalidArgument("login needs --username and --password (or --password-stdin): there is no prompt")
    engine.images.login(server, user, password, opts["tls_verify"])
    sys.stdout.write("Login Succeeded\n")
    return 0


def logout(engine, argv: list[str]) -> int:
    _opts, args = parse(argv, [], interspersed=True)
    server = _server(engine, args)
    engine.images.logout(server)
    sys.stdout.write(f"Removing login credentials for {server}\n")
    return 0
