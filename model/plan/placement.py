"""A plan before the download: where each part of a model would go on these GPUs, and whether it fits.

Contract:
- `plan(facts, gpus, quantization="", context_tokens=PLAN_CONTEXT) -> Plan` is a pure function of the
  checkpoint's config and tokenizer facts (`ModelFacts`) and the GPUs (`Gpu`, free bytes each); it
  reads no file and touches no GPU. The model is built on PyTorch's meta device from its config;
  bytes per module come from transformers' `compute_module_sizes`, placement from
  `official_device_map` (what `model.local.loader.load` uses), so the plan is what loading would do
  (bytes per way of loading: model/plan/sizes.py).
- Every way of loading it is sized: bf16, bitsandbytes 8-bit and 4-bit (`--quantization`), and the
  registry's AWQ build. A GPU fits when weights + KV cache at the planned context + activations of
  one prefill + a fixed reserve are within its free memory (see the constants below). On GPUs the
  fast path also keeps the smaller static caches of model/local/cache_ladder.py allocated, those that fit
  in what is left (`fit_ladder`, the rule the fast path uses): they are counted too (`ladder_bytes`),
  and `Fit.cache_lengths` lists the sizes kept.
- `Plan.refusal` is "" when the chosen way fits; otherwise a plain message naming what it needs and
  what would fit. A layout that will not load (unknown format, ps_version v1, LoRA, a tokenizer that lacks
  its template's tokens or the image token, ids past the vocabulary) is refused the same way, before sizing.
- `model.plan.text.plan_table(plan)` is the text `python app.py --plan` prints; model/plan/text.py's `fit_table` is
  the Markdown summary the README shows (tests check that the README holds exactly that).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from transformers import InternVLConfig

from model.local.cache_ladder import cache_lengths, fit_ladder
from model.local.checkpoint import CheckpointError, detect_layout, official_device_map, translate_config
from model.plan.sizes import (BF16, FP32, INT8, NF4, Scheme, awq_scheme, config_key, meta_model, module_bytes,
                              stored_scheme)
from model.inputs.prompt import IMG_CONTEXT, TEMPLATES

GIB = 2**30
PLAN_CONTEXT = 32_768  # tokens of KV cache planned for: a 13-tile image, a question, ~29k of thinking and answer
PLAN_PREFILL = 8_192  # tokens prefilled at once: two 13-tile images and a question
RESERVE_BYTES = GIB  # per GPU: cuBLAS workspaces and allocator fragmentation
CPU_MAX_PARAMETERS = 1_000_000_000  # past this a CPU answers far below a token per second
MAX_TILES_PER_IMAGE = 13  # 12 tiles and the thumbnail: what the vision tower sees at once


@dataclass(frozen=True)
class Gpu:
    index: int
    free_bytes: int
    name: str = ""


@dataclass(frozen=True)
class TokenizerFacts:
    template: str = ""  # "deepseek_r1" | "chatml"; "" when it cannot be told
    template_source: str = ""  # "registry" | "guessed from the tokenizer"
    tokens: dict[str, tuple[int, ...]] = field(default_factory=dict)  # token text -> ids (several: split)
    size: int = 0  # len(tokenizer): every id is below it
    chat_template: bool = False  # the tokenizer carries a Jinja chat template
    problem: str = ""  # why the tokenizer could not be read


@dataclass(frozen=True)
class WeightFiles:
    files: tuple[tuple[str, int], ...]  # (file name, bytes) of the weight shards
    source: str  # "Hub file metadata" | "local files"

    @property
    def total(self) -> int:
        return sum(size for _, size in self.files)


@dataclass(frozen=True)
class ModelFacts:
    name: str
    source: str
    config: dict[str, Any]  # config.json as read
    tokenizer: TokenizerFacts
    weights: WeightFiles | None = None  # None: unknown, estimated from the parameters
    awq_build: str = ""  # the registry's AWQ build of this model, when it has one


@dataclass
class GpuLoad:
    device: str  # "GPU 0" | "CPU"
    free_bytes: int | None  # None on the CPU (not checked)
    modules: list[str]
    weight_bytes: int
    layers: int  # language-model layers here: their KV cache lives here too
    kv_bytes: int
    activation_bytes: int
    reserve_bytes: int
    ladder_bytes: int = 0  # the smaller static caches kept beside the context's (kept only where they fit)

    @property
    def required(self) -> int:
        return self.weight_bytes + self.kv_bytes + self.activation_bytes + self.reserve_bytes

    @property
    def total(self) -> int:
        return self.required + self.ladder_bytes

    @property
    def fits(self) -> bool:
        return self.free_bytes is None or self.total <= self.free_bytes


@dataclass
class Fit:
    scheme: Scheme
    how: str  # how to get it: "(as it is)", "--quantization 8bit", "--model r1v3-38b-awq"
    loads: list[GpuLoad]
    longest_context: int  # tokens of KV cache that still fit (0: not even the weights)
    cache_lengths: list[int] = field(default_factory=list)  # static cache sizes kept (GPUs only)

    @property
    def weight_bytes(self) -> int:
        return sum(load.weight_bytes for load in self.loads)

    @property
    def fits(self) -> bool:
        return all(load.fits for load in self.loads)

    @property
    def busiest(self) -> GpuLoad:
        return max(self.loads, key=lambda load: load.total / (load.free_bytes or 1))


@dataclass
class Plan:
    facts: ModelFacts
    gpus: list[Gpu]
    layout: str = ""
    parameters: int = 0
    buffer_bytes: int = 0
    context_length: int = 0
    context_tokens: int = 0
    kv_bytes_per_token: int = 0
    fits: list[Fit] = field(default_factory=list)
    chosen: Fit | None = None
    refusal: str = ""
    stored_bytes: int = 0  # the weights as the checkpoint stores them (bf16 or AWQ), from the config

    @property
    def download_bytes(self) -> int:
        """The weight files' size when known (Hub metadata, local files), else `stored_bytes`."""
        return self.facts.weights.total if self.facts.weights is not None else self.stored_bytes


def plan(facts: ModelFacts, gpus: Sequence[Gpu], quantization: str = "",
         context_tokens: int = PLAN_CONTEXT) -> Plan:
    result = Plan(facts, list(gpus))
    try:
        config = _native_config(facts, result)
    except CheckpointError as error:
        result.refusal = str(error)
        return result
    text = config.text_config
    result.context_length = int(text.max_position_embeddings)
    result.context_tokens = min(context_tokens, result.context_length)
    result.kv_bytes_per_token = kv_bytes_per_token(config)
    model = meta_model(config_key(config))
    result.parameters = sum(p.numel() for p in model.parameters())
    result.buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    result.stored_bytes = round(module_bytes(config, stored_scheme(config))[""])
    try:
        result.fits = [_fit(result, config, scheme, how) for scheme, how in _schemes(facts, config, result.gpus)]
    except CheckpointError as error:
        result.refusal = str(error)
        return result
    result.chosen = _choose(result, config, quantization)
    result.refusal = _refusal(result, config, quantization)
    return result


def _native_config(facts: ModelFacts, result: Plan) -> InternVLConfig:
    """The native config, or CheckpointError for a layout or tokenizer that will not load."""
    result.layout = detect_layout(facts.config)
    tokenizer = facts.tokenizer
    if tokenizer.problem:
        raise CheckpointError(f"The tokenizer could not be read: {tokenizer.problem}")
    if not tokenizer.template:
        raise CheckpointError("Cannot tell the chat template of this checkpoint: its tokenizer has neither "
                              "DeepSeek-R1 role tokens nor ChatML tokens.")
    for token in template_tokens(tokenizer.template):
        if len(tokenizer.tokens.get(token, ())) != 1:
            raise CheckpointError(f"The tokenizer does not hold {token} as one token, which the "
                                  f"{tokenizer.template} template needs: it is not this model's template.")
    image = tokenizer.tokens.get(IMG_CONTEXT, ())
    if len(image) != 1:
        raise CheckpointError(f"The tokenizer has no single {IMG_CONTEXT} token (found ids {list(image)}): "
                              "images could not be placed in the prompt.")
    if result.layout == "official":
        config = translate_config(facts.config, image[0])
    else:
        config = InternVLConfig.from_dict(facts.config)
    vocab = int(config.text_config.vocab_size)
    if tokenizer.size > vocab:
        raise CheckpointError(f"The tokenizer has {tokenizer.size:,} tokens but the model's vocabulary only "
                              f"{vocab:,}: ids past it would fail inside the model.")
    return config


def template_tokens(template: str) -> list[str]:
    """The added tokens a chat template is made of: `<|im_start|>`, `<｜User｜>`..."""
    parts = TEMPLATES.get(template)
    text = "".join([parts.begin, parts.system, parts.user, parts.user_end, parts.assistant, parts.assistant_end]
                   if parts else [])
    return list(dict.fromkeys(re.findall(r"<[^<>\s{}]+>", text)))


def kv_bytes_per_token(config: InternVLConfig) -> int:
    """Keys and values of every layer for one token, in bf16."""
    text = config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return 2 * int(text.num_hidden_layers) * int(text.num_key_value_heads) * int(head_dim) * 2


def activation_bytes(config: InternVLConfig, prefill_tokens: int) -> tuple[int, int]:
    """(vision tower, language model) peak activations of one prefill, in bf16: the MLP's widest
    tensors (gate, up and their product for Qwen2; fc1 and its GELU for InternViT) plus a few hidden-size
    copies. An estimate, not a measurement."""
    vision, text = config.vision_config, config.text_config
    vision_tokens = MAX_TILES_PER_IMAGE * ((vision.image_size[0] // vision.patch_size[0]) ** 2 + 1)
    vision_bytes = vision_tokens * (2 * vision.intermediate_size + 4 * vision.hidden_size) * 2
    text_bytes = prefill_tokens * (3 * text.intermediate_size + 4 * text.hidden_size) * 2
    return int(vision_bytes), int(text_bytes)


def _schemes(facts: ModelFacts, config: InternVLConfig, gpus: list[Gpu]) -> list[tuple[Scheme, str]]:
    quantization = getattr(config, "quantization_config", None)
    if not gpus:  # the loader runs a CPU in float32; quantized weights need CUDA
        return [] if quantization else [(FP32, "(as it is, on the CPU)")]
    if quantization:
        if quantization.get("quant_method") != "awq":
            return []
        return [(awq_scheme(quantization), "(as it is)")]
    found = [(BF16, "(as it is)"), (INT8, "--quantization 8bit"), (NF4, "--quantization 4bit")]
    if facts.awq_build:
        found.append((awq_scheme({}), f"--model {facts.awq_build}"))
    return found


def placement(num_layers: int, num_gpus: int) -> dict[str, int]:
    """Module -> GPU as `model.local.loader.load` places it (one GPU, or the CPU, holds everything).

    Not accelerate's `infer_auto_device_map`: it fills GPUs greedily by free memory (not the official
    split the loader uses) and drops GPU ids this machine lacks (everything lands on one device)."""
    return official_device_map(num_layers, max(1, num_gpus))


def _fit(result: Plan, config: InternVLConfig, scheme: Scheme, how: str) -> Fit:
    sizes = module_bytes(config, scheme)
    num_layers = int(config.text_config.num_hidden_layers)
    devices: list[Gpu | None] = list(result.gpus) or [None]
    groups: list[list[str]] = [[] for _ in devices]
    for module, device in placement(num_layers, len(result.gpus)).items():
        groups[device].append(module)
    placed = sum(sizes.get(module, 0) for modules in groups for module in modules)
    if round(placed) != round(sizes[""]):
        raise CheckpointError(f"The device map leaves {(sizes[''] - placed) / GIB:.2f} GiB of weights unplaced: "
                              "this checkpoint has parts the official layout does not know.")
    vision, text = activation_bytes(config, min(PLAN_PREFILL, result.context_tokens))
    per_layer_token = result.kv_bytes_per_token // num_layers
    loads = [_load(gpu, modules, sizes, num_layers, per_layer_token * result.context_tokens, vision, text)
             for gpu, modules in zip(devices, groups)]
    kept = _kept_caches(loads, per_layer_token, result.context_tokens) if result.gpus else []
    for load in loads:
        load.ladder_bytes = load.layers * per_layer_token * (sum(kept) - result.context_tokens if kept else 0)
    return Fit(scheme, how, loads, _longest_context(loads, per_layer_token, result.context_length), kept)


def _kept_caches(loads: list[GpuLoad], per_layer_token: int, context_tokens: int) -> list[int]:
    """The static cache sizes the fast path keeps: the context's, and the smaller ones the room left
    on every GPU holds."""
    room = min((max(0, load.free_bytes - load.required) // (load.layers * per_layer_token)
                for load in loads if load.free_bytes is not None and load.layers), default=0)
    return fit_ladder(cache_lengths(context_tokens), room + context_tokens)


def _load(gpu: Gpu | None, modules: list[str], sizes: dict[str, float], num_layers: int, kv_per_layer: int,
          vision: int, text: int) -> GpuLoad:
    layers = sum(num_layers if module.endswith(".layers") else 1 for module in modules if ".layers" in module)
    holds_vision = "model.vision_tower" in modules
    return GpuLoad(
        device=f"GPU {gpu.index}" if gpu else "CPU", free_bytes=gpu.free_bytes if gpu else None, modules=modules,
        weight_bytes=round(sum(sizes.get(module, 0) for module in modules)), layers=layers,
        kv_bytes=layers * kv_per_layer, activation_bytes=max(vision if holds_vision else 0, text if layers else 0),
        reserve_bytes=RESERVE_BYTES if gpu else 0,
    )


def _longest_context(loads: list[GpuLoad], per_layer_token: int, context_length: int) -> int:
    """Tokens of KV cache every GPU still has room for, up to the model's context length."""
    longest = context_length
    for load in loads:
        if load.free_bytes is None or not load.layers:
            continue
        room = load.free_bytes - load.weight_bytes - load.activation_bytes - load.reserve_bytes
        longest = min(longest, max(0, room // (load.layers * per_layer_token)))
    return int(longest)


def _choose(result: Plan, config: InternVLConfig, quantization: str) -> Fit | None:
    if not result.fits:
        return None
    if getattr(config, "quantization_config", None) or not result.gpus:
        return result.fits[0]
    wanted = quantization or "bf16"
    return next((fit for fit in result.fits if fit.scheme.key == wanted), None)


def _refusal(result: Plan, config: InternVLConfig, quantization: str) -> str:
    """"" when the chosen way fits; else what it needs and what would fit here."""
    name = result.facts.name
    if not result.gpus and result.parameters > CPU_MAX_PARAMETERS:
        return (f"{name} needs a CUDA GPU: none was found, and {result.parameters / 1e9:.1f}B parameters are far "
                f"too many for a CPU (at most {CPU_MAX_PARAMETERS / 1e9:.0f}B here). {_need(result, config)} "
                "Or answer through a model server (--backend openai --endpoint URL).")
    if quantization and not result.gpus:
        return f"--quantization {quantization} needs a CUDA GPU (bitsandbytes); none was found."
    quantized = getattr(config, "quantization_config", None)
    if result.chosen is None and quantized and quantized.get("quant_method") != "awq":
        return f"{name} is quantized with {quantized.get('quant_method')!r}; only AWQ builds are supported."
    if result.chosen is None:
        return f"{name} cannot be loaded {_how(quantization)} here: quantized weights need a CUDA GPU."
    if result.chosen.fits:
        return ""
    busiest = result.chosen.busiest
    others = [f"{fit.scheme.label} ({fit.how})" for fit in result.fits if fit.fits]
    return (f"{name} does not fit {_how(quantization)} at {result.context_tokens:,} tokens of context: "
            f"{busiest.device} would need {busiest.total / GIB:.1f} GiB and has {busiest.free_bytes / GIB:.1f} GiB "
            f"free. " + (f"It would fit as {', '.join(others)}." if others else "No way of loading it fits here."))


def _how(quantization: str) -> str:
    return f"with --quantization {quantization}" if quantization else "as it is"


def _need(result: Plan, config: InternVLConfig) -> str:
    """What one GPU would need, in bf16 and AWQ (from a plan over one GPU with unbounded memory)."""
    roomy = plan(result.facts, [Gpu(0, 2**62)], context_tokens=result.context_tokens)
    needs = [f"{fit.loads[0].required / GIB:.1f} GiB in {fit.scheme.label}"
             + (f" ({fit.how})" if fit.how.startswith("--model") else "")
             for fit in roomy.fits if fit.scheme.key in ("bf16", "awq")]
    return f"On one GPU it needs {' or '.join(needs)} at {result.context_tokens:,} tokens of context." if needs else ""

