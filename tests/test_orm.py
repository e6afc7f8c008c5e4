"""orm.py: the judge's exact input, the YES/NO score, batching, training, the Table 3 metrics, a small data build."""
import json
import math
import random
from pathlib import Path

import pytest
import torch

from conftest import ROOT

import dist
import orm

FIXTURES = ROOT / "tests" / "fixtures"

# The fixture trajectory: untrimmed intent and page, a multi-line response, padding spaces and a trailing newline
# (rm_format turns that one into a trailing "; ", then strips the space only).
FIXTURE = {
    "intent": "  What is the price of the Orbital Sander?\n",
    "responses": ["# Element: the 'Search' field\ndo(action=\"Search\", argument=\"orbital sander\", element=\"2\")",
                  "  do(action=\"Click\", element=\"9\")  ",
                  "# Note: the price is $122.95\nexit(message=\"$122.95\")\n"],
    "html": "\n  <html> <p data-text=\"$122.95\"> $122.95 </p> </html>\n\n",
}


def thudm_prompt(intent, responses, html):
    """THUDM/WebRL scripts/process_data.py, transcribed statement by statement: build_rm_data's rm_format (with
    content[0]['target'] = intent, item['fixed_response'] = response, content[-1]['html'] = html), its `system`,
    and add_overall_reward's prompt string."""
    instruction = 'The User Intent:\n' + intent.strip() + '\n\n' + 'Action History:\n'
    for response in responses:
        response_elements = response.split('\n')
        new_response = '; '.join(response_elements)
        instruction += new_response.strip() + '\n'
    instruction += '\n' + 'The Current Screenshot:\n' + html.strip()
    system = """You are an expert in evaluating the performance of a website navigation agent. The agent is designed to help a human user navigate the website to complete a task. Given the user’s intent, the agent's action history, and the final state of the screen, your goal is to decide whether the agent’s execution is successful or not. You must respond with YES or NO."""  # noqa: E501
    return f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{instruction}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"  # noqa: E501


def test_prompt_is_byte_exact_with_the_public_code():
    expected = (FIXTURES / "orm_prompt.txt").read_bytes().decode("utf-8")
    got = orm.orm_prompt(FIXTURE["intent"], FIXTURE["responses"], FIXTURE["html"])
    assert got.encode("utf-8") == expected.encode("utf-8")
    assert got == thudm_prompt(FIXTURE["intent"], FIXTURE["responses"], FIXTURE["html"])
    assert "Cutting Knowledge Date" not in got        # LLaMA-Factory's llama3 template has no date lines
    rng = random.Random(0)
    alphabet = ["a", "B", " ", "\n", "#", ";", "\"", "'", "é", "\t", "<p>", "{x}"]
    for _ in range(200):
        s = lambda n: "".join(rng.choice(alphabet) for _ in range(rng.randrange(n)))  # noqa: E731
        args = (s(20), [s(30) for _ in range(rng.randrange(4))], s(40))
        assert orm.orm_prompt(*args) == thudm_prompt(*args)


def test_prompt_input_errors():
    with pytest.raises(ValueError, match="responses must be a list of strings"):
        orm.orm_prompt("intent", "do(...)", "<html/>")
    with pytest.raises(ValueError, match="intent and html must be strings"):
        orm.orm_prompt(None, [], "<html/>")
    with pytest.raises(ValueError, match="'html' is missing"):
        orm.encode(None, {"intent": "x", "responses": []})
    with pytest.raises(ValueError, match="intent and html must be strings"):
        orm.encode(None, {"intent": "x", "responses": [], "html": None})


def test_p_yes_is_the_two_way_softmax():
    assert orm.p_yes([2.0, 0.0]).item() == pytest.approx(math.exp(2) / (math.exp(2) + 1))   # 0.8808
    assert orm.p_yes([0.0, 0.0]).item() == pytest.approx(0.5)
    got = orm.p_yes(torch.tensor([[1.0, 3.0], [-1.0, -1.0], [1000.0, 0.0]]))
    assert got.tolist() == pytest.approx([1 / (1 + math.exp(2)), 0.5, 1.0])           # 0.1192, 0.5, 1 (no overflow)
    with pytest.raises(ValueError, match=r"shape \[..., 2\]"):
        orm.p_yes([0.1, 0.2, 0.3])


def _char_tokenizer(chars: str):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast
    vocab = {c: i for i, c in enumerate(["<unk>"] + list(chars))}
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>")),
                                   unk_token="<unk>")


def test_judge_reads_the_first_token_of_yes_and_no():
    # one character a token: "YES" is Y E S, and its first token still tells it from "NO"'s (as SmolLM2's Y + ES)
    tok = _char_tokenizer("YESNO")
    assert orm.yes_no_ids(tok) == (tok.convert_tokens_to_ids("Y"), tok.convert_tokens_to_ids("N"))
    with pytest.raises(ValueError, match="cannot express 'NO'"):
        orm.yes_no_ids(_char_tokenizer("YES"))                  # N is unknown

    class SameStart:                                            # both words start with token 7
        unk_token_id = None

        def encode(self, word, add_special_tokens=False):
            return [7, len(word)]
    with pytest.raises(ValueError, match="same token 7"):
        orm.yes_no_ids(SameStart())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random judge whose tokenizer is trained on ORM prompts (YES and NO are single tokens)."""
    import policy
    texts = [orm.orm_prompt(FIXTURE["intent"], FIXTURE["responses"], FIXTURE["html"]) + "YES", "YES\nNO\n" * 50]
    path = policy.build_tiny(tmp_path_factory.mktemp("tiny_orm"), texts, vocab_size=512, hidden=64, layers=2,
                             heads=2)
    return orm.ORM.load(path, max_tokens=512)


def test_tiny_tokenizer_reads_the_prompt_like_llama3(tiny):
    ids, cut = orm.encode(tiny.tok, FIXTURE)
    assert not cut and ids[0] == tiny.tok.bos_token_id and ids.count(tiny.tok.bos_token_id) == 1
    assert tiny.tok.decode(ids) == orm.orm_prompt(**FIXTURE)
    yes, no = orm.yes_no_ids(tiny.tok)
    assert tiny.tok.convert_ids_to_tokens([yes, no]) == ["YES", "NO"]


def _trajectories():
    return [dict(FIXTURE),
            {"intent": "Add kpatel as a Guest", "responses": ["do(action=\"Click\", element=\"3\")"] * 4,
             "html": "<html> <p> Member added </p> </html>"},
            {"intent": "How many issues?", "responses": [], "html": "<html> </html>"},
            {"intent": "Long page", "responses": ["exit(message=\"\")"], "html": "<p> lorem ipsum </p> " * 300}]


def test_batched_scoring_equals_one_by_one(tiny):
    trajs = _trajectories()
    batched = orm.ORM(tiny.model, tiny.tok, max_tokens=512, batch_size=4).score(trajs)
    single = [orm.ORM(tiny.model, tiny.tok, max_tokens=512, batch_size=1).score([t])[0] for t in trajs]
    assert batched == pytest.approx(single, abs=1e-5)
    assert all(0.0 < p < 1.0 for p in batched)
    assert tiny.judge(trajs) == [p >= 0.5 for p in tiny.score(trajs)]


def test_long_page_is_cut_not_the_intent_or_history(tiny):
    traj = _trajectories()[3]
    ids, cut = orm.encode(tiny.tok, traj, max_tokens=400)      # ~250 tokens without the page, ~4k with it
    text = tiny.tok.decode(ids)
    assert cut and 350 < len(ids) <= 400
    assert "The User Intent:\nLong page\n\nAction History:\nexit(message=\"\")\n\nThe Current Screenshot:\n<p>" in text
    assert text.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    with pytest.raises(ValueError, match="cannot hold the ORM prompt"):
        orm.encode(tiny.tok, traj, max_tokens=100)


def test_long_page_is_cut_around_the_claimed_answer(tiny):
    page = "<p> lorem ipsum </p> " * 150 + "<p> Total: $42.17 </p> " + "<p> dolor sit </p> " * 150
    traj = {"intent": "What was the total?", "responses": ['# Note: found it\nexit(message="$42.17")'], "html": page}
    ids, cut = orm.encode(tiny.tok, traj, max_tokens=400)
    shown = tiny.tok.decode(ids).split("The Current Screenshot:\n")[1]
    assert cut and 350 < len(ids) <= 400
    assert "Total: $42.17" in shown and "lorem" in shown and "dolor" in shown     # the answer, with both sides
    assert not shown.startswith("<p> lorem")                                    # not the page's start
    for other in ("$99.99", ""):                  # an answer not on the page, no answer: the page's start
        ids, _ = orm.encode(tiny.tok, dict(traj, responses=[f'exit(message="{other}")']), max_tokens=400)
        assert tiny.tok.decode(ids).split("The Current Screenshot:\n")[1].startswith("<p> lorem ipsum </p>")


def test_claimed_answer_and_answer_on_page():
    assert orm.claimed_answer(['# Note: the SKU\nexit(message=" MB-01 ")']) == "MB-01"
    assert orm.claimed_answer(['do(action="Click", element="3")']) == ""
    assert orm.claimed_answer(["I think it is MB-01"]) == ""                   # unparsable: no claimed answer
    assert orm.claimed_answer([]) == ""
    assert orm.answer_on_page({"responses": ['exit(message="mb-01")'], "html": "<td> SKU MB-01 </td>"})
    assert not orm.answer_on_page({"responses": ['exit(message="MB-02")'], "html": "<td> SKU MB-01 </td>"})
    assert not orm.answer_on_page({"responses": ['exit(message="")'], "html": "<td> SKU MB-01 </td>"})


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an HF model directory"):
        orm.ORM.load(tmp_path)


def test_tiny_judge_learns_to_separate_labelled_examples(tmp_path):
    ok = {"intent": "What is the postcode of Hillcrest Lodge?", "html": "<html> <p> Postcode: 16803 </p> </html>",
          "responses": ["do(action=\"Search\", argument=\"Hillcrest Lodge\", element=\"1\")",
                        "# Note: the page shows 16803\nexit(message=\"16803\")"]}
    bad = {"intent": "What is the postcode of Hillcrest Lodge?", "html": "<html> <input id=\"1\"> </html>",
           "responses": ["exit(message=\"\")"]}
    examples = [dict(ok, label=1, intent=ok["intent"] + f" ({i})") for i in range(4)] + \
               [dict(bad, label=0, intent=bad["intent"] + f" ({i})") for i in range(4)]
    with pytest.raises(ValueError, match="needs both YES and NO examples"):
        orm.train_orm(examples[:4], tmp_path / "none")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # tiny matrices: one thread is faster than two on a busy machine
    try:
        out = orm.train_orm(examples, tmp_path / "judge", epochs=10, lr=3e-3, batch_size=4, max_tokens=256,
                            hidden=64, layers=1, log=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    log = json.loads((out / "train_log.json").read_text())
    assert log["epoch_loss"][-1] < 0.5 * log["epoch_loss"][0]
    judge = orm.ORM.load(out)
    probs = judge.score(examples)
    assert min(probs[:4]) > max(probs[4:])
    assert judge.judge(examples) == [True] * 4 + [False] * 4


def test_frozen_lower_states_give_the_full_forwards_yes_no_logits(tiny):
    import copy

    import policy
    model = dist.freeze_lower(copy.deepcopy(tiny.model), 1)       # the lower of 2 layers and the embeddings
    seqs = [orm.encode(tiny.tok, t, 512)[0] for t in _trajectories()]
    states = policy.lower_states(model, seqs, tiny.pad_id)
    full = orm.yes_no_logits(model, seqs, tiny.pad_id, tiny.ids)
    top = orm.yes_no_logits(model, seqs, tiny.pad_id, tiny.ids, states)
    assert top.shape == (4, 2) and torch.allclose(top, full, atol=1e-5)


def test_smollm2_judge_trains_its_top_layers_on_states_computed_once(tmp_path):
    """The pretrained default as the judge's base (orm.py train --base smollm2): its lower layers stay the
    base's, its top layers move, and the saved judge loads and scores."""
    import pretrained
    from safetensors.torch import load_file
    ok = {"intent": "What is the postcode of Hillcrest Lodge?", "html": "<p> Postcode: 16803 </p>",
          "responses": ["exit(message=\"16803\")"]}
    bad = dict(ok, responses=["exit(message=\"\")"])
    examples = [dict(ok, label=1), dict(bad, label=0)] * 2
    logs = []
    out = orm.train_orm(examples, tmp_path / "judge", base="smollm2", epochs=1, lr=1e-4, batch_size=4,
                        max_tokens=256, bf16=dist.bf16_is_fast(), train_layers=2, log=logs.append)
    assert any("28 frozen layers' output of 4 examples" in m for m in logs)
    base = load_file(str(Path(pretrained.resolve("smollm2")) / "model.safetensors"))
    judge = load_file(str(out / "model.safetensors"))
    assert torch.equal(judge["model.layers.0.mlp.up_proj.weight"], base["model.layers.0.mlp.up_proj.weight"])
    assert torch.equal(judge["model.layers.27.mlp.up_proj.weight"], base["model.layers.27.mlp.up_proj.weight"])
    assert not torch.equal(judge["model.layers.29.mlp.up_proj.weight"], base["model.layers.29.mlp.up_proj.weight"])
    probs = orm.ORM.load(out, max_tokens=256).score(examples)
    assert len(probs) == 4 and all(0.0 < p < 1.0 for p in probs)


def test_table3_metrics_by_hand():
    probs, labels, exited = [0.9, 0.8, 0.3, 0.6, 0.1], [1, 0, 0, 1, 0], [True, True, False, True, True]
    res = orm.metrics(probs, labels, exited, bins=2)
    r = res["ORM"]          # predictions 1 1 0 1 0: tp 2, fp 1, fn 0
    assert (r["accuracy"], r["precision"], r["recall"]) == pytest.approx((4 / 5, 2 / 3, 1.0))
    # bin [0, .5): P 0.3, 0.1 (mean 0.2), success 0/2; bin [.5, 1]: mean P 2.3/3, success 2/3
    assert r["ece"] == pytest.approx(2 / 5 * 0.2 + 3 / 5 * abs(2.3 / 3 - 2 / 3))          # 0.14
    assert [(b["n"], b["success"]) for b in r["reliability"]] == [(2, 0.0), (3, pytest.approx(2 / 3))]
    m = res["always-majority"]   # 2 of 5 succeed: always NO
    assert (m["accuracy"], m["recall"], m["ece"]) == pytest.approx((3 / 5, 0.0, 0.4))
    assert math.isnan(m["precision"])
    e = res["exit called"]       # P = 1 1 0 1 1: tp 2, fp 2; bin 1: n 4, success 1/2; bin 0: n 1, success 0
    assert (e["accuracy"], e["precision"], e["recall"], e["ece"]) == pytest.approx((3 / 5, 1 / 2, 1.0, 4 / 5 * 0.5))
    f = orm.metrics(probs, labels, exited, bins=2, answer_on_page=[True, False, False, False, False])["answer on page"]
    assert (f["accuracy"], f["precision"], f["recall"]) == pytest.approx((4 / 5, 1.0, 1 / 2))   # P = 1 0 0 0 0
    assert orm.metrics(probs, labels, exited)["ORM"]["ece"] == pytest.approx((0.1 + 0.8 + 0.3 + 0.4 + 0.1) / 5)
    assert orm.metrics([0.2, 0.7], [1, 0])["always-majority"]["accuracy"] == 0.5    # a tie counts as YES
    table = orm.format_table(dict(res, by_source={"oracle": {"n": 5, "accuracy": 0.8}}))
    assert "| ORM | 80.0 | 66.7 | 100.0 | 0.140 |" in table
    assert "| always-majority | 60.0 | - | 0.0 | 0.400 |" in table
    assert "answer on page" not in table
    assert "| answer on page | 80.0 | 100.0 | 50.0 | 0.200 |" in orm.format_table(
        orm.metrics(probs, labels, exited, bins=2, answer_on_page=[True, False, False, False, False]))
    with pytest.raises(ValueError, match="as many probabilities as labels"):
        orm.metrics([0.5], [1, 0])


def test_trajectory_from_an_env_result_and_wrong_answers():
    result = {"task_id": 3, "score": 1.0, "end": "exit", "steps": [
        {"step": 0, "prompt": "...", "html": "<p> start </p>", "response": "do(action=\"Scroll Down\")", "url": "u0"},
        {"step": 1, "prompt": "...", "html": "<p> 42 </p>", "response": "exit(message=\"42\")", "url": "u1"}]}
    assert orm.trajectory(result, {"intent": "How many?"}) == {
        "intent": "How many?", "responses": ["do(action=\"Scroll Down\")", "exit(message=\"42\")"], "html": "<p> 42 </p>"}
    rng = random.Random(0)
    assert orm.wrong_answer("42", [], rng) != "42" and orm.wrong_answer("42", [], rng).lstrip("-").isdigit()
    assert orm.wrong_answer("fitness", ["fitness", "books"], rng) == "books"
    assert orm.wrong_answer("fitness", ["Fitness"], rng) == "N/A"


def test_answer_variants_rescore_the_oracle_episode_with_other_answers():
    """exit() changes no page: the oracle's episode with another answer, scored by string_match from the answer;
    only successful oracle episodes of string_match-only tasks without an LLM judge get variants."""
    def result(answer, score=1.0):
        return {"score": score, "end": "exit", "answer": answer, "steps": [
            {"html": "<p> start </p>", "response": 'do(action="Scroll Down")'},
            {"html": f"<p> {answer} </p>", "response": f'# Note: the count is {answer}\nexit(message="{answer}")'}]}
    def config(ref, approach="must_include", types=("string_match",)):
        return {"task_id": 0, "sites": ["shopping"], "intent": "How many?", "intent_template_id": 7,
                "eval": {"eval_types": list(types), "reference_answers": {approach: ref}}}
    results = [result("42"), result("7", score=0.0), result("9"), result("5")]
    configs = [config(["42"]), config(["8"]), config("9 items", "fuzzy_match"), config(["5"], types=("string_match", "url_match"))]
    out = orm.answer_variants(results, configs, "train", 3, random.Random(0))
    assert len(out) == 3 and {r["source"] for r in out} == {"answer_variant"}
    answers = [r["responses"][-1].split("\n")[-1] for r in out]
    assert len(set(answers)) == 3 and 'exit(message="42")' not in answers
    for r in out:
        a = r["responses"][-1].split('"')[-2]
        assert r["responses"][-1] == f'# Note: the count is {a}\nexit(message="{a}")' and a.lstrip("-").isdigit()
        assert r["label"] == int(r["score"] > 0.5) == int("42" in a)      # must_include: "142" would still pass
        assert r["responses"][0] == 'do(action="Scroll Down")' and r["html"] == "<p> 42 </p>" and r["split"] == "train"
    assert orm.answer_variants(results, configs, "train", 0, random.Random(0)) == []


def test_parse_args(capsys):
    with pytest.raises(SystemExit):
        orm.parse_args(["--help"])
    assert "peak learning rate, cosine with 10% warmup" in capsys.readouterr().out   # field docstrings are the help
    cmd, args = orm.parse_args(["eval", "--orm", "x", "--bf16"])
    assert (cmd, args.orm, args.bf16, args.max_tokens) == ("eval", "x", True, 512)
    with pytest.raises(SystemExit):
        orm.parse_args(["train", "--epochs", "0"])


def test_data_build_on_miniarena_gives_both_labels(arena):
    """Two short string_match tasks: the oracle succeeds, a wrong answer and an early exit fail, per the evaluator."""
    from miniarena.tasks import build
    tasks = build("train", 0)
    picked = [next(t for t in tasks if t["intent"].startswith(p)) for p in ("What is the postcode of", "Who posted")]
    rows = orm.build_dataset(arena, picked, split="train", slots=4, perturb=("wrong_answer", "truncate"), variants=1)
    by = {(r["task_id"], r["source"]): r for r in rows}
    assert {r["source"] for r in rows} == {"oracle", "wrong_answer", "truncate", "answer_variant"}
    for t in picked:
        assert by[(t["task_id"], "oracle")]["label"] == 1
        assert by[(t["task_id"], "wrong_answer")]["label"] == 0
        assert by[(t["task_id"], "truncate")]["label"] == 0
        assert by[(t["task_id"], "answer_variant")]["label"] == 0
    for r in rows:
        assert r["exited"] and r["responses"] and r["html"] and r["split"] == "train"
        assert r["label"] == int(r["score"] > 0.5)


def test_cached_data_is_reused_only_for_the_same_options(tmp_path):
    args = orm.Args(run_dir=str(tmp_path))
    row = dict(FIXTURE, label=1, exited=True, source="oracle")
    (tmp_path / "train.jsonl").write_text(json.dumps(row) + "\n")
    meta = {"tasks": args.train_tasks, "seed": args.seed, "perturb": args.perturb, "policy": args.policy,
            "max_steps": args.max_steps}
    (tmp_path / "train.meta.json").write_text(json.dumps(meta))
    assert orm.data(args, ("train",))["train"] == [row]          # no browser, no arena: read from the cache


def test_eval_writes_each_episodes_p_yes(tmp_path, tiny):
    args = orm.Args(run_dir=str(tmp_path))
    rows = [dict(t, label=i % 2, exited=True, source="oracle", task_id=i, site="shopping")
            for i, t in enumerate(_trajectories())]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.meta.json").write_text(json.dumps({"tasks": args.test_tasks, "seed": args.seed,
                                                          "perturb": args.perturb, "policy": args.policy,
                                                          "max_steps": args.max_steps}))
    tiny.model.save_pretrained(tmp_path / "judge")
    tiny.tok.save_pretrained(tmp_path / "judge")
    threads = torch.get_num_threads()
    try:
        res = orm.main(["eval", "--run-dir", str(tmp_path), "--orm", str(tmp_path / "judge")])
    finally:
        torch.set_num_threads(threads)        # main sets the process's threads
    lines = [json.loads(x) for x in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [(x["task_id"], x["label"], x["source"]) for x in lines] == [(i, i % 2, "oracle") for i in range(4)]
    assert [x["p_yes"] for x in lines] == pytest.approx(res["probs"]) and len(set(res["probs"])) == 4
    assert "| ORM |" in (tmp_path / "eval.md").read_text()
