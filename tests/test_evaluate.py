"""evaluate.py: step accuracy (--steps) checked by hand, --answer on five tasks; the smoke test in test_train.py runs the command."""
import json
import shutil

import pytest
import torch

import dist
import env
import evaluate
import rundir
from miniarena.tasks import build

CLICK3, CLICK4 = 'do(action="Click", element="3")', 'do(action="Click", element="4")'
TYPE = '# Element: the search box\ndo(action="Search", argument="red mug", element="2")'


def test_step_accuracy_by_hand():
    oracle = [CLICK3, CLICK3, CLICK3, TYPE, TYPE, 'exit(message="42")', 'exit(message="")']
    got = [CLICK3,                                          # exact
           CLICK4,                                          # same kind, wrong element
           "I would click the button",                      # unparsable: wrong
           'do(action="Search", argument="red mug", element="2")',    # exact (comments do not matter)
           'do(action="Search", argument="blue mug", element="2")',   # same kind, wrong argument
           'exit(message="41")',                            # same kind, wrong answer
           'exit(message="")']                              # exact
    acc = evaluate.step_accuracy(oracle, got)
    assert list(acc) == ["Click", "Search", "exit (answer)", "exit (no answer)", "all"]
    assert acc["Click"] == pytest.approx({"n": 3, "kind": 2 / 3, "exact": 1 / 3})
    assert acc["Search"] == pytest.approx({"n": 2, "kind": 1.0, "exact": 0.5})
    assert acc["exit (answer)"] == pytest.approx({"n": 1, "kind": 1.0, "exact": 0.0})
    assert acc["all"] == pytest.approx({"n": 7, "kind": 6 / 7, "exact": 3 / 7})
    table = evaluate.format_steps(acc)
    assert "| Click | 3 | 66.7 | 33.3 |" in table and "| all | 7 | 85.7 | 42.9 |" in table
    with pytest.raises(ValueError, match="one response per oracle step"):
        evaluate.step_accuracy(oracle, got[:3])


def test_answer_plays_no_model_and_is_scored_by_each_task(tmp_path):
    # --answer: every task ends at its first step with exit(message=ANSWER); pick the reference answer of one
    # string_match task among the five, so that task scores 1 and the others score what their evaluator says
    configs = rundir.spread(build("test", 0), 5)
    only_answer = [c for c in configs if c["eval"]["eval_types"] == ["string_match"]]
    ref = only_answer[0]["eval"]["reference_answers"]
    answer = ref.get("exact_match") or " ".join(ref["must_include"])
    row = evaluate.main(evaluate.EvalArgs(answer=answer, seed=0, limit=5, slots=2, out=str(tmp_path)))
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in results] == [c["task_id"] for c in configs]
    assert all(r["steps"] == 1 and r["answer"] == answer for r in results)
    for r, c in zip(results, configs):
        if c in only_answer:
            assert r["score"] == env.string_match(c["eval"], answer, c["intent"])
    assert results[configs.index(only_answer[0])]["score"] == 1.0
    assert row["model"] == f"answer {json.dumps(answer)}" and row["Avg"] == 100.0 * sum(r["score"] for r in results) / 5


def test_resume_plays_only_the_missing_tasks(tmp_path):
    # a first evaluation of 5 tasks, its last line cut as a kill mid-write leaves it; --resume --limit 10 then
    # keeps the 4 whole lines, plays the other 6 (10 holds the 5: rundir.spread) and writes all 10 in task order
    def args(**kw):
        return evaluate.EvalArgs(**{"answer": "1", "seed": 0, "limit": 5, "slots": 2, "out": str(tmp_path), **kw})

    evaluate.main(args())
    path = tmp_path / "results.jsonl"
    first = path.read_text().splitlines()
    path.write_text("\n".join(first[:4]) + "\n" + first[4][:20])
    # an evaluation made before --split and --temperature existed had their defaults: it resumes
    made = json.loads((tmp_path / "args.json").read_text())
    (tmp_path / "args.json").write_text(json.dumps({k: v for k, v in made.items() if k not in ("split", "temperature")}))
    played = set((tmp_path / "episodes").iterdir())
    row = evaluate.main(args(limit=10, resume=True))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    configs = rundir.spread(build("test", 0), 10)
    assert [x["task_id"] for x in lines] == [c["task_id"] for c in configs]
    kept = {json.loads(x)["task_id"]: x for x in first[:4]}
    assert [json.dumps(x) for x in lines if x["task_id"] in kept] == list(kept.values())
    again = {p.name.split("-")[0] for p in set((tmp_path / "episodes").iterdir()) - played}
    assert again == {f"task{c['task_id']}" for c in configs if c["task_id"] not in kept}   # 6 episodes, none twice
    assert row["Avg"] == 100.0 * sum(x["score"] for x in lines) / 10
    with pytest.raises(SystemExit, match="max_steps=30 there, 3 now"):   # other settings: refused, nothing lost
        evaluate.main(args(limit=10, resume=True, max_steps=3))
    with pytest.raises(SystemExit, match="temperature=0.0 there, 1.0 now"):
        evaluate.main(args(limit=10, resume=True, temperature=1.0))
    with pytest.raises(SystemExit, match=r"\d tasks outside this task set"):
        evaluate.main(args(limit=2, resume=True))
    assert path.read_text().splitlines() == [json.dumps(x) for x in lines]
    (tmp_path / "args.json").unlink()   # results copied in without their settings: the message says what to do
    with pytest.raises(SystemExit, match="no args.json, so its settings are read as the defaults.*max_steps=30 there"):
        evaluate.main(args(limit=10, resume=True, max_steps=3))


def test_sampled_evaluation_of_the_training_split_is_seeded(smoke_run, tmp_path):
    # --split train --temperature 1 (2 tasks): the tasks a phase's rollouts play, sampled as they are; the same seed gives the
    # same responses, so a measured reward at a temperature can be reproduced
    run, r = smoke_run
    assert r.returncode == 0, r.stderr[-3000:]
    configs = rundir.spread(build("train", 0), 2)

    def sampled(out, seed):
        row = evaluate.main(evaluate.EvalArgs(policy=str(run / "phase0" / "actor"), split="train", temperature=1.0, seed=seed,
                                              limit=2, max_steps=2, max_new_tokens=24, max_prompt_tokens=512, slots=2,
                                              out=str(tmp_path / out)))
        lines = [json.loads(x) for x in (tmp_path / out / "results.jsonl").read_text().splitlines()]
        assert [x["task_id"] for x in lines] == [c["task_id"] for c in configs]
        assert [x["intent"] for x in lines] == [c["intent"] for c in configs]
        assert row["model"] == "actor (T=1)"
        return [json.loads(x)["response"] for p in sorted((tmp_path / out / "episodes").glob("*.jsonl"))
                for x in p.read_text().splitlines() if "response" in json.loads(x)]

    first = sampled("a", 0)
    assert len(first) >= 2 and sampled("b", 0) == first
    with pytest.raises(SystemExit, match="--split must be 'train' or 'test'"):
        evaluate.main(evaluate.EvalArgs(answer="1", split="dev", out=str(tmp_path / "c")))


def test_like_a_run_takes_its_settings_and_grows_its_phase_evaluation(smoke_run, tmp_path):
    # --like RUN/phase1/actor: the smoke run's limits (8 steps, 32 tokens, 1,024-token prompts) instead of
    # evaluate.py's 30 / 128 / 16,384, the checkpoint as the policy; with --resume the phase's own 5-task evaluation
    # is kept and --limit 6 plays only the one task it lacks
    run, r = smoke_run
    assert r.returncode == 0, r.stderr[-3000:]
    made = json.loads((run / "args.json").read_text())
    actor, out = run / "phase1" / "actor", tmp_path / "grown"
    row = evaluate.main(evaluate.EvalArgs(like=str(actor), limit=6, resume=True, slots=2, out=str(out)))
    args = json.loads((out / "args.json").read_text())
    assert (args["max_steps"], args["max_new_tokens"], args["max_prompt_tokens"]) == (8, 32, 1024)
    assert all(args[k] == made[k] for k in evaluate.LIKE) and args["policy"] == str(actor)
    phase = rundir.read_eval(run / "phase1")
    lines = rundir.read_eval(out)
    configs = rundir.spread(build("test", 0), 6)
    assert [x["task_id"] for x in lines] == [c["task_id"] for c in configs]
    assert [x for x in lines if x["task_id"] in {p["task_id"] for p in phase}] == phase   # kept as they were
    assert len(list((out / "episodes").iterdir())) == 1 and row["Avg"] == 100.0 * sum(x["score"] for x in lines) / 6
    # a setting given here that differs from the run's: the phase's lines were not played so, and are not used
    other = evaluate.EvalArgs(like=str(actor), max_steps=3, limit=5, resume=True, slots=2, out=str(tmp_path / "other"))
    assert evaluate.like_run(other) is None and other.max_steps == 3 and other.max_new_tokens == 32
    # a flag named on the command line stays, even at evaluate.py's own default (128 tokens here, the run's 32)
    named = evaluate.EvalArgs(like=str(actor), max_new_tokens=128)
    named.given = {"like", "max_new_tokens"}
    evaluate.like_run(named)
    assert named.max_new_tokens == 128 and named.max_steps == 8
    with pytest.raises(SystemExit, match="no args.json in it or above it"):
        evaluate.like_run(evaluate.EvalArgs(like=str(tmp_path)))
    (tmp_path / "args.json").write_text(json.dumps({"policy": "x"}))   # an evaluate.py --out folder's, not a run's
    with pytest.raises(SystemExit, match="is not a train.py run's"):
        evaluate.like_run(evaluate.EvalArgs(like=str(tmp_path)))


def test_precision_is_train_pys(smoke_run, tmp_path):
    # the actor's weights in --precision, 'auto' as train.py's (bf16 on a GPU or a CPU with AMX or AVX-512 BF16,
    # where train.py generates from a bf16 copy); --like takes the run's, and a run from before --precision computed in fp32
    run, r = smoke_run
    actor = run / "phase1" / "actor"
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16),
                             ("auto", torch.bfloat16 if dist.bf16_is_fast(torch.device("cpu")) else torch.float32)):
        model, _ = evaluate.load_policy(evaluate.EvalArgs(policy=str(actor), precision=precision))
        assert next(model.parameters()).dtype == dtype, precision
    with pytest.raises(SystemExit, match="--precision must be auto, bf16 or fp32"):
        evaluate.main(evaluate.EvalArgs(answer="1", precision="fp16", out=str(tmp_path / "bad")))
    old = tmp_path / "old"
    shutil.copytree(run / "phase1" / "actor", old / "phase1" / "actor")
    made = json.loads((run / "args.json").read_text())
    made.pop("precision")
    (old / "args.json").write_text(json.dumps(made))
    a = evaluate.EvalArgs(like=str(old / "phase1" / "actor"))
    evaluate.like_run(a)
    assert a.precision == "fp32"
