"""report.py: the report of a --smoke run in a real browser (Chromium through Playwright), a killed run's report,
the screenshots train.py / evaluate.py take with --screenshots, and the reading and matching underneath.

The smoke run is the session's (conftest.smoke_run, shared with test_train). While working on the report,
WEBRL_SMOKE_RUN=DIR uses a finished `train.py --smoke --screenshots --run-dir DIR` instead."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import env
import report
from conftest import ROOT, page_task


@pytest.fixture(scope="module")
def smoke(request):
    if os.environ.get("WEBRL_SMOKE_RUN"):
        return Path(os.environ["WEBRL_SMOKE_RUN"])
    run, r = request.getfixturevalue("smoke_run")
    assert r.returncode == 0, r.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    exe, args = env.find_chromium()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=args)
        yield b
        b.close()


def open_report(browser, path: Path):
    """The report in a new page; every JavaScript error on it is collected in page.errors."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(path.resolve().as_uri())
    return page


def jsonl(path: Path) -> list:
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def shown_steps(page) -> list:
    """(action, error) of each step of the open episode, as the page shows them."""
    out = []
    for li in page.locator(".episode .step").all():
        a, e = li.locator(".action code"), li.locator(".error code")
        out.append((a.text_content() if a.count() else None, e.text_content() if e.count() else None))
    return out


# =============================================================================================
# The report of a --smoke run


def test_train_writes_the_report_after_every_phase(smoke):
    text = (smoke / "report.html").read_text()
    assert "WebRL phase 2" in text and 'id="phase-2"' in text      # rewritten at the end of the last phase
    for outside in ('src="http', 'href="http', "<link", "<script src", "@import"):   # self-contained: nothing fetched
        assert outside not in text, outside


def test_smoke_report_in_a_browser_failures_step_by_step(smoke, browser, tmp_path):
    out = report.write(smoke, tmp_path / "report.html")
    size = out.stat().st_size
    print(f"smoke report: {size / 1e6:.2f} MB")
    assert size < 5e6
    page = open_report(browser, out)
    assert page.locator(".t1 tbody tr").count() == 3                  # SFT, phase 1, phase 2
    assert page.locator(".problems").count() == 0, page.locator(".problems").text_content()
    assert page.locator("#f-phase").input_value() == "2"              # the latest phase first
    lines = jsonl(smoke / "phase2" / "eval.jsonl")
    failed = [l for l in lines if l["score"] != 1.0]
    assert failed, "the smoke run's tiny actor solved every test task: nothing to filter"
    page.select_option("#f-kind", "eval")
    page.select_option("#f-success", "no")
    rows = page.locator("#list tr.ep")
    assert rows.count() == len(failed)
    assert all(t == "0" for t in page.locator("#list tr.ep td.score").all_text_contents())

    rows.first.click()
    intent = rows.first.locator("td.intent").text_content()
    [line] = [l for l in lines if l["intent"] == intent]
    record = jsonl(smoke / page.locator(".episode").get_attribute("data-file"))
    steps = [r for r in record if "step" in r]
    assert len(steps) == line["steps"]
    assert shown_steps(page) == [(s["action"], s["error"]) for s in steps]
    score = page.locator(".episode .final-score").text_content()
    assert float(score.split(": ")[1]) == line["score"]
    assert page.locator(".episode .end").text_content() == f"end: {line['end']}"
    # the observation is collapsed, and holds the record's page once opened
    obs = page.locator(".episode .obs").first
    assert obs.get_attribute("open") is None
    obs.locator("summary").click()
    assert obs.locator("pre").text_content() == steps[0]["html"]
    # --screenshots: one half-size JPEG beside each step of the test episodes
    shots = page.locator(".episode img.shot")
    assert shots.count() == len(steps)
    assert shots.first.evaluate("img => img.naturalWidth") == env.VIEWPORT["width"] // 2
    page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert page.errors == []


def test_smoke_report_rollouts_with_the_orm(smoke, browser, tmp_path):
    """Phase 1's rollouts: the ORM's P(YES) of each, and the filters on its verdict and on disagreement."""
    out = report.write(smoke, tmp_path / "report.html")
    tasks = json.loads((smoke / "tasks_phase1.json").read_text())
    page = open_report(browser, out)
    page.select_option("#f-phase", "1")
    page.select_option("#f-kind", "rollouts")
    rows = page.locator("#list tr.ep")
    assert rows.count() == len(tasks)
    by_intent = {t["intent"]: t for t in tasks}
    for tr in rows.all():
        t = by_intent[tr.locator("td.intent").text_content()]
        assert t["orm_p"] is not None                                  # --smoke trains and uses an ORM
        assert abs(float(tr.locator("td").nth(7).text_content()) - t["orm_p"]) < 1e-3
    yes = sum(t["orm_p"] >= 0.5 for t in tasks)
    page.select_option("#f-orm", "yes")
    assert rows.count() == yes
    page.select_option("#f-orm", "no")
    assert rows.count() == len(tasks) - yes
    page.select_option("#f-orm", "")
    page.check("#f-disagree")
    assert rows.count() == sum((t["orm_p"] >= 0.5) != (t["score"] == 1.0) for t in tasks)
    page.uncheck("#f-disagree")
    rows.first.click()
    assert page.locator(".episode .orm").text_content().startswith("ORM P(YES): 0")
    assert page.locator(".episode img.shot").count() == 0             # screenshots are of test episodes only
    # the phase's curriculum table: every task played, with its reward
    assert page.locator("#phases .tasks tbody tr").count() >= len(tasks)
    assert page.errors == []


def killed_copy(run: Path, dst: Path) -> Path:
    """The smoke run as a kill during phase 2's rollouts leaves it, and without args.json."""
    shutil.copytree(run, dst, ignore=shutil.ignore_patterns("actor", "critic", "tiny", "orm", "report.html"))
    state = json.loads((dst / "state.json").read_text())
    (dst / "state.json").write_text(json.dumps({"finished": 1, "rows": state["rows"][:2]}))
    shutil.rmtree(dst / "phase2")
    shutil.rmtree(dst / "episodes" / "phase2" / "eval")
    (dst / "tasks_phase2.json").unlink()
    (dst / "args.json").unlink()
    metrics = (dst / "metrics.jsonl").read_text().splitlines()
    (dst / "metrics.jsonl").write_text("\n".join(metrics[:2]) + '\n{"phase": 2, "tasks": 4, "rollo')
    cut = sorted((dst / "episodes" / "phase2" / "rollouts").glob("*.jsonl"))[0]
    cut.write_text("".join(l + "\n" for l in cut.read_text().splitlines() if '"end"' not in l))
    return cut


def test_report_of_a_killed_run_renders_and_names_what_is_missing(smoke, browser, tmp_path):
    cut = killed_copy(smoke, tmp_path / "killed")
    out = report.write(tmp_path / "killed", tmp_path / "report.html")
    page = open_report(browser, out)
    problems = page.locator(".problems").text_content()
    for what in ("args.json is missing", "phase2/eval.jsonl is missing: phase 2 has not finished (the last finished phase is 1)",
                 "tasks_phase2.json is missing", "metrics.jsonl line 3 is not valid JSON"):
        assert what in problems, what
    assert page.locator(".t1 tbody tr").count() == 2
    assert "phase 2 has not finished" in page.locator("#phases").text_content()
    # phase 2's rollouts are there, without their task lines; the cut one says so
    assert page.locator("#f-phase").input_value() == "2"
    rows = page.locator("#list tr.ep")
    assert rows.count() == len(list(cut.parent.glob("*.jsonl")))
    intent = report.intent_of([r for r in jsonl(cut) if "step" in r])
    page.locator("#list tr.ep", has_text=intent).first.click()
    assert "has no end line: the episode was cut" in page.locator(".episode").text_content()
    page.screenshot(path=str(tmp_path / "killed.png"))
    assert page.errors == []


def test_older_runs_flat_episodes_are_matched_to_their_phases(smoke, tmp_path):
    """Runs from before episodes/phase{k}/{kind}/ kept every record in episodes/: each goes to the phase and kind
    whose task line has its instruction, in the order they were played; the rest (the ORM's) are counted."""
    old = tmp_path / "old"
    shutil.copytree(smoke, old, ignore=lambda d, names: [n for n in names if n in ("actor", "critic", "tiny", "report.html")
                                                          or n.endswith(".jpg") or (Path(d) == smoke and n == "orm")])
    for f in list((old / "episodes").rglob("*.jsonl")):
        f.rename(old / "episodes" / f.name)
    new, flat = report.load(smoke), report.load(old)
    def files(d, p):
        return [(e["kind"], e["intent"], Path(e["file"]).name) for e in d["blobs"][p]["episodes"]]
    for p in (0, 1, 2):
        assert files(flat, p) == files(new, p) and files(flat, p)
    orm_records = len(list((smoke / "episodes" / "phase0" / "orm").glob("*.jsonl")))
    assert list(flat["others"].values()) == [orm_records]


# =============================================================================================
# Without a smoke run: an evaluate.py folder made by hand, reading and matching


def fake_eval_dir(root: Path, html: str) -> Path:
    """An evaluate.py --out folder: two tasks, one solved; the second episode's page holds `html`."""
    (root / "episodes").mkdir(parents=True)
    lines = []
    for i, (intent, score, page) in enumerate([("Find the phone", 1.0, "<html> Phones </html>"), ("Count the posts", 0.0, html)]):
        lines.append({"task_id": 10 + i, "site": ["shopping", "reddit"][i], "intent": intent, "score": score,
                      "end": "exit", "answer": "3", "eval_error": None, "steps": 2, "template": f"template {i}"})
        recs = [{"task_id": i, "step": k, "prompt": f"Task Instruction: {intent}\n\nRound {k}\n\n{page}", "html": page,
                 "response": r, "url": "http://x/", "action": a, "error": e, "ms": 5.0, "score": score}
                for k, (r, a, e) in enumerate([("do(", None, "unparsable: not a single Python call"),
                                               ('exit(message="3")', 'exit(message="3")', None)])]
        recs.append({"task_id": i, "end": "exit", "answer": "3", "score": score, "eval": {"string_match": score}})
        (root / "episodes" / f"task{i}-abcd1234-{i + 1}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (root / "results.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    return root


def test_page_text_cannot_break_out_of_the_report(browser, tmp_path):
    """An observation holding </script>, <!-- and markup is data: shown as text, never run."""
    nasty = "<html> </script><script>document.title='pwned'</script><!-- <img src=x onerror=alert(1)> </html>"
    out = report.write(fake_eval_dir(tmp_path / "eval", nasty), tmp_path / "report.html")
    page = open_report(browser, out)
    assert page.title() == "report: eval" and page.locator(".problems").count() == 0
    assert page.locator("#list tr.ep").count() == 2
    page.select_option("#f-success", "no")
    page.locator("#list tr.ep").first.click()
    assert shown_steps(page) == [(None, "unparsable: not a single Python call"), ('exit(message="3")', None)]
    page.locator(".episode .obs summary").first.click()
    assert page.locator(".episode .obs pre").first.text_content() == nasty
    assert page.title() == "report: eval" and page.errors == []


def test_observations_are_stored_once_per_phase(tmp_path):
    run = fake_eval_dir(tmp_path / "eval", "<html> same </html>")
    blob = report.load(run)["blobs"][0]
    assert len(blob["episodes"]) == 2 and sum(len(e["steps"]) for e in blob["episodes"]) == 4
    assert blob["observations"] == ["<html> Phones </html>", "<html> same </html>"]
    assert [s["obs"] for e in blob["episodes"] for s in e["steps"]] == [0, 0, 1, 1]
    assert "prompt" not in json.dumps(blob)


def test_match_pairs_episodes_by_instruction_in_play_order(tmp_path):
    def ep(intent, pool, n, task_id=0):
        p = tmp_path / f"task{task_id}-{pool}-{n}.jsonl"
        p.write_text("")
        return {"path": p, "intent": intent, "pool": pool, "n": n, "task_id": task_id}
    a2, a1, b1 = ep("A", "aa", 7), ep("A", "aa", 2), ep("B", "aa", 3)
    lines = [{"intent": "A"}, {"intent": "B"}, {"intent": "A"}, {"intent": "C"}]
    paired, left = report.match(lines, [a2, b1, a1])
    assert paired == [a1, b1, a2, None] and left == []
    # an episode whose start page failed has no steps, hence no instruction: its task_id is its line's index
    dead = ep(None, "aa", 9, task_id=3)
    paired, left = report.match(lines, [a2, b1, a1, dead], by_index=True)
    assert paired[3] is dead and left == []
    assert report.match(lines, [dead])[1] == [dead]
    # killed mid-episode, then replayed by --resume: the whole episode is the line's, the cut one is left over
    cut, whole = dict(ep("B", "aa", 1), end=None), dict(ep("B", "bb", 1), end={"end": True})
    paired, left = report.match([{"intent": "B"}], [cut, whole])
    assert paired == [whole] and left == [cut]


def test_reader_notes_missing_and_cut_files(tmp_path):
    r = report.Reader(tmp_path)
    (tmp_path / "m.jsonl").write_text('{"phase": 0}\n{"phase": 1}\n{"pha')
    assert r.jsonl(tmp_path / "m.jsonl") == [{"phase": 0}, {"phase": 1}]
    assert r.jsonl(tmp_path / "gone.jsonl") == [] and r.json(tmp_path / "gone.json", "it is needed") is None
    assert r.problems == ["m.jsonl line 3 is not valid JSON (cut by a kill?): skipped", "gone.json is missing: it is needed"]


def test_cli_names_a_wrong_run_dir(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "report.py"), str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode != 0 and f"{tmp_path / 'nope'} is not a directory" in r.stderr


# =============================================================================================
# --screenshots: env.Pool writes them beside the records; the observation never changes


def jpeg_size(data: bytes) -> tuple:
    """(width, height) from a baseline JPEG's SOF0 marker."""
    i = data.index(b"\xff\xc0")
    return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")


def test_screenshots_are_beside_the_records_never_in_the_observation(pages_url, tmp_path):
    recs = {}
    for shots in (False, True):
        with env.Pool(1, urls={"SHOPPING": pages_url}, record_dir=str(tmp_path / str(shots)), screenshots=shots) as pool:
            pool.reset([page_task(pages_url, "/basic.html")])
            pool.step(['do(action="Scroll Down")'])
            pool.step(['exit(message="done")'])
        [f] = (tmp_path / str(shots)).glob("*.jsonl")
        recs[shots] = [r for r in jsonl(f) if "step" in r]
    assert len(recs[True]) == len(recs[False]) == 2
    for off, on in zip(recs[False], recs[True]):
        assert "screenshot" not in off
        assert {k: off[k] for k in ("prompt", "html", "url", "action", "error")} == \
               {k: on[k] for k in ("prompt", "html", "url", "action", "error")}
    jpgs = [(tmp_path / "True" / r["screenshot"]).read_bytes() for r in recs[True]]
    for j in jpgs:
        assert j[:3] == b"\xff\xd8\xff" and len(j) < 60_000
        assert jpeg_size(j) == (env.VIEWPORT["width"] // 2, env.VIEWPORT["height"] // 2)
    assert jpgs[0] != jpgs[1]                    # step 1 shows the page scrolled down
