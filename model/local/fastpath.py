"""The fast decode path: static KV caches that follow the trace, a compiled step, compiled at load.

`FastPath(compile=..., lengths=...)` is handed to `LocalEngine`, which calls `generate(model, **kw)`
instead of `model.generate(**kw)`; every behaviour of the engine (logits processors, stopping
criteria, streamer, seeds, errors) runs unchanged around it.

- Caches that follow the trace (sizes: model/local/cache_ladder.py). A request starts in the smallest
  static cache holding its prompt and a first stretch; when that cache is full, `generate` returns,
  the keys and values so far are copied into the next size (exactly the same numbers, no second
  prefill) and transformers' `generate` goes on from that cache with the sequence so far (its own
  "continue from a cache" path: it feeds only the tokens the cache lacks, one). The streamer, the
  thinking budget, minimum thinking and Stop see one generation: the streamer is told of the
  sequence only once, criteria and processors read the whole sequence at every step.
- One `StaticCache` per size, kept (reset per request): their tensors are marked as static
  addresses for the compiled step, so a fresh cache per request would make CUDA graphs re-record
  and would re-allocate gigabytes. On a GPU the sizes kept are those that fit beside the weights
  (`fit_ladder`); the log names any size dropped.
- Compiled step: transformers' own generation compile support (`compile_config`: it compiles only
  the decoding step, never the prefill with its image). On CUDA the mode is "reduce-overhead" (CUDA
  graphs); on CPU, "default" (inductor; needs a C compiler, which `compile_problem` checks).
  Quantized models compile only where transformers' quantizer says its layers can
  (`hf_quantizer.is_compileable`; in transformers 5.24 the AWQ and bitsandbytes ones cannot): they
  keep the static caches without compiling, and the log says so.
- `warm_up(model, ...)` runs a short generation in every size at load time, on the engine's
  generation thread (model/local/generation_thread.py: CUDA graphs are kept per thread), so each size is
  compiled (and allocated) once, before anyone's question.
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
from transformers.generation.streamers import BaseStreamer

from model.local.cache_ladder import FIRST_STRETCH, cache_lengths, fit_ladder, next_length, start_length
from model.events import Status
from model.local.generation_thread import GenerationThread

log = logging.getLogger(__name__)
COMPILE_ENV = "R1V_COMPILE"  # "0": never compile; "1": compile on CPU too
WARM_UP_TOKENS = 4  # the compile happens on the first decoding step; CUDA graphs record on the next ones
# Memory a GPU keeps free beside the weights and caches: one prefill's activations (a 13-tile image
# and its question) and the allocator's slack. A rough figure; the planner estimates it per model.
PREFILL_RESERVE_FRACTION = 0.08


def attention_implementation(device: str) -> str:
    """flash_attention_2 where the flash-attn package and a CUDA device are present, else sdpa.
    R1V_ATTENTION overrides (e.g. "sdpa", "eager")."""
    chosen = os.environ.get("R1V_ATTENTION")
    if chosen:
        return chosen
    if device == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def compile_problem(device: torch.device, model: torch.nn.Module | None = None) -> str:
    """Why torch.compile cannot run on this device, or for this model's layers ("" when it can)."""
    if device.type == "cpu" and not (shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")):
        return "torch.compile on CPU needs a C++ compiler (g++ or c++ on PATH); none was found"
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None and not quantizer.is_compileable:
        method = getattr(quantizer.quantization_config, "quant_method", "quantized")
        method = getattr(method, "value", method)
        return (f"its {method} layers do not compile (transformers' {type(quantizer).__name__} is not "
                "compileable): decoding on the static caches without torch.compile")
    return ""


def compile_by_default(device: torch.device) -> bool:
    """On CUDA unless R1V_COMPILE=0; on CPU only when R1V_COMPILE=1 (a CPU compile takes minutes)."""
    setting = os.environ.get(COMPILE_ENV, "")
    if setting in ("0", "false", "off"):
        return False
    return device.type == "cuda" or setting in ("1", "true", "on")


@dataclass
class FastPath:
    """`lengths`: the cache sizes served (None: `cache_lengths` of the model's context); `stretch`:
    tokens of room past the prompt in the size a request starts in."""

    compile: bool = True
    lengths: list[int] | None = None
    stretch: int = FIRST_STRETCH
    runner: GenerationThread = field(default_factory=GenerationThread, repr=False)
    caches_made: int = 0  # StaticCache objects built so far (a reused size builds none)
    moves: int = 0  # times a request moved up a size
    _caches: dict[int, StaticCache] = field(default_factory=dict, repr=False)
    _config: CompileConfig | None = field(default=None, repr=False)

    def ladder(self, model: torch.nn.Module) -> list[int]:
        """The sizes served, ending at the model's context (so the context is always in reach)."""
        context = _context(model)
        return sorted({length for length in (self.lengths or cache_lengths(context)) if length < context} | {context})

    def generate(self, model: torch.nn.Module, **kwargs: Any) -> torch.Tensor:
        """`model.generate(**kwargs)`, climbing the cache sizes as the sequence grows."""
        ids = kwargs.pop("input_ids")
        prompt_tokens, limit = ids.shape[1], ids.shape[1] + kwargs.pop("max_new_tokens")
        min_new = kwargs.pop("min_new_tokens", 0) or 0
        streamer = _Segments(kwargs.pop("streamer", None))
        kwargs.pop("attention_mask", None)  # all ones: rebuilt per stretch for the sequence so far
        ladder = self.ladder(model) if _can_move(model) else [self.cache_length(model, limit)]
        length = start_length(ladder, prompt_tokens, limit, self.stretch)
        cache = self._cache_for(model, length)
        while True:
            new_tokens = min(limit, length) - ids.shape[1]
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                 min_new_tokens=max(0, min(new_tokens, min_new - (ids.shape[1] - prompt_tokens))),
                                 streamer=streamer if streamer.inner is not None else None,
                                 **kwargs, **self._extra(model, cache))
            bigger = next_length(ladder, length)
            if bigger is None or out.shape[1] >= limit or _finished(out, ids.shape[1] + new_tokens, kwargs):
                break
            cache, length, ids = self._move(model, cache, bigger), bigger, out
            kwargs.pop("pixel_values", None)  # the image is in the cache now
            streamer.skip_next_put()
        streamer.finish()
        return out

    def generate_kwargs(self, model: torch.nn.Module, needed_tokens: int) -> dict[str, Any]:
        """For bare `generate` in one cache holding `needed_tokens` in all (no climbing)."""
        return self._extra(model, self._cache_for(model, self.cache_length(model, needed_tokens)))

    def _extra(self, model: torch.nn.Module, cache: StaticCache) -> dict[str, Any]:
        if self.compile:
            return {"cache": cache, "compile_config": self._compile_config(model.device)}
        return {"cache": cache, "disable_compile": True}

    def cache_length(self, model: torch.nn.Module, needed_tokens: int) -> int:
        ladder = self.ladder(model)
        return next((length for length in ladder if length >= needed_tokens), ladder[-1])

    def _cache_for(self, model: torch.nn.Module, length: int) -> StaticCache:
        cache = self._caches.get(length)
        if cache is None or _made_in_other_mode(cache):
            cache = self._caches[length] = StaticCache(config=model.config.get_text_config(decoder=True),
                                                       max_cache_len=length)
            self.caches_made += 1
        else:
            cache.reset()
        return cache

    def _move(self, model: torch.nn.Module, small: StaticCache, length: int) -> StaticCache:
        """The keys and values held in `small`, copied into the (reset) cache of `length` tokens."""
        big = self._cache_for(model, length)
        for source, target in zip(small.layers, big.layers):
            held = int(source.get_seq_length())
            if not target.is_initialized:
                target.lazy_initialization(source.keys, source.values)
            target.keys[:, :, :held].copy_(source.keys[:, :, :held])
            target.values[:, :, :held].copy_(source.values[:, :, :held])
            target.cumulative_length.fill_(held)
        self.moves += 1
        return big

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
        """Run a short generation in every cache size (or those given) on the generation thread, now:
        each size is compiled (when compiling) and allocated at load, not in someone's question."""
        lengths = lengths or self.ladder(model)
        for index, length in enumerate(lengths, start=1):
            if self.compile:
                progress(Status(f"Compiling the decoding step ({index} of {len(lengths)}, {length:,} tokens of "
                                "context); this happens once per start…", "load.compiling",
                                {"index": index, "count": len(lengths), "tokens": length}))
            self.runner.call(self._warm_one, model, pad_token_id, length)

    def _warm_one(self, model: torch.nn.Module, pad_token_id: int, length: int) -> None:
        prompt = torch.full((1, 8), pad_token_id, dtype=torch.long, device=model.device)
        with torch.inference_mode():  # as the engine generates, so the cache made here serves it
            model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                           max_new_tokens=WARM_UP_TOKENS, min_new_tokens=WARM_UP_TOKENS,
                           pad_token_id=pad_token_id, **self._extra(model, self._cache_for(model, length)))


class _Segments(BaseStreamer):
    """The engine's streamer across stretches: each later stretch's `generate` first sends the whole
    sequence so far (as it does a prompt), which is swallowed; `end` is sent once, at the very end."""

    def __init__(self, inner: BaseStreamer | None):
        self.inner, self._skip = inner, False

    def skip_next_put(self) -> None:
        self._skip = True

    def put(self, value: torch.Tensor) -> None:
        if self._skip:
            self._skip = False
        elif self.inner is not None:
            self.inner.put(value)

    def end(self) -> None:
        pass

    def finish(self) -> None:
        if self.inner is not None:
            self.inner.end()


def _finished(out: torch.Tensor, stretch_end: int, kwargs: dict[str, Any]) -> bool:
    """Whether generation ended for a reason of its own (a stop token, a stopping criterion), not
    because the stretch was full. The criteria are asked again on the final sequence: they only read
    it (and flags), so asking twice answers the same."""
    if out.shape[1] < stretch_end:
        return True
    stop_ids = kwargs.get("eos_token_id")
    stop_ids = stop_ids if isinstance(stop_ids, (list, tuple)) else [stop_ids]
    if int(out[0, -1]) in stop_ids:
        return True
    criteria = kwargs.get("stopping_criteria")
    return bool(criteria is not None and criteria(out, None).any())


def _can_move(model: torch.nn.Module) -> bool:
    """Moving copies whole full-attention layers; a sliding-window layer keeps only its window."""
    text = model.config.get_text_config(decoder=True)
    return all(kind == "full_attention" for kind in (getattr(text, "layer_types", None) or ["full_attention"]))


def _made_in_other_mode(cache: StaticCache) -> bool:
    """Tensors made under inference_mode cannot be updated outside it (nor reset): such a cache is
    replaced when the caller is not in inference mode, and the other way round."""
    layer = cache.layers[0]
    keys = getattr(layer, "keys", None) if getattr(layer, "is_initialized", False) else None
    return keys is not None and keys.is_inference() != torch.is_inference_mode_enabled()


def _context(model: torch.nn.Module) -> int:
    return int(getattr(model.config.get_text_config(decoder=True), "max_position_embeddings", 0) or 32_768)


def kv_bytes_per_token(model: torch.nn.Module) -> int:
    """Keys and values of every layer for one token, in the model's dtype."""
    text = model.config.get_text_config(decoder=True)
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    dtype = next(model.parameters()).dtype
    item = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 2
    return 2 * int(text.num_hidden_layers) * int(text.num_key_value_heads) * int(head_dim) * item


def gpu_room_tokens(model: torch.nn.Module) -> int | None:
    """Tokens of KV cache the GPUs holding the model still have room for (None off CUDA): on each
    GPU, its free memory less a reserve, over the bytes its share of the layers takes per token."""
    if model.device.type != "cuda":
        return None
    layers = int(model.config.get_text_config(decoder=True).num_hidden_layers)
    per_layer = kv_bytes_per_token(model) // layers
    share = _layers_per_gpu(model, layers)
    room = None
    for index, count in share.items():
        free, total = torch.cuda.mem_get_info(index)
        tokens = max(0, int(free - PREFILL_RESERVE_FRACTION * total)) // (count * per_layer)
        room = tokens if room is None else min(room, tokens)
    return room


def _layers_per_gpu(model: torch.nn.Module, layers: int) -> dict[int, int]:
    device_map = getattr(model, "hf_device_map", None) or {"": model.device.index or 0}
    counts: dict[int, int] = {}
    for module, device in device_map.items():
        if ".layers." in f"{module}." and isinstance(device, int):
            counts[device] = counts.get(device, 0) + 1
    return counts or {next(iter(device_map.values())) or 0: layers}


def make_fast_path(device: torch.device, compile: bool | None = None, model: torch.nn.Module | None = None) -> FastPath:
    """The fast path for a model on `device`; `compile` None: `compile_by_default`. A device (or a
    quantized model) that cannot compile gets the static caches alone, and the log says why."""
    wanted = compile_by_default(device) if compile is None else compile
    problem = compile_problem(device, model) if wanted else ""
    if problem:
        log.warning("decoding without torch.compile: %s", problem)
    return FastPath(compile=wanted and not problem)


def setup_fast_path(loaded, mode: str = "auto", compile: bool | None = None,
                    progress: Callable[[Status], None] = lambda status: None) -> FastPath | None:
    """The engine's fast path for a loaded model, warmed up now. `mode`: "on", "off" or "auto" (on
    with CUDA); `compile`: False never, None `compile_by_default`. Quantized models (AWQ,
    bitsandbytes) get the static caches, compiled where their quantizer allows."""
    wanted = mode == "on" or (mode == "auto" and loaded.device.type == "cuda")
    if not wanted:
        return None
    fast = make_fast_path(loaded.device, compile, loaded.model)
    fast.lengths = kept_lengths(loaded.model, fast.ladder(loaded.model))
    fast.warm_up(loaded.model, loaded.tokenizer.pad_token_id or 0, progress)
    return fast


def zero_gpu_fast_path() -> FastPath:
    """ZeroGPU: the static caches without torch.compile (its workers do not support it) and without a
    warm-up (CUDA runs only inside `@spaces.GPU`, in a forked process); each answer allocates its
    caches there, on first use."""
    return FastPath(compile=False)


def kept_lengths(model: torch.nn.Module, ladder: list[int]) -> list[int]:
    """The sizes whose caches fit beside the weights (all of them off CUDA); a log line names any dropped."""
    kept = fit_ladder(ladder, gpu_room_tokens(model))
    dropped = [length for length in ladder if length not in kept]
    if dropped:
        log.warning("static KV caches of %s tokens do not fit beside the weights on this GPU; kept %s",
                    ", ".join(f"{n:,}" for n in dropped), ", ".join(f"{n:,}" for n in kept))
    return kept
