"""curriculum.py: the critic filter's bounds, the miniarena generator (valid configs its oracles solve,
deduplication, never a test-split value), the LLM generator against a real loopback server that answers
well, answers garbage, answers 500 or never answers, and start-state values from a tiny critic."""
import http.server
import json
import logging
import math
import random
import threading
import time

import pytest
import torch

import curriculum as C
import env
from miniarena import SITE_NAMES, oracle
from miniarena.tasks import all_templates

torch.set_num_threads(1)   # tiny models on a shared machine (see test_policy.py)


def one_per_template(train):
    """A failed seed for every template of the train split."""
    seen, out = set(), []
    for c in train:
        if c["intent_template_id"] not in seen:
            seen.add(c["intent_template_id"])
            out.append(c)
    return out


# =============================================================================================
# Critic filter and small helpers


def test_critic_filter_keeps_the_band_bounds_included():
    values = [0.05, 0.75, 0.049, 0.751, 0.4, 0.0, 1.0, float("nan")]
    assert C.critic_filter(values) == [True, True, False, False, True, False, False, False]
    assert C.critic_filter(torch.tensor([0.05, 0.75, 0.7501])) == [True, True, False]   # float32 values
    assert C.critic_filter([0.3], low=0.3, high=0.3) == [True]
    with pytest.raises(ValueError, match="low <= high"):
        C.critic_filter([0.5], low=0.8, high=0.2)


def test_intent_key_ignores_case_spacing_and_punctuation():
    assert C.intent_key("What's the price of  Red Shoes?") == C.intent_key("what s the price of red shoes")
    assert C.intent_key("Add 2 of X") != C.intent_key("Add 3 of X")


@pytest.mark.parametrize("reply", [
    '["Find the price of Red Shoes", "Add 2 of Blue Hat to my cart"]',
    'Sure!\n```json\n["Find the price of Red Shoes", "Add 2 of Blue Hat to my cart"]\n```',
    '{"tasks": [{"intent": "Find the price of Red Shoes"}, {"task": "Add 2 of Blue Hat to my cart"}]}',
    "Here are new tasks:\n1. Find the price of Red Shoes\n2) Add 2 of `Blue Hat` to my cart\n",
    "- `Find the price of Red Shoes`\n- `Add 2 of Blue Hat to my cart`\n- `find the price of red shoes!`",
    "Tasks: `Find the price of Red Shoes` and `Add 2 of Blue Hat to my cart`.",
])
def test_extract_tasks_reads_the_usual_reply_formats(reply):
    assert C.extract_tasks(reply) == ["Find the price of Red Shoes", "Add 2 of Blue Hat to my cart"]


@pytest.mark.parametrize("reply", ["", "Sorry, I cannot help with that.", "[1, 2, 3]", "```\n```", "- ok\n- no"])
def test_extract_tasks_finds_nothing_in_garbage(reply):
    assert C.extract_tasks(reply) == []


def test_save_tasks_writes_atomically_a_list_load_tasks_reads(tmp_path, train):
    path = C.save_tasks(tmp_path / "phase2" / "tasks.json", train[:3])
    assert [t.intent for t in env.load_tasks(path, resolve=False)] == [c["intent"] for c in train[:3]]
    assert env.load_configs(path) == train[:3]
    assert [p.name for p in path.parent.iterdir()] == ["tasks.json"]          # no temporary file left
    with pytest.raises(TypeError):                                          # not JSON: the old file stays
        C.save_tasks(path, [{"x": object()}])
    assert env.load_configs(path) == train[:3]


# =============================================================================================
# miniarena generator


def test_miniarena_generator_writes_valid_configs_its_oracles_solve(arena, train, test_split, tmp_path):
    gen = C.MiniArenaGenerator(seed=0, test_configs=test_split)
    failed = train[::40]
    new = gen.generate(failed, 40, set(), random.Random(1), phase=2)
    assert len(new) == 40 and gen.stats["proposed"] >= 40
    related = {c["task_id"]: {t.id for t in C.related_templates(next(t for t in all_templates()
                                                                     if t.id == c["intent_template_id"]))}
               for c in failed}
    for c in new:
        for key in ("sites", "require_login", "storage_state", "start_url", "geolocation", "intent_template",
                    "instantiation_dict", "intent", "require_reset", "eval", "intent_template_id", "miniarena"):
            assert key in c, key
        cur = c["curriculum"]
        assert cur["generator"] == "miniarena" and cur["phase"] == 2 and "never a training reward" in cur["eval_use"]
        assert c["intent_template_id"] in related[cur["seed_task_id"]]
        assert c["miniarena"]["split"] == "train"
    assert {c["sites"][0] for c in new} == set(SITE_NAMES)
    configs, counts = C.evolve(gen, failed, 40, set(), random.Random(1), phase=2)   # phase 1 style: no critic
    assert counts["kept_by_critic"] is None and counts["tasks"] == 40 and [c["task_id"] for c in configs] == list(range(40))
    path = C.save_tasks(tmp_path / "tasks.json", configs)
    tasks = env.load_tasks(path, env.site_urls(arena))
    assert len(tasks) == 40
    # the oracles solve a read task and a write task of them, through env.py
    sample = [next(c for c in configs if "string_match" in c["eval"]["eval_types"]),
              next(c for c in configs if "program_html" in c["eval"]["eval_types"])]
    results = oracle.run(sample, slots=2, arena=arena)
    assert [r["score"] for r in results] == [1.0, 1.0], [(r["end"], r.get("oracle_error")) for r in results]


def test_miniarena_generator_deduplicates_against_seen_and_seeds(train):
    gen = C.MiniArenaGenerator(seed=0)
    failed = train[::25]
    first = gen.generate(failed, 60, set(), random.Random(0))
    keys = {C.intent_key(c["intent"]) for c in first}
    assert len(keys) == len(first) == 60
    assert not keys & {C.intent_key(c["intent"]) for c in failed}        # never a seed again
    seen = keys | {C.intent_key(c["intent"]) for c in train}
    second = gen.generate(failed, 60, seen, random.Random(0))
    assert second and not {C.intent_key(c["intent"]) for c in second} & seen
    assert gen.stats["duplicates"] > 0
    assert len(seen) == len(keys | {C.intent_key(c["intent"]) for c in train})   # `seen` is only read


def test_miniarena_generator_stops_when_content_runs_out_and_skips_seeds_without_template(train):
    seed = next(c for c in train if c["intent_template_id"] == 109)            # search keywords: a small pool
    pool = {C.intent_key(t.intent(s["values"])) for t in C.related_templates(next(t for t in all_templates() if t.id == 109))
            for s in C.site_instances("shopping", 0, "train")[t.id]}
    gen = C.MiniArenaGenerator(seed=0)
    llm_task = {"sites": ["shopping"], "intent": "Find a gift for my mother", "task_id": "llm-1"}
    out = gen.generate([seed, llm_task], 10 ** 6, set(), random.Random(0))
    assert len(out) == len(pool - {C.intent_key(seed["intent"])})
    assert gen.stats["seeds_without_template"] == 1


def test_no_test_split_value_ever_appears_in_a_generated_task(train, test_split):
    """Every template as a seed, many rng seeds; checked against the test split's 165 tasks and against
    every test instance of every template (what the test split could ever hold)."""
    only = {t.id for t in all_templates() if t.test_only}
    every_test = [{"sites": [t.site], "instantiation_dict": s["values"]} for t in all_templates()
                  for s in C.site_instances(t.site, 0, "test")[t.id]]
    gen = C.MiniArenaGenerator(seed=0, test_configs=test_split)       # checks each call itself
    failed = one_per_template(train)
    for rng_seed in range(12):
        new = gen.generate(failed, 300, set(), random.Random(rng_seed))
        assert len(new) == 300
        assert not any(c["intent_template_id"] in only for c in new)
        C.check_no_test_values(new, every_test)
    # the check has teeth: a task instantiated on the test split is caught
    t = next(t for t in all_templates() if t.id == 100)
    spec = C.site_instances("shopping", 0, "test")[100][0]
    leaked = gen._config(t, spec, failed[0], phase=3)
    with pytest.raises(ValueError, match="test value"):
        C.check_no_test_values([leaked], test_split + every_test)


# =============================================================================================
# LLM generator against a loopback server


class FakeLLM(http.server.BaseHTTPRequestHandler):
    """POST /<mode>/v1/chat/completions. Modes: good, garbage, nonsense, e500, e404, hang, flaky (good once, then 500)."""
    protocol_version = "HTTP/1.1"
    requests: list = []
    tasks: list = []

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        mode = self.path.split("/")[1]
        FakeLLM.requests.append({"mode": mode, "path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        n_mode = sum(r["mode"] == mode for r in FakeLLM.requests)
        if mode == "hang":
            time.sleep(3)
            return self._send(504, b"{}")
        if mode == "e500" or (mode == "flaky" and n_mode > 1):
            return self._send(500, b'{"error": "internal"}')
        if mode == "e404":
            return self._send(404, b'{"error": "no such model"}')
        if mode == "garbage":
            return self._send(200, b"<html>oops, a proxy page</html>", "text/html")
        content = "I am sorry, I can not do that." if mode == "nonsense" else json.dumps(FakeLLM.tasks)
        reply = {"id": "x", "object": "chat.completion", "model": body["model"],
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
        self._send(200, json.dumps(reply).encode())


@pytest.fixture(scope="module")
def llm_url():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def fake(llm_url):
    FakeLLM.requests.clear()
    FakeLLM.tasks = []
    return llm_url


def seeds_two_sites(train):
    shop = [c for c in train if c["sites"] == ["shopping"]][:12]
    gl = [c for c in train if c["sites"] == ["gitlab"]][:3]
    return shop + gl


def test_llm_generator_good_replies_become_deduplicated_configs(fake, train):
    failed = seeds_two_sites(train)
    FakeLLM.tasks = ["What is the price of the cheapest red mug?", "what is the price of the cheapest red mug",
                     failed[0]["intent"], "Show me the orders I placed in 2022 that were canceled.",
                     "Seen before: list my open issues", 42]
    gen = C.LLMGenerator(f"{fake}/good/v1/", "gpt-4o", "sk-test", rounds=2, backoff_s=0)
    new = gen.generate(failed, 100, {C.intent_key("Seen before: list my open issues")}, random.Random(0), phase=3)
    # two prompts (one per site) in the first round; the second round finds only duplicates
    assert [r["mode"] for r in FakeLLM.requests] == ["good"] * 4
    r0 = FakeLLM.requests[0]
    assert r0["path"] == "/good/v1/chat/completions" and r0["auth"] == "Bearer sk-test"
    assert r0["body"]["model"] == "gpt-4o" and r0["body"]["temperature"] == 1.0
    prompts = [r["body"]["messages"][0]["content"] for r in FakeLLM.requests]
    by_site = {"gitlab": [c["intent"] for c in failed if c["sites"] == ["gitlab"]],
               "shopping": [c["intent"] for c in failed if c["sites"] == ["shopping"]]}
    for p in prompts:                    # seeds grouped by site, at most 10 per prompt
        quoted = [line[3:-1] for line in p.splitlines() if line.startswith("- `")]
        assert 1 <= len(quoted) <= 10
        assert set(quoted) <= set(by_site["gitlab"]) or set(quoted) <= set(by_site["shopping"])
    assert sorted(c["intent"] for c in new) == ["Show me the orders I placed in 2022 that were canceled.",
                                                "What is the price of the cheapest red mug?"]
    assert gen.stats["duplicates"] > 0 and not gen.errors
    for c in new:
        seed = next(s for s in failed if s["task_id"] == c["curriculum"]["seed_task_id"])
        assert c["eval"] is None and c["curriculum"]["generator"] == "llm" and c["curriculum"]["phase"] == 3
        for key in ("sites", "start_url", "require_login", "storage_state", "geolocation"):
            assert c[key] == seed[key], key
        assert "intent_template_id" not in c and "miniarena" not in c


def test_llm_generator_reads_its_settings_from_the_environment(fake, train, monkeypatch):
    monkeypatch.setenv("WEBRL_LLM_URL", f"{fake}/good/v1")
    monkeypatch.setenv("WEBRL_LLM_MODEL", "my-model")
    monkeypatch.setenv("WEBRL_LLM_KEY", "sk-env")
    FakeLLM.tasks = ["What is the price of the cheapest red mug?"]
    new = C.LLMGenerator(rounds=1).generate(train[:2], 5, set(), random.Random(0))
    assert len(new) == 1 and FakeLLM.requests[0]["auth"] == "Bearer sk-env"
    assert FakeLLM.requests[0]["body"]["model"] == "my-model"


@pytest.mark.parametrize("mode, attempts, message", [
    ("garbage", 3, "not a chat-completions reply"),
    ("nonsense", 3, "no tasks"),
    ("e500", 3, "HTTP 500"),
    ("e404", 1, "HTTP 404"),
])
def test_llm_generator_bad_replies_end_with_a_clear_error_and_what_it_has(fake, train, caplog, mode, attempts, message):
    gen = C.LLMGenerator(f"{fake}/{mode}/v1", "gpt-4o", retries=2, backoff_s=0.01, timeout_s=5)
    t = time.time()
    with caplog.at_level(logging.WARNING, logger="webrl.curriculum"):
        new = gen.generate(seeds_two_sites(train), 20, set(), random.Random(0))
    assert new == [] and time.time() - t < 5
    assert len(FakeLLM.requests) == attempts            # bounded retries, then the call gives up
    assert len(gen.errors) == 1 and message in gen.errors[0] and f"{fake}/{mode}/v1/chat/completions" in gen.errors[0]
    assert any(r.levelname == "ERROR" and message in r.getMessage() for r in caplog.records)


def test_llm_generator_gives_up_on_a_server_that_never_answers(fake, train):
    gen = C.LLMGenerator(f"{fake}/hang/v1", "gpt-4o", retries=1, backoff_s=0, timeout_s=0.5)
    t = time.time()
    new = gen.generate(seeds_two_sites(train), 20, set(), random.Random(0))
    took = time.time() - t
    assert new == [] and len(FakeLLM.requests) == 2
    assert took < 2.5, took                               # 2 attempts x 0.5 s, not the server's 3 s
    assert "timed out" in gen.errors[0].lower() and "2 attempts" in gen.errors[0]


def test_llm_generator_keeps_the_tasks_made_before_a_fault(fake, train):
    FakeLLM.tasks = ["What is the price of the cheapest red mug?", "Show me my canceled orders from 2022."]
    gen = C.LLMGenerator(f"{fake}/flaky/v1", "gpt-4o", retries=1, backoff_s=0)
    new = gen.generate(seeds_two_sites(train), 20, set(), random.Random(0))
    assert len(new) == 2 and len(gen.errors) == 1 and "HTTP 500" in gen.errors[0]


def test_llm_generator_rejects_bad_configuration(monkeypatch):
    for var in ("WEBRL_LLM_URL", "WEBRL_LLM_MODEL", "WEBRL_LLM_KEY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ValueError, match="WEBRL_LLM_URL"):
        C.LLMGenerator(model="gpt-4o")
    with pytest.raises(ValueError, match="WEBRL_LLM_MODEL"):
        C.LLMGenerator("http://127.0.0.1:1/v1")
    with pytest.raises(ValueError, match="http"):
        C.LLMGenerator("ftp://example/v1", "gpt-4o")
    with pytest.raises(ValueError, match="retries"):
        C.LLMGenerator("http://127.0.0.1:1/v1", "gpt-4o", retries=-1)
    with pytest.raises(ValueError, match="timeout_s"):
        C.LLMGenerator("http://127.0.0.1:1/v1", "gpt-4o", timeout_s=0)


# =============================================================================================
# Start-state values from the critic


@pytest.fixture(scope="module")
def tiny_critic(tmp_path_factory):
    import policy
    corpus = ["Task Instruction: What is the price of the red mug?",
              '<html><body><a id="1" data-text="Orders">Orders</a><input id="2" placeholder="Search"/></body></html>',
              'do(action="Click", element="1")', 'exit(message="3 orders")'] * 20
    d = policy.build_tiny(tmp_path_factory.mktemp("tiny"), corpus, vocab_size=300, hidden=32, layers=1, heads=2, seed=0)
    model, tok = policy.load_actor(d)
    critic = policy.Critic.from_actor(model).eval()
    return critic, tok


def test_start_values_and_the_critic_filter_in_evolve(arena, train, tiny_critic):
    critic, tok = tiny_critic
    gen = C.MiniArenaGenerator(seed=0)
    new = gen.generate(train[::300], 2, set(), random.Random(0))
    llm_like = dict(new[0], eval=None, intent="What is the price of the cheapest red mug?")   # no ground truth
    with env.Pool(2, arena=arena) as pool:
        values = C.start_values(critic, tok, pool, new + [llm_like], max_prompt_tokens=512)
        assert len(values) == 3 and all(0.0 <= v <= 1.0 for v in values), values
        seen: set = set()
        configs, counts = C.evolve(gen, train[::300], 3, seen, random.Random(0), phase=2, critic=critic, tok=tok,
                                   pool=pool, low=0.0, high=1.0, max_prompt_tokens=512)
        assert counts["deduplicated"] == 6 and counts["kept_by_critic"] == 6 and counts["tasks"] == 3
        assert all(0.0 <= c["curriculum"]["start_value"] <= 1.0 for c in configs)
        assert seen == {C.intent_key(c["intent"]) for c in configs}
        # the run report shows what was left out, and why
        assert [c["curriculum"]["dropped"] for c in counts["dropped"]] == ["beyond the phase's 3 tasks"] * 3
        assert not any("dropped" in c["curriculum"] for c in configs)
        _, counts = C.evolve(gen, train[::300], 3, set(), random.Random(0), phase=2, critic=critic, tok=tok,
                             pool=pool, low=0.0, high=0.0, max_prompt_tokens=512)
        assert counts["kept_by_critic"] == 0 and counts["tasks"] == 0
        assert len(counts["dropped"]) == 6 and all(c["curriculum"]["dropped"].startswith("critic value ") and
                                                   c["curriculum"]["dropped"].endswith("outside [0.0, 0.0]") for c in counts["dropped"])
    assert not math.isnan(sum(values))
    with pytest.raises(ValueError, match="pool="):
        C.evolve(gen, train[:2], 2, set(), random.Random(0), phase=2, critic=critic, tok=tok)
