"""/volumes: list, inspect, create, remove and prune, in Docker's shapes (the local driver)."""

from __future__ import annotations

from berth.api.http import ApiError, Request, Response, json_response, no_content


def _doc(vol: dict) -> dict:
    return {k: v for k, v in vol.items() if k != "Anonymous"}


def list_(engine, req: Request) -> Response:
    from berth.engine.volumes import listed

    return json_response({"Volumes": [_doc(v) for v in listed(engine, req.filters())], "Warnings": []})


def inspect(engine, req: Request, ref: str) -> Response:
    return json_response(_doc(engine.volumes.get(ref)))


def create(engine, req: Request) -> Response:
    body = req.json()
    driver = body.get("Driver") or "local"
    if driver != "local":
        raise ApiError(404, f'plugin "{driver}" not found: berth has the local volume driver only')
    if body.get("DriverOpts"):
        raise ApiError(400, "driver options are not supported: berth's local volumes are plain directories")
    name, labels = body.get("Name") or "", body.get("Labels") or {}
    if not isinstance(name, str) or not isinstance(labels, dict):
        raise ApiError(400, "json: cannot unmarshal value into Go struct field VolumeCreateBody of type string")
    return json_response(_doc(engine.volumes.create(name, {str(k): str(v) for k, v in labels.items()})), 201)


def remove(engine, req: Request, ref: str) -> Response:
    engine.volumes.remove(ref, engine.volume_users(ref))
    return no_content()


def prune(engine, req: Request) -> Response:
    from berth.engine.volumes import prune as prune_volumes

    filters = req.filters()
    if set(filters) - {"all"}:
        raise ApiError(400, f"invalid filter '{sorted(set(filters) - {'all'})[0]}'")
    # named volumes too when asked, and for clients before API 1.42, when Docker's prune took them all
    everything = filters.get("all", ["false"])[-1] in ("true", "1") or req.older_than("1.42")
    gone, freed = prune_volumes(engine, everything)
    return json_response({"VolumesDeleted": gone or None, "SpaceReclaimed": freed})
