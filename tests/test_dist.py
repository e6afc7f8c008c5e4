"""dist.py: FSDP2 on 2 ranks (torchrun, gloo on CPU) against the unsharded model, and the single-process
no-ops. The ranks run tests/_dist_worker.py; each launch writes one JSON per check, asserted on here.

Two launches of ~30-50 s each on a shared 2-core machine (mostly importing torch twice at once)."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dist
import policy
from conftest import TINY_CORPUS

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "_dist_worker.py"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return policy.build_tiny(tmp_path_factory.mktemp("tiny"), TINY_CORPUS, vocab_size=400, hidden=64, layers=2,
                             heads=4, seed=0)


def torchrun(tiny, out: Path, *checks, timeout: int = 240) -> dict:
    """Run the worker on 2 ranks; {check: its JSON}. A hang (a deadlock) fails after `timeout` s."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
           str(tiny), str(out), *checks]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                              "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    # its own session, so a hang can be ended with the ranks torchrun started
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        log, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        log, _ = p.communicate()
        pytest.fail(f"torchrun {' '.join(checks)} did not finish in {timeout} s (a deadlock?)\n{log[-4000:]}")
    assert p.returncode == 0, f"torchrun {' '.join(checks)} failed:\n{log[-6000:]}"
    return {c: json.loads((out / f"{c}.json").read_text()) for c in checks}


@pytest.fixture(scope="module")
def train_run(tiny, tmp_path_factory):
    return torchrun(tiny, tmp_path_factory.mktemp("train"), "train", "train_ckpt", "train_bf16")


@pytest.fixture(scope="module")
def rollout_run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("rollout")
    return out, torchrun(tiny, out, "generate", "critic", "collectives")


# =============================================================================================
# Training under FSDP == training in one process


@pytest.mark.parametrize("check", ["train", "train_ckpt"])
def test_sharded_step_equals_single_process_step(train_run, check):
    r = train_run[check]
    assert r["world"] == 2 and r["param_is_dtensor"]
    assert r["layer_class"] == ("CheckpointWrapper" if check == "train_ckpt" else "FSDPLlamaDecoderLayer")
    # the same loss on the same batch (fp32)
    assert abs(r["loss_sharded"] - r["loss_ref"]) <= 1e-5 * max(1.0, abs(r["loss_ref"]))
    # each rank on its share (3 and 2 items), the loss scaled by its share * world: the same gradients,
    # the same clipped norm (clipping bites: 0.5 < norm) and the same weights after AdamW
    assert r["norm_ref"] > 0.5 and abs(r["norm_sharded"] - r["norm_ref"]) <= 1e-5 * r["norm_ref"]
    assert r["grad_max_diff"] <= 1e-6 * max(1.0, r["grad_max_abs"])
    assert r["sharded_after_no_grad"]
    assert r["weight_max_change"] > 1e-4            # the step moved the weights...
    assert r["weight_max_diff"] <= 1e-5             # ...the same way in both


def test_bf16_mixed_precision_runs_close(train_run):
    r = train_run["train_bf16"]          # bf16 compute, fp32 master weights and gradient reduction
    assert abs(r["loss_sharded"] - r["loss_ref"]) <= 1e-2 * abs(r["loss_ref"])
    assert abs(r["norm_sharded"] - r["norm_ref"]) <= 1e-2 * r["norm_ref"]
    assert r["sharded_after_no_grad"] and r["weight_max_change"] > 1e-4


# =============================================================================================
# Rollouts: the inference copy; checkpoints; the critic; split and gather


def test_inference_copy_generates_without_lockstep(rollout_run):
    r = rollout_run[1]["generate"]
    # rank 0 called generate once, rank 1 three times: a sharded model would have hung or aborted
    assert r["calls_per_rank"] == [1, 3]
    assert r["copy_is_plain"] and r["copy_tied"]            # ordinary tensors; lm_head still tied
    assert r["ranks_agree"] and r["one_call_equals_batched"]
    assert r["bf16_copy_dtype"] == "torch.bfloat16" and r["bf16_copy_rotary_dtype"] == "torch.float32"
    assert r["trains_after"]                                # copying/saving left the shards usable


def test_checkpoint_from_fsdp_loads_in_one_process(rollout_run, tiny):
    out, runs = rollout_run
    r = runs["generate"]
    model, tok = policy.load_actor(out / "actor")          # an ordinary HF directory
    gens = policy.generate(model, tok, r["prompts"], max_new_tokens=12, temperature=0.0)
    assert [g.action_ids for g in gens] == r["tokens"]      # the inference copy's greedy tokens
    diff = max(abs(a - b) for g, lp in zip(gens, r["logp"]) for a, b in zip(g.logp, lp))
    assert diff <= 1e-5
    # and those are the trained weights, not the files the ranks started from
    start, _ = policy.load_actor(tiny)
    g0 = policy.generate(start, tok, r["prompts"][:1], max_new_tokens=12, temperature=0.0)[0]
    assert max(abs(a - b) for a, b in zip(g0.logp, r["logp"][0])) > 1e-3


def test_sharded_critic_values_and_checkpoint(rollout_run):
    out, runs = rollout_run
    r = runs["critic"]
    for sharded, ref in zip(r["values_sharded"], r["values_ref"]):     # V1, V2, each prompt on one rank
        assert max(abs(a - b) for a, b in zip(sharded, ref)) <= 1e-5
    assert r["values_after_agree"] and r["values_after"] != r["values_ref"]
    critic = policy.Critic.load(out / "critic")            # trunk directory + heads file
    tok = policy.load_actor(out / "critic")[1]
    ids = [policy.encode_prompt(tok, p)[0] for p in runs["generate"]["prompts"]]
    with torch.no_grad():
        v = critic.values(*policy.pad_batch(ids, tok.pad_token_id, "left")[:2])
    for mine, saved in zip(v, r["values_after"]):
        assert max(abs(a - b) for a, b in zip(mine.tolist(), saved)) <= 1e-5
    # bf16 compute with the heads kept in fp32 (they are fed a float32 hidden state)
    assert r["bf16_head_dtype"] == "torch.float32"
    assert max(abs(a - b) for a, b in zip(r["values_bf16"], r["values_ref"][0])) <= 1e-2


def test_split_gather_all_mean_on_two_ranks(rollout_run):
    r = rollout_run[1]["collectives"]
    assert (r["rank"], r["world"], r["is_main"], r["device"]) == (0, 2, True, "cpu")
    assert all(r[f"roundtrip{n}"] for n in (0, 1, 2, 5))
    assert r["share5"] == [["item0", "item2", "item4"], ["item1", "item3"]]     # strided
    assert r["share1"] == [["item0"], []] and r["share0"] == [[], []]
    # even: the same count on every rank, padded with the first items
    assert r["even5"] == [["item0", "item2", "item4"], ["item1", "item3", "item0"]]
    assert r["even1"] == [["item0"], ["item0"]] and r["even0"] == [[], []]
    assert r["mean_rank"] == 0.5 and r["mean_tensor"] == 1.0
    assert r["uneven"] == [{"r": 0}, {"r": 1}, {"r": 1}]


@pytest.mark.slow
def test_close_lets_every_launch_exit_cleanly(tiny, tmp_path):
    """dist.close() ends a run with exit status 0. gloo frees the last collective on its own worker
    thread, which needs the GIL; without close()'s wait, interpreter shutdown raced it and a rank
    aborted (SIGABRT) in 7 of 120 of these very launches here (and failed CI once). 60 launches: such a
    regression passes with probability ~0.03. About 7 min, hence slow."""
    for i in range(60):
        torchrun(tiny, tmp_path / str(i), "generate", "critic", "collectives")


# =============================================================================================
# One process (no torchrun): the same calls, no process group


@pytest.fixture
def single(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    d = dist.init()
    yield d
    dist.close()


def test_single_process_is_a_no_op(single, tiny, tmp_path):
    d = single
    assert (d.rank, d.world, d.local_rank, d.is_main) == (0, 1, 0, True)
    assert not torch.distributed.is_initialized()
    model, tok = policy.load_actor(tiny)
    ref, _ = policy.load_actor(tiny)
    assert dist.shard(model, bf16=True) is model
    assert not any(isinstance(p, torch.distributed.tensor.DTensor) for p in model.parameters())
    assert dist.inference_copy(model) is model and dist.inference_copy(model, torch.float32) is model
    half = dist.inference_copy(model, torch.bfloat16)      # rollouts' bf16 copy: weights cast, buffers not
    assert next(half.parameters()).dtype == torch.bfloat16 and half.model.rotary_emb.inv_freq.dtype == torch.float32
    assert next(model.parameters()).dtype == torch.float32 and not half.training
    assert dist.split([1, 2, 3]) == [1, 2, 3] == dist.gather([1, 2, 3]) == dist.split([1, 2, 3], even=True)
    assert dist.all_mean(2.5) == 2.5 and dist.all_mean(torch.tensor([4.0])) == 4.0
    sd = dist.full_state_dict(model)
    assert sd.keys() == model.state_dict().keys() and all(torch.equal(sd[k], v) for k, v in ref.state_dict().items())
    dist.barrier()
    # checkpointing applies in one process too: same outputs, same checkpoint
    dist.shard(model, checkpointing=True)
    assert type(model.model.layers[0]).__name__ == "CheckpointWrapper"
    prompts = ["Task Instruction: Search for phones", "Open the first order"]
    g_ref = policy.generate(ref, tok, prompts, max_new_tokens=8, temperature=0.0)
    g = policy.generate(model, tok, prompts, max_new_tokens=8, temperature=0.0)
    assert [x.action_ids for x in g] == [x.action_ids for x in g_ref]
    dist.save_pretrained(model, tok, tmp_path / "actor")
    loaded, _ = policy.load_actor(tmp_path / "actor")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), ref.state_dict().values()))
    critic = policy.Critic.from_actor(tiny)
    dist.save_pretrained(dist.shard(critic, checkpointing=True), tok, tmp_path / "critic")
    assert torch.equal(policy.Critic.load(tmp_path / "critic").head1[0].weight, critic.head1[0].weight)


def test_decoder_layers_found_or_a_clear_error(tiny):
    model, _ = policy.load_actor(tiny)
    assert [n for n, _ in dist.decoder_layers(model)] == ["model.layers.0", "model.layers.1"]
    critic = policy.Critic.from_actor(model)
    assert [n for n, _ in dist.decoder_layers(critic)] == ["trunk.layers.0", "trunk.layers.1"]
    with pytest.raises(ValueError, match="no decoder layers"):
        dist.decoder_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_torchrun_train_smoke(tmp_path):
    """`torchrun --nproc-per-node 2 train.py --smoke`: the phase loop on 2 ranks (gloo): same table, and
    a checkpoint a single process loads and runs."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(ROOT / "train.py"),
           "--smoke", "--phases", "1", "--reward", "groundtruth", "--curriculum", "none", "--run-dir", str(run)]
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        raise
    assert p.returncode == 0, err[-3000:]
    assert "| model | Reddit | Gitlab | CMS | Map | OSS | Avg |" in out and "| WebRL phase 1 |" in out
    assert out.count("| SFT |") == 1                       # rank 0 alone prints and writes
    assert [json.loads(l)["phase"] for l in (run / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    # every rank records its own episodes: episodes/phase{k}/{kind}/rank{r}
    assert {p.name for p in (run / "episodes" / "phase1" / "eval").iterdir()} == {"rank0", "rank1"}
    model, tok = policy.load_actor(run / "phase1" / "actor")
    critic = policy.Critic.load(run / "phase1" / "critic")
    g = policy.generate(model, tok, [policy.build_prompt("Show me the orders", [], '<a id="1">Orders</a>')],
                        max_new_tokens=4, temperature=0)
    assert len(g[0].action_ids) >= 1 and critic is not None


@pytest.mark.skipif(dist._malloc_trim() is None, reason="no glibc malloc_trim here")
def test_release_memory_returns_freed_heap_pages_to_the_os():
    """Tensors below glibc's mmap threshold live on the heap; freed in the middle of it (a live tensor above them),
    their pages stay in the process (RSS) until malloc_trim: what fragmented the SFT's memory (learn.optimizer_step
    calls release_memory after every update)."""
    def rss_mb():
        return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    chunks = [torch.ones(16 * 1024) for _ in range(2000)]      # 2,000 x 64 kB = 125 MB
    pin = torch.ones(16 * 1024)                                 # keeps the heap's top in use
    del chunks
    held = rss_mb()
    dist.release_memory()
    assert held - rss_mb() > 80, f"RSS {held:.0f} MB -> {rss_mb():.0f} MB after release_memory"
    assert pin.sum() == 16 * 1024


def test_stage_peaks_say_which_stage_held_the_memory():
    """dist.StagePeaks: each mark reads the process's peak RSS since the last mark (Linux: VmHWM, then reset)."""
    peaks = dist.StagePeaks()
    if not peaks.ok:
        pytest.skip("no /proc/self/clear_refs here")
    small = bytearray(1)
    peaks.mark("small")
    big = bytearray(400 * 2 ** 20)   # 400 MB, written: resident
    del big
    peaks.mark("big")
    after = bytearray(1)
    peaks.mark("after")
    assert set(peaks.peaks) == {"small", "big", "after"} and small and after
    assert peaks.peaks["big"] >= peaks.peaks["small"] + 0.35
    assert peaks.peaks["after"] <= peaks.peaks["big"] - 0.35   # the mark before reset the high-water mark


def test_bf16_is_chosen_on_cpus_with_bf16_instructions():
    # --precision auto: AMX (Intel) and AVX-512 BF16 (e.g. AMD Zen 4) run bf16 matmuls faster than fp32 (1.6-2.5x
    # for the actor update, bench/train_step.py); AVX2 alone emulates them, 7x slower
    head = "processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse2 avx2 fma avx512f avx512bw"
    assert dist.cpu_has_bf16(head + " amx_bf16 amx_tile\n")
    assert dist.cpu_has_bf16(head + " avx512_bf16 avx512_vnni\n")
    assert not dist.cpu_has_bf16(head + " avx512_vnni\n")
    assert not dist.cpu_has_bf16("")
    assert not dist.use_bf16("fp32", torch.device("cuda")) and dist.use_bf16("bf16", torch.device("cpu"))
    assert dist.use_bf16("auto", torch.device("cuda"))
