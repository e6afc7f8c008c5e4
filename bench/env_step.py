"""bench/env_step.py: what one env step costs: our env, BrowserGym, and the bare-Playwright floor.

What is measured. One run clicks through the same miniarena pages with the same clicks, three ways:

  ours        `Pool.step` of env.py: parse the WebRL action, click at the element's centre, wait until
              the page has settled (navigation loaded, started timers/fetches done, DOM quiet), and
              compute the WebRL observation (simplified html + element ids) in the page.
  BrowserGym  `BrowserEnv.step('click("<bid>")')` of browsergym-core (its defaults: a 0.5 s
              pre-observation sleep, then DOM snapshot + accessibility tree + screenshot), run in its
              own virtual environment `.venv-bench` (browsergym-core pins playwright==1.44) by
              bench/_browsergym_worker.py, on the same Chromium. The task's slow_mo is set to 0 (BrowserGym's
              AbstractBrowserTask and WebArena tasks default to 1000 ms, which would only add sleeps).
  floor       a bare Playwright `page.click(selector)` (which waits for the navigation it starts to
              commit) and one DOM read, `page.content()`; no other wait.

The script is a cycle of clicks per site that ends where it starts (shopping: a category, its next
page, a product, the product's category, the home page; reddit: Forums, a forum, a submission, the
front page, the sort menu (a DOM change, no navigation)). Shopping's header dropdowns are left out:
an open one may cover the header's links, and the next click would then hit the dropdown.
Each click is named by a Playwright selector and turned into each way's element reference: the
WebRL id (`data-webrl-id`, left in the page by the last observation), BrowserGym's `bid`, or the
selector itself for the floor. Lookups and the check that the click reached the expected page are
not timed. Rounds are interleaved: in each round every way runs one cycle of the same site, in a
rotating order, so the machine's noise hits all three alike; the first round is a warm-up. The
figures are medians over the timed steps that reached their expected page (wall time seen by the
caller of the step; failed steps are counted apart and the rest of that cycle is skipped). Ratios are
given as a ratio of medians and as the median of per-step ratios (same round, same click). Our
step is also split into parts by timers wrapped around Pool._act / _settle / _observe (this
instance only; env.py is untouched): the click, click to the page's load event, load to settled,
the settle at the start of the observation, and the observation script.

Pool throughput: `Pool(n)` for n in --slots, each slot running the same click cycle on its own
miniarena instance (slots alternate between the sites), all slots stepped together by
`Pool.step`; steps/s = steps done / time spent inside `Pool.step` (id lookups excluded).

The miniarena runs in a child process by default (`--arena inproc` runs it in this process). A
child is the fairer setup: in-process, the HTTP server's threads take the GIL from the thread that
drives our Pool and the floor (both run on the Pool's event-loop thread in this process) while
BrowserGym, in its own process, would not pay that; out of process, all three ways pay the same
for the server. Measured once, interleaved, on the 2-core test machine at load average ~40: no
difference above the noise (ours / floor 1.2x with the child, 1.1x in-process; medians of 20 steps).

Run it:   make bench                      (or .venv/bin/python bench/env_step.py)
          .venv/bin/python bench/env_step.py --steps 60 --slots 1,4,8,16 --no-browsergym
The first run with BrowserGym creates .venv-bench (python -m venv + pip install -r
bench/requirements-browsergym.txt; a few minutes). It prints a table and writes
bench/results/env_step.json (figures, machine, date). Targets (from the issue): ours at most 1.5x
the floor, BrowserGym at least 20x slower than ours.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import env as E  # noqa: E402

BENCH_VENV = ROOT / ".venv-bench"
REQUIREMENTS = ROOT / "bench" / "requirements-browsergym.txt"
WORKER = ROOT / "bench" / "_browsergym_worker.py"
RESULTS = ROOT / "bench" / "results" / "env_step.json"

# Per site: a cycle of clicks from the start page back to it. `expect` is a JS expression that must
# hold after the click (checked untimed, in every way).
SCRIPTS = {
    "shopping": {"start": "/", "steps": [
        {"name": "category", "selector": "main section ul a >> nth=0",
         "expect": "location.pathname.endsWith('.html') && !location.search && !!document.querySelector('ol.products')"},
        {"name": "next page", "selector": ".pager a:text-is('Next')",
         "expect": "new URLSearchParams(location.search).get('p') === '2'"},
        {"name": "product", "selector": "ol.products a >> nth=0",
         "expect": "!!document.querySelector('#customer-reviews')"},
        {"name": "its category", "selector": "main > p > a >> nth=0",
         "expect": "!!document.querySelector('ol.products')"},
        {"name": "home", "selector": "header a.brand",
         "expect": "location.pathname === '/' && !!document.querySelector('main section ul a')"},
    ]},
    "reddit": {"start": "/", "steps": [
        {"name": "forums", "selector": "header a[href='/forums']",
         "expect": "location.pathname === '/forums'"},
        {"name": "forum", "selector": "ul.forum-list a >> nth=0",
         "expect": "/^\\/f\\/[^\\/]+$/.test(location.pathname)"},
        {"name": "submission", "selector": "a.submission__title >> nth=0",
         "expect": "/^\\/f\\/[^\\/]+\\/\\d+/.test(location.pathname)"},
        {"name": "front page", "selector": "header a.brand",
         "expect": "location.pathname === '/'"},
        {"name": "sort menu", "selector": "button[data-menu='sort-menu']",
         "expect": "getComputedStyle(document.getElementById('sort-menu')).display === 'block'"},
    ]},
}
# shopping_admin is left out: every page needs a login, which the floor and BrowserGym would need too.

# No episode limits; navigation and step timeouts raised over env.py's defaults (10 s, 30 s) so that a
# heavily loaded machine yields slow figures rather than failed resets. They change no waiting rule.
LIMITS = E.Limits(max_steps=10**9, max_invalid=10**9, max_repeat=10**9, nav_timeout_s=60.0, step_timeout_s=120.0)
LOOKUP_TIMEOUT_MS = 60000
TARGET_OURS_OVER_FLOOR = 1.5
TARGET_BG_OVER_OURS = 20.0


def ms_since(t: float) -> float:
    return 1000 * (time.perf_counter() - t)


def summary(xs: list) -> dict:
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"n": 0}
    q = statistics.quantiles(xs, n=10) if len(xs) >= 2 else [xs[0]] * 9
    return {"n": len(xs), "median": round(statistics.median(xs), 1), "p10": round(q[0], 1), "p90": round(q[-1], 1)}


def task_config(site: str) -> dict:
    return {"task_id": f"bench-{site}", "intent": "Follow the benchmark's click script.", "sites": [site],
            "start_url": f"__{site.upper()}__{SCRIPTS[site]['start']}", "require_login": False,
            "eval": {"eval_types": ["string_match"], "reference_answers": {"exact_match": "n/a"}}}


# =============================================================================================
# the miniarena


def line_reader(stream) -> queue.Queue:
    """The lines of a child's stdout, read by a thread (select() would miss lines already buffered)."""
    q: queue.Queue = queue.Queue()

    def run():
        for line in stream:
            q.put(line)
        q.put("")  # end of stream
    threading.Thread(target=run, daemon=True).start()
    return q


class Arena:
    """MiniArena in a child process (default) or in this one. .urls: SITE -> base URL."""

    def __init__(self, mode: str):
        self.mode, self.proc, self.inproc, self.token = mode, None, None, None
        if mode == "inproc":
            from miniarena import MiniArena
            self.inproc = MiniArena().start()
            self.urls = E.site_urls(self.inproc)
            return
        tokfile = tempfile.NamedTemporaryFile(prefix="miniarena-token-", delete=False)
        tokfile.close()
        self.tokpath = Path(tokfile.name)
        self.err = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a full pipe would stall the server
        self.proc = subprocess.Popen([sys.executable, "-m", "miniarena", "serve", "--token-file", str(self.tokpath)],
                                     cwd=ROOT, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.urls = {}
        lines = line_reader(self.proc.stdout)
        deadline = time.monotonic() + 180
        while len(self.urls) < 5:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                state = f"exited with {self.proc.poll()}" if self.proc.poll() is not None else "no URLs within 180 s"
                self.proc.kill()
                self.tokpath.unlink(missing_ok=True)
                self.err.seek(0)
                raise RuntimeError(f"`python -m miniarena serve` {state} (got {self.urls}); "
                                   f"its stderr ends with:\n{self.err.read()[-1500:]}")
            try:
                line = lines.get(timeout=1.0).strip()
            except queue.Empty:
                continue
            if "=" in line:
                k, v = line.split("=", 1)
                self.urls[k] = v
        while not self.tokpath.read_text().strip():
            time.sleep(0.05)
        self.token = self.tokpath.read_text().strip()

    def pool(self, n: int) -> E.Pool:
        if self.inproc is not None:
            return E.Pool(n, arena=self.inproc, limits=LIMITS, auth_dir=tempfile.gettempdir())
        return E.Pool(n, urls=self.urls, limits=LIMITS, reset_token=self.token, auth_dir=tempfile.gettempdir())

    def start_url(self, site: str) -> str:
        return self.urls[site.upper()] + SCRIPTS[site]["start"]

    def stop(self):
        if self.inproc is not None:
            self.inproc.stop()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.tokpath.unlink(missing_ok=True)


# =============================================================================================
# the three ways. step(stepdef) -> {"ms", "ok", "error"}; start(site) goes to the site's start page


ID_JS = """e => { const x = e.closest('[data-webrl-id]') || e.querySelector('[data-webrl-id]');
                  return x ? x.getAttribute('data-webrl-id') : null; }"""


async def check(page, expect: str) -> bool:
    try:
        return bool(await page.evaluate(f"() => !!({expect})"))
    except Exception:
        return False


class Ours:
    """Pool(1), stepped through its public interface. Also times the parts of a step (see probe)."""

    name = "ours"

    def __init__(self, arena: Arena):
        self.arena, self.pool, self.site = arena, arena.pool(1), None
        self.parts: dict = {}
        self._probe()

    def _probe(self):
        """Wrap the Pool's _act / _settle / _observe (on this instance only) with timers."""
        pool, phase = self.pool, {"now": None}
        act, settle, observe = pool._act, pool._settle, pool._observe

        def add(k, t):
            self.cur[k] = self.cur.get(k, 0.0) + ms_since(t)

        async def t_act(slot, a):
            phase["now"], t = "act", time.perf_counter()
            try:
                return await act(slot, a)
            finally:
                add("act", t)

        async def t_settle(slot, page):
            t = time.perf_counter()
            try:
                return await settle(slot, page)
            finally:
                if phase["now"] == "act" and "settle_in_act" not in self.cur:
                    # split the settle after the click at the page's load event (when one fell inside it)
                    if t <= self.load_t <= time.perf_counter():
                        self.cur["click_to_load"] = ms_since(t) - ms_since(self.load_t)
                        self.cur["load_to_settled"] = ms_since(self.load_t)
                    else:
                        self.cur["click_to_load"], self.cur["load_to_settled"] = 0.0, ms_since(t)
                add(f"settle_in_{phase['now']}", t)

        async def t_observe(slot, *a, **k):
            phase["now"], t = "observe", time.perf_counter()
            try:
                return await observe(slot, *a, **k)
            finally:
                add("observe", t)
                phase["now"] = None
        self.cur, self.load_t = {}, 0.0
        pool._act, pool._settle, pool._observe = t_act, t_settle, t_observe

    def _on_load(self, _):
        self.load_t = time.perf_counter()

    def start(self, site: str):
        obs = self.pool.reset_slot(0, task_config(site))
        if self.pool.slots[0].done:
            raise RuntimeError(f"ours: reset failed: {self.pool.trajectory(0)[-1:]}")
        self.pool.slots[0].page.on("load", self._on_load)
        self.site = site
        return obs

    def step(self, sd: dict) -> dict:
        slot = self.pool.slots[0]
        eid = self.pool._run(slot.page.locator(sd["selector"]).first.evaluate(ID_JS, timeout=LOOKUP_TIMEOUT_MS))
        if eid is None:
            return {"ms": None, "ok": False, "error": f"{sd['selector']!r} has no WebRL id in the observation"}
        self.cur = {}
        t = time.perf_counter()
        _, dones, infos = self.pool.step([f'do(action="Click", element="{eid}")'])
        ms = ms_since(t)
        inner = infos[0].get("ms", 0.0)
        parts = dict(self.cur, inside_step=inner, outside_step=ms - inner)
        parts["click"] = parts.get("act", 0.0) - parts.get("settle_in_act", 0.0)
        parts["observe_js"] = parts.get("observe", 0.0) - parts.get("settle_in_observe", 0.0)
        parts["bookkeeping"] = inner - parts.get("act", 0.0) - parts.get("observe", 0.0)
        if dones[0]:
            return {"ms": ms, "ok": False, "error": f"episode ended: {infos[0].get('end')}", "parts": parts}
        ok = self.pool._run(check(slot.page, sd["expect"]))
        return {"ms": ms, "ok": ok, "error": infos[0].get("error"), "parts": parts}

    def close(self):
        self.pool.close()


class Floor:
    """A bare Playwright page in its own context of the same browser, driven on the same event loop."""

    name = "floor"

    def __init__(self, pool: E.Pool, arena: Arena):
        self.pool, self.arena = pool, arena

        async def _new():
            ctx = await pool.browser.new_context(viewport=E.VIEWPORT)
            ctx.set_default_timeout(10000)
            return ctx, await ctx.new_page()
        self.ctx, self.page = pool._run(_new())

    def start(self, site: str):
        self.pool._run(self.page.goto(self.arena.start_url(site)))

    async def _click_read(self, selector: str):
        await self.page.click(selector)
        return await self.page.content()

    def step(self, sd: dict) -> dict:
        t = time.perf_counter()
        try:
            self.pool._run(self._click_read(sd["selector"]))
        except Exception as e:
            return {"ms": None, "ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
        ms = ms_since(t)
        # untimed: let the page finish loading before the check (the next click would wait for it anyway)
        ok = self.pool._run(self._loaded_check(sd["expect"]))
        return {"ms": ms, "ok": ok, "error": None}

    async def _loaded_check(self, expect):
        try:
            await self.page.wait_for_load_state("load")
        except Exception:
            pass
        return await check(self.page, expect)

    def close(self):
        try:
            self.pool._run(self.ctx.close())
        except Exception:
            pass


class BrowserGym:
    """The worker process in .venv-bench. Raises RuntimeError naming the reason when it cannot run."""

    name = "browsergym"

    def __init__(self, arena: Arena, first_site: str, slow_mo: int, delay: float):
        py = ensure_browsergym_venv()
        exe, args = chromium_for_browsergym()
        self.log = tempfile.NamedTemporaryFile(prefix="browsergym-worker-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([str(py), str(WORKER)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1)
        self.lines = line_reader(self.proc.stdout)
        self._send({"chromium": exe, "args": args, "start_url": arena.start_url(first_site), "slow_mo": slow_mo,
                    "pre_observation_delay": delay})
        r = self._recv(300)
        if "fatal" in r:
            raise RuntimeError(f"BrowserGym's env did not start: {r['fatal']}\n{r.get('traceback', '')}")
        self.versions, self.reset_s, self.arena = r.get("versions", {}), r.get("reset_s"), arena

    def _send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def _recv(self, timeout: float) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = ""
        if not line:
            self.log.flush()
            tail = Path(self.log.name).read_text(errors="replace")[-2000:]
            state = f"exited with {self.proc.poll()}" if self.proc.poll() is not None else f"no answer in {timeout:g}s"
            raise RuntimeError(f"the BrowserGym worker {state}; its stderr ends with:\n{tail}")
        return json.loads(line)

    def start(self, site: str):
        self._send({"cmd": "start", "url": self.arena.start_url(site)})
        r = self._recv(120)
        if not r.get("ok"):
            raise RuntimeError(f"BrowserGym could not open {site}: {r.get('error')}")

    def step(self, sd: dict) -> dict:
        self._send({"cmd": "step", "selector": sd["selector"], "expect": sd["expect"]})
        return self._recv(120)

    def close(self):
        try:
            self._send({"cmd": "quit"})
            self.proc.wait(30)
        except Exception:
            self.proc.kill()
        Path(self.log.name).unlink(missing_ok=True)


def ensure_browsergym_venv() -> Path:
    """.venv-bench with bench/requirements-browsergym.txt installed; created on first use."""
    py = BENCH_VENV / "bin" / "python"
    stamp = BENCH_VENV / ".installed"
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if py.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return py
    print(f"creating {BENCH_VENV.name} for BrowserGym (first use: python -m venv + pip install, a few minutes)...",
          flush=True)
    steps = ([] if py.exists() else [[sys.executable, "-m", "venv", str(BENCH_VENV)]]) + [
        [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(REQUIREMENTS)]]
    for cmd in steps:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"`{' '.join(cmd)}` did not finish within 20 minutes") from None
        if r.returncode != 0:
            out = "\n".join(l for l in (r.stdout + r.stderr).splitlines() if not l.startswith("WARNING: Location"))
            raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {r.returncode}):\n{out[-2000:]}")
    check = subprocess.run([str(py), "-c", "import browsergym.core, playwright.sync_api"], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"browsergym-core does not import in {BENCH_VENV}:\n{check.stderr[-1500:]}")
    stamp.write_text(want + "\n")
    return py


def chromium_for_browsergym() -> tuple:
    """The Chromium our env uses; when that is Playwright's own (newer than 1.44 knows), its path."""
    exe, args = E.find_chromium()
    if exe is None:
        cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH", Path.home() / ".cache" / "ms-playwright"))
        found = sorted(cache.glob("chromium-*/chrome-linux*/chrome"))
        if not found:
            raise RuntimeError("no Chromium executable to give BrowserGym (set WEBRL_CHROMIUM=/path/to/chrome)")
        exe = str(found[-1])
    return exe, args


# =============================================================================================
# the measurements


def latency(ways: list, sites: list, steps: int, log) -> tuple[dict, dict]:
    """Interleaved rounds; returns per-way step records and the dropped ways (name -> why).

    A step that does not reach its expected page is recorded as failed (its time is left out of the
    medians) and the rest of that way's cycle is skipped; the next round starts afresh."""
    recs = {w.name: [] for w in ways}
    dropped: dict = {}
    live = list(ways)
    rnd = 0
    while True:
        timed = rnd > 0
        # as many rounds as ours and the floor need for `steps` timed steps; BrowserGym runs the same rounds
        if timed and min(len(recs[w.name]) for w in ways if w.name != "browsergym") >= steps:
            break
        site = sites[(rnd - 1) % len(sites)] if timed else None
        order = live[rnd % len(live):] + live[:rnd % len(live)]
        s = site or sites[0]  # the warm-up round (0) runs the first site's cycle
        for w in order:
            try:
                w.start(s)
                for sd in SCRIPTS[s]["steps"]:
                    r = w.step(sd)
                    if timed:
                        recs[w.name].append(dict(r, site=s, step=sd["name"], round=rnd))
                    if not r.get("ok") or r.get("error"):
                        what = "did not reach the expected page" if not r.get("ok") else "reached the page, with an error"
                        log(f"  {w.name}: {s}/{sd['name']} {what}: {str(r.get('error')).splitlines()[0]}")
                    if not r.get("ok"):
                        if timed:  # the rest of this cycle would fail from the wrong page: skip it
                            log(f"  {w.name}: skipping the rest of this {s} cycle")
                        break
            except Exception as e:
                if w.name != "browsergym":
                    raise
                dropped[w.name] = f"{type(e).__name__}: {e}"
                log(f"  BrowserGym dropped: {dropped[w.name]}")
                live.remove(w)
        done = {w.name: len(recs[w.name]) for w in live}
        log(f"  round {rnd}{' (warm-up)' if not timed else ''}: {s}, timed steps so far {done}")
        rnd += 1
    return recs, dropped


def pool_throughput(arena: Arena, sites: list, n: int, total_steps: int, log) -> dict:
    """Pool(n), every slot on the click cycle of its site, all stepped together. Never raises."""
    t0 = time.perf_counter()
    pool = None
    try:
        pool = arena.pool(n)
        slot_sites = [sites[i % len(sites)] for i in range(n)]
        pool.reset([task_config(s) for s in slot_sites])
        for i, s in enumerate(pool.slots):  # on a loaded machine a reset can time out: one more try
            if s.done:
                log(f"  Pool({n}): slot {i} reset failed ({pool.trajectory(i)[-1].get('end')}); retrying")
                pool.reset_slot(i, task_config(slot_sites[i]))
                if s.done:
                    raise RuntimeError(f"slot {i}: {pool.trajectory(i)[-1].get('end')}")
        setup_s = time.perf_counter() - t0
        pos = [0] * n

        async def ids():
            return await asyncio.gather(*(
                pool.slots[i].page.locator(SCRIPTS[slot_sites[i]]["steps"][pos[i]]["selector"]).first.evaluate(ID_JS, timeout=LOOKUP_TIMEOUT_MS)
                for i in range(n)))
        rounds = max(2, -(-total_steps // n))
        spent, steps, errors, warm = 0.0, 0, 0, 1
        for r in range(rounds + warm):
            eids = pool._run(ids())
            acts = [f'do(action="Click", element="{e}")' if e is not None else 'do(action="Wait")' for e in eids]
            t = time.perf_counter()
            _, dones, infos = pool.step(acts)
            dt = time.perf_counter() - t
            if any(dones):
                raise RuntimeError(f"an episode ended: {[i.get('end') for i in infos if i.get('end')]}")
            bad = sum(1 for e, i in zip(eids, infos) if e is None or i.get("error"))
            if r >= warm:
                spent += dt
                steps += n
                errors += bad
            for i in range(n):
                pos[i] = (pos[i] + 1) % len(SCRIPTS[slot_sites[i]]["steps"])
        out = {"slots": n, "steps": steps, "seconds": round(spent, 3), "steps_per_s": round(steps / spent, 2),
               "ms_per_round": round(1000 * spent / (steps // n), 1), "errors": errors, "setup_s": round(setup_s, 1)}
        log(f"  Pool({n}): {out['steps_per_s']} steps/s ({steps} steps in {spent:.1f}s, {errors} errors)")
        return out
    except Exception as e:
        log(f"  Pool({n}) failed: {type(e).__name__}: {e}")
        return {"slots": n, "error": f"{type(e).__name__}: {e}"}
    finally:
        if pool is not None:
            pool.close()


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu_model": model or platform.processor(), "platform": platform.platform(),
            "python": platform.python_version(), "loadavg_start": [round(x, 1) for x in os.getloadavg()]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=12, help="timed steps per way for the latencies (default 12)")
    ap.add_argument("--no-browsergym", action="store_true", help="measure ours and the floor only")
    ap.add_argument("--slots", default="1,4,8,16", help="pool sizes for the throughput (default 1,4,8,16; '' skips)")
    ap.add_argument("--pool-steps", type=int, default=24,
                    help="timed steps per pool size, rounded up to whole rounds, at least 2 rounds (default 24)")
    ap.add_argument("--sites", default="shopping,reddit", help="miniarena sites to click through (default shopping,reddit)")
    ap.add_argument("--arena", choices=["child", "inproc"], default="child",
                    help="run the miniarena in a child process (default; fairer, see the docstring) or in this one")
    ap.add_argument("--bg-delay", type=float, default=0.5,
                    help="BrowserGym's pre_observation_delay in seconds (default 0.5, BrowserEnv's default)")
    ap.add_argument("--bg-slow-mo", type=int, default=0, help="BrowserGym task's slow_mo in ms (default 0)")
    ap.add_argument("--out", default=str(RESULTS), help=f"JSON results (default {RESULTS.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    slots = [int(x) for x in args.slots.split(",") if x.strip()]
    t_all = time.perf_counter()
    log = lambda s: print(f"[{time.perf_counter() - t_all:5.0f}s] {s}", flush=True)  # noqa: E731

    info = machine()
    log(f"env step bench: {info['nproc']} CPUs ({info['cpu_model']}), load average {info['loadavg_start']}")
    arena = Arena(args.arena)
    ours = floor = bg = None
    results: dict = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": info,
                     "config": {"steps": args.steps, "slots": slots, "pool_steps": args.pool_steps,
                                "arena": args.arena, "bg_pre_observation_delay_s": args.bg_delay,
                                "bg_slow_mo_ms": args.bg_slow_mo, "chromium": E.find_chromium()[0]}}
    try:
        sites = [s for s in args.sites.split(",") if s in SCRIPTS and s.upper() in arena.urls]
        ours = Ours(arena)
        floor = Floor(ours.pool, arena)
        # preflight: drop a site whose script does not run (a site module still in progress)
        for s in list(sites):
            try:
                floor.start(s)
                for sd in SCRIPTS[s]["steps"]:
                    r = floor.step(sd)
                    if not r["ok"]:
                        raise RuntimeError(f"step {sd['name']!r}: {r['error'] or 'not the expected page'}")
            except Exception as e:
                log(f"site {s} left out: {e}")
                sites.remove(s)
        if not sites:
            raise SystemExit("no site's script runs: nothing to measure")
        results["sites"] = sites
        results["script"] = {s: SCRIPTS[s] for s in sites}
        ways = [ours, floor]
        bg_why = "skipped (--no-browsergym)" if args.no_browsergym else None
        if not args.no_browsergym:
            try:
                log("starting BrowserGym (its own venv, two Chromiums: the page's and its chat's)...")
                bg = BrowserGym(arena, sites[0], args.bg_slow_mo, args.bg_delay)
                log(f"  BrowserGym ready in {bg.reset_s}s: {bg.versions}")
                results["browsergym_versions"] = bg.versions
                ways.insert(1, bg)
            except Exception as e:
                bg_why = f"{type(e).__name__}: {e}"
                log(f"BrowserGym cannot run here: {bg_why}")

        log(f"latency: {args.steps} timed steps per way, sites {sites}, interleaved rounds")
        recs, dropped = latency(ways, sites, args.steps, log)
        if "browsergym" in dropped:
            bg_why = dropped["browsergym"]
        lat = {}
        for name in ("ours", "browsergym", "floor"):
            rs = recs.get(name, [])
            if not rs:
                lat[name] = {"n": 0, "why": bg_why} if name == "browsergym" else {"n": 0}
                continue
            failed = sum(1 for r in rs if not r.get("ok"))
            rs = [r for r in rs if r.get("ok")]  # medians over the steps that reached their page
            d = summary([r["ms"] for r in rs])
            d["failed_steps"] = failed
            d["action_errors"] = sum(1 for r in rs if r.get("error"))
            d["by_site"] = {s: summary([r["ms"] for r in rs if r["site"] == s]) for s in sites}
            d["by_step"] = {f"{r['site']}/{r['step']}": None for r in rs}
            for k in d["by_step"]:
                d["by_step"][k] = summary([r["ms"] for r in rs if f"{r['site']}/{r['step']}" == k])["median"]
            parts = [r["parts"] for r in rs if r.get("parts")]
            if parts:
                keys = dict.fromkeys(k for p in parts for k in p)
                d["parts_median_ms"] = {k: round(statistics.median([p.get(k, 0.0) for p in parts]), 1) for k in keys}
                d["parts_p10_ms"] = {k: summary([p.get(k, 0.0) for p in parts])["p10"] for k in keys}
            lat[name] = d
        results["latency_ms"] = lat
        m = {k: lat[k].get("median") for k in lat}
        ratios = {}
        def paired(num: str, den: str, digits: int):
            """Median over the steps both ways completed of num's time / den's time for the same step."""
            key = lambda r: (r["round"], r["site"], r["step"])  # noqa: E731
            d = {key(r): r["ms"] for r in recs.get(den, []) if r.get("ok") and r.get("ms")}
            xs = [r["ms"] / d[key(r)] for r in recs.get(num, []) if r.get("ok") and r.get("ms") and key(r) in d]
            return round(statistics.median(xs), digits) if xs else None
        if m["ours"] and m["floor"]:
            ratios["ours_over_floor"] = round(m["ours"] / m["floor"], 2)
            ratios["ours_over_floor_paired_median"] = paired("ours", "floor", 2)
        if m.get("browsergym") and m["ours"]:
            ratios["browsergym_over_ours"] = round(m["browsergym"] / m["ours"], 1)
            ratios["browsergym_over_ours_paired_median"] = paired("browsergym", "ours", 1)
        results["ratios"] = ratios
        results["targets"] = {
            "ours_over_floor_max": TARGET_OURS_OVER_FLOOR, "browsergym_over_ours_min": TARGET_BG_OVER_OURS,
            "ours_over_floor_met": (ratios["ours_over_floor"] <= TARGET_OURS_OVER_FLOOR) if "ours_over_floor" in ratios else None,
            "browsergym_over_ours_met": (ratios["browsergym_over_ours"] >= TARGET_BG_OVER_OURS) if "browsergym_over_ours" in ratios else None}

        if bg is not None:
            bg.close()
            bg = None
        floor.close()
        ours.close()
        ours = floor = None

        pools = []
        if slots:
            log(f"pool throughput: Pool(n) for n in {slots}, {args.pool_steps} timed steps each")
        for n in slots:
            pools.append(pool_throughput(arena, sites, n, args.pool_steps, log))
        results["pool"] = pools
        info["loadavg_end"] = [round(x, 1) for x in os.getloadavg()]
        results["wall_s"] = round(time.perf_counter() - t_all, 1)
    finally:
        for w in (bg, floor, ours):
            if w is not None:
                try:
                    w.close()
                except Exception:
                    pass
        arena.stop()

    report(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {out}")
    return 0


def report(res: dict):
    lat, ratios, tg = res["latency_ms"], res["ratios"], res["targets"]
    mach = res["machine"]
    print(f"\n== env step, miniarena {'+'.join(res['sites'])}: {mach['nproc']} CPUs ({mach['cpu_model']}), "
          f"load average {mach['loadavg_start'][0]} -> {mach.get('loadavg_end', ['?'])[0]}, {res['date']}")
    print(f"{'ms per step':<58} {'median':>8} {'p10':>8} {'p90':>8} {'n':>4}  failed")
    labels = {"ours": "ours: Pool.step (click + settle + WebRL observation)",
              "browsergym": "BrowserGym: BrowserEnv.step('click(bid)')",
              "floor": "floor: page.click(selector) + page.content()"}
    for k in ("ours", "browsergym", "floor"):
        d = lat[k]
        if not d.get("n"):
            print(f"{labels[k]:<58} {'-':>8}   not measured: {d.get('why', 'no steps')}")
            continue
        print(f"{labels[k]:<58} {d['median']:>8.1f} {d['p10']:>8.1f} {d['p90']:>8.1f} {d['n']:>4}  {d['failed_steps']}")
    for k in ("ours", "browsergym", "floor"):
        if lat[k].get("n"):
            print(f"  {k:<11} by site: " + ", ".join(f"{s} {v['median']} ms" for s, v in lat[k]["by_site"].items() if v.get("n")))
    if lat["ours"].get("parts_median_ms"):
        p = lat["ours"]["parts_median_ms"]
        print("  ours, median ms per part: " + ", ".join(f"{k} {p[k]}" for k in
              ("click", "settle_in_act", "click_to_load", "load_to_settled", "settle_in_observe", "observe_js",
             "bookkeeping", "outside_step") if k in p))
    if lat["browsergym"].get("parts_median_ms"):
        p = lat["browsergym"]["parts_median_ms"]
        print("  BrowserGym, median ms per part: " + ", ".join(f"{k} {v}" for k, v in p.items())
              + f"  (wait includes its {res['config']['bg_pre_observation_delay_s']} s pre-observation sleep)")
    mark = lambda ok: "-" if ok is None else ("met" if ok else "MISSED")  # noqa: E731
    if "ours_over_floor" in ratios:
        print(f"ours / floor       = {ratios['ours_over_floor']:>6}x   (paired per step: {ratios['ours_over_floor_paired_median']}x)"
              f"   target <= {tg['ours_over_floor_max']}x: {mark(tg['ours_over_floor_met'])}")
    if "browsergym_over_ours" in ratios:
        print(f"BrowserGym / ours  = {ratios['browsergym_over_ours']:>6}x   (paired per step: {ratios['browsergym_over_ours_paired_median']}x)"
              f"   target >= {tg['browsergym_over_ours_min']}x: {mark(tg['browsergym_over_ours_met'])}")
    else:
        print("BrowserGym / ours  =      -   (BrowserGym not measured)")
    if res.get("pool"):
        print("pool throughput (steps/s, all slots stepped together): " +
              ", ".join(f"{p['slots']} slot{'s' if p['slots'] > 1 else ''}: {p.get('steps_per_s', 'failed')}" for p in res["pool"]))
        print("  ms per Pool.step round: " + ", ".join(f"{p['slots']}: {p.get('ms_per_round', '-')}" for p in res["pool"]))
        for p in res["pool"]:
            if "error" in p:
                print(f"  Pool({p['slots']}) failed: {p['error']}")


if __name__ == "__main__":
    sys.exit(main())
