"""train.py end to end: the --smoke loop, a resume after kill -9, and clear errors for bad input."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import dist
from conftest import ROOT


def run_train(*flags, timeout=900):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *flags], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def digest(path):
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_help_lists_the_options():
    r = run_train("--help")
    assert r.returncode == 0
    for flag in ("--phases", "--tasks-per-phase", "--policy", "--critic", "--beta", "--lam", "--loss", "--resume", "--smoke"):
        assert flag in r.stdout
    assert "KL coefficient of eq. 6" in r.stdout   # the field docstrings are the help


def test_switches_parse_both_ways():
    import train
    assert train.cli(train.Args, ["--no-replay", "--no-kl"]).no_replay is True
    a = train.cli(train.Args, [])
    assert a.no_replay is False and a.no_kl is False and a.precision == "auto"
    assert train.cli(train.Args, ["--precision", "fp32", "--smoke"]).bf16 is False
    assert train.cli(train.Args, ["--precision", "bf16"]).bf16 is True


def test_presets_and_explicit_flags():
    """The default actor is the pretrained SmolLM2 with its own learning rates; --policy tiny (and --smoke, which
    uses it) switch to the from-scratch model's; a flag given explicitly wins over every preset."""
    import train
    a = train.parse_args([])
    assert a.policy == "smollm2" and a.train_layers > 0 and a.sft_lr < 1e-3
    t = train.parse_args(["--policy", "tiny"])
    assert t.sft_lr == 2e-3 and t.train_layers == 0
    s = train.parse_args(["--smoke"])
    assert s.policy == "tiny" and s.sft_lr == 2e-3
    # the evaluators reward by default (the phase-0 judge missed every success: Args.reward); --smoke runs the
    # whole loop, the ORM included, unless --reward says else
    assert a.reward == "groundtruth" and s.reward == "orm"
    assert train.parse_args(["--smoke", "--reward", "groundtruth"]).reward == "groundtruth"
    p = train.parse_args(["--smoke", "--policy", "smollm2", "--sft-lr", "1e-4"])
    assert p.policy == "smollm2" and p.sft_lr == 1e-4 and p.train_layers == a.train_layers and p.phases == 2
    # the pretrained default compiles its SFT's layers; the minutes-long tiny and smoke runs do not
    assert (a.compile, t.compile, s.compile, p.compile) == ("sft", "none", "none", "none")
    assert train.parse_args(["--policy", "tiny", "--compile", "all"]).compile == "all"


@pytest.mark.parametrize("flags, message", [
    (["--lam", "2"], "--lam must be in [0, 1]"),
    (["--phases", "-1"], "--phases must be positive"),
    (["--conf-low", "0.9", "--conf-high", "0.5"], "--conf-low < --conf-high"),
    (["--loss", "mse"], "--loss must be one of"),
])
def test_out_of_range_config_is_a_clear_error(flags, message):
    r = run_train(*flags)
    assert r.returncode != 0 and message in r.stderr


def test_wrong_policy_path_is_a_clear_error(tmp_path):
    import policy
    with pytest.raises(FileNotFoundError, match="nope"):
        policy.load_actor(tmp_path / "nope")


def test_existing_run_dir_needs_resume(tmp_path):
    (tmp_path / "state.json").write_text("{}")
    r = run_train("--smoke", "--run-dir", str(tmp_path))
    assert r.returncode != 0 and "--resume" in r.stderr


def test_smoke_runs_the_whole_loop(smoke_run, tmp_path):
    run, r = smoke_run      # train.py --smoke --screenshots, shared with test_report.py
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| model | Reddit | Gitlab | CMS | Map | OSS | Avg |" in r.stdout
    assert "| SFT |" in r.stdout and "| WebRL phase 2 |" in r.stdout
    metrics = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["phase"] for m in metrics] == [0, 1, 2]
    # phase 0: the tiny model's language-model pretraining, then SFT, which starts where it left off
    assert metrics[0]["pretrain_loss_last"] < metrics[0]["pretrain_loss_first"]
    assert metrics[0]["sft_loss_last"] < metrics[0]["sft_loss_first"]
    assert not (run / "sft_progress.pt").exists()   # saved as it went (--sft-save-every), removed once phase0/actor is
    assert "gained" in r.stdout and "sign test p" in r.stdout   # each phase's change, paired task by task
    for key in ("critic_loss_last", "kl_to_ref", "adv_mean", "value_mean", "replay_scored", "rollout_success",
                "actor_tokens", "names_copied", "release_s"):
        assert key in metrics[1], key
    # this process's peak memory per stage (dist.StagePeaks), where Linux lets it be read
    if dist.StagePeaks().ok:
        assert set(metrics[0]["peak_rss_gb"]) == {"sft", "eval", "orm"}
        assert {"rollouts", "replay_scoring", "states", "critic", "actor", "eval"} <= set(metrics[1]["peak_rss_gb"])
        assert "peak memory" in r.stdout
    assert (run / "curve.png").exists() and (run / "table.md").exists()
    # checkpoints are ordinary HF directories
    import policy
    model, tok = policy.load_actor(run / "phase2" / "actor")
    critic = policy.Critic.load(run / "phase2" / "critic")
    assert model.config.model_type == "llama" and critic is not None
    assert len((run / "replay.jsonl").read_text().splitlines()) >= 1
    # each phase's test evaluation, one line per task, adds up to the phase's row
    state = json.loads((run / "state.json").read_text())
    for row in state["rows"]:
        evals = [json.loads(l) for l in (run / f"phase{row['phase']}" / "eval.jsonl").read_text().splitlines()]
        assert len(evals) == 5 and {"intent", "answer", "end", "score"} <= set(evals[0])
        assert row["Avg"] == 100.0 * sum(e["score"] == 1.0 for e in evals) / len(evals)
    # evaluate.py runs a checkpoint on (a spread of) miniarena's test split and prints the same table
    out = tmp_path / "eval"
    r = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--policy", str(run / "phase0" / "actor"), "--limit", "5",
                        "--max-steps", "3", "--max-prompt-tokens", "1024", "--out", str(out), "--screenshots"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| model | Reddit | Gitlab | CMS | Map | OSS | Avg |" in r.stdout and "| actor |" in r.stdout
    lines = [json.loads(l) for l in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 5 and {l["site"] for l in lines} == {"shopping", "shopping_admin", "reddit", "gitlab", "map"}
    assert len(list((out / "episodes").glob("*.jsonl"))) == 5
    # --screenshots: a JPEG per step beside the records, which report.py shows with the evaluation's episodes
    import report
    episodes = report.load(out)["blobs"][0]["episodes"]
    assert [e["intent"] for e in episodes] == [l["intent"] for l in lines]
    assert all(s["shot"] is not None for e in episodes for s in e["steps"]) and sum(len(e["steps"]) for e in episodes) >= 5
    # --steps: teacher-forced step accuracy on the oracle's demonstrations of the same tasks
    r = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--policy", str(run / "phase0" / "actor"), "--limit", "5",
                        "--steps", "--max-prompt-tokens", "1024", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| oracle action | steps | same kind (%) | exact (%) |" in r.stdout and "| all |" in (out / "steps.md").read_text()
    rows = [json.loads(l) for l in (out / "steps.jsonl").read_text().splitlines()]
    n_all = int(next(l for l in (out / "steps.md").read_text().splitlines() if l.startswith("| all |")).split("|")[2])
    assert len(rows) == n_all and {r["intent"] for r in rows} <= {l["intent"] for l in lines}


def test_resume_after_kill_loses_no_finished_phase(smoke_run, tmp_path):
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "--smoke", "--run-dir", str(run)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 600
        state = run / "state.json"
        while time.time() < deadline:   # wait for phase 0 to finish, then a little into phase 1
            if state.exists() and json.loads(state.read_text())["finished"] >= 0:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.5)
        time.sleep(3)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    finished = json.loads(state.read_text())["finished"]
    assert finished in (0, 1)
    phase0 = digest(run / "phase0")
    replay_before = (run / "replay.jsonl").read_text().splitlines()
    demos = [l for l in replay_before if json.loads(l)["phase"] == 0]
    assert demos
    r = run_train("--smoke", "--run-dir", str(run), "--resume", "--phases", "1")   # one phase is enough to show it
    assert r.returncode == 0, r.stderr[-3000:]
    assert "evaluates differently" not in r.stderr            # --phases is not part of what a row means
    assert digest(run / "phase0") == phase0                   # a finished phase is never redone
    rows = json.loads(state.read_text())["rows"]
    assert [row["phase"] for row in rows] == [0, 1]
    replay_after = (run / "replay.jsonl").read_text().splitlines()
    assert replay_after[: len(demos)] == demos                # the buffer kept what it had
    assert sum(json.loads(l)["phase"] == 0 for l in replay_after) == len(demos)   # and redid nothing twice
    starts = [json.loads(l) for l in (run / "machines.jsonl").read_text().splitlines()]   # where each start computed
    assert [m["from_phase"] for m in starts] == [0, finished + 1]
    assert starts[1]["bf16"] == dist.bf16_is_fast(torch.device("cpu")) and starts[1]["torch"] == torch.__version__
    # and the run is the one an uninterrupted run of the same seed makes (smoke_run: the same flags, plus screenshots
    # and SFT saves, which the model never reads): the same SFT and phase-1 weights, the same test episodes
    src, r0 = smoke_run
    assert r0.returncode == 0, r0.stderr[-3000:]
    for part in ("phase0/actor", "phase1/actor", "phase1/critic"):
        assert digest(run / part) == digest(src / part), part
    for part in ("phase0/eval.jsonl", "phase1/eval.jsonl", "tasks_phase1.json"):
        assert (run / part).read_text() == (src / part).read_text(), part


def test_a_kill_in_a_phase_evaluation_keeps_its_update_and_its_finished_tasks(smoke_run, tmp_path):
    # the smoke run as a kill in phase 2's evaluation leaves it: the update saved (checkpoint, update.json, replay,
    # tasks), tasks 0 and 3 of 5 finished (their lines in eval.partial.jsonl, a third line cut mid-write), no row yet.
    # --resume evaluates the kept checkpoint on the 3 other tasks only, and redoes nothing else
    import shutil
    src, r = smoke_run
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "run"
    shutil.copytree(src, run)
    phase, eps = run / "phase2", run / "episodes" / "phase2"
    assert (phase / "update.json").exists()   # written with the checkpoint, before the evaluation
    def read():
        return [json.loads(x) for x in (phase / "eval.jsonl").read_text().splitlines()]

    lines = read()
    state = json.loads((run / "state.json").read_text())
    (run / "state.json").write_text(json.dumps({"finished": 1, "rows": state["rows"][:2]}))
    (run / "metrics.jsonl").write_text("\n".join((run / "metrics.jsonl").read_text().splitlines()[:2]) + "\n")
    (phase / "eval.jsonl").unlink()
    (phase / "eval.partial.jsonl").write_text("".join(json.dumps({"index": i, **lines[i], "actions": [None] * lines[i]["steps"]})
                                                      + "\n" for i in (0, 3)) + '{"index": 1, "task_id"')
    before = {k: digest(p) for k, p in (("actor", phase / "actor"), ("critic", phase / "critic"), ("rollouts", eps / "rollouts"))}
    tasks, replay = (run / "tasks_phase2.json").read_text(), (run / "replay.jsonl").read_text()
    played = set((eps / "eval").glob("*.jsonl"))
    r = run_train("--smoke", "--screenshots", "--run-dir", str(run), "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "phase 2: its update is kept" in r.stdout and "2 of 5 test tasks kept from a killed evaluation; playing 3" in r.stdout
    assert "eval.partial.jsonl line 3 is left out" in r.stdout
    assert {k: digest(p) for k, p in (("actor", phase / "actor"), ("critic", phase / "critic"),
                                      ("rollouts", eps / "rollouts"))} == before
    assert (run / "tasks_phase2.json").read_text() == tasks and (run / "replay.jsonl").read_text() == replay
    assert len(set((eps / "eval").glob("*.jsonl")) - played) == 3   # the 3 unfinished tasks, played once each
    after = read()
    assert [x["task_id"] for x in after] == [x["task_id"] for x in lines] and [after[0], after[3]] == [lines[0], lines[3]]
    assert not list(phase.glob("eval.partial*")) and [row["phase"] for row in json.loads((run / "state.json").read_text())["rows"]] == [0, 1, 2]
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["phase"] for m in metrics] == [0, 1, 2] and metrics[2]["update_s"] > 0
    assert metrics[2]["success"] == 100.0 * sum(x["score"] == 1.0 for x in after) / 5


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    """--algo sft: phase 0 only (SFT, the ORM), the starting point every algorithm below resumes from."""
    run = tmp_path_factory.mktemp("algos") / "sft"
    r = run_train("--smoke", "--algo", "sft", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| SFT |" in r.stdout and "phase 1" not in r.stdout
    assert json.loads((run / "state.json").read_text())["finished"] == 0
    return run


def test_a_kill_after_the_sft_keeps_it(sft_run, tmp_path):
    """Killed during phase 0's evaluation: the SFT checkpoint and its metrics were saved before it, so --resume
    evaluates that checkpoint instead of training it again (the SFT is most of phase 0's time)."""
    import shutil
    run = tmp_path / "run"
    shutil.copytree(sft_run, run)
    assert json.loads((run / "phase0" / "sft.json").read_text())["sft_loss_last"] > 0
    # the state a kill during the evaluation leaves: the checkpoint and sft.json written, phase 0 not finished
    (run / "phase0" / "eval.jsonl").unlink()
    (run / "metrics.jsonl").unlink()
    (run / "state.json").write_text(json.dumps({"finished": -1, "rows": []}))
    (run / "phase0" / "sft.json").write_text(json.dumps({"sft_loss_first": 123.0, "sft_loss_last": 45.0}))
    actor = digest(run / "phase0" / "actor")
    r = run_train("--smoke", "--algo", "sft", "--run-dir", str(run), "--resume", "--reward", "groundtruth")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SFT checkpoint" in r.stdout and "| SFT |" in r.stdout
    m = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(m) == 1 and m[0]["sft_loss_first"] == 123.0 and m[0]["phase"] == 0   # the saved SFT's, not a new one's
    assert digest(run / "phase0" / "actor") == actor and (run / "phase0" / "eval.jsonl").exists()
    assert json.loads((run / "state.json").read_text())["finished"] == 0


@pytest.mark.parametrize("flags, name", [(("--algo", "filtered_bc"), "Filtered BC"), (("--algo", "awr"), "AWR"),
                                         (("--algo", "digirl"), "DigiRL"), (("--no-kl",), "WebRL")])
def test_every_algorithm_runs_a_phase_from_the_same_sft(sft_run, tmp_path, flags, name):
    import shutil
    run = tmp_path / "run"
    shutil.copytree(sft_run, run)
    r = run_train("--smoke", "--run-dir", str(run), "--resume", "--phases", "1", "--reward", "groundtruth", *flags)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"| {name} phase 1 |" in r.stdout
    m = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert m["phase"] == 1 and m["tasks"] == 4
    if flags[-1] == "filtered_bc":   # no critic; trains on the successful trajectories only (none: no update)
        assert "critic_loss_last" not in m and m["replay_sampled"] == 0
        assert (m["fresh_steps"] > 0) == (m["rollout_success"] > 0) and ("actor_tokens" in m) == (m["fresh_steps"] > 0)
    elif flags[-1] == "--no-kl":     # the critic and the replay, no reference
        assert "critic_loss_last" in m and m["actor_tokens"] > 0 and m["kl_to_ref"] is None and m["replay_scored"] > 0
    else:                            # only WebRL replays
        assert "critic_loss_last" in m and m["actor_tokens"] > 0 and m["replay_sampled"] == 0


@pytest.mark.parametrize("flags, message", [(("--no-kl", "--algo", "awr"), "--no-kl"), (("--algo", "ppo"), "--algo"),
                                            (("--bc-top", "0"), "--bc-top")])
def test_algorithm_flags_are_checked(flags, message):
    r = run_train("--smoke", *flags)
    assert r.returncode != 0 and message in r.stderr


def test_names_copied_counts_episodes_that_use_the_task_values():
    import rundir
    tasks = [{"instantiation_dict": {"product": "Voltra Webcam", "n": 3}},
             {"instantiation_dict": {"place": "Olive & Vine"}},
             {"instantiation_dict": {"forum": "books"}},
             {"instantiation_dict": {"n": 5}}]                       # no value with letters: not counted
    results = [{"steps": [{"action": 'do(action="Search", argument="voltra webcam", element="2")'}], "answer": ""},
               {"steps": [{"action": 'do(action="Click", element="7")'}], "answer": "It is Olive & Vine"},
               {"steps": [{"action": 'do(action="Search", argument="cooking", element="2")'},
                          {"action": None}], "answer": None},
               {"steps": [], "answer": "5"}]
    assert rundir.names_copied(results, tasks) == 100.0 * 2 / 3


def test_first_last_averages_a_tenth_of_the_updates():
    import learn
    losses = [5.0, 3.0] + [2.0] * 16 + [1.0, 0.1]      # 20 updates: a tenth is 2
    assert learn.first_last("sft", losses) == {"sft_loss_first": 4.0, "sft_loss_last": 0.55}
    assert learn.first_last("critic", [0.7]) == {"critic_loss_first": 0.7, "critic_loss_last": 0.7}
    assert learn.first_last("actor", []) == {"actor_loss_first": None, "actor_loss_last": None}


def test_advantages_by_hand_with_each_state_valued_once():
    """A = lam (r_t + V(s_{t+1}) - V(s_t)) + (1 - lam)(r_T - V(s_t)), lam = 0.5, with a critic whose V(s) is its
    prompt's token id / 10; a next state that is a step of the same data is valued once, not twice."""
    import learn
    import train

    class Critic:
        rows = 0

        def eval(self):
            pass

        def value(self, ids, mask, states=None):
            Critic.rows += len(ids)
            return (ids * mask).sum(1).float() / 10

    a = [{"prompt_ids": [i], "final_reward": 1.0} for i in (1, 2, 3)]   # a successful trajectory of 3 steps
    b = {"prompt_ids": [4], "final_reward": 0.0}                         # a failed one of 1 step
    r = {"prompt_ids": [5], "final_reward": 1.0}                         # a replayed step ...
    outside = {"prompt_ids": [6]}                                        # ... whose next state is not trained on
    steps, next_steps = a + [b, r], [a[1], a[2], None, None, outside]
    m = learn.attach_advantages(Critic(), steps, next_steps, train.Args(micro_batch=2, precision="fp32", lam=0.5), 0)
    # a: 0.5 (0.2 - 0.1) + 0.5 (1 - 0.1); 0.5 (0.3 - 0.2) + 0.5 (1 - 0.2); last: 0.5 (1 - 0.3) + 0.5 (1 - 0.3)
    # b: 0.5 (0 - 0.4) + 0.5 (0 - 0.4);  r: 0.5 (0.6 - 0.5) + 0.5 (1 - 0.5)
    assert [s["adv"] for s in steps] == pytest.approx([0.5, 0.45, 0.7, -0.4, 0.3])
    assert m["value_mean"] == pytest.approx(0.3)
    assert Critic.rows == 6                                              # 5 steps + 1 outside state, not 5 + 3


def test_rollout_tasks_pick_where_phase_one_plays_and_never_replay_a_task():
    import random

    import curriculum
    import train
    split = [{"intent": f"What is the price of item {i}?", "task_id": i} for i in range(12)]
    sft, played_before = split[:4], split[4:6]                      # demonstrated; rolled out in an earlier phase
    for mode, allowed in (("unseen", split[6:]), ("sft", split[:4]), ("train", split[:4] + split[6:])):
        args = train.Args(rollout_tasks=mode, tasks_per_phase=5, curriculum="none")
        played = {curriculum.intent_key(t["intent"]) for t in played_before}
        seen = played | {curriculum.intent_key(t["intent"]) for t in sft}
        tasks, m = train.phase_tasks(1, args, split, sft, [], None, seen, played, random.Random(0), None, None, None)
        assert len(tasks) == min(5, len(allowed)) == m["tasks_from_train_split"]
        assert {t["intent"] for t in tasks} <= {t["intent"] for t in allowed}, mode
        assert [t["task_id"] for t in tasks] == list(range(len(tasks)))   # renumbered for the phase
        assert {curriculum.intent_key(t["intent"]) for t in tasks} <= played & seen   # not rolled out again
    with pytest.raises(ValueError, match="--rollout-tasks must be"):
        train.Args(rollout_tasks="test").check()
    with pytest.raises(ValueError, match="demonstrates none"):
        train.Args(rollout_tasks="sft", sft_epochs=0, policy="smollm2").check()


def test_micro_batches_group_similar_lengths_and_keep_every_step():
    import learn
    steps = [{"prompt_ids": [0] * n, "action_ids": [1] * a, "i": i} for i, (n, a) in
             enumerate([(900, 5), (100, 3), (880, 20), (120, 4), (500, 7)])]
    mbs = learn.micro_batches(steps, 2)
    assert [[s["i"] for s in mb] for mb in mbs] == [[0, 2], [4, 3], [1]]     # by prompt + action tokens, longest first
    assert sorted(s["i"] for mb in mbs for s in mb) == list(range(5))
    # padded tokens: 2 x 905 + 2 x 507 + 103, against 2 x 905 + 2 x 900 + 507 = 4117 in the given order
    assert sum(max(len(s["prompt_ids"]) + len(s["action_ids"]) for s in mb) * len(mb) for mb in mbs) == 2927
    # the critic reads the prompt only: its micro-batches sort by prompt tokens
    steps = [{"prompt_ids": [0] * n, "action_ids": [1] * a, "i": i} for i, (n, a) in enumerate([(880, 30), (890, 5), (100, 3)])]
    assert [mb[0]["i"] for mb in learn.micro_batches(steps, 1)] == [0, 1, 2]
    assert [mb[0]["i"] for mb in learn.micro_batches(steps, 1, prompt_only=True)] == [1, 0, 2]


def test_a_killed_sft_goes_on_from_its_last_save(tmp_path, capsys):
    """The SFT saves its progress (trained layers, Adam's state, where it is) as it goes; a kill after a save and
    one more update, then a new process: it goes on from the save and ends with the uninterrupted SFT's weights,
    losses and data order. A file from another SFT is named and ignored."""
    import random

    import learn
    import policy
    import train
    from conftest import TINY_CORPUS
    torch.set_num_threads(1)
    tiny = policy.build_tiny(tmp_path / "tiny", TINY_CORPUS, vocab_size=400, hidden=64, layers=2, heads=4, seed=0)
    args = train.Args(policy="tiny", sft_epochs=2, batch_size=2, micro_batch=2, sft_lr=1e-3, sft_save_every=1e-9,
                      precision="fp32", compile="none")

    def fresh():
        model, tok = policy.load_actor(tiny)
        return dist.freeze_lower(model, 1), tok   # a frozen lower layer, as SmolLM2's: not in the progress file

    model, tok = fresh()
    html = '<a id="1">Orders</a><input id="2" placeholder="Search"/>'
    steps = [{"prompt_ids": policy.encode_prompt(tok, policy.build_prompt(f"Show me the orders of customer {n}", [], html))[0],
              "action_ids": policy.encode_action(tok, a)}
             for n in ("Emma", "Lopez", "Ann", "Bo", "Cy") for a in ('do(action="Click", element="1")', 'exit(message="3")')]
    rng_a = random.Random(0)
    want = learn.sft(model, tok, steps, args, rng_a)             # 10 steps in 5 updates a epoch, 2 epochs
    weights = {k: p.detach().clone() for k, p in model.named_parameters()}

    progress, real_save, calls = tmp_path / "sft_progress.pt", learn.save_sft_progress, []

    def killed_at_the_fifth_save(path, model, opt, where):
        calls.append(where["u"])
        if len(calls) == 5:   # update 5 is done but not saved: the kill loses it
            raise KeyboardInterrupt
        real_save(path, model, opt, where)

    learn.save_sft_progress = killed_at_the_fifth_save
    try:
        with pytest.raises(KeyboardInterrupt):
            learn.sft(*fresh(), steps, args, random.Random(0), progress=progress)
    finally:
        learn.save_sft_progress = real_save
    saved = torch.load(progress, weights_only=True)
    model, _ = fresh()
    assert saved["u"] == 4 and set(saved["weights"]) == {k for k, p in model.named_parameters() if p.requires_grad}
    assert len(saved["weights"]) < len(list(model.parameters()))

    rng_c = random.Random(0)
    got = learn.sft(model, tok, steps, args, rng_c, progress=progress)
    assert "going on from update 4 of 10" in capsys.readouterr().out
    assert got["sft_updates"] == 10 and got["sft_tokens"] == want["sft_tokens"]
    assert (got["sft_loss_first"], got["sft_loss_last"]) == pytest.approx((want["sft_loss_first"], want["sft_loss_last"]))
    assert all(torch.allclose(p, weights[k], atol=1e-6) for k, p in model.named_parameters())
    assert rng_c.getstate() == rng_a.getstate()   # what the run draws after the SFT is the same too

    # another SFT's file (other data): named, ignored, and the SFT runs from its start
    got = learn.sft(*fresh(), steps[:6], args, random.Random(0), progress=progress)
    assert "holds another SFT's progress" in capsys.readouterr().err and got["sft_updates"] == 6


def test_compile_trains_as_eager_and_leaves_plain_layers(tmp_path, monkeypatch):
    """--compile sft: the SFT with every decoder layer under torch.compile ends with the eager SFT's losses and weights
    (fp32, up to the fused kernels' rounding), and the layers are plain modules again after it."""
    import random

    import learn
    import policy
    import train
    from conftest import TINY_CORPUS
    tiny = policy.build_tiny(tmp_path / "tiny", TINY_CORPUS, vocab_size=400, hidden=64, layers=2, heads=4, seed=0)
    html = '<a id="1">Orders</a><input id="2" placeholder="Search"/>'
    compiles, real_compile = [], torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: compiles.append(kw) or real_compile(fn, **kw))
    runs = []
    for compile_ in ("none", "sft"):
        torch.manual_seed(0)
        model, tok = policy.load_actor(tiny)
        dist.freeze_lower(model, 1)
        steps = [{"prompt_ids": policy.encode_prompt(tok, policy.build_prompt(f"Show me the orders of {n}", [], html))[0],
                  "action_ids": policy.encode_action(tok, 'do(action="Click", element="1")')} for n in ("Emma", "Lopez", "Ann", "Bo")]
        args = train.Args(policy="tiny", sft_epochs=2, batch_size=2, micro_batch=2, sft_lr=1e-3, precision="fp32",
                          compile=compile_)
        m = learn.sft(model, tok, steps, args, random.Random(0))
        runs.append((m, {k: p.detach().clone() for k, p in model.named_parameters()}))
        assert all(layer._compiled_call_impl is None for _, layer in dist.decoder_layers(model))
        assert compiles == ([{"dynamic": True}] * 2 if compile_ == "sft" else [])   # each of the 2 layers, once
    (eager, w_eager), (comp, w_comp) = runs
    assert comp["sft_loss_first"] == pytest.approx(eager["sft_loss_first"], rel=1e-4)
    assert comp["sft_loss_last"] == pytest.approx(eager["sft_loss_last"], rel=1e-3)
    assert all(torch.allclose(w_eager[k], w_comp[k], atol=1e-4) for k in w_eager)
    assert any(not torch.equal(w_eager[k], p) for k, p in policy.load_actor(tiny)[0].named_parameters())   # it trained
