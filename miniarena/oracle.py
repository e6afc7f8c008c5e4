"""Oracle solvers' toolkit: read a WebRL observation, find element ids, write WebRL action strings.

An oracle is a generator function ``solve(task) -> Iterator[str]`` that receives observations and
yields WebRL action strings, exactly what a policy would emit:

    def solve(task):
        obs = yield                                  # the first observation (an Obs)
        obs = yield from click(obs, text="Sign In")  # scrolls until the element is in view
        obs = yield search(obs.find(placeholder="Search"), "red shoes")
        yield exit_(answer)

``play(env_like, task, solve)`` runs one through ``env.py`` (see ``run_oracle``); its trajectories
are the SFT demonstrations (the paper's phase-0 data).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser


class OracleError(RuntimeError):
    """The oracle could not find what it expected on the page (a site or oracle bug)."""


@dataclass
class Element:
    tag: str
    attrs: dict
    text: str = ""          # all text inside, whitespace-normalised
    id: str | None = None   # the WebRL id, None when not interactive / not in view

    def names(self) -> list[str]:
        keys = ("data-text", "title", "placeholder", "value", "data-label", "data-testid")
        return [self.attrs[k] for k in keys if self.attrs.get(k)] + ([self.text] if self.text else [])


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip().lower()


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.stack: list[Element] = []

    def handle_starttag(self, tag, attrs):
        el = Element(tag, {k: (v or "") for k, v in attrs})
        el.id = el.attrs.get("id")
        self.elements.append(el)
        self.stack.append(el)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for el in self.stack:
            el.text += data


@dataclass
class Obs:
    """A parsed observation: the simplified html string plus the page URL."""

    html: str
    url: str = ""
    elements: list = field(default_factory=list)

    def __post_init__(self):
        p = _Parser()
        p.feed(self.html)
        for el in p.elements:
            el.text = re.sub(r"\s+", " ", el.text).strip()
        self.elements = p.elements

    def _matches(self, el: Element, text, tag, contains, attrs) -> bool:
        if tag and el.tag not in ((tag,) if isinstance(tag, str) else tag):
            return False
        for k, v in attrs.items():
            if _norm(el.attrs.get(k.replace("_", "-"), "")) != _norm(str(v)):
                return False
        if text is not None:
            names = [_norm(n) for n in el.names()]
            t = _norm(text)
            return any(t in n for n in names) if contains else t in names
        return True

    def find_all(self, text=None, tag=None, contains=False, interactive=True, **attrs) -> list[Element]:
        return [el for el in self.elements
                if (el.id is not None or not interactive) and self._matches(el, text, tag, contains, attrs)]

    def find(self, text=None, tag=None, contains=False, nth=0, **attrs) -> str:
        """The id of the nth interactive element matching; OracleError when there is none."""
        found = self.find_all(text, tag, contains, **attrs)
        if len(found) <= nth:
            raise OracleError(f"no interactive element text={text!r} tag={tag!r} {attrs} at {self.url}")
        return found[nth].id

    def exists(self, text=None, tag=None, contains=False, **attrs) -> bool:
        """Whether such an element is on the page at all, in view or not."""
        return bool(self.find_all(text, tag, contains, interactive=False, **attrs))

    @property
    def text(self) -> str:
        return self.elements[0].text if self.elements else ""


# -- WebRL action strings ----------------------------------------------------------------------

def _q(s) -> str:
    return json.dumps(str(s), ensure_ascii=False)  # a valid Python string literal


def click(obs_or_id, **query):
    """With an id: the Click action string. With an Obs and a query: scroll until found, then click."""
    if isinstance(obs_or_id, Obs):
        return _act_on(obs_or_id, "Click", None, query)
    return f'do(action="Click", element={_q(obs_or_id)})'


def hover(eid) -> str:
    return f'do(action="Hover", element={_q(eid)})'


def type_(eid, text) -> str:
    return f'do(action="Type", argument={_q(text)}, element={_q(eid)})'


def search(eid, text) -> str:
    return f'do(action="Search", argument={_q(text)}, element={_q(eid)})'


def select(eid, option) -> str:
    return f'do(action="Select Dropdown Option", argument={_q(option)}, element={_q(eid)})'


def press_enter() -> str:
    return 'do(action="Press Enter")'


def scroll_down() -> str:
    return 'do(action="Scroll Down")'


def scroll_up() -> str:
    return 'do(action="Scroll Up")'


def go_backward() -> str:
    return "go_backward()"


def exit_(message="") -> str:
    return f"exit(message={_q(message)})"


def note(text: str, action: str) -> str:
    """Prefix an action with a '# Note:' comment line, as WebRL's responses do."""
    return f"# Note: {text}\n{action}"


_KINDS = {"a": "link", "button": "button", "select": "dropdown", "textarea": "text box"}


def described(action: str, obs: Obs) -> str:
    """Prefix an element action with WebRL's `# Element: the 'Sign In' link` comment line (the released
    trajectories carry such lines). Naming the element before its id is what lets a model ground the id:
    the id is then copied from beside that text in the page."""
    m = re.search(r'element="(\d+)"', action)
    if not m or action.startswith("#"):
        return action
    el = next((e for e in obs.elements if e.id == m.group(1)), None)
    name = next((n for n in el.names() if n.strip()), "") if el else ""
    if not name:
        return action
    name = re.sub(r"\s+", " ", name).strip()
    name = name if len(name) <= 40 else name[:37] + "..."
    kind = _KINDS.get(el.tag, "button" if el.attrs.get("type") in ("submit", "button") else
                      "field" if el.tag == "input" else "element")
    return f"# Element: the '{name}' {kind}\n{action}"


def _act_on(obs: Obs, action: str, argument, query: dict, max_scrolls: int = 12):
    """Generator: scroll down until an element matching `query` has an id, then act on it.

    The observation shows the viewport only, so an element below the fold is simply absent: keep
    scrolling until it appears, and give up when a scroll no longer changes the page (the bottom)."""
    for _ in range(max_scrolls + 1):
        found = obs.find_all(**query)
        if found:
            eid = found[0].id
            if action == "Click":
                return (yield click(eid))
            if action == "Type":
                return (yield type_(eid, argument))
            if action == "Search":
                return (yield search(eid, argument))
            if action == "Select Dropdown Option":
                return (yield select(eid, argument))
            raise ValueError(action)
        before = obs.html
        obs = yield scroll_down()
        if obs.html == before:
            raise OracleError(f"no element {query} on {obs.url} (scrolled to the bottom)")
    raise OracleError(f"element {query} never came into view on {obs.url}")


def typing(obs: Obs, text: str, **query):
    return _act_on(obs, "Type", text, query)


def searching(obs: Obs, text: str, **query):
    return _act_on(obs, "Search", text, query)


def selecting(obs: Obs, option: str, **query):
    return _act_on(obs, "Select Dropdown Option", option, query)


# -- running oracles through env.py ------------------------------------------------------------

def run(configs: list, slots: int = 4, arena=None, record_dir=None, verbose: bool = False) -> list[dict]:
    """Play every task with its template's oracle through env.Pool; one result per config.

    A result holds the score, the end reason, the steps (each with the env's record: prompt, html,
    response...) and `oracle_error` when the oracle itself gave up."""
    import env
    from . import MiniArena
    from .tasks import template_of

    own = arena is None
    arena = arena or MiniArena().start()
    gens: dict = {}
    errors: dict = {}

    def policy(batch):
        out = []
        for slot, task, obs, past in batch:
            key = (slot, task.task_id)
            view = Obs(obs.html, obs.url)
            try:
                if not past:
                    gens[key] = template_of(task.config).oracle(task.config)
                    next(gens[key])
                out.append(described(gens[key].send(view), view))
            except StopIteration:
                out.append(exit_(""))
            except OracleError as e:
                errors[task.task_id] = str(e)
                out.append(exit_(f"oracle error: {e}"))
        return out

    try:
        with env.Pool(slots, arena=arena, record_dir=record_dir) as pool:
            results = env.play(pool, configs, policy)
    finally:
        if own:
            arena.stop()
    for r in results:
        if r["task_id"] in errors:
            r["oracle_error"] = errors[r["task_id"]]
        if verbose and r["score"] != 1.0:
            print(f"FAIL task {r['task_id']}: end={r['end']} answer={r['answer']!r} oracle_error={r.get('oracle_error')} "
                  f"eval_error={r.get('eval_error')}")
            for s in r["steps"]:
                print(f"   {s['step']:>2} {s['url'][:70]:<70} {s['response'][:90]!r} {s['error'] or ''}")
    return results


def main(argv=None) -> int:
    import argparse
    import collections
    import time
    from .tasks import build
    ap = argparse.ArgumentParser(prog="python -m miniarena oracle", description="Check that the oracles solve their tasks.")
    ap.add_argument("--split", choices=["train", "test"], default="test")
    ap.add_argument("--site", help="only this site's tasks")
    ap.add_argument("--template", type=int, help="only this template id")
    ap.add_argument("--limit", type=int, help="at most this many tasks (spread over templates)")
    ap.add_argument("--slots", type=int, default=4, help="episodes in flight")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    configs = build(args.split, args.seed)
    configs = [c for c in configs if (not args.site or c["sites"][0] == args.site)
               and (args.template is None or c["intent_template_id"] == args.template)]
    if args.limit and len(configs) > args.limit:
        step = len(configs) / args.limit
        configs = [configs[int(i * step)] for i in range(args.limit)]
    t = time.time()
    results = run(configs, args.slots, verbose=True)
    by_t = collections.defaultdict(lambda: [0, 0])
    for c, r in zip(configs, results):
        by_t[c["intent_template_id"]][0] += r["score"] == 1.0
        by_t[c["intent_template_id"]][1] += 1
    for tid, (ok, n) in sorted(by_t.items()):
        print(f"template {tid}: {ok}/{n}")
    solved = sum(r["score"] == 1.0 for r in results)
    steps = sum(len(r["steps"]) for r in results)
    print(f"solved {solved}/{len(results)} in {time.time() - t:.1f}s ({steps} steps)")
    return 0 if solved == len(results) else 1
