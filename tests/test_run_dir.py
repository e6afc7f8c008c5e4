"""train.py's run directories (a new one per run, --resume finds the latest unfinished, a run is never overwritten)
and the short summary each finished phase prints."""
import json
import time

import pytest

import rundir


def make_run(root, name, phases=3, finished=None, algo="webrl"):
    """A run directory as train.py leaves it: args.json, and state.json once a phase finished."""
    run = root / name
    run.mkdir(parents=True)
    (run / "args.json").write_text(json.dumps({"phases": phases, "algo": algo}))
    if finished is not None:
        (run / "state.json").write_text(json.dumps({"finished": finished, "rows": []}))
    return run


def test_each_run_gets_a_new_directory(tmp_path):
    now = time.mktime((2025, 6, 1, 9, 30, 0, 0, 0, -1))
    first = rundir.new_run_dir(tmp_path, now)
    assert first == tmp_path / "webrl-20250601-093000" and not first.exists()
    first.mkdir()
    second = rundir.new_run_dir(tmp_path, now)          # the same second: numbered, never the same directory
    assert second == tmp_path / "webrl-20250601-093000-2"
    second.mkdir()
    assert rundir.new_run_dir(tmp_path, now).name == "webrl-20250601-093000-3"
    assert rundir.pick_run_dir("", False, tmp_path).name.startswith("webrl-")


def test_resume_without_a_directory_continues_the_latest_unfinished_run(tmp_path):
    make_run(tmp_path, "webrl-20250601-093000", finished=1)          # unfinished, older
    latest = make_run(tmp_path, "webrl-20250602-080000", finished=0)
    make_run(tmp_path, "webrl-20250603-080000", finished=3)          # finished: all 3 phases
    make_run(tmp_path, "webrl-20250604-080000", phases=0, finished=0, algo="sft")   # --algo sft: phase 0 is all
    make_run(tmp_path, "p2", finished=0)                              # named by hand: resumed by naming it
    (tmp_path / "webrl-20250605-080000").mkdir()                      # no args.json: not a run
    assert rundir.pick_run_dir("", True, tmp_path) == latest
    killed = make_run(tmp_path, "webrl-20250602-080000-2")           # killed in phase 0, no state.json yet
    assert rundir.pick_run_dir("", True, tmp_path) == killed
    assert [r.name for r in rundir.named_runs(tmp_path)][:3] == ["webrl-20250601-093000", "webrl-20250602-080000",
                                                                 "webrl-20250602-080000-2"]


def test_resume_with_nothing_to_continue_is_a_clear_error(tmp_path):
    make_run(tmp_path, "webrl-20250603-080000", finished=3)
    with pytest.raises(SystemExit, match="no unfinished run"):
        rundir.pick_run_dir("", True, tmp_path)


def test_an_explicit_run_dir_that_holds_a_run_is_refused_unless_resumed(tmp_path):
    run = make_run(tmp_path, "mine", finished=3)
    with pytest.raises(SystemExit, match="already holds a run"):
        rundir.pick_run_dir(str(run), False, tmp_path)
    assert rundir.pick_run_dir(str(run), True, tmp_path) == run
    assert rundir.pick_run_dir(str(tmp_path / "fresh"), False, tmp_path) == tmp_path / "fresh"
    # `make train` passes --run-dir runs/make-train --resume: its first call starts the run there
    assert rundir.pick_run_dir(str(tmp_path / "make-train"), True, tmp_path) == tmp_path / "make-train"


def test_eval_changes_names_what_makes_rows_incomparable():
    old = {"seed": 0, "eval_tasks": 24, "max_steps": 15, "phases": 0, "algo": "webrl", "test_tasks": ""}
    new = {**old, "eval_tasks": 48, "phases": 2, "algo": "awr"}          # phases and algo: a resume may change them
    assert rundir.eval_changes(old, new) == ["eval_tasks 24 -> 48"]
    assert rundir.eval_changes(old, {**new, "seed": 1, "test_tasks": "lite.json"}) == [
        "seed 0 -> 1", "test_tasks '' -> 'lite.json'", "eval_tasks 24 -> 48"]
    assert rundir.eval_changes(old, dict(old)) == []
    assert rundir.eval_changes({"seed": 0}, {"eval_tasks": 48}) == []   # an older args.json without the key


def test_phase_summary_is_short_aligned_and_leaves_out_what_a_phase_lacks(tmp_path):
    path = tmp_path / "metrics.jsonl"
    m = {"phase": 2, "tasks": 16, "rollout_reward": 25.0, "rollout_success": 18.75, "orm_agreement": 0.875,
         "tasks_generated": 20, "tasks_kept_by_critic": 9, "tasks_from_train_split": 7, "replay_scored": 250,
         "replay_kept": 60, "replay_sampled": 40, "fresh_steps": 120, "critic_loss_first": 0.69, "critic_loss_last": 0.51,
         "actor_loss_first": 0.03, "actor_loss_last": 0.012, "kl_to_ref": 0.0042, "adv_std": 0.3, "seconds": 3725.0,
         "peak_rss_gb": {"rollouts": 4.2, "actor": 7.81, "eval": 5.0}}
    text = rundir.phase_summary({"phase": 2, "Avg": 15.0}, {"phase": 1, "Avg": 12.5}, m, path)
    lines = text.splitlines()
    labels = ["test success", "rollout reward", "ORM agreement", "tasks", "replay", "critic loss", "actor loss",
              "KL to ref", "time", "peak memory", "full record"]
    assert lines[0] == "phase 2 done" and [line[2:2 + len(k)] for line, k in zip(lines[1:], labels)] == labels
    col = 2 + max(map(len, labels)) + 2
    assert len(lines) == 1 + len(labels) and all(line[col - 2:col] == "  " and line[col] != " " for line in lines[1:])
    values = dict(zip(labels, (line[col:] for line in lines[1:])))   # one aligned column of values
    assert "15.0%  (+2.5 vs phase 1)" in values["test success"]
    assert "25.0% of 16 tasks  (the evaluators: 18.8%)" in values["rollout reward"]
    assert "87.5%" in values["ORM agreement"] and "20 generated, 9 kept by the critic, 7 from the training split" in values["tasks"]
    assert "60 of 250 old steps kept, 40 replayed, 120 fresh" in values["replay"]
    assert "0.6900 -> 0.5100" in values["critic loss"] and "0.0300 -> 0.0120" in values["actor loss"]
    assert "0.0042" in values["KL to ref"] and "1h 02m" in values["time"] and str(path) in values["full record"]
    assert values["peak memory"] == "7.8 GB in actor (train.py's process; eval 5.0, rollouts 4.2)"
    assert "adv_std" not in text
    # phase 0 has no rollouts, critic or actor: those lines are left out, and no change is claimed
    sft = rundir.phase_summary({"phase": 0, "Avg": 10.0}, None, {"phase": 0, "sft_loss_first": 2.0, "sft_loss_last": 0.5,
                                                                 "demos": 250, "sft_tasks": 40, "seconds": 75}, path)
    assert "rollout" not in sft and "critic" not in sft and "vs phase" not in sft and "peak memory" not in sft
    assert "2.0000 -> 0.5000" in sft and "1m 15s" in sft and "250 steps of 40 tasks" in sft


def test_duration_reads_at_a_glance():
    assert [rundir.duration(s) for s in (4.4, 75, 3599.6, 3725)] == ["4s", "1m 15s", "1h 00m", "1h 02m"]
