"""Build a tiny R1V-architecture checkpoint in exactly the official Skywork on-disk format.

- `build_tokenizer(corpus)`: a byte-level BPE (any text encodes) with R1V's special tokens:
  DeepSeek-R1 roles, `<think>`/`</think>`, `<img>`/`</img>`/`<IMG_CONTEXT>`, bos/eos/pad.
- `tiny_native_config(tokenizer)`: the native InternVLConfig of the tiny model (64 px tiles,
  16 px patches -> 4 image tokens per tile).
- `native_to_official(state_dict)`: native weight names -> the original ones, with the vision
  tower's q/k/v fused back into `qkv` (the inverse of what the loader does, written separately
  so that a round trip tests the loader).
- `save_official(model, tokenizer, folder)`: config.json with the official fields, several
  safetensors shards plus `model.safetensors.index.json`, tokenizer files.

`python -m model.tiny.build --out DIR` writes a randomly initialised checkpoint.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Iterable

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import InternVLConfig, InternVLForConditionalGeneration, PreTrainedTokenizerFast

BOS, EOS, PAD = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"
USER, ASSISTANT = "<｜User｜>", "<｜Assistant｜>"
THINK, END_THINK = "<think>", "</think>"
IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
ENDOFTEXT = "<|endoftext|>"
SPECIAL = [BOS, EOS, PAD, ENDOFTEXT, IMG_START, IMG_END, IMG_CONTEXT]
# As in DeepSeek-R1's tokenizer, roles and think tags are added tokens but not "special".
ADDED = [USER, ASSISTANT, THINK, END_THINK]

TILE, PATCH, MAX_TILES = 64, 16, 4
TEMPLATE_NAME = "deepseek_r1"


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 1024,
                    phrases: Iterable[str] = ()) -> PreTrainedTokenizerFast:
    """`phrases` become single (non-special) tokens, e.g. multi-word names the model must copy."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL + ADDED,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    core.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        additional_special_tokens=[IMG_START, IMG_END, IMG_CONTEXT, ENDOFTEXT],
    )
    tokenizer.add_tokens(ADDED + list(phrases), special_tokens=False)
    return tokenizer


def tiny_native_config(tokenizer: PreTrainedTokenizerFast, size: str = "small") -> InternVLConfig:
    vision_hidden, text_hidden, layers = (128, 192, 4) if size == "small" else (32, 48, 2)
    vision = dict(hidden_size=vision_hidden, num_hidden_layers=layers, num_attention_heads=4,
                  intermediate_size=vision_hidden * 2, image_size=[TILE, TILE],
                  patch_size=[PATCH, PATCH], use_qk_norm=True, attention_bias=False,
                  norm_type="rms_norm", layer_norm_eps=1e-6, use_mean_pooling=True)
    text = dict(model_type="qwen2", hidden_size=text_hidden, num_hidden_layers=layers,
                num_attention_heads=6, num_key_value_heads=2, intermediate_size=text_hidden * 8 // 3,
                vocab_size=len(tokenizer), max_position_embeddings=1024, rope_theta=10000.0,
                rms_norm_eps=1e-6, tie_word_embeddings=False,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id)
    return InternVLConfig(
        vision_config=vision, text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids(IMG_CONTEXT),
        image_seq_length=(TILE // PATCH) ** 2 // 4, downsample_ratio=0.5,
        vision_feature_layer=-1, vision_feature_select_strategy="default", tie_word_embeddings=False,
    )


def official_config(native: InternVLConfig) -> dict:
    """The official config.json fields (SkyworkChatConfig) for a native config."""
    v, t = native.vision_config, native.text_config
    return {
        "architectures": ["SkyworkChatModel"],
        "auto_map": {"AutoConfig": "configuration_skywork_chat.SkyworkChatConfig",
                     "AutoModel": "modeling_skywork_chat.SkyworkChatModel",
                     "AutoModelForCausalLM": "modeling_skywork_chat.SkyworkChatModel"},
        "model_type": "skywork_chat", "template": TEMPLATE_NAME, "torch_dtype": "bfloat16",
        "select_layer": -1, "force_image_size": v.image_size[0], "downsample_ratio": 0.5,
        "dynamic_image_size": True, "use_thumbnail": True, "ps_version": "v2",
        "min_dynamic_patch": 1, "max_dynamic_patch": MAX_TILES,
        "use_backbone_lora": 0, "use_llm_lora": 0, "tie_word_embeddings": False,
        "vision_config": {
            "architectures": ["InternVisionModel"], "model_type": "intern_vit_6b",
            "hidden_size": v.hidden_size, "num_hidden_layers": v.num_hidden_layers,
            "num_attention_heads": v.num_attention_heads, "intermediate_size": v.intermediate_size,
            "image_size": v.image_size[0], "patch_size": v.patch_size[0], "num_channels": 3,
            "qk_normalization": v.use_qk_norm, "qkv_bias": v.attention_bias,
            "norm_type": v.norm_type, "layer_norm_eps": v.layer_norm_eps, "hidden_act": "gelu",
            "use_flash_attn": False, "drop_path_rate": 0.0, "initializer_factor": 1.0,
        },
        "llm_config": {
            "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
            **{k: getattr(t, k) for k in (
                "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "vocab_size", "max_position_embeddings", "rms_norm_eps",
                "bos_token_id", "eos_token_id", "pad_token_id")},
            "rope_theta": t.rope_parameters.get("rope_theta", 10000.0) if getattr(t, "rope_parameters", None) else 10000.0,
            "hidden_act": "silu", "tie_word_embeddings": False, "use_sliding_window": False,
        },
    }


_NATIVE_TO_OFFICIAL = [
    (r"^lm_head\.", "language_model.lm_head."),
    (r"^model\.language_model\.", "language_model.model."),
    (r"^model\.multi_modal_projector\.layer_norm\.", "mlp1.0."),
    (r"^model\.multi_modal_projector\.linear_1\.", "mlp1.1."),
    (r"^model\.multi_modal_projector\.linear_2\.", "mlp1.3."),
    (r"^model\.vision_tower\.embeddings\.cls_token$", "vision_model.embeddings.class_embedding"),
    (r"^model\.vision_tower\.embeddings\.position_embeddings$", "vision_model.embeddings.position_embedding"),
    (r"^model\.vision_tower\.embeddings\.patch_embeddings\.projection\.", "vision_model.embeddings.patch_embedding."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.attention\.projection_layer\.", r"vision_model.encoder.layers.\1.attn.proj."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.attention\.(q_norm|k_norm)\.", r"vision_model.encoder.layers.\1.attn.\2."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.lambda_1$", r"vision_model.encoder.layers.\1.ls1"),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.lambda_2$", r"vision_model.encoder.layers.\1.ls2"),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.layernorm_before\.", r"vision_model.encoder.layers.\1.norm1."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.layernorm_after\.", r"vision_model.encoder.layers.\1.norm2."),
    (r"^model\.vision_tower\.encoder\.layer\.(\d+)\.mlp\.", r"vision_model.encoder.layers.\1.mlp."),
]
_QKV = re.compile(r"^model\.vision_tower\.encoder\.layer\.(\d+)\.attention\.([qkv])_proj\.(weight|bias)$")


def native_to_official(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    fused: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        qkv = _QKV.match(key)
        if qkv:
            fused.setdefault((qkv[1], qkv[3]), {})[qkv[2]] = tensor
            continue
        for pattern, replacement in _NATIVE_TO_OFFICIAL:
            new_key, hits = re.subn(pattern, replacement, key)
            if hits:
                out[new_key] = tensor
                break
        else:
            raise KeyError(f"no official name for {key}")
    for (layer, kind), parts in fused.items():
        out[f"vision_model.encoder.layers.{layer}.attn.qkv.{kind}"] = torch.cat([parts[c] for c in "qkv"])
    return out


def save_official(model: InternVLForConditionalGeneration, tokenizer: PreTrainedTokenizerFast,
                  folder: Path, shards: int = 3, dtype: torch.dtype = torch.bfloat16) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(dtype).contiguous() for k, v in native_to_official(model.state_dict()).items()}
    keys = sorted(state)
    weight_map: dict[str, str] = {}
    for index in range(shards):
        name = f"model-{index + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: state[k] for k in keys[index::shards]}
        save_file(part, str(folder / name), metadata={"format": "pt"})
        weight_map.update({k: name for k in part})
    total = sum(t.numel() * t.element_size() for t in state.values())
    index_doc = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index_doc, indent=2))
    (folder / "config.json").write_text(json.dumps(official_config(model.config), indent=2))
    tokenizer.save_pretrained(folder)
    return folder


def _default_corpus() -> list[str]:
    words = "How many red green blue yellow shapes circle square triangle are there ? The answer is"
    return [words, "0 1 2 3 4 5 6 7 8 9 + = .", "Let me look at the picture step by step."] * 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=["small", "micro"], default="micro")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    tokenizer = build_tokenizer(_default_corpus(), vocab_size=400)
    model = InternVLForConditionalGeneration(tiny_native_config(tokenizer, args.size))
    print(save_official(model, tokenizer, args.out))


if __name__ == "__main__":
    main()
