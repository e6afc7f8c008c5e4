"""miniarena: the sites render, reset restores, instances are isolated, bad input gets a 4xx, the task
configs are valid, the oracles solve the tasks and an agent that exits at once scores 0 everywhere."""
import collections
import http.client
import json
import re
import sqlite3
import urllib.parse

import pytest

import env
from miniarena import INSTANCE_COOKIE, SITE_NAMES, oracle
from miniarena.tasks import all_templates


@pytest.fixture(scope="module")
def solved_test(arena, test_split):
    """Every test task played by its oracle (shared by several tests below)."""
    return oracle.run(test_split, slots=4, arena=arena)


def request(arena, site, path, method="GET", body=None, instance="t-http", login=True):
    base = urllib.parse.urlsplit(arena.urls[site])
    cookie = f"{INSTANCE_COOKIE}={instance}"
    if login and site in env.ACCOUNTS:
        cookie += f"; {site}_session={arena.arena.sign(site, env.ACCOUNTS[site][0])}"
    headers = {"Cookie": cookie}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    text = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, text


def dump(db: sqlite3.Connection) -> list:
    return list(db.iterdump())


# -- the sites ----------------------------------------------------------------------------------

def test_every_site_serves_its_home_page_and_login(arena):
    for site in SITE_NAMES:
        path = urllib.parse.urlsplit(arena.urls[site]).path.rstrip("/") + "/"
        status, html = request(arena, site, path)
        assert status == 200 and "<title>" in html, site
    status, html = request(arena, "gitlab", "/", login=False)  # logged out: sent to the login page
    assert status == 303
    status, html = request(arena, "gitlab", "/login", login=False)
    assert status == 200 and "Sign in" in html


def test_every_page_the_oracles_visit_renders(arena, solved_test, test_split):
    # pages of read-only tasks: a write task may visit what it created, absent from a fresh instance
    urls = {s["url"] for r, c in zip(solved_test, test_split) if "program_html" not in c["eval"]["eval_types"]
            for s in r["steps"]}
    by_site = collections.Counter()
    for u in sorted(urls):
        site = next(s for s in SITE_NAMES if u.startswith(arena.urls[s].rstrip("/").rsplit("/admin", 1)[0]))
        p = urllib.parse.urlsplit(u)
        status, html = request(arena, site, p.path + ("?" + p.query if p.query else ""))
        assert status == 200, (u, status, html[:300])
        by_site[site] += 1
    assert set(by_site) == set(SITE_NAMES)
    assert min(by_site.values()) >= 5, by_site  # several page types per site


def test_bad_input_gets_a_4xx_with_a_reason_never_a_500(arena, solved_test):
    urls = sorted({s["url"] for r in solved_test for s in r["steps"]})
    odd = ["999999999", "abc", "-1", "%00", "..%2F..%2Fetc", "1e9", "%F0%9F%92%A9", "x" * 3000]
    seen_4xx = 0
    for u in urls[:: max(1, len(urls) // 60)]:
        site = next(s for s in SITE_NAMES if u.startswith(arena.urls[s].rstrip("/").rsplit("/admin", 1)[0]))
        p = urllib.parse.urlsplit(u)
        variants = [re.sub(r"/\d+", "/" + o, p.path, count=1) for o in odd if re.search(r"/\d+", p.path)]
        q = urllib.parse.parse_qsl(p.query)
        for o in odd:
            if q:
                variants.append(p.path + "?" + "&".join(f"{k}={o}" for k, _ in q))
            variants.append(p.path + f"?p={o}&page={o}&sort={o}&q={o}")
        variants += [p.path + "?" + "a=1&" * 3000]
        for v in variants:
            status, html = request(arena, site, v)
            assert status < 500, (v[:200], status, html[:300])
            if 400 <= status < 500:
                seen_4xx += 1
                assert re.search(r"<p class='error'>[^<]{5,}", html) or len(html) > 0
        for body in ["", "garbage", "a=" + "x" * 70000, "%%%", "title=&body="]:
            status, html = request(arena, site, p.path, "POST", body)
            assert status < 500, (p.path, body[:40], status, html[:300])
    assert seen_4xx > 20


# -- state: reset and isolation -------------------------------------------------------------------

def test_writes_persist_and_reset_restores(arena, test_split):
    writes = [c for c in test_split if "program_html" in c["eval"]["eval_types"]]
    per_site = {}
    for c in writes:
        per_site.setdefault(c["sites"][0], c)
    assert len(per_site) >= 4, per_site.keys()
    pristine = {s: dump(db) for s, db in arena.arena.pristine.items()}
    before = set(arena.arena.instances)
    results = oracle.run(list(per_site.values()), slots=2, arena=arena)
    assert all(r["score"] == 1.0 for r in results)   # the write was there when the evaluator looked
    used = set(arena.arena.instances) - before
    changed = {name for name in used if any(dump(db) != pristine[s] for s, db in arena.arena.instances[name].items())}
    assert changed, "write tasks left no trace in their instance"
    for name in changed:
        ms = arena.reset(name)
        assert ms < 1000
        assert all(dump(db) == pristine[s] for s, db in arena.arena.instances[name].items())


def test_two_instances_see_only_their_own_writes(arena, test_split):
    cfg = next(c for c in test_split if "program_html" in c["eval"]["eval_types"])
    site = cfg["sites"][0]
    a, b = "iso-a", "iso-b"
    arena.reset(a), arena.reset(b)
    with env.Pool(1, arena=arena) as pool:
        pool.slots[0].instance = a      # play the write task in instance a through the pool
        res = _play_in(pool, cfg)
        assert res["score"] == 1.0
    db_a, db_b = arena.arena.instances[a][site], arena.arena.instances[b][site]
    assert dump(db_a) != dump(db_b)
    assert dump(db_b) == dump(arena.arena.pristine[site])
    arena.reset(a)
    assert dump(db_a) == dump(arena.arena.pristine[site])


def _play_in(pool, cfg):
    from miniarena.oracle import Obs, exit_
    from miniarena.tasks import template_of
    obs = pool.reset([cfg])[0]
    gen = template_of(cfg).oracle(cfg)
    next(gen)
    info = {}
    for _ in range(40):
        try:
            action = gen.send(Obs(obs.html, obs.url))
        except StopIteration:
            action = exit_("")
        observations, dones, infos = pool.step([action])
        obs, info = observations[0], infos[0]
        if dones[0]:
            break
    return info


# -- tasks ------------------------------------------------------------------------------------------

def test_templates_cover_the_sites_and_eval_types():
    ts = all_templates()
    assert len(ts) >= 50
    per_site = collections.Counter(t.site for t in ts)
    assert set(per_site) == set(SITE_NAMES) and min(per_site.values()) >= 8, per_site
    assert any(t.test_only for t in ts)


def test_splits_are_large_valid_webarena_configs(arena, train, test_split):
    assert len(train) >= 1000 and len(test_split) >= 165
    urls = env.site_urls(arena)
    for split in (train, test_split):
        ids = [c["task_id"] for c in split]
        assert ids == list(range(len(split)))
        for c in split:
            for key in ("sites", "task_id", "require_login", "storage_state", "start_url", "geolocation",
                        "intent_template", "instantiation_dict", "intent", "require_reset", "eval", "intent_template_id"):
                assert key in c, (c["task_id"], key)
            assert c["start_url"].startswith("__")
            env.parse_task(c, urls)
    sites = collections.Counter(c["sites"][0] for c in test_split)
    assert set(sites) == set(SITE_NAMES)
    types = collections.Counter(t for c in train + test_split for t in c["eval"]["eval_types"])
    assert types["string_match"] and types["url_match"] and types["program_html"]
    refs = collections.Counter(k for c in train for k in (c["eval"]["reference_answers"] or {}))
    assert refs["exact_match"] and refs["must_include"]


def test_test_tasks_name_entities_never_seen_in_train(train, test_split):
    """Entity values (products, orders, places, forums...) are split; vocabulary (a place type, a travel
    mode, a status) is shared. So every test task names a value, or a range of numbers, that no train
    task of its template names."""
    def values(c):
        vs = [str(v).strip().lower() for v in c["instantiation_dict"].values()]
        return set(vs) | {"numbers:" + "-".join(v for v in vs if re.fullmatch(r"[\d.,$%\s-]+", v))}
    seen: dict = {}
    for c in train:
        seen.setdefault(c["intent_template_id"], set()).update(values(c))
    for c in test_split:
        assert values(c) - seen.get(c["intent_template_id"], set()), (c["task_id"], c["intent"])
    only = {t.id for t in all_templates() if t.test_only}
    assert only and not any(c["intent_template_id"] in only for c in train)
    assert any(c["intent_template_id"] in only for c in test_split)


def test_cli_writes_the_split(tmp_path):
    import subprocess
    import sys
    from conftest import ROOT
    out = tmp_path / "test.json"
    r = subprocess.run([sys.executable, "-m", "miniarena", "tasks", "--split", "test", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(out.read_text())) >= 165
    r = subprocess.run([sys.executable, str(ROOT / "env.py"), "--check", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and "165 tasks" in r.stdout


# -- oracles and the trivial agent ----------------------------------------------------------------------

def test_the_oracle_solves_every_test_task(solved_test, test_split):
    failed = [(c["task_id"], c["intent"], r["end"], r.get("oracle_error")) for c, r in zip(test_split, solved_test)
              if r["score"] != 1.0]
    assert not failed, failed[:10]
    steps = [len(r["steps"]) for r in solved_test]
    assert max(steps) >= 5  # multi-step tasks exist


def test_the_oracle_solves_a_sample_of_train_tasks(arena, train):
    sample = train[:: len(train) // 50]
    results = oracle.run(sample, slots=4, arena=arena)
    failed = [(c["task_id"], c["intent"], r["end"], r.get("oracle_error")) for c, r in zip(sample, results)
              if r["score"] != 1.0]
    assert not failed, failed[:10]


def test_exiting_at_once_with_an_empty_answer_scores_zero(arena, train, test_split):
    """One test task of every template (all 86: string, URL and page-state checks), plus a sample of the
    train split's tasks, whose values differ."""
    first = {}
    for c in test_split:
        first.setdefault(c["intent_template_id"], c)
    tasks = list(first.values()) + train[::50]
    assert {c["intent_template_id"] for c in tasks} >= {c["intent_template_id"] for c in train}
    with env.Pool(4, arena=arena) as pool:
        results = env.play(pool, tasks, lambda batch: ['exit(message="")'] * len(batch))
    scored = [(r["task_id"], r["score"]) for r in results if r["score"] != 0.0 or r["end"] != "exit"]
    assert not scored, scored[:10]
