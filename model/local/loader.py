"""Find, download and load a checkpoint onto the right devices, reporting progress.

`load(spec, ...) -> LoadedModel` accepts an official-format or native-format folder or Hub id.
Hub downloads go through huggingface_hub (its progress bars, resumable, cached) and fetch only
weights, configs and tokenizer files: no Python file from the Hub is fetched or executed.
`progress(status)` is called with a `Status` per phase (its message is short and human-readable; its
key names it for pages in other languages) for the UI's status line.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from transformers import (AutoTokenizer, InternVLConfig, InternVLForConditionalGeneration, PreTrainedConfig,
                          PreTrainedTokenizerBase)

from model.local.checkpoint import (IMAGE_CONTEXT_TOKEN, CheckpointError, SkyworkR1VForConditionalGeneration,
                                    detect_layout, language_layer_count, official_device_map, translate_config)
from model.events import Status
from model.local.fastpath import attention_implementation
from model.registry import ModelSpec

log = logging.getLogger(__name__)
Progress = Callable[[Status], None]
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt", "*.jinja"]


@dataclass
class LoadedModel:
    spec: ModelSpec
    model: InternVLForConditionalGeneration
    tokenizer: PreTrainedTokenizerBase
    folder: Path
    layout: str  # "official" | "native"
    template: str  # "deepseek_r1" | "chatml"
    tile_size: int
    max_tiles: int
    use_thumbnail: bool
    tokens_per_tile: int
    device: torch.device

    @property
    def device_label(self) -> str:
        if self.device.type == "cuda":
            count = torch.cuda.device_count()
            name = torch.cuda.get_device_name(0)
            return f"{count}× {name}" if count > 1 else name
        return "CPU"


def fetch(source: str, progress: Progress) -> Path:
    """A local folder as it is, or a Hub snapshot (downloaded once into the HF cache)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    progress(Status(f"Downloading {source} (first run only; cached afterwards)…", "load.downloading",
                    {"source": source}))
    return Path(snapshot_download(source, allow_patterns=_HUB_PATTERNS))


def read_config(folder: Path) -> dict[str, Any]:
    config_file = folder / "config.json"
    if not config_file.is_file():
        found = sorted(p.name for p in folder.iterdir())[:12] if folder.is_dir() else []
        raise CheckpointError(f"No config.json in {folder}; found: {', '.join(found) or 'nothing'}.")
    return json.loads(config_file.read_text())


def load_tokenizer(folder: Path, raw: dict[str, Any], layout: str) -> PreTrainedTokenizerBase:
    """The tokenizer its tokenizer_config.json names. For the official layout an empty config is
    handed over: AutoTokenizer would otherwise read the skywork_chat config.json itself (and warn
    that it does not know it); a Qwen2 config would swap in another tokenizer class."""
    config = PreTrainedConfig() if layout == "official" else None
    return AutoTokenizer.from_pretrained(folder, config=config, trust_remote_code=False)


def guess_template(config: dict[str, Any], tokenizer: PreTrainedTokenizerBase) -> str:
    vocab = tokenizer.get_vocab()
    if "<｜User｜>" in vocab:
        return "deepseek_r1"
    if "<|im_start|>" in vocab:
        return "chatml"
    raise CheckpointError(
        f"Cannot tell the chat template of this checkpoint (template field: {config.get('template')!r}); "
        "its tokenizer has neither DeepSeek-R1 role tokens nor ChatML tokens."
    )


def pick_device_map(config, device: str) -> Any:
    if device != "cuda" or not torch.cuda.is_available():
        return None
    gpus = torch.cuda.device_count()
    return official_device_map(language_layer_count(config), gpus) if gpus > 1 else {"": 0}


def load(spec: ModelSpec, device: str = "auto", dtype: torch.dtype | None = None,
         quantization: str = "", progress: Progress = lambda message: None) -> LoadedModel:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = dtype or (torch.bfloat16 if device == "cuda" else torch.float32)
    folder = fetch(spec.source, progress)
    raw = read_config(folder)
    layout = detect_layout(raw)
    progress(Status(f"Loading {spec.name} ({layout} format) onto {device.upper()}…", "load.loading",
                    {"name": spec.name, "layout": layout, "device": device.upper()}))
    tokenizer = load_tokenizer(folder, raw, layout)
    image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_CONTEXT_TOKEN)
    if layout == "official":
        config, cls = translate_config(raw, image_token_id), SkyworkR1VForConditionalGeneration
    else:
        config, cls = InternVLConfig.from_pretrained(folder), InternVLForConditionalGeneration
    model = _from_pretrained(cls, folder, config, device, dtype=dtype, device_map=pick_device_map(config, device),
                             **_quantization_kwargs(quantization, device))
    if device != "cuda":
        model.to(device)
    template = spec.template if spec.template != "auto" else guess_template(raw, tokenizer)
    return _describe(spec, model, tokenizer, folder, layout, template, raw)


def _from_pretrained(cls, folder: Path, config, device: str, **kwargs: Any):
    """bf16 on CUDA (the caller's dtype), attention as `attention_implementation` picks; should
    flash-attn be installed but refuse this model, sdpa instead."""
    attention = attention_implementation(device)
    try:
        return cls.from_pretrained(folder, config=config, attn_implementation=attention, **kwargs).eval()
    except (ImportError, ValueError) as error:
        if attention == "sdpa":
            raise
        log.warning("attention %s unavailable (%s); using sdpa", attention, error)
        return cls.from_pretrained(folder, config=config, attn_implementation="sdpa", **kwargs).eval()


def _quantization_kwargs(quantization: str, device: str) -> dict[str, Any]:
    if not quantization:
        return {}
    if device != "cuda":
        raise CheckpointError(f"--quantization {quantization} needs a CUDA GPU (bitsandbytes).")
    from transformers import BitsAndBytesConfig

    if quantization == "4bit":
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16,
                                    bnb_4bit_quant_type="nf4", llm_int8_skip_modules=UNQUANTIZED_MODULES)
    elif quantization == "8bit":
        config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=UNQUANTIZED_MODULES)
    else:
        raise CheckpointError(f"--quantization must be 4bit or 8bit; got {quantization!r}.")
    return {"quantization_config": config}


# The vision tower and projector stay in bf16, as in the official AWQ builds.
UNQUANTIZED_MODULES = ["vision_tower", "multi_modal_projector", "lm_head"]


def _describe(spec, model, tokenizer, folder, layout, template, raw) -> LoadedModel:
    vision = model.config.vision_config
    tile = int(vision.image_size[0])
    tokens_per_tile = int((tile // vision.patch_size[0]) ** 2 * model.config.downsample_ratio**2)
    # Skywork's inference scripts tile with max_num=12 whatever the config says; the config's
    # max_dynamic_patch is the training setting. The person's slider decides per request.
    max_tiles = spec.max_tiles
    return LoadedModel(
        spec=spec, model=model, tokenizer=tokenizer, folder=folder, layout=layout, template=template,
        tile_size=tile, max_tiles=max_tiles, use_thumbnail=bool(raw.get("use_thumbnail", layout == "native")),
        tokens_per_tile=tokens_per_tile, device=next(model.parameters()).device,
    )
