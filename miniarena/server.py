"""miniarena.server: the HTTP core shared by the five sites.

One process serves every site, each on its own loopback port (WebArena's layout: one origin per
site). State lives in SQLite, one in-memory database per (instance, site):

  * the *pristine* database of each site is generated once from the seed;
  * an *instance* is a named copy of all five pristine databases. A browser context selects its
    instance with the cookie ``miniarena_instance`` (cookies ignore the port, so one cookie covers
    all five sites). Parallel episodes use different instances and never see each other's writes;
  * ``reset(instance)`` copies the pristine databases over the instance with SQLite's backup API,
    which takes a few milliseconds (see ``bench/miniarena.py``).

Login is a signed cookie per site (``<site>_session``); it survives resets, so the env logs in once
(``env.py`` stores the cookies as Playwright storage state, like WebArena's ``auto_login.py``).

A site is a module exposing ``SITE = Site(...)``: its tables and data generator, its routes and its
page chrome. Handlers take a :class:`Request` and return a :class:`Response` (or a ``str`` of HTML);
bad input raises :class:`HttpError`, which becomes a 4xx page with the reason. Unexpected
exceptions become a 500 page and the server keeps serving.

Control endpoints (not for the agent, guarded by a per-process token):
  POST /__arena__/reset?instance=NAME   header X-Arena-Token
  GET  /__arena__/health
"""
from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import sqlite3
import sys
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

INSTANCE_COOKIE = "miniarena_instance"
INSTANCE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MAX_INSTANCES = 512
MAX_URL = 4096          # longer request lines get 414
MAX_BODY = 64 * 1024    # larger form posts get 413


# ----------------------------------------------------------------------------------------------
# small HTML helpers shared by the sites


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def url(path: str, **params) -> str:
    """Build a relative URL with a query string, dropping empty parameters."""
    q = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urllib.parse.urlencode(q) if q else "")


def stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def split_of(kind: str, name: str) -> str:
    """The split an entity value belongs to: 'test' for one in five (by a stable hash), else 'train'.

    Task instantiations draw their entity values (a product, a forum, a project, a place, a period,
    a customer...) from one split only, so test tasks ask about values never seen in train tasks.
    """
    return "test" if stable_hash(f"{kind}:{name}") % 5 == 0 else "train"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class HttpError(Exception):
    """Bad input or a missing thing: rendered as a 4xx page naming the reason."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status, self.reason = status, reason


class Redirect(Exception):
    def __init__(self, location: str, status: int = 303):
        super().__init__(location)
        self.location, self.status = location, status


@dataclass
class Response:
    body: str = ""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict = field(default_factory=dict)
    cookies: dict = field(default_factory=dict)  # name -> value ('' deletes)


@dataclass
class Request:
    method: str
    path: str                # path inside the site (site prefix removed), always starts with '/'
    query: dict              # name -> last value (str)
    form: dict               # name -> last value (str), POST bodies
    form_lists: dict         # name -> all values, for multi-selects
    cookies: dict
    site: "Site"
    db: sqlite3.Connection   # this instance's database of this site
    instance: str
    user: str | None         # logged-in user name of this site, or None
    headers: dict

    # -- argument parsing with clear 400s -------------------------------------------------------
    def arg(self, name: str, default: str = "", max_len: int = 200) -> str:
        value = self.query.get(name, self.form.get(name, default))
        if len(value) > max_len:
            raise HttpError(400, f"parameter '{name}' is longer than {max_len} characters")
        return value

    def int_arg(self, name: str, default: int | None = None, lo: int = 0, hi: int = 10**9) -> int:
        raw = self.query.get(name, self.form.get(name))
        if raw is None or raw == "":
            if default is None:
                raise HttpError(400, f"missing parameter '{name}'")
            return default
        try:
            value = int(raw)
        except ValueError:
            raise HttpError(400, f"parameter '{name}' must be an integer, got {raw[:40]!r}") from None
        if not lo <= value <= hi:
            raise HttpError(400, f"parameter '{name}' must be in [{lo}, {hi}], got {value}")
        return value

    def choice_arg(self, name: str, choices, default: str) -> str:
        value = self.arg(name, default)
        if value not in choices:
            raise HttpError(400, f"parameter '{name}' must be one of {sorted(choices)}, got {value[:40]!r}")
        return value

    def field(self, name: str, max_len: int = 2000, required: bool = True) -> str:
        value = self.form.get(name, "").strip()
        if required and not value:
            raise HttpError(400, f"form field '{name}' is required")
        if len(value) > max_len:
            raise HttpError(400, f"form field '{name}' is longer than {max_len} characters")
        return value

    def require_user(self) -> str:
        if not self.user:
            raise Redirect(self.site.prefix + url("/login", next=self.site.prefix + self.path))
        return self.user

    def one(self, sql: str, args=(), what: str = "item"):
        """Fetch exactly one row or answer 404 naming what was not found."""
        row = self.db.execute(sql, args).fetchone()
        if row is None:
            raise HttpError(404, f"no such {what}")
        return row


Handler = Callable[[Request], "Response | str"]


@dataclass
class Site:
    """What a site module declares. Routes are (method, regex over the in-site path, handler)."""

    name: str                          # WebArena site key: shopping, shopping_admin, reddit, gitlab, map
    env_var: str                       # SHOPPING, SHOPPING_ADMIN, REDDIT, GITLAB, MAP
    title: str
    build: Callable[[sqlite3.Connection, int], None]   # create tables + deterministic data from seed
    routes: list                       # [(method, pattern, handler)]
    chrome: Callable[[Request, str, str], str]         # (req, title, body) -> full page html
    users: dict = field(default_factory=dict)          # username -> password
    prefix: str = ""                   # '/admin' for shopping_admin, as in WebArena
    login_required: bool = False       # every page except /login needs a session
    login: bool = True                 # the site has accounts at all (the map has none)

    def __post_init__(self):
        self.compiled = [(m, re.compile("^" + p + "$"), h) for m, p, h in self.routes]

    @property
    def session_cookie(self) -> str:
        return f"{self.name}_session"


# ----------------------------------------------------------------------------------------------
# shared page furniture: one stylesheet and one script for all sites

CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.4 sans-serif;color:#222}
header{display:flex;gap:16px;align-items:center;padding:8px 16px;background:#f3f3f3;border-bottom:1px solid #ccc}
header .brand{font-weight:bold;font-size:18px}main{padding:12px 16px}
nav a,header a{margin-right:10px}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left}
.menu{position:relative;display:inline-block}.menu-items{display:none;position:absolute;background:#fff;border:1px solid #aaa;padding:4px;z-index:9}
.menu-items a{display:block;white-space:nowrap}.pager a,.pager span{margin-right:6px}
.flash{background:#e7f6e7;border:1px solid #9c9;padding:4px 8px;margin:6px 0}.error{background:#fbe9e9;border:1px solid #d99;padding:4px 8px}
form.inline{display:inline}input,select,textarea{margin:2px 4px 2px 0}.muted{color:#666}
"""

# Widgets rendered by JavaScript, so the env's waiting logic is exercised:
#  - [data-menu] buttons toggle the element named by the attribute (a dropdown menu);
#  - [data-async] elements are filled from the URL they name, shortly after load.
JS = """
document.addEventListener('click', function (e) {
  var b = e.target.closest('[data-menu]');
  if (!b) return;
  e.preventDefault();
  var m = document.getElementById(b.getAttribute('data-menu'));
  if (m) m.style.display = (m.style.display === 'block') ? 'none' : 'block';
});
window.addEventListener('load', function () {
  document.querySelectorAll('[data-async]').forEach(function (el) {
    setTimeout(function () {
      fetch(el.getAttribute('data-async'), {credentials: 'same-origin'})
        .then(function (r) { return r.text(); })
        .then(function (t) { el.innerHTML = t; });
    }, 50);
  });
});
"""


def document(title: str, header: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{CSS}</style><script>{JS}</script></head><body>{header}<main>{body}</main></body></html>"
    )


def pager(req: Request, total: int, per_page: int, param: str = "p") -> tuple[int, str]:
    """Clamp the page number from the query string; return (offset, pager html).

    Links keep every other query parameter, so filters and sorts survive paging.
    """
    pages = max(1, (total + per_page - 1) // per_page)
    page = req.int_arg(param, 1, 1, 10**6)
    if page > pages:
        raise HttpError(404, f"page {page} does not exist (there are {pages})")
    def link(p, text):
        q = dict(req.query, **{param: str(p)})
        return f"<a href='{esc(req.site.prefix + req.path + '?' + urllib.parse.urlencode(q))}'>{esc(text)}</a>"
    parts = []
    if page > 1:
        parts.append(link(page - 1, "Previous"))
    parts.append(f"<span>Page {page} of {pages}</span>")
    if page < pages:
        parts.append(link(page + 1, "Next"))
    return (page - 1) * per_page, f"<div class='pager'>{' '.join(parts)}</div>"


def table(headers, rows) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ----------------------------------------------------------------------------------------------
# the arena: pristine databases, instances, sessions, dispatch


class Arena:
    """All sites' state. Thread-safe: one lock per instance serialises its requests."""

    def __init__(self, sites: list[Site], seed: int = 0):
        self.sites = {s.name: s for s in sites}
        self.seed = seed
        self.secret = secrets.token_bytes(16)
        self.token = secrets.token_hex(16)
        self.pristine: dict[str, sqlite3.Connection] = {}
        for s in sites:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            s.build(db, seed)
            db.commit()
            self.pristine[s.name] = db
        self.instances: dict[str, dict[str, sqlite3.Connection]] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.used: dict[str, float] = {}
        self.guard = threading.Lock()

    # -- instances ------------------------------------------------------------------------------
    def reset(self, instance: str) -> None:
        """Restore an instance to the pristine state (creating it if new)."""
        if not INSTANCE_RE.match(instance):
            raise HttpError(400, f"bad instance name {instance[:50]!r}")
        with self.guard:
            if instance not in self.instances:
                if len(self.instances) >= MAX_INSTANCES:   # forget the least recently used one
                    old = min(self.used, key=self.used.get)
                    for db in self.instances.pop(old).values():
                        db.close()
                    self.locks.pop(old), self.used.pop(old)
                self.instances[instance] = {n: sqlite3.connect(":memory:", check_same_thread=False) for n in self.sites}
                self.locks[instance] = threading.Lock()
            self.used[instance] = time.monotonic()
            dbs, lock = self.instances[instance], self.locks[instance]
        with lock:
            for name, db in dbs.items():
                self.pristine[name].backup(db)

    def instance(self, name: str) -> tuple[dict, threading.Lock]:
        if name not in self.instances:
            self.reset(name)
        self.used[name] = time.monotonic()
        return self.instances[name], self.locks[name]

    # -- sessions: '<user>.<hmac>' so they survive resets ---------------------------------------
    def sign(self, site: str, user: str) -> str:
        mac = hmac.new(self.secret, f"{site}:{user}".encode(), "sha256").hexdigest()[:24]
        return f"{user}.{mac}"

    def session_user(self, site: Site, cookies: dict) -> str | None:
        value = cookies.get(site.session_cookie, "")
        user, _, mac = value.rpartition(".")
        if user and user in site.users and hmac.compare_digest(self.sign(site.name, user), value):
            return user
        return None

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, site: Site, method: str, raw_path: str, body: bytes, headers: dict) -> Response:
        parts = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(parts.path) or "/"
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        cookies = {k: m.value for k, m in SimpleCookie(headers.get("cookie", "")).items()} if headers.get("cookie") else {}

        if path.startswith("/__arena__/"):
            return self.control(method, path, query, headers)
        if site.prefix:
            if path == site.prefix or not path.startswith(site.prefix + "/"):
                return redirect(site.prefix + "/")
            path = path[len(site.prefix):]

        instance = cookies.get(INSTANCE_COOKIE, "default")
        ctype = headers.get("content-type", "")
        form_lists: dict = {}
        if method == "POST" and body:
            if "application/x-www-form-urlencoded" not in ctype and "text/plain" not in ctype:
                return error_page(site, 415, f"form posts must be url-encoded, got {ctype[:60]!r}")
            for k, v in urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                form_lists.setdefault(k, []).append(v)
        form = {k: v[-1] for k, v in form_lists.items()}
        try:
            dbs, lock = self.instance(instance)
        except HttpError as e:
            return error_page(site, e.status, e.reason)
        req = Request(method, path, query, form, form_lists, cookies, site, dbs[site.name], instance,
                      self.session_user(site, cookies) if site.login else None, headers)
        with lock:
            try:
                if site.login and path in ("/login", "/logout"):
                    out = self.login_page(req)
                else:
                    if site.login_required and not req.user:
                        raise Redirect(site.prefix + url("/login", next=site.prefix + path))
                    out = self.route(req)
                req.db.commit()
            except HttpError as e:
                req.db.rollback()
                out = error_page(site, e.status, e.reason, req)
            except Redirect as r:
                req.db.commit()
                out = redirect(r.location, r.status)
            except Exception:  # a bug, not bad input: log it, answer 500, keep serving
                req.db.rollback()
                traceback.print_exc()
                out = error_page(site, 500, "internal error (logged by the server)", req)
        return out if isinstance(out, Response) else Response(out)

    def route(self, req: Request):
        allowed = []
        for method, pattern, handler in req.site.compiled:
            m = pattern.match(req.path)
            if m:
                if method == req.method or (method == "GET" and req.method == "HEAD"):
                    return handler(req, *m.groups())
                allowed.append(method)
        if allowed:
            raise HttpError(405, f"{req.method} is not allowed on {req.path} (use {', '.join(allowed)})")
        raise HttpError(404, f"no page at {req.site.prefix}{req.path}")

    def login_page(self, req: Request):
        site = req.site
        nxt = req.arg("next", site.prefix + "/", max_len=500)
        if not nxt.startswith("/"):
            raise HttpError(400, "parameter 'next' must be a path on this site")
        if req.path == "/logout":
            return Response(status=303, headers={"Location": site.prefix + "/login"}, cookies={site.session_cookie: ""})
        message = ""
        if req.method == "POST":
            user, password = req.form.get("username", ""), req.form.get("password", "")
            if user in site.users and hmac.compare_digest(site.users[user], password):
                return Response(status=303, headers={"Location": nxt},
                                cookies={site.session_cookie: self.sign(site.name, user)})
            message = "<p class='error'>Invalid username or password.</p>"
        body = (f"<h1>Sign in</h1>{message}<form method='post' action='{esc(site.prefix)}/login'>"
                f"<input type='hidden' name='next' value='{esc(nxt)}'>"
                "<label>Username <input name='username' type='text' placeholder='Username'></label><br>"
                "<label>Password <input name='password' type='password' placeholder='Password'></label><br>"
                "<button type='submit'>Sign In</button></form>")
        return site.chrome(req, "Sign in", body)

    def control(self, method, path, query, headers) -> Response:
        if path == "/__arena__/health":
            return Response(json.dumps({"ok": True, "instances": len(self.instances)}), content_type="application/json")
        if path == "/__arena__/reset" and method == "POST":
            if not hmac.compare_digest(headers.get("x-arena-token", ""), self.token):
                return Response("bad or missing X-Arena-Token", 403, "text/plain")
            t = time.perf_counter()
            try:
                self.reset(query.get("instance", ""))
            except HttpError as e:
                return Response(e.reason, e.status, "text/plain")
            return Response(json.dumps({"ok": True, "ms": 1000 * (time.perf_counter() - t)}), content_type="application/json")
        return Response("unknown control endpoint", 404, "text/plain")


def redirect(location: str, status: int = 303) -> Response:
    return Response(status=status, headers={"Location": location})


def error_page(site: Site, status: int, reason: str, req: Request | None = None) -> Response:
    title = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
             413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type"}.get(status, "Error")
    body = f"<h1>{status} {title}</h1><p class='error'>{esc(reason)}</p><a href='{esc(site.prefix)}/'>Back to the home page</a>"
    page = site.chrome(req, title, body) if req is not None else document(title, "", body)
    return Response(page, status)


# ----------------------------------------------------------------------------------------------
# HTTP plumbing


def make_handler(arena: Arena, site: Site):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive: the browser reuses connections
        # headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm holds the
        # body until the client's delayed ACK, 40 ms on every response
        disable_nagle_algorithm = True

        def log_message(self, *args):  # quiet
            pass

        def _serve(self):
            if len(self.path) > MAX_URL:
                return self._send(error_page(site, 414, f"request URL longer than {MAX_URL} characters"))
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                self.close_connection = True
                return self._send(error_page(site, 413, f"request body larger than {MAX_BODY} bytes"))
            body = self.rfile.read(n) if n else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            self._send(arena.handle(site, self.command, self.path, body, headers))

        def _send(self, r: Response):
            data = r.body.encode("utf-8") if isinstance(r.body, str) else r.body
            self.send_response(r.status)
            self.send_header("Content-Type", r.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for k, v in r.headers.items():
                self.send_header(k, v)
            for k, v in r.cookies.items():
                extra = "; Max-Age=0" if v == "" else ""
                self.send_header("Set-Cookie", f"{k}={v}; Path=/; HttpOnly; SameSite=Lax{extra}")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = _serve

        def do_PUT(self):
            self._send(error_page(site, 405, f"{self.command} is not supported"))

        do_DELETE = do_PATCH = do_PUT

        def send_error(self, code, message=None, explain=None):  # malformed request lines etc.
            self.close_connection = True
            try:
                self._send(Response(f"{code} {message or ''}", code if code < 500 else 400, "text/plain"))
            except Exception:
                pass

    return H


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        """A browser that drops a connection (a closed context, an aborted load) is normal here: only
        other errors are printed."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)
