"""Official Skywork R1V checkpoints -> transformers' native InternVL classes, no remote code.

Contract:
- `detect_layout(config)` says "official" (`model_type: skywork_chat`, `llm_config`) or "native"
  (`model_type: internvl`); anything else raises `CheckpointError` naming what was found.
- `translate_config(official, tokenizer)` reads config.json as data and returns an
  `InternVLConfig` (vision tower, projector, Qwen2 language model, image-token id).
- `SkyworkR1VForConditionalGeneration` is the native `InternVLForConditionalGeneration` with one
  addition: a weight-conversion mapping registered under its class name, so transformers renames
  the original weights and splits the vision tower's fused qkv *while* it streams each shard:
  no converted copy on disk, no full copy in CPU memory.
- `official_device_map(num_layers, num_gpus)` is the official multi-GPU split as a pure function.
"""
from __future__ import annotations

import math
from typing import Any

from transformers import InternVLConfig, InternVLForConditionalGeneration
from transformers.conversion_mapping import register_checkpoint_conversion_mapping
from transformers.core_model_loading import Chunk, WeightConverter, WeightRenaming

OFFICIAL_MODEL_TYPE = "skywork_chat"
NATIVE_MODEL_TYPE = "internvl"
IMAGE_CONTEXT_TOKEN = "<IMG_CONTEXT>"

# Fields of the official vision config that have no native counterpart (and no effect here).
_VISION_DROPPED = {"architectures", "auto_map", "use_flash_attn", "drop_path_rate", "model_type",
                   "initializer_factor", "_name_or_path", "transformers_version", "torch_dtype",
                   "dtype", "qk_normalization", "qkv_bias", "image_size", "patch_size",
                   "layer_norm_eps", "norm_type", "hidden_act", "num_channels", "attention_dropout",
                   "dropout", "output_attentions", "output_hidden_states", "return_dict"}


class CheckpointError(ValueError):
    """The folder or config is not a checkpoint this loader understands."""


def detect_layout(config: dict[str, Any]) -> str:
    model_type = config.get("model_type")
    if model_type == OFFICIAL_MODEL_TYPE or "llm_config" in config:
        return "official"
    if model_type == NATIVE_MODEL_TYPE:
        return "native"
    arch = config.get("architectures") or []
    raise CheckpointError(
        f"Unknown checkpoint layout: model_type={model_type!r}, architectures={arch}. "
        f"Expected the official Skywork format (model_type '{OFFICIAL_MODEL_TYPE}' with "
        f"'llm_config' and 'vision_config') or native transformers InternVL ('{NATIVE_MODEL_TYPE}')."
    )


def _check_supported(config: dict[str, Any]) -> None:
    # The original SkyworkChatConfig defaults ps_version to "v1" when the field is absent.
    if config.get("ps_version", "v1") != "v2":
        raise CheckpointError(
            f"ps_version {config.get('ps_version', 'v1 (absent)')!r} is not supported: only 'v2' pixel shuffle "
            "matches the native InternVL classes (a 'v1' checkpoint orders image tokens differently)."
        )
    if config.get("use_backbone_lora") or config.get("use_llm_lora"):
        raise CheckpointError("LoRA-wrapped checkpoints are not supported; merge the LoRA weights first.")
    if config["llm_config"].get("model_type", "qwen2") != "qwen2":
        raise CheckpointError(f"Language model {config['llm_config'].get('model_type')!r} is not Qwen2.")


def _vision_config(official: dict[str, Any]) -> dict[str, Any]:
    vision = official["vision_config"]
    size = int(official.get("force_image_size") or vision["image_size"])
    patch = int(vision["patch_size"])
    extra = {k: v for k, v in vision.items() if k not in _VISION_DROPPED}
    return {
        **extra,
        "image_size": [size, size],
        "patch_size": [patch, patch],
        "use_qk_norm": bool(vision.get("qk_normalization", False)),
        "attention_bias": bool(vision.get("qkv_bias", True)),
        "norm_type": vision.get("norm_type", "rms_norm"),  # InternViT's default, not native's
        "layer_norm_eps": float(vision.get("layer_norm_eps", 1e-6)),
        "hidden_act": vision.get("hidden_act", "gelu"),
        "use_absolute_position_embeddings": True,
        "use_mean_pooling": True,  # InternViT has no final norm; pooling output is unused
    }


def translate_config(official: dict[str, Any], image_token_id: int) -> InternVLConfig:
    """Official config.json (as a dict) -> native InternVLConfig."""
    _check_supported(official)
    vision = _vision_config(official)
    text = {k: v for k, v in official["llm_config"].items() if k not in ("architectures", "auto_map")}
    text["model_type"] = "qwen2"
    text["tie_word_embeddings"] = False
    patches_per_side = vision["image_size"][0] // vision["patch_size"][0]
    downsample = float(official.get("downsample_ratio", 0.5))
    config = InternVLConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=image_token_id,
        image_seq_length=int(patches_per_side**2 * downsample**2),
        downsample_ratio=downsample,
        vision_feature_layer=int(official.get("select_layer", -1)),
        vision_feature_select_strategy="default",
        tie_word_embeddings=False,  # must be top-level too, or lm_head is tied silently
    )
    quantization = _quantization_config(official)
    if quantization:
        config.quantization_config = quantization
    return config


def _quantization_config(official: dict[str, Any]) -> dict[str, Any] | None:
    """AWQ builds quantize the language model only: keep vision tower and projector in 16-bit."""
    found = official.get("quantization_config") or official["llm_config"].get("quantization_config")
    if not found:
        return None
    keep = list(found.get("modules_to_not_convert") or [])
    return {**found, "modules_to_not_convert": keep + ["vision_tower", "multi_modal_projector", "lm_head"]}


def official_weight_conversions() -> list[WeightRenaming | WeightConverter]:
    """Original Skywork/InternVL weight names -> native InternVL names (applied per shard).

    transformers applies every matching renaming in order, then at most one converter."""
    renamings = [
        (r"^language_model\.lm_head\.", "lm_head."),
        (r"^language_model\.model\.", "model.language_model."),
        (r"^mlp1\.0\.", "model.multi_modal_projector.layer_norm."),
        (r"^mlp1\.1\.", "model.multi_modal_projector.linear_1."),
        (r"^mlp1\.3\.", "model.multi_modal_projector.linear_2."),
        (r"^vision_model\.embeddings\.class_embedding$", "model.vision_tower.embeddings.cls_token"),
        (r"^vision_model\.embeddings\.position_embedding$",
         "model.vision_tower.embeddings.position_embeddings"),
        (r"^vision_model\.embeddings\.patch_embedding\.",
         "model.vision_tower.embeddings.patch_embeddings.projection."),
        (r"^vision_model\.encoder\.layers\.", "model.vision_tower.encoder.layer."),
        (r"\.attn\.proj\.", ".attention.projection_layer."),
        (r"\.attn\.q_norm\.", ".attention.q_norm."),
        (r"\.attn\.k_norm\.", ".attention.k_norm."),
        (r"\.ls1$", ".lambda_1"),
        (r"\.ls2$", ".lambda_2"),
        (r"\.norm1\.", ".layernorm_before."),
        (r"\.norm2\.", ".layernorm_after."),
    ]
    fused_qkv = WeightConverter(
        "attn.qkv", ["attention.q_proj", "attention.k_proj", "attention.v_proj"],
        operations=[Chunk(dim=0)],  # rows [0:D], [D:2D], [2D:3D]
    )
    return [WeightRenaming(source, target) for source, target in renamings] + [fused_qkv]


class SkyworkR1VForConditionalGeneration(InternVLForConditionalGeneration):
    """Native InternVL, loading official Skywork weight names (see module docstring)."""


register_checkpoint_conversion_mapping(
    SkyworkR1VForConditionalGeneration.__name__, official_weight_conversions(), overwrite=True
)


def language_layer_count(config: InternVLConfig) -> int:
    return int(config.text_config.num_hidden_layers)


def official_device_map(num_layers: int, num_gpus: int) -> dict[str, int]:
    """The official split: GPU 0 counts as half a GPU for LLM layers and also holds the vision
    tower, projector, embeddings, final norm, lm_head and the last LLM layer."""
    if num_gpus < 1:
        raise ValueError("num_gpus must be at least 1")
    shared = {
        "model.vision_tower": 0, "model.multi_modal_projector": 0,
        "model.language_model.embed_tokens": 0, "model.language_model.norm": 0,
        "model.language_model.rotary_emb": 0, "lm_head": 0,
    }
    if num_gpus == 1:
        return {**shared, "model.language_model.layers": 0}
    per_gpu = math.ceil(num_layers / (num_gpus - 0.5))
    counts = [math.ceil(per_gpu * 0.5)] + [per_gpu] * (num_gpus - 1)
    placement: dict[str, int] = {}
    layer = 0
    for gpu, count in enumerate(counts):
        for _ in range(count):
            if layer < num_layers:
                placement[f"model.language_model.layers.{layer}"] = gpu
                layer += 1
    placement[f"model.language_model.layers.{num_layers - 1}"] = 0
    return {**shared, **placement}
