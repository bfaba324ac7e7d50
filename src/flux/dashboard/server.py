"""The dashboard's HTTP side (aiohttp): the page, its JSON API, its event streams, actions.

Every request must carry the token printed with the URL: as ``?token=`` (the
first page load, which also sets it as a cookie), that cookie, or an
``X-Dashboard-Token`` header.  Anything else gets an empty 403.  The API is
read-only except the actions the instance owner enabled in the configuration
(``[dashboard] actions = ["cancel", "module-remove"]``); those need a POST with
an ``X-Dashboard-Action`` header, which a page of another origin cannot send
without a CORS preflight that is never granted.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import os
from pathlib import Path
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Awaitable, Callable, Optional


from aiohttp import web

from flux.core.handle import Flux

from . import instance
from .hub import Hub

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "flux_dashboard_token"
ACTIONS = ("cancel", "module-remove")  # what [dashboard] actions may enable
HEARTBEAT = 15.0  # seconds between keep-alive comments on an idle event stream

_HUB = web.AppKey("hub", Hub)
_HANDLE = web.AppKey("handle", Flux)
_TOKEN = web.AppKey("token", str)
_ACTIONS = web.AppKey("actions", list)

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never pass it on
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
}


def configured_actions(conf: Any) -> list[str]:
    """The actions ``[dashboard] actions`` enables; ValueError names a bad entry."""
    section = conf.get("dashboard", {}) if isinstance(conf, dict) else {}
    if not isinstance(section, dict):
        raise ValueError("[dashboard] must be a table")
    actions = section.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise ValueError("dashboard.actions must be an array of strings")
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise ValueError(f"dashboard.actions: unknown action {unknown[0]!r} "
                         f"(known: {', '.join(ACTIONS)})")
    return list(dict.fromkeys(actions))


# -- access --------------------------------------------------------------------------------------


def _presented_token(request: web.Request) -> str:
    return (request.query.get("token") or request.headers.get("X-Dashboard-Token")
            or request.cookies.get(COOKIE) or "")


@web.middleware
async def _guard(request: web.Request,
                 handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                 ) -> web.StreamResponse:
    """The token check in front of everything, and the headers every answer carries."""
    token = request.app[_TOKEN]
    if not hmac.compare_digest(_presented_token(request).encode(), token.encode()):
        return web.Response(status=403, headers=_HEADERS)
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        resp = exc
    except OSError as exc:
        resp = _error(exc.errno or errno.EIO, exc.strerror or str(exc))
    if not resp.prepared:  # an event stream has sent its headers already (_open_stream)
        for name, value in _HEADERS.items():
            resp.headers.setdefault(name, value)
        if request.query.get("token") == token and request.cookies.get(COOKIE) != token:
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    return resp


_STATUS = {errno.ENOENT: 404, errno.ENOTSUP: 404, errno.EINVAL: 400, errno.EPROTO: 400,
           errno.ENOTDIR: 400, errno.EISDIR: 400, errno.EPERM: 403, errno.EACCES: 403}


def _error(errnum: int, text: Optional[str] = None) -> web.Response:
    """An error as JSON, with the HTTP status its errno maps to (502: the instance failed)."""
    return web.json_response({"error": text or os.strerror(errnum), "errno": errnum},
                             status=_STATUS.get(errnum, 502))


def _fail(errnum: int, text: str) -> OSError:
    """A bad request, answered by the guard as any service's error is."""
    return OSError(errnum, text)


# -- the page -------------------------------------------------------------------------------------

_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                 ".svg": "image/svg+xml"}


async def _index(request: web.Request) -> web.StreamResponse:
    return _static_file("index.html")


async def _static(request: web.Request) -> web.StreamResponse:
    return _static_file(request.match_info["name"])


def _static_file(name: str) -> web.StreamResponse:
    path = STATIC / name
    kind = _STATIC_TYPES.get(path.suffix)
    if "/" in name or name.startswith(".") or kind is None or not path.is_file():
        raise web.HTTPNotFound()
    return web.Response(body=path.read_bytes(), content_type=kind,
                        charset="utf-8" if kind.startswith("text") else None)


# -- read-only API --------------------------------------------------------------------------------


async def _config(request: web.Request) -> web.StreamResponse:
    facts = await request.app[_HUB].overview.instance_facts()
    return web.json_response({"actions": request.app[_ACTIONS], "size": facts.get("size"),
                              "version": facts.get("version")})


async def _overview(request: web.Request) -> web.StreamResponse:
    return web.json_response(await request.app[_HUB].overview.get())


def _rank_of(request: web.Request, text: Optional[str]) -> int:
    try:
        rank = int(text if text is not None else "0")
    except ValueError:
        raise _fail(errno.EINVAL, "rank must be an integer") from None
    size = int(request.app[_HUB].overview.facts.get("size") or 1)
    if not 0 <= rank < size:
        raise _fail(errno.ENOENT, f"no rank {rank} in an instance of size {size}")
    return rank


async def _modules(request: web.Request) -> web.StreamResponse:
    rank = _rank_of(request, request.query.get("rank"))
    return web.json_response(await instance.modules(request.app[_HANDLE], rank))


async def _jobs(request: web.Request) -> web.StreamResponse:
    return web.json_response(await instance.jobs(request.app[_HANDLE]))


def _jobid(text: str) -> int:
    from flux.job.JobID import JobID

    try:
        return int(JobID(text))
    except (ValueError, TypeError, OSError):
        raise _fail(errno.EINVAL, f"invalid job id {text!r}") from None


async def _job(request: web.Request) -> web.StreamResponse:
    jobid = _jobid(request.match_info["id"])
    return web.json_response(await instance.job_detail(request.app[_HANDLE], jobid))


async def _history(request: web.Request) -> web.StreamResponse:
    return web.json_response(list(request.app[_HUB].history))


async def _dmesg(request: web.Request) -> web.StreamResponse:
    """The log kept so far; ``?level=N`` keeps severities up to N, ``?subsystem=S`` one."""
    records = list(request.app[_HUB].dmesg)
    level = request.query.get("level")
    if level is not None:
        from flux.severity import parse

        limit = parse(level)
        if limit < 0:
            raise _fail(errno.EINVAL, f"unknown level {level!r}")
        records = [r for r in records if r["severity"] <= limit]
    subsystem = request.query.get("subsystem")
    if subsystem:
        records = [r for r in records if r["subsystem"] == subsystem]
    return web.json_response(records)


async def _kvs(request: web.Request) -> web.StreamResponse:
    key = request.query.get("key", ".")
    namespace = request.query.get("namespace") or None
    return web.json_response(await instance.kvs_entry(request.app[_HANDLE], key, namespace))


# -- event streams --------------------------------------------------------------------------------


async def _open_stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **_HEADERS})
    if request.query.get("token") == request.app[_TOKEN]:
        resp.set_cookie(COOKIE, request.app[_TOKEN], httponly=True, samesite="Strict", path="/")
    await resp.prepare(request)
    await resp.write(b"retry: 2000\n\n")
    return resp


async def _send(resp: web.StreamResponse, event: str, data: Any) -> None:
    text = json.dumps(data, separators=(",", ":"))
    await resp.write(f"event: {event}\ndata: {text}\n\n".encode())


async def _events(request: web.Request) -> web.StreamResponse:
    """Every view at once, then each change, as server-sent events."""
    hub = request.app[_HUB]
    resp = await _open_stream(request)
    queue = hub.subscribe()
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except asyncio.TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            if item is None:
                break
            await _send(resp, *item)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
    return resp


async def _kvs_follow(request: web.Request) -> web.StreamResponse:
    """One key's value now and at each change (kvs-watch), as ``value`` events."""
    from flux.constants import FLUX_KVS_WAITCREATE, FLUX_KVS_WATCH
    from flux.kvs.lookups import lookup

    key = request.query.get("key", "")
    if not key.strip("."):
        raise _fail(errno.EINVAL, "key is required")
    h = request.app[_HANDLE]
    watch = lookup(h, key, FLUX_KVS_WATCH | FLUX_KVS_WAITCREATE,
                   request.query.get("namespace") or None)
    resp = await _open_stream(request)
    try:
        while True:
            try:
                await asyncio.wait_for(instance.awaited(watch), HEARTBEAT)
                data = watch.get_value()
            except asyncio.TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            except OSError as exc:
                if exc.errno != errno.ENODATA:
                    await _send(resp, "failure", {
                        "error": exc.strerror or os.strerror(exc.errno or errno.EIO),
                        "errno": exc.errno})
                break
            await _send(resp, "value", {"key": key, **instance.describe_value(data)})
            watch.reset()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        try:
            watch.cancel()
        except OSError:
            pass
    return resp


# -- actions --------------------------------------------------------------------------------------


def _allowed(request: web.Request, action: str) -> None:
    if action not in request.app[_ACTIONS]:
        raise _fail(errno.EPERM, f"the {action} action is not enabled "
                                 f"([dashboard] actions in the instance's configuration)")
    if request.headers.get("X-Dashboard-Action") != action:
        raise _fail(errno.EPERM, "missing X-Dashboard-Action header")


async def _cancel(request: web.Request) -> web.StreamResponse:
    from flux.job.kill import cancel_async

    _allowed(request, "cancel")
    jobid = _jobid(request.match_info["id"])
    await cancel_async(request.app[_HANDLE], jobid, "canceled from flux dashboard")
    return web.json_response({"id": jobid, "canceled": True})


async def _module_remove(request: web.Request) -> web.StreamResponse:
    _allowed(request, "module-remove")
    rank = _rank_of(request, request.match_info["rank"])
    name = request.match_info["name"]
    await instance.rpc(request.app[_HANDLE], "module.remove", {"name": name}, nodeid=rank,
                       timeout=30.0)
    return web.json_response({"rank": rank, "name": name, "removed": True})


# -- assembly -------------------------------------------------------------------------------------


def make_app(h: Flux, hub: Hub, token: str, actions: list[str]) -> web.Application:
    """The application: routes behind the token guard."""
    app = web.Application(middlewares=[_guard])
    app[_HANDLE] = h
    app[_HUB] = hub
    app[_TOKEN] = token
    app[_ACTIONS] = actions
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/config", _config)
    app.router.add_get("/api/overview", _overview)
    app.router.add_get("/api/modules", _modules)
    app.router.add_get("/api/jobs", _jobs)
    app.router.add_get("/api/jobs/{id}", _job)
    app.router.add_get("/api/history", _history)
    app.router.add_get("/api/dmesg", _dmesg)
    app.router.add_get("/api/kvs", _kvs)
    app.router.add_get("/api/kvs/follow", _kvs_follow)
    app.router.add_get("/api/events", _events)
    app.router.add_post("/api/jobs/{id}/cancel", _cancel)
    app.router.add_post("/api/modules/{rank}/{name}/remove", _module_remove)
    return app


async def serve(h: Flux, token: str, actions: list[str], bind: str, port: int,
                interval: float, on_ready: Callable[[str], None]) -> int:
    """Serve until SIGINT/SIGTERM or the instance goes away; the exit code."""
    import signal

    hub = Hub(h, interval)
    await hub.start()
    runner = web.AppRunner(make_app(h, hub, token, actions), access_log=None,
                           handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, bind, port)
    await site.start()
    port = runner.addresses[0][1] if runner.addresses else port
    host = f"[{bind}]" if ":" in bind else bind
    on_ready(f"http://{host}:{port}/?token={token}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(hub.lost_event.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
    await hub.stop()
    await runner.cleanup()
    return 1 if hub.lost is not None else 0
