"""Bytes per module of a model built on the meta device, under each way of loading it.

Contract: `module_bytes(config, scheme)` maps every module name (and "" for the whole model) to its
bytes when loaded as `scheme`: bf16 or float32 as they are; bitsandbytes 8-bit (`INT8`) and 4-bit NF4
(`NF4`), or AWQ (`awq_scheme(quantization_config)`), for the language model's Linear weights, with
their scales; buffers keep their own dtype. Sums come from transformers' `compute_module_sizes`. The
meta model holds shapes and names only: building the 38B model takes well under a second, no memory.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import nn
from transformers import InternVLConfig, InternVLForConditionalGeneration
from transformers.integrations.accelerate import compute_module_sizes

from model.local.loader import UNQUANTIZED_MODULES as KEPT_IN_16_BIT  # what --quantization leaves in bf16


@dataclass(frozen=True)
class Scheme:
    key: str  # "bf16" | "8bit" | "4bit" | "awq"
    label: str
    bytes_per_weight: float  # per element of a quantized Linear weight (scales included)
    kept: tuple[str, ...] = ()  # modules left unquantized
    dense_bytes: float = 2.0  # per element of everything not quantized


BF16 = Scheme("bf16", "bf16", 2.0)
FP32 = Scheme("fp32", "float32", 4.0, dense_bytes=4.0)  # what the loader uses on a CPU
INT8 = Scheme("8bit", "8-bit", 1.0, tuple(KEPT_IN_16_BIT))  # + a float32 scale per row, added per module
NF4 = Scheme("4bit", "4-bit", 0.5 + 4 / 64, tuple(KEPT_IN_16_BIT))  # a float32 absmax per 64 weights


def awq_scheme(quantization: dict[str, Any]) -> Scheme:
    """AWQ: `bits` per weight, and per `group_size` weights an fp16 scale and a packed zero point."""
    bits, group = int(quantization.get("bits", 4)), int(quantization.get("group_size", 128))
    kept = tuple(quantization.get("modules_to_not_convert") or KEPT_IN_16_BIT)
    return Scheme("awq", f"AWQ {bits}-bit", bits / 8 + (2 + bits / 8) / group, kept)


def stored_scheme(config: InternVLConfig) -> Scheme:
    """How the checkpoint's own files hold the weights."""
    quantization = getattr(config, "quantization_config", None)
    return awq_scheme(quantization) if quantization else BF16


def config_key(config: InternVLConfig) -> str:
    return json.dumps(config.to_dict(), sort_keys=True, default=str)


@lru_cache(maxsize=8)
def meta_model(key: str) -> InternVLForConditionalGeneration:
    """The model with every tensor on the meta device: shapes and names, no memory."""
    config = InternVLConfig.from_dict(json.loads(key))
    with torch.device("meta"):
        return InternVLForConditionalGeneration(config)


class _ElementSizes:
    """Bytes per element under a scheme, in the shape `compute_module_sizes` asks a quantizer for.

    transformers' own quantizers answer this too, but only with bitsandbytes or gptqmodel installed and
    the model's Linear layers already replaced; a plan must work before either is installed."""

    def __init__(self, model: nn.Module, scheme: Scheme):
        self.scheme = scheme
        self.parameters = {name for name, _ in model.named_parameters()}
        self.quantized: dict[str, int] = {}  # weight name -> input features
        if scheme.key not in ("bf16", "fp32"):
            for name, module in model.named_modules():
                if isinstance(module, nn.Linear) and not any(kept in name for kept in scheme.kept):
                    self.quantized[f"{name}.weight"] = module.in_features

    def param_element_size(self, model: nn.Module, name: str, param: torch.Tensor) -> float:
        if name not in self.parameters:
            return param.element_size()  # buffers (rotary frequencies) keep their own dtype
        if name not in self.quantized:
            return self.scheme.dense_bytes
        row_scale = 4 / self.quantized[name] if self.scheme.key == "8bit" else 0.0
        return self.scheme.bytes_per_weight + row_scale


@lru_cache(maxsize=32)
def _module_bytes(key: str, scheme: Scheme) -> dict[str, float]:
    model = meta_model(key)
    sizes, _ = compute_module_sizes(model, _ElementSizes(model, scheme))
    return dict(sizes)




def module_bytes(config: InternVLConfig, scheme: Scheme) -> dict[str, float]:
    return _module_bytes(config_key(config), scheme)
