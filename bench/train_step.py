"""bench/train_step.py: what the actor update costs beyond the bare model work.

One actor update of WebRL (eq. 6) needs: the reference's log-probs of the actions (a no-grad forward;
train.py computes them with the actor before the phase's first update), the actor's forward and
backward, the loss and the optimizer step. The *bare* cost is the same model's forward + backward on
the same padded batch plus one no-grad forward, computing only the logits that predict the action
tokens (what any implementation must compute). Target: ours within 15% of the bare cost.

Measured in fp32 and under bf16 autocast (a CPU with AMX or AVX-512 BF16 makes bf16 matmuls faster; one with
neither runs them several times slower), same batch, interleaved repetitions, medians.

With --policy smollm2 (the pretrained default, its lower layers frozen as train.py freezes them) it also
prints the share of the machine's matmul peak the update reaches (model FLOPs over time, against the
GFLOP/s of one large matmul measured here in the same precision) and the cost of one generation step for
8 episodes in flight (prefill of 8 prompts, then its decoded tokens), in each precision timed.

    python bench/train_step.py [--batch 8] [--prompt 1024] [--action 32] [--reps 7]
    python bench/train_step.py --policy smollm2 --train-layers 10 --prompt 800 --action 24 --reps 3
    python bench/train_step.py --policy smollm2 --train-layers 10 --prompt 800 --action 24 --reps 5 --precisions bf16 --compile
"""
from __future__ import annotations

import argparse
import copy
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

import dist  # noqa: E402
import frozen  # noqa: E402
import policy  # noqa: E402
import pretrained  # noqa: E402
import learn  # noqa: E402


def matmul_peak(dtype, n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of one n x n x n matmul in `dtype` on this machine, median of `reps`."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t)
    return 2 * n ** 3 / statistics.median(ts) / 1e9


def update_flops(model, seq_lens: list, action: int) -> float:
    """Model FLOPs of one actor update (reference forward + actor forward + backward of the trained layers):
    2 per weight per token forward (the LM head only on the action positions), attention 4 * len * hidden per
    token and layer, and backward 2x the forward of what is trained (+1x the LM head's input gradient)."""
    cfg = model.config
    layers = dist.decoder_layers(model)
    per_layer = sum(p.numel() for p in layers[0][1].parameters())
    trained = sum(any(p.requires_grad for p in m.parameters()) for _, m in layers)
    head = 2 * cfg.hidden_size * cfg.vocab_size * action * len(seq_lens)
    fwd_layer = sum(2 * per_layer * n + 2 * cfg.hidden_size * n * n for n in seq_lens)   # causal: ~n^2/2 * 4
    fwd = len(layers) * fwd_layer + head
    return 2 * fwd + 2 * trained * fwd_layer + head


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
    ap.add_argument("--policy", default="tiny", help="'tiny' (built here), 'smollm2' or an HF directory")
    ap.add_argument("--train-layers", type=int, default=0, help="top decoder layers trained (0: all), as train.py")
    ap.add_argument("--precisions", default="fp32,bf16", help="which of fp32, bf16 to time (bf16 is slow without AMX or AVX-512 BF16)")
    ap.add_argument("--compile", action="store_true", help="also time the update with each decoder layer under "
                    "torch.compile(dynamic=True), as train.py --compile sft|all (needs a C compiler on CPU)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.policy == "tiny":
        with tempfile.TemporaryDirectory() as d:
            path = policy.build_tiny(Path(d) / "tiny", corpus(), hidden=args.hidden, layers=args.layers,
                                     heads=max(1, args.hidden // 64))
            model, tok = policy.load_actor(path)
    else:
        model, tok = policy.load_actor(pretrained.resolve(args.policy))
    dist.freeze_lower(model, args.train_layers)
    V = model.config.vocab_size
    rng = random.Random(0)
    prompts = [[rng.randrange(5, V) for _ in range(args.prompt - rng.randrange(0, args.prompt // 4))] for _ in range(args.batch)]
    actions = [[rng.randrange(5, V) for _ in range(args.action)] for _ in range(args.batch)]
    adv = torch.randn(args.batch)
    opt = learn.adamw(model.parameters(), 1e-5)   # the optimizer train.py uses (learn.py)
    tokens = sum(len(p) + len(a) for p, a in zip(prompts, actions))

    def ours(bf16, share=False, model=model, opt=opt):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            # share: the frozen lower layers run once (train.py computes them once per step for critic, pi_ref
            # and actor; all of that cost is charged to this one update here)
            st = policy.lower_states(model, [p + a for p, a in zip(prompts, actions)], tok.pad_token_id,
                                     batch_size=args.batch) if share else None
            ref_lp = policy.action_logprobs(model, prompts, actions, batch_size=args.batch, pad_id=tok.pad_token_id,
                                            states=st)
            lps = policy.action_logprobs(model, prompts, actions, batch_size=args.batch, grad=True, pad_id=tok.pad_token_id,
                                         states=st)
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

    precs = args.precisions.split(",")
    runs = [(f"{w}_{p}", fn, p == "bf16") for p in precs for w, fn in (("ours", ours), ("bare", bare))]
    if frozen.n_frozen(model):
        runs += [(f"shared_{p}", lambda bf16: ours(bf16, share=True), p == "bf16") for p in precs]
    if args.compile:   # a copy whose decoder layers run under torch.compile: inductor fuses the elementwise work
        compiled = copy.deepcopy(model)
        for _, layer in dist.decoder_layers(compiled):
            layer.compile(dynamic=True)
        copt = learn.adamw(compiled.parameters(), 1e-5)
        runs += [(f"compiled_{p}", lambda bf16: ours(bf16, model=compiled, opt=copt), p == "bf16") for p in precs]
    times = {name: [] for name, _, _ in runs}
    warmup = {}
    for name, fn, bf16 in runs:   # warm up every path (the compiled one compiles here)
        t = time.perf_counter()
        fn(bf16)
        warmup[name] = time.perf_counter() - t
    for _ in range(args.reps):
        for name, fn, bf16 in runs:
            t = time.perf_counter()
            fn(bf16)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.policy}: hidden {model.config.hidden_size}, {model.config.num_hidden_layers} layers "
          f"({args.train_layers or 'all'} trained), {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params; batch {args.batch} x ~{args.prompt} prompt + {args.action} action tokens; {torch.get_num_threads()} threads")
    for prec in precs:
        o, b = med[f"ours_{prec}"], med[f"bare_{prec}"]
        print(f"{prec}: actor update {tokens / o:8.0f} tok/s ({1000 * o:7.1f} ms), bare fwd+bwd+ref fwd "
              f"{tokens / b:8.0f} tok/s ({1000 * b:7.1f} ms): overhead {100 * (o / b - 1):+.1f}% (target <= 15%)")
    for prec in precs:
        if f"shared_{prec}" in med:
            print(f"{prec}: with the frozen lower layers run once (frozen.py) {tokens / med[f'shared_{prec}']:8.0f} tok/s "
                  f"({1000 * med[f'shared_{prec}']:7.1f} ms): {med[f'ours_{prec}'] / med[f'shared_{prec}']:.2f}x the full passes")
    for prec in precs:
        if f"compiled_{prec}" in med:
            print(f"{prec}: with each decoder layer under torch.compile(dynamic=True) {tokens / med[f'compiled_{prec}']:8.0f} tok/s "
                  f"({1000 * med[f'compiled_{prec}']:7.1f} ms): {med[f'ours_{prec}'] / med[f'compiled_{prec}']:.2f}x the eager "
                  f"update; its first update, compiling, {warmup[f'compiled_{prec}']:.0f} s")
    if len(precs) == 2:
        print(f"bf16 speed-up of the actor update: {med['ours_fp32'] / med['ours_bf16']:.2f}x")
    flops = update_flops(model, [len(p) + len(a) for p, a in zip(prompts, actions)], args.action)
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    util = {prec: flops / med[f"ours_{prec}"] / 1e9 / peaks[prec] for prec in precs}
    for prec in precs:
        print(f"{prec}: matmul peak here {peaks[prec]:6.0f} GFLOP/s; actor update {flops / med[f'ours_{prec}'] / 1e9:6.0f} "
              f"GFLOP/s = {100 * util[prec]:.0f}% of it (target >= 35%)")
    gen_s = {prec: generation_step(model, tok, prompts, bf16=prec == "bf16") for prec in precs}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "train_step.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M"), "machine": {"nproc": os.cpu_count(), "cpu": platform.processor(),
                                                               "threads": torch.get_num_threads()},
        "args": vars(args), "tokens_per_batch": tokens, "median_s": med, "first_call_s": warmup,
        "overhead": {p: med[f"ours_{p}"] / med[f"bare_{p}"] - 1 for p in precs},
        "update_gflop": flops / 1e9, "matmul_peak_gflops": peaks, "peak_share": util, "generation_step_s": gen_s}, indent=1))


def generation_step(model, tok, prompts, bf16: bool, new_tokens: int = 24) -> dict:
    """One agent step for 8 episodes in flight, as rollouts run it (policy.generate on the copy train.py makes: in
    bf16 when `bf16`, else fp32): the prefill of the 8 prompts, then each decoded token; median of 3."""
    gen = dist.inference_copy(model, torch.bfloat16 if bf16 else None)
    batch = [p[:] for p in prompts[:8]]
    times = []
    for _ in range(3):
        t = time.perf_counter()
        g = policy.generate(gen, tok, [tok.decode(p) for p in batch], max_new_tokens=new_tokens, temperature=1.0, seed=0,
                            max_prompt_tokens=max(len(p) for p in batch))
        times.append(time.perf_counter() - t)
    step = statistics.median(times)
    n = max(len(x.action_ids) for x in g)
    print(f"generation ({'bf16' if bf16 else 'fp32'} copy, {torch.get_num_threads()} threads): one step for {len(batch)} "
          f"episodes (~{statistics.mean(len(p) for p in batch):.0f}-token prompts, {n} new tokens) {step:.2f} s (target <= 2 s)")
    return {"step_s": step, "new_tokens": n, "episodes": len(batch)}


if __name__ == "__main__":
    main()
