"""env.py: the whole WebArena loop in one file: task config -> browser -> observation -> action -> score.

What the WebRL agent sees and does (paper section 3 / appendix; WEBRL_FACTS.md sections 2 and 10):

  * Tasks      WebArena / WebArena-Lite configs (`load_tasks`), site placeholders filled from the
               environment (SHOPPING, SHOPPING_ADMIN, REDDIT, GITLAB, MAP, WIKIPEDIA, HOMEPAGE) or from
               a running miniarena; several start tabs for " |AND| "; login through storage state.
  * Observation WebRL's "simplified html" (`OBSERVE_JS`), computed in the page in one pass: visible
               elements of the viewport with their text and kept attributes; interactive elements that
               are really hit at their centre get sequential ids.
  * Actions    the complete WebRL action space (`parse_action`): do(action=..., argument=..., element=...)
               with Click, Right Click, Hover, Type, Search, Select Dropdown Option, Press Enter,
               Scroll Up/Down, Wait, Switch Tab; exit(message=...); go_backward(); go_forward().
               Model text is parsed literally (ast), never executed.
  * Evaluators WebArena's string_match / url_match / program_html; the score is their product.
  * Pool       N episodes in flight in one browser (one context each, each with its own miniarena
               state), stepped together: `reset(tasks) -> obs`, `step(actions) -> obs, dones, infos`.
               Async Playwright inside, a plain synchronous interface outside.

Differences from the public WebRL rollout code, on purpose: no fixed sleeps (event-driven waits for
navigation, timers and fetches the page starts), the whole action space is parsed, every failure is
recorded in the step's info, parallel episodes are isolated.

    python env.py --check tasks.json [more.json ...]     # validate configs and their evaluators
"""
from __future__ import annotations

import ast
import asyncio
import base64
import copy
import html as htmllib
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SITE_VARS = ("SHOPPING", "SHOPPING_ADMIN", "REDDIT", "GITLAB", "MAP", "WIKIPEDIA", "HOMEPAGE")
PLACEHOLDERS = {f"__{v}__": v for v in SITE_VARS}
# WebArena's accounts on its sites (public test accounts of the benchmark); miniarena uses the same.
ACCOUNTS = {
    "shopping": ("emma.lopez@gmail.com", "Password.123"),
    "shopping_admin": ("admin", "admin1234"),
    "reddit": ("MarvelsGrantMan136", "test1234"),
    "gitlab": ("byteblaze", "hello1234"),
}
VIEWPORT = {"width": 1280, "height": 720}
log = logging.getLogger("webrl.env")


# =============================================================================================
# Tasks


@dataclass
class Task:
    """One WebArena task config, with the site URLs filled in."""

    task_id: object
    intent: str
    sites: list
    start_urls: list          # one per tab (" |AND| ")
    require_login: bool
    storage_state: str | None
    geolocation: dict | None
    eval: dict | None         # None: no ground truth (the episode's score is None)
    config: dict              # the config as read (read_quirks), placeholders included
    quirks: list = field(default_factory=list)   # one note per field read_quirks read the author's way

    @property
    def origins(self) -> set:
        return {_origin(u) for u in self.start_urls}


def _origin(u: str) -> str:
    p = urllib.parse.urlsplit(u)
    return f"{p.scheme}://{p.netloc}"


def site_urls(arena=None) -> dict:
    """Site variable -> base URL: a running MiniArena's, else the environment's (WebArena's way)."""
    if arena is not None:
        return {site.upper(): u for site, u in arena.urls.items()}
    return {v: os.environ[v].rstrip("/") for v in SITE_VARS if os.environ.get(v)}


def fill_placeholders(text: str, urls: dict, where: str) -> str:
    for ph, var in PLACEHOLDERS.items():
        if ph in text:
            if var not in urls:
                raise ValueError(f"{where}: needs {var} (set the environment variable {var} or run miniarena)")
            text = text.replace(ph, urls[var])
    return text


def _need(config: dict, key: str, types, where: str):
    if key not in config:
        raise ValueError(f"{where}: missing field '{key}'")
    if not isinstance(config[key], types):
        raise ValueError(f"{where}: field '{key}' must be {types}, got {type(config[key]).__name__}")
    return config[key]


# Fields WebArena fills with a list of strings, where published configs sometimes hold one string instead
# (VisualAgentBench's WebArena-Lite task 81: "must_include": "yjlou"): (path to the object, key, field name).
STRING_LISTS = (
    ((), "sites", "sites"),
    (("eval",), "eval_types", "eval.eval_types"),
    (("eval", "reference_answers"), "must_include", "eval.reference_answers.must_include"),
    (("eval", "reference_answers"), "fuzzy_match", "eval.reference_answers.fuzzy_match"),
)


def read_quirks(config: dict) -> tuple[dict, list[str]]:
    """A config read the way its author plainly meant where it departs from WebArena's format, and one note per
    field so read. The departure read so: a single string where WebArena has a list of strings (the fields in
    STRING_LISTS and each program_html target's required_contents.must_include) is the one-string list
    (fuzzy_match "N/A", WebArena's mark of an unachievable task, stays as it is). Returns the config itself
    when nothing departs, else a fixed copy; everything else is for parse_task to accept or reject."""
    def read(cfg: dict, fix: bool) -> list[str]:   # the notes; with fix, cfg's fields made lists in place
        notes = []

        def one_string_list(holder, key: str, name: str):
            value = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(value, str) and not (key == "fuzzy_match" and value == "N/A"):
                if fix:
                    holder[key] = [value]
                notes.append(f"field '{name}' is a string where WebArena has a list of strings: read as [{value!r}]")

        for path, key, name in STRING_LISTS:
            holder = cfg
            for step in path:
                holder = holder.get(step) if isinstance(holder, dict) else None
            one_string_list(holder, key, name)
        ev = cfg.get("eval")
        targets = ev.get("program_html") if isinstance(ev, dict) else None
        for i, target in enumerate(targets if isinstance(targets, list) else []):
            if isinstance(target, dict):
                one_string_list(target.get("required_contents"), "must_include",
                                f"eval.program_html[{i}].required_contents.must_include")
        return notes

    if not read(config, fix=False):   # the common case: no copy (parse_task runs for every episode)
        return config, []
    fixed = copy.deepcopy(config)
    return fixed, read(fixed, fix=True)


def parse_task(config: dict, urls: dict | None = None, where: str = "task") -> Task:
    """Validate one config (read as read_quirks reads it) and fill its URLs. Raises ValueError naming the task
    and the field; the Task's `quirks` name each field read the author's way."""
    if not isinstance(config, dict):
        raise ValueError(f"{where}: a task config must be a JSON object, got {type(config).__name__}")
    where = f"{where} (task_id {config.get('task_id')!r})"
    config, quirks = read_quirks(config)
    intent = _need(config, "intent", str, where)
    sites = _need(config, "sites", list, where)
    start = _need(config, "start_url", str, where)
    ev = config.get("eval")   # null: no ground truth (a generated task; its reward comes from the ORM)
    if ev is not None:
        check_eval(_need(config, "eval", dict, where), where)
    urls = site_urls() if urls is None else urls
    start_urls = [fill_placeholders(u.strip(), urls, f"{where} field 'start_url'") for u in start.split(" |AND| ")]
    for u in start_urls:
        if urllib.parse.urlsplit(u).scheme not in ("http", "https"):
            raise ValueError(f"{where}: field 'start_url' must be http(s) URLs, got {u!r}")
    geo = config.get("geolocation")
    if geo is not None and not (isinstance(geo, dict) and {"latitude", "longitude"} <= set(geo)):
        raise ValueError(f"{where}: field 'geolocation' must be null or {{latitude, longitude}}, got {geo!r}")
    return Task(config.get("task_id"), intent, sites, start_urls, bool(config.get("require_login")),
                config.get("storage_state"), geo, ev, config, [f"{where}: {q}" for q in quirks])


@dataclass
class TaskFile:
    """A task file as read_tasks read it."""

    tasks: list      # the Tasks of the configs that load
    skipped: list    # one message per config that cannot be handled, naming file, index, task id and field
    quirks: list     # one message per task and field read the way its author meant (read_quirks)


def read_tasks(path, urls: dict | None = None, resolve: bool = True) -> TaskFile:
    """Every config of a file that loads, as Tasks with the site URLs filled in (resolve=False: validated only,
    with stand-in URLs). A config that cannot be handled never sinks the others: it is left out and named in
    `skipped`. Each field read the way its author meant is logged once as a warning naming task and field.
    Raises only for the file as a whole: missing, not JSON, or an empty list."""
    configs = _config_list(path)
    if not resolve:  # validate without site URLs: fill placeholders with stand-ins
        urls = {v: f"http://{v.lower()}.invalid" for v in SITE_VARS}
    out = TaskFile([], [], [])
    for i, c in enumerate(configs):
        try:
            task = parse_task(c, urls, f"{path}[{i}]")
        except ValueError as e:
            out.skipped.append(str(e))
            continue
        for note in task.quirks:
            log.warning("%s", note)
        out.tasks.append(task)
        out.quirks += task.quirks
    return out


def load_tasks(path, urls: dict | None = None, resolve: bool = True) -> list[Task]:
    """read_tasks, strict: every config must load; else a ValueError naming the first that cannot (file,
    index, task and field)."""
    f = read_tasks(path, urls, resolve)
    if f.skipped:
        raise ValueError(f.skipped[0])
    return f.tasks


def _config_list(path) -> list:
    """The configs of a file holding one config or a list of them, unchecked."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"task file {path} does not exist")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    configs = data if isinstance(data, list) else [data]
    if not configs:
        raise ValueError(f"{path}: the task list is empty")
    return configs


def load_configs(path) -> list[dict]:
    """The configs of a file as read (placeholders left in, quirks read as read_quirks reads them), each
    validated as load_tasks validates."""
    return [t.config for t in load_tasks(path, resolve=False)]


# =============================================================================================
# Evaluators (WebArena semantics: web-arena-x/webarena evaluation_harness/evaluators.py)

EVAL_TYPES = ("string_match", "url_match", "program_html")


def clean_answer(answer: str) -> str:
    answer = str(answer).strip()
    if len(answer) >= 2 and answer[0] == answer[-1] and answer[0] in "'\"":
        answer = answer[1:-1]
    return answer.lower()


def exact_match(ref, pred) -> float:
    return float(clean_answer(pred) == clean_answer(ref))


def must_include(ref, pred, tokenize: bool = False) -> float:
    ref, pred = clean_answer(ref), clean_answer(pred)
    # a one-character reference (e.g. "0") must be a whole word, else "10" would contain it
    if tokenize and len(ref) == 1:
        return float(ref in re.findall(r"\w+|[^\w\s]", pred))
    return float(ref in pred)


def string_match(ev: dict, answer: str, intent: str, judge=None) -> float:
    pred, score = clean_answer(answer), 1.0
    for approach, value in ev["reference_answers"].items():
        if approach == "exact_match":
            score *= exact_match(value, pred)
        elif approach == "must_include":
            for ref in value:
                score *= must_include(ref, pred, tokenize=len(value) == 1)
        elif approach == "fuzzy_match":
            if value == "N/A":  # unachievable task: exact "n/a", else the judge compares the reasons
                score *= exact_match("N/A", pred)
                if score != 1:
                    score = _judge(judge, intent).ua_match(intent, ev.get("string_note", ""), pred)
            else:
                for ref in value:
                    score *= 1.0 if (not pred and not ref) else _judge(judge, intent).fuzzy_match(intent, ref, pred)
    return score


def clean_url(u: str) -> str:
    return str(u).rstrip("/")


def url_match(ev: dict, page_url: str) -> float:
    """GOLD in PRED: a reference's host+path is in the page's, and its query values are present."""
    rule = ev.get("url_note", "GOLD in PRED")
    if rule != "GOLD in PRED":
        raise ValueError(f"unknown url_note {rule!r}")
    def parse(u):
        p = urllib.parse.urlparse(u)
        return clean_url(p.netloc + p.path), urllib.parse.parse_qs(p.query)
    refs = [parse(clean_url(u)) for u in ev["reference_url"].split(" |OR| ")]
    pred_base, pred_q = parse(clean_url(page_url))
    base = float(any(b in pred_base for b, _ in refs))
    queries: dict = {}
    for _, q in refs:
        for k, vs in q.items():
            queries.setdefault(k, set()).update(vs)
    qscore = 1.0
    for k, vs in queries.items():
        qscore *= float(any(v in pred_q.get(k, []) for v in vs))
    return base * qscore


def required_contents(rc: dict, text: str, intent: str, judge=None) -> float:
    if "exact_match" in rc:
        return exact_match(rc["exact_match"], text)
    if "must_include" in rc:
        score = 1.0
        for content in rc["must_include"]:
            score *= float(any(must_include(c, text) for c in content.split(" |OR| ")))
        return score
    if "fuzzy_match" in rc:  # VAB-WebArena-Lite's addition: the references judged together
        refs = rc["fuzzy_match"]
        return _judge(judge, intent).fuzzy_match(intent, ", ".join(refs) if isinstance(refs, list) else refs, text)
    raise ValueError(f"unknown required_contents {sorted(rc)}")


# -- func: helpers named by WebArena configs, looked up by name, arguments parsed literally -----

FUNC_RE = re.compile(r"^func:\s*([A-Za-z_]\w*)\((.*)\)\s*$", re.S)


def parse_func(spec: str) -> tuple[str, list]:
    """'func:name(arg, ...)' -> (name, args); args are literals or the names __page__/__last_url__."""
    m = FUNC_RE.match(spec.strip())
    if not m:
        raise ValueError(f"malformed func: call {spec!r}")
    name, argtext = m.groups()
    try:
        call = ast.parse(f"f({argtext})", mode="eval").body
    except SyntaxError:
        raise ValueError(f"func:{name}: arguments are not literals: {argtext!r}") from None
    args = []
    for a in call.args:
        if isinstance(a, ast.Name) and a.id in ("__page__", "__last_url__"):
            args.append(a.id)
        else:
            try:
                args.append(ast.literal_eval(a))
            except ValueError:
                raise ValueError(f"func:{name}: argument {ast.unparse(a)!r} is not a literal") from None
    if call.keywords:
        raise ValueError(f"func:{name}: keyword arguments are not supported")
    if name not in FUNCS:
        raise ValueError(f"func:{name} is not a known WebArena helper (known: {', '.join(sorted(FUNCS))})")
    return name, args


def _shopping_rest(path: str):
    """Magento REST call with an admin token (real WebArena only: miniarena has no REST API)."""
    base = os.environ.get("SHOPPING", "").rstrip("/")
    if not base:
        raise ValueError("this helper needs the SHOPPING variable (a real WebArena shopping site)")
    user, pw = os.environ.get("SHOPPING_SITE_ADMIN_USER", "admin"), os.environ.get("SHOPPING_SITE_ADMIN_PASSWORD", "admin1234")
    req = urllib.request.Request(f"{base}/rest/default/V1/integration/admin/token", method="POST",
                                 data=json.dumps({"username": user, "password": pw}).encode(),
                                 headers={"Content-Type": "application/json"})
    token = json.loads(urllib.request.urlopen(req, timeout=30).read())
    req = urllib.request.Request(f"{base}/rest/default/V1/{path}", headers={"Authorization": f"Bearer {token}"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


async def f_shopping_get_latest_order_url():
    data = _shopping_rest("orders?searchCriteria[sortOrders][0][field]=created_at&searchCriteria[sortOrders][0][direction]=DESC&searchCriteria[pageSize]=1")
    return f"{os.environ['SHOPPING'].rstrip('/')}/sales/order/view/order_id/{int(data['items'][0]['increment_id'])}/"


async def f_shopping_get_sku_latest_review_author(sku):
    reviews = _shopping_rest(f"products/{urllib.parse.quote(sku)}/reviews")
    return reviews[-1]["nickname"] if reviews else ""


async def f_shopping_get_sku_latest_review_rating(sku):
    reviews = _shopping_rest(f"products/{urllib.parse.quote(sku)}/reviews")
    return str(reviews[-1]["ratings"][0]["percent"]) if reviews else ""


async def f_reddit_get_post_url(url):
    p = urllib.parse.urlsplit(url)
    parts = p.path.split("/")
    if len(parts) < 4 or parts[1] != "f":
        return url
    return f"{p.scheme}://{p.netloc}/f/{parts[2]}/{parts[3]}/"


async def f_gitlab_get_project_memeber_role(page, account):  # sic: the configs spell it so
    try:
        return await page.evaluate("""(name) => {
            const subs = [...document.querySelectorAll("td[data-label='Account'] span.gl-avatar-labeled-sublabel")];
            const i = subs.findIndex(s => s.outerText === '@' + name);
            return document.querySelectorAll('td.col-max-role span')[i].outerText; }""", account)
    except Exception:
        return ""


async def f_get_query_text(page, selector):
    try:
        return await page.evaluate("(s) => [...document.querySelectorAll(s)].map(e => e.textContent).join(' ')", selector)
    except Exception:
        return ""


async def f_get_query_text_lowercase(page, selector):
    return (await f_get_query_text(page, selector)).lower()


async def f_shopping_get_num_reviews(page):
    text = await f_get_query_text(page, "#tab-label-reviews-title")
    try:
        return int(text.strip().split(" ")[1]) if text else 0
    except (IndexError, ValueError):
        return 0


async def f_shopping_get_product_price(page):
    text = await f_get_query_text(page, "#maincontent div.price-box span.price")
    try:
        return float(text.strip().replace("$", "").replace(",", ""))
    except ValueError:
        return 0.0


async def f_shopping_get_rating_as_percentage(page):
    try:
        t = await page.evaluate("() => document.querySelector('.rating-result').getAttribute('title')")
        return int(str(t).replace("%", ""))
    except Exception:
        return 0


async def f_reddit_get_latest_comment_content_by_username(page, username):
    try:
        return await page.evaluate("""(u) => { const cs = [...document.querySelectorAll('article.comment')]
            .filter(c => c.querySelector('.comment__user, header a[href*="/user/"]')?.outerText.trim() === u);
            return cs.length ? cs[cs.length - 1].querySelector('.comment__body').outerText : ''; }""", username)
    except Exception:
        return ""


FUNCS = {name[2:]: fn for name, fn in dict(globals()).items() if name.startswith("f_") and callable(fn)}


async def call_func(spec: str, page) -> str:
    name, args = parse_func(spec)
    args = [page if a == "__page__" else page.url if a == "__last_url__" else a for a in args]
    return await FUNCS[name](*args)


def check_eval(ev: dict, where: str) -> None:
    """Everything an evaluator needs, checked without a browser (used by load_tasks and --check)."""
    types = ev.get("eval_types")
    if not isinstance(types, list) or not types:
        raise ValueError(f"{where}: eval.eval_types must be a non-empty list")
    for t in types:
        if t not in EVAL_TYPES:
            raise ValueError(f"{where}: eval.eval_types has unknown type {t!r} (known: {', '.join(EVAL_TYPES)})")
    if "string_match" in types:
        ra = ev.get("reference_answers")
        if not isinstance(ra, dict) or not ra:
            raise ValueError(f"{where}: eval.reference_answers must be an object for string_match")
        for k, v in ra.items():
            if k == "exact_match" and not isinstance(v, (str, int, float)):
                raise ValueError(f"{where}: eval.reference_answers.exact_match must be a string")
            elif k == "must_include" and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                raise ValueError(f"{where}: eval.reference_answers.must_include must be a list of strings")
            elif k == "fuzzy_match" and not (v == "N/A" or isinstance(v, list)):
                raise ValueError(f"{where}: eval.reference_answers.fuzzy_match must be a list or 'N/A'")
            elif k not in ("exact_match", "must_include", "fuzzy_match"):
                raise ValueError(f"{where}: eval.reference_answers has unknown key {k!r}")
    if "url_match" in types:
        ru = ev.get("reference_url")
        if not isinstance(ru, str) or not ru.strip():
            raise ValueError(f"{where}: eval.reference_url must be a non-empty string for url_match")
        if ev.get("url_note", "GOLD in PRED") != "GOLD in PRED":
            raise ValueError(f"{where}: eval.url_note {ev.get('url_note')!r} is not supported (only 'GOLD in PRED')")
    if "program_html" in types:
        ph = ev.get("program_html")
        if not isinstance(ph, list) or not ph:
            raise ValueError(f"{where}: eval.program_html must be a non-empty list")
        for i, target in enumerate(ph):
            w = f"{where}: eval.program_html[{i}]"
            if not isinstance(target, dict):
                raise ValueError(f"{w} must be an object")
            u, loc, rc = target.get("url"), target.get("locator"), target.get("required_contents")
            if not isinstance(u, str) or not u:
                raise ValueError(f"{w}.url must be 'last', a URL or 'func:...'")
            if u.startswith("func:"):
                parse_func(u)
            if not isinstance(loc, str):
                raise ValueError(f"{w}.locator must be a string ('' for the whole page)")
            if loc.startswith("func:"):
                parse_func(loc)
            elif loc.strip() and not re.match(r"^(\[\.\.\.)?document\.|^lambda:", loc.strip()):
                raise ValueError(f"{w}.locator must start with 'document.', '[...document.' or 'func:', got {loc[:40]!r}")
            if not isinstance(rc, dict) or not ({"exact_match", "must_include", "fuzzy_match"} & set(rc)):
                raise ValueError(f"{w}.required_contents needs exact_match, must_include or fuzzy_match")
            inc = rc.get("must_include", [])
            if not (isinstance(inc, list) and all(isinstance(x, str) for x in inc)):
                raise ValueError(f"{w}.required_contents.must_include must be a list of strings")


def _judge(judge, intent):
    if judge is None:
        raise RuntimeError("this task needs an LLM judge (fuzzy_match): pass judge=Judge(url, model, key) "
                           "or set WEBRL_JUDGE_URL / WEBRL_JUDGE_MODEL / WEBRL_JUDGE_KEY")
    return judge


class Judge:
    """fuzzy_match / ua_match through any OpenAI-compatible chat endpoint (WebArena's prompts)."""

    def __init__(self, url: str, model: str, key: str = "", timeout: float = 60.0):
        self.url, self.model, self.key, self.timeout = url.rstrip("/"), model, key, timeout

    @classmethod
    def from_env(cls):
        url = os.environ.get("WEBRL_JUDGE_URL")
        return cls(url, os.environ.get("WEBRL_JUDGE_MODEL", "gpt-4-1106-preview"), os.environ.get("WEBRL_JUDGE_KEY", "")) if url else None

    def ask(self, message: str) -> str:
        body = json.dumps({"model": self.model, "temperature": 0, "max_tokens": 768, "top_p": 1.0, "messages": [
            {"role": "system", "content": "You are a helpful assistant"}, {"role": "user", "content": message}]}).encode()
        req = urllib.request.Request(self.url + "/chat/completions", data=body, method="POST", headers={
            "Content-Type": "application/json", **({"Authorization": f"Bearer {self.key}"} if self.key else {})})
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            return json.loads(r.read())["choices"][0]["message"]["content"]

    def fuzzy_match(self, question: str, reference: str, pred: str) -> float:
        r = self.ask("Help a teacher to grade the answer of a student given a question. Keep in mind that the student "
                     "may use different phrasing or wording to answer the question. The goal is to evaluate whether "
                     "the answer is semantically equivalent to the reference answer.\n"
                     f"question: {question}\nreference answer: {reference}\n"
                     "all the string 'N/A' that you see is a special sequence that means 'not achievable'\n"
                     f"student answer: {pred}\nConclude the judgement by correct/incorrect/partially correct.").lower()
        return 0.0 if ("partially correct" in r or "incorrect" in r) else float("correct" in r)

    def ua_match(self, question: str, reference: str, pred: str) -> float:
        r = self.ask(f"task: {question}\nactual unachievable reason: {reference}\nreported unachievable reason: {pred}\n"
                     "The task described above is inherently unachievable due to the reason specified under 'actual "
                     "unachievable reason'. An individual previously attempted this task and was unable to complete it. "
                     "They provided a reason for their failure, which is listed under 'reported unachievable reason'. "
                     "Your role is to review both the actual and reported reasons. Determine if the reported reason "
                     "aligns with the actual reason, even if implicitly. If the stated reason is in line with the actual "
                     "reason, respond with 'same'. Otherwise, respond with 'different'.").lower()
        return 0.0 if "different" in r else float("same" in r)


async def evaluate(task: Task, answer: str, page, urls: dict, judge=None, nav_timeout_ms: int = 10000) -> tuple[float, dict]:
    """Score the end state of an episode: product over the task's eval types (in their order)."""
    ev, score, parts = task.eval, 1.0, {}
    for t in ev["eval_types"]:
        if t == "string_match":
            s = string_match(ev, answer, task.intent, judge)
        elif t == "url_match":
            s = url_match({**ev, "reference_url": fill_placeholders(ev["reference_url"], urls, "reference_url")}, page.url)
        else:
            s = 1.0
            for target in ev["program_html"]:
                u = target["url"]
                if u.startswith("func:"):
                    u = await call_func(u.replace("__last_url__", page.url), page)
                if u != "last":
                    await page.goto(fill_placeholders(u, urls, "program_html url"), timeout=nav_timeout_ms)
                    await settle(page, 50, 3000)
                loc = target["locator"].strip()
                if not loc:
                    text = await page.content()
                elif loc.startswith("func:"):
                    text = str(await call_func(loc, page))
                else:
                    if loc.startswith("lambda:"):
                        loc = loc[len("lambda:"):]
                    for prep in target.get("prep_actions", []):
                        try:
                            await page.evaluate(f"() => {prep}")
                        except Exception:
                            pass
                    try:
                        value = await page.evaluate(f"() => {loc}")
                        text = "" if value is None else str(value)
                    except Exception:
                        text = ""
                s *= required_contents(target["required_contents"], htmllib.unescape(text), task.intent, judge)
        parts[t] = s
        score *= s
    return score, parts


# =============================================================================================
# Actions

DO_ACTIONS = {  # canonical name -> (needs element, needs argument)
    "Click": (True, False), "Right Click": (True, False), "Hover": (True, False),
    "Type": (True, True), "Search": (True, True), "Select Dropdown Option": (True, True),
    "Press Enter": (False, False), "Scroll Up": (False, False), "Scroll Down": (False, False),
    "Wait": (False, False), "Switch Tab": (False, True), "Go Backward": (False, False), "Go Forward": (False, False),
}
_CANON = {k.lower(): k for k in DO_ACTIONS}


@dataclass(frozen=True)
class Action:
    """A parsed WebRL action. kind: a DO_ACTIONS name, or 'exit'."""

    kind: str
    element: str | None = None
    argument: str | None = None

    def __str__(self):
        if self.kind == "exit":
            return f"exit(message={json.dumps(self.argument or '')})"
        if self.kind in ("Go Backward", "Go Forward"):
            return "go_backward()" if self.kind == "Go Backward" else "go_forward()"
        args = [f'action="{self.kind}"']
        if self.argument is not None:
            args.append(f"argument={json.dumps(self.argument)}")
        if self.element is not None:
            args.append(f'element="{self.element}"')
        return f"do({', '.join(args)})"


def parse_action(response: str) -> Action:
    """Parse one model response into an Action; ValueError says what is wrong.

    Comment lines ('# Element: ...', '# Note: ...') and blank lines are skipped; what remains must be
    exactly one call of do(...), exit(...), go_backward() or go_forward() with keyword arguments.
    """
    if not isinstance(response, str):
        raise ValueError(f"the response must be a string, got {type(response).__name__}")
    code = "\n".join(l for l in response.strip().splitlines() if l.strip() and not l.strip().startswith("#")).strip()
    if code.startswith("```"):  # tolerate a fenced block around the call
        code = re.sub(r"^```\w*\s*|\s*```$", "", code).strip()
    if not code:
        raise ValueError("no action: the response holds only comments or is empty")
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"not a single Python call: {e.msg} in {code[:80]!r}") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise ValueError(f"not a call of do/exit/go_backward/go_forward: {code[:80]!r}")
    name = call.func.id
    if call.args:
        raise ValueError(f"{name}() takes keyword arguments only, e.g. do(action=\"Click\", element=\"3\")")
    kwargs = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise ValueError(f"{name}(): **kwargs are not allowed")
        try:
            kwargs[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            raise ValueError(f"{name}(): argument {kw.arg}= must be a literal, got {ast.unparse(kw.value)[:60]!r}") from None
    if name == "exit":
        if set(kwargs) - {"message"}:
            raise ValueError(f"exit() takes only message=, got {sorted(kwargs)}")
        msg = kwargs.get("message", "")
        return Action("exit", argument="" if msg is None else str(msg))
    if name in ("go_backward", "go_forward"):
        if kwargs:
            raise ValueError(f"{name}() takes no arguments")
        return Action("Go Backward" if name == "go_backward" else "Go Forward")
    if name != "do":
        raise ValueError(f"unknown function {name}(): use do, exit, go_backward or go_forward")
    unknown = set(kwargs) - {"action", "argument", "element"}
    if unknown:
        raise ValueError(f"do() got unknown arguments {sorted(unknown)}")
    act = kwargs.get("action")
    if not isinstance(act, str) or act.strip().lower() not in _CANON:
        raise ValueError(f"do(): unknown action {act!r} (one of {', '.join(DO_ACTIONS)})")
    kind = _CANON[act.strip().lower()]
    needs_el, needs_arg = DO_ACTIONS[kind]
    el, arg = kwargs.get("element"), kwargs.get("argument")
    if needs_el:
        if el is None or isinstance(el, bool) or not isinstance(el, (str, int)) or not str(el).strip().isdigit():
            raise ValueError(f'do(action="{kind}") needs element="N" with a numeric id, got {el!r}')
        el = str(el).strip()
    else:
        el = None
    if needs_arg:
        if arg is None or isinstance(arg, (list, dict, tuple, set, bytes)):
            raise ValueError(f'do(action="{kind}") needs argument="..."')
        arg = str(arg)
        if kind == "Switch Tab" and not arg.strip().isdigit():
            raise ValueError(f'do(action="Switch Tab") needs a tab number (from 0), got {arg!r}')
    else:
        arg = None
    return Action(kind, el, arg)


# =============================================================================================
# Observation: WebRL's simplified html, in one pass inside the page
#
# Follows VAB-WebArena-Lite/new/html_tools (prepare.js, clickable_checker.js, label.js and the
# 'xml' prompt of html_parser.py): an element is printed when it is visible in the viewport (or
# has an id, or is an option of a printed select) and has own text, a kept attribute, an id or more
# than one child with content; otherwise its tag is dropped and its children stand in its place.
# Clickable elements whose centre passes the hit test get ids 0, 1, ... in document order
# (innermost only). Two stale-state quirks of the public code are not reproduced: hidden elements
# are never printed, and only the currently selected option carries data-status="selected".

OBSERVE_JS = r"""
() => {
  const VW = window.innerWidth, VH = window.innerHeight;
  const KEPT = ['title','value','type','placeholder','selected','data-value','data-text','data-testid','data-label','data-bbox','data-status'];
  const CLICK_TAGS = new Set(['input','textarea','select','button','a','iframe','video','object','embed','details']);
  const CLICK_ROLES = new Set(['button','tab','link','checkbox','menuitem','menuitemcheckbox','menuitemradio','radio']);
  const SKIP = new Set(['script','style','template']);  // <head> stays: its <title> counts as content
  const clean = s => (s || '').replace(/\s+/g, ' ').trim().slice(0, 500);
  for (const e of document.querySelectorAll('[data-webrl-id]')) e.removeAttribute('data-webrl-id');
  const info = new Map();   // element -> {bbox, hit:[x,y]|null}

  function isClickable(el, tag, style) {
    if (CLICK_TAGS.has(tag)) return !(tag === 'input' && el.type === 'hidden');
    if (el.onclick != null || style.cursor === 'pointer') return true;
    const role = el.getAttribute('role');
    if (role && CLICK_ROLES.has(role)) return true;
    if (el.isContentEditable) return true;
    if (tag === 'label' && el.control && !el.control.disabled) return true;
    if (/button/i.test(el.getAttribute('class') || '')) return true;
    if (el.hasAttribute('data-menu')) return true;
    const ti = el.getAttribute('tabindex');
    return ti !== null && parseInt(ti) >= 0;
  }
  // Post-order: bounding boxes, clickability and the hit test; returns whether the subtree holds a
  // clickable that passed, so that only the innermost clickables keep their id.
  function scan(el) {
    const tag = el.tagName.toLowerCase();
    if (SKIP.has(tag)) return false;
    const rects = el.getClientRects();
    const it = {bbox: null, hit: null, vis: false};
    info.set(el, it);
    let below = false;
    for (const c of el.children) below = scan(c) || below;
    if (rects.length === 0) return below;
    const r = rects[0];
    it.bbox = [Math.round(r.left), Math.round(r.top), Math.round(r.right - r.left), Math.round(r.bottom - r.top)];
    const shown = el.checkVisibility ? el.checkVisibility({visibilityProperty: true}) : true;
    it.vis = shown && el.getAttribute('aria-hidden') !== 'true' &&
             !(r.right < 0 || r.left > VW || r.bottom < 0 || r.top > VH);
    if (below || !it.vis) return below;
    const style = getComputedStyle(el);
    if (!isClickable(el, tag, style) || el.disabled) return below;
    for (const q of rects) {
      const x0 = Math.max(q.left, 0), y0 = Math.max(q.top, 0), x1 = Math.min(q.right, VW), y1 = Math.min(q.bottom, VH);
      if (x1 - x0 < 1 || y1 - y0 < 1) continue;
      const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
      const at = document.elementFromPoint(cx, cy);
      if (at && (at === el || el.contains(at) || (at.tagName === 'LABEL' && at.control === el))) { it.hit = [cx, cy]; return true; }
    }
    return below;
  }
  scan(document.documentElement);

  const ids = [];
  function attrs(el, tag, it) {
    const a = {};
    for (const k of ['title','value','type','placeholder','selected','data-testid','data-label']) {
      const v = el.getAttribute(k); if (v !== null) a[k] = v;
    }
    if (tag === 'select') {
      a['data-value'] = el.value;
      const o = el.options[el.selectedIndex]; a['data-text'] = o ? o.text : '';
    } else {
      if (tag === 'input' || tag === 'textarea') a['data-value'] = el.value;
      const t = []; for (const n of el.childNodes) if (n.nodeType === 3) { const s = clean(n.data); if (s) t.push(s); }
      a['data-text'] = t.join(',');
    }
    if (it.bbox) a['data-bbox'] = it.bbox.join(',');
    if (tag === 'input' && (el.type === 'checkbox' || el.type === 'radio')) a['data-status'] = el.checked ? 'checked' : 'not-checked';
    if (tag === 'option' && el.selected) a['data-status'] = 'selected';
    if (a.type === 'hidden') delete a.type;
    const out = [], seen = new Set();
    for (const k of KEPT) {
      const v = clean(a[k]);
      if (!v || seen.has(v)) continue;     // empty values and values already printed are skipped
      seen.add(v); out.push(k + '="' + v + '"');
    }
    return out;
  }
  function textBefore(el) {  // the text before the first child element (lxml's node.text)
    let s = '';
    for (const n of el.childNodes) { if (n.nodeType === 1) break; if (n.nodeType === 3) s += n.data; }
    return clean(s);
  }
  // Pre-order: ids in document order, then the string. Returns [string, has content].
  function ser(el, optionsKept) {
    const tag = el.tagName.toLowerCase();
    const it = info.get(el);
    if (!it) return ['', false];
    let label = null;
    if (it.hit) { label = ids.length; ids.push({tag, x: it.hit[0], y: it.hit[1], type: (el.type || '').toLowerCase(),
        editable: el.isContentEditable, multiple: !!el.multiple}); el.setAttribute('data-webrl-id', String(label)); }
    const keep = it.vis || label !== null || (optionsKept && tag === 'option');
    const a = attrs(el, tag, it);
    const text = textBefore(el);
    const hasText = text.length > 0 || a.filter(s => !s.startsWith('data-bbox=')).length > 0;
    const kids = []; let withContent = 0;
    for (const c of el.children) { const [s, h] = ser(c, keep && tag === 'select'); if (s) kids.push(s); if (h) withContent++; }
    const sub = kids.join(' ');
    if (keep && (withContent > 1 || hasText || label !== null)) {
      return ['<' + tag + (label !== null ? ' id="' + label + '"' : '') + (a.length ? ' ' + a.join(' ') : '') + '>' +
              (text ? ' ' + text : '') + (sub ? ' ' + sub : '') + ' </' + tag + '>', true];
    }
    return [sub, withContent > 0 || hasText];
  }
  const html = ser(document.documentElement, false)[0];
  return {html, ids, url: location.href, title: document.title};
}
"""

# Installed in every page before its scripts run: counts the work a page has started (short timers,
# fetches, XHRs) and the time of the last DOM change, so `settle` waits for events, not for a clock.
SETTLE_INIT_JS = r"""
(() => {
  if (window.__webrl) return;
  let pending = 0, last = performance.now(), leaving = false;
  const W = window.__webrl = {pending: () => pending, last: () => last, leaving: () => leaving,
                              st: window.setTimeout.bind(window)};
  // the document is being navigated away from (a link, a form submit): its successor is what counts
  window.addEventListener('beforeunload', () => { leaving = true; });
  const st = window.setTimeout, ct = window.clearTimeout, live = new Set();
  window.setTimeout = function (fn, ms, ...args) {
    if (typeof fn !== 'function' || (ms | 0) > 1500) return st(fn, ms, ...args);
    pending++;
    const id = st(function () { if (live.delete(id)) pending--; fn.apply(this, args); }, ms);
    live.add(id); return id;
  };
  window.clearTimeout = function (id) { if (live.delete(id)) pending--; return ct(id); };
  const f = window.fetch;
  if (f) window.fetch = function () { pending++; return f.apply(this, arguments).finally(() => { pending--; last = performance.now(); }); };
  // fetch() settles with the headers; the body is read after (response.text(), .json(), ...), and a page that
  // waits for it to fill a panel would otherwise be observed half-loaded when the body is slow (a busy machine):
  // the body's read is work pending too. The page's own .then runs in the same microtask checkpoint as the
  // decrement, before any settle check can run.
  if (window.Response) for (const m of ['text', 'json', 'arrayBuffer', 'blob', 'formData']) {
    const read = Response.prototype[m];
    if (read) Response.prototype[m] = function () {
      pending++; return read.apply(this, arguments).finally(() => { pending--; last = performance.now(); }); };
  }
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function () {
    pending++; this.addEventListener('loadend', () => { pending--; last = performance.now(); }, {once: true});
    return send.apply(this, arguments);
  };
  // tabs the page asked to open (window.open, target=_blank links), so the env can wait for them
  let opened = 0; W.opened = () => opened;
  const wo = window.open; window.open = function () { opened++; return wo.apply(this, arguments); };
  document.addEventListener('click', e => { const a = e.target.closest && e.target.closest('a[target=_blank]');
    if (a && !e.defaultPrevented && a.href) opened++; }, true);
  const watch = () => new MutationObserver(() => { last = performance.now(); })
      .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  watch();
})();
"""

SETTLE_JS = r"""
([quiet, cap, minwait]) => new Promise(resolve => {
  const W = window.__webrl, t0 = performance.now();
  const st = W ? W.st : window.setTimeout.bind(window);
  (function check() {
    const now = performance.now();
    // quiet also counts from the call: work an action has queued (a form submit on Enter) gets a
    // turn to start before the page is declared idle
    const idle = document.readyState === 'complete' && now - t0 >= minwait &&
                 (!W || (W.pending() === 0 && !W.leaving() && now - W.last() >= quiet));
    if (idle || now - t0 > cap) resolve(W ? W.opened() : 0); else st(check, 5);
  })();
})
"""


class PageHung(Exception):
    """A navigation did not finish loading within the limit."""


async def settle(page, quiet_ms: int = 20, cap_ms: int = 3000, nav=None, nav_timeout_s: float = 10.0) -> int:
    """Wait until the page is idle: navigations committed and loaded, no started timers/fetches
    pending and no DOM change for `quiet_ms` (at most `cap_ms` of script activity per document).
    A navigation still loading after `nav_timeout_s` raises PageHung. Returns how many tabs the
    document has asked to open so far."""
    opened, minwait = 0, quiet_ms
    for _ in range(6):
        if nav is not None and nav.loading:
            left = nav_timeout_s - (time.monotonic() - nav.started)
            try:
                await asyncio.wait_for(nav.done.wait(), max(0.0, left))
            except asyncio.TimeoutError:
                raise PageHung(f"the page did not finish loading within {nav_timeout_s:g}s") from None
        if nav is not None:
            nav.began.clear()
        idle = asyncio.ensure_future(page.evaluate(SETTLE_JS, [quiet_ms, cap_ms, minwait]))
        minwait = 0  # a document that replaced the first one has nothing the action queued
        idle.add_done_callback(lambda f: f.cancelled() or f.exception())  # never an unretrieved error
        waits = {idle} | ({asyncio.ensure_future(nav.began.wait())} if nav is not None else set())
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for f in pending:
            f.cancel()
        if idle not in done:
            continue  # a navigation started while the old document was settling: wait for the new one
        try:
            opened = idle.result()
        except Exception as e:  # the document was replaced by a navigation: settle the new one
            if "destroyed" not in str(e) and "navigat" not in str(e):
                raise
            continue
        if nav is None or not nav.loading:
            return opened
    return opened


class NavTracker:
    """Follows main-frame navigations of one page through Playwright's events."""

    def __init__(self, page):
        self.loading, self.started, self.done, self.began = False, 0.0, asyncio.Event(), asyncio.Event()
        self.done.set()
        page.on("request", lambda r: self._start() if (r.is_navigation_request() and r.frame == page.main_frame) else None)
        page.on("requestfailed", lambda r: self._end() if (r.is_navigation_request() and r.frame == page.main_frame) else None)
        page.on("response", lambda r: self._end() if (r.status in (204, 205) and r.request.is_navigation_request()
                                                      and r.frame == page.main_frame) else None)
        page.on("load", lambda _: self._end())

    def _start(self):
        self.loading, self.started = True, time.monotonic()
        self.done.clear()
        self.began.set()

    def _end(self):
        self.loading = False
        self.done.set()


# =============================================================================================
# The pool: N episodes in flight in one browser


_BBOX = re.compile(r' data-bbox="[^"<>]*"')
_TEXT_TWICE = re.compile(r'<(\w+)([^<>]*?) data-text="([^"<>]*)"([^<>]*)> \3(?= <)')


def compact_html(html: str) -> str:
    """The simplified html without what a reader of its text can do without: every data-bbox (layout
    coordinates; no action of the WebRL space takes one) and every data-text that only repeats the text
    printed right after its tag: about half a miniarena prompt's tokens (median 1232 -> 629).

    Only for an actor whose prompt budget the page does not fit (policy.encode_prompt): a page that fits is
    never changed, so a model served at WebRL's 16384 tokens sees the exact observation."""
    return _TEXT_TWICE.sub(r"<\1\2\4> \3", _BBOX.sub("", html))


def compact_prompt(prompt: str) -> str:
    """A `build_prompt` prompt with its current page (the last user turn) compacted by `compact_html`."""
    start = prompt.rfind("<|start_header_id|>user<|end_header_id|>\n")
    end = prompt.rfind("\n\n<|eot_id|>")
    if start < 0 or end < start:
        return prompt
    start += len("<|start_header_id|>user<|end_header_id|>\n")
    return prompt[:start] + compact_html(prompt[start:end]) + prompt[end:]


def build_prompt(intent: str, past_responses: list, html: str) -> str:
    """WebRL's policy prompt, byte-exact with VAB-WebArena-Lite's WebRLPromptConstructor.

    Round 0's user turn in the history holds the intent, later ones the placeholder
    '** Simplified html **'; only the current round shows a page, cut so that history + page fit in
    16384 - 512 characters."""
    history = ""
    for i, r in enumerate(past_responses):
        user = intent if i == 0 else "** Simplified html **"
        history += (f"Round {i}\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n{user}\n\n"
                    f"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n{r}\n\n")
    if len(history) + len(html) > 16384 - 512:
        html = html[: max(0, 16384 - 512 - len(history))]
    current = (f"Round {len(past_responses)}\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n{html}\n\n"
               f"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n")
    return f"Task Instruction: {intent}\n\n{history}{current}"


@dataclass
class Obs:
    """What the agent sees at one step."""

    html: str
    url: str = ""
    tabs: list = field(default_factory=list)   # the URL of each open tab
    tab: int = 0


@dataclass
class Limits:
    max_steps: int = 30        # actions per episode (WebRL's public runs)
    max_invalid: int = 5       # unparsable or impossible actions before the episode ends
    max_repeat: int = 5        # identical consecutive actions before the episode ends
    step_timeout_s: float = 30.0   # one action + settle + observe; past it the episode fails
    nav_timeout_s: float = 10.0    # loading one document
    settle_quiet_ms: int = 20      # DOM quiet time that counts as settled
    settle_cap_ms: int = 3000      # the longest we wait for a page to settle
    wait_action_s: float = 1.0     # what do(action="Wait") waits


class Slot:
    """One episode in flight: its browser context, tabs and bookkeeping."""

    def __init__(self, index: int, instance: str):
        self.index, self.instance = index, instance
        self.context = None
        self.pages: list = []
        self.navs: dict = {}
        self.tab = 0
        self.task: Task | None = None
        self.ids: list = []
        self.obs: Obs | None = None
        self.responses: list = []
        self.records: list = []
        self.invalid = self.repeat = 0
        self.last_action = None
        self.done = True
        self.blocked: list = []
        self.popups: list = []
        self.opened: dict = {}              # page -> tabs it asked to open, already accounted for
        self.popup_event = asyncio.Event()
        self.record_path: Path | None = None

    @property
    def page(self):
        return self.pages[self.tab]


def find_chromium() -> tuple[str | None, list]:
    """Playwright's own Chromium when installed, else the system one. Returns (executable or None, args)."""
    args = ["--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--disable-sync", "--disable-quic", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
    explicit = os.environ.get("WEBRL_CHROMIUM")
    if explicit:
        return explicit, args
    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    if any(cache.glob("chromium*/chrome-linux*/chrome")) or any(cache.glob("chromium_headless_shell*/*/*shell")):
        return None, args  # Playwright's own Chromium: it finds it itself
    for cand in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "",
                 shutil.which("google-chrome") or ""):
        if cand and Path(cand).exists():
            return cand, args
    raise RuntimeError("no Chromium found: run `make setup` (installs Debian's chromium when root) or "
                       "`python -m playwright install chromium`, or set WEBRL_CHROMIUM=/path/to/chrome")


class Pool:
    """N episodes in flight in one browser process. Synchronous interface, async Playwright inside.

        pool = Pool(4, arena=MiniArena().start())
        obs = pool.reset(tasks)                  # up to 4 tasks; each slot reset to pristine state
        obs, dones, infos = pool.step(responses) # one model response per slot (ignored when done)
        pool.close()
    """

    def __init__(self, n: int = 1, arena=None, urls: dict | None = None, limits: Limits | None = None,
                 record_dir: str | None = None, judge=None, headless: bool = True, auth_dir: str = ".auth",
                 reset_token: str | None = None, screenshots: bool = False):
        if n < 1:
            raise ValueError(f"a pool needs at least 1 slot, got n={n}")
        self.arena, self.urls = arena, (urls or site_urls(arena))
        self.limits = limits or Limits()
        self.record_dir = Path(record_dir) if record_dir else None
        # a small JPEG of each step's page beside the episode's record (never part of the observation)
        self.screenshots = screenshots
        self.judge = judge if judge is not None else Judge.from_env()
        self.headless, self.auth_dir = headless, Path(auth_dir)
        self.reset_token = reset_token or os.environ.get("MINIARENA_TOKEN")
        self.uid = uuid.uuid4().hex[:8]
        self.slots = [Slot(i, f"pool{self.uid}-{i}") for i in range(n)]
        self.episodes = 0
        self.login_cookies: dict = {}       # site -> cookies
        self.miniarena: dict = {}           # origin -> bool
        self.browser_restarts = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="webrl-pool")
        self.thread.start()
        self._run(self._start())

    # -- plumbing ---------------------------------------------------------------------------------
    def _run(self, coro, timeout=None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self):
        from playwright.async_api import async_playwright
        self.launch_lock = asyncio.Lock()
        self.pw = await async_playwright().start()
        await self._launch()

    async def _launch(self):
        exe, args = find_chromium()
        self.browser = await self.pw.chromium.launch(executable_path=exe, args=args + [f"--webrl-pool={self.uid}"],
                                                     headless=self.headless)

    def close(self):
        async def _close():
            for s in self.slots:
                await self._close_slot(s)
            try:
                await self.browser.close()
            except Exception:
                pass
            await self.pw.stop()
        try:
            self._run(_close(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sites: miniarena resets and logins --------------------------------------------------------
    def _is_miniarena(self, origin: str) -> bool:
        if origin not in self.miniarena:
            try:
                with urllib.request.urlopen(origin + "/__arena__/health", timeout=3) as r:
                    self.miniarena[origin] = json.loads(r.read()).get("ok") is True
            except Exception:
                self.miniarena[origin] = False
        return self.miniarena[origin]

    def _reset_state(self, slot: Slot, task: Task) -> str:
        """Give the slot pristine miniarena state; returns the instance name used."""
        if self.arena is not None:
            self.arena.reset(slot.instance)
            return slot.instance
        origin = next(iter(task.origins))
        if self._is_miniarena(origin):
            if self.reset_token:
                from miniarena import reset_remote
                reset_remote(origin, slot.instance, self.reset_token)
                return slot.instance
            return f"{slot.instance}-{self.episodes}"  # a new instance name starts pristine
        return ""  # a real WebArena site: no per-episode reset (WebArena resets whole sites by hand)

    async def _login(self, site: str) -> list:
        """Log into one site in a fresh context and keep its cookies (WebArena's auto_login)."""
        if site in self.login_cookies:
            return self.login_cookies[site]
        var = site.upper()
        if site not in ACCOUNTS or var not in self.urls:
            self.login_cookies[site] = []
            return []
        base, (user, pw) = self.urls[var], ACCOUNTS[site]
        ctx = await self.browser.new_context(viewport=VIEWPORT)
        page = await ctx.new_page()
        timeout = self.limits.nav_timeout_s * 1000
        try:
            if self._is_miniarena(_origin(base)):
                await page.goto(base + "/login", timeout=timeout)
                await page.fill("input[name=username]", user)
                await page.fill("input[name=password]", pw)
                async with page.expect_navigation(timeout=timeout):
                    await page.click("form[action$='/login'] button[type=submit]")
            elif site == "shopping":
                await page.goto(f"{base}/customer/account/login/", timeout=timeout)
                await page.get_by_label("Email", exact=True).fill(user)
                await page.get_by_label("Password", exact=True).fill(pw)
                await page.get_by_role("button", name="Sign In").click()
            elif site == "reddit":
                await page.goto(f"{base}/login", timeout=timeout)
                await page.get_by_label("Username").fill(user)
                await page.get_by_label("Password").fill(pw)
                await page.get_by_role("button", name="Log in").click()
            elif site == "shopping_admin":
                await page.goto(base, timeout=timeout)
                await page.get_by_placeholder("user name").fill(user)
                await page.get_by_placeholder("password").fill(pw)
                await page.get_by_role("button", name="Sign in").click()
            elif site == "gitlab":
                await page.goto(f"{base}/users/sign_in", timeout=timeout)
                await page.get_by_test_id("username-field").fill(user)
                await page.get_by_test_id("password-field").fill(pw)
                await page.get_by_test_id("sign-in-button").click()
            await page.wait_for_load_state("load", timeout=timeout)
            cookies = await ctx.cookies()
            self.auth_dir.mkdir(parents=True, exist_ok=True)
            await ctx.storage_state(path=str(self.auth_dir / f"{site}_state.json"))
        finally:
            await ctx.close()
        if not cookies:
            raise RuntimeError(f"login to {site} at {base} produced no cookies (wrong credentials or login page?)")
        self.login_cookies[site] = cookies
        return cookies

    # -- episode lifecycle ----------------------------------------------------------------------
    async def _close_slot(self, slot: Slot):
        if slot.context is not None:
            try:
                await asyncio.wait_for(slot.context.close(), 5)
            except Exception:
                pass
        slot.context, slot.pages, slot.navs = None, [], {}

    def _allowed(self, slot: Slot, u: str) -> bool:
        if u.startswith(("about:", "data:", "blob:")):
            return u.startswith(("about:blank", "blob:"))
        return _origin(u) in slot.task.origins or any(_origin(u) == _origin(b) for b in self._site_bases(slot.task))

    def _site_bases(self, task: Task) -> list:
        return [self.urls[s.upper()] for s in task.sites if s.upper() in self.urls]

    def _track(self, slot: Slot, page):
        slot.navs[id(page)] = NavTracker(page)
        # Chromium itself refuses file: and other local schemes from web pages; report it like a block
        page.on("console", lambda m: slot.blocked.append(m.text.split(": ", 1)[-1]) if "Not allowed to load local resource" in m.text else None)

    async def _open(self, slot: Slot, task: Task):
        await self._close_slot(slot)
        async with self.launch_lock:  # one relaunch after a crash, however many slots notice it
            if not self.browser.is_connected():
                self.browser_restarts += 1
                self.login_cookies.clear()
                await self._launch()
        instance = self._reset_state(slot, task)
        cookies = []
        if task.require_login:
            for s in task.sites:
                cookies += await self._login(s)
        if instance:
            cookies += [{"name": "miniarena_instance", "value": instance, "url": o} for o in
                        {_origin(u) for u in task.start_urls + self._site_bases(task)}]
        ctx = await self.browser.new_context(
            viewport=VIEWPORT, device_scale_factor=1, accept_downloads=False,
            geolocation=task.geolocation, permissions=["geolocation"] if task.geolocation else [])
        ctx.set_default_timeout(self.limits.nav_timeout_s * 1000)
        if cookies:
            await ctx.add_cookies(cookies)
        await ctx.add_init_script(SETTLE_INIT_JS)
        # Navigation is limited to the task's sites: a regex matched inside the driver, so allowed
        # requests never make a round trip to Python.
        allowed = sorted({_origin(u) for u in task.start_urls + self._site_bases(task)})
        pattern = re.compile(r"^(?!(" + "|".join(re.escape(o) for o in allowed) + r")([/?#]|$)|about:blank|blob:).*")

        async def block(route):
            slot.blocked.append(route.request.url)
            await route.abort("blockedbyclient")
        await ctx.route(pattern, block)
        slot.context, slot.task = ctx, task
        for u in task.start_urls:
            page = await ctx.new_page()
            slot.pages.append(page)
            self._track(slot, page)
            await page.goto(u, timeout=self.limits.nav_timeout_s * 1000)
        slot.opened = {}
        ctx.on("page", lambda p: self._on_popup(slot, p))  # tabs the agent's actions open
        slot.tab = 0
        await slot.page.bring_to_front()
        slot.popups.clear()

    def _on_popup(self, slot: Slot, page):
        if slot.context is not None and page.context == slot.context and page not in slot.pages:
            slot.pages.append(page)
            self._track(slot, page)
            slot.popups.append(len(slot.pages) - 1)
            slot.popup_event.set()

    async def _settle(self, slot: Slot, page) -> int:
        L = self.limits
        return await settle(page, L.settle_quiet_ms, L.settle_cap_ms, slot.navs.get(id(page)), L.nav_timeout_s)

    async def _observe(self, slot: Slot, settled: bool = False) -> Obs:
        if not settled:
            await self._settle(slot, slot.page)
        for attempt in range(3):
            try:
                r = await slot.page.evaluate(OBSERVE_JS)
                break
            except Exception as e:
                if attempt == 2 or ("destroyed" not in str(e) and "navigat" not in str(e)):
                    raise
                await self._settle(slot, slot.page)
        slot.ids = r["ids"]
        slot.obs = Obs(r["html"], r["url"], [p.url for p in slot.pages], slot.tab)
        return slot.obs

    def _begin(self, slot: Slot, task: Task):
        slot.task, slot.done = task, False
        slot.responses, slot.records, slot.blocked = [], [], []
        slot.invalid = slot.repeat = 0
        slot.last_action = None
        self.episodes += 1
        if self.record_dir:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            slot.record_path = self.record_dir / f"task{task.task_id}-{self.uid}-{self.episodes}.jsonl"

    async def _reset_one(self, slot: Slot, task: Task) -> Obs:
        self._begin(slot, task)
        try:
            await asyncio.wait_for(self._open(slot, task), self.limits.step_timeout_s)
            return await asyncio.wait_for(self._observe(slot), self.limits.step_timeout_s)
        except Exception as e:
            await self._fail(slot, f"reset failed: {type(e).__name__}: {e}")
            return Obs("", task.start_urls[0])

    def reset(self, tasks: list) -> list[Obs]:
        """Start one episode per task (at most one per slot); slots beyond len(tasks) stay idle."""
        if len(tasks) > len(self.slots):
            raise ValueError(f"{len(tasks)} tasks for a pool of {len(self.slots)} slots")
        tasks = [t if isinstance(t, Task) else parse_task(t, self.urls) for t in tasks]
        async def _all():
            return await asyncio.gather(*(self._reset_one(s, t) for s, t in zip(self.slots, tasks)))
        out = self._run(_all())
        for s in self.slots[len(tasks):]:
            s.done = True
        return out

    def reset_slot(self, i: int, task) -> Obs:
        """Start a new episode in one slot while the others go on (for pipelined rollouts)."""
        task = task if isinstance(task, Task) else parse_task(task, self.urls)
        return self._run(self._reset_one(self.slots[i], task))

    # -- stepping -----------------------------------------------------------------------------------
    def step(self, responses: list) -> tuple[list, list, list]:
        """One model response per slot (None or anything for finished slots).

        Returns observations, done flags and infos. An info holds the parsed action, any error
        (unparsable / impossible / blocked / timeout / crash), timings, and at the end the score."""
        if len(responses) != len(self.slots):
            raise ValueError(f"step needs {len(self.slots)} responses (one per slot), got {len(responses)}")
        async def _all():
            return await asyncio.gather(*(self._step_one(s, r) for s, r in zip(self.slots, responses)))
        res = self._run(_all())
        return [r[0] for r in res], [r[1] for r in res], [r[2] for r in res]

    async def _step_one(self, slot: Slot, response) -> tuple:
        if slot.done:
            return slot.obs, True, {"done_before": True}
        shot = await self._screenshot(slot, len(slot.responses)) if self.screenshots else {}
        t0 = time.perf_counter()
        info = {"step": len(slot.responses), "error": None}
        slot.responses.append(response if isinstance(response, str) else repr(response))
        prompt = build_prompt(slot.task.intent, slot.responses[:-1], slot.obs.html if slot.obs else "")
        html_before = slot.obs.html if slot.obs else ""
        url_before = slot.obs.url if slot.obs else ""
        action = None
        try:
            action = parse_action(response)
            info["action"] = str(action)
        except ValueError as e:
            info["error"] = f"unparsable: {e}"
        end_reason = None
        if action is not None:
            slot.repeat = slot.repeat + 1 if action == slot.last_action else 1
            slot.last_action = action
            if action.kind == "exit":
                end_reason = "exit"
            else:
                nblocked = len(slot.blocked)
                try:
                    settled = await asyncio.wait_for(self._act(slot, action), self.limits.step_timeout_s)
                    await asyncio.wait_for(self._observe(slot, settled), self.limits.step_timeout_s)
                except ImpossibleAction as e:
                    info["error"] = f"impossible: {e}"
                except PageHung as e:
                    end_reason = f"hung: {e}"
                except asyncio.TimeoutError:
                    end_reason = f"timeout: the step took longer than {self.limits.step_timeout_s:g}s"
                except Exception as e:
                    end_reason = self._crash_reason(e)
                if len(slot.blocked) > nblocked:
                    info["blocked"] = slot.blocked[nblocked:]
                    info["error"] = info["error"] or f"blocked navigation to {slot.blocked[-1][:100]}"
                    if end_reason is None and slot.page.url.startswith("chrome-error:"):
                        try:  # the aborted navigation left an error page: go back to where the agent was
                            await asyncio.wait_for(self._restore(slot), self.limits.step_timeout_s)
                        except Exception as e:
                            end_reason = self._crash_reason(e)
        if info["error"] and info["error"].startswith(("unparsable", "impossible")):
            slot.invalid += 1
        if slot.popups:
            info["new_tabs"] = list(slot.popups)
            slot.popups.clear()
        n = len(slot.responses)
        if end_reason is None:
            if slot.invalid >= self.limits.max_invalid:
                end_reason = f"{slot.invalid} invalid actions"
            elif slot.repeat >= self.limits.max_repeat:
                end_reason = f"{slot.repeat} identical actions in a row"
            elif n >= self.limits.max_steps:
                end_reason = f"{n} steps"
        info["ms"] = 1000 * (time.perf_counter() - t0)
        record = {"task_id": slot.task.task_id, "step": n - 1, "prompt": prompt, "html": html_before,
                  "response": slot.responses[-1], "target": slot.responses[-1], "url": url_before,
                  "action": info.get("action"), "error": info["error"], "ms": round(info["ms"], 1), "score": None, **shot}
        slot.records.append(record)
        self._write_records(slot)
        if end_reason is not None:
            answer = action.argument if (action is not None and action.kind == "exit") else ""
            await self._finish(slot, end_reason, answer, info)
        return slot.obs, slot.done, info

    async def _screenshot(self, slot: Slot, step: int) -> dict:
        """The page the agent sees at this step (its viewport at half size, JPEG), written beside the episode's
        record as <record name>/step<k>.jpg for the run report (report.py). Returns the record's field:
        {"screenshot": that path, relative to the record's folder}, or {"screenshot_error": why}; {} when the pool
        records nothing. Taken before the step's clock starts; the observation never includes it."""
        if slot.record_path is None or not slot.pages:
            return {}
        path = slot.record_path.with_suffix("") / f"step{step}.jpg"

        async def capture(page) -> bytes:
            cdp = await page.context.new_cdp_session(page)
            try:
                x, y, w, h = await page.evaluate("() => [visualViewport.pageLeft, visualViewport.pageTop, innerWidth, innerHeight]")
                shot = await cdp.send("Page.captureScreenshot", {   # the clip is in page coordinates
                    "format": "jpeg", "quality": 60, "clip": {"x": x, "y": y, "width": w, "height": h, "scale": 0.5}})
                return base64.b64decode(shot["data"])
            finally:
                await cdp.detach()
        try:
            data = await asyncio.wait_for(capture(slot.page), self.limits.step_timeout_s)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        except Exception as e:
            return {"screenshot_error": f"{type(e).__name__}: {str(e)[:200]}"}
        return {"screenshot": f"{path.parent.name}/{path.name}"}

    async def _restore(self, slot: Slot):
        await slot.page.go_back(wait_until="commit")
        await self._observe(slot)

    def _crash_reason(self, e: Exception) -> str:
        text = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if not self.browser.is_connected() or "closed" in text.lower() or "crash" in text.lower():
            return f"browser crashed: {text[:200]}"
        return f"error: {text[:300]}"

    async def _finish(self, slot: Slot, reason: str, answer: str, info: dict):
        slot.done = True
        info["end"] = reason
        info["answer"] = answer
        crashed = reason.startswith(("browser crashed", "timeout", "hung", "error", "reset failed"))
        score, parts = (0.0 if slot.task.eval is not None else None), {}
        if not crashed and slot.task.eval is not None:
            try:
                score, parts = await asyncio.wait_for(
                    evaluate(slot.task, answer, slot.page, self.urls, self.judge, int(self.limits.nav_timeout_s * 1000)),
                    self.limits.step_timeout_s)
            except Exception as e:
                info["eval_error"] = f"{type(e).__name__}: {e}"
        info["score"], info["eval"] = score, parts
        for r in slot.records:
            r["score"] = score
        slot.records.append({"task_id": slot.task.task_id, "end": reason, "answer": answer, "score": score,
                             "eval": parts, "eval_error": info.get("eval_error")})
        self._write_records(slot)
        await self._close_slot(slot)

    async def _fail(self, slot: Slot, reason: str):
        info = {}
        await self._finish(slot, reason, "", info)
        slot.obs = slot.obs or Obs("")

    def _write_records(self, slot: Slot):
        if slot.record_path is None:
            return
        tmp = slot.record_path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in slot.records))
        os.replace(tmp, slot.record_path)

    def trajectory(self, i: int) -> list:
        """The records of slot i's current (or last) episode."""
        return list(self.slots[i].records)

    # -- executing one action -----------------------------------------------------------------------
    async def _act(self, slot: Slot, a: Action):
        page, kb = slot.page, slot.page.keyboard
        if a.element is not None:
            i = int(a.element)
            if i >= len(slot.ids):
                raise ImpossibleAction(f"element {a.element} is not on the page (ids 0-{len(slot.ids) - 1})"
                                       if slot.ids else f"element {a.element} is not on the page (no ids)")
            el = slot.ids[i]
            x, y = el["x"], el["y"]
            text_field = (el["tag"] == "textarea" or el["editable"] or (el["tag"] == "input" and el["type"] in
                          ("", "text", "search", "email", "password", "number", "tel", "url", "date", "month",
                           "week", "time", "datetime-local")))
        k = a.kind
        if k == "Click":
            await page.mouse.click(x, y)
        elif k == "Right Click":
            await page.mouse.click(x, y, button="right")
        elif k == "Hover":
            await page.mouse.move(x, y)
        elif k in ("Type", "Search"):
            if not text_field:
                raise ImpossibleAction(f"element {a.element} is a <{el['tag']}>, not a text field")
            await page.mouse.click(x, y)
            await kb.press("Control+A")
            await kb.press("Backspace")
            await kb.insert_text(a.argument)
            if k == "Search":
                await kb.press("Enter")
        elif k == "Select Dropdown Option":
            if el["tag"] != "select":
                raise ImpossibleAction(f"element {a.element} is a <{el['tag']}>, not a dropdown")
            ok = await page.evaluate("""([id, want]) => {
                const s = document.querySelector('[data-webrl-id="' + id + '"]');
                if (!s) return 'gone';
                const w = want.trim().toLowerCase(), opts = [...s.options];
                const o = opts.find(o => o.text.trim().toLowerCase() === w) || opts.find(o => o.text.trim().toLowerCase().includes(w));
                if (!o) return 'none';
                s.value = o.value; o.selected = true;
                s.dispatchEvent(new Event('input', {bubbles: true})); s.dispatchEvent(new Event('change', {bubbles: true}));
                return 'ok'; }""", [a.element, a.argument])
            if ok != "ok":
                raise ImpossibleAction(f"dropdown {a.element} has no option {a.argument!r}" if ok == "none" else
                                       f"dropdown {a.element} is gone from the page")
        elif k == "Press Enter":
            await kb.press("Enter")
        elif k in ("Scroll Up", "Scroll Down"):  # 2/3 of the viewport, as WebRL's wheel scroll
            await page.evaluate("(d) => window.scrollBy(0, d)", (-1 if k == "Scroll Up" else 1) * VIEWPORT["height"] * 2 // 3)
        elif k == "Wait":
            await asyncio.sleep(self.limits.wait_action_s)
        elif k == "Switch Tab":
            t = int(a.argument)
            if t >= len(slot.pages):
                raise ImpossibleAction(f"there is no tab {t} (tabs 0-{len(slot.pages) - 1})")
            slot.tab = t
            await slot.page.bring_to_front()
        elif k == "Go Backward":
            await page.go_back(wait_until="commit")
        elif k == "Go Forward":
            await page.go_forward(wait_until="commit")
        if k in ("Click", "Press Enter", "Search"):
            opened = await self._settle(slot, page)
            t_end = time.monotonic() + self.limits.settle_cap_ms / 1000
            while opened > slot.opened.get(id(page), 0) and not slot.popups and time.monotonic() < t_end:
                slot.popup_event.clear()  # the page asked for a tab: wait for the browser to create it
                try:
                    await asyncio.wait_for(slot.popup_event.wait(), max(0.0, t_end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
            slot.opened[id(page)] = opened
        if slot.popups and k != "Switch Tab":  # a click opened a tab: follow it, like WebRL's env
            slot.tab = slot.popups[-1]
            await slot.page.bring_to_front()
            return False
        return k in ("Click", "Press Enter", "Search")  # these were settled above


class ImpossibleAction(Exception):
    """A well-formed action that cannot apply to this page; the page is left as it was."""


def play(pool: Pool, tasks: list, policy, on_done=None) -> list[dict]:
    """Run tasks through the pool, keeping every slot busy, until all are done.

    policy(batch) -> responses, where batch is a list of (slot index, Task, Obs, past responses) for
    the episodes still running. Returns one result per task (in task order): score, steps, end reason."""
    tasks = [t if isinstance(t, Task) else parse_task(t, pool.urls) for t in tasks]
    results: list = [None] * len(tasks)
    queue = list(range(len(tasks)))
    running: dict = {}  # slot -> task index
    obs: dict = {}
    for i in range(min(len(pool.slots), len(queue))):
        k = queue.pop(0)
        running[i], obs[i] = k, pool.reset_slot(i, tasks[k])
    while running:
        for i in [i for i in running if pool.slots[i].done]:  # failed at reset
            k = running.pop(i)
            results[k] = _result(pool, i, tasks[k])
            if on_done:
                on_done(results[k])
            if queue:
                k2 = queue.pop(0)
                running[i], obs[i] = k2, pool.reset_slot(i, tasks[k2])
        if not running:
            break
        batch = [(i, tasks[running[i]], obs[i], list(pool.slots[i].responses)) for i in sorted(running)]
        responses = policy(batch)
        acts = [None] * len(pool.slots)
        for (i, *_), r in zip(batch, responses):
            acts[i] = r
        new_obs, dones, infos = pool.step(acts)
        for i in sorted(running):
            obs[i] = new_obs[i]
            if dones[i]:
                k = running.pop(i)
                results[k] = _result(pool, i, tasks[k], infos[i])
                if on_done:
                    on_done(results[k])
                if queue:
                    k2 = queue.pop(0)
                    running[i], obs[i] = k2, pool.reset_slot(i, tasks[k2])
    return results


def _result(pool: Pool, i: int, task: Task, info: dict | None = None) -> dict:
    recs = pool.trajectory(i)
    end = recs[-1] if recs and "end" in recs[-1] else {}
    return {"task_id": task.task_id, "sites": task.sites, "score": end.get("score", 0.0), "end": end.get("end"),
            "answer": end.get("answer"), "eval_error": end.get("eval_error"),
            "steps": [r for r in recs if "step" in r]}


# =============================================================================================
# python env.py --check FILE...


def check_files(paths: list) -> int:
    """Load every config of every file and build its evaluator, without a browser; print the counts. Each
    config that cannot be handled, and each unreadable file, is an ERROR line naming it (exit status 1); each
    field read the way its author meant (read_quirks) is a WARNING line (exit status 0)."""
    total, by_site, by_type, bad_files, skipped, quirks = 0, {}, {}, 0, 0, 0
    for path in paths:
        try:
            f = read_tasks(path, resolve=False)
        except (ValueError, FileNotFoundError) as e:
            print(f"ERROR {e}", file=sys.stderr)
            bad_files += 1
            continue
        for message in f.skipped:
            print(f"ERROR {message}", file=sys.stderr)
        skipped, quirks = skipped + len(f.skipped), quirks + len(f.quirks)
        for t in f.tasks:
            total += 1
            for s in t.sites:
                by_site[s] = by_site.get(s, 0) + 1
            key = "+".join(t.eval["eval_types"]) if t.eval else "none (no ground truth)"
            by_type[key] = by_type.get(key, 0) + 1
    print(f"{total} tasks in {len(paths)} file(s)")
    print("by site:      " + ", ".join(f"{k} {v}" for k, v in sorted(by_site.items())))
    print("by eval type: " + ", ".join(f"{k} {v}" for k, v in sorted(by_type.items())))
    print(f"warnings:     {quirks} field(s) read the way their author meant (WARNING lines)")
    if skipped or bad_files:
        print(f"errors:       {skipped} task(s) cannot be handled, {bad_files} file(s) cannot be read (ERROR lines)")
    return 1 if skipped or bad_files else 0


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="WebRL env: validate WebArena task configs (--check).")
    ap.add_argument("--check", nargs="+", metavar="FILE", required=True,
                    help="load configs, build every evaluator, print counts; non-zero exit naming the bad task and field")
    logging.basicConfig(format="%(levelname)s %(message)s")   # WARNING lines beside the ERROR lines
    sys.exit(check_files(ap.parse_args().check))
