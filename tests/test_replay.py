"""replay.py: the confidence band, persistence across a restart, selection by ratio and band."""
import json
import math

import pytest
import torch

import policy
from replay import ReplayBuffer, confidence_filter

torch.set_num_threads(1)   # see test_policy.py: tiny models on a shared machine


def test_confidence_filter_bounds():
    # confidence = exp(mean log-prob), kept when in (0.5, 0.95]
    lp = torch.tensor([math.log(0.5), math.log(0.95), math.log(0.7), math.log(0.96), math.log(0.3), 0.0])
    assert confidence_filter(lp).tolist() == [False, True, True, False, False, False]
    # low = 0: no lower bound (Table 2's (0, 1] and (0, 0.5] bands; math.log(0) used to raise)
    assert confidence_filter([-1e9, math.log(0.5), 0.0], low=0.0, high=1.0).tolist() == [True, True, True]
    assert confidence_filter([-1e9, math.log(0.5), math.log(0.6)], low=0.0, high=0.5).tolist() == [True, True, False]
    # exp of the *mean* token log-prob: tokens at 0.9 and 0.8 -> sqrt(0.72) = 0.849 (in); the product
    # 0.72 would also be in, tokens 0.99 and 0.92 -> sqrt(0.9108) = 0.954 (out) though 0.9108 is in
    means = [(math.log(0.9) + math.log(0.8)) / 2, (math.log(0.99) + math.log(0.92)) / 2]
    assert confidence_filter(means).tolist() == [True, False]
    assert confidence_filter([math.log(0.6)], low=0.6, high=0.9).tolist() == [False]
    assert confidence_filter([math.log(0.9)], low=0.6, high=0.9).tolist() == [True]


def _traj(task, n, conf=0.7):
    return [{"prompt": f"p {task} {i}", "response": f"r {task} {i}", "prompt_ids": [0, 5, i],
             "action_ids": [7, 1], "task_id": task, "conf": conf} for i in range(n)]


def test_buffer_keeps_successes_only_and_survives_a_restart(tmp_path):
    path = tmp_path / "replay.jsonl"
    buf = ReplayBuffer(path)
    assert buf.add_trajectory(_traj("a", 3), reward=1.0, phase=1)
    assert not buf.add_trajectory(_traj("b", 4), reward=0.0, phase=1)        # failures are not stored
    assert buf.add_demonstrations(_traj("sft", 2)) == 2
    assert len(buf) == 5
    again = ReplayBuffer(path)                                                # a new process
    assert len(again) == 5
    assert [s["phase"] for s in again.steps] == [1, 1, 1, 0, 0]
    s = again.steps[1]
    assert (s["prompt"], s["prompt_ids"], s["action_ids"], s["response"], s["task_id"], s["reward"],
            s["step"]) == ("p a 1", [0, 5, 1], [7, 1], "r a 1", "a", 1.0, 1)
    # a crash in the middle of a write leaves a torn line: it is skipped and later writes survive
    with open(path, "a") as f:
        f.write('{"phase": 2, "steps": [{"prom')
    again = ReplayBuffer(path)
    assert len(again) == 5
    again.add_trajectory(_traj("c", 1), reward=0.5, phase=2)
    assert len(ReplayBuffer(path)) == 6
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["task_id"] == "c"


def test_select_respects_band_ratio_and_phase(tmp_path):
    buf = ReplayBuffer(tmp_path / "r.jsonl")
    buf.add_demonstrations(_traj("sft", 6, conf=0.8))                         # 6 in the band
    buf.add_trajectory(_traj("easy", 5, conf=0.99), reward=1, phase=1)        # 5 too confident
    buf.add_trajectory(_traj("hard", 4, conf=0.5), reward=1, phase=1)         # 4 at 0.5: excluded
    buf.add_trajectory(_traj("mid", 4, conf=0.95), reward=1, phase=1)         # 4 at 0.95: included
    buf.add_trajectory(_traj("new", 3, conf=0.7), reward=1, phase=2)          # this phase's own data
    scorer = lambda steps: [math.log(s["conf"]) for s in steps]

    got, counts = buf.select(scorer, n_fresh=3, before_phase=2, seed=0)       # at most 2 x 3 = 6
    assert counts == {"scored": 19, "kept": 10, "sampled": 6}
    assert len(got) == 6 and all(s["task_id"] in ("sft", "mid") for s in got)
    assert all(0.5 < s["confidence"] <= 0.95 + 1e-12 for s in got)
    again, _ = buf.select(scorer, n_fresh=3, before_phase=2, seed=0)
    assert [s["prompt"] for s in again] == [s["prompt"] for s in got]        # seeded

    got, counts = buf.select(scorer, n_fresh=100, seed=1)                     # fewer kept than allowed
    assert counts == {"scored": 22, "kept": 13, "sampled": 13}
    got, counts = buf.select(scorer, n_fresh=3, ratio=1.0, low=0.9, high=1.0, before_phase=2)
    assert counts == {"scored": 19, "kept": 9, "sampled": 3}
    assert buf.select(scorer, n_fresh=3, before_phase=0) == ([], {"scored": 0, "kept": 0, "sampled": 0})

    # max_scored: a seeded random sample of the buffer is scored, never more than asked
    calls = []
    counting = lambda steps: calls.append(len(steps)) or scorer(steps)
    got, counts = buf.select(counting, n_fresh=3, before_phase=2, seed=0, max_scored=8)
    assert calls == [8] and counts["scored"] == 8 and counts["kept"] <= 8 and counts["sampled"] == min(6, counts["kept"])
    again, _ = buf.select(counting, n_fresh=3, before_phase=2, seed=0, max_scored=8)
    assert [s["prompt"] for s in again] == [s["prompt"] for s in got]
    _, counts = buf.select(counting, n_fresh=3, before_phase=2, seed=0, max_scored=100)   # cap above the pool: all
    assert counts == {"scored": 19, "kept": 10, "sampled": 6}


def test_select_scores_with_the_actor(tmp_path):
    corpus = ['do(action="Click", element="1")', "<html><a id=\"1\">Orders</a></html>", "Show orders"] * 20
    model, tok = policy.load_actor(policy.build_tiny(tmp_path / "tiny", corpus, vocab_size=300, hidden=32,
                                                     layers=1, heads=2))
    prompt = policy.build_prompt("Show orders", [], '<a id="1">Orders</a>')
    gens = policy.generate(model, tok, [prompt, prompt], max_new_tokens=4, seed=0)
    buf = ReplayBuffer(tmp_path / "r.jsonl")
    buf.add_trajectory([{"prompt": prompt, "prompt_ids": g.prompt_ids, "action_ids": g.action_ids,
                         "response": g.text} for g in gens], reward=1, phase=1)
    buf.add_demonstrations([{"prompt": prompt, "response": 'do(action="Click", element="1")'}])  # text only
    # a band around the generated steps' own confidence keeps exactly them, scored by the actor
    confs = [math.exp(g.logp_mean) for g in gens]
    got, counts = buf.select((model, tok), n_fresh=10, low=min(confs) * 0.999, high=max(confs) * 1.001,
                             batch_size=2)
    assert counts["scored"] == 3 and counts["sampled"] >= 2
    for g in gens:
        assert any(s["action_ids"] == g.action_ids and s["confidence"] == pytest.approx(
            math.exp(g.logp_mean), rel=1e-4) for s in got)
