"""The plan before the download (model/plan/placement.py, model/plan/facts.py, `app.py --plan`).

On the bundled checkpoint with its real tokenizer and files, and on the full-size R1V, R1V2, R1V3 and
AWQ configs (their config.json fields, built on the meta device; tokenizer facts written out as data),
for 0, 1, 2, 4 and 8 simulated GPUs of 24, 48, 80 and 141 GiB free.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import pytest
from torch import nn

import app
from model import registry
from model.plan import facts as plan_facts
from model.plan.placement import GIB, PLAN_CONTEXT, Gpu, ModelFacts, TokenizerFacts, plan
from model.plan.sizes import BF16, awq_scheme, config_key, meta_model
from model.plan.text import README_SETUPS, fit_table, plan_table
from model.local.checkpoint import translate_config
from model.inputs.prompt import IMG_CONTEXT
from tests.test_checkpoint import R1V_38B

ROOT = Path(__file__).resolve().parent.parent


def _llm(**fields) -> dict:
    return {**R1V_38B, "llm_config": {**R1V_38B["llm_config"], **fields}}


# R1V2's language model is QwQ-32B, R1V3's the Qwen2.5-32B of InternVL3-38B: the same sizes as R1V's
# DeepSeek-R1-Distill-Qwen-32B but for the vocabulary and the context length of their config.json.
R1V2_38B = _llm(vocab_size=152064, max_position_embeddings=40960, eos_token_id=151645)
R1V3_38B = _llm(vocab_size=151674, max_position_embeddings=32768, eos_token_id=151645)
AWQ = {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"}

_R1_TOKENS = {"<｜begin▁of▁sentence｜>": (151646,), "<｜User｜>": (151644,), "<｜Assistant｜>": (151645,),
              "<｜end▁of▁sentence｜>": (151643,), "</think>": (151649,), IMG_CONTEXT: (151667,)}
_CHATML_TOKENS = {"<|im_start|>": (151644,), "<|im_end|>": (151645,), "</think>": (151668,), IMG_CONTEXT: (151671,)}
_R1V3_TOKENS = {"<|im_start|>": (151644,), "<|im_end|>": (151645,), "</think>": (522, 26865, 29),
                IMG_CONTEXT: (151667,)}


def facts(name: str, config: dict, template: str, tokens: dict, size: int) -> ModelFacts:
    spec = registry.by_name(name)
    awq = registry.by_name(f"{name}-awq")
    return ModelFacts(name, spec.source, config, TokenizerFacts(template, "registry", tokens, size),
                      awq_build=awq.name if awq else "")


FAMILY = {
    "r1v-38b": facts("r1v-38b", R1V_38B, "deepseek_r1", _R1_TOKENS, 151668),
    "r1v2-38b": facts("r1v2-38b", R1V2_38B, "chatml", _CHATML_TOKENS, 151672),
    "r1v3-38b": facts("r1v3-38b", R1V3_38B, "chatml", _R1V3_TOKENS, 151674),
    "r1v-38b-awq": facts("r1v-38b-awq", {**R1V_38B, "quantization_config": AWQ}, "deepseek_r1", _R1_TOKENS, 151668),
    "r1v3-38b-awq": facts("r1v3-38b-awq", {**R1V3_38B, "quantization_config": AWQ}, "chatml", _R1V3_TOKENS,
                          151674),
}
SIZES = (24, 48, 80, 141)
SETUPS = [(0, 0)] + [(count, size) for count in (1, 2, 4, 8) for size in SIZES]


def gpus(count: int, gib: float) -> list[Gpu]:
    return [Gpu(index, int(gib * GIB)) for index in range(count)]


def layers_placed(loads, num_layers: int) -> list[int]:
    found = []
    for load in loads:
        for module in load.modules:
            if module == "model.language_model.layers":
                found += range(num_layers)
            elif match := re.fullmatch(r"model\.language_model\.layers\.(\d+)", module):
                found.append(int(match.group(1)))
    return sorted(found)


@lru_cache(maxsize=None)
def expected_bytes(name: str, scheme) -> int:
    """Weights under `scheme`, counted here from the meta model's own modules (not by the planner's code)."""
    native = translate_config(FAMILY[name].config, 151667)
    model = meta_model(config_key(native))
    total = sum(b.numel() * b.element_size() for b in model.buffers())
    quantized = rows = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not any(kept in name for kept in scheme.kept):
            quantized += module.weight.numel()
            rows += module.out_features
    total += (sum(p.numel() for p in model.parameters()) - quantized) * 2
    row_scales = 4 * rows if scheme.key == "8bit" else 0  # LLM.int8 keeps a float32 scale per output row
    return round(total + quantized * scheme.bytes_per_weight + row_scales)


@pytest.mark.parametrize("count,size", SETUPS)
@pytest.mark.parametrize("name", sorted(FAMILY))
def test_every_layer_is_placed_once_and_the_bytes_add_up(name, count, size):
    result = plan(FAMILY[name], gpus(count, size))
    assert result.parameters > 38e9 and result.context_tokens == min(PLAN_CONTEXT, result.context_length)
    assert result.kv_bytes_per_token == 2 * 64 * 8 * 128 * 2  # K and V, 64 layers, 8 KV heads of 128, bf16
    if name.endswith("-awq"):  # AWQ weights are stored as they load
        stored = expected_bytes(name, awq_scheme(AWQ))
        assert result.stored_bytes == pytest.approx(stored, abs=64)
    assert result.fits or (count == 0 and name.endswith("-awq"))  # quantized weights need CUDA
    for fit in result.fits:
        assert layers_placed(fit.loads, 64) == list(range(64))
        assert len(fit.loads) == max(1, count)
        assert sum(load.kv_bytes for load in fit.loads) == result.kv_bytes_per_token * result.context_tokens
        if fit.scheme.key == "bf16":
            assert fit.weight_bytes == result.parameters * 2 + result.buffer_bytes
        elif fit.scheme.key == "fp32":
            assert fit.weight_bytes == result.parameters * 4 + result.buffer_bytes
        else:
            assert fit.weight_bytes == pytest.approx(expected_bytes(name, fit.scheme), abs=64)


@pytest.mark.parametrize("name", ["r1v-38b", "r1v2-38b", "r1v3-38b"])
def test_bf16_38b_needs_more_than_one_80_gib_gpu(name):
    one_80 = plan(FAMILY[name], gpus(1, 80))
    assert not one_80.chosen.fits and one_80.chosen.scheme.key == "bf16"
    assert "does not fit" in one_80.refusal and "82.1 GiB" in one_80.refusal and "8-bit" in one_80.refusal
    assert 0 < one_80.chosen.longest_context < PLAN_CONTEXT  # a shorter context would fit
    for setup in (gpus(1, 141), gpus(2, 80), gpus(2, 48)):
        assert plan(FAMILY[name], setup).refusal == ""
    assert plan(FAMILY[name], gpus(1, 80), quantization="8bit").refusal == ""


@pytest.mark.parametrize("name", ["r1v-38b-awq", "r1v3-38b-awq"])
def test_awq_fits_one_48_gib_gpu_but_not_24(name):
    one_48 = plan(FAMILY[name], gpus(1, 48))
    assert [fit.scheme.key for fit in one_48.fits] == ["awq"] and one_48.refusal == ""
    assert 25 * GIB < one_48.chosen.weight_bytes < 31 * GIB  # vision tower in bf16, language model in 4 bits
    assert "does not fit" in plan(FAMILY[name], gpus(1, 24)).refusal
    sibling = plan(FAMILY[name.removesuffix("-awq")], gpus(1, 48))
    awq_row = next(fit for fit in sibling.fits if fit.scheme.key == "awq")
    assert awq_row.fits and awq_row.how == f"--model {name}"


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_no_gpu_refuses_a_38b_model_naming_what_it_needs(name):
    result = plan(FAMILY[name], [])
    assert result.refusal.startswith(f"{name} needs a CUDA GPU")
    assert "GiB" in result.refusal and "--backend openai" in result.refusal
    assert "Refused:" in plan_table(result)


def test_the_bundled_checkpoint_from_its_own_files():
    spec = registry.by_name("tiny")
    found = plan_facts.gather(spec)
    folder = Path(spec.source)
    assert found.weights.source == "local files"
    assert found.weights.total == sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    tokens = found.tokenizer.tokens
    assert found.tokenizer.template == "deepseek_r1" and len(tokens[IMG_CONTEXT]) == 1
    assert len(tokens["</think>"]) == 1 and len(tokens["<｜User｜>"]) == 1
    on_cpu = plan(found, [])
    assert on_cpu.refusal == "" and on_cpu.chosen.scheme.key == "fp32"
    assert on_cpu.chosen.weight_bytes == on_cpu.parameters * 4 + on_cpu.buffer_bytes
    assert on_cpu.context_length == 1024 and "Verdict: loads in float32 on the CPU" in plan_table(on_cpu)
    assert "needs a CUDA GPU" in plan(found, [], quantization="4bit").refusal
    for count in (1, 2, 4, 8):
        result = plan(found, gpus(count, 24))
        assert result.refusal == "" and result.chosen.scheme is BF16
        assert layers_placed(result.chosen.loads, 4) == [0, 1, 2, 3]
        assert result.chosen.weight_bytes == result.parameters * 2 + result.buffer_bytes


def test_a_native_layout_plans_as_its_official_twin():
    official = plan_facts.gather(registry.by_name("tiny"))
    image_id = official.tokenizer.tokens[IMG_CONTEXT][0]
    native_config = translate_config(official.config, image_id).to_dict()
    native = plan(ModelFacts("native", "native", native_config, official.tokenizer), gpus(2, 24))
    twin = plan(official, gpus(2, 24))
    assert native.layout == "native" and twin.layout == "official" and native.refusal == ""
    assert native.parameters == twin.parameters
    assert [load.weight_bytes for load in native.chosen.loads] == [load.weight_bytes for load in twin.chosen.loads]


def test_the_printed_plan_names_the_map_the_template_and_the_tokens():
    text = plan_table(plan(FAMILY["r1v3-38b"], gpus(2, 80)))
    assert "GPU 0 | 80.0 |" in text and "layers 0-21, 63" in text and "layers 22-62" in text
    assert "Template: chatml (registry)" in text and "</think> split into 3 tokens" in text
    assert "Context: 32,768 tokens" in text and "about 76.8 GB" in text and "estimate" in text
    assert "Verdict: loads in bf16 on 2 GPU(s)" in text


@pytest.mark.parametrize("change,message", [
    ({"ps_version": "v1"}, "ps_version"),
    ({"use_llm_lora": 16}, "LoRA"),
    ({"model_type": "llama", "llm_config": None, "architectures": ["LlamaForCausalLM"]}, "Unknown checkpoint layout"),
    ({"quantization_config": {"quant_method": "gptq", "bits": 4}}, "only AWQ"),
])
def test_a_layout_that_will_not_load_is_refused_before_sizing(change, message):
    config = {key: value for key, value in {**R1V_38B, **change}.items() if value is not None}
    result = plan(ModelFacts("x", "x", config, FAMILY["r1v-38b"].tokenizer), gpus(1, 141))
    assert message in result.refusal and not (result.chosen and result.chosen.fits)


@pytest.mark.parametrize("tokens,size,message", [
    ({k: v for k, v in _R1_TOKENS.items() if k != IMG_CONTEXT}, 151668, f"no single {IMG_CONTEXT}"),
    (_R1_TOKENS, 160_000, "vocabulary only 152,064"),
])
def test_a_tokenizer_that_does_not_match_is_refused(tokens, size, message):
    tokenizer = TokenizerFacts("deepseek_r1", "registry", tokens, size)
    assert message in plan(ModelFacts("x", "x", R1V_38B, tokenizer), gpus(1, 141)).refusal
    wrong_template = TokenizerFacts("chatml", "registry", _R1_TOKENS, 151668)
    assert "<|im_start|> as one token" in plan(ModelFacts("x", "x", R1V_38B, wrong_template), gpus(1, 141)).refusal
    unknown = TokenizerFacts("", "guessed from the tokenizer", _R1_TOKENS, 151668)
    assert "chat template" in plan(ModelFacts("x", "x", R1V_38B, unknown), gpus(1, 141)).refusal


def test_the_readme_table_is_what_the_planner_computes():
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- plan-table r1v3-38b -->\n(.*?)\n<!-- /plan-table -->", readme, re.S)
    expected = fit_table(FAMILY["r1v3-38b"], README_SETUPS)
    assert found, "README.md lacks the plan table between <!-- plan-table r1v3-38b --> markers"
    assert found.group(1).strip() == expected, f"README plan table is stale; it should read:\n{expected}"
    assert [count for count, _ in README_SETUPS] == [count for count, _ in SETUPS]


def test_a_hub_model_fetches_no_weights_and_sizes_them_from_file_metadata(monkeypatch, tmp_path):
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    tiny = Path(registry.by_name("tiny").source)
    asked = {}

    def snapshot_download(repo_id, allow_patterns):
        asked.update(repo=repo_id, patterns=allow_patterns)
        for name in filter_repo_objects([p.name for p in tiny.iterdir()], allow_patterns=allow_patterns):
            shutil.copy(tiny / name, tmp_path / name)
        return str(tmp_path)

    shards = [SimpleNamespace(rfilename=f"model-0000{i}-of-00002.safetensors", size=10**9 * i) for i in (1, 2)]
    info = SimpleNamespace(siblings=shards + [SimpleNamespace(rfilename="config.json", size=1680)])
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, repo, files_metadata: info)
    spec = registry.ModelSpec("someone-tiny", "someone/tiny", "auto", ())
    found = plan_facts.gather(spec)
    assert asked["repo"] == "someone/tiny" and (tmp_path / "config.json").exists()
    assert not list(tmp_path.glob("*.safetensors")) and (tmp_path / "tokenizer.json").exists()
    assert found.weights.source == "Hub file metadata" and found.weights.total == 3 * 10**9
    assert found.tokenizer.template == "deepseek_r1" and found.tokenizer.template_source == "guessed from the tokenizer"

    def offline(self, repo, files_metadata):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", offline)
    estimated = plan(plan_facts.gather(spec), [])
    assert estimated.facts.weights is None and "estimate" in plan_table(estimated)
    assert estimated.download_bytes == estimated.parameters * 2 + estimated.buffer_bytes


def _folder_with_config(tmp_path: Path, config: dict) -> Path:
    tiny = Path(registry.by_name("tiny").source)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny / name, tmp_path / name)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


def test_app_plan_refuses_a_38b_folder_without_a_gpu(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plan_facts, "visible_gpus", lambda: [])
    folder = _folder_with_config(tmp_path, R1V_38B)
    with pytest.raises(SystemExit) as exited:
        app.main(["--model", str(folder), "--plan"])
    out = capsys.readouterr().out
    assert exited.value.code == 1 and "needs a CUDA GPU" in out and "estimate" in out


def test_app_plan_refuses_an_unknown_layout(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(plan_facts, "visible_gpus", lambda: gpus(1, 141))
    folder = _folder_with_config(tmp_path, {"model_type": "llama", "architectures": ["LlamaForCausalLM"]})
    with pytest.raises(SystemExit) as exited:
        app.main(["--model", str(folder), "--plan"])
    assert exited.value.code == 1 and "Refused: Unknown checkpoint layout" in capsys.readouterr().out


def test_python_app_plan_on_the_bundled_model_prints_the_plan_and_exits_0():
    done = subprocess.run([sys.executable, "app.py", "--model", "tiny", "--plan"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Plan for tiny" in done.stdout and "Verdict: loads in" in done.stdout
    assert "<IMG_CONTEXT> 6" in done.stdout and "Running on" not in done.stdout + done.stderr


def test_the_plan_fetches_what_the_loader_fetches_less_the_weights():
    from model.local.loader import _HUB_PATTERNS

    assert set(plan_facts.SMALL_FILES) == set(_HUB_PATTERNS) - {"*.safetensors"}


def test_awq_bytes_follow_bits_and_group_size():
    scheme = awq_scheme(AWQ)
    assert scheme.bytes_per_weight == pytest.approx(0.5 + 2.5 / 128)
    assert awq_scheme({**AWQ, "bits": 8, "group_size": 64}).bytes_per_weight == pytest.approx(1 + 3 / 64)
    assert {"vision_tower", "multi_modal_projector", "lm_head"} <= set(scheme.kept)


def test_the_plan_counts_the_static_caches_the_fast_path_keeps():
    facts = FAMILY["r1v3-38b"]
    roomy = plan(facts, [Gpu(0, 141 * GIB)])
    load = roomy.chosen.loads[0]
    assert roomy.chosen.cache_lengths == [4096, 8192, 16_384, 32_768]
    assert load.kv_bytes == 32_768 * roomy.kv_bytes_per_token  # the context's cache, required
    assert load.ladder_bytes == (4096 + 8192 + 16_384) * roomy.kv_bytes_per_token
    assert load.required + load.ladder_bytes == load.total <= load.free_bytes
    assert "Static KV caches kept for the fast path: 4,096 + 8,192 + 16,384 + 32,768 tokens (15.0 GiB)" in plan_table(roomy)


def test_a_smaller_gpu_keeps_fewer_cache_sizes_and_the_same_verdicts():
    facts = FAMILY["r1v3-38b"]
    tight = plan(facts, [Gpu(0, 42 * GIB)], quantization="4bit")  # 4-bit needs 40.3 GiB: 1.7 GiB left
    assert tight.chosen.cache_lengths == [4096, 32_768]
    assert ("Static KV caches kept for the fast path: 4,096 + 32,768 tokens (9.0 GiB); 8,192, 16,384 left out: "
            "no room beside the weights") in plan_table(tight)
    for setup in ([Gpu(0, 42 * GIB)], [Gpu(0, 24 * GIB), Gpu(1, 24 * GIB)], [Gpu(0, 141 * GIB)]):
        for fit in plan(facts, setup).fits:
            for load in fit.loads:  # the smaller caches only take room left over: they never flip a verdict
                assert load.fits == (load.required <= load.free_bytes)
                assert load.ladder_bytes == 0 or load.total <= load.free_bytes
