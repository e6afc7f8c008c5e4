"""bench/train_step.py: what the actor update costs beyond the bare model work.

One actor update of WebRL (eq. 6) needs: the reference's log-probs of the actions (a no-grad forward;
train.py computes them with the actor before the phase's first update), the actor's forward and
backward, the loss and the optimizer step. The *bare* cost is the same model's forward + backward on
the same padded batch plus one no-grad forward, computing only the logits that predict the action
tokens (what any implementation must compute). Target: ours within 15% of the bare cost.

Measured in fp32 and under bf16 autocast (the CPU's AMX makes bf16 matmuls much faster), same batch,
interleaved repetitions, medians.

    python bench/train_step.py [--batch 8] [--prompt 1024] [--action 32] [--reps 7]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import policy  # noqa: E402
import train  # noqa: E402


def corpus() -> list[str]:
    from miniarena.tasks import build
    return [json.dumps(c) for c in build("train")[:300]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=1024, help="prompt tokens per step")
    ap.add_argument("--action", type=int, default=32, help="action tokens per step")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        path = policy.build_tiny(Path(d) / "tiny", corpus(), hidden=args.hidden, layers=args.layers,
                                 heads=max(1, args.hidden // 64))
        model, tok = policy.load_actor(path)
    V = model.config.vocab_size
    rng = random.Random(0)
    prompts = [[rng.randrange(5, V) for _ in range(args.prompt - rng.randrange(0, args.prompt // 4))] for _ in range(args.batch)]
    actions = [[rng.randrange(5, V) for _ in range(args.action)] for _ in range(args.batch)]
    adv = torch.randn(args.batch)
    opt = train.adamw(model.parameters(), 1e-5)   # the optimizer train.py uses
    tokens = sum(len(p) + len(a) for p, a in zip(prompts, actions))

    def ours(bf16):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            ref_lp = policy.action_logprobs(model, prompts, actions, batch_size=args.batch, pad_id=tok.pad_token_id)
            lps = policy.action_logprobs(model, prompts, actions, batch_size=args.batch, grad=True, pad_id=tok.pad_token_id)
        logp = torch.stack([lp.sum() for lp in lps])
        loss = policy.actor_loss(logp, torch.stack([lp.sum() for lp in ref_lp]), adv, 1.0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    ids, mask, pos = policy.pad_batch([p + a for p, a in zip(prompts, actions)], tok.pad_token_id, "left")

    def bare(bf16):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=args.action + 1)
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=args.action + 1).logits
        out.float().sum().backward()
        model.zero_grad(set_to_none=True)

    times = {k: [] for k in ("ours_fp32", "bare_fp32", "ours_bf16", "bare_bf16")}
    for fn in (ours, bare):   # warm up both paths in both precisions
        fn(False), fn(True)
    for _ in range(args.reps):
        for name, fn, bf16 in (("ours_fp32", ours, False), ("bare_fp32", bare, False),
                               ("ours_bf16", ours, True), ("bare_bf16", bare, True)):
            t = time.perf_counter()
            fn(bf16)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"tiny model: hidden {args.hidden}, {args.layers} layers, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M "
          f"params; batch {args.batch} x ~{args.prompt} prompt + {args.action} action tokens; {torch.get_num_threads()} threads")
    for prec in ("fp32", "bf16"):
        o, b = med[f"ours_{prec}"], med[f"bare_{prec}"]
        print(f"{prec}: actor update {tokens / o:8.0f} tok/s ({1000 * o:7.1f} ms), bare fwd+bwd+ref fwd "
              f"{tokens / b:8.0f} tok/s ({1000 * b:7.1f} ms): overhead {100 * (o / b - 1):+.1f}% (target <= 15%)")
    print(f"bf16 speed-up of the actor update: {med['ours_fp32'] / med['ours_bf16']:.2f}x")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "train_step.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": {"nproc": os.cpu_count(), "cpu": platform.processor(),
                                                               "threads": torch.get_num_threads()},
        "args": vars(args), "tokens_per_batch": tokens, "median_s": med,
        "overhead": {p: med[f"ours_{p}"] / med[f"bare_{p}"] - 1 for p in ("fp32", "bf16")}}, indent=1))


if __name__ == "__main__":
    main()
