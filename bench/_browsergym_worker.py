"""BrowserGym's side of bench/env_step.py. Runs in .venv-bench (browsergym-core pins playwright==1.44).

Not meant to be run by hand: bench/env_step.py starts it and talks JSON lines over stdin/stdout.

    -> {"chromium": PATH|null, "args": [...], "start_url": URL, "slow_mo": 0, "pre_observation_delay": 0.5}
    <- {"ready": true, "versions": {...}}            or {"fatal": "why"}
    -> {"cmd": "start", "url": URL}                  (BrowserGym's own goto action, not timed)
    <- {"ok": true}
    -> {"cmd": "step", "selector": PLAYWRIGHT_SELECTOR, "expect": JS_EXPRESSION}
    <- {"ms": float, "ok": bool, "error": str|null, "url": str, "bid": str, "parts": {...}}
    -> {"cmd": "quit"}

A step looks up the BrowserGym id (the `bid` attribute BrowserGym's observation leaves on every
element) of the element the selector names, then times `env.step('click("<bid>")')`: BrowserGym's
action (a Playwright locator click with its 500 ms timeout), its pre-observation sleep, its wait for
DOM content loaded, and its observation (element marking, DOM snapshot, accessibility tree,
screenshot). `expect` is checked afterwards, untimed. `parts` is BrowserGym's own breakdown from
the step's info.
"""
import json
import os
import sys
import time
import traceback


def main() -> int:
    proto = os.fdopen(os.dup(1), "w", buffering=1)   # the protocol channel
    os.dup2(2, 1)                                    # anything else printed goes to stderr
    sys.stdout = sys.stderr

    def say(obj):
        proto.write(json.dumps(obj) + "\n")
        proto.flush()

    cfg = json.loads(sys.stdin.readline())
    exe, extra = cfg.get("chromium"), list(cfg.get("args") or [])
    try:
        from importlib.metadata import version

        from playwright.sync_api import BrowserType

        # BrowserEnv passes `args` itself and its chat window launches a second Chromium with no way to
        # pass options, so the executable and our flags go in through BrowserType.launch.
        orig_launch = BrowserType.launch

        def launch(self, *a, **kw):
            if exe:
                kw.setdefault("executable_path", exe)
            kw["args"] = list(kw.get("args") or []) + [x for x in extra if x not in (kw.get("args") or [])]
            return orig_launch(self, *a, **kw)
        BrowserType.launch = launch

        import browsergym.core
        from browsergym.core.env import BrowserEnv
        from browsergym.core.task import AbstractBrowserTask

        class BenchTask(AbstractBrowserTask):
            """The minimal task: open the start page; never done, no reward."""

            @classmethod
            def get_task_id(cls):
                return "webrl-env-step-bench"

            def __init__(self, seed, start_url=""):
                super().__init__(seed)
                self.start_url = start_url
                self.viewport = {"width": 1280, "height": 720}   # WebArena's, as the WebRL env
                self.slow_mo = int(cfg.get("slow_mo", 0))         # AbstractBrowserTask's default is 1000 ms
                self.timeout = 10000

            def setup(self, page):
                page.goto(self.start_url)
                return "Follow the benchmark's click script.", {}

            def validate(self, page, chat_messages):
                return 0.0, False, "", {}

        t = time.perf_counter()
        env = BrowserEnv(task_entrypoint=BenchTask, task_kwargs={"start_url": cfg["start_url"]}, headless=True,
                         pre_observation_delay=float(cfg.get("pre_observation_delay", 0.5)),
                         pw_chromium_kwargs={"executable_path": exe} if exe else {})
        env.reset()
        say({"ready": True, "reset_s": round(time.perf_counter() - t, 2),
             "versions": {"browsergym-core": getattr(browsergym.core, "__version__", "?"),
                          "playwright": version("playwright"),
                          "chromium": env.browser.version}})
    except Exception as e:
        say({"fatal": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]})
        return 1

    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        cmd = msg.get("cmd")
        try:
            if cmd == "quit":
                break
            if cmd == "start":
                _, _, _, _, info = env.step(f"goto({json.dumps(msg['url'])})")
                say({"ok": env.last_action_error == "", "error": env.last_action_error or None, "url": env.page.url})
            elif cmd == "step":
                bid = env.page.locator(msg["selector"]).first.get_attribute("bid", timeout=5000)
                if bid is None:
                    say({"ms": None, "ok": False, "error": f"no bid on {msg['selector']!r}", "url": env.page.url})
                    continue
                t = time.perf_counter()
                obs, _, _, _, info = env.step(f"click({json.dumps(bid)})")
                ms = 1000 * (time.perf_counter() - t)
                ok = bool(env.page.evaluate(f"() => !!({msg['expect']})")) if msg.get("expect") else True
                parts = {
                    "action": 1000 * (info["action_exec_stop"] - info["action_exec_start"]),
                    "wait": 1000 * (info["wait_for_page_loading_stop"] - info["wait_for_page_loading_start"]),
                    "validate": 1000 * (info["validation_stop"] - info["validation_start"]),
                    "observation": 1000 * (info["get_observation_stop"] - info["get_observation_start"]),
                }
                say({"ms": ms, "ok": ok, "error": obs["last_action_error"] or None, "url": obs["url"], "bid": bid,
                     "parts": parts})
            else:
                say({"error": f"unknown command {cmd!r}"})
        except Exception as e:
            say({"ms": None, "ok": False, "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                 "traceback": traceback.format_exc()[-2000:]})
    try:
        env.close()
    except Exception:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
