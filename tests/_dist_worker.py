"""The process tests/test_dist.py starts on each rank (torchrun, gloo on CPU):

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/_dist_worker.py TINY_DIR OUT CHECK...

Each CHECK runs on every rank against an unsharded reference model built in the same process from the
same files (a reference model makes no collectives, so each rank can run it alone). Rank 0 writes the
measurements to OUT/CHECK.json; the test asserts on them. Checks: train, train_ckpt, train_bf16,
generate, critic, collectives."""
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import dist  # noqa: E402
import policy  # noqa: E402

torch.set_num_threads(1)   # two ranks on a shared 2-core machine

INTENTS = ["Show me the orders of customer Emma Lopez", "Search for phones", "Open the first order",
           "Scroll down the page", "Tell me how many orders there are"]
HTML = '<html><body><a id="1" data-text="Orders">Orders</a><input id="2" type="text"/></body></html>'
ACTIONS = ['do(action="Click", element="1")', 'do(action="Search", argument="phones", element="2")',
           'exit(message="3 orders")', 'do(action="Scroll Down")', 'do(action="Click", element="2")']


def batch(tok):
    prompts = [policy.encode_prompt(tok, policy.build_prompt(i, [], HTML))[0] for i in INTENTS]
    actions = [policy.encode_action(tok, a) for a in ACTIONS]
    return list(zip(prompts, actions))


def nll(model, items, pad_id):
    """-log pi(a|s) of each (prompt, action) item: the per-item loss of this test."""
    lps = policy.action_logprobs(model, [p for p, _ in items], [a for _, a in items], batch_size=len(items),
                                 grad=True, pad_id=pad_id)
    return -torch.stack([lp.sum() for lp in lps])


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys(), (sorted(a.keys() ^ b.keys()))[:5]
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def full_grads(model) -> dict:
    """name -> full gradient (collective under FSDP: every rank calls it)."""
    out = {}
    for name, p in model.named_parameters():
        g = p.grad.full_tensor() if isinstance(p.grad, torch.distributed.tensor.DTensor) else p.grad
        out[name.replace("_checkpoint_wrapped_module.", "")] = g.detach().cpu().clone()
    return out


def check_train(d, tiny, checkpointing=False, bf16=False) -> dict:
    """Sharded loss == unsharded loss; one AdamW step with each rank on its share of the global batch
    == one single-process step on the whole batch (gradients, clipped norm, weights)."""
    ref, tok = policy.load_actor(tiny)
    model, _ = policy.load_actor(tiny)
    model = dist.shard(model, bf16=bf16, checkpointing=checkpointing)
    items = batch(tok)                         # 5 items: shares of 3 and 2 (the loss rule below)
    ref.train(), model.train()
    out = {"world": d.world}
    with torch.no_grad():
        out["loss_ref"] = nll(ref, items, tok.pad_token_id).mean().item()
        out["loss_sharded"] = nll(model, items, tok.pad_token_id).mean().item()   # the whole batch, every rank
    # after a no-grad forward the registered weights must be the shards again: the optimizer below is
    # built now, as train.py builds its own after computing reference log-probs
    out["sharded_after_no_grad"] = all(isinstance(p, torch.distributed.tensor.DTensor) for p in model.parameters())

    # Adam's first step is lr * g / (|g| + eps): with the default eps 1e-8 it turns float rounding
    # noise in a near-zero gradient into a full-size step of either sign. A larger eps keeps the
    # comparison about the gradients (large ones still move by ~lr).
    lr, eps, clip = 1e-3, 1e-3, 0.5
    # single process: mean loss over the whole batch
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=lr, eps=eps, weight_decay=0.0)
    nll(ref, items, tok.pad_token_id).mean().backward()
    out["norm_ref"] = torch.nn.utils.clip_grad_norm_(ref.parameters(), clip).item()
    grads_ref = {k: p.grad.clone() for k, p in ref.named_parameters()}
    opt_ref.step()
    # sharded: each rank its share; FSDP averages over ranks, so a rank's loss is its part of the
    # global mean times world
    opt = torch.optim.AdamW(model.parameters(), lr=lr, eps=eps, weight_decay=0.0)
    share = dist.split(items)
    (nll(model, share, tok.pad_token_id).sum() / len(items) * d.world).backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    out["norm_sharded"] = (norm.full_tensor() if isinstance(norm, torch.distributed.tensor.DTensor) else norm).item()
    grads = full_grads(model)
    opt.step()
    full = dist.full_state_dict(model)
    if d.is_main:
        out["grad_max_diff"] = max_diff(grads, grads_ref)
        out["grad_max_abs"] = max(g.abs().max().item() for g in grads_ref.values())
        out["weight_max_diff"] = max_diff(full, ref.state_dict())
        out["weight_max_change"] = max_diff(ref.state_dict(), policy.load_actor(tiny)[0].state_dict())
        out["param_is_dtensor"] = isinstance(next(model.parameters()), torch.distributed.tensor.DTensor)
        out["layer_class"] = type(model.model.layers[0]).__name__
    return out


def check_generate(d, tiny, out_dir: Path) -> dict:
    """The inference copy generates without collectives (ranks call it different numbers of times),
    the same tokens as the unsharded model; save_pretrained from the sharded model writes a directory a
    single process loads (the test generates from it and compares with `tokens` here)."""
    model, tok = policy.load_actor(tiny)
    model = dist.shard(model, bf16=False, checkpointing=True)
    items = batch(tok)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    model.train()
    nll(model, dist.split(items), tok.pad_token_id).mean().backward()   # one step: weights != the files
    opt.step()
    opt.zero_grad()

    prompts = [policy.build_prompt(i, [], HTML) for i in INTENTS]
    gen = dist.inference_copy(model)
    out = {"prompts": prompts,
           "copy_is_plain": not any(isinstance(p, torch.distributed.tensor.DTensor) for p in gen.parameters()),
           "copy_tied": gen.lm_head.weight is gen.model.embed_tokens.weight}
    # rank r generates 1 + 2r times (rank 0 once, rank 1 three times): the sharded model would hang
    # (NCCL) or abort (gloo: tried, SIGABRT) on its mismatched all-gathers
    t0 = time.time()
    mine = [policy.generate(gen, tok, prompts[k:k + 1], max_new_tokens=12, temperature=0.0)[0].action_ids
            for k in range(1 + 2 * d.rank)]
    out["calls_per_rank"] = dist.gather([len(mine)])
    out["generate_s"] = time.time() - t0
    gens = policy.generate(gen, tok, prompts, max_new_tokens=12, temperature=0.0)
    tokens = [g.action_ids for g in gens]
    out["tokens"], out["logp"] = tokens, [g.logp for g in gens]
    out["ranks_agree"] = all(t == tokens for t in dist.gather([tokens]))
    out["one_call_equals_batched"] = mine[0] == tokens[0]
    half = dist.inference_copy(model, torch.bfloat16)
    out["bf16_copy_dtype"] = str(next(half.parameters()).dtype)
    out["bf16_copy_rotary_dtype"] = str(half.model.rotary_emb.inv_freq.dtype)
    out["bf16_tokens"] = [g.action_ids for g in policy.generate(half, tok, prompts, max_new_tokens=12,
                                                                temperature=0.0)]
    del gen, half

    dist.save_pretrained(model, tok, out_dir / "actor")
    # the sharded model still trains after being copied and saved
    nll(model, dist.split(items), tok.pad_token_id).mean().backward()
    opt.step()
    out["trains_after"] = True
    return out


def check_critic(d, tiny, out_dir: Path) -> dict:
    """A sharded critic's values (each rank its share of the prompts, gathered) == the unsharded
    critic's; its checkpoint loads with Critic.load in a single process; bf16 with fp32 heads runs."""
    _, tok = policy.load_actor(tiny)
    ref = policy.Critic.from_actor(tiny)
    critic = dist.shard(policy.Critic.from_actor(tiny), bf16=False, checkpointing=False)
    items = batch(tok)
    prompts = [p for p, _ in items]

    def values(c, ps):
        x, m, _ = policy.pad_batch(ps, tok.pad_token_id, "left")
        with torch.no_grad():
            return [v.tolist() for v in c.values(x, m)]

    v_ref = values(ref, prompts)
    mine = values(critic, dist.split(prompts))
    out = {"values_ref": v_ref, "values_sharded": [dist.gather(mine[0]), dist.gather(mine[1])]}
    # one update (each rank its share), then save: the test loads the directory and expects `values_after`
    opt = torch.optim.AdamW(critic.parameters(), lr=1e-2)
    share = dist.split(list(range(len(prompts))))
    x, m, _ = policy.pad_batch([prompts[i] for i in share], tok.pad_token_id, "left")
    (policy.critic_loss(critic(x, m), torch.tensor([float(i % 2) for i in share])) * len(share) / len(prompts)
     * d.world).backward()
    opt.step()
    after = values(critic, prompts)
    out["values_after"] = after
    out["values_after_agree"] = all(a == after for a in dist.gather([after]))
    dist.save_pretrained(critic, tok, out_dir / "critic")
    half = dist.shard(policy.Critic.from_actor(tiny), bf16=True, checkpointing=True)
    out["values_bf16"] = dist.gather(values(half, dist.split(prompts))[0])
    out["bf16_head_dtype"] = str(half.head1[0].weight.dtype)
    return out


def check_collectives(d) -> dict:
    out = {"rank": d.rank, "world": d.world, "is_main": d.is_main, "device": str(d.device)}
    for n in (0, 1, 2, 5):
        xs = [f"item{i}" for i in range(n)]
        out[f"share{n}"] = dist.gather([dist.split(xs)])
        out[f"roundtrip{n}"] = dist.gather(dist.split(xs)) == xs
        out[f"even{n}"] = dist.gather([dist.split(xs, even=True)])
    out["mean_rank"] = dist.all_mean(d.rank)
    out["mean_tensor"] = dist.all_mean(torch.tensor([float(d.rank) * 2]))
    out["uneven"] = dist.gather([{"r": d.rank}] * (d.rank + 1))
    dist.barrier()
    return out


def check_pretrained(d, path, out_dir: Path) -> dict:
    """A pretrained HF directory (the converted SmolLM2): loads on every rank, shards with its lower layers
    frozen, computes the unsharded loss, takes one update that moves only the trained layers, and saves a
    directory that one process loads (the test checks it)."""
    ref, tok = policy.load_actor(path)
    model, _ = policy.load_actor(path)
    model = dist.shard(dist.freeze_lower(model, 2), bf16=False)
    items = batch(tok)
    out = {"world": d.world}
    with torch.no_grad():
        out["loss_plain"] = nll(ref, items, tok.pad_token_id).mean().item()
        out["loss_sharded"] = nll(model, items, tok.pad_token_id).mean().item()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
    model.train()
    (nll(model, dist.split(items, even=True), tok.pad_token_id).mean()).backward()
    opt.step()
    full = dist.full_state_dict(model)
    dist.save_pretrained(model, tok, out_dir / "actor")
    if d.is_main:
        start = ref.state_dict()
        out["frozen_unchanged"] = all(torch.equal(full[k], start[k]) for k in full if ".layers.0." in k or "embed" in k)
        out["trained_changed"] = not torch.equal(full["model.layers.29.mlp.up_proj.weight"],
                                                 start["model.layers.29.mlp.up_proj.weight"])
        out["top_weight_sum"] = full["model.layers.29.mlp.up_proj.weight"].sum().item()
    return out


def main():
    tiny, out_dir, checks = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    d = dist.init()
    for check in checks:
        t0 = time.time()
        if check == "train":
            res = check_train(d, tiny)
        elif check == "train_ckpt":
            res = check_train(d, tiny, checkpointing=True)
        elif check == "train_bf16":
            res = check_train(d, tiny, bf16=True)
        elif check == "generate":
            res = check_generate(d, tiny, out_dir)
        elif check == "critic":
            res = check_critic(d, tiny, out_dir)
        elif check == "pretrained":
            res = check_pretrained(d, tiny, out_dir)
        elif check == "collectives":
            res = check_collectives(d)
        else:
            raise SystemExit(f"unknown check {check}")
        res["seconds"] = time.time() - t0
        if d.is_main:
            (out_dir / f"{check}.json").write_text(json.dumps(res))
    dist.close()


if __name__ == "__main__":
    main()
