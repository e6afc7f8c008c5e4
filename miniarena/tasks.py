"""Task templates and the train/test splits, written as WebArena task configs.

A site module lists its templates in ``TEMPLATES``. A :class:`Template` turns the site's pristine
database into concrete tasks (``instances(db, split)``) and knows how to solve them (``oracle``).

The split rule (documented in the README):
  * every entity value a task names (a product, a customer, a forum, a project, a place, a period...)
    belongs to exactly one split, by a stable hash: ``server.split_of(kind, name)``, one in five is
    'test'. A template's ``instances(db, split)`` only uses values of that split, so test tasks ask
    about values never seen in training;
  * templates marked ``test_only`` (new compositions of skills seen in train) appear only in test.

``build(split)`` samples a fixed number of tasks per site (WebArena-Lite's shares for test), round
robin over the templates, deterministically from the seed.
"""
from __future__ import annotations

import copy
import random
import sqlite3
from dataclasses import dataclass
from typing import Callable

TEST_PER_SITE = {"shopping": 45, "shopping_admin": 35, "reddit": 20, "gitlab": 35, "map": 30}  # 165
TRAIN_PER_SITE = {"shopping": 220, "shopping_admin": 220, "reddit": 220, "gitlab": 220, "map": 220}
PLACEHOLDER = {"shopping": "__SHOPPING__", "shopping_admin": "__SHOPPING_ADMIN__", "reddit": "__REDDIT__",
               "gitlab": "__GITLAB__", "map": "__MAP__"}


@dataclass
class Template:
    """One intent template of one site.

    instances(db, split) -> list of dicts, each with
        values:        the instantiation_dict ({{name}} -> value)
        start_url:     with the site placeholder, e.g. "__SHOPPING__/catalog?c=3"
        eval:          WebArena eval block (eval_types, reference_answers, reference_url, program_html...)
        oracle:        JSON-able arguments for the oracle (what to click, the answer...)
        require_login: optional, default True for sites with accounts
    oracle(task) is a generator function (see oracle.py) given the whole config.
    """

    id: int
    site: str
    intent_template: str
    instances: Callable[[sqlite3.Connection, str], list]
    oracle: Callable
    test_only: bool = False
    skills: str = ""
    min_steps: int = 1     # the oracle's usual number of actions, documented per template

    def intent(self, values: dict) -> str:
        text = self.intent_template
        for k, v in values.items():
            text = text.replace("{{" + k + "}}", str(v))
        if "{{" in text:
            raise ValueError(f"template {self.id}: unfilled variable in {text!r}")
        return text


def all_templates() -> list[Template]:
    from . import gitlab, map, reddit, shopping, shopping_admin
    out = []
    for mod in (shopping, shopping_admin, reddit, gitlab, map):
        out.extend(mod.TEMPLATES)
    ids = [t.id for t in out]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise ValueError(f"duplicate template ids {sorted(dup)}")
    return out


def complete_eval(ev: dict) -> dict:
    """Fill the WebArena eval fields a template left out."""
    ev = copy.deepcopy(ev)
    ev.setdefault("reference_answers", None)
    ev.setdefault("reference_url", "")
    ev.setdefault("program_html", [])
    ev.setdefault("string_note", "")
    if "url_match" in ev["eval_types"]:
        ev.setdefault("url_note", "GOLD in PRED")
    return ev


def build(split: str, seed: int = 0, per_site: dict | None = None) -> list[dict]:
    """All tasks of a split as WebArena configs (task_id from 0)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    from . import load_sites
    per_site = per_site or (TEST_PER_SITE if split == "test" else TRAIN_PER_SITE)
    sites = {s.name: s for s in load_sites()}
    templates = [t for t in all_templates() if split == "test" or not t.test_only]
    rng = random.Random(f"{seed}:{split}")
    configs = []
    for site_name, want in per_site.items():
        site = sites[site_name]
        db = sqlite3.connect(":memory:")
        site.build(db, seed)
        pools = []
        for t in (t for t in templates if t.site == site_name):
            items = t.instances(db, split)
            rng.shuffle(items)
            if items:
                pools.append((t, items))
        if not pools:
            raise ValueError(f"site {site_name} has no {split} tasks")
        picked, i = [], 0
        while len(picked) < want and any(items for _, items in pools):
            t, items = pools[i % len(pools)]
            if items:
                picked.append((t, items.pop()))
            i += 1
        for t, spec in picked:
            configs.append(config_of(t, spec, site, split, len(configs)))
        db.close()
    return configs


def config_of(t: Template, spec: dict, site, split: str, task_id) -> dict:
    """The WebArena config of one instance (`spec`, from t.instances) of template t on `site`."""
    login = spec.get("require_login", site.login)
    return {
        "sites": [t.site],
        "task_id": task_id,
        "require_login": True if t.site == "map" else login,
        "storage_state": f"./.auth/{t.site}_state.json" if (login and site.login) else None,
        "start_url": spec["start_url"],
        "geolocation": None,
        "intent_template": t.intent_template,
        "instantiation_dict": copy.deepcopy(spec["values"]),
        "intent": t.intent(spec["values"]),
        "require_reset": False,
        "eval": complete_eval(spec["eval"]),
        "intent_template_id": t.id,
        "miniarena": {"split": split, "test_only": t.test_only, "oracle": copy.deepcopy(spec.get("oracle", {}))},
    }


def template_of(config: dict) -> Template:
    tid = config.get("intent_template_id")
    for t in all_templates():
        if t.id == tid:
            return t
    raise KeyError(f"task {config.get('task_id')}: no miniarena template with id {tid}")
