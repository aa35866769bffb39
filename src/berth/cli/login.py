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


def _server(args: list[str]) -> str:
    from berth.registry.config import DOCKER_HUB

    if len(args) > 1:
        raise InvalidArgument('"login" requires at most 1 argument: [SERVER]')
    server = args[0] if args else DOCKER_HUB
    return server.removeprefix("https://").removeprefix("http://").rstrip("/")


def main(store, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    server = _server(args)
    user, password = opts["username"], opts["password"]
    if opts["password_stdin"]:
        if password:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not user:
            raise InvalidArgument("Must provide --username with --password-stdin")
        password = sys.stdin.readline().rstrip("\n")
    if not user or not password:
        raise InvalidArgument("login needs --username and --password (or --password-stdin): there is no prompt")
    from berth.registry.client import Client
    from berth.registry.config import api_host, save_credentials

    client = Client(api_host(server), tls_verify=opts["tls_verify"], auth=(user, password))
    response = client.request("GET", "/v2/", "")
    client.check(response, f"Get {client.scheme}://{client.host}/v2/")
    save_credentials(server, user, password)
    sys.stdout.write("Login Succeeded\n")
    return 0


def logout(store, argv: list[str]) -> int:
    _opts, args = parse(argv, [], interspersed=True)
    server = _server(args)
    from berth.registry.config import save_credentials

    save_credentials(server, None, None)
    sys.stdout.write(f"Removing login credentials for {server}\n")
    return 0
