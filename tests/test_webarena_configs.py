"""Real WebArena configs: the quirks read the way their author meant (one warning per task and field), a config
that cannot be handled skipped and named without sinking the others, and the 165 WebArena-Lite configs as
VisualAgentBench ships them."""
import json
import logging
import subprocess
import sys

import pytest

import env
import evaluate
import rundir
from conftest import ROOT, SHARED, page_task

QUIRKS = ROOT / "tests" / "configs" / "webarena_quirks.json"   # one task per quirk read_quirks handles
LITE = SHARED / "webarena_lite_165.json"
# each fixture task: the field that departs from WebArena's format, and what it reads as
FIXED = {
    901: ("eval.reference_answers.must_include", lambda c: c["eval"]["reference_answers"]["must_include"], ["yjlou"]),
    902: ("eval.reference_answers.fuzzy_match", lambda c: c["eval"]["reference_answers"]["fuzzy_match"],
          ["Pittsburgh International Airport"]),
    903: ("eval.eval_types", lambda c: c["eval"]["eval_types"], ["url_match"]),
    904: ("sites", lambda c: c["sites"], ["shopping_admin"]),
    905: ("eval.program_html[0].required_contents.must_include",
          lambda c: c["eval"]["program_html"][0]["required_contents"]["must_include"], ["Beach Towel |OR| Beach towel"]),
}


def check(path):
    return subprocess.run([sys.executable, str(ROOT / "env.py"), "--check", str(path)], capture_output=True, text=True)


def test_each_quirk_is_read_as_meant_with_one_warning_naming_task_and_field(caplog):
    raw = json.loads(QUIRKS.read_text())
    with caplog.at_level(logging.WARNING, logger="webrl.env"):
        f = env.read_tasks(QUIRKS, resolve=False)
    assert f.skipped == [] and [t.task_id for t in f.tasks] == list(FIXED)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == len(f.quirks) == len(FIXED)          # one per task and field, nothing else
    for t, said in zip(f.tasks, warnings):
        name, read, want = FIXED[t.task_id]
        assert f"task_id {t.task_id}" in said and f"field '{name}'" in said
        assert read(t.config) == want
    assert json.loads(QUIRKS.read_text()) == raw                   # the file's own configs are left as they are
    # the configs as read carry no quirk any more: playing them (env.play parses again) warns no second time
    assert all(env.parse_task(t.config, {v: "http://x.invalid" for v in env.SITE_VARS}).quirks == [] for t in f.tasks)


def test_quirky_evaluators_score_as_webarena_would():
    by_id = {t.task_id: t for t in env.load_tasks(QUIRKS, resolve=False)}
    ev = by_id[901].eval
    assert env.string_match(ev, "The others: yjlou", "who") == 1.0 and env.string_match(ev, "nobody", "who") == 0.0
    rc = by_id[905].eval["program_html"][0]["required_contents"]
    assert env.required_contents(rc, "my list: beach towel, sun hat", "wish") == 1.0   # not character by character
    assert env.required_contents(rc, "my list: sun hat", "wish") == 0.0
    assert by_id[904].sites == ["shopping_admin"] and by_id[903].eval["eval_types"] == ["url_match"]


def test_check_cli_warns_on_quirks_and_passes():
    r = check(QUIRKS)
    assert r.returncode == 0, r.stderr
    assert "5 tasks in 1 file(s)" in r.stdout and "warnings:     5 field(s)" in r.stdout
    assert r.stderr.count("WARNING ") == 5 and "task_id 905" in r.stderr


def test_a_config_that_cannot_be_handled_sinks_no_other(tmp_path):
    configs = json.loads(QUIRKS.read_text())
    bad = dict(configs[2], task_id=77, eval={"eval_types": ["url_match"], "reference_url": None})   # no URL to match
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(configs[:2] + [bad] + configs[2:]))
    f = env.read_tasks(path, resolve=False)
    assert len(f.tasks) == 5 and len(f.skipped) == 1
    assert "[2] (task_id 77)" in f.skipped[0] and "reference_url" in f.skipped[0]
    with pytest.raises(ValueError, match="task_id 77.*reference_url"):       # the strict loader still refuses
        env.load_tasks(path, resolve=False)
    r = check(path)                                                          # --check names it and fails
    assert r.returncode == 1 and "ERROR" in r.stderr and "task_id 77" in r.stderr
    assert "5 tasks in 1 file(s)" in r.stdout and "1 task(s) cannot be handled" in r.stdout
    configs, skipped = rundir.task_file(path)                                 # evaluate.py and train.py skip it
    assert [c["task_id"] for c in configs] == list(FIXED) and skipped == f.skipped


def test_evaluate_skips_a_config_it_cannot_handle_names_it_and_counts_it(pages_url, tmp_path, monkeypatch, capsys):
    answer = {"eval_types": ["string_match"], "reference_answers": {"must_include": "1"}}    # a quirk, read as ["1"]
    good = [page_task("__SHOPPING__", "/basic.html", answer, task_id=i) for i in (1, 2)]
    bad = page_task("__SHOPPING__", "/basic.html", {"eval_types": ["string_match"]}, task_id=3)   # nothing to match
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([good[0], bad, good[1]]))
    monkeypatch.setenv("SHOPPING", pages_url)
    row = evaluate.main(evaluate.EvalArgs(tasks=str(path), answer="1", slots=2, out=str(tmp_path / "eval")))
    out, err = capsys.readouterr()
    assert "skipped:" in err and "[1] (task_id 3)" in err and "reference_answers" in err
    assert "2 tasks in" in out and "1 skipped" in out
    assert "| tasks (n) | 0 | 0 | 0 | 0 | 2 | 2 |" in out and row["Avg"] == 100.0
    assert len((tmp_path / "eval" / "results.jsonl").read_text().splitlines()) == 2


def test_table1_says_over_how_many_tasks_each_column_was_computed():
    tasks = [{"sites": ["reddit"]}, {"sites": ["reddit"]}, {"sites": ["map", "wikipedia"]}, {"sites": ["wikipedia", "map"]}]
    row = {"model": "SFT", **rundir.success_table([{"score": 1.0}, {"score": 0.0}, {"score": 1.0}, {"score": 0.0}], tasks)}
    lines = rundir.format_table([row], tasks).splitlines()
    assert lines[2] == "| SFT | 50.0 | - | - | 100.0 | - | 50.0 |"
    assert lines[3] == "| tasks (n) | 2 | 0 | 0 | 1 | 0 | 4 |"   # a wikipedia-first task counts in Avg only
    assert rundir.format_table([row]).splitlines()[-1] == lines[2]    # without the tasks: no count row


@pytest.fixture(scope="module")
def lite():
    if not LITE.exists():
        pytest.skip(f"{LITE} is absent: the 165 WebArena-Lite configs live in ../shared/reference beside this checkout")
    return LITE


def test_all_165_webarena_lite_configs_load_and_their_evaluators_build(lite, caplog):
    with caplog.at_level(logging.WARNING, logger="webrl.env"):
        f = env.read_tasks(lite, resolve=False)
    assert len(f.tasks) == 165 and f.skipped == []
    assert len({t.task_id for t in f.tasks}) == 165
    # VisualAgentBench's one departure from WebArena's format: task 81's must_include is a bare string
    assert len(f.quirks) == 1 and "task_id 81" in f.quirks[0] and "reference_answers.must_include" in f.quirks[0]
    assert [r.getMessage() for r in caplog.records] == f.quirks
    t81 = next(t for t in f.tasks if t.task_id == 81)
    assert env.string_match(t81.eval, "Only yjlou has access", t81.intent) == 1.0
    assert env.string_match(t81.eval, "byteblaze", t81.intent) == 0.0


def test_check_cli_passes_on_the_165_webarena_lite_configs(lite):
    r = check(lite)
    assert r.returncode == 0, r.stderr
    assert "165 tasks in 1 file(s)" in r.stdout and "warnings:     1 field(s)" in r.stdout
    assert r.stderr.count("WARNING ") == 1 and "task_id 81" in r.stderr
