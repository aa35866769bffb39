"""/networks: list, inspect, create, remove, prune, connect and disconnect, in Docker's shapes."""

from __future__ import annotations

from berth.api.http import ApiError, Request, Response, json_response, no_content


def list_(engine, req: Request) -> Response:
    from berth.engine import networks

    out = []
    for row in networks.summaries(engine, req.filters()):
        doc = networks.document(engine, row["Name"] if row["Driver"] != "bridge" else row["ID"])
        doc["Containers"] = {}  # as dockerd's list: inspect one to see them
        out.append(doc)
    return json_response(out)


def inspect(engine, req: Request, ref: str) -> Response:
    from berth.engine import networks

    return json_response(networks.document(engine, ref))


def create(engine, req: Request) -> Response:
    body = req.json()
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "network name is required (Name)")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise ApiError(404, f'plugin "{driver}" not found: berth has the bridge driver only')
    if body.get("EnableIPv6"):
        raise ApiError(400, "IPv6 networks are not supported: berth networks have one IPv4 subnet")
    configs = (body.get("IPAM") or {}).get("Config") or []
    if not isinstance(configs, list) or len(configs) > 1:
        raise ApiError(400, "berth networks have one IPv4 subnet: give IPAM.Config at most one entry")
    ipam = configs[0] if configs else {}
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise ApiError(
            400, "json: cannot unmarshal value into Go struct field CreateRequest.Labels of type map[string]string"
        )
    net = engine.networking.create(name, ipam.get("Subnet") or "", ipam.get("Gateway") or "",
                                   bool(body.get("Internal")), {str(k): str(v) for k, v in labels.items()})  # fmt: skip
    return json_response({"Id": net.id, "Warning": ""}, 201)


def remove(engine, req: Request, ref: str) -> Response:
    engine.networking.remove(ref)
    return no_content()


def prune(engine, req: Request) -> Response:
    from berth.engine import networks

    if req.filters():
        raise ApiError(400, "network prune takes no filters yet")
    return json_response({"NetworksDeleted": networks.prune(engine) or None})


def _container(req: Request) -> tuple[dict, str]:
    body = req.json()
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise ApiError(400, "a container is required (Container)")
    return body, container


def connect(engine, req: Request, ref: str) -> Response:
    body, container = _container(req)
    endpoint = body.get("EndpointConfig") or {}
    ip = (endpoint.get("IPAMConfig") or {}).get("IPv4Address") or ""
    engine.network_connect(container, ref, ip, tuple(endpoint.get("Aliases") or ()))
    return Response(200, content_type="")


def disconnect(engine, req: Request, ref: str) -> Response:
    _body, container = _container(req)
    engine.network_disconnect(container, ref)
    return Response(200, content_type="")
