"""bench/memory.py: memory per GPU of WebRL training under FSDP2, computed, and checked on the tiny model.

    python bench/memory.py                                              # the tables + the tiny check, 1 process
    torchrun --standalone --nproc-per-node 2 bench/memory.py --check    # the tiny check on 2 ranks (shards)

What train.py holds (see dist.py): actor and critic sharded over N ranks with fp32 master weights; one
AdamW at a time (the critic's during its update, then the actor's: each lives inside its update
function), fp32 gradients of the model being updated, no reference model (pi_ref's log-probs are
computed by the actor before the phase's first update), bf16 compute. Per parameter, sharded: 4 B weight
(actor and critic), + 4 B gradient + 8 B AdamW moments (the model being updated).

Rollouts run on `dist.inference_copy`: a full bf16 copy of the actor on every rank plus its KV cache.

The formula is checked on the tiny model by counting the bytes of the actual tensors (weights, grads,
AdamW state after one step) on this rank, against the same formula.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GB = 1e9
# (hidden, layers, intermediate, vocab, kv_dim): Llama-3.1 configs
MODELS = {"Llama-3.1-8B": (4096, 32, 14336, 128256, 1024), "Llama-3.1-70B": (8192, 80, 28672, 128256, 1024)}


def llama_params(hidden, layers, inter, vocab, kv_dim, lm_head=True) -> int:
    per_layer = 2 * hidden * hidden + 2 * hidden * kv_dim + 3 * hidden * inter + 2 * hidden
    return vocab * hidden * (2 if lm_head else 1) + layers * per_layer + hidden


def table(n_gpus: int, tokens: int, slots: int, prompt: int) -> str:
    rows = ["| model | actor + critic weights | grads + AdamW (one model) | activations (ckpt, 1 x %d tok) "
            "| training peak | rollout copy + KV (%d x %d tok) | rollouts peak |" % (tokens, slots, prompt),
            "|---|---|---|---|---|---|---|"]
    for name, (h, layers, inter, vocab, kv) in MODELS.items():
        actor, critic = llama_params(h, layers, inter, vocab, kv), llama_params(h, layers, inter, vocab, kv, lm_head=False)
        weights = 4 * (actor + critic) / n_gpus
        opt = 12 * actor / n_gpus
        # checkpointed layer inputs (bf16) + one layer's recomputed working set (~ q,k,v,o + 3 MLP tensors)
        acts = layers * tokens * h * 2 + tokens * (4 * h + 3 * inter) * 2
        gathered = 2 * 2 * (llama_params(h, 1, inter, 0, kv) - h)        # one layer gathered in bf16, + prefetch
        train_peak = weights + opt + acts + gathered
        copy_kv = 2 * actor + slots * prompt * layers * 2 * kv * 2
        roll_peak = weights + copy_kv
        rows.append(f"| {name} ({actor / 1e9:.2f}B) | {weights / GB:.1f} GB | {opt / GB:.1f} GB | {acts / GB:.1f} GB | "
                    f"**{train_peak / GB:.1f} GB** | {copy_kv / GB:.1f} GB | **{roll_peak / GB:.1f} GB** |")
    return "\n".join(rows)


def tensor_bytes(ts) -> int:
    total = 0
    for t in ts:
        if t is None:
            continue
        local = t.to_local() if hasattr(t, "to_local") else t
        total += local.numel() * local.element_size()
    return total


def check(hidden: int, layers: int) -> None:
    """One AdamW step of the tiny actor (sharded when under torchrun): counted bytes vs the formula."""
    import dist
    import policy
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = policy.build_tiny(Path(tmp) / "tiny", ["<a id=\"1\">Orders</a> do(action=\"Click\", element=\"1\")"] * 50,
                                 vocab_size=400, hidden=hidden, layers=layers, heads=max(1, hidden // 64))
        model, _ = policy.load_actor(path)   # every rank builds the same (deterministic) model
    d = dist.init()                          # after: HF writes files on rank 0 only once a group exists
    n = sum(p.numel() for p in model.parameters())
    model = dist.shard(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(5, model.config.vocab_size, (2, 64))
    model(input_ids=ids).logits.float().mean().backward()
    opt.step()
    w = tensor_bytes(model.parameters())
    g = tensor_bytes(p.grad for p in model.parameters())
    s = tensor_bytes(v for st in opt.state.values() for v in st.values() if torch.is_tensor(v) and v.dim() > 0)
    expect = n / d.world
    print(f"rank {d.rank}/{d.world}: tiny {hidden}x{layers}, {n:,} params; this rank holds weights {w:,} B "
          f"(formula 4 x {expect:,.0f} = {4 * expect:,.0f}), grads {g:,} B (formula {4 * expect:,.0f}), "
          f"AdamW {s:,} B (formula {8 * expect:,.0f})")
    dist.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=16384, help="tokens per micro-batch in the updates")
    ap.add_argument("--slots", type=int, default=8, help="episodes generated together in rollouts")
    ap.add_argument("--prompt", type=int, default=16384, help="prompt tokens per episode in the KV cache")
    ap.add_argument("--check", action="store_true", help="only the tiny-model check")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    a = ap.parse_args()
    if not a.check:
        print(f"FSDP2 on {a.gpus} GPUs, bf16 compute, fp32 master weights, activation checkpointing:\n")
        print(table(a.gpus, a.tokens, a.slots, a.prompt))
        print()
    check(a.hidden, a.layers)


if __name__ == "__main__":
    main()
