"""Decode speed against the memory-bandwidth limit, with random weights: no download.

Builds a registry model's real configuration (`--shape r1v3-38b`, from its published config.json
fields through model/local/checkpoint.py; `--shape tiny`, the bundled checkpoint's config) on the meta
device, materialises it on the device (`to_empty` + transformers' own weight init) in bf16 on CUDA
(fp32 on CPU), and measures in one run:
  1. the device's copy bandwidth (device-to-device copy of a large buffer; a host memcpy on CPU),
     counted as bytes read + bytes written per second;
  2. prefill of one image at 12 tiles + thumbnail with a 50-token question: time to first token;
  3. decode tokens/s over `--decode-tokens` (best of `--repeats`) for bare `generate` (dynamic cache), bare `generate` on
     the fast path (static caches climbing from `--first-cache` tokens, compiled unless --no-compile),
     and `LocalEngine.stream` on the fast path (thinking budget = decode tokens, so the budget
     processor and splitter run as in use), and the engine's time to first token (13 tiles);
  4. the default request, as people send it: no thinking limit, `--default-tokens` generated (the
     page's Stop ends it there), so the trace crosses a cache size; bare fast generate beside it;
  5. compile time at load, and the CUDA graph recordings and dynamo compiles seen during the
     measured answers (bench/measured.py; zero is the goal; without CUDA there are no graphs);
  6. peak memory.
Each decode speed is printed as a fraction of the bandwidth limit (weight bytes read per token /
copy bandwidth), with the engine/bare ratio. Prompts use the bundled tokenizer (its ids are valid
for any vocabulary; generated ids it does not know decode to nothing). `--dry-run` builds the
configuration on the meta device and prints the weight bytes and the limit for a given bandwidth,
allocating nothing. Exits 0; exits 1, naming the event, when any measured run ends in an `Error`
(or raises) or generates fewer tokens than asked: a broken run is never printed as a speed.

    python bench/bench_gpu.py --shape r1v3-38b            # one H200: about 4-6 minutes
    python bench/bench_gpu.py --shape tiny --decode-tokens 32 --default-tokens 200 --first-cache 128
    python bench/bench_gpu.py --shape r1v3-38b --dry-run
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transformers import InternVLForConditionalGeneration  # noqa: E402
from transformers.generation.streamers import BaseStreamer  # noqa: E402

from bench.measured import FailedRun, GraphEvents, measured_stats  # noqa: E402
from model.local.cache_ladder import FIRST_STRETCH, cache_lengths, start_length  # noqa: E402
from model.local.checkpoint import IMAGE_CONTEXT_TOKEN, translate_config  # noqa: E402
from model.local.engine import LocalEngine  # noqa: E402
from model.events import ThinkingDelta, GenerationOptions, Request  # noqa: E402
from model.local.fastpath import FastPath, attention_implementation, make_fast_path  # noqa: E402
from model.local.loader import LoadedModel, load_tokenizer, read_config  # noqa: E402
from model.registry import TINY_PATH, by_name  # noqa: E402

# Skywork-R1V3-38B (InternVL3-38B lineage): InternViT-6B-448px-V2_5 + a Qwen2.5-32B language model.
# Sizes as published in its config.json; the vocabulary (151,674) and context (32,768) are those of
# the InternVL3 family's language configs.
R1V3_38B = {
    "model_type": "skywork_chat", "architectures": ["SkyworkR1VChatModel"], "template": "r1v3",
    "select_layer": -1, "force_image_size": 448, "downsample_ratio": 0.5, "ps_version": "v2",
    "dynamic_image_size": True, "use_thumbnail": True, "max_dynamic_patch": 12, "min_dynamic_patch": 1,
    "use_backbone_lora": 0, "use_llm_lora": 0, "tie_word_embeddings": False,
    "vision_config": {"architectures": ["InternVisionModel"], "hidden_size": 3200, "num_hidden_layers": 45,
                      "num_attention_heads": 25, "intermediate_size": 12800, "image_size": 448,
                      "patch_size": 14, "qk_normalization": True, "qkv_bias": False, "norm_type": "rms_norm",
                      "layer_norm_eps": 1e-6, "use_flash_attn": True, "drop_path_rate": 0.0},
    "llm_config": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 5120,
                   "num_hidden_layers": 64, "num_attention_heads": 40, "num_key_value_heads": 8,
                   "intermediate_size": 27648, "vocab_size": 151674, "rope_theta": 1000000.0,
                   "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "bos_token_id": 151643,
                   "eos_token_id": 151645, "tie_word_embeddings": False, "use_sliding_window": False},
}
SHAPES = {"r1v3-38b": lambda: R1V3_38B, "tiny": lambda: read_config(TINY_PATH)}
TILES = 12  # + the thumbnail


class _FirstToken(BaseStreamer):
    """Notes when the first new token arrives and how many came (the prompt is sent first)."""

    def __init__(self):
        self.first_at, self.count, self._prompt_seen = None, 0, False

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.first_at = self.first_at or time.perf_counter()
        self.count += value.numel()

    def end(self) -> None:
        pass


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def build_config(shape: str, tokenizer):
    return translate_config(SHAPES[shape](), tokenizer.convert_tokens_to_ids(IMAGE_CONTEXT_TOKEN))


def weight_bytes(model: torch.nn.Module) -> dict[str, int]:
    """Bytes per part; `decode` is what one decoding step reads: the language model's layers, final
    norm and lm_head (of the embedding table only one row)."""
    sizes = {"vision": 0, "embedding": 0, "decode": 0}
    for name, parameter in model.named_parameters():
        size = parameter.numel() * parameter.element_size()
        part = ("embedding" if "embed_tokens" in name else
                "vision" if "vision_tower" in name or "multi_modal_projector" in name else "decode")
        sizes[part] += size
    return sizes


def materialise(config, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    with torch.device("meta"):
        model = InternVLForConditionalGeneration(config).to(dtype)  # bf16 before any byte is allocated
    model.to_empty(device=device)
    with torch.no_grad():
        model.init_weights()  # transformers' own init, rotary frequencies included
    return model.eval()


def copy_bandwidth(device: torch.device, gigabytes: float) -> float:
    """Bytes read + written per second for a copy of a `gigabytes` buffer; the best of 5."""
    source = torch.empty(int(gigabytes * 2**30) // 4, dtype=torch.float32, device=device)
    source.fill_(1.0)
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(6):
        sync(device)
        started = time.perf_counter()
        target.copy_(source)
        sync(device)
        best = min(best, time.perf_counter() - started)
    return 2 * source.numel() * 4 / best


def image_png(tile: int) -> bytes:
    """A 4:3 picture that tiles into a 4 x 3 grid (12 tiles) plus the thumbnail."""
    from PIL import Image

    picture = Image.effect_noise((tile * 4, tile * 3), 64).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def question(tokenizer, tokens: int) -> str:
    words = "How many shapes are red and how many are blue in this picture please count them all".split()
    text = ""
    while len(tokenizer.encode(text, add_special_tokens=False)) < tokens:
        text += words[len(text.split()) % len(words)] + " "
    return text.strip()


def make_loaded(shape: str, device: torch.device, meta: bool = False) -> LoadedModel:
    raw = SHAPES[shape]()
    tokenizer = load_tokenizer(TINY_PATH, read_config(TINY_PATH), "official")
    config = build_config(shape, tokenizer)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config.text_config._attn_implementation = attention_implementation(device.type)  # as the loader picks
    config.vision_config._attn_implementation = "sdpa"
    if meta:
        with torch.device("meta"):
            model = InternVLForConditionalGeneration(config)
        device = torch.device("meta")
    else:
        model = materialise(config, device, dtype)
    vision = config.vision_config
    tile = int(vision.image_size[0])
    return LoadedModel(spec=by_name("tiny") if shape == "tiny" else by_name(shape), model=model, tokenizer=tokenizer,
                       folder=TINY_PATH, layout="official", template="deepseek_r1", tile_size=tile,
                       max_tiles=TILES, use_thumbnail=bool(raw.get("use_thumbnail", True)),
                       tokens_per_tile=int(config.image_seq_length), device=device)


def request(loaded: LoadedModel, decode_tokens: int, question_tokens: int, limited: bool = True,
            stop: threading.Event | None = None) -> Request:
    """The budgeted request (thinking budget = decode tokens), or the default one (no thinking limit;
    min_thinking keeps random weights from closing their thinking before `stop` ends it)."""
    options = GenerationOptions.validated(temperature=0, repetition_penalty=1.0, max_tiles=TILES,
                                          thinking_budget=decode_tokens if limited else -1,
                                          min_thinking=decode_tokens, answer_budget=16)
    return Request(question(loaded.tokenizer, question_tokens), (image_png(loaded.tile_size),), options=options,
                   stop=stop)


def engine_stats(engine: LocalEngine, loaded: LoadedModel, args, limited: bool = True):
    """One measured engine run: its Stats, or FailedRun. The default request is ended by Stop once
    `--default-tokens` thinking tokens have streamed, as a person would end it."""
    tokens = args.decode_tokens if limited else args.default_tokens
    stop = None if limited else threading.Event()
    events = engine.stream(request(loaded, tokens, args.question_tokens, limited, stop))

    def watched():
        for event in events:
            if stop is not None and isinstance(event, ThinkingDelta) and event.tokens >= tokens:
                stop.set()
            yield event

    return measured_stats(watched(), tokens, "LocalEngine.stream " + ("(budgeted)" if limited else "(default)"))


def prefill_seconds(loaded: LoadedModel, prepared, repeats: int = 3) -> float:
    """One forward over the prompt and its tiles, the logits of the last position only."""
    times = []
    for _ in range(repeats + 1):  # the first one warms the kernels up
        sync(loaded.device)
        started = time.perf_counter()
        with torch.inference_mode():
            loaded.model(input_ids=prepared.input_ids, pixel_values=prepared.pixel_values, logits_to_keep=1)
        sync(loaded.device)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def bare_decode(loaded: LoadedModel, prepared, tokens: int, fast: FastPath | None = None) -> float:
    """Decode tokens/s of bare generate (climbing `fast`'s caches, if given, as the engine does): the
    first token's time (prefill) left out. FailedRun if it raises or makes fewer tokens."""
    streamer = _FirstToken()
    label = f"bare generate ({'fast' if fast else 'dynamic'})"
    kwargs = dict(input_ids=prepared.input_ids, attention_mask=torch.ones_like(prepared.input_ids),
                  pixel_values=prepared.pixel_values, do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens,
                  pad_token_id=loaded.tokenizer.pad_token_id, streamer=streamer)
    try:
        with torch.inference_mode():  # as the engine runs it; the fast path's caches are made in this mode
            fast.generate(loaded.model, **kwargs) if fast else loaded.model.generate(**kwargs)
    except Exception as error:  # noqa: BLE001 - a broken run is reported by name, not as a speed
        raise FailedRun(f"{label}: raised {type(error).__name__}: {error}") from error
    sync(loaded.device)
    if streamer.count < tokens:
        raise FailedRun(f"{label}: {streamer.count} tokens generated, {tokens} asked")
    return (streamer.count - 1) / (time.perf_counter() - streamer.first_at)


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 1e9
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def describe(device: torch.device) -> str:
    return torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU"


def note(what: str, value: float) -> float:
    """Each measurement as it is taken, so a run cut short by a timeout still tells what it got."""
    print(f"measured {what}: {value:.4g}", flush=True)
    return value


def run(args) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() and args.shape != "tiny" else "cpu")
    if device.type == "cpu":
        # One thread: a model this small gains nothing from more, and on a shared machine the thread
        # pool's spinning made the main thread's runs (bare generate) up to 8x slower than the
        # engine's worker thread.
        torch.set_num_threads(1)
    results: dict = {"device": describe(device)}
    results["bandwidth"] = note("copy bandwidth B/s", copy_bandwidth(device, 4.0 if device.type == "cuda" else 0.25))
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    loaded = make_loaded(args.shape, device)
    results["attention"] = loaded.model.config.text_config._attn_implementation
    results["bytes"] = weight_bytes(loaded.model)
    from model.inputs.assemble import prepare_input

    prepared = prepare_input(loaded, request(loaded, args.decode_tokens, args.question_tokens))
    results["prompt_tokens"], results["tiles"] = int(prepared.input_ids.shape[1]), prepared.tiles_per_image
    results["prefill_s"] = note("prefill s", prefill_seconds(loaded, prepared))
    # Best of --repeats: the first run of a path also warms it up (CPU kernels per shape, GPU handles).
    results["bare_dynamic"] = note("bare dynamic tok/s", max(bare_decode(loaded, prepared, args.decode_tokens)
                                                             for _ in range(args.repeats)))
    fast = warmed_fast_path(loaded, args, results)
    with GraphEvents() as seen:  # everything below is a measured answer: no graph should be made in it
        measure_fast(loaded, prepared, fast, args, results)
    results["graph_recordings"], results["answer_compiles"] = seen.recordings, seen.compiles
    results["moves"] = fast.moves
    results["peak_gb"] = peak_memory_gb(device)
    return results


def warmed_fast_path(loaded: LoadedModel, args, results: dict) -> FastPath:
    """The fast path over the sizes the measured requests climb through, warmed up (compiled) now."""
    made = make_fast_path(loaded.device, False if args.no_compile else None, loaded.model)
    stretch = min(FIRST_STRETCH, args.first_cache // 8)
    fast = FastPath(compile=made.compile, lengths=cache_lengths(int(loaded.model.config.text_config.max_position_embeddings),
                                                                 args.first_cache), stretch=stretch)
    prompt, longest = results["prompt_tokens"], max(args.decode_tokens, args.default_tokens) + 64  # 64: forced tokens
    ladder = fast.ladder(loaded.model)
    first = start_length(ladder, prompt, prompt + longest, stretch)
    top = next((n for n in ladder if n >= prompt + longest), ladder[-1])
    lengths = [n for n in ladder if first <= n <= top]  # every size a measured request may reach
    started = time.perf_counter()
    fast.warm_up(loaded.model, loaded.tokenizer.pad_token_id, lambda status: print(status.message, flush=True),
                 lengths=lengths)
    results["compile_s"], results["compiled"] = time.perf_counter() - started, fast.compile
    results["cache_tokens"] = lengths
    note("compile s", results["compile_s"])
    return fast


def measure_fast(loaded: LoadedModel, prepared, fast: FastPath, args, results: dict) -> None:
    results["bare_fast"] = note("bare fast tok/s", max(bare_decode(loaded, prepared, args.decode_tokens, fast)
                                                          for _ in range(args.repeats)))
    engine = LocalEngine(loaded, fast=fast)
    stats = max((engine_stats(engine, loaded, args) for _ in range(args.repeats)), key=lambda found: found.tokens_per_s)
    results["engine_fast"], results["engine_ttft_s"] = note("engine tok/s", stats.tokens_per_s), stats.ttft_s
    results["engine_tokens"] = stats.thinking_tokens + stats.answer_tokens
    if args.default_tokens:
        moves = fast.moves
        results["bare_default"] = note("bare fast default tok/s", bare_decode(loaded, prepared, args.default_tokens, fast))
        stats = engine_stats(engine, loaded, args, limited=False)
        results["engine_default"] = note("engine default tok/s", stats.tokens_per_s)
        results["default_tokens"] = stats.thinking_tokens + stats.answer_tokens
        results["default_moves"] = fast.moves - moves  # 2: one per run, bare and engine


def print_table(results: dict, shape: str) -> None:
    sizes, bandwidth = results["bytes"], results["bandwidth"]
    limit = bandwidth / sizes["decode"]  # tokens/s if each step only read the weights once
    print(f"shape {shape} on {results['device']}; weights read per token {sizes['decode'] / 1e9:.2f} GB "
          f"(vision {sizes['vision'] / 1e9:.2f} GB, embedding {sizes['embedding'] / 1e9:.2f} GB); prompt "
          f"{results['prompt_tokens']} tokens, tiles {results['tiles']}; static caches {results['cache_tokens']} tokens, "
          f"attention {results['attention']}, compile {'on' if results['compiled'] else 'off'}")
    print(f"copy bandwidth {bandwidth / 1e9:.1f} GB/s (read + write) -> limit {limit:.2f} tokens/s")
    print(f"{'measure':<44}{'value':>12}{'unit':>8}{'of limit':>10}{'/ bare fast':>13}")
    rows = [("prefill 12 tiles + thumbnail (TTFT)", results["prefill_s"], "s", None, None),
            ("engine time to first token (13 tiles)", results["engine_ttft_s"], "s", None, None),
            ("compile at load (warm-up)", results["compile_s"], "s", None, None)]
    decode = [("decode bare generate (dynamic)", "bare_dynamic", "bare_fast"),
              ("decode bare generate (fast)", "bare_fast", "bare_fast"),
              ("decode LocalEngine.stream (fast)", "engine_fast", "bare_fast")]
    if "engine_default" in results:
        decode += [("default request: bare generate (fast)", "bare_default", "bare_default"),
                   ("default request: LocalEngine.stream", "engine_default", "bare_default")]
    for label, key, bare in decode:
        rows.append((label, results[key], "tok/s", results[key] / limit, results[key] / results[bare]))
    if "engine_default" in results:
        rows.append(("default request: tokens generated", results["default_tokens"], "tokens", None, None))
        rows.append(("default request: cache size changes, 2 runs", results["default_moves"], "moves", None, None))
    rows += [("graph recordings during answers", results["graph_recordings"], "graphs", None, None),
             ("compiles during answers", results["answer_compiles"], "graphs", None, None),
             ("peak memory", results["peak_gb"], "GB", None, None)]
    for label, value, unit, of_limit, ratio in rows:
        print(f"{label:<44}{value:>12.3f}{unit:>8}" + (f"{of_limit:>10.3f}{ratio:>13.3f}" if ratio is not None else ""))
    if results["device"] == "CPU":
        print("graph recordings: 0 on CPU, where there are no CUDA graphs")


def dry_run(args) -> None:
    """The configuration and the prompt on the meta device: sizes and the limit, nothing allocated."""
    loaded = make_loaded(args.shape, torch.device("cpu"), meta=True)
    sizes = weight_bytes(loaded.model)
    from model.inputs.assemble import prepare_input

    prepared = prepare_input(loaded, request(loaded, args.decode_tokens, args.question_tokens))
    params = sum(p.numel() for p in loaded.model.parameters())
    prompt = int(prepared.input_ids.shape[1])
    cache = start_length(cache_lengths(int(loaded.model.config.text_config.max_position_embeddings), args.first_cache),
                         prompt, prompt + args.decode_tokens + 64)
    text = loaded.model.config.text_config
    kv_per_token = 2 * text.num_hidden_layers * text.num_key_value_heads * (text.hidden_size // text.num_attention_heads) * 2
    print(f"shape {args.shape} (dry run, meta device): {params / 1e9:.2f} B parameters; bf16 weights read per token "
          f"{sizes['decode'] * 2 / sizes_itemsize(loaded) / 1e9:.2f} GB; prompt {prepared.input_ids.shape[1]} tokens, "
          f"tiles {prepared.tiles_per_image}; the budgeted request starts in the {cache}-token static cache = "
          f"{cache * kv_per_token / 1e9:.2f} GB (bf16)")
    bandwidth = args.bandwidth_tbs * 1e12
    print(f"at {args.bandwidth_tbs} TB/s the limit is {bandwidth / (sizes['decode'] * 2 / sizes_itemsize(loaded)):.1f} "
          "tokens/s; the goal (60 %) is "
          f"{0.6 * bandwidth / (sizes['decode'] * 2 / sizes_itemsize(loaded)):.1f} tokens/s")


def sizes_itemsize(loaded: LoadedModel) -> int:
    return next(loaded.model.parameters()).element_size()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="r1v3-38b")
    parser.add_argument("--decode-tokens", type=int, default=512)
    parser.add_argument("--default-tokens", type=int, default=2000,
                        help="tokens of the default (no thinking limit) request; 0 leaves its rows out")
    parser.add_argument("--first-cache", type=int, default=4096, help="the smallest static cache size (tokens)")
    parser.add_argument("--question-tokens", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2, help="runs per decode path; the best one counts")
    parser.add_argument("--no-compile", action="store_true", help="fast path with the static cache alone")
    parser.add_argument("--dry-run", action="store_true", help="meta device only: sizes and the limit")
    parser.add_argument("--bandwidth-tbs", type=float, default=4.3, help="with --dry-run: the copy bandwidth assumed")
    parser.add_argument("--json", type=Path, help="also write the measurements to this file")
    args = parser.parse_args(argv)
    if args.dry_run:
        dry_run(args)
        return
    if args.shape != "tiny" and not torch.cuda.is_available():
        print(f"--shape {args.shape} needs a CUDA GPU (its bf16 weights alone are ~77 GB); "
              "without one, use --dry-run or --shape tiny.")
        return
    try:
        results = run(args)
    except FailedRun as failure:
        print(f"FAILED: {failure}", flush=True)
        raise SystemExit(1) from failure
    print_table(results, args.shape)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
