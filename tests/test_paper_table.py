"""bench/paper_table.py's bookkeeping: cached runs are not re-run, the report's means, stds and shape checks."""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import paper_table  # noqa: E402


def state(run, avgs):
    run.mkdir(parents=True)
    rows = [{"model": "x", "phase": k, "Reddit": a, "Gitlab": a, "CMS": a, "Map": a, "OSS": float("nan"), "Avg": a}
            for k, a in enumerate(avgs)]
    (run / "state.json").write_text(json.dumps({"finished": len(avgs) - 1, "rows": rows}))


def fake_subprocess(run):
    """paper_table's own handle on subprocess, replaced: patching subprocess.run itself would also catch
    matplotlib's font scan (fc-list) on its first import, on a machine without its font cache."""
    return SimpleNamespace(run=run, STDOUT=subprocess.STDOUT)


def test_report_means_stds_and_shape(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    for seed, shift in ((0, 0.0), (1, 2.0)):
        b = runs / f"seed{seed}"
        state(b / "sft", [10 + shift])
        state(b / "filtered_bc", [10 + shift, 12 + shift])
        state(b / "awr", [10 + shift, 14 + shift])
        state(b / "digirl", [10 + shift, 15 + shift])
        state(b / "webrl", [10 + shift, 30 + shift])
        state(b / "webrl_no_replay", [10 + shift, 20 + shift])
        state(b / "webrl_no_kl", [10 + shift, 25 + shift])
        state(b / "band_all", [10 + shift, 29 + shift])
    called = []
    monkeypatch.setattr(paper_table, "subprocess", fake_subprocess(lambda *a, **k: called.append(a)))
    rc = paper_table.main(["--seeds", "0,1", "--phases", "1", "--runs", str(runs), "--out", str(tmp_path / "out"),
                           "--only", "sft,webrl,awr"])
    assert rc == 0 and called == []                          # every run had finished: nothing re-run
    text = (tmp_path / "out" / "README.md").read_text()
    assert "| SFT | 2 | 11.0 +- 1.4 | 11.0 +- 1.4 | 11.0 +- 1.4 | 11.0 +- 1.4 | - | 11.0 +- 1.4 |" in text
    assert "| WebRL | 2 | 31.0 +- 1.4 |" in text
    assert "| webrl_no_replay | 2 | 11.0 | 21.0 |" in text
    assert "- WebRL > DigiRL: yes (31.0 vs 16.0, n=2)" in text and "- WebRL >= SFT + 15 points: yes (31.0 vs 26.0, n=2)" in text
    assert "- Filtered BC > SFT: yes (13.0 vs 11.0, n=2)" in text and "- no KL: below WebRL at the last phase: yes (26.0 vs 31.0, n=2)" in text
    assert "| (0, 0.5] | 0 | - |" in text                     # a band never run is reported as missing
    assert "- (0.5, 0.95] band >= every other band: yes (31.0 vs 30.0, n=2)" in text          # webrl 31.0 vs (0, 1] 30.0
    assert "- webrl_no_curriculum" not in text
    # the report is made from the records under out/rows/, so it survives the checkpoints
    assert json.loads((tmp_path / "out" / "rows" / "seed1" / "webrl.json").read_text())["rows"][1]["Avg"] == 32.0
    shutil.rmtree(runs)
    assert paper_table.main(["--seeds", "0,1", "--phases", "1", "--runs", str(runs), "--out", str(tmp_path / "out"),
                             "--report"]) == 0
    assert (tmp_path / "out" / "README.md").read_text() == text


def test_a_record_with_the_average_only(tmp_path):
    # a record kept without its per-site columns (e.g. recovered from an earlier report) counts in Avg only
    out = tmp_path / "out"
    for seed, avg in ((0, 0.0), (1, 6.0)):
        (out / "rows" / f"seed{seed}").mkdir(parents=True)
        rows = [{"phase": 0, "Avg": avg}] if seed == 0 else [{"phase": 0, "Reddit": 30.0, "Gitlab": 0.0, "CMS": 0.0,
                                                             "Map": 0.0, "OSS": 0.0, "Avg": avg}]
        rec = {"finished": 0, "rows": rows, **({"note": "average only"} if seed == 0 else {})}
        (out / "rows" / f"seed{seed}" / "sft.json").write_text(json.dumps(rec))
    assert paper_table.main(["--seeds", "0,1", "--phases", "1", "--runs", str(tmp_path / "none"), "--out", str(out),
                             "--report"]) == 0
    text = (out / "README.md").read_text()
    assert "| SFT | 2 | 30.0 +- 0.0 | 0.0 +- 0.0 | 0.0 +- 0.0 | 0.0 +- 0.0 | 0.0 +- 0.0 | 3.0 +- 4.2 |" in text
    assert "- seed0 (sft): average only" in text


def test_unfinished_run_is_resumed_from_the_shared_sft(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    state(runs / "seed0" / "sft", [5.0])
    (runs / "seed0" / "sft" / "episodes").mkdir()
    (runs / "seed0" / "sft" / "FROM.txt").write_text("phase 0 of another run")
    seen = []

    def fake_run(cmd, **kw):
        seen.append(cmd)
        state_path = runs / "seed0" / "awr" / "state.json"
        rows = json.loads(state_path.read_text())["rows"] + [dict(json.loads(state_path.read_text())["rows"][0], phase=1)]
        state_path.write_text(json.dumps({"finished": 1, "rows": rows}))
        return type("R", (), {"returncode": 0})()
    monkeypatch.setattr(paper_table, "subprocess", fake_subprocess(fake_run))
    rc = paper_table.main(["--seeds", "0", "--phases", "1", "--runs", str(runs), "--out", str(tmp_path / "out"),
                           "--only", "awr", "--extra", "--eval-tasks 7"])
    assert rc == 0 and len(seen) == 1
    cmd = seen[0]
    assert cmd[cmd.index("--run-dir") + 1] == str(runs / "seed0" / "awr") and "--resume" in cmd
    assert cmd[cmd.index("--algo") + 1] == "awr" and cmd[cmd.index("--eval-tasks") + 1] == "7"
    assert not (runs / "seed0" / "awr" / "episodes").exists()   # the copy leaves the SFT episodes behind
    assert not (runs / "seed0" / "awr" / "FROM.txt").exists()
    text = (tmp_path / "out" / "README.md").read_text()
    assert "- seed0 (sft): phase 0 of another run" in text and "awr" not in text.split("Notes on the records:")[1]
    assert "- (0.5, 0.95] band >= every other band: NO (nan vs nan, n=0)" in text   # no band to compare with
    assert "--run-dir" in (tmp_path / "out" / "commands.txt").read_text()


def test_comparisons_pair_the_seeds():
    # a run finished on seed 0 only is compared with seed 0 of the other, not with the mean of all its seeds
    assert paper_table.paired({0: 1.0, 1: 5.0}, {0: 3.0}) == ([1.0, 3.0], 1)
    means, n = paper_table.paired({0: 1.0}, {1: 3.0})
    assert n == 0 and all(math.isnan(m) for m in means)


def test_answer_row_evaluates_the_same_test_tasks_once(tmp_path, monkeypatch):
    seen = []

    def fake_main(ea):
        seen.append(ea)
        Path(ea.out).mkdir(parents=True)
        (Path(ea.out) / "results.jsonl").write_text('{"task_id": 4, "site": "map", "score": 1.0}\n')
        return {"model": 'answer "1"', "Reddit": 0.0, "Gitlab": 0.0, "CMS": 0.0, "Map": 25.0, "OSS": 0.0, "Avg": 5.0}
    monkeypatch.setattr(paper_table.evaluate, "main", fake_main)
    argv = ["--seeds", "3", "--phases", "1", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out"),
            "--only", "answer", "--extra", "--eval-tasks 7"]
    assert paper_table.main(argv) == 0 and paper_table.main(argv) == 0
    assert len(seen) == 1                                       # cached: its record was written the first time
    assert (seen[0].answer, seen[0].seed, seen[0].limit) == ("1", 3, 7)   # train.py's --eval-tasks of the same seed
    text = (tmp_path / "out" / "README.md").read_text()
    assert "| Answer '1', no model (not in the paper) | 1 | 0.0 +- 0.0 | 0.0 +- 0.0 | 0.0 +- 0.0 | 25.0 +- 0.0 |" in text
    assert "- WebRL > Answer '1' (not in the paper): NO (nan vs nan, n=0)" in text   # no WebRL run to compare with
    assert "--answer 1 --seed 3 --limit 7" in (tmp_path / "out" / "commands.txt").read_text()
    assert (tmp_path / "out" / "rows" / "seed3" / "answer" / "phase0.jsonl").read_text() == \
        '{"task_id": 4, "site": "map", "score": 1.0}\n'


def test_runs_are_paired_task_by_task_over_the_seeds(tmp_path, monkeypatch):
    """Each finished phase's per-task results are kept beside the run's record; the report pools WebRL's tasks
    gained and lost against the SFT over the seeds (a task is its seed's), with the sign test."""
    runs, out = tmp_path / "runs", tmp_path / "out"

    def evaluation(run, phase, wins):   # 4 test tasks of each site column's first two: 1 = solved
        (run / f"phase{phase}").mkdir(parents=True)
        (run / f"phase{phase}" / "eval.jsonl").write_text("".join(
            json.dumps({"task_id": i, "site": "map" if i < 2 else "gitlab", "score": float(w), "end": "exit"}) + "\n"
            for i, w in enumerate(wins)))
    for seed, (sft, webrl) in enumerate((([0, 0, 1, 0], [1, 1, 1, 0]), ([1, 0, 0, 0], [0, 1, 1, 1]))):
        state(runs / f"seed{seed}" / "sft", [25.0])
        evaluation(runs / f"seed{seed}" / "sft", 0, sft)
        state(runs / f"seed{seed}" / "webrl", [25.0, 75.0])
        evaluation(runs / f"seed{seed}" / "webrl", 1, webrl)          # phase 0 of webrl: no file, none needed
    monkeypatch.setattr(paper_table, "subprocess", fake_subprocess(lambda *a, **k: None))
    assert paper_table.main(["--seeds", "0,1", "--phases", "1", "--runs", str(runs), "--out", str(out),
                             "--only", "sft,webrl"]) == 0
    kept = (out / "rows" / "seed1" / "webrl" / "phase1.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in kept][3] == {"task_id": 3, "site": "gitlab", "score": 1.0}
    # seed 0: 2 gained, 0 lost; seed 1: 3 gained, 1 lost -> 5 gained, 1 lost over 8 tasks: p = 2 * 7 / 64
    text = (out / "README.md").read_text()
    assert "| webrl | sft | 2 | 8 | 2 | 6 | 5 | 1 | 0.219 |" in text
    assert "| webrl | digirl |" not in text                         # no digirl run: no line
    shutil.rmtree(runs)                                              # the report is re-made from out/ alone
    assert paper_table.main(["--seeds", "0,1", "--phases", "1", "--runs", str(runs), "--out", str(out), "--report"]) == 0
    assert (out / "README.md").read_text() == text
