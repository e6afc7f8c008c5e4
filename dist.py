"""dist.py: data-parallel WebRL on several GPUs (or nodes) with plain torch.distributed and FSDP2.

Every rank holds 1/world of each weight, gradient and AdamW state (FSDP2, `fully_shard`), trains on
its share of each global batch, and plays its share of the tasks in its own browser pool. Launch:

    python train.py ...                                          # one process: no process group, no sharding
    torchrun --standalone --nproc-per-node 8 train.py ...        # one node, 8 GPUs
    torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port 29500 \\
             --nproc-per-node 8 train.py ...                      # two nodes: run on each, R = 0, 1

How train.py uses it (the phase loop):

    d = dist.init()                                    # start: rank, world, device
    model = dist.shard(model, bf16, checkpointing)     # after loading a model, before its optimizer
    gen_model = dist.inference_copy(model, dtype)      # before rollouts and evaluation: a full copy
    results = dist.gather(play_policy(pool, gen_model, tok, dist.split(tasks), ...))
    del gen_model                                      # free it before the updates
    for batch in minibatches(data):                    # every rank the same global batches (same seed)
        share = dist.split(batch, even=True)           # ... its share of each, the same size on all
    dist.save_pretrained(model, tok, path)             # checkpoint: an ordinary HF directory (rank 0)
    dist.close()

Rules that keep the ranks in step (break one and NCCL hangs, gloo aborts; neither says why):
  * A sharded model's forward is a collective: each FSDP unit all-gathers its weights. Every rank
    must call the sharded model the same number of times with the same kind of call. Training does
    (equal shares of equal batches: `split(..., even=True)`), and so does a no-grad pass over a list
    every rank holds whole (critic values, reference log-probs, replay scoring).
  * Rollouts do not: each rank's browser pool asks for a generation whenever its own episodes are
    waiting, so ranks call `generate` different numbers of times. Generation therefore runs on
    `inference_copy`, a full unsharded copy of the weights on every rank with no collectives in it
    (one all-gather per weight to build it). It costs a full model of memory per rank for the length
    of the rollouts; delete it before training.
  * FSDP averages gradients over ranks, so a rank's loss must be its part of the global loss times
    `world`. A mean over the rank's share is exactly that when all shares have the same size, which
    `split(batch, even=True)` guarantees by repeating a few items of the batch (as
    DistributedSampler does); a token-normalised loss must divide by the global token count and
    multiply by `world`.

What is simplified, on purpose:
  * Data parallel only (no tensor or pipeline parallelism): one decoder layer at a time must fit on
    a GPU, and `inference_copy` needs the whole model to fit once beside the shards.
  * Checkpoints are full HF directories written by rank 0 (no sharded torch.distributed.checkpoint,
    no optimizer state: train.py starts a fresh AdamW each phase anyway).
  * The rollout shares are fixed in advance (`split`), not work-stealing, so the slowest rank sets the
    phase's rollout time.
"""
from __future__ import annotations

import copy
import ctypes
import functools
import os
import time
import weakref
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.distributed.tensor import DTensor

__all__ = ["Dist", "init", "info", "close", "shard", "full_state_dict", "inference_copy", "save_pretrained",
           "split", "gather", "all_mean", "barrier"]


@dataclass(frozen=True)
class Dist:
    """Where this process stands: rank among world processes, its GPU (local_rank) and device."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and prints."""
        return self.rank == 0


_INFO = Dist()
_MESH = None                                     # the 1-D device mesh FSDP2 shards over
_SKELETONS = weakref.WeakKeyDictionary()         # sharded model -> its unsharded structure on "meta"


def init(timeout_minutes: float = 60.0) -> Dist:
    """Join the process group torchrun set up (env RANK, WORLD_SIZE, LOCAL_RANK): NCCL on GPUs, gloo
    on CPUs. Without torchrun (or with one process) no process group is made and world is 1.

    The timeout is long on purpose: a rank that finished its rollouts waits in `gather` for the
    slowest browser pool, and the default 10 minutes would kill a long phase."""
    global _INFO, _MESH
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)   # NCCL and all_gather_object use the current device
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=timeout_minutes),
                                **({"device_id": device} if cuda else {}))
    if world > 1 and _MESH is None:
        from torch.distributed.device_mesh import init_device_mesh
        _MESH = init_device_mesh(device.type, (world,))
    _INFO = Dist(rank=rank, world=world, local_rank=local_rank, device=device)
    return _INFO


def info() -> Dist:
    """This process's rank, world and device (as the last init() found them)."""
    return _INFO


def close() -> None:
    """Leave the process group (the end of train.py); harmless without one."""
    global _INFO, _MESH
    if dist.is_initialized():
        dist.barrier()      # no rank tears its connections down while another still uses them: gloo aborts then
        dist.destroy_process_group()
        # gloo frees a finished collective (and the tensors it holds) on its own worker thread just
        # after telling the caller it finished, and freeing a tensor takes the GIL. If the interpreter
        # is already shutting down by then, Python ends that thread mid-destructor and the process
        # aborts ("terminate called without an active exception": 7 of 120 test launches here; an open torch
        # bug, pytorch/pytorch#190489). Give the GIL away for a moment so the worker finishes first.
        time.sleep(0.2)
    _INFO, _MESH = Dist(), None


def _world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def barrier() -> None:
    """Wait for every rank (e.g. before reading a directory rank 0 wrote)."""
    if _world() > 1:
        dist.barrier()


# =============================================================================================
# Sharding


def decoder_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of the transformer blocks of an HF model, outermost first: classes named in an
    HF model's `_no_split_modules` (LlamaDecoderLayer, GPT2Block, ...) or ending in "DecoderLayer".
    Works for a causal LM and for anything holding one (the Critic's trunk)."""
    kinds = {"DecoderLayer"}
    for m in model.modules():
        kinds |= set(getattr(m, "_no_split_modules", None) or [])
    found = []
    for name, m in model.named_modules():
        cls = type(m).__name__
        if (cls in kinds or cls.endswith("DecoderLayer")) and not any(name.startswith(n + ".") for n, _ in found):
            found.append((name, m))
    if not found:
        raise ValueError(f"no decoder layers found in {type(model).__name__}: dist.shard looks for modules "
                         "whose class ends in 'DecoderLayer' or is named in an HF model's _no_split_modules")
    return found


def freeze_lower(model: nn.Module, train_layers: int) -> nn.Module:
    """Train only the top `train_layers` decoder layers (and what follows them: the final norm, a critic's
    heads); the embeddings (tied to the LM head in SmolLM2) and the lower layers get requires_grad=False, so
    backward stops at the first trained layer and the optimizer holds no state for the rest. 0: train all.
    Call before `shard`."""
    layers = decoder_layers(model)
    if train_layers <= 0 or train_layers >= len(layers):
        return model
    for _, m in layers[:len(layers) - train_layers]:
        m.requires_grad_(False)
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            m.requires_grad_(False)
    return model


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's malloc_trim, or None (macOS, musl): returns the heap's free pages to the OS."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


RELEASED = {"s": 0.0}   # seconds this process spent in release_memory's trims (learn.sft records its share)


def release_memory() -> None:
    """Give the CPU heap's freed memory back to the OS (glibc malloc_trim; a no-op elsewhere). Called after each
    optimizer step, after each generation batch of a rollout or evaluation (train.play_policy) and at the end of
    each stage of a phase (StagePeaks.mark). Batches of varying length fragment glibc's heap, which then keeps
    every peak: the SmolLM2 SFT micro-step (bf16, micro-batch 8, prompts of 400-1024 tokens) grew from 7.3 to
    9.1 GB RSS over 12 updates; with a trim after each update it sat at 1.7 GB between updates and peaked at
    7.4-7.8 GB within one (README, "Memory"). In a whole SFT the 232 trims took 51 s, 1.2% of it (README, "`make
    train` under session 27's defaults"). CUDA memory is left alone."""
    trim = _malloc_trim()
    if trim is not None and _INFO.device.type == "cpu":
        t0 = time.perf_counter()
        trim(0)
        RELEASED["s"] += time.perf_counter() - t0


class StagePeaks:
    """The peak resident memory (GB) of this process in each stage of a phase: `mark(stage)` after a stage reads
    the kernel's high-water mark (VmHWM) since the previous mark, then resets it (/proc/self/clear_refs, Linux >= 4.0).
    Says which part of a run holds a peak over a budget; the browsers are separate processes (bench/peak_memory.py
    splits a whole tree). Elsewhere, or where the reset is refused, `peaks` stays empty."""

    def __init__(self):
        self.peaks: dict = {}
        self.ok = self._reset()

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def mark(self, stage: str) -> None:
        """Record the stage that just ended, then give its freed heap back (release_memory) before the next
        stage's high-water mark starts: else the next stage would start from, and report, this one's peak."""
        if self.ok:
            try:
                hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
                self.peaks[stage] = round(hwm / 1024 ** 2, 2)
            except (OSError, StopIteration, ValueError):
                pass
        release_memory()
        if self.ok:
            self._reset()


def bf16_is_fast(device: torch.device | None = None) -> bool:
    """Whether bf16 compute pays here: on a GPU, or on a CPU with bf16 instructions: AMX tiles (Linux flag
    amx_bf16) or AVX-512 BF16 (avx512_bf16, e.g. AMD Zen 4). Measured on 2 cores (bench/train_step.py): AMX bf16
    2.49x fp32 for the SmolLM2 actor update; AVX-512 BF16 (an AMD EPYC) 1.60x for the update and 1.5x for a
    generation step. Without either, PyTorch's bf16 matmuls are emulated: on an AVX2-only EPYC 19 GFLOP/s against
    139 in fp32."""
    device = device or _INFO.device
    return device.type == "cuda" or _this_cpu_has_bf16()


def use_bf16(precision: str, device: torch.device | None = None) -> bool:
    """The --precision rule of train.py and evaluate.py: 'bf16', 'fp32', or 'auto' = bf16 where it is fast."""
    return precision == "bf16" or (precision == "auto" and bf16_is_fast(device))


def machine(bf16: bool) -> dict:
    """Where this run computes, for its records (train.py appends it to machines.jsonl at each start): a run repeats
    bit for bit on one machine and software stack (bench/reproducible.py --runs), not across them, as AMX,
    AVX-512 BF16, fp32 and GPUs round differently."""
    import platform
    import transformers
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo().splitlines() if line.startswith("model name")),
               platform.processor())
    device = torch.cuda.get_device_name(_INFO.device) if _INFO.device.type == "cuda" else "cpu"
    return {"cpu": cpu, "cores": os.cpu_count(), "device": device, "ranks": _INFO.world, "bf16": bf16,
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version()}


def cpu_has_bf16(cpuinfo: str) -> bool:
    """Whether a /proc/cpuinfo text names a bf16 matmul instruction set: AMX (amx_bf16) or AVX-512 BF16."""
    return bool(set(cpuinfo.split()) & {"amx_bf16", "avx512_bf16"})


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> str:
    """/proc/cpuinfo, read once (train.Args.bf16 asks before every autocast); '' where there is none."""
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def _this_cpu_has_bf16() -> bool:
    return cpu_has_bf16(_cpuinfo())


def shard(model: nn.Module, bf16: bool = False, checkpointing: bool = False,
          fp32_modules: tuple = ("head1", "head2")) -> nn.Module:
    """Shard `model` over all ranks with FSDP2, in place, and return it.

    One FSDP unit per decoder layer (its weights are all-gathered just before it runs and freed just
    after), then the root: embeddings, final norm, LM head, the Critic's heads. bf16: compute in
    bf16 from fp32 master weights, gradients reduced in fp32. checkpointing: each layer's activations
    are recomputed in backward instead of kept (less memory, ~1/3 more compute); it applies to a single
    process too. With world 1 nothing else happens: train.py runs unchanged without torchrun.

    fp32_modules: direct children kept in float32 under bf16, in their own unit. The Critic feeds its
    heads a float32 hidden state on purpose (policy.Critic.forward), which bf16 weights would refuse."""
    if _world() > 1:
        if _MESH is None:
            raise RuntimeError("call dist.init() before dist.shard()")
        # the structure without the weights (parameters on "meta": free), from which inference_copy
        # and save_pretrained build ordinary modules later: a sharded module cannot be copied as is
        _SKELETONS[model] = _empty_copy(model, "meta")
    if checkpointing:
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
        for name, layer in decoder_layers(model):
            parent, _, child = name.rpartition(".")
            model.get_submodule(parent).register_module(child, checkpoint_wrapper(layer))
    if _world() == 1:
        return model
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else None,
                              reduce_dtype=torch.float32 if bf16 else None)
    for _, layer in decoder_layers(model):
        fully_shard(layer, mesh=_MESH, mp_policy=mp)
    for name in fp32_modules:
        sub = getattr(model, name, None)
        if bf16 and isinstance(sub, nn.Module) and list(sub.parameters()):
            fully_shard(sub, mesh=_MESH, mp_policy=MixedPrecisionPolicy(param_dtype=torch.float32,
                                                                        reduce_dtype=torch.float32))
    # reshard the root after forward too (FSDP2 keeps the root's weights gathered by default): else a
    # no-grad pass (reference log-probs, critic values) leaves full bf16 tensors registered in place of
    # the shards, and an optimizer built after it would step those instead of the real weights
    fully_shard(model, mesh=_MESH, mp_policy=mp, reshard_after_forward=True)
    return model


# =============================================================================================
# Full weights out of a sharded model: state dict, inference copy, checkpoint

_CKPT = "_checkpoint_wrapped_module."   # the name part checkpoint_wrapper inserts


def _clean(name: str) -> str:
    return name.replace(_CKPT, "")


def _empty_copy(module: nn.Module, device, dtype: torch.dtype | None = None) -> nn.Module:
    """A deep copy of an unsharded `module` whose parameters and buffers are uninitialised tensors
    on `device` (floating parameters in `dtype` if given). No data is copied; tied weights stay tied
    (Module.to_empty would untie them)."""
    memo = {}
    for p in module.parameters():
        dt = dtype if dtype is not None and p.is_floating_point() else p.dtype
        memo[id(p)] = nn.Parameter(torch.empty(p.shape, dtype=dt, device=device), requires_grad=p.requires_grad)
    for b in module.buffers():
        memo[id(b)] = torch.empty(b.shape, dtype=b.dtype, device=device)
    return copy.deepcopy(module, memo)


@torch.no_grad()
def _fill(plain: nn.Module | None, model: nn.Module) -> None:
    """Copy the full weights of (sharded) `model` into `plain`, one weight at a time, so no rank ever
    holds a second full copy. Collective: every rank calls it, `plain` None where none is wanted."""
    from torch.distributed.fsdp import FSDPModule
    for m in model.modules():            # registered weights must be the fp32 shards, not gathered ones
        if isinstance(m, FSDPModule):
            m.reshard()
    params = dict(plain.named_parameters()) if plain is not None else {}
    for name, p in model.named_parameters():     # the same order on every rank
        full = p.full_tensor() if isinstance(p, DTensor) else p
        if plain is not None:
            params[_clean(name)].copy_(full)
        del full
    if plain is not None:               # buffers (rotary frequencies) are not sharded
        bufs = dict(plain.named_buffers())
        for name, b in model.named_buffers():
            bufs[_clean(name)].copy_(b)


def _skeleton(model: nn.Module) -> nn.Module:
    # a model that dist.shard did not see is unsharded and unwrapped: its own structure will do
    skeleton = _SKELETONS.get(model)
    return skeleton if skeleton is not None else _empty_copy(model, "meta")


def full_state_dict(model: nn.Module) -> dict:
    """The full (unsharded) state dict on CPU on rank 0, {} on the other ranks. Collective."""
    if _world() == 1:
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def inference_copy(model: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """An ordinary, unsharded copy of `model` on every rank, in eval mode, for `policy.generate`:
    ranks can then generate independently (different numbers of calls, no collectives). Collective to
    build. A snapshot: it does not follow later updates of `model`; delete it when done.
    dtype: floating weights cast to it (e.g. bf16 for rollouts), None keeps the training dtype.
    With world 1 it is `model` itself when dtype is None or already the model's, else a cast copy."""
    if _world() == 1:
        if dtype is None or next(model.parameters()).dtype == dtype:
            return model
        plain = copy.deepcopy(model).eval().requires_grad_(False)
        for p in plain.parameters():      # parameters only: buffers (rotary inv_freq) keep their precision
            if p.is_floating_point():
                p.data = p.data.to(dtype)
        return plain
    plain = _empty_copy(_skeleton(model), _INFO.device, dtype)
    _fill(plain, model)
    return plain.eval().requires_grad_(False)


def save_pretrained(model: nn.Module, tok, path) -> Path:
    """Write `model` (+ tokenizer) as the unsharded model would write itself: an HF directory for a
    causal LM (save_pretrained), policy.Critic.save's directory for a critic. Rank 0 writes; every
    rank must call (the weights are gathered) and returns after the files are complete."""
    path = Path(path)
    if _world() == 1:
        plain = model
    else:
        plain = _empty_copy(_skeleton(model), "cpu") if _INFO.is_main else None
        _fill(plain, model)
    if plain is not None:
        path.mkdir(parents=True, exist_ok=True)
        if hasattr(plain, "save_pretrained"):
            plain.save_pretrained(path)
            if tok is not None:
                tok.save_pretrained(path)
        else:
            plain.save(path, tok)       # policy.Critic: trunk directory + heads file
    barrier()
    return path


# =============================================================================================
# Splitting work and gathering results


def split(items, even: bool = False) -> list:
    """This rank's share of `items`: every world-th item from position rank (strided, so a list sorted
    by site or length spreads evenly). Deterministic: `gather(split(xs)) == xs`.

    even=True: the list is first padded by repeating its first items up to a multiple of world, so all
    ranks get the same number (training batches: the same number of forwards everywhere)."""
    items, w = list(items), _world()
    if w == 1:
        return items
    if even and items:
        n = -(-len(items) // w) * w                    # rounded up to a multiple of world
        items = [items[i % len(items)] for i in range(n)]
    return items[dist.get_rank()::w]


def gather(objs) -> list:
    """Every rank's list (any picklable items), all ranks receiving the whole, in `split`'s original
    order: item i of rank r was item i * world + r. Collective."""
    objs, w = list(objs), _world()
    if w == 1:
        return objs
    parts = [None] * w
    dist.all_gather_object(parts, objs)
    return [parts[r][i] for i in range(max(len(p) for p in parts)) for r in range(w) if i < len(parts[r])]


def all_mean(x) -> float:
    """The mean over ranks of a scalar (a float or a one-element tensor), on every rank. Collective."""
    if _world() == 1:
        return float(x)
    t = torch.tensor(float(x), dtype=torch.float64, device=_INFO.device)
    dist.all_reduce(t)
    return t.item() / _world()
