"""The fast decode path: a static KV cache, a compiled decoding step, compiled at load time.

`FastPath(compile=...)` is handed to `LocalEngine`; per request it adds to `model.generate`'s
arguments (`generate_kwargs`) and nothing else, so every behaviour of the engine (logits processors,
stopping criteria, streamer, seeds, errors) runs unchanged around it.

- Static cache: transformers' `StaticCache`, sized to one of a few cache lengths (`cache_lengths`:
  powers of four from 4,096 tokens, the last one the model's context) so each length is compiled
  once and a short request does not attend over the whole context.
- Compiled step: transformers' own generation compile support (`compile_config`: it compiles only
  the decoding step, never the prefill with its image). On CUDA the mode is "reduce-overhead" (CUDA
  graphs); on CPU, "default" (inductor; needs a C compiler, which `compile_problem` checks).
- `warm_up(loaded, progress)` compiles every cache length at load time with a short text-only
  generation, reporting through the loader's progress callback.
- The vision tower runs once per request, in the prefill, over all tiles of all images in one
  batch (`pixel_values` [tiles, 3, 448, 448]); transformers drops `pixel_values` after the prefill.

Beyond transformers' defaults, in one place: `_cache_for` keeps one `StaticCache` per length and
hands it to `generate` (reset) instead of letting `generate` allocate a fresh one per request. The
cache's tensors are marked as static addresses for the compiled step; a fresh cache at a new
address per request would make CUDA graphs re-record, and would re-allocate gigabytes per request.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from transformers import CompileConfig, StaticCache

from model.events import Status

log = logging.getLogger(__name__)
FIRST_CACHE_LENGTH = 4096
COMPILE_ENV = "R1V_COMPILE"  # "0": never compile; "1": compile on CPU too
WARM_UP_TOKENS = 4  # the compile happens on the first decoding step; CUDA graphs record on the next ones


def attention_implementation(device: str) -> str:
    """flash_attention_2 where the flash-attn package and a CUDA device are present, else sdpa.
    R1V_ATTENTION overrides (e.g. "sdpa", "eager")."""
    chosen = os.environ.get("R1V_ATTENTION")
    if chosen:
        return chosen
    if device == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def compile_problem(device: torch.device) -> str:
    """Why torch.compile cannot run on this device ("" when it can)."""
    if device.type == "cpu" and not (shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")):
        return "torch.compile on CPU needs a C++ compiler (g++ or c++ on PATH); none was found"
    return ""


def compile_by_default(device: torch.device) -> bool:
    """On CUDA unless R1V_COMPILE=0; on CPU only when R1V_COMPILE=1 (a CPU compile takes minutes)."""
    setting = os.environ.get(COMPILE_ENV, "")
    if setting in ("0", "false", "off"):
        return False
    return device.type == "cuda" or setting in ("1", "true", "on")


def cache_lengths(context: int) -> list[int]:
    """The static cache sizes served: 4,096, 16,384, ... and the context itself (its last one)."""
    lengths, length = [], FIRST_CACHE_LENGTH
    while length < context:
        lengths.append(length)
        length *= 4
    return lengths + [context]


@dataclass
class FastPath:
    compile: bool = True
    _caches: dict[int, StaticCache] = field(default_factory=dict, repr=False)
    _config: CompileConfig | None = field(default=None, repr=False)

    def generate_kwargs(self, model: torch.nn.Module, needed_tokens: int) -> dict[str, Any]:
        """What `generate` needs for a prompt plus new tokens of `needed_tokens` in all."""
        kwargs: dict[str, Any] = {"cache": self._cache_for(model, self.cache_length(model, needed_tokens))}
        if self.compile:
            kwargs["compile_config"] = self._compile_config(model.device)
        else:
            kwargs["disable_compile"] = True
        return kwargs

    def cache_length(self, model: torch.nn.Module, needed_tokens: int) -> int:
        context = _context(model)
        return next((length for length in cache_lengths(context) if length >= needed_tokens), context)

    def _cache_for(self, model: torch.nn.Module, length: int) -> StaticCache:
        cache = self._caches.get(length)
        if cache is None or _made_in_other_mode(cache):
            self._caches.clear()  # one cache at a time: a longer one replaces a shorter one
            cache = self._caches[length] = StaticCache(config=model.config.get_text_config(decoder=True),
                                                       max_cache_len=length)
        else:
            cache.reset()
        return cache

    def _compile_config(self, device: torch.device) -> CompileConfig:
        if self._config is None:
            # dynamic=False: one graph per cache length (shapes never change within one); a dynamic
            # graph was measured 30x slower per step on CPU and compiled 5x longer.
            config = CompileConfig(fullgraph=False, dynamic=False,
                                   mode="reduce-overhead" if device.type == "cuda" else "default")
            config._compile_all_devices = device.type != "cuda"  # transformers compiles only on accelerators
            self._config = config
        return self._config

    def release(self) -> None:
        """Drop the caches (after an out-of-memory error); the next request allocates afresh."""
        self._caches.clear()

    def warm_up(self, model: torch.nn.Module, pad_token_id: int, progress: Callable[[Status], None],
                lengths: list[int] | None = None) -> None:
        """Compile the decoding step for every cache length (or those given) now, not in someone's
        first question."""
        if not self.compile:
            return
        lengths = lengths or cache_lengths(_context(model))
        for index, length in enumerate(lengths, start=1):
            progress(Status(f"Compiling the decoding step ({index} of {len(lengths)}, {length:,} tokens of "
                            "context); this happens once per start…", "load.compiling",
                            {"index": index, "count": len(lengths), "tokens": length}))
            prompt = torch.full((1, 8), pad_token_id, dtype=torch.long, device=model.device)
            with torch.inference_mode():  # as the engine generates, so the cache made here serves it
                model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                               max_new_tokens=WARM_UP_TOKENS, min_new_tokens=WARM_UP_TOKENS,
                               pad_token_id=pad_token_id, **self._warm_kwargs(model, length))

    def _warm_kwargs(self, model: torch.nn.Module, length: int) -> dict[str, Any]:
        return {"cache": self._cache_for(model, length), "compile_config": self._compile_config(model.device)}


def _made_in_other_mode(cache: StaticCache) -> bool:
    """Tensors made under inference_mode cannot be updated outside it (nor reset): such a cache is
    replaced when the caller is not in inference mode, and the other way round."""
    layer = cache.layers[0]
    keys = getattr(layer, "keys", None) if getattr(layer, "is_initialized", False) else None
    return keys is not None and keys.is_inference() != torch.is_inference_mode_enabled()


def _context(model: torch.nn.Module) -> int:
    return int(getattr(model.config.get_text_config(decoder=True), "max_position_embeddings", 0) or 32_768)


def make_fast_path(device: torch.device, compile: bool | None = None) -> FastPath:
    """The fast path for a model on `device`; `compile` None: `compile_by_default`. A device that
    cannot compile gets the static cache alone, and the log says why."""
    wanted = compile_by_default(device) if compile is None else compile
    problem = compile_problem(device) if wanted else ""
    if problem:
        log.warning("decoding without torch.compile: %s", problem)
    return FastPath(compile=wanted and not problem)


def setup_fast_path(loaded, mode: str = "auto", compile: bool | None = None,
                    progress: Callable[[Status], None] = lambda status: None) -> FastPath | None:
    """The engine's fast path for a loaded model, compiled now. `mode`: "on", "off" or "auto" (on
    with CUDA); `compile`: False never, None `compile_by_default`. Quantized models keep the dynamic
    cache (bitsandbytes layers do not compile)."""
    wanted = mode == "on" or (mode == "auto" and loaded.device.type == "cuda")
    if not wanted or getattr(loaded.model, "hf_quantizer", None) is not None:
        return None
    fast = make_fast_path(loaded.device, compile)
    fast.warm_up(loaded.model, loaded.tokenizer.pad_token_id or 0, progress)
    return fast
