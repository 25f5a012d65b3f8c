"""The web app behind ``thinkgraph serve``: an HTTP API, live traces over Server-Sent Events, and a chat page.

=======================================  ====================================================================
route                                    what it does
=======================================  ====================================================================
``GET /``, ``GET /runs/{id}``            the chat page (a run's page is live while it runs, complete after)
``GET /api/workflows``                   workflows a client can run, with input schema and graph
``GET /api/models``                      model specs this server offers (the first is the default)
``POST /api/runs``                       ``{"workflow", "input", "model"?, "conversation"?}`` → ``{"run_id"}``
``GET /api/runs``                        the history, newest first (``?limit=N``; ``?conversation=ID``: one)
``GET /api/runs/{id}``                   the run: input, status, answer, usage, full trace
``GET /api/runs/{id}/events``            Server-Sent Events: one trace event per message, then ``event: end``
``POST /api/runs/{id}/resume``           ``{"resume": {"approve": true}}`` answers a run waiting for a person
``POST /api/runs/{id}/cancel``           stops a run in flight (stored as failed, with its trace so far)
``POST /api/traces``                     a saved trace (JSON Lines) stored as a run to replay → ``{"run_id"}``
``GET /api/conversations``               conversations, most recent first
=======================================  ====================================================================

Safety: the server binds 127.0.0.1 unless told otherwise, and binding any other address needs a token.
With a token every request must carry ``Authorization: Bearer TOKEN`` (a browser gets a cookie by opening
``/?token=TOKEN`` once), else 401.  A request whose ``Host`` is not the bound address is refused (DNS
rebinding), and so is a state-changing request from another origin.  Pages are served with a strict
Content-Security-Policy (no inline script), and the page renders model output as text only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from thinkgraph.ui.runs import BadRequest, RunManager

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 20 * 1024 * 1024
COOKIE = "thinkgraph_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ServeError(ValueError):
    """The server cannot start as asked (a non-loopback bind without a token, …)."""


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int, extra: tuple[str, ...] = ()) -> set[str]:
    """The ``Host`` header values the server answers: the bound address (for a loopback bind also
    ``localhost``, ``127.0.0.1``, ``[::1]``), and names given with ``--allow-host``; for a wildcard bind
    (0.0.0.0, ::) this machine's host names.  Any IP literal is answered on a wildcard bind too (see
    :meth:`Guard.host_ok`): DNS rebinding needs a name."""
    names = {host.lower()}
    if is_loopback_host(host) or host in ("0.0.0.0", "::", ""):
        names |= {"localhost", "127.0.0.1", "[::1]"}
    if host in ("0.0.0.0", "::", ""):
        import socket

        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    names |= {h.lower() for h in extra}
    out = set()
    for name in names - {"", "0.0.0.0", "::"}:
        name = f"[{name}]" if ":" in name and not name.startswith("[") else name
        out |= {name, f"{name}:{port}"}
    return out


def _ip_literal(host: str) -> bool:
    name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware: Host check, bearer token, same-origin writes, security headers (see module docstring)."""

    def __init__(
        self, app: ASGIApp, *, hosts: set[str], token: str | None, port: int = 0, wildcard: bool = False
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.wildcard = wildcard
        self.token = token
        # a browser gets a random session id, never the token itself; the name carries the port, since
        # cookies are shared by every port of a host
        self.session = secrets.token_urlsafe(32)
        self.cookie = f"{COOKIE}_{port}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # the app has none: refuse rather than pass unguarded
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "").lower()
        if not self.host_ok(host):
            await _plain(send, 421, "misdirected request: this server does not answer for host " + repr(host))
            return
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            from_query = (query.get("token") or [None])[0]
            if from_query is not None and scope["method"] == "GET" and _same(from_query, self.token):
                # swap the token in the address bar for a session cookie, and drop it from the URL
                rest = [(k, v) for k, vs in query.items() if k != "token" for v in vs]
                target = scope.get("path", "/") + (("?" + urlencode(rest)) if rest else "")
                cookie = f"{self.cookie}={self.session}; HttpOnly; SameSite=Strict; Path=/"
                await _plain(send, 303, "see other", {"location": target, "set-cookie": cookie})
                return
            bearer = _bearer(headers.get("authorization", ""))
            session = _cookie(headers.get("cookie", ""), self.cookie)
            if not ((bearer is not None and _same(bearer, self.token)) or (session and _same(session, self.session))):
                await _plain(
                    send, 401, "unauthorized: send Authorization: Bearer TOKEN", {"www-authenticate": "Bearer"}
                )
                return
        if scope["method"] in _UNSAFE_METHODS and not self._same_origin(headers, host):
            await _plain(send, 403, "forbidden: a state-changing request from another origin")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def host_ok(self, host: str) -> bool:
        """Whether to answer a request for ``host`` (DNS rebinding: a page on an attacker's name that
        resolves to this machine sends that name, which is not one of ours)."""
        return host in self.hosts or (self.wildcard and _ip_literal(host))

    @staticmethod
    def _same_origin(headers: dict[str, str], host: str) -> bool:
        if headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            return False
        origin = headers.get("origin")
        if origin is None:
            referer = headers.get("referer")
            if referer:  # an old browser that sends no Origin still names the page it came from
                return urlsplit(referer).netloc.lower() == host
            return True  # not a browser's cross-origin request (curl, a Python client)
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host


def _bearer(value: str) -> str | None:
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _cookie(value: str, name: str) -> str | None:
    for part in value.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


async def _plain(send: Send, status: int, text: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": text}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode("latin-1", "replace")) for k, v in (headers or {}).items()]
    raw += _SECURITY_HEADERS
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _static_dir() -> Path:
    return Path(str(resources.files("thinkgraph.ui") / "static"))


class _Api:
    """The route handlers over one :class:`RunManager` (made at start-up, closed at shutdown)."""

    def __init__(self, manager_factory: Callable[[], RunManager]) -> None:
        self.factory = manager_factory
        self._manager: RunManager | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        self._manager = self.factory()
        try:
            yield
        finally:
            await self._manager.aclose()
            self._manager.store.close()

    @property
    def manager(self) -> RunManager:
        assert self._manager is not None, "the app's lifespan has not started"
        return self._manager

    @staticmethod
    def _json(data: Any, status: int = 200) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse(data, status_code=status)

    def _fail(self, exc: BadRequest) -> Any:
        return self._json({"error": str(exc)}, exc.status)

    async def page(self, _request: Any) -> Any:
        from starlette.responses import FileResponse

        return FileResponse(_static_dir() / "index.html", headers={"cache-control": "no-cache"})

    async def health(self, _request: Any) -> Any:
        return self._json({"ok": True})

    async def workflows(self, _request: Any) -> Any:
        return self._json(await asyncio.to_thread(self.manager.workflows))

    async def models(self, _request: Any) -> Any:
        return self._json({"default": self.manager.default_model, "models": self.manager.models})

    async def list_runs(self, request: Any) -> Any:
        conv = request.query_params.get("conversation")
        try:
            limit = min(max(int(request.query_params.get("limit", "200")), 1), 1000)
        except ValueError:
            return self._json({"error": "limit must be an integer"}, 400)
        return self._json([r.to_dict() for r in self.manager.store.runs(limit=limit, conversation=conv)])

    async def conversations(self, _request: Any) -> Any:
        return self._json(self.manager.store.conversations())

    async def create_run(self, request: Any) -> Any:
        try:
            body = await _read_body(request)
            try:
                data = json.loads(body or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadRequest(f"the body is not JSON: {exc}") from exc
            if not isinstance(data, dict):
                raise BadRequest('the body must be a JSON object: {"workflow": ..., "input": {...}}')
            unknown = set(data) - {"workflow", "input", "model", "conversation"}
            if unknown:
                raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))}")
            record = await self.manager.start(
                data.get("workflow"),  # type: ignore[arg-type]
                data.get("input"),
                model=data.get("model"),
                conversation=data.get("conversation"),
            )
        except BadRequest as exc:
            return self._fail(exc)
        return self._json({"run_id": record.id, "conversation": record.conversation}, 201)

    async def resume_run(self, request: Any) -> Any:
        try:
            body = await _read_body(request)
            try:
                data = json.loads(body or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise BadRequest(f"the body is not JSON: {exc}") from exc
            if not isinstance(data, dict) or "resume" not in data:
                raise BadRequest('the body must be {"resume": REPLY}, e.g. {"resume": {"approve": true}}')
            record = await self.manager.resume(request.path_params["run_id"], data["resume"])
        except BadRequest as exc:
            return self._fail(exc)
        return self._json({"run_id": record.id, "status": record.status})

    async def cancel_run(self, request: Any) -> Any:
        try:
            record = await self.manager.cancel(request.path_params["run_id"])
        except BadRequest as exc:
            return self._fail(exc)
        return self._json({"run_id": record.id, "status": record.status})

    async def get_run(self, request: Any) -> Any:
        run = await asyncio.to_thread(self.manager.run, request.path_params["run_id"])
        return self._json(run) if run is not None else self._json({"error": "no such run"}, 404)

    async def run_events(self, request: Any) -> Any:
        from starlette.responses import StreamingResponse

        run_id = request.path_params["run_id"]
        if self.manager.store.run(run_id) is None:
            return self._json({"error": "no such run"}, 404)
        after = request.headers.get("last-event-id") or request.query_params.get("after") or "-1"
        try:
            start = int(after)
        except ValueError:
            return self._json({"error": "Last-Event-ID / after must be an integer"}, 400)
        manager = self.manager

        async def stream() -> AsyncIterator[bytes]:
            yield b"retry: 1000\n\n"
            async for batch in manager.event_batches(run_id, start, heartbeat=15.0):
                if not batch:
                    yield b": keep-alive\n\n"
                    continue
                yield "".join(f"id: {seq}\ndata: {text}\n\n" for seq, text in batch).encode()
            record = manager.store.run(run_id)
            end = json.dumps(record.to_dict() if record else {})
            yield f"event: end\ndata: {end}\n\n".encode()

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
        )

    async def import_trace(self, request: Any) -> Any:
        try:
            body = await _read_body(request)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadRequest("the trace is not UTF-8 text") from exc
            record = await asyncio.to_thread(self.manager.import_trace, text, request.query_params.get("conversation"))
        except BadRequest as exc:
            return self._fail(exc)
        return self._json({"run_id": record.id, "conversation": record.conversation}, 201)


def create_app(
    manager_factory: Callable[[], RunManager],
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    extra_hosts: tuple[str, ...] = (),
) -> ASGIApp:
    """The ASGI app: routes over a :class:`RunManager` made at start-up, wrapped in :class:`Guard`."""
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    api = _Api(manager_factory)
    routes = [
        Route("/", api.page),
        Route("/runs/{run_id}", api.page),
        Route("/api/health", api.health),
        Route("/api/workflows", api.workflows),
        Route("/api/models", api.models),
        Route("/api/conversations", api.conversations),
        Route("/api/runs", api.list_runs, methods=["GET"]),
        Route("/api/runs", api.create_run, methods=["POST"]),
        Route("/api/runs/{run_id}", api.get_run),
        Route("/api/runs/{run_id}/events", api.run_events),
        Route("/api/runs/{run_id}/resume", api.resume_run, methods=["POST"]),
        Route("/api/runs/{run_id}/cancel", api.cancel_run, methods=["POST"]),
        Route("/api/traces", api.import_trace, methods=["POST"]),
        Mount("/static", StaticFiles(directory=_static_dir()), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=api.lifespan)
    wildcard = host in ("0.0.0.0", "::", "")
    guard = Guard(app, hosts=allowed_hosts(host, port, extra_hosts), token=token, port=port, wildcard=wildcard)
    guard.api = api  # type: ignore[attr-defined]  # serve() ends live streams through it at shutdown
    return guard


async def _read_body(request: Any) -> bytes:
    size = int(request.headers.get("content-length") or 0)
    if size > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes", status=413)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            raise BadRequest(f"the body is larger than {MAX_BODY} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token."""
    if not is_loopback_host(host) and not token:
        raise ServeError(
            f"refusing to bind {host} without a token: anyone who can reach it could run models and read your "
            "history; pass --token T (or set THINKGRAPH_TOKEN), or bind 127.0.0.1"
        )


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    models: tuple[str, ...] = ("local",),
    store_path: str | Path | None = None,
    workflow_dirs: tuple[str | Path, ...] = (),
    extra_hosts: tuple[str, ...] = (),
    ready: Callable[[str], None] | None = None,
    budget: Any = None,
    max_concurrent: int = 2,
) -> None:
    """Run the web app until interrupted (what ``thinkgraph serve`` does)."""
    import uvicorn

    from thinkgraph.ui.store import UIStore, data_dir

    check_bind(host, token)
    path = Path(store_path) if store_path else data_dir() / "ui.sqlite"

    def factory() -> RunManager:
        return RunManager(
            UIStore(path), models=models, workflow_dirs=workflow_dirs, budget=budget, max_concurrent=max_concurrent
        )

    app = create_app(factory, host=host, port=port, token=token, extra_hosts=extra_hosts)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    shown = f"[{host}]" if ":" in host else host

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if ready is not None and not self.should_exit:
                ready(f"http://{shown}:{port}/")

        async def shutdown(self, sockets: Any = None) -> None:
            # end the runs first: their live event streams are open connections uvicorn would wait for
            api = getattr(app, "api", None)
            if api is not None and api._manager is not None:
                await api._manager.aclose()
            await super().shutdown(sockets=sockets)

    _Server(config).run()
