"""policy.py: the WebRL actor and critic, batched generation, training log-probs and the loss math.

What it implements (Qi et al., "WebRL", arXiv 2411.02337; WEBRL_FACTS.md sections 1, 2, 4, 5):

  * Actor     any HF causal LM whose tokenizer maps the Llama-3 header tokens of the WebRL prompt
              (`build_prompt`, section 2) to single special ids (`check_tokenizer`). `load_actor` serves
              Llama-3.1-8B and the embedded default `tiny` (`build_tiny`: a byte-level BPE tokenizer
              trained on the caller's miniarena text + a randomly initialised small Llama) the same way.
  * Generate  one batched sampling loop for all episodes in flight (`generate`): left padding,
              position ids from the attention mask, KV cache, temperature / top-p / greedy, a stop per
              sequence at <|eot_id|>. It returns the token ids it sampled and their log-probs under the
              model's raw distribution, so training never re-tokenizes a response.
  * Log-probs `action_logprobs`: the training-time forward (actor with graph, reference without),
              giving per-token log pi(a_k | s, a_<k) of the action tokens; `token_logprobs`: of every
              token, for the tiny models' language-model pretraining (they start from random weights).
  * Critic    `Critic`: the SFT model's decoder as trunk + two MLP heads with 2-way logits on the last
              prompt token, V(s, I) = softmax(logits)[1] = P(success | s, I) (section 4; public code
              `webrl/models/critic.py`). The actor's advantage uses min(V1, V2).
  * Math      paper section 4 / eq. 6 and the public trainer's variant, as small pure functions:

      advantage   A(s_t,a_t,I) = lam * (r_t + V(s_{t+1},I) - V(s_t,I)) + (1 - lam) * (r_T(I) - V(s_t,I))
      critic_loss L_V = -[y log V(s) + (1 - y) log(1 - V(s))],  y = 1[r_T > 0]   (sum over both heads)
      actor_loss  L_pi = E[(beta * log(pi_theta(a|s,I) / pi_ref(a|s,I)) - A(s,a,I))^2]        (eq. 6)
      actor_loss_official, advantage_official, mc_returns: `THUDM/WebRL`
                  `webrl/algorithms/webrl/trainer.py` (WebRLTrainer.actor_loss) and
                  `scripts/process_data.py` (add_mc_return), see their docstrings.
      baselines   weighted_nll L = -mean[w * log pi(a|s) / n] with w = 1 on Filtered BC's kept
                  trajectories (filtered_bc_keep), exp(A / tau) for AWR (awr_weights), 1[A > 0] for
                  DigiRL (digirl_weights); pg_loss L = -mean[A log pi(a|s)] for the w/o-KL ablation.

Simplifications and choices, on purpose:
  * log pi(a|s) of a response is the sum over its tokens *including the closing <|eot_id|>* (the paper
    says "the action"; the public code tokenizes the response text without it).
  * Prompts longer than `max_prompt_tokens` first lose the page's layout boxes and repeated texts
    (`env.compact_html`), then the end of the current page, then the oldest
    history rounds; the instruction and the assistant header stay (`encode_prompt`; the public code cuts
    at 16384 tokens from the right, which would cut the answer slot).
  * Critic heads are hidden -> hidden -> 2 with PyTorch's default init (the public heads have one more
    hidden layer and normal(0.2) init). The critic reads the last *real* token; the public code reads
    position -1 of a right-padded batch, i.e. a pad token for all but the longest prompt.

Usage:
    model, tok = load_actor("runs/tiny")                       # or a Llama-3.1-8B directory
    gens = generate(model, tok, [build_prompt(intent, [], html)], temperature=1.0, seed=0)
    lps = action_logprobs(model, [g.prompt_ids for g in gens], [g.action_ids for g in gens], grad=True)
    loss = actor_loss(logp_sums(lps), ref_logp_sum, adv, beta=1.0)
"""
from __future__ import annotations

import copy
import inspect
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import transformers
from transformers import (AutoModel, AutoModelForCausalLM, AutoTokenizer, DynamicCache,
                          GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast)

import frozen
from env import build_prompt, compact_prompt  # noqa: F401  (build_prompt re-exported: the exact WebRL prompt, WEBRL_FACTS s. 2)

__all__ = [
    "build_prompt", "HEADER_TOKENS", "check_tokenizer", "build_tiny", "load_actor", "encode_prompt",
    "encode_action", "pad_batch", "Generation", "generate", "action_logprobs", "logp_sums", "logp_means",
    "Critic", "advantage", "critic_loss", "actor_loss", "actor_loss_official", "advantage_official",
    "mc_returns",
]

# Llama-3's special tokens that the WebRL prompt writes as literal text; each must be ONE token id.
BOS, EOT, START_HEADER, END_HEADER = ("<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                                      "<|end_header_id|>")
HEADER_TOKENS = (BOS, EOT, START_HEADER, END_HEADER)
TINY_PAD = "<|pad|>"   # tiny's pad token (Llama-3.1 has none; load_actor falls back to eos as pad)


# =============================================================================================
# Tokenizer


def check_tokenizer(tok) -> None:
    """Raise ValueError if `tok` cannot express the WebRL prompt: each Llama-3 header token written as
    text must encode to exactly one (special) token id. GPT-2's tokenizer, for one, splits them."""
    missing = []
    for t in HEADER_TOKENS:
        ids = tok.encode(t, add_special_tokens=False)
        if len(ids) != 1 or (tok.unk_token_id is not None and ids[0] == tok.unk_token_id):
            missing.append(t)
    if missing:
        raise ValueError(
            f"tokenizer {type(tok).__name__} cannot express the WebRL prompt: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not a single special token. WebRL's prompt is raw "
            "text with Llama-3's header tokens; use a Llama-3 tokenizer or policy.build_tiny().")


def encode_prompt(tok, prompt: str, max_prompt_tokens: int = 4096) -> tuple[list[int], bool]:
    """Token ids of a WebRL prompt (with the tokenizer's BOS, as Llama-3 adds it) and whether it was
    cut to `max_prompt_tokens`.

    A too long prompt is cut the way WebRL cuts its page text (WEBRL_FACTS s. 2): the end of the current
    page goes first, so the task instruction, the history and the assistant header stay. When even half
    the budget cannot hold the page, the oldest history rounds go too (the instruction stays). Prompts
    without the WebRL structure lose tokens from the left, after the BOS.

    Before any cut, a page that does not fit is compacted (`env.compact_html`: no layout boxes, no text
    printed twice), which keeps every element and its text in about half the tokens."""
    ids = tok(prompt, add_special_tokens=True)["input_ids"]
    n = max_prompt_tokens
    if len(ids) <= n:
        return ids, False
    ids = tok(compact_prompt(prompt), add_special_tokens=True)["input_ids"]
    if len(ids) <= n:
        return ids, True
    bos = [ids[0]] if tok.bos_token_id is not None and ids[0] == tok.bos_token_id else []
    eot, end_header = tok.convert_tokens_to_ids(EOT), tok.convert_tokens_to_ids(END_HEADER)
    eots = [i for i, t in enumerate(ids) if t == eot]
    if eots:
        e = eots[-1]                                   # <|eot_id|> closing the current user turn
        h = max((i for i in range(e) if ids[i] == end_header), default=-1) + 1   # the page starts here
        head, page, tail = ids[:h], ids[h:e], ids[e:]
        if h > 0 and len(head) + len(tail) + min(len(page), n // 2) <= n:
            return head + page[:n - len(head) - len(tail)] + tail, True
        f = eots[0]                                    # "Task Instruction: ... Round 0\n\n" ends here
        page = page[:n // 2]
        room = n - f - len(page) - len(tail)
        if h > 0 and room >= 0:
            return ids[:f] + (head[len(head) - room:] if room else []) + page + tail, True
    return bos + ids[len(ids) - (n - len(bos)):], True


def encode_action(tok, response: str) -> list[int]:
    """Token ids of a response as the model produces it: the text then <|eot_id|> (WEBRL_FACTS s. 2:
    during training <|eot_id|> follows each response). For demonstrations given as text."""
    return tok(response + EOT, add_special_tokens=False)["input_ids"]


# =============================================================================================
# The embedded default model `tiny`


def build_tiny(out_dir, texts, vocab_size: int = 4096, hidden: int = 256, layers: int = 4,
               heads: int = 4, kv_heads: int | None = None, intermediate: int | None = None,
               max_positions: int = 8192, seed: int = 0) -> Path:
    """Train a byte-level BPE tokenizer on `texts` and save it with a randomly initialised small Llama
    as an ordinary HF directory (AutoTokenizer / AutoModelForCausalLM load it, like Llama-3.1-8B).

    The four header tokens + a pad token are special tokens, so the WebRL prompt tokenizes as it does
    with Llama-3; BOS is added by the tokenizer's post-processor, like Llama-3's. Deterministic in
    (texts, sizes, seed)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    specials = [BOS, EOT, START_HEADER, END_HEADER, TINY_PAD]           # ids 0..4
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(list(texts), trainer)
    bos_id = bpe.token_to_id(BOS)
    bpe.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=BOS, eos_token=EOT,
                                  pad_token=TINY_PAD, padding_side="left")
    check_tokenizer(tok)

    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        num_key_value_heads=kv_heads or heads,
        # Llama's SwiGLU width is about 8/3 of the hidden size, rounded up to a multiple of 64
        intermediate_size=intermediate or 64 * ((8 * hidden // 3 + 63) // 64),
        max_position_embeddings=max_positions, rope_theta=500000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=True, bos_token_id=bos_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id)
    with torch.random.fork_rng(devices=[]):          # leave the caller's RNG state alone
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def hf_tokenizer(path, what: str = "model"):
    """(source, tokenizer) of an HF model given as a local directory or a hub name (org/model), with
    errors that say which of the two was expected and what was found."""
    p = Path(path)
    if p.is_dir():
        if not (p / "config.json").exists():
            raise FileNotFoundError(f"{what} path {str(p)!r} has no config.json: not an HF model directory")
        return p, AutoTokenizer.from_pretrained(p)
    if p.exists() or str(path).count("/") != 1 or str(path).startswith((".", "/")):
        raise FileNotFoundError(f"{what} path {str(path)!r} is not a directory (expected an HF model directory, "
                                "e.g. one written by policy.build_tiny, or a hub name org/model)")
    try:   # a hub name: THUDM/webrl-llama-3.1-8b, THUDM/webrl-orm-llama-3.1-8b ...
        return str(path), AutoTokenizer.from_pretrained(str(path))
    except OSError as e:
        raise FileNotFoundError(f"{what} {str(path)!r} is no local directory and could not be fetched from the hub: {e}") from None


def load_actor(path, dtype=torch.float32, device="cpu"):
    """(model, tokenizer) from an HF directory (tiny, Llama-3.1-8B, a saved phase checkpoint).
    The tokenizer is checked for the WebRL header tokens, pads on the left (for generation) and gets
    eos as pad when it has none (Llama-3.1, as the public code does)."""
    p, tok = hf_tokenizer(path, "actor")
    check_tokenizer(tok)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(p, **dtype_kwarg(dtype)).to(device)
    model.eval()
    return model, tok


# =============================================================================================
# Batching helpers


def pad_batch(seqs, pad_id: int, side: str = "left", device="cpu"):
    """(input_ids, attention_mask, position_ids) for a list of id lists. Position ids count real
    tokens only (mask cumsum - 1), so a left-padded row sees the positions it would see alone."""
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        sl = slice(n - len(s), n) if side == "left" else slice(0, len(s))
        ids[i, sl] = torch.as_tensor(s, dtype=torch.long)
        mask[i, sl] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), pos.to(device)


def _device(model):
    return next(model.parameters()).device


def _pad_id(model, tok=None) -> int:
    # any id works for a pad: it is masked out of attention and out of every log-prob
    for v in (getattr(tok, "pad_token_id", None), getattr(tok, "eos_token_id", None),
              model.config.pad_token_id):
        if isinstance(v, int):
            return v
    return 0


def _accepts_logits_to_keep(model) -> bool:
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def dtype_kwarg(dtype, version: str = transformers.__version__) -> dict:
    """from_pretrained's keyword for the weights' dtype, as the installed transformers (`version`) takes it:
    `dtype` since 4.56 (there `torch_dtype` is deprecated), `torch_dtype` in 4.46 to 4.55."""
    major, minor = (int(x) for x in version.split(".")[:2])
    return {"dtype" if (major, minor) >= (4, 56) else "torch_dtype": dtype}


def kv_cache(model) -> dict:
    """A fresh KV cache for a model's forward, as the keyword the installed transformers takes it under:
    `cache` since 5.x renamed it (there `past_key_values` warns, and goes in 5.40), `past_key_values` in 4.46
    to 4.x. The forward fills the cache in place, so the same keyword and object serve every decoding step."""
    if "cache" in inspect.signature(model.forward).parameters:
        return {"cache": DynamicCache(config=model.config)}
    return {"past_key_values": DynamicCache()}


# =============================================================================================
# Generation


@dataclass
class Generation:
    """One sampled response. `action_ids` are exactly the sampled ids (ending with <|eot_id|> when the
    model produced it); `logp[k]` = log pi(action_ids[k] | prompt, action_ids[:k]) under the model's
    raw distribution (before temperature and top-p)."""

    text: str
    prompt_ids: list
    action_ids: list
    logp: list = field(default_factory=list)
    logp_sum: float = 0.0
    logp_mean: float = 0.0
    stopped: bool = False            # produced a stop token (False: hit max_new_tokens)
    prompt_truncated: bool = False   # the prompt was cut from the left to max_prompt_tokens


def _sample(logits: torch.Tensor, temperature: float, top_p: float, gen) -> torch.Tensor:
    """Next token per row: greedy at temperature 0, else nucleus sampling from softmax(logits / T)."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        # keep the smallest set of most likely tokens whose mass reaches top_p (always the first)
        sp, si = probs.sort(dim=-1, descending=True)
        drop = (sp.cumsum(-1) - sp) >= top_p
        sp = sp.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, si, sp)
    return torch.multinomial(probs, 1, generator=gen)[:, 0]


def stop_token_ids(model, tok) -> list[int]:
    """<|eot_id|> plus the tokenizer's and the generation config's eos ids."""
    ids = {tok.convert_tokens_to_ids(EOT)}
    if tok.eos_token_id is not None:
        ids.add(tok.eos_token_id)
    gc_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if gc_eos is not None:
        ids.update([gc_eos] if isinstance(gc_eos, int) else gc_eos)
    return sorted(ids)


@torch.no_grad()
def generate(model, tok, prompts, max_new_tokens: int = 128, temperature: float = 1.0,
             top_p: float = 1.0, seed: int | None = None, max_prompt_tokens: int = 4096,
             batch_size: int | None = None) -> list[Generation]:
    """Sample one response per prompt (WebRL: temperature 1 for rollouts, 0 for evaluation).

    All prompts go through the model together (or in chunks of `batch_size`), each stopping at its
    own <|eot_id|>. `seed` makes sampling reproducible for a given batch."""
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    device = _device(model)
    enc = [encode_prompt(tok, p, max_prompt_tokens) for p in prompts]
    stops = torch.tensor(stop_token_ids(model, tok), device=device)
    pad = _pad_id(model, tok)
    gen = torch.Generator(device=device).manual_seed(seed) if seed is not None else None
    was_training = model.training
    model.eval()
    out = []
    bs = batch_size or max(1, len(enc))
    try:
        for c in range(0, len(enc), bs):
            chunk = enc[c:c + bs]
            out += _generate_batch(model, tok, [e[0] for e in chunk], [e[1] for e in chunk],
                                   max_new_tokens, temperature, top_p, gen, stops, pad, device)
    finally:
        model.train(was_training)
    return out


def _generate_batch(model, tok, prompt_ids, truncated, max_new_tokens, temperature, top_p, gen,
                    stops, pad, device):
    B = len(prompt_ids)
    ids, mask, pos = pad_batch(prompt_ids, pad, "left", device)
    kw = {"logits_to_keep": 1} if _accepts_logits_to_keep(model) else {}
    cache = kv_cache(model)
    # prefill: the whole left-padded prompt batch once, filling the KV cache
    res = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **cache, **kw)
    logits = res.logits[:, -1].float()
    next_pos = pos[:, -1] + 1
    done = torch.zeros(B, dtype=torch.bool, device=device)
    toks, lps, alive = [], [], []
    for _ in range(max_new_tokens):
        logp_all = torch.log_softmax(logits, dim=-1)          # the raw distribution, for training
        nxt = _sample(logits, temperature, top_p, gen)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        toks.append(nxt)
        lps.append(logp_all.gather(1, nxt[:, None])[:, 0])
        alive.append(~done)
        done = done | torch.isin(nxt, stops)
        if bool(done.all()):
            break
        # one decoding step: finished rows keep feeding pads; nobody reads their outputs
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        res = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=next_pos[:, None], use_cache=True, **cache)
        logits = res.logits[:, -1].float()
        next_pos = next_pos + 1
    toks, lps, alive = (torch.stack(x, 1).cpu() for x in (toks, lps, alive))
    stop_set = set(stops.tolist())
    gens = []
    for i in range(B):
        n = int(alive[i].sum())
        a_ids, a_lp = toks[i, :n].tolist(), lps[i, :n].tolist()
        stopped = n > 0 and a_ids[-1] in stop_set
        text = tok.decode(a_ids[:-1] if stopped else a_ids, skip_special_tokens=True)
        s = float(sum(a_lp))
        gens.append(Generation(text=text, prompt_ids=list(prompt_ids[i]), action_ids=a_ids, logp=a_lp,
                               logp_sum=s, logp_mean=s / max(n, 1), stopped=stopped,
                               prompt_truncated=truncated[i]))
    return gens


# =============================================================================================
# Training-time log-probs


def length_batches(lengths, size: int) -> list[list[int]]:
    """Indices 0..n-1 in groups of `size`, sorted by length, longest first, so that a batch pads to little more
    than its own rows. Callers put each result back at its index: results come back in the caller's order. On the
    replay sample of a SmolLM2 phase (436 steps, batches of 8) 99.4% of the padded tokens are then real, 75.9% in
    buffer order. Longest first, because glibc's heap reuses a freed block only for a request that fits in it: in
    ascending order every batch's activations outgrow the holes the last one left, and the heap only grows. Replay
    scoring of a phase's 520 steps (learn.replay_scorer, 0.91 GB of lower-layer states kept) peaked at 6.67 GB
    ascending and 3.80 GB longest first, 252 s against 235 s (session 30, one process each; a fixed mmap
    threshold instead, MALLOC_MMAP_THRESHOLD_=131072: 2.90 GB but 500 s)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])   # sorted() is stable: ties keep their order
    return [order[c:c + size] for c in range(0, len(order), size)]


def lower_states(model, seqs, pad_id: int, batch_size: int = 8) -> list[torch.Tensor]:
    """The frozen lower layers' output for each token sequence (frozen.py): one float32 [len, hidden] tensor per
    sequence, in the caller's order, computed once (no grad) and passed as `states=` to action_logprobs and
    Critic.forward."""
    k = frozen.n_frozen(model)
    if k == 0:
        raise ValueError("no frozen lower layers to precompute (train.py --train-layers with the embeddings frozen)")
    view = frozen.lower(model, k)
    out: list = [None] * len(seqs)
    with torch.no_grad():
        for idx in length_batches([len(q) for q in seqs], batch_size):
            chunk = [seqs[i] for i in idx]
            ids, mask, pos = pad_batch(chunk, pad_id, "left", _device(model))
            h = view(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False).last_hidden_state
            for j, (i, q) in enumerate(zip(idx, chunk)):
                # a copy, not a view: a view would keep its whole batch's tensor alive as long as any one step of
                # the batch keeps its states (replay scoring keeps the replayed ~quarter of the steps it scores)
                out[i] = h[j, h.shape[1] - len(q):].to(torch.float32, copy=True)
    return out


def action_logprobs(model, prompt_ids_list, action_ids_list, batch_size: int = 8,
                    grad: bool = False, pad_id: int | None = None, states=None) -> list[torch.Tensor]:
    """Per-token log pi(a_k | s, a_<k) of each action, one 1-D float32 tensor per (prompt, action).

    Layout per batch: prompts padded on the left, actions on the right, so every action starts at the
    same column P. The logits that predict the action are then the last A + 1 positions for all rows,
    and only those are computed (`logits_to_keep`): a full [B, L, V] logits tensor for 4k-token prompts
    and Llama-3's 128k vocabulary would not fit.

    grad=False (reference policy, scoring) runs under no_grad. grad=True keeps the graph for the actor
    update: then pass one minibatch at a time, since every returned tensor holds its graph.

    states: the frozen lower layers' output of each prompt + action (lower_states): only the trained top
    layers run, on it; the same numbers as the full forward."""
    device = _device(model)
    pad = _pad_id(model) if pad_id is None else pad_id
    keep = _accepts_logits_to_keep(model)
    out: list = [None] * len(prompt_ids_list)
    # replay scoring reads the buffer in its own order: batch by length
    lengths = [len(p) + len(a) for p, a in zip(prompt_ids_list, action_ids_list)]
    with torch.set_grad_enabled(grad):
        for idx in length_batches(lengths, batch_size):
            ps, acts = [prompt_ids_list[i] for i in idx], [action_ids_list[i] for i in idx]
            A = max(len(a) for a in acts)
            if A == 0:
                for i in idx:
                    out[i] = torch.zeros(0, device=device)
                continue
            ids, mask, _ = pad_batch(ps, pad, "left", device)
            a_ids, a_mask, _ = pad_batch(acts, pad, "right", device)
            ids, mask = torch.cat([ids, a_ids], 1), torch.cat([mask, a_mask], 1)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            if states is not None:       # the prompt's states padded left, the action's right, as the ids
                hs = [states[i] for i in idx]
                x = torch.cat([frozen.pad_states(hs, [len(p) for p in ps], "left"),
                               frozen.pad_states([h[len(p):] for h, p in zip(hs, ps)], [len(a) for a in acts],
                                                 "right")], 1).to(device)
                top = frozen.upper(model, frozen.n_frozen(model))(inputs_embeds=x, attention_mask=mask,
                                                                   position_ids=pos, use_cache=False)
                logits = model.get_output_embeddings()(top.last_hidden_state[:, -(A + 1):-1])
            else:
                kw = {"logits_to_keep": A + 1} if keep else {}
                logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False,
                               **kw).logits[:, -(A + 1):-1]      # positions P-1 .. P+A-2 predict P .. P+A-1
            lp = torch.log_softmax(logits.float(), -1).gather(-1, a_ids[..., None])[..., 0]
            for j, (i, a) in enumerate(zip(idx, acts)):
                out[i] = lp[j, :len(a)]
    return out


def token_logprobs(model, seqs, pad_id: int, grad: bool = False) -> list[torch.Tensor]:
    """log p(x_t | x_<t) of every token but the first of each sequence (right padding): the language-model
    objective the tiny models are pretrained with. It computes the full [B, L, V] logits, fine for the
    tiny model's 4k vocabulary, not for Llama-3's 128k (which needs no pretraining here anyway)."""
    ids, mask, _ = pad_batch(seqs, pad_id, "right", _device(model))
    with torch.set_grad_enabled(grad):
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits[:, :-1]
        lp = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, 1:, None])[..., 0]
    return [lp[i, :len(s) - 1] for i, s in enumerate(seqs)]


def logp_sums(lps) -> torch.Tensor:
    """log pi(a|s) of whole actions: the sum over each action's tokens."""
    return torch.stack([lp.sum() for lp in lps])


def logp_means(lps) -> torch.Tensor:
    """Mean token log-prob per action (replay confidence = exp of it, paper section 6)."""
    return torch.stack([lp.mean() if lp.numel() else lp.sum() for lp in lps])


# =============================================================================================
# Critic


HEADS_FILE = "critic_heads.pt"


class Critic(nn.Module):
    """V(s, I) = P(task succeeds | state s, intent I) (paper section 4).

    Trunk: the SFT model's decoder without the LM head; two MLP heads (hidden -> hidden -> 2) on the
    hidden state of the last real prompt token, each giving 2-way logits; value = softmax(logits)[1].
    Two heads as in the public `VLMDoubleCritic`; the actor's advantage uses min(V1, V2)."""

    def __init__(self, trunk: nn.Module, seed: int = 0):
        super().__init__()
        self.trunk = trunk
        h = trunk.config.hidden_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.head1 = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))
            self.head2 = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 2))
        dev = next(trunk.parameters()).device        # heads in float32 beside the trunk
        self.head1.to(dev)
        self.head2.to(dev)

    @classmethod
    def from_actor(cls, actor, dtype=torch.float32, device="cpu", seed: int = 0) -> "Critic":
        """A fresh critic on the decoder of an actor: a directory (loaded with AutoModel, which drops
        the LM head) or an in-memory causal LM (its base model is deep-copied)."""
        if isinstance(actor, (str, os.PathLike)):
            trunk = AutoModel.from_pretrained(actor, **dtype_kwarg(dtype)).to(device)
        else:
            trunk = copy.deepcopy(actor.base_model).to(device=device, dtype=dtype)
        return cls(trunk, seed=seed)

    def forward(self, input_ids, attention_mask, states=None):
        """(logits1, logits2), each [B, 2], read at the last real token of each row (any padding).
        states: the frozen lower layers' output for these rows, padded like input_ids (frozen.pad_states):
        only the trained top layers run."""
        pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        if states is not None:
            hs = frozen.upper(self, frozen.n_frozen(self))(inputs_embeds=states, attention_mask=attention_mask,
                                                          position_ids=pos, use_cache=False).last_hidden_state
        else:
            hs = self.trunk(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos,
                            use_cache=False).last_hidden_state
        idx = (attention_mask * torch.arange(attention_mask.shape[1], device=attention_mask.device)
               ).argmax(-1)                                       # last position with mask 1
        h = hs[torch.arange(hs.shape[0], device=hs.device), idx].float()
        return self.head1(h), self.head2(h)

    def values(self, input_ids, attention_mask, states=None):
        """(V1, V2) = softmax(logits)[:, 1] of each head."""
        l1, l2 = self(input_ids, attention_mask, states)
        return l1.softmax(-1)[:, 1], l2.softmax(-1)[:, 1]

    def value(self, input_ids, attention_mask, states=None):
        """min(V1, V2): the pessimistic value the advantage uses (public trainer)."""
        return torch.minimum(*self.values(input_ids, attention_mask, states))

    @torch.no_grad()
    def score_prompts(self, tok, prompts, batch_size: int = 8, max_prompt_tokens: int = 4096):
        """min(V1, V2) for prompt strings (no grad), e.g. the curriculum filter on start states."""
        device = next(self.parameters()).device
        vals = []
        for c in range(0, len(prompts), batch_size):
            ids = [encode_prompt(tok, p, max_prompt_tokens)[0] for p in prompts[c:c + batch_size]]
            x, m, _ = pad_batch(ids, _pad_id(self.trunk, tok), "left", device)
            vals.append(self.value(x, m))
        return torch.cat(vals) if vals else torch.zeros(0)

    def save(self, out_dir, tokenizer=None):
        """A directory: the trunk via save_pretrained, the heads as a state_dict file."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.trunk.save_pretrained(out_dir)
        torch.save({"head1": self.head1.state_dict(), "head2": self.head2.state_dict()},
                   out_dir / HEADS_FILE)
        if tokenizer is not None:
            tokenizer.save_pretrained(out_dir)

    @classmethod
    def load(cls, path, dtype=torch.float32, device="cpu") -> "Critic":
        p = Path(path)
        if not (p / HEADS_FILE).exists():
            raise FileNotFoundError(f"{p} is not a saved critic (no {HEADS_FILE}); "
                                    "use Critic.from_actor for a fresh one")
        critic = cls(AutoModel.from_pretrained(p, **dtype_kwarg(dtype)).to(device))
        state = torch.load(p / HEADS_FILE, map_location=device, weights_only=True)
        critic.head1.load_state_dict(state["head1"])
        critic.head2.load_state_dict(state["head2"])
        return critic


# =============================================================================================
# The math


def advantage(v, v_next, reward, final_reward, lam: float = 0.5):
    """WebRL's advantage (paper section 4, "GAE" with lambda = 0.5; WEBRL_FACTS section 4):

        A(s_t, a_t, I) = lam * (r_t + V(s_{t+1}, I) - V(s_t, I)) + (1 - lam) * (r_T(I) - V(s_t, I))

    a mix of the one-step TD error and the Monte-Carlo error against the outcome reward. Elementwise
    on tensors or floats. There are no intermediate rewards: r_t = 0 before the last step, and at the
    last step r_t = r_T and v_next = 0 (no state after the end)."""
    return lam * (reward + v_next - v) + (1 - lam) * (final_reward - v)


def critic_loss(pred, target):
    """Binary cross-entropy of the critic against success (paper section 4).

    pred: 2-way logits [N, 2] of one head (column 1 = success, V = softmax(pred)[:, 1]), or a tuple of
    heads, whose losses are summed (the public 2-head critic). target: the final reward (or the
    Monte-Carlo return) per step; the label is 1[target > 0]. Mean over the batch."""
    if isinstance(pred, (tuple, list)):
        return sum(critic_loss(p, target) for p in pred)
    y = (torch.as_tensor(target, device=pred.device) > 0).long()
    # 2-way cross-entropy on logits == BCE of V = softmax(logits)[1] against y, computed stably
    return F.cross_entropy(pred.float(), y)


def actor_loss(logp, ref_logp, adv, beta: float):
    """Paper eq. 6, the KL-constrained policy update:

        L = mean[(beta * (log pi_theta(a|s,I) - log pi_ref(a|s,I)) - A(s,a,I))^2]

    logp: log pi_theta of each whole action (sum over its tokens, with grad); ref_logp and adv are
    constants (detached here). The minimiser moves log pi_theta - log pi_ref towards A / beta: larger
    beta keeps the policy closer to pi_ref."""
    ref_logp = torch.as_tensor(ref_logp, dtype=logp.dtype, device=logp.device).detach()
    adv = torch.as_tensor(adv, dtype=logp.dtype, device=logp.device).detach()
    return ((beta * (logp - ref_logp) - adv) ** 2).mean()


def mc_returns(rewards, gamma: float = 0.9) -> list[float]:
    """Discounted return G_t = sum_{k>=t} gamma^(k-t) r_k of each step (public `add_mc_return`, gamma
    0.9, paper Table 4). The public data gives *every* step r = the trajectory's ORM score."""
    out, g = [], 0.0
    for r in reversed(list(rewards)):
        g = r + gamma * g
        out.append(g)
    return out[::-1]


def advantage_official(v, v_next, reward, mc_return):
    """The public trainer's advantage (`WebRLTrainer.actor_loss`), not the paper's formula:

        A = clamp(V(s') - V(s) - 0.05 + r + G, -1, 1),   V = min(V1, V2)

    With the public data (r = score at every step) every step of a successful trajectory gets A > 0;
    a failed one's steps get the sign of V(s') - V(s) - 0.05."""
    return torch.clamp(torch.as_tensor(v_next - v - 0.05 + reward + mc_return), -1.0, 1.0)


def actor_loss_official(logp_tokens_sum, ref_logp_sum, adv, n_tokens, add_sft_loss: bool = False,
                        return_info: bool = False):
    """The public code's actor loss (`THUDM/WebRL` `webrl/algorithms/webrl/trainer.py`,
    `WebRLTrainer.actor_loss`), reproduced line by line on one minibatch:

        a      = 1.0 if A >= 0 else -0.6
        p_ref  = exp(ref_logp_sum / n_tokens)                  (per-token reference probability)
        beta   = 5 if (a > 0 and p_ref >= 0.8) or (a < 0 and p_ref < 0.9) else 1
        keep   = a > 0                                          (i.e. A >= 0, A = 0 included)
        N      = sum of n_tokens over the kept steps of the minibatch (1 if none)
        rho    = (logp_sum - ref_logp_sum) / N
        beta   = min(beta, |a / rho|)                           (detached)
        loss   = mean_over_batch[keep * SmoothL1(beta * rho, a) / beta]
        (+ optional SFT term: -sum_kept(logp_sum * exp(1 - exp(logp_sum / n_tokens))) / N)

    Notes. N is one number for the whole minibatch (the code's `safe_count`), not per step, so the
    loss depends on the batch composition; the mean runs over all steps, dropped ones counting 0. Since
    only a = 1 survives and the cap keeps beta * |rho| <= 1, every kept step is pushed up (a weighted
    SFT on the steps with A >= 0); the -0.6 branch and its beta rule are dead code. `add_sft_loss` is
    False in the public training (`update_policy` calls actor_loss without it)."""
    logp = logp_tokens_sum
    dev, dt = logp.device, logp.dtype
    ref = torch.as_tensor(ref_logp_sum, dtype=dt, device=dev).detach()
    A = torch.as_tensor(adv, dtype=dt, device=dev).detach()
    n = torch.as_tensor(n_tokens, dtype=dt, device=dev)
    a = torch.where(A >= 0, torch.ones_like(A), torch.full_like(A, -0.6))
    p_ref = torch.exp(ref / n)
    beta = torch.ones_like(a)
    beta = torch.where(((a >= 0) & (p_ref >= 0.8)) | ((a < 0) & (p_ref < 0.9)),
                       torch.full_like(a, 5.0), beta)
    keep = (a > 0).to(dt)
    count = n[keep.bool()].sum()
    count = torch.where(count > 0, count, torch.ones_like(count))
    rho = (logp - ref) / count
    beta = torch.minimum(beta, (a / rho.detach()).abs()).detach()   # |a/0| = inf: no cap
    loss = (F.smooth_l1_loss(beta * rho, a, reduction="none") / beta * keep).mean()
    if add_sft_loss:
        coef = torch.exp(1 - torch.exp(logp.detach() / n))
        loss = loss + -(logp * coef)[keep.bool()].sum() / count
    if not return_info:
        return loss
    info = {"advantages.mean": a.mean().item(), "mask": keep.sum().item(), "beta": beta.mean().item(),
            "ref_prob": p_ref.mean().item(), "log_prob_ratio": rho.detach().mean().item()}
    return loss, info


def cosine_lr(step: int, total: int, peak: float, warmup: float = 0.1) -> float:
    """Learning rate at update `step` of `total`: linear warmup over the first `warmup` share, then cosine to 0
    (LLaMA-Factory's schedule, the paper's SFT and ORM training)."""
    w = max(1, int(warmup * total))
    return peak * (step + 1) / w if step < w else peak * 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, total - w)))


# =============================================================================================
# The baselines' updates (paper section 5.1 / Table 1): every one is a weighted behaviour cloning
# -mean_i[w_i * log pi(a_i|s_i) / n_i] on per-token means; they differ in the weights w_i.


def weighted_nll(logp_sum, n_tokens, weight):
    """L = -mean_i[w_i * log pi_theta(a_i|s_i) / n_i]: behaviour cloning of action i (n_i tokens) with a
    constant weight w_i >= 0. Filtered BC: w = 1 on kept trajectories; AWR: `awr_weights`; DigiRL:
    `digirl_weights`."""
    n = torch.as_tensor(n_tokens, dtype=logp_sum.dtype, device=logp_sum.device)
    w = torch.as_tensor(weight, dtype=logp_sum.dtype, device=logp_sum.device).detach()
    return -(w * logp_sum / n).mean()


def awr_weights(adv, temperature: float = 1.0, max_weight: float = 20.0):
    """Advantage-weighted regression (Peng et al. 2019): w = min(exp(A / temperature), max_weight)."""
    return torch.clamp(torch.exp(torch.as_tensor(adv, dtype=torch.float32) / temperature), max=max_weight)


def digirl_weights(adv, threshold: float = 0.0):
    """DigiRL's advantage-binarised update (Bai et al. 2024): clone the steps with A > threshold, drop the
    others: w = 1[A > threshold]."""
    return (torch.as_tensor(adv, dtype=torch.float32) > threshold).float()


def filtered_bc_keep(rewards, top: float = 0.3, seed: int = 0) -> list[int]:
    """Filtered BC's data: indices of the top `top` fraction of trajectories by reward (paper: the 70th
    percentile), ties broken at random, and never a trajectory with reward 0 (binary rewards: at most
    ceil(top * n) of the successes)."""
    order = sorted(range(len(rewards)), key=lambda i: (-rewards[i], random.Random(seed * 7919 + i).random()))
    return sorted(i for i in order[:math.ceil(top * len(rewards))] if rewards[i] > 0)


def pg_loss(logp_sum, adv):
    """The update without the KL term (the paper's "WebRL w/o KL" ablation): the plain policy gradient
    L = -mean[A * log pi_theta(a|s,I)], nothing holding the actor near pi_ref."""
    adv = torch.as_tensor(adv, dtype=logp_sum.dtype, device=logp_sum.device).detach()
    return -(adv * logp_sum).mean()
