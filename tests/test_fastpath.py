"""The fast decode path (static KV cache, compiled step) on the bundled tiny checkpoint (CPU).

It must give exactly the plain path's greedy tokens, with and without images, and keep every engine
behaviour: the drills of tests/test_engine.py run here again, unchanged, on a fast-path engine
(the `engine` fixture below, whose small cache sizes make every request climb from one size to the
next), plus timeout, out-of-memory and cache-length checks of its own (tests/test_cache_ladder.py
has the climbing's own checks).
The compiled variant (inductor on CPU) is checked for the same tokens after a load-time warm-up.
"""
from __future__ import annotations

import functools

import pytest
import torch

from model.local.engine import LocalEngine
from model.events import Error, FinishReason, GenerationOptions, Request, Status
from model.local.fastpath import FastPath, cache_lengths, compile_problem, make_fast_path, setup_fast_path
from model.inputs.assemble import prepare_input
from tests import test_engine as plain_drills
from tests.helpers import collect, tiny_folder, tiny_loaded  # noqa: F401 (fixtures)
from tests.test_engine import GREEDY, ask, png

# Every drill of the plain engine, collected again here against the fast-path `engine` fixture.
test_fast_budget_holds = plain_drills.test_thinking_budget_holds_and_an_answer_follows
test_fast_budget_zero = plain_drills.test_budget_zero_answers_without_thinking
test_fast_seeds = plain_drills.test_same_seed_same_text_when_sampling
test_fast_stop_within_one_step = plain_drills.test_stop_mid_thinking_ends_within_a_step_and_reports_it
test_fast_close_frees_the_model = plain_drills.test_closing_the_stream_frees_the_model
test_fast_worker_failures = plain_drills.test_worker_failure_becomes_an_error_event_and_engine_recovers
test_fast_fifo = plain_drills.test_requests_wait_in_arrival_order
test_fast_follow_up = plain_drills.test_follow_up_keeps_earlier_images_in_the_prompt


@pytest.fixture(scope="module")
def engine(tiny_loaded):  # noqa: F811
    return LocalEngine(tiny_loaded, fast=FastPath(compile=False, lengths=[48, 64, 96, 128, 256], stretch=8))


@pytest.fixture(scope="module")
def plain(tiny_loaded):  # noqa: F811
    return LocalEngine(tiny_loaded)


def two_images(question: str = "How many shapes are in the two pictures together?") -> Request:
    return Request(question, (png(1)[0], png(2)[0]), options=GenerationOptions.validated(**GREEDY))


def requests(engine) -> list[Request]:
    text_only = Request("How many red circles are there?", options=GenerationOptions.validated(**GREEDY))
    return [ask(engine, index=0), ask(engine, index=3), ask(engine, index=6), text_only, two_images()]


def test_fast_path_gives_the_plain_greedy_text_and_counts(engine, plain):
    for request in requests(engine):
        fast, slow = collect(engine.stream(request)), collect(plain.stream(request))
        assert fast["done"].finish_reason is slow["done"].finish_reason
        assert (fast["thinking"], fast["answer"]) == (slow["thinking"], slow["answer"])
        assert fast["stats"].thinking_tokens == slow["stats"].thinking_tokens > 0
        assert fast["stats"].answer_tokens == slow["stats"].answer_tokens
    assert engine.fast._caches, "the fast engine never used its static cache"


def greedy_ids(loaded, request: Request, fast: FastPath | None = None) -> list[int]:
    prepared = prepare_input(loaded, request)
    with torch.inference_mode():
        extra = fast.generate_kwargs(loaded.model, 1024) if fast else {}
        out = loaded.model.generate(input_ids=prepared.input_ids, attention_mask=torch.ones_like(prepared.input_ids),
                                    pixel_values=prepared.pixel_values, do_sample=False, max_new_tokens=48,
                                    pad_token_id=loaded.tokenizer.pad_token_id, **extra)
    return out[0, prepared.input_ids.shape[1]:].tolist()


def test_bare_generate_on_the_static_cache_gives_the_same_ids(tiny_loaded, engine):  # noqa: F811
    fast = FastPath(compile=False)
    for request in (ask(engine, index=2), two_images()):
        expected = greedy_ids(tiny_loaded, request)
        assert greedy_ids(tiny_loaded, request, fast) == expected
        first_cache = fast._caches[1024]
        assert greedy_ids(tiny_loaded, request, fast) == expected  # on the same cache, reset
        assert fast._caches[1024] is first_cache
    assert len(expected) == 48


def test_min_thinking_holds_on_the_fast_path_and_matches_the_plain_path(engine, plain):
    request = ask(engine, index=0, min_thinking=120, answer_budget=64)
    fast, slow = collect(engine.stream(request)), collect(plain.stream(request))
    assert fast["stats"].thinking_tokens >= 120
    assert (fast["thinking"], fast["answer"]) == (slow["thinking"], slow["answer"])


def test_wall_clock_limit_ends_with_timeout_on_the_fast_path(tiny_loaded):  # noqa: F811
    slow = LocalEngine(tiny_loaded, max_seconds=0.0, fast=FastPath(compile=False))
    result = collect(slow.stream(ask(slow)))
    assert result["done"].finish_reason is FinishReason.TIMEOUT


def test_out_of_memory_drops_the_caches_and_the_next_request_answers(tiny_loaded, monkeypatch):  # noqa: F811
    fast = FastPath(compile=False)
    engine = LocalEngine(tiny_loaded, fast=fast)
    assert collect(engine.stream(ask(engine)))["done"].finish_reason is FinishReason.ANSWERED
    model, original = tiny_loaded.model, tiny_loaded.model.forward
    calls = {"n": 0}

    @functools.wraps(original)
    def failing_forward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "forward", failing_forward)
    result = collect(engine.stream(ask(engine)))
    assert [e.kind for e in result["events"] if isinstance(e, Error)] == ["oom"]
    assert fast._caches == {}
    monkeypatch.setattr(model, "forward", original)
    assert collect(engine.stream(ask(engine)))["done"].finish_reason is FinishReason.ANSWERED


def test_cache_lengths_double_and_end_at_the_context(tiny_loaded):  # noqa: F811
    assert cache_lengths(1024) == [1024]
    assert cache_lengths(32_768) == [4096, 8192, 16_384, 32_768]
    fast = FastPath(compile=False)
    assert fast.cache_length(tiny_loaded.model, 300) == 1024  # the tiny context is 1,024 tokens


def test_auto_mode_keeps_the_cpu_on_the_plain_path_and_on_turns_it_on(tiny_loaded, monkeypatch):  # noqa: F811
    monkeypatch.delenv("R1V_COMPILE", raising=False)
    assert setup_fast_path(tiny_loaded, "auto") is None  # CPU
    assert setup_fast_path(tiny_loaded, "off") is None
    fast = setup_fast_path(tiny_loaded, "on")
    assert fast is not None and not fast.compile  # CPU compiles only with R1V_COMPILE=1
    monkeypatch.setenv("R1V_COMPILE", "1")
    assert make_fast_path(tiny_loaded.device).compile == (compile_problem(tiny_loaded.device) == "")
    monkeypatch.setenv("R1V_COMPILE", "0")
    assert not make_fast_path(torch.device("cuda")).compile


@pytest.fixture(scope="module")
def compiled(tiny_loaded):  # noqa: F811
    problem = compile_problem(tiny_loaded.device)
    if problem:
        pytest.skip(problem)
    statuses: list[Status] = []
    fast = setup_fast_path(tiny_loaded, "on", compile=True, progress=statuses.append)
    yield LocalEngine(tiny_loaded, fast=fast), statuses
    torch._dynamo.reset()  # later tests hook the model; leave no compiled graph guarding on it
    for attribute in ("_compiled_call", "_last_compile_config"):
        tiny_loaded.model.__dict__.pop(attribute, None)


def test_compiled_path_warms_up_at_load_and_gives_the_plain_tokens(compiled, plain):
    engine, statuses = compiled
    assert [s.key for s in statuses] == ["load.compiling"]  # one cache length: the tiny context
    assert engine.fast.compile and hasattr(engine.loaded.model, "_compiled_call")
    from torch._dynamo.utils import counters

    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1
    for request in (ask(engine, index=0), ask(engine, index=4, thinking_budget=8), two_images()):
        fast, slow = collect(engine.stream(request)), collect(plain.stream(request))
        assert (fast["thinking"], fast["answer"]) == (slow["thinking"], slow["answer"])
        assert fast["stats"].budget_fired == slow["stats"].budget_fired
    assert counters["stats"]["unique_graphs"] == graphs  # no compile inside anyone's question


def test_the_app_factory_builds_a_fast_engine_when_asked(tiny_folder):  # noqa: F811
    import app
    from model.registry import ModelSpec, by_name

    spec = ModelSpec(**{**by_name("tiny").__dict__, "source": str(tiny_folder)})
    statuses: list[Status] = []
    engine = app.engine_factory(spec, 60, "", "on", False)(statuses.append)
    assert engine.fast is not None and not engine.fast.compile
    assert statuses[-1].key == "load.ready" and "load.compiling" not in [s.key for s in statuses]
    assert app.engine_factory(spec, 60, "", "off")(statuses.append).fast is None
    assert collect(engine.stream(ask(engine)))["done"].finish_reason is FinishReason.ANSWERED


def awq_quantizer(compileable: bool | None = None):
    """transformers' own AWQ quantizer object (no AWQ kernels needed to make one); `compileable`
    overrides its verdict, to check the decision rather than the kernels."""
    from transformers import AwqConfig
    from transformers.quantizers.quantizer_awq import AwqQuantizer

    if compileable is None:
        return AwqQuantizer(AwqConfig(bits=4, group_size=128))
    kind = type("Compileable", (AwqQuantizer,), {"is_compileable": property(lambda self: compileable)})
    return kind(AwqConfig(bits=4, group_size=128))


def test_an_awq_model_gets_the_static_caches_without_compile_and_the_log_says_why(tiny_loaded, monkeypatch,  # noqa: F811
                                                                                   caplog):
    import logging

    monkeypatch.setattr(tiny_loaded.model, "hf_quantizer", awq_quantizer(), raising=False)
    with caplog.at_level(logging.WARNING, logger="model.local.fastpath"):
        fast = setup_fast_path(tiny_loaded, "on", compile=True)
    assert fast is not None and not fast.compile and fast._caches  # allocated at load, not compiled
    assert "awq layers do not compile" in caplog.text and "AwqQuantizer" in caplog.text
    engine = LocalEngine(tiny_loaded, fast=fast)
    assert collect(engine.stream(ask(engine)))["done"].finish_reason is FinishReason.ANSWERED


def test_quantized_layers_compile_where_their_quantizer_says_they_can():
    from types import SimpleNamespace

    cuda = torch.device("cuda")
    assert compile_problem(cuda, SimpleNamespace(hf_quantizer=awq_quantizer(compileable=True))) == ""
    assert "do not compile" in compile_problem(cuda, SimpleNamespace(hf_quantizer=awq_quantizer(compileable=False)))
    assert compile_problem(cuda, SimpleNamespace(hf_quantizer=None)) == ""
    assert not make_fast_path(cuda, True, SimpleNamespace(hf_quantizer=awq_quantizer())).compile
