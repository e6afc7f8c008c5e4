"""miniarena: five small web sites modelled on WebArena's, served on loopback, reset in milliseconds.

    shopping        (OneStopShop)      SHOPPING=http://127.0.0.1:PORT
    shopping_admin  (the CMS)          SHOPPING_ADMIN=http://127.0.0.1:PORT/admin
    reddit          (Postmill forum)   REDDIT=http://127.0.0.1:PORT
    gitlab          (GitLab)           GITLAB=http://127.0.0.1:PORT
    map             (OpenStreetMap)    MAP=http://127.0.0.1:PORT

Run it:     python -m miniarena serve            (prints the lines above, serves until Ctrl-C)
Tasks:      python -m miniarena tasks --split test --out test.json
In Python:  with MiniArena(seed=0) as arena: arena.urls, arena.reset("ep3"), arena.env_lines()

Each browser context picks its own copy of the sites' state with the cookie ``miniarena_instance``
(see ``server.py``); ``reset(name)`` restores that copy to the seed's pristine data.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.request

from .server import INSTANCE_COOKIE, Arena, Server, make_handler

SITE_NAMES = ("shopping", "shopping_admin", "reddit", "gitlab", "map")
# The ports the real WebArena uses; `serve --webarena-ports` binds them when they are free.
WEBARENA_PORTS = {"shopping": 7770, "shopping_admin": 7780, "reddit": 9999, "gitlab": 8023, "map": 3000}


def load_sites():
    """The Site objects of all five sites, in SITE_NAMES order."""
    from . import gitlab, map, reddit, shopping, shopping_admin
    mods = {"shopping": shopping, "shopping_admin": shopping_admin, "reddit": reddit, "gitlab": gitlab, "map": map}
    return [mods[n].SITE for n in SITE_NAMES]


class MiniArena:
    """Start all five sites in this process (threads), on loopback ports."""

    def __init__(self, seed: int = 0, host: str = "127.0.0.1", ports: dict | None = None):
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError(f"miniarena binds loopback addresses only, got host={host!r}")
        self.seed, self.host, self.ports = seed, host, dict(ports or {})
        self.arena: Arena | None = None
        self.servers: list[Server] = []
        self.urls: dict[str, str] = {}

    def start(self) -> "MiniArena":
        self.arena = Arena(load_sites(), self.seed)
        for name, site in self.arena.sites.items():
            srv = Server((self.host, self.ports.get(name, 0)), make_handler(self.arena, site))
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                             name=f"miniarena-{name}").start()
            self.servers.append(srv)
            self.urls[name] = f"http://{self.host}:{srv.server_address[1]}{site.prefix}"
        return self

    def stop(self) -> None:
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        self.servers.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def token(self) -> str:
        return self.arena.token

    def reset(self, instance: str) -> float:
        """Restore one instance to the pristine state; returns the milliseconds it took."""
        t = time.perf_counter()
        self.arena.reset(instance)
        return 1000 * (time.perf_counter() - t)

    def env_lines(self) -> str:
        """WebArena's env-file form: SHOPPING=http://..., one line per site."""
        return "\n".join(f"{self.arena.sites[n].env_var}={self.urls[n]}" for n in SITE_NAMES)


def reset_remote(base_url: str, instance: str, token: str, timeout: float = 10.0) -> float:
    """Reset an instance of a miniarena running in another process (``python -m miniarena serve``)."""
    from urllib.parse import quote, urlsplit
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
    req = urllib.request.Request(f"{origin}/__arena__/reset?instance={quote(instance)}", method="POST",
                                 data=b"", headers={"X-Arena-Token": token})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())["ms"]


__all__ = ["MiniArena", "SITE_NAMES", "INSTANCE_COOKIE", "WEBARENA_PORTS", "load_sites", "reset_remote"]
