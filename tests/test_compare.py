"""compare.py and rundir's paired comparison: two evaluations of the same tasks, task by task, with the exact
sign test on the tasks gained and lost, checked against hand-computed numbers."""
import json

import pytest

import compare
import rundir


def line(task_id, site, score):
    return {"task_id": task_id, "site": site, "intent": f"task {task_id}", "score": score, "end": "exit",
            "answer": "", "eval_error": None, "steps": 3, "template": None}


def write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_sign_test_p_matches_the_binomial_by_hand():
    assert rundir.sign_test_p(6, 0) == pytest.approx(2 / 64)            # 2 * (1/2)^6
    assert rundir.sign_test_p(0, 6) == pytest.approx(2 / 64)            # two-sided: symmetric
    assert rundir.sign_test_p(1, 3) == pytest.approx(2 * (1 + 4) / 16)  # 2 * (C(4,0) + C(4,1)) / 2^4 = 0.625
    assert rundir.sign_test_p(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)
    assert rundir.sign_test_p(5, 5) == 1.0 and rundir.sign_test_p(0, 0) == 1.0   # capped at 1; nothing changed


def test_paired_counts_gains_and_losses_per_site_on_shared_tasks_only():
    before = [line(1, "map", 1.0), line(2, "map", 0.0), line(3, "shopping", 1.0), line(4, "shopping", 1.0),
              line(5, "reddit", None), line(9, "gitlab", 1.0)]                # 9: only before
    after = [line(1, "map", 1.0), line(2, "map", 1.0), line(3, "shopping", 0.0), line(4, "shopping", 0.0),
             line(5, "reddit", 1.0), line(7, "gitlab", 1.0), line(8, "gitlab", 0.0)]   # 7, 8: only after
    pair = rundir.paired(before, after)
    assert pair["Map"] == {"tasks": 2, "before": 1, "after": 2, "gained": 1, "lost": 0, "p": 1.0}
    assert pair["OSS"] == {"tasks": 2, "before": 2, "after": 0, "gained": 0, "lost": 2, "p": 0.5}
    assert pair["Reddit"]["gained"] == 1                 # a score of None (an evaluator error) is not a success
    assert pair["Gitlab"]["tasks"] == 0 and pair["CMS"]["tasks"] == 0
    assert pair["Avg"] == {"tasks": 5, "before": 3, "after": 3, "gained": 2, "lost": 2, "p": 1.0}
    assert (pair["only_before"], pair["only_after"]) == (1, 2)
    table = rundir.format_paired(pair)
    assert "| Map | 2 | 1 | 2 | 1 | 0 | 1.000 |" in table and "| Avg | 5 | 3 | 3 | 2 | 2 | 1.000 |" in table
    assert "Gitlab" not in table                         # a site with no shared task has no row


def test_read_eval_names_the_file_and_line_it_cannot_read(tmp_path):
    write(tmp_path / "a" / "results.jsonl", [line(1, "map", 1.0)])
    assert rundir.read_eval(tmp_path / "a") == [{"task_id": 1, "site": "map", "score": 1.0}]
    write(tmp_path / "phase0" / "eval.jsonl", [line(2, "map", 0.0)])
    assert rundir.read_eval(tmp_path / "phase0")[0]["task_id"] == 2
    torn = tmp_path / "b" / "results.jsonl"
    torn.parent.mkdir()
    torn.write_text(json.dumps(line(1, "map", 1.0)) + "\n" + '{"task_id": 2, "si')
    with pytest.raises(ValueError, match=r"results.jsonl line 2"):
        rundir.read_eval(torn.parent)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no results.jsonl"):
        rundir.read_eval(tmp_path / "empty")
    with pytest.raises(SystemExit, match="line 2"):     # compare.py: the same message, as the command's error
        compare.main([str(tmp_path / "a"), str(torn.parent)])


def test_compare_a_run_pairs_each_phase_with_the_one_before(tmp_path, capsys):
    run = tmp_path / "run"
    write(run / "phase0" / "eval.jsonl", [line(i, "shopping", float(i < 2)) for i in range(6)])
    write(run / "phase1" / "eval.jsonl", [line(i, "shopping", float(i < 4)) for i in range(6)])
    write(run / "phase2" / "eval.jsonl", [line(i, "shopping", float(i in (0, 5))) for i in range(6)])
    (run / "phase3").mkdir()                              # a phase killed before its evaluation: not compared
    pairs = compare.main([str(run)])
    assert [(p["Avg"]["gained"], p["Avg"]["lost"]) for p in pairs] == [(2, 0), (1, 3)]
    out = capsys.readouterr().out
    assert "phase0 -> " in out and "2 -> 4 of 6 shared tasks, 2 gained, 0 lost (sign test p = 0.500)" in out
    assert "4 -> 2 of 6 shared tasks, 1 gained, 3 lost (sign test p = 0.625)" in out
    with pytest.raises(SystemExit, match="fewer than two phases"):
        compare.main([str(run / "phase0")])
    with pytest.raises(SystemExit, match="share no task"):
        compare.main([str(run / "phase0"), str(write(tmp_path / "x.jsonl", [line(99, "map", 1.0)]))])


def test_a_finished_phase_prints_the_tasks_it_gained_and_lost(tmp_path, capsys):
    run = tmp_path / "run"
    write(run / "phase0" / "eval.jsonl", [line(i, "map", float(i < 1)) for i in range(4)])
    write(run / "phase1" / "eval.jsonl", [line(i, "map", float(i in (1, 2))) for i in range(4)])
    state, rows = {"finished": 0, "rows": []}, [{"model": "SFT", "phase": 0, "Avg": 25.0}]
    row = {"model": "WebRL phase 1", "phase": 1, "Avg": 50.0, **{name: 0.0 for _, name in rundir.SITE_COLUMNS}}
    rows[0].update({name: 0.0 for _, name in rundir.SITE_COLUMNS})
    rundir.finish_phase(run, state, rows, row, {"phase": 1, "seconds": 5}, run / "metrics.jsonl")
    assert "50.0%  (+25.0 vs phase 0 on the same 4 tasks: 2 gained, 1 lost, sign test p = 1.00)" in capsys.readouterr().out
    # an evaluation grown by a --resume (--eval-tasks 4 -> 8): the change is counted on the tasks both played
    write(run / "phase1" / "eval.jsonl", [line(i, "map", float(i in (1, 2, 5, 6, 7))) for i in range(8)])
    rundir.finish_phase(run, state, rows[:1], dict(row, Avg=62.5), {"phase": 1, "seconds": 5}, run / "metrics.jsonl")
    assert "62.5%  (+25.0 vs phase 0 on the same 4 tasks: 2 gained, 1 lost" in capsys.readouterr().out
    # without the earlier phase's file the rates alone are shown, and the phase still finishes
    (run / "phase0" / "eval.jsonl").unlink()
    rundir.finish_phase(run, state, rows[:1], row, {"phase": 1, "seconds": 5}, run / "metrics.jsonl")
    assert "(+25.0 vs phase 0)" in capsys.readouterr().out and state["finished"] == 1
