"""Static caches that follow the trace, and the one generation thread, on the bundled tiny checkpoint (CPU).

The tiny model's context is 1,024 tokens, so the sizes here are small (48 to 256 tokens) and a
short first stretch: every request below crosses at least one size. The plain (dynamic-cache) path
is the reference: the same greedy ids, with and without images, and the same budget, minimum
thinking and Stop behaviour across a size change.
"""
from __future__ import annotations

import functools
import threading

import pytest
import torch

from model.local.cache_ladder import cache_lengths, fit_ladder, next_length, start_length
from model.local.engine import LocalEngine
from model.events import FinishReason, GenerationOptions, Request, ThinkingDelta
from model.local.fastpath import FastPath, setup_fast_path
from model.inputs.assemble import prepare_input
from tests.helpers import collect, tiny_folder, tiny_loaded  # noqa: F401 (fixtures)
from tests.test_engine import GREEDY, ask
from tests.test_fastpath import two_images

SIZES = [48, 64, 96, 128, 256]  # and the context, 1,024


def climbing() -> FastPath:
    return FastPath(compile=False, lengths=SIZES, stretch=8)


@pytest.fixture(scope="module")
def plain(tiny_loaded):  # noqa: F811
    return LocalEngine(tiny_loaded)


def test_the_ladder_doubles_to_the_context_and_a_request_starts_small():
    assert cache_lengths(32_768) == [4096, 8192, 16_384, 32_768]
    assert cache_lengths(1024) == [1024]
    assert start_length([4096, 8192, 32_768], prompt_tokens=3700, limit_tokens=32_768) == 8192  # 3700 + 512
    assert start_length([4096, 8192, 32_768], prompt_tokens=3387, limit_tokens=32_768) == 4096  # 13 tiles + 50 words
    assert start_length([4096, 8192, 32_768], prompt_tokens=100, limit_tokens=600) == 4096
    assert next_length([4096, 8192, 32_768], 8192) == 32_768 and next_length([4096, 32_768], 32_768) is None


def test_a_small_gpu_keeps_the_context_size_and_drops_smaller_ones_that_do_not_fit():
    ladder = [4096, 8192, 16_384, 32_768]
    assert fit_ladder(ladder, None) == ladder
    assert fit_ladder(ladder, 61_440) == ladder  # exactly all of them
    assert fit_ladder(ladder, 46_000) == [4096, 8192, 32_768]
    assert fit_ladder(ladder, 10_000) == [32_768]  # whether even this fits is the planner's verdict


def generated_ids(loaded, request: Request, fast: FastPath | None, tokens: int = 80) -> list[int]:
    prepared = prepare_input(loaded, request)
    kwargs = dict(input_ids=prepared.input_ids, attention_mask=torch.ones_like(prepared.input_ids),
                  do_sample=False, max_new_tokens=tokens, min_new_tokens=tokens, pad_token_id=loaded.tokenizer.pad_token_id)
    if prepared.pixel_values is not None:
        kwargs["pixel_values"] = prepared.pixel_values
    with torch.inference_mode():
        out = fast.generate(loaded.model, **kwargs) if fast else loaded.model.generate(**kwargs)
    return out[0, prepared.input_ids.shape[1]:].tolist()


def test_generate_across_sizes_gives_the_plain_ids_with_and_without_images(tiny_loaded):  # noqa: F811
    text_only = Request("How many red circles are there?", options=GenerationOptions.validated(**GREEDY))
    for request in (ask(None, index=2), two_images(), text_only):
        fast = climbing()
        expected = generated_ids(tiny_loaded, request, None)
        assert generated_ids(tiny_loaded, request, fast) == expected
        assert len(expected) == 80 and fast.moves >= 2  # it really crossed sizes


def test_engine_answers_across_sizes_match_the_plain_path(tiny_loaded, plain):  # noqa: F811
    engine = LocalEngine(tiny_loaded, fast=climbing())
    for request in (ask(engine, index=0), ask(engine, index=5), two_images()):
        before = engine.fast.moves
        fast, slow = collect(engine.stream(request)), collect(plain.stream(request))
        assert (fast["thinking"], fast["answer"]) == (slow["thinking"], slow["answer"])
        assert fast["stats"].thinking_tokens == slow["stats"].thinking_tokens
        assert fast["stats"].answer_tokens == slow["stats"].answer_tokens
        assert fast["done"].finish_reason is slow["done"].finish_reason is FinishReason.ANSWERED
        assert engine.fast.moves > before


def test_budget_and_min_thinking_hold_across_a_size_change(tiny_loaded, plain):  # noqa: F811
    engine = LocalEngine(tiny_loaded, fast=climbing())
    for options in (dict(thinking_budget=40), dict(min_thinking=150, answer_budget=32)):
        before = engine.fast.moves
        request = ask(engine, index=1, **options)
        fast, slow = collect(engine.stream(request)), collect(plain.stream(request))
        assert (fast["thinking"], fast["answer"]) == (slow["thinking"], slow["answer"])
        assert fast["stats"].budget_fired == slow["stats"].budget_fired
        assert engine.fast.moves > before
    assert fast["stats"].thinking_tokens >= 150


def test_stop_after_a_size_change_ends_within_a_step(tiny_loaded):  # noqa: F811
    engine = LocalEngine(tiny_loaded, fast=climbing())
    steps = {"n": 0}
    hook = tiny_loaded.model.lm_head.register_forward_hook(lambda *args: steps.__setitem__("n", steps["n"] + 1))
    stop, events, steps_at_stop = threading.Event(), [], None
    try:
        for event in engine.stream(ask(engine, stop=stop, min_thinking=400, answer_budget=32)):
            events.append(event)
            if isinstance(event, ThinkingDelta) and event.tokens >= 120 and steps_at_stop is None:
                steps_at_stop = steps["n"]
                stop.set()
    finally:
        hook.remove()
    result = collect(events)
    assert result["done"].finish_reason is FinishReason.STOPPED
    assert engine.fast.moves >= 2
    assert result["stats"].thinking_tokens <= steps_at_stop + 1  # a forward pass per token: the one in flight


def test_alternating_budgeted_and_unlimited_requests_allocate_no_new_cache(tiny_loaded, monkeypatch):  # noqa: F811
    import model.local.fastpath as fastpath

    built: list[int] = []

    class CountedCache(fastpath.StaticCache):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(kwargs["max_cache_len"])

    monkeypatch.setattr(fastpath, "StaticCache", CountedCache)
    engine = LocalEngine(tiny_loaded, fast=climbing())
    budgeted, unlimited = ask(engine, index=3, thinking_budget=4), ask(engine, index=3, min_thinking=150)
    for request in (budgeted, unlimited):
        collect(engine.stream(request))
    first_round, addresses = list(built), storage(engine.fast)
    assert len(first_round) == len(set(first_round)) >= 3  # one cache per size reached, the unlimited one climbed
    for request in (budgeted, unlimited, budgeted, unlimited):
        assert collect(engine.stream(request))["done"].finish_reason is not FinishReason.ERROR
    assert built == first_round and storage(engine.fast) == addresses


def storage(fast: FastPath) -> dict[int, tuple[int, int]]:
    """Where each size's first-layer keys and values live."""
    return {length: (cache.layers[0].keys.data_ptr(), cache.layers[0].values.data_ptr())
            for length, cache in fast._caches.items()}


def generate_callers(model, monkeypatch) -> list[int]:
    """The threads that call `model.generate` from now on, in order."""
    original, callers = model.generate, []

    @functools.wraps(original)
    def recording(*args, **kwargs):
        callers.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", recording)
    return callers


def test_warm_up_and_every_answer_run_on_one_thread(tiny_loaded, monkeypatch):  # noqa: F811
    model = tiny_loaded.model
    callers = generate_callers(model, monkeypatch)
    fast = setup_fast_path(tiny_loaded, "on", compile=False)
    warm_ups = len(callers)
    assert warm_ups == len(fast.ladder(model)) >= 1  # one short generation per size, at load
    fast.lengths, fast.stretch = SIZES, 8  # so that the answers below cross sizes too
    engine = LocalEngine(tiny_loaded, fast=fast)
    for request in (ask(engine, index=0), two_images(), ask(engine, index=4, thinking_budget=8)):
        assert collect(engine.stream(request))["done"].finish_reason is not FinishReason.ERROR
    assert len(callers) > warm_ups + 3  # climbing calls generate once per stretch
    assert set(callers) == {fast.runner.ident} and fast.runner.ident != threading.get_ident()


def test_the_plain_engine_also_answers_on_one_thread(tiny_loaded, monkeypatch):  # noqa: F811
    engine = LocalEngine(tiny_loaded)
    callers = generate_callers(tiny_loaded.model, monkeypatch)
    for index in (0, 1, 2):
        collect(engine.stream(ask(engine, index=index)))
    assert len(callers) == 3 and set(callers) == {engine.runner.ident}
