"""The official format -> native InternVL: round trip, full-size config on the meta device,
weight-name coverage, the multi-GPU split, and refusals of unknown layouts."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import InternVLForConditionalGeneration
from transformers.core_model_loading import WeightConverter, WeightRenaming, rename_source_key

from model.local.checkpoint import (CheckpointError, detect_layout, official_device_map,
                                    official_weight_conversions, translate_config)
from model.local.loader import load, read_config
from model.registry import ModelSpec, resolve
from model.tiny.build import (_default_corpus, build_tokenizer, native_to_official, save_official,
                              tiny_native_config)
from tests.helpers import tiny_folder, tiny_loaded, tiny_tokenizer  # noqa: F401 (fixtures)

R1V_38B = {  # Skywork-R1V-38B's config.json sizes (InternViT-6B + DeepSeek-R1-Distill-Qwen-32B)
    "model_type": "skywork_chat", "architectures": ["SkyworkR1VChatModel"], "template": "r1v",
    "select_layer": -1, "force_image_size": 448, "downsample_ratio": 0.5, "ps_version": "v2",
    "dynamic_image_size": True, "use_thumbnail": True, "max_dynamic_patch": 12, "min_dynamic_patch": 1,
    "use_backbone_lora": 0, "use_llm_lora": 0,
    "vision_config": {"architectures": ["InternVisionModel"], "hidden_size": 3200, "num_hidden_layers": 45,
                      "num_attention_heads": 25, "intermediate_size": 12800, "image_size": 448,
                      "patch_size": 14, "qk_normalization": True, "qkv_bias": False,
                      "layer_norm_eps": 1e-6, "use_flash_attn": True, "drop_path_rate": 0.0,
                      "attention_probs_dropout_prob": 0.0},
    "llm_config": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 5120,
                   "num_hidden_layers": 64, "num_attention_heads": 40, "num_key_value_heads": 8,
                   "intermediate_size": 27648, "vocab_size": 152064, "rope_theta": 1000000.0,
                   "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "bos_token_id": 151643,
                   "eos_token_id": 151643, "tie_word_embeddings": False, "use_sliding_window": False},
}


@pytest.fixture(scope="module")
def meta_38b():
    config = translate_config(R1V_38B, image_token_id=151667)
    with torch.device("meta"):
        return InternVLForConditionalGeneration(config)


def test_round_trip_gives_identical_logits(tmp_path):
    torch.manual_seed(1)
    tokenizer = build_tokenizer(_default_corpus(), vocab_size=400)
    native = InternVLForConditionalGeneration(tiny_native_config(tokenizer, "micro")).eval()
    with torch.no_grad():  # move every weight away from its initial value (norms, scales too)
        for parameter in native.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    save_official(native, tokenizer, tmp_path, shards=3, dtype=torch.float32)
    assert len(list(tmp_path.glob("model-*.safetensors"))) == 3
    assert "qkv" in (tmp_path / "model.safetensors.index.json").read_text()
    loaded = load(ModelSpec("t", str(tmp_path), "deepseek_r1", ()), device="cpu")
    ids = torch.tensor([[1, 5] + [native.config.image_token_id] * 8 + [7, 9]])
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = native(input_ids=ids, pixel_values=pixels).logits
        got = loaded.model(input_ids=ids, pixel_values=pixels).logits
    assert loaded.layout == "official"
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)  # same fp32 weights, same kernels


def test_bundled_checkpoint_is_in_official_format(tiny_folder):
    raw = read_config(tiny_folder)
    assert detect_layout(raw) == "official"
    assert {"vision_config", "llm_config", "force_image_size", "ps_version", "template"} <= raw.keys()
    index = json.loads((tiny_folder / "model.safetensors.index.json").read_text())
    names = set(index["weight_map"])
    assert any(name.endswith("attn.qkv.weight") for name in names)
    assert any(name.startswith("mlp1.1.") for name in names)
    assert len(set(index["weight_map"].values())) > 1  # sharded, like the real repos


def test_full_size_config_translation(meta_38b):
    config = meta_38b.config
    params = sum(p.numel() for p in meta_38b.parameters())
    assert 38.0e9 < params < 38.8e9
    assert config.image_seq_length == 256
    assert config.vision_config.norm_type == "rms_norm"  # absent in the official config
    assert config.vision_config.use_qk_norm and not config.vision_config.attention_bias
    assert meta_38b.lm_head.weight is not meta_38b.model.language_model.embed_tokens.weight
    assert meta_38b.model.multi_modal_projector.linear_1.in_features == 3200 * 4


def _forward_rename(key: str) -> list[str]:
    conversions = official_weight_conversions()
    renamings = [c for c in conversions if isinstance(c, WeightRenaming)]
    converters = [c for c in conversions if isinstance(c, WeightConverter)]
    renamed, matched = rename_source_key(key, renamings, converters)
    if matched is None:
        return [renamed]
    return [renamed.replace("q_proj", part) for part in ("q_proj", "k_proj", "v_proj")]


def test_every_official_weight_name_maps_onto_the_native_model(meta_38b):
    native_names = set(meta_38b.state_dict())
    official_names = native_to_official(meta_38b.state_dict())
    assert any(".attn.qkv." in name for name in official_names)
    mapped = {target for name in official_names for target in _forward_rename(name)}
    assert mapped == native_names


@pytest.mark.parametrize("gpus", [1, 2, 4, 8])
def test_official_device_map_places_every_module(meta_38b, gpus):
    placement = official_device_map(64, gpus)
    for name in meta_38b.state_dict():
        owners = [prefix for prefix in placement if name == prefix or name.startswith(prefix + ".")]
        assert owners, name
        assert 0 <= placement[max(owners, key=len)] < gpus
    for first_gpu_module in ("model.vision_tower", "model.multi_modal_projector", "lm_head",
                             "model.language_model.embed_tokens", "model.language_model.norm"):
        assert placement[first_gpu_module] == 0
    if gpus > 1:
        layers = [placement[f"model.language_model.layers.{i}"] for i in range(64)]
        assert set(layers) == set(range(gpus))
        assert placement["model.language_model.layers.63"] == 0
        assert layers.count(0) < layers.count(1)  # GPU 0 counts as half a GPU


@pytest.mark.parametrize("config,message", [
    ({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}, "model_type='llama'"),
    ({"architectures": ["Foo"]}, "Unknown checkpoint layout"),
])
def test_unknown_layout_is_refused_with_what_was_found(config, message):
    with pytest.raises(CheckpointError, match=message):
        detect_layout(config)


def test_v1_pixel_shuffle_and_lora_are_refused():
    with pytest.raises(CheckpointError, match="ps_version"):
        translate_config({**R1V_38B, "ps_version": "v1"}, 1)
    with pytest.raises(CheckpointError, match="ps_version"):
        translate_config({k: v for k, v in R1V_38B.items() if k != "ps_version"}, 1)
    with pytest.raises(CheckpointError, match="LoRA"):
        translate_config({**R1V_38B, "use_llm_lora": 16}, 1)


def test_folder_without_config_names_what_it_found(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="weights.bin"):
        read_config(tmp_path)


def test_native_folder_loads_too(tiny_loaded, tmp_path):
    tiny_loaded.model.save_pretrained(tmp_path)
    tiny_loaded.tokenizer.save_pretrained(tmp_path)
    native = load(ModelSpec("n", str(tmp_path), "auto", ()), device="cpu")
    assert native.layout == "native" and native.template == "deepseek_r1"
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(native.model(input_ids=ids).logits, tiny_loaded.model(input_ids=ids).logits)


def test_registry_resolves_names_hub_ids_and_folders(tmp_path):
    assert resolve("r1v3-38b").source == "Skywork/Skywork-R1V3-38B"
    assert resolve("Skywork/Skywork-R1V-38B").template == "deepseek_r1"
    assert resolve("someone/other-model").template == "auto"
    assert resolve(str(tmp_path)).source == str(tmp_path.resolve())
    with pytest.raises(ValueError, match="registry name"):
        resolve("no-such-model")
    for name in ("r1v-38b", "r1v2-38b", "r1v3-38b", "r1v-38b-awq", "r1v2-38b-awq", "r1v3-38b-awq", "tiny"):
        spec = resolve(name)
        assert spec.temperature == 0.6 and spec.top_p == 0.95 and spec.repetition_penalty == 1.05
        assert spec.stop_tokens


def test_awq_config_keeps_vision_and_projector_unquantized():
    awq = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"}
    for where in ("top", "llm"):
        official = {**R1V_38B, "llm_config": dict(R1V_38B["llm_config"])}
        if where == "top":
            official["quantization_config"] = dict(awq)
        else:
            official["llm_config"]["quantization_config"] = dict(awq)
        quantization = translate_config(official, 151667).quantization_config
        assert quantization["quant_method"] == "awq" and quantization["bits"] == 4
        assert {"vision_tower", "multi_modal_projector"} <= set(quantization["modules_to_not_convert"])
    assert getattr(translate_config(R1V_38B, 151667), "quantization_config", None) is None
