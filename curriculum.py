"""curriculum.py: WebRL's self-evolving curriculum (paper section 3.2; WEBRL_FACTS.md sections 1 and 7).

Each phase after the first trains on new tasks grown from the previous phase's failures:

  1. generate   in-breadth evolution: failed tasks are seeds for new tasks of the same domain and a
                similar difficulty, by one of two generators behind one interface,
                    generator.generate(failed_configs, n, seen, rng, phase=...) -> list of configs
                  * LLMGenerator        an LLM behind an OpenAI-compatible chat endpoint, prompted in the
                                        spirit of the paper (public code: `scripts/gen_task.py`, seeds
                                        grouped by site, 10 per prompt, temperature 1); its tasks have no
                                        ground truth (`eval` is None) and are scored by the ORM;
                  * MiniArenaGenerator  offline, for miniarena: the failed task's template and the site's
                                        templates that share its skills, instantiated on other content of
                                        the *train* split; these carry miniarena's ground-truth `eval`,
                                        for measuring the ORM and the curriculum only, never as reward.
  2. deduplicate against every intent seen so far (normalised text);
  3. critic filter  keep tasks whose critic value V(s_0, I) of the start state lies in [0.05, 0.75]
                (too hard and too easy tasks go); skipped in phase 1, where no critic exists yet.

    gen = MiniArenaGenerator(seed=0, test_configs=tasks.build("test"))   # or LLMGenerator() (env vars)
    configs, counts = evolve(gen, failed, 500, seen, rng, phase=2, critic=critic, tok=tok, pool=pool)
    save_tasks(run_dir / "tasks_phase2.json", configs)

Simplified, on purpose: the paper's last step, a feasibility check (by hand in the paper, by an LLM in
later code), is left out: miniarena's tasks are feasible by construction, LLM tasks are only filtered
by the critic. The public code keeps a task when either critic head is in range; here min(V1, V2),
the value the advantage uses, must be.
"""
from __future__ import annotations

import functools
import http.client
import json
import logging
import math
import os
import re
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import env

log = logging.getLogger("webrl.curriculum")

LOW, HIGH = 0.05, 0.75          # the critic filter's band (WEBRL_FACTS s.7), bounds included
GROUND_TRUTH_NOTE = "miniarena ground truth: for measuring the ORM and the curriculum only, never a training reward"


# =============================================================================================
# Helpers shared by both generators


def intent_key(intent: str) -> str:
    """The dedup key of an intent: lowercase words and numbers, punctuation and spacing ignored."""
    return " ".join(re.findall(r"[a-z0-9]+", str(intent).lower()))


def _site_key(config: dict) -> str:
    return "+".join(config.get("sites") or ["unknown"])


def save_tasks(path, configs: list) -> Path:
    """Write task configs as one JSON list, atomically (a temporary file, then a rename)."""
    path = Path(path)
    text = json.dumps(configs, indent=1, ensure_ascii=False)    # fails before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


# =============================================================================================
# LLM generator (paper: GPT-4o, temperature 1)

SITE_WORDS = {"shopping": "OneStopShop, an online store", "shopping_admin": "the admin panel (CMS) of an online store",
              "reddit": "Postmill, a Reddit-like forum", "gitlab": "GitLab, a code hosting site",
              "map": "OpenStreetMap, a map site", "wikipedia": "Wikipedia, the encyclopedia"}

PROMPT = """You create tasks for an assistant that uses a website on behalf of its users. The website: {about}.

Here are tasks on this website that the assistant was given:
{examples}

Write {k} new tasks inspired by these. Rules:
- Stay in the same domain as the given tasks, with a similar difficulty (a little easier or harder is fine).
- Each task must be doable on this website alone and have one clear outcome: an answer to report or a change to make.
- Keep the names the given tasks use (products, users, forums, projects, places, dates...); do not invent new ones.
- Vary the wording; do not copy a given task.
- Write each task as the user would say it; never mention "given task" or "new task".

Answer with a JSON list of strings, one task per string, and nothing else."""


class LLMError(RuntimeError):
    """The endpoint gave no usable reply to a prompt after every attempt."""


def build_llm_prompt(site: str, intents: list, k: int = 10) -> str:
    examples = "\n".join(f"- `{i.strip()}`" for i in intents)
    return PROMPT.format(about=SITE_WORDS.get(site, site), examples=examples, k=k)


def _json_items(text: str):
    """A JSON list in the text (the whole text, a ``` block, or the outermost [...]), else None."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    bracket = text[text.find("["): text.rfind("]") + 1] if "[" in text else ""
    for cand in (text, fenced.group(1) if fenced else "", bracket):
        try:
            data = json.loads(cand)
        except ValueError:
            continue
        if isinstance(data, dict):
            data = data.get("tasks")
        if isinstance(data, list):
            return [d if isinstance(d, str) else next((d[k] for k in ("intent", "task", "instruction")
                                                       if isinstance(d, dict) and isinstance(d.get(k), str)), "")
                    for d in data]
    return None


def _clean_task(item: str) -> str:
    s = re.sub(r"\s+", " ", str(item).replace("`", "")).strip().strip("\"'“”").strip()
    s = re.sub(r"^(task|new task|created task)\s*\d*\s*:\s*", "", s, flags=re.I)
    ok = 3 <= len(s.split()) and len(s) <= 400 and re.search(r"[A-Za-z]", s) and not s.endswith(":")
    return s if ok else ""


def extract_tasks(text: str) -> list[str]:
    """The task intents in an LLM reply: a JSON list, else numbered or bulleted lines, else `quoted`
    items (the public code's format). Cleaned, without repeats, in order."""
    items = _json_items(text)
    if items is None:
        items = re.findall(r"(?m)^\s*(?:\d+\s*[.):]|[-*•])\s+(.+?)\s*$", text)
    if not items:
        items = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text)
    out, keys = [], set()
    for item in items:
        s = _clean_task(item)
        if s and intent_key(s) not in keys:
            keys.add(intent_key(s))
            out.append(s)
    return out


def _closest(intent: str, seeds: list) -> dict:
    """The seed config whose intent shares the most words with `intent` (its start page is reused)."""
    words = set(intent_key(intent).split())
    return max(seeds, key=lambda c: len(words & set(intent_key(c["intent"]).split()))
               / max(1, len(words | set(intent_key(c["intent"]).split()))))


class LLMGenerator:
    """New tasks from failed ones by an LLM behind an OpenAI-compatible chat endpoint
    (POST {base_url}/chat/completions). Arguments left out come from WEBRL_LLM_URL, WEBRL_LLM_MODEL,
    WEBRL_LLM_KEY. Network faults never raise out of `generate`: it logs them, records them in
    `self.errors` and returns the tasks it has; bad configuration raises ValueError at once."""

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 seeds_per_prompt: int = 10, tasks_per_prompt: int = 10, rounds: int = 10,
                 temperature: float = 1.0, timeout_s: float = 60.0, retries: int = 2, backoff_s: float = 2.0):
        url = base_url or os.environ.get("WEBRL_LLM_URL", "")
        self.model = model or os.environ.get("WEBRL_LLM_MODEL", "")
        self.key = api_key if api_key is not None else os.environ.get("WEBRL_LLM_KEY", "")
        problems = [] if url else ["no endpoint: pass base_url= or set WEBRL_LLM_URL (e.g. http://127.0.0.1:8000/v1)"]
        if url and not re.match(r"^https?://[^/\s]+", url):
            problems.append(f"the base URL must be http(s)://host[:port][/path], got {url!r}")
        if not self.model:
            problems.append("no model name: pass model= or set WEBRL_LLM_MODEL (the paper: gpt-4o)")
        for name, v, least in (("seeds_per_prompt", seeds_per_prompt, 1), ("tasks_per_prompt", tasks_per_prompt, 1),
                               ("rounds", rounds, 1), ("retries", retries, 0)):
            if not isinstance(v, int) or v < least:
                problems.append(f"{name} must be an integer >= {least}, got {v!r}")
        if not (timeout_s > 0 and backoff_s >= 0 and 0 <= temperature <= 2):
            problems.append(f"need timeout_s > 0, backoff_s >= 0, 0 <= temperature <= 2, got {timeout_s}, {backoff_s}, {temperature}")
        if problems:
            raise ValueError("LLMGenerator: " + "; ".join(problems))
        url = url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.seeds_per_prompt, self.tasks_per_prompt, self.rounds = seeds_per_prompt, tasks_per_prompt, rounds
        self.temperature, self.timeout_s, self.retries, self.backoff_s = temperature, timeout_s, retries, backoff_s
        self.errors: list = []
        self.stats: dict = {}

    def _chat(self, prompt: str) -> str:
        body = json.dumps({"model": self.model, "temperature": self.temperature,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {self.key}"} if self.key else {})}
        req = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
            reply = json.loads(r.read().decode("utf-8"))
        return reply["choices"][0]["message"]["content"]        # KeyError / TypeError when it is not one

    def ask(self, prompt: str) -> list[str]:
        """The tasks in the reply to one prompt. Retries (with backoff) timeouts, connection errors,
        HTTP 5xx/408/429 and replies without tasks; other HTTP errors are not retried. Raises LLMError."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                tasks = extract_tasks(self._chat(prompt))
                if tasks:
                    return tasks
                last = "the reply holds no tasks"
            except urllib.error.HTTPError as e:
                e.close()
                last = f"HTTP {e.code} {e.reason}"
                if e.code < 500 and e.code not in (408, 429):
                    raise LLMError(f"{self.url} answered {last} (not retried: check the URL, model and key)") from None
            except (OSError, http.client.HTTPException) as e:       # URLError, timeouts, resets
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            except (ValueError, KeyError, IndexError, TypeError) as e:   # not chat-completions JSON
                last = f"not a chat-completions reply ({type(e).__name__}: {str(e)[:120]})"
            log.warning("curriculum LLM: attempt %d/%d failed: %s", attempt + 1, self.retries + 1, last)
        raise LLMError(f"{self.url}: no usable reply after {self.retries + 1} attempts (timeout {self.timeout_s}s "
                       f"each); last: {last}")

    def generate(self, failed: list, n: int, seen: set, rng, phase: int = 0) -> list[dict]:
        """Up to n new task configs from the failed ones; `seen` (intent keys) is read, not changed.
        Prompts go round robin over the sites, at most `rounds` per site; the first prompt that gets no
        usable reply ends the call (logged, in self.errors) with the tasks made so far."""
        self.errors, self.stats = [], {"seeds": len(failed), "prompts": 0, "proposed": 0, "duplicates": 0}
        keys = set(seen) | {intent_key(c["intent"]) for c in failed}
        groups: dict = {}
        for c in failed:
            groups.setdefault(_site_key(c), []).append(c)
        out: list = []
        order = [(r, s) for r in range(self.rounds) for s in sorted(groups)]
        for _, site in order:
            if len(out) >= n:
                break
            seeds = rng.sample(groups[site], min(self.seeds_per_prompt, len(groups[site])))
            self.stats["prompts"] += 1
            try:
                intents = self.ask(build_llm_prompt(site, [s["intent"] for s in seeds], self.tasks_per_prompt))
            except LLMError as e:
                self.errors.append(str(e))
                log.error("curriculum LLM: %s; going on with the %d task(s) generated so far", e, len(out))
                break
            for intent in intents:
                self.stats["proposed"] += 1
                if intent_key(intent) in keys:
                    self.stats["duplicates"] += 1
                    continue
                if len(out) < n:
                    keys.add(intent_key(intent))
                    out.append(self._config(_closest(intent, seeds), intent, phase))
        return out

    def _config(self, seed: dict, intent: str, phase: int) -> dict:
        """A WebArena config on the seed's site and start page, without ground truth (the ORM scores it)."""
        return {"sites": list(seed["sites"]), "task_id": None, "require_login": seed.get("require_login", False),
                "storage_state": seed.get("storage_state"), "start_url": seed["start_url"],
                "geolocation": seed.get("geolocation"), "intent_template": intent, "instantiation_dict": {},
                "intent": intent, "require_reset": seed.get("require_reset", False), "eval": None,
                "curriculum": {"generator": "llm", "model": self.model, "phase": phase,
                               "seed_task_id": seed.get("task_id"), "seed_intent": seed["intent"]}}


# =============================================================================================
# miniarena generator (offline; ground truth attached for measurement only)


def _skills(t) -> set:
    return {s.strip().lower() for s in re.split(r"[,;+]", re.sub(r"\(.*?\)", "", t.skills)) if s.strip()}


def related_templates(t) -> list:
    """t and the templates of its site that share its skills (Jaccard >= 0.5 of the skill lists);
    never a test_only template."""
    from miniarena.tasks import all_templates
    a = _skills(t)
    out = [t] if not t.test_only else []
    for u in all_templates():
        if u.site == t.site and u.id != t.id and not u.test_only and a and len(a & _skills(u)) / len(a | _skills(u)) >= 0.5:
            out.append(u)
    return out


@functools.lru_cache(maxsize=None)
def site_instances(site: str, seed: int, split: str) -> dict:
    """Template id -> instances of `split` (every template of the site) on the site's pristine data,
    built as tasks.build builds it. Cached: callers must not change what they get."""
    from miniarena import load_sites
    from miniarena.tasks import all_templates
    sites = {s.name: s for s in load_sites()}
    if site not in sites:
        raise ValueError(f"unknown miniarena site {site!r} (known: {', '.join(sites)})")
    db = sqlite3.connect(":memory:")
    try:
        sites[site].build(db, seed)
        return {t.id: t.instances(db, split) for t in all_templates() if t.site == site}
    finally:
        db.close()


def _values(config_or_spec: dict) -> set:
    d = config_or_spec.get("instantiation_dict", config_or_spec.get("values")) or {}
    return {str(v).strip().lower() for v in d.values()}


def check_no_test_values(configs: list, test_configs: list, seed: int = 0) -> None:
    """Raise ValueError when a config names a test-split value: a value of the test configs of its site
    that no train task of the site (any non-test_only template) uses. Shared vocabulary (a quantity, a
    status, 'cheapest') is in both splits, so it never counts."""
    from miniarena.tasks import all_templates
    test: dict = {}
    for c in test_configs:
        test.setdefault(_site_key(c), set()).update(_values(c))
    only = {t.id for t in all_templates() if t.test_only}
    test_only_values: dict = {}
    bad = []
    for c in configs:
        site = _site_key(c)
        if site not in test:
            continue
        if site not in test_only_values:
            train = {v for tid, specs in site_instances(site, seed, "train").items() if tid not in only
                     for s in specs for v in _values(s)}
            test_only_values[site] = test[site] - train
        leak = _values(c) & test_only_values[site]
        if leak:
            bad.append(f"task {c.get('task_id')!r} ({c.get('intent', '')[:60]!r}) names test value(s) {sorted(leak)}")
    if bad:
        raise ValueError(f"{len(bad)} generated task(s) use test-split values: " + "; ".join(bad[:5]))


class MiniArenaGenerator:
    """New miniarena tasks from failed ones: the same skills on other content of the train split.

    For a failed task: its template and the templates of its site that share its skills, instantiated on
    the train split only (`instances(db, "train")`), skipping any intent seen. The configs are complete
    (as tasks.build writes them) with miniarena's ground-truth `eval`, marked in `curriculum` as being for
    measurement only. With `test_configs`, every call checks its tasks with check_no_test_values."""

    def __init__(self, seed: int = 0, test_configs: list | None = None):
        self.seed, self.test_configs = seed, test_configs
        self.errors: list = []
        self.stats: dict = {}

    def generate(self, failed: list, n: int, seen: set, rng, phase: int = 0) -> list[dict]:
        """Up to n new configs, one per failed seed in turn; `seen` (intent keys) is read, not changed."""
        from miniarena.tasks import template_of
        self.errors, self.stats = [], {"seeds": len(failed), "seeds_without_template": 0, "proposed": 0, "duplicates": 0}
        keys = set(seen) | {intent_key(c["intent"]) for c in failed}
        pools: dict = {}          # template id of a seed -> shuffled (template, instance) candidates
        seeds = []
        for c in failed:
            try:
                t = template_of(c)
            except KeyError as e:
                self.stats["seeds_without_template"] += 1
                log.warning("curriculum miniarena: seed skipped: %s", e)
                continue
            if t.id not in pools:
                pools[t.id] = [(u, s) for u in related_templates(t)
                               for s in site_instances(u.site, self.seed, "train")[u.id]]
                rng.shuffle(pools[t.id])
            seeds.append((c, t.id))
        rng.shuffle(seeds)
        out: list = []
        while len(out) < n and any(pools[tid] for _, tid in seeds):
            for c, tid in seeds:
                while pools[tid] and len(out) < n:
                    u, spec = pools[tid].pop()
                    self.stats["proposed"] += 1
                    if intent_key(u.intent(spec["values"])) in keys:
                        self.stats["duplicates"] += 1
                        continue
                    keys.add(intent_key(u.intent(spec["values"])))
                    out.append(self._config(u, spec, c, phase))
                    break
        if self.test_configs is not None:
            check_no_test_values(out, self.test_configs, self.seed)
        return out

    def _config(self, t, spec: dict, seed_config: dict, phase: int) -> dict:
        """The config tasks.build would write for this train instance, plus the curriculum mark."""
        from miniarena import load_sites
        from miniarena.tasks import config_of
        site = next(s for s in load_sites() if s.name == t.site)
        return {**config_of(t, spec, site, "train", None),
                "curriculum": {"generator": "miniarena", "phase": phase, "seed_task_id": seed_config.get("task_id"),
                               "seed_intent": seed_config["intent"], "eval_use": GROUND_TRUTH_NOTE}}


# =============================================================================================
# Critic filter


def critic_filter(values, low: float = LOW, high: float = HIGH) -> list[bool]:
    """Keep a task when low <= V(s_0) <= high (bounds included; NaN, e.g. a start page that failed, drops)."""
    if not 0 <= low <= high <= 1:
        raise ValueError(f"critic filter: need 0 <= low <= high <= 1, got low={low}, high={high}")
    return [bool(low <= float(v) <= high) for v in values]


def start_values(critic, tok, pool, configs: list, max_prompt_tokens: int = 1024, batch_size: int = 8) -> list[float]:
    """min(V1, V2) of each task's start state: reset the pool on the tasks, build the step-0 prompt from
    the first observation, score it. NaN where the start page failed to load. The episodes are only
    opened, never played nor scored."""
    prompts, failed = [], []
    for i in range(0, len(configs), len(pool.slots)):
        chunk = configs[i:i + len(pool.slots)]
        tasks = [env.parse_task(c, pool.urls, "curriculum") for c in chunk]
        for j, (c, obs) in enumerate(zip(chunk, pool.reset(tasks))):
            failed.append(pool.slots[j].done)
            prompts.append(env.build_prompt(c["intent"], [], obs.html))
    if not prompts:
        return []
    vals = critic.score_prompts(tok, prompts, batch_size=batch_size, max_prompt_tokens=max_prompt_tokens)
    return [float("nan") if f else float(v) for v, f in zip(vals.float().tolist(), failed)]


# =============================================================================================
# One phase's task set


def evolve(generator, failed: list, n: int, seen: set, rng, phase: int, critic=None, tok=None, pool=None,
           low: float = LOW, high: float = HIGH, oversample: float = 2.0, max_prompt_tokens: int = 1024):
    """The task set of a phase: generate from the failed configs, deduplicate, then (when a critic is
    given) keep the tasks whose start value is in [low, high]. Asks the generator for n * oversample
    candidates when filtering. Returns (at most n configs with task_id 0.., counts for the metrics; its
    "dropped" lists the other candidates, each with the reason in curriculum["dropped"]); the kept tasks'
    intent keys are added to `seen`."""
    if n < 1 or oversample < 1:
        raise ValueError(f"evolve: need n >= 1 and oversample >= 1, got n={n}, oversample={oversample}")
    if critic is not None and (tok is None or pool is None):
        raise ValueError("evolve: the critic filter needs tok= (the critic's tokenizer) and pool= (an env.Pool)")
    want = math.ceil(n * oversample) if critic is not None else n
    cands = generator.generate(failed, want, seen, rng, phase=phase)
    counts = {"failed_seeds": len(failed), "generated": generator.stats.get("proposed", len(cands)),
              "deduplicated": len(cands), "kept_by_critic": None, "generator_errors": list(generator.errors)}
    kept = cands
    if critic is not None and cands:
        values = start_values(critic, tok, pool, cands, max_prompt_tokens)
        for c, v in zip(cands, values):
            c["curriculum"]["start_value"] = None if math.isnan(v) else round(v, 4)
        keep = critic_filter(values, low, high)
        kept = [c for c, k in zip(cands, keep) if k]
        for c, v, k in zip(cands, values, keep):
            if not k:
                c["curriculum"]["dropped"] = ("its start page failed to load" if math.isnan(v) else
                                              f"critic value {v:.3f} outside [{low}, {high}]")
        counts["kept_by_critic"] = len(kept)
        counts["start_value_mean"] = sum(v for v in values if not math.isnan(v)) / max(1, sum(not math.isnan(v) for v in values))
    for c in kept[n:]:
        c["curriculum"]["dropped"] = f"beyond the phase's {n} tasks"
    kept = kept[:n]
    counts["dropped"] = [c for c in cands if "dropped" in c["curriculum"]]
    for i, c in enumerate(kept):
        c["task_id"] = i
    seen.update(intent_key(c["intent"]) for c in kept)
    counts["tasks"] = len(kept)
    return kept, counts
