"""bench/sft_memory.py: the memory of SmolLM2's SFT micro-step on the CPU, update by update.

Random token sequences shaped like the demonstrations (prompts of 400-1,024 tokens, actions of 10-40), the top
--train-layers trained, bf16 autocast where --precision auto picks it (learn.autocast), updates of --batch steps in
micro-batches of --micro-batch, each followed by the optimizer step (learn.optimizer_step, which calls
dist.release_memory unless --no-trim). After each update it prints the process's RSS and its peak (ru_maxrss).
Run one setting per process: the peak is the process's.

    python bench/sft_memory.py                                  # train.py's defaults: micro-batch 4, trim
    python bench/sft_memory.py --micro-batch 8 --no-trim        # the old default
    MALLOC_ARENA_MAX=2 python bench/sft_memory.py --micro-batch 8 --no-trim
    python bench/sft_memory.py --micro-batch 8 --checkpointing
    python bench/sft_memory.py --states --micro-batch 4         # a phase's update instead (train.py --update-micro-batch)

--states: the path of the phases' critic and actor updates (frozen.py): one batch of 16 steps of ~1,000 tokens
(prompts of 900-1,024 tokens, the budget most phase steps fill, actions of 20-48), their lower-layer states computed
once and held, then every update runs the top layers only on them.
"""
import argparse
import random
import resource
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dist  # noqa: E402
import learn  # noqa: E402
import policy  # noqa: E402
import pretrained  # noqa: E402


def rss_gb() -> float:
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--policy", default="smollm2", help="smollm2 or an HF model directory")
    ap.add_argument("--train-layers", type=int, default=10)
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16, help="steps per update")
    ap.add_argument("--updates", type=int, default=12)
    ap.add_argument("--no-trim", action="store_true", help="skip dist.release_memory after each update")
    ap.add_argument("--checkpointing", action="store_true")
    ap.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    ap.add_argument("--states", action="store_true", help="a phase's update: the top layers on held lower-layer states")
    a = ap.parse_args()
    if a.no_trim:
        dist.release_memory = lambda: None
    bf16 = a.precision == "bf16" or (a.precision == "auto" and dist.bf16_is_fast())
    torch.manual_seed(0)
    model, tok = policy.load_actor(pretrained.resolve(a.policy))
    model = dist.shard(dist.freeze_lower(model, a.train_layers), bf16, a.checkpointing)
    args = SimpleNamespace(bf16=bf16, grad_clip=1.0)
    opt = learn.adamw(model.parameters(), 5e-4)
    rng = random.Random(0)
    vocab = min(len(tok), 40000)
    print(f"{a.policy}: micro-batch {a.micro_batch}, trim {not a.no_trim}, checkpointing {a.checkpointing}, "
          f"{'bf16' if bf16 else 'fp32'}, {torch.get_num_threads()} threads; loaded: RSS {rss_gb():.2f} GB", flush=True)
    held = []
    if a.states:   # one batch, its states held as a phase holds them
        held = [{"prompt_ids": [rng.randrange(vocab) for _ in range(rng.randrange(900, 1024))],
                 "action_ids": [rng.randrange(vocab) for _ in range(rng.randrange(20, 48))]} for _ in range(a.batch)]
        learn.attach_states(model, held, SimpleNamespace(bf16=bf16, share_lower=True, micro_batch=a.micro_batch),
                            tok.pad_token_id)
        dist.release_memory()
        print(f"states of {a.batch} steps held: RSS {rss_gb():.2f} GB", flush=True)
    t0, times = time.time(), []
    for u in range(a.updates):
        t = time.time()
        for k in range(a.batch // a.micro_batch):
            if held:
                mb = held[k * a.micro_batch:(k + 1) * a.micro_batch]
                ps, acts = [s["prompt_ids"] for s in mb], [s["action_ids"] for s in mb]
            else:
                ps = [[rng.randrange(vocab) for _ in range(rng.randrange(400, 1024))] for _ in range(a.micro_batch)]
                acts = [[rng.randrange(vocab) for _ in range(rng.randrange(10, 40))] for _ in range(a.micro_batch)]
            with learn.autocast(args):
                lps = policy.action_logprobs(model, ps, acts, batch_size=a.micro_batch, grad=True, pad_id=tok.pad_token_id,
                                             states=learn.states_of(mb) if held else None)
            loss = -torch.cat(lps).sum() / (a.batch * 25)
            loss.backward()
        learn.optimizer_step(opt, model, args, loss.item())
        times.append(time.time() - t)
        print(f"update {u + 1}: RSS {rss_gb():.2f} GB, peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB, "
              f"{times[-1]:.1f} s", flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB; mean {sum(times) / len(times):.1f} s "
          f"an update of {a.batch} steps ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
