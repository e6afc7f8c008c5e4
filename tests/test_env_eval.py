"""Evaluators with WebArena's semantics, config validation, and the real WebArena-Lite sample configs."""
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import env
from conftest import ROOT, SHARED


def sm(answer, **refs):
    return env.string_match({"reference_answers": refs}, answer, "intent")


def test_string_match_exact_cleans_case_quotes_and_space():
    assert sm('  "Impulse Duffle" ', exact_match="impulse duffle") == 1.0
    assert sm("'42'", exact_match="42") == 1.0
    assert sm("42 items", exact_match="42") == 0.0


def test_string_match_must_include_every_item():
    refs = ["Impulse Duffle", "Overnight Duffle"]
    assert sm("The answers: impulse duffle, overnight duffle and more", must_include=refs) == 1.0
    assert sm("impulse duffle only", must_include=refs) == 0.0


def test_single_character_reference_must_be_a_whole_word():
    assert sm("There are 0 reviews", must_include=["0"]) == 1.0
    assert sm("There are 10 reviews", must_include=["0"]) == 0.0   # '0' inside '10' does not count
    assert sm("10", must_include=["0", "1"]) == 1.0                 # tokenize only for a one-item list (WebArena)


def test_empty_answer_scores_zero():
    assert sm("", exact_match="5") == 0.0
    assert sm("", must_include=["x"]) == 0.0


def test_fuzzy_match_without_a_judge_is_a_clear_error():
    with pytest.raises(RuntimeError, match="LLM judge"):
        sm("Pittsburgh airport", fuzzy_match=["Pittsburgh International Airport"])


def test_na_rule_exact_na_needs_no_judge():
    ev = {"reference_answers": {"fuzzy_match": "N/A"}, "string_note": "no such product"}
    assert env.string_match(ev, "N/A", "intent") == 1.0
    with pytest.raises(RuntimeError, match="LLM judge"):
        env.string_match(ev, "the product does not exist", "intent")


@pytest.fixture()
def judge_server():
    """An OpenAI-compatible endpoint on loopback that grades by a keyword."""
    seen = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            msg = body["messages"][-1]["content"]
            seen.append((self.path, body["model"], self.headers.get("Authorization"), msg))
            if "unachievable" in msg:
                answer = "same" if "does not exist" in msg else "different"
            else:
                answer = "correct" if "student answer: pittsburgh" in msg.lower() else "incorrect"
            data = json.dumps({"choices": [{"message": {"content": answer}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1", seen
    srv.shutdown()


def test_fuzzy_and_ua_match_through_a_chat_endpoint(judge_server):
    url, seen = judge_server
    judge = env.Judge(url, "judge-model", "sk-test")
    ev = {"reference_answers": {"fuzzy_match": ["Pittsburgh International Airport"]}}
    assert env.string_match(ev, "Pittsburgh airport", "which airport?", judge) == 1.0
    assert env.string_match(ev, "Cleveland", "which airport?", judge) == 0.0
    na = {"reference_answers": {"fuzzy_match": "N/A"}, "string_note": "the product does not exist"}
    assert env.string_match(na, "it does not exist", "buy X", judge) == 1.0
    assert seen[0][0] == "/v1/chat/completions" and seen[0][1] == "judge-model" and seen[0][2] == "Bearer sk-test"
    assert "reference answer: Pittsburgh International Airport" in seen[0][3]


@pytest.mark.parametrize("ref, pred, score", [
    ("http://h:1/f/books", "http://h:1/f/books/", 1.0),
    ("http://h:1/f/books", "http://h:1/f/books?sort=new", 1.0),             # extra query in PRED is fine
    ("http://h:1/search?query=hotels%20near%20X", "http://h:1/search?query=hotels+near+X&page=2", 1.0),
    ("http://h:1/search?query=hotels", "http://h:1/search?query=motels", 0.0),
    ("http://h:1/search?query=hotels", "http://h:1/search", 0.0),
    ("http://h:1/a |OR| http://h:1/b", "http://h:1/b", 1.0),
    ("http://h:1/dashboard/todos", "http://h:1/", 0.0),
])
def test_url_match_gold_in_pred(ref, pred, score):
    assert env.url_match({"reference_url": ref}, pred) == score


def test_required_contents():
    assert env.required_contents({"exact_match": "Good idea"}, "  good idea ", "i") == 1.0
    assert env.required_contents({"exact_match": "Good idea"}, "Good idea!", "i") == 0.0
    rc = {"must_include": ["Canceled |OR| Cancelled", "2023"]}
    assert env.required_contents(rc, "Status: Cancelled on Jan 2 2023", "i") == 1.0
    assert env.required_contents(rc, "Status: Cancelled", "i") == 0.0


def test_func_helpers_are_looked_up_by_name_with_literal_arguments():
    assert env.parse_func("func:reddit_get_post_url('__last_url__')") == ("reddit_get_post_url", ["__last_url__"])
    assert env.parse_func("func:gitlab_get_project_memeber_role(__page__, 'byteblaze')") == (
        "gitlab_get_project_memeber_role", ["__page__", "byteblaze"])
    with pytest.raises(ValueError, match="not a known WebArena helper"):
        env.parse_func("func:os_system('ls')")
    with pytest.raises(ValueError, match="not a literal"):
        env.parse_func("func:reddit_get_post_url(open('/etc/passwd'))")
    with pytest.raises(ValueError, match="malformed"):
        env.parse_func("func:reddit_get_post_url")


def test_reddit_get_post_url():
    import asyncio
    f = env.FUNCS["reddit_get_post_url"]
    assert asyncio.run(f("http://h:9/f/books/12/some-title?x=1")) == "http://h:9/f/books/12/"
    assert asyncio.run(f("http://h:9/user/me")) == "http://h:9/user/me"


GOOD = {"task_id": 7, "intent": "x", "sites": ["reddit"], "start_url": "__REDDIT__", "require_login": True,
        "eval": {"eval_types": ["string_match"], "reference_answers": {"exact_match": "1"}}}


@pytest.mark.parametrize("change, message", [
    ({"intent": None}, "task_id 7.*'intent'"),
    ({"start_url": 5}, "task_id 7.*'start_url'"),
    ({"eval": {"eval_types": ["vibes"]}}, "task_id 7.*unknown type 'vibes'"),
    ({"eval": "string_match"}, "task_id 7.*'eval'"),
    ({"eval": {"eval_types": ["string_match"]}}, "task_id 7.*reference_answers"),
    # (a bare string is read as a one-string list: tests/test_webarena_configs.py)
    ({"eval": {"eval_types": ["string_match"], "reference_answers": {"must_include": 5}}}, "must_include must be a list"),
    ({"eval": {"eval_types": ["program_html"], "program_html": [{"url": "last", "locator": "",
      "required_contents": {"must_include": [1]}}]}}, r"program_html\[0\].required_contents.must_include"),
    ({"eval": {"eval_types": ["url_match"], "reference_url": ""}}, "reference_url"),
    ({"eval": {"eval_types": ["program_html"], "program_html": [{"url": "last", "locator": "alert(1)",
      "required_contents": {"exact_match": "a"}}]}}, r"program_html\[0\].locator"),
    ({"eval": {"eval_types": ["program_html"], "program_html": [{"url": "func:nope()", "locator": "",
      "required_contents": {"exact_match": "a"}}]}}, "func:nope is not a known"),
    ({"eval": {"eval_types": ["program_html"], "program_html": [{"url": "last", "locator": "",
      "required_contents": {}}]}}, "required_contents"),
    ({"geolocation": "Pittsburgh"}, "geolocation"),
    ({"start_url": "file:///etc/passwd"}, "http"),
])
def test_broken_configs_name_the_task_and_field(change, message):
    bad = {**GOOD, **change}
    with pytest.raises(ValueError, match=message):
        env.parse_task(bad, {"REDDIT": "http://127.0.0.1:1"})


def test_a_task_without_ground_truth_parses():
    """Generated tasks (curriculum.py) have eval null: their reward comes from the ORM."""
    t = env.parse_task({**GOOD, "eval": None}, {"REDDIT": "http://127.0.0.1:1"})
    assert t.eval is None and t.intent == "x"


def test_missing_site_variable_is_named():
    with pytest.raises(ValueError, match="needs REDDIT"):
        env.parse_task(GOOD, {})


def test_load_tasks_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        env.load_tasks(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        env.load_tasks(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ValueError, match="empty"):
        env.load_tasks(tmp_path / "empty.json")
    (tmp_path / "one.json").write_text(json.dumps(GOOD))  # a file with one config
    assert len(env.load_tasks(tmp_path / "one.json", {"REDDIT": "http://127.0.0.1:1"})) == 1


def test_check_cli_on_the_real_webarena_lite_sample():
    sample = SHARED / "webarena_lite_sample.json"
    if not sample.exists():
        pytest.skip("../shared/reference is not beside this checkout")
    r = subprocess.run([sys.executable, str(ROOT / "env.py"), "--check", str(sample)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "21 tasks" in r.stdout
    assert "program_html" in r.stdout and "url_match+program_html" in r.stdout


def test_check_cli_names_the_bad_task(tmp_path):
    bad = {**GOOD, "task_id": 99, "eval": {"eval_types": ["url_match"]}}
    (tmp_path / "t.json").write_text(json.dumps([GOOD, bad]))
    r = subprocess.run([sys.executable, str(ROOT / "env.py"), "--check", str(tmp_path / "t.json")], capture_output=True, text=True)
    assert r.returncode != 0
    assert "task_id 99" in r.stderr and "reference_url" in r.stderr
