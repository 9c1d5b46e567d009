"""The facts a plan needs, gathered without the weights: config, tokenizer, file sizes, GPUs.

Contract:
- `fetch_small_files(source)`: a local folder as it is; a Hub id through huggingface_hub's
  `snapshot_download` with `SMALL_FILES` (configs and tokenizer files: never a weight shard).
- `weight_files(source, folder)`: the weight shards' sizes: the folder's own files, else the Hub's file
  metadata (`HfApi().model_info(files_metadata=True)`); None when neither is known (the plan then
  estimates from the parameters and says so).
- `tokenizer_facts(spec, folder, config)`: the template (registry, else guessed as the loader
  guesses) and the ids of every token the demo relies on; a tokenizer that fails to load is a fact
  too (`problem`), not an exception.
- `visible_gpus()`: each CUDA GPU with its free memory (`torch.cuda.mem_get_info`); [] without CUDA.
- `run_plan(name, quantization, out)` prints the plan and returns the exit status: 0 when it fits,
  1 when it is refused (the reason on the last line).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from model import registry
from model.local.checkpoint import CheckpointError, detect_layout
from model.local.loader import guess_template, load_tokenizer, read_config
from model.plan.placement import Gpu, ModelFacts, Plan, TokenizerFacts, WeightFiles, plan, template_tokens
from model.plan.text import plan_table
from model.inputs.prompt import IMG_CONTEXT, IMG_END, IMG_START, THINK_OPEN
from model.reasoning import END_THINK

log = logging.getLogger(__name__)
# What load() fetches (model/local/loader.py), less the weights.
SMALL_FILES = ["*.json", "*.model", "*.tiktoken", "*.txt", "*.jinja"]
WEIGHT_SUFFIXES = (".safetensors",)


def fetch_small_files(source: str) -> Path:
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(source, allow_patterns=SMALL_FILES))


def weight_files(source: str, folder: Path) -> WeightFiles | None:
    if Path(source).expanduser().is_dir():
        shards = sorted(p for p in folder.iterdir() if p.name.endswith(WEIGHT_SUFFIXES))
        return WeightFiles(tuple((p.name, p.stat().st_size) for p in shards), "local files") if shards else None
    try:
        from huggingface_hub import HfApi

        siblings = HfApi().model_info(source, files_metadata=True).siblings or []
    except Exception as error:  # noqa: BLE001 - offline or refused: the plan estimates instead
        log.info("no file sizes from the Hub for %s: %s", source, error)
        return None
    shards = [(s.rfilename, int(s.size)) for s in siblings if s.rfilename.endswith(WEIGHT_SUFFIXES) and s.size]
    return WeightFiles(tuple(shards), "Hub file metadata") if shards else None


def tokens_to_check(template: str, spec: registry.ModelSpec) -> list[str]:
    """The template's own tokens, the stop tokens, the thinking markers and the image tokens."""
    names = template_tokens(template) + list(spec.stop_tokens)
    return list(dict.fromkeys(names + [THINK_OPEN.strip(), END_THINK, IMG_START, IMG_END, IMG_CONTEXT]))


def tokenizer_facts(spec: registry.ModelSpec, folder: Path, config: dict[str, Any]) -> TokenizerFacts:
    try:
        tokenizer = load_tokenizer(folder, config, detect_layout(config))
    except CheckpointError:
        return TokenizerFacts()  # the plan refuses the layout itself, with its own message
    except Exception as error:  # noqa: BLE001 - any failure to read it is reported, not raised
        return TokenizerFacts(problem=f"{type(error).__name__}: {error}")
    source = "registry"
    template = spec.template
    if template == "auto":
        source = "guessed from the tokenizer"
        try:
            template = guess_template(config, tokenizer)
        except CheckpointError:
            template = ""
    added = tokenizer.get_added_vocab()
    tokens = {text: (added[text],) if text in added else tuple(tokenizer.encode(text, add_special_tokens=False))
              for text in tokens_to_check(template, spec)}
    return TokenizerFacts(template=template, template_source=source, tokens=tokens, size=len(tokenizer),
                          chat_template=bool(getattr(tokenizer, "chat_template", None)))


def gather(spec: registry.ModelSpec) -> ModelFacts:
    folder = fetch_small_files(spec.source)
    config = read_config(folder)
    awq = registry.by_name(f"{spec.name}-awq")
    return ModelFacts(name=spec.name, source=spec.source, config=config,
                      tokenizer=tokenizer_facts(spec, folder, config), weights=weight_files(spec.source, folder),
                      awq_build=awq.name if awq else "")


def visible_gpus() -> list[Gpu]:
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        free, _total = torch.cuda.mem_get_info(index)
        gpus.append(Gpu(index, int(free), torch.cuda.get_device_name(index)))
    return gpus


def run_plan(spec: registry.ModelSpec, quantization: str = "", out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        facts = gather(spec)
    except Exception as error:  # noqa: BLE001 - a missing repo or folder is a message, not a traceback
        reason = " ".join(str(error).split())
        print(f"Refused: the config and tokenizer of {spec.source} could not be read: {reason}", file=out)
        return 1
    result: Plan = plan(facts, visible_gpus(), quantization=quantization)
    print(plan_table(result), file=out)
    return 1 if result.refusal else 0
