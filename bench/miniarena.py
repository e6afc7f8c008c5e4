"""bench/miniarena.py: how fast miniarena resets and serves, and how big its observations are.

Prints three figures (medians over repeated runs in this one process):
  1. reset latency: restoring one instance's five databases to the pristine state, in-process and
     through the HTTP control endpoint (target: median <= 50 ms);
  2. page latency: one GET of each site's typical pages over a kept-alive connection;
  3. observation size: WebRL simplified-HTML characters of every page the oracles see while solving
     the test split (target: median <= 3,000), per site.

    python bench/miniarena.py [--resets 200] [--tasks 165]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from miniarena import INSTANCE_COOKIE, MiniArena, reset_remote  # noqa: E402


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def bench_reset(arena: MiniArena, n: int) -> dict:
    local = [arena.reset(f"bench-{i % 8}") for i in range(n)]
    remote = []
    for i in range(n // 4):
        t = time.perf_counter()
        reset_remote(arena.urls["shopping"], f"bench-{i % 8}", arena.token)
        remote.append(1000 * (time.perf_counter() - t))
    return {"reset_ms_median": statistics.median(local), "reset_ms_p90": pct(local, 0.9),
            "reset_http_ms_median": statistics.median(remote)}


def bench_pages(arena: MiniArena, configs: list, n: int) -> dict:
    """GET the start page of n tasks per site (logged in when the task is), kept-alive connection."""
    from env import ACCOUNTS
    out = {}
    for site, base in arena.urls.items():
        u = urllib.parse.urlsplit(base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        cookie = f"{INSTANCE_COOKIE}=bench-pages"
        if site in ACCOUNTS:
            cookie += f"; {site}_session={arena.arena.sign(site, ACCOUNTS[site][0])}"
        paths = [c["start_url"].split("__", 2)[-1] or "/" for c in configs if c["sites"][0] == site][:n]
        times = []
        for p in paths:
            path = (u.path + p) if not p.startswith(u.path) else p
            t = time.perf_counter()
            conn.request("GET", path or "/", headers={"Cookie": cookie})
            r = conn.getresponse()
            r.read()
            times.append(1000 * (time.perf_counter() - t))
        conn.close()
        out[site] = {"page_ms_median": statistics.median(times) if times else None, "pages": len(times)}
    return out


def bench_observations(arena: MiniArena, configs: list, slots: int) -> dict:
    from miniarena import oracle
    t = time.perf_counter()
    results = oracle.run(configs, slots=slots, arena=arena)
    wall = time.perf_counter() - t
    sizes: dict = {}
    for c, r in zip(configs, results):
        sizes.setdefault(c["sites"][0], []).extend(len(s["html"]) for s in r["steps"])
    every = [x for v in sizes.values() for x in v]
    steps = len(every)
    return {"solved": sum(r["score"] == 1.0 for r in results), "tasks": len(results), "steps": steps,
            "steps_per_s": steps / wall, "obs_chars_median": statistics.median(every), "obs_chars_p90": pct(every, 0.9),
            "per_site": {s: {"median": statistics.median(v), "p90": pct(v, 0.9), "max": max(v), "n": len(v)}
                         for s, v in sorted(sizes.items())}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--resets", type=int, default=200)
    ap.add_argument("--tasks", type=int, default=165, help="test tasks whose oracle trajectories are measured")
    ap.add_argument("--slots", type=int, default=4)
    args = ap.parse_args()
    from miniarena.tasks import build
    every = build("test")
    configs = every[:: max(1, len(every) // args.tasks)][: args.tasks]   # spread over sites and templates
    with MiniArena() as arena:
        r = bench_reset(arena, args.resets)
        print(f"reset: median {r['reset_ms_median']:.2f} ms, p90 {r['reset_ms_p90']:.2f} ms in-process "
              f"(target <= 50 ms); {r['reset_http_ms_median']:.2f} ms through HTTP")
        pages = bench_pages(arena, every, 40)
        for site, p in pages.items():
            print(f"page:  {site:<15} median {p['page_ms_median']:.2f} ms over {p['pages']} start pages")
        obs = bench_observations(arena, configs, args.slots)
        print(f"observations: {obs['steps']} steps of {obs['tasks']} oracle episodes ({obs['solved']} solved), "
              f"{obs['steps_per_s']:.1f} steps/s with {args.slots} slots")
        print(f"observation chars: median {obs['obs_chars_median']:.0f} (target <= 3000), p90 {obs['obs_chars_p90']}")
        for site, s in obs["per_site"].items():
            print(f"   {site:<15} median {s['median']:>6.0f}  p90 {s['p90']:>6}  max {s['max']:>6}  ({s['n']} steps)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "miniarena.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": {"nproc": os.cpu_count(), "cpu": platform.processor()},
        "reset": r, "pages": pages, "observations": obs}, indent=1))


if __name__ == "__main__":
    main()
