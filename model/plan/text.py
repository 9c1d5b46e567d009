"""The plan (model/plan/placement.py) in words and tables, for the terminal and the README.

Contract: `plan_table(plan)` is the text `python app.py --plan` prints (facts, device map of the chosen
way of loading, every way of loading with whether it fits, the verdict); `fit_table(facts, setups)` is the
README's summary (the busiest GPU's GiB for each way, ✓ when it fits, ✗ when not). Both
are pure formatting: every number comes from the plan.
"""
from __future__ import annotations

import re
from typing import Sequence

from model.local.cache_ladder import cache_lengths
from model.plan.placement import GIB, PLAN_CONTEXT, Fit, Gpu, GpuLoad, ModelFacts, Plan, plan

SHORT_NAMES = {
    "model.vision_tower": "vision tower", "model.multi_modal_projector": "projector",
    "model.language_model.embed_tokens": "embeddings", "model.language_model.norm": "final norm",
    "model.language_model.rotary_emb": "rotary", "lm_head": "lm_head", "model.language_model.layers": "all layers",
}
SCHEME_ORDER = ("bf16", "8bit", "4bit", "awq")


def plan_table(plan: Plan) -> str:
    lines = [_title(plan), _gpus(plan)]
    if plan.parameters:
        lines += [_download(plan), _context(plan)]
    lines += _tokens(plan)
    if plan.chosen is not None:
        lines += ["", f"Device map, {plan.chosen.scheme.label} {plan.chosen.how}:", *_device_map(plan.chosen),
                  _caches(plan)]
    if plan.fits:
        lines += ["", "Ways to load it here:", *_ways(plan)]
    lines += [""]
    lines.append(f"Refused: {plan.refusal}" if plan.refusal else _verdict(plan))
    return "\n".join(line for line in lines if line is not None).replace("\n\n\n", "\n\n")


def _title(plan: Plan) -> str:
    size = f", {plan.parameters / 1e9:.2f}B parameters" if plan.parameters > 1e8 else (
        f", {plan.parameters / 1e6:.1f}M parameters" if plan.parameters else "")
    layout = f", {plan.layout} layout" if plan.layout else ""
    return f"Plan for {plan.facts.name} ({plan.facts.source}){layout}{size}"


def _gpus(plan: Plan) -> str:
    if not plan.gpus:
        return "GPUs: none found (the CPU would run it, in float32)"
    found = "; ".join(f"GPU {gpu.index}{f' ({gpu.name})' if gpu.name else ''}: {gpu.free_bytes / GIB:.1f} GiB free"
                      for gpu in plan.gpus)
    return f"GPUs: {len(plan.gpus)} found: {found}"


def _download(plan: Plan) -> str:
    weights = plan.facts.weights
    size = _size(plan.download_bytes)
    if weights is None:
        return f"Download: about {size} of weights (estimate: parameters x bytes per weight; no file sizes known)"
    return f"Download: {size} of weights in {len(weights.files)} file(s) ({weights.source})"


def _context(plan: Plan) -> str:
    return (f"Context: {plan.context_length:,} tokens (max_position_embeddings); planned for "
            f"{plan.context_tokens:,} tokens of KV cache ({plan.kv_bytes_per_token / 1024:.0f} KiB a token, bf16)")


def _tokens(plan: Plan) -> list[str]:
    tokenizer = plan.facts.tokenizer
    if tokenizer.problem or not tokenizer.tokens:
        return []
    template = f"Template: {tokenizer.template or 'unknown'}"
    if tokenizer.template_source:
        template += f" ({tokenizer.template_source})"
    template += f"; the tokenizer {'carries' if tokenizer.chat_template else 'has no'} Jinja chat template"
    found = []
    for text, ids in tokenizer.tokens.items():
        if not ids:
            found.append(f"{text} missing")
        elif len(ids) == 1:
            found.append(f"{text} {ids[0]}")
        else:
            how = " (matched as text)" if text == "</think>" else ""
            found.append(f"{text} split into {len(ids)} tokens {list(ids)}{how}")
    return [template, "Special tokens: " + ", ".join(found)]


def _device_map(fit: Fit) -> list[str]:
    rows = ["| device | free GiB | weights GiB | KV cache GiB | activations GiB | reserve GiB | total GiB | fits "
            "| modules |", "|---|---|---|---|---|---|---|---|---|"]
    for load in fit.loads:
        free = f"{load.free_bytes / GIB:.1f}" if load.free_bytes is not None else "–"
        rows.append(f"| {load.device} | {free} | {_gib(load.weight_bytes)} | {_gib(load.kv_bytes + load.ladder_bytes)} | "
                    f"{_gib(load.activation_bytes)} | {_gib(load.reserve_bytes)} | {_gib(load.total)} | "
                    f"{_yes(load)} | {describe_modules(load.modules)} |")
    return rows


def _caches(plan: Plan) -> str | None:
    """The static KV caches the GPU fast path keeps (their bytes are in the KV cache column)."""
    kept = plan.chosen.cache_lengths
    if not kept:
        return None
    dropped = [n for n in cache_lengths(plan.context_tokens) if n not in kept]
    sizes = " + ".join(f"{n:,}" for n in kept)
    line = f"Static KV caches kept for the fast path: {sizes} tokens ({sum(kept) * plan.kv_bytes_per_token / GIB:.1f} GiB)"
    if dropped:
        line += f"; {', '.join(f'{n:,}' for n in dropped)} left out: no room beside the weights"
    return line


def _ways(plan: Plan) -> list[str]:
    rows = [f"| way | how | weights GiB | busiest device GiB | fits at {plan.context_tokens:,} tokens "
            "| longest context that fits |", "|---|---|---|---|---|---|"]
    for fit in plan.fits:
        busiest = fit.busiest
        of = f" of {busiest.free_bytes / GIB:.1f}" if busiest.free_bytes is not None else ""
        rows.append(f"| {fit.scheme.label} | {fit.how} | {_gib(fit.weight_bytes)} | {busiest.device}: "
                    f"{_gib(busiest.total)}{of} | {_yes(busiest) if len(fit.loads) == 1 else _yes(fit)} | "
                    f"{fit.longest_context:,} |")
    return rows


def _verdict(plan: Plan) -> str:
    fit = plan.chosen
    where = f"{len(plan.gpus)} GPU(s)" if plan.gpus else "the CPU"
    busiest = fit.busiest
    of = f" of {busiest.free_bytes / GIB:.1f}" if busiest.free_bytes is not None else ""
    return f"Verdict: loads in {fit.scheme.label} on {where} (busiest: {busiest.device}, {_gib(busiest.total)}{of} GiB)."


def describe_modules(modules: list[str]) -> str:
    """Module names in short: `vision tower, embeddings, layers 0-21, 63`."""
    named = [SHORT_NAMES.get(module, module) for module in modules if not _layer_index(module)]
    layers = sorted(int(index) for module in modules if (index := _layer_index(module)))
    return ", ".join(named + ([f"layers {_ranges(layers)}"] if layers else [])) or "nothing"


def _layer_index(module: str) -> str:
    found = re.fullmatch(r"model\.language_model\.layers\.(\d+)", module)
    return found.group(1) if found else ""


def _ranges(numbers: list[int]) -> str:
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)


def fit_cells(plan: Plan) -> list[str]:
    """One README cell per way of loading (SCHEME_ORDER): ✓/✗ and the busiest GPU's GiB."""
    if not plan.gpus:
        return ["refused: needs a CUDA GPU"] + ["–"] * (len(SCHEME_ORDER) - 1)
    by_key = {fit.scheme.key: fit for fit in plan.fits}
    return [_cell(by_key[key].busiest) if key in by_key else "–" for key in SCHEME_ORDER]


def _cell(load: GpuLoad) -> str:
    return f"{'✓' if load.fits else '✗'} {load.total / GIB:.1f}"


def _yes(checked: GpuLoad | Fit) -> str:
    if getattr(checked, "free_bytes", 0) is None:
        return "not checked"  # the CPU's memory
    return "yes" if checked.fits else "NO"


def _size(size: int) -> str:
    if size >= 10**9:
        return f"{size / 1e9:.1f} GB ({size / GIB:.1f} GiB)"
    return f"{size / 1e6:.1f} MB"


def _gib(size: int) -> str:
    return f"{size / GIB:.1f}" if size >= GIB / 10 or not size else f"{size / GIB:.3f}"


README_SETUPS = ((0, 0),) + tuple((count, size) for count in (1, 2, 4, 8) for size in (24, 48, 80, 141))


def fit_table(facts: ModelFacts, setups: Sequence[tuple[int, float]] = README_SETUPS,
              context_tokens: int = PLAN_CONTEXT) -> str:
    """Markdown: one row per GPU setup (count x GiB free each), one column per way of loading."""
    rows = ["| GPUs (GiB free each) | bf16 | 8-bit | 4-bit | AWQ |", "|---|---|---|---|---|"]
    for count, gib in setups:
        gpus = [Gpu(index, int(gib * GIB)) for index in range(count)]
        label = f"{count}× {gib:g}" if count else "none"
        rows.append("| " + " | ".join([label, *fit_cells(plan(facts, gpus, context_tokens=context_tokens))]) + " |")
    return "\n".join(rows)
