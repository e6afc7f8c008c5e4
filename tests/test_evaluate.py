"""evaluate.py: step accuracy (--steps) checked by hand, --answer on five tasks; the smoke test in test_train.py runs the command."""
import json

import pytest

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
