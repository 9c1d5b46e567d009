"""RemoteEngine against a real `transformers serve` on 127.0.0.1 serving scripted copies of the tiny model.

Two copies (tests/remote_server.py): the "answerer" thinks 40 known characters, closes its thinking and
answers "efgh"; the "ponderer" thinks in a loop until a client stops it. What transformers serve never
does (vLLM's reasoning fields, a budget the server ignores, invalid JSON, silence) is played by a
scripted HTTP server. Every wait is bounded by the engine's `timeout_s`.
The input limits both engines share (model/limits.py, model/inputs/assemble.py) are tested at the end.
"""
from __future__ import annotations

import base64
import io
import json
import socket
import threading
from dataclasses import fields
from itertools import islice

import pytest
from PIL import Image

from model.local.engine import LocalEngine
from model.events import (THINKING_BUDGET_MAX, AnswerDelta, BudgetReached, Done, Error, FinishReason,
                          GenerationOptions, Request, Stats, ThinkingDelta, Turn, UserFacingError)
from model.inputs.images import count_tiles
from model.inputs.assemble import check_context, context_size, load_images, prepare_input
from model.limits import Limits, env_name
from model.inputs.prompt import encode_user_text
from model.reasoning import HAND_OVER
from model.remote.engine import BUDGET_FIELD, CONTINUE_FIELDS, HAND_OVER_TOKENS, RemoteEngine
from model.remote.payload import build_messages
from tests.helpers import collect, tiny_folder, tiny_loaded  # noqa: F401 (fixtures)
from tests.remote_server import HANG, FakeServer, Server, chat_chunk, free_port, script_model

GREEDY = GenerationOptions.validated(temperature=0, repetition_penalty=1.0)
TIMEOUT_S = 20.0
SECRET = "sk-r1v-test-5f3a9c0e1b7d"


@pytest.fixture(scope="module")
def scripts(tiny_folder, tmp_path_factory):  # noqa: F811
    from model.local.loader import load
    from model.registry import ModelSpec, by_name

    spec = ModelSpec(**{**by_name("tiny").__dict__, "source": str(tiny_folder)})
    root = tmp_path_factory.mktemp("served")
    answerer = script_model(load(spec, device="cpu"), root / "answerer")
    ponderer = script_model(load(spec, device="cpu"), root / "ponderer", cycle=True)
    return answerer, ponderer


@pytest.fixture(scope="module")
def server(scripts, tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("server")).start()
    try:
        warm = engine(server, scripts[0])  # loads the answerer, so /v1/models lists it first
        assert collect(warm.stream(ask("warm up")))["done"].finish_reason is FinishReason.ANSWERED
        yield server
    finally:
        server.stop()


@pytest.fixture
def live(server):
    """The module's server, started again if a test left it down."""
    if server.process.poll() is not None:
        server.start()
    return server


def engine(server, script=None, **kwargs) -> RemoteEngine:
    model = str(script.folder) if script is not None else None
    return RemoteEngine(server.endpoint, model=model, timeout_s=TIMEOUT_S, template="deepseek_r1", **kwargs)


def ask(question: str = "What is the answer?", images=(), stop=None, **options) -> Request:
    return Request(question, tuple(images), options=GREEDY.replace(**options), stop=stop)


def png(width: int = 128, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def kinds(result: dict) -> list[str]:
    names: list[str] = []
    for event in result["events"]:
        name = type(event).__name__
        if not names or names[-1] != name or name not in ("ThinkingDelta", "AnswerDelta"):
            names.append(name)
    return names


# -- streaming against transformers serve


def test_thinking_then_answer_stream_as_events_from_the_listed_model(live, scripts):
    answerer = scripts[0]
    remote = engine(live)  # model=None: the first model /v1/models lists
    result = collect(remote.stream(ask()))
    assert remote.model == str(answerer.folder)
    assert kinds(result) == ["ThinkingDelta", "AnswerDelta", "Stats", "Done"]
    assert result["thinking"] == answerer.thinking and result["answer"] == answerer.answer
    counts = [e.tokens for e in result["events"] if isinstance(e, ThinkingDelta)]
    assert counts == list(range(1, answerer.thinking_tokens + 1))
    stats = result["stats"]
    assert stats.finish_reason is FinishReason.ANSWERED and not stats.budget_fired
    # `</think>` counts as thinking; `\n\n` and the end token as answer (as in LocalEngine)
    assert (stats.thinking_tokens, stats.answer_tokens) == (answerer.thinking_tokens + 1, answerer.answer_tokens + 2)
    assert stats.prompt_tokens > 0 and stats.ttft_s is not None


def test_images_are_sent_as_data_urls_and_expanded_by_the_server(live, scripts):
    remote = engine(live, scripts[0])
    plain = collect(remote.stream(ask("Which colour?")))
    pictured = collect(remote.stream(ask("Which colour?", images=[png(128, 64)])))
    assert pictured["answer"] == plain["answer"] == scripts[0].answer
    tiles = count_tiles(128, 64, tile_size=64, max_tiles=4)  # 2×1 grid and a thumbnail
    # <img>, 4 tokens per tile, </img>, "\n": the server tiled the image as the tiny model expects
    assert pictured["stats"].prompt_tokens - plain["stats"].prompt_tokens == tiles * 4 + 3


def test_messages_keep_earlier_images_in_their_turn_and_put_images_before_text():
    first, second = png(64, 64), png(32, 96)
    request = Request("And now?", (second,), history=(Turn("What is it?", "A red square.", (first,)),))
    messages = build_messages(request, Limits())
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "A red square."
    for message in (messages[0], messages[2]):
        assert [part["type"] for part in message["content"]] == ["image_url", "text"]
        assert message["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    urls = [message["content"][0]["image_url"]["url"] for message in (messages[0], messages[2])]
    sizes = [Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size for url in urls]
    assert sizes == [(64, 64), (32, 96)]


# -- the thinking budget


def test_client_budget_cuts_the_thinking_hands_over_and_answers(live, scripts):
    answerer = scripts[0]
    remote = engine(live, answerer)  # auto: the server refuses thinking_token_budget, so the client cuts
    for _ in range(2):  # the second run uses what the first learnt
        result = collect(remote.stream(ask(thinking_budget=8)))
        assert kinds(result) == ["ThinkingDelta", "BudgetReached", "ThinkingDelta", "AnswerDelta", "Stats", "Done"]
        assert result["thinking"] == answerer.thinking[:8] + HAND_OVER
        assert result["answer"] == answerer.answer
        fired = next(e for e in result["events"] if isinstance(e, BudgetReached))
        assert fired.thinking_tokens == 8
        stats = result["stats"]
        assert stats.finish_reason is FinishReason.BUDGET_THEN_ANSWERED and stats.budget_fired
        assert 8 < stats.thinking_tokens <= 8 + HAND_OVER_TOKENS
    assert BUDGET_FIELD in remote.refused_fields


def test_a_zero_budget_answers_without_thinking(live, scripts):
    result = collect(engine(live, scripts[0], budget_mode="client").stream(ask(thinking_budget=0)))
    assert result["thinking"] == "" and result["answer"] == scripts[0].answer
    assert result["done"].finish_reason is FinishReason.BUDGET_THEN_ANSWERED


def test_server_budget_mode_names_what_the_server_lacks(live, scripts):
    remote = engine(live, scripts[0], budget_mode="server")
    for _ in range(2):  # and does not quietly fall back to the client's budget
        result = collect(remote.stream(ask(thinking_budget=8)))
        assert kinds(result) == ["Error", "Stats", "Done"]
        assert result["errors"][0].kind == "backend" and BUDGET_FIELD in result["errors"][0].message
        assert result["done"].finish_reason is FinishReason.ERROR


def test_a_budget_with_images_needs_a_server_that_continues_messages(live, scripts):
    remote = engine(live, scripts[0])
    result = collect(remote.stream(ask(images=[png()], thinking_budget=4)))
    assert result["thinking"].startswith(scripts[0].thinking[:4]) and result["answer"] == ""
    assert "cannot continue a cut-off thinking with images" in result["errors"][0].message
    assert CONTINUE_FIELDS.keys() <= remote.refused_fields  # transformers serve: no continue_final_message
    assert result["done"].finish_reason is FinishReason.ERROR


# -- stopping, and the server staying free


def assert_server_is_free(remote: RemoteEngine, script) -> None:
    """The ponderer answers only through a budget: a hung earlier run would make this time out."""
    result = collect(remote.stream(ask(thinking_budget=3)))
    assert result["errors"] == [] and result["answer"] == script.answer


def test_stop_mid_thinking_closes_the_stream_and_frees_the_server(live, scripts):
    ponderer = scripts[1]
    remote, stop = engine(live, ponderer), threading.Event()
    events = []
    for event in remote.stream(ask(stop=stop)):
        events.append(event)
        if len(events) == 3:
            stop.set()
    result = collect(events)
    assert kinds(result) == ["ThinkingDelta", "Stats", "Done"]
    assert result["done"].finish_reason is FinishReason.STOPPED
    assert result["stats"].thinking_tokens == 3
    assert_server_is_free(remote, ponderer)


def test_closing_the_generator_closes_the_stream(live, scripts):
    remote = engine(live, scripts[1])
    events = remote.stream(ask())
    assert all(isinstance(e, ThinkingDelta) for e in islice(events, 3))
    events.close()
    assert_server_is_free(remote, scripts[1])


# -- failures


def test_an_absent_server_gives_a_clear_error():
    endpoint = f"http://127.0.0.1:{free_port()}/v1"
    result = collect(RemoteEngine(endpoint, model="m", timeout_s=5).stream(ask()))
    assert kinds(result) == ["Error", "Stats", "Done"]
    error = result["errors"][0]
    assert error.kind == "backend" and "not reachable" in error.message
    assert endpoint not in error.message and "127.0.0.1" not in error.message  # the address is internal
    assert result["done"].finish_reason is FinishReason.ERROR



def test_an_unreachable_server_is_named_in_the_log_only(caplog):
    """The person reads "the model server"; the server's log says which one (the address is internal)."""
    endpoint = f"http://127.0.0.1:{free_port()}/v1"
    with caplog.at_level("WARNING", logger="model.remote.engine"):
        result = collect(RemoteEngine(endpoint, model="m", timeout_s=5).stream(ask()))
    message = result["errors"][0].message
    assert "The model server is not reachable" in message and "127.0.0.1" not in message
    assert any(endpoint in record.getMessage() for record in caplog.records)


def test_a_cause_quoting_the_address_is_shown_without_it():
    import httpx
    import openai

    from model.remote.endpoint import describe_failure

    endpoint = "http://10.1.2.3:8000/v1"
    request = httpx.Request("POST", endpoint + "/chat/completions")
    cause = httpx.ConnectError("cannot connect to 10.1.2.3:8000 (http://10.1.2.3:8000/v1)")
    failure = openai.APIConnectionError(request=request)
    failure.__cause__ = cause
    for connected in (False, True):
        error = describe_failure(failure, endpoint, 5, connected)
        assert "10.1.2.3" not in error.message and "endpoint" not in (error.params or {}), error
    assert "10.1.2.3" not in describe_failure(openai.APITimeoutError(request=request), endpoint, 5, False).message

def test_a_bad_image_is_refused_before_any_network_call():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        remote = RemoteEngine(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", timeout_s=5)
        bad = b"%PDF-1.4 not an image"
        with pytest.raises(UserFacingError) as expected:
            load_images([bad], Limits())
        assert list(remote.stream(ask(images=[bad]))) == [Error(str(expected.value), kind="input"),
                                                          Done(FinishReason.ERROR)]
        with pytest.raises(socket.timeout):
            listener.accept()


def test_a_server_error_is_a_short_backend_error_and_the_engine_keeps_working(live, scripts):
    remote = engine(live, scripts[0])
    remote.model = "/no/such/model"
    result = collect(remote.stream(ask()))
    assert result["errors"][0].kind == "backend" and "HTTP 500" in result["errors"][0].message
    remote.model = str(scripts[0].folder)
    assert collect(remote.stream(ask()))["answer"] == scripts[0].answer


@pytest.mark.parametrize("reply, kind, words", [
    ((200, ["{not json"]), "backend", "not OpenAI-compatible JSON"),
    ((200, [chat_chunk(content="half an ans")]), "backend", "without finishing"),
    ((503, ['{"message": "overloaded"}']), "backend", "HTTP 503: overloaded"),
    (HANG, "timeout", "did not answer within 0.5 s"),
])
def test_broken_replies_become_short_errors(reply, kind, words):
    with FakeServer(lambda path, body: reply) as fake:
        result = collect(RemoteEngine(fake.endpoint, model="fake", timeout_s=0.5).stream(ask()))
    assert [(e.kind, words in e.message) for e in result["errors"]] == [(kind, True)]
    assert kinds(result)[-2:] == ["Stats", "Done"] and result["done"].finish_reason is FinishReason.ERROR


def test_a_server_killed_mid_stream_is_an_error_and_a_restart_is_picked_up(live, scripts):
    ponderer = scripts[1]
    remote = engine(live, ponderer)
    events = []
    for event in remote.stream(ask()):
        events.append(event)
        if len(events) == 3:
            live.kill()
    result = collect(events)
    assert kinds(result) == ["ThinkingDelta", "Error", "Stats", "Done"]
    assert result["errors"][0].kind == "backend" and live.endpoint not in result["errors"][0].message
    assert result["done"].finish_reason is FinishReason.ERROR
    live.start()
    assert_server_is_free(remote, ponderer)


# -- what vLLM sends, played by a scripted server


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_a_server_reasoning_field_is_the_thinking(field):
    chunks = [chat_chunk(reasoning=text, field=field) for text in ("Two ", "and two")]
    chunks += [chat_chunk(content="\n\nFour."), chat_chunk(finish="stop"), "[DONE]"]
    with FakeServer(lambda path, body: (200, chunks)) as fake:
        result = collect(RemoteEngine(fake.endpoint, timeout_s=5).stream(ask()))
    assert (result["thinking"], result["answer"]) == ("Two and two", "Four.")
    assert result["done"].finish_reason is FinishReason.ANSWERED
    assert (result["stats"].thinking_tokens, result["stats"].answer_tokens) == (2, 1)


@pytest.mark.parametrize("pieces", [
    # R1V3: no reasoning parser, and `</think>` arrives in pieces; the model closes its thinking twice
    [("", "Two and two</"), ("", "think>\n\nFour"), ("", "</th"), ("", "ink>.")],
    # a reasoning parser that leaves a marker in the content
    [("Two and two", ""), ("", "</think>\n\nFour."), ("", "</think>")],
])
def test_no_raw_marker_reaches_the_answer(pieces):
    chunks = [chat_chunk(content=content or None, reasoning=reasoning or None) for reasoning, content in pieces]
    with FakeServer(lambda path, body: (200, [*chunks, chat_chunk(finish="stop"), "[DONE]"])) as fake:
        result = collect(RemoteEngine(fake.endpoint, model="fake", timeout_s=5).stream(ask()))
    assert (result["thinking"], result["answer"]) == ("Two and two", "Four.")


@pytest.mark.parametrize("model, shown", [(None, "remote model"), ("/srv/models/r1v3-awq/", "r1v3-awq"),
                                         ("my-finetune", "my-finetune")])
def test_visitors_see_the_model_name_never_the_endpoint(model, shown):
    import app
    from ui.page.handlers import ModelSlot

    with FakeServer(lambda path, body: (200, [])) as fake:
        argv = ["--backend", "openai", "--endpoint", fake.endpoint] + (["--model", model] if model else [])
        args = app.parse_args(argv)
        slot = ModelSlot(app.remote_engine_factory(args), app.remote_info(args))
        seen = []
        slot._report = lambda status: seen.append(status)  # what the status line shows while connecting
        slot.start()
        assert slot.wait(10)
        lines = [slot.status_markdown(), *(status.message for status in seen)]
    assert all(fake.endpoint not in line and "127.0.0.1" not in line for line in lines), lines
    assert f"**Model:** {shown} · ready" == lines[0] and shown in lines[1]


def test_usage_from_the_server_corrects_the_chunk_counts():
    usage = {"prompt_tokens": 11, "completion_tokens": 9, "total_tokens": 20}
    chunks = [chat_chunk(content="a"), chat_chunk(content="</think>"), chat_chunk(content="b", finish="stop"),
              {"id": "fake", "object": "chat.completion.chunk", "created": 0, "model": "fake", "choices": [],
               "usage": usage}, "[DONE]"]
    with FakeServer(lambda path, body: (200, chunks)) as fake:
        stats = collect(RemoteEngine(fake.endpoint, model="fake", timeout_s=5).stream(ask()))["stats"]
    assert (stats.prompt_tokens, stats.thinking_tokens, stats.answer_tokens) == (11, 2, 7)


def test_server_budget_is_sent_and_an_ignored_one_is_enforced_here():
    def reply(path, body):
        if body.get("continue_final_message"):
            assert body["messages"][-1]["content"].endswith(HAND_OVER + "</think>\n\n")
            return 200, [chat_chunk(content="Done."), chat_chunk(finish="stop"), "[DONE]"]
        return 200, [chat_chunk(reasoning="x") for _ in range(60)] + [chat_chunk(finish="length"), "[DONE]"]

    with FakeServer(reply) as fake:
        remote = RemoteEngine(fake.endpoint, model="fake", timeout_s=5)
        result = collect(remote.stream(ask(thinking_budget=4)))
        again = collect(remote.stream(ask(thinking_budget=4)))
    first, continuation, second = (body for _, _, body in fake.requests[:3])
    assert first[BUDGET_FIELD] == 4 and BUDGET_FIELD not in continuation and BUDGET_FIELD not in second
    assert result["answer"] == again["answer"] == "Done."
    assert result["done"].finish_reason is FinishReason.BUDGET_THEN_ANSWERED
    assert result["thinking"].count("x") == 4 + 16 and again["thinking"].count("x") == 4  # the slack, once


def test_a_cut_thinking_continues_from_the_exact_r1v_prompt():
    thinking = [chat_chunk(content=text) for text in ("Two", " and", " two", " is")]
    answer = {"id": "c", "object": "text_completion", "created": 0, "model": "m",
              "choices": [{"index": 0, "text": "Four.", "finish_reason": "stop"}]}

    def reply(path, body):
        return (200, [answer, "[DONE]"]) if path.endswith("/v1/completions") else (200, thinking)

    request = Request("What is 2+2?", history=(Turn("Hi", "Hello."),), options=GREEDY.replace(thinking_budget=2))
    with FakeServer(reply) as fake:
        remote = RemoteEngine(fake.endpoint, model="Skywork/Skywork-R1V-38B", timeout_s=5, budget_mode="client")
        result = collect(remote.stream(request))
    assert (result["thinking"], result["answer"]) == ("Two and" + HAND_OVER, "Four.")
    path, _, body = fake.requests[-1]
    assert path == "/v1/completions" and body["add_special_tokens"] is False
    assert body["prompt"] == ("<｜begin▁of▁sentence｜><｜User｜>\nHi<｜Assistant｜>Hello.<｜end▁of▁sentence｜>"
                              "<｜User｜>\nWhat is 2+2?<｜Assistant｜><think>\nTwo and" + HAND_OVER + "</think>\n\n")


def test_sampling_options_reach_the_server():
    chunks = [chat_chunk(content="</think>ok", finish="stop"), "[DONE]"]
    with FakeServer(lambda path, body: (200, chunks)) as fake:
        options = dict(temperature=0.7, top_p=0.9, top_k=20, repetition_penalty=1.1, seed=7, thinking_budget=100,
                       answer_budget=64)
        collect(RemoteEngine(fake.endpoint, model="fake", timeout_s=5, budget_mode="server").stream(ask(**options)))
    body = fake.requests[0][2]
    sent = {key: body[key] for key in ("temperature", "top_p", "top_k", "repetition_penalty", "seed", BUDGET_FIELD,
                                       "max_tokens")}
    assert sent == {"temperature": 0.7, "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.1, "seed": 7,
                    BUDGET_FIELD: 100, "max_tokens": 164}
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


# -- the API key


def test_the_api_key_is_sent_as_a_bearer_token_and_shown_nowhere(monkeypatch):
    monkeypatch.setenv("R1V_API_KEY", SECRET)
    answer = [chat_chunk(content="</think>"), chat_chunk(content="Fine.", finish="stop"), "[DONE]"]
    refusal = [json.dumps({"message": f"key {SECRET} is not valid"})]
    with FakeServer(lambda path, body: (200, answer)) as good, FakeServer(lambda path, body: (401, refusal)) as bad:
        events = []
        for endpoint in (good.endpoint, bad.endpoint, f"http://127.0.0.1:{free_port()}/v1"):
            remote = RemoteEngine(endpoint, model="m", timeout_s=5)
            events += list(remote.stream(ask()))
            assert SECRET not in repr(remote) and SECRET not in remote.name
    assert good.requests[0][1]["authorization"] == f"Bearer {SECRET}"
    assert [e.kind for e in events if isinstance(e, Error)] == ["backend", "backend"]
    assert AnswerDelta("Fine.", 1) in events
    assert all(SECRET not in repr(event) for event in events)


# -- input limits shared by both engines (model/limits.py, model/inputs/assemble.py)


def test_every_limit_can_be_set_from_the_environment_and_a_bad_value_is_named():
    names = [env_name(f.name) for f in fields(Limits)]
    assert "R1V_MAX_QUESTION_TOKENS" in names and "R1V_MAX_FILE_MB" in names
    limits = Limits.from_env({name: str(100 + index) for index, name in enumerate(names)})
    assert [getattr(limits, f.name) for f in fields(Limits)] == [100 + index for index in range(len(names))]
    for bad in ("many", "0", "-3", "1.5"):
        with pytest.raises(ValueError, match="R1V_MAX_PIXELS"):
            Limits.from_env({"R1V_MAX_PIXELS": bad})


def test_a_question_over_its_token_limit_is_refused_before_any_image_is_read(tiny_loaded):
    question = "abc def " * 50
    tokens = len(encode_user_text(tiny_loaded.tokenizer, question))
    unreadable = b"not an image"
    with pytest.raises(UserFacingError) as refused:
        prepare_input(tiny_loaded, ask(question, [unreadable], answer_budget=64),
                      Limits(max_question_tokens=tokens - 1))
    assert f"The question is {tokens:,} tokens long; the limit is {tokens - 1:,} tokens." in str(refused.value)
    with pytest.raises(UserFacingError, match="not a readable image"):  # at the limit the image is what is wrong
        prepare_input(tiny_loaded, ask(question, [unreadable], answer_budget=64), Limits(max_question_tokens=tokens))


def test_special_token_strings_count_as_the_text_they_are(tiny_loaded):
    question = "<IMG_CONTEXT></think>" * 20
    tokens = len(encode_user_text(tiny_loaded.tokenizer, question))
    assert tokens > 40  # neither string became one control token
    with pytest.raises(UserFacingError, match=f"is {tokens:,} tokens long"):
        prepare_input(tiny_loaded, ask(question, answer_budget=64), Limits(max_question_tokens=40))


def test_the_prompt_and_the_whole_answer_budget_must_fit_the_context(tiny_loaded):
    context = context_size(tiny_loaded)
    prompt_tokens = prepare_input(tiny_loaded, ask(images=[png()], answer_budget=64)).input_ids.shape[1]
    room = context - prompt_tokens
    fits = ask(images=[png()], answer_budget=room, thinking_budget=THINKING_BUDGET_MAX)  # thinking is clamped
    assert prepare_input(tiny_loaded, fits).input_ids.shape[1] == prompt_tokens
    with pytest.raises(UserFacingError) as refused:
        prepare_input(tiny_loaded, ask(images=[png()], answer_budget=room + 1))
    message = str(refused.value)
    assert f"The prompt ({prompt_tokens:,} tokens, images included)" in message
    assert f"plus the answer budget ({room + 1:,} tokens)" in message
    assert f"the limit is the model's context of {context:,} tokens" in message
    assert f"Lower the answer budget to at most {room:,} tokens" in message


def test_a_prompt_that_leaves_no_room_for_an_answer_asks_for_a_smaller_prompt():
    with pytest.raises(UserFacingError, match="context of 1,024 tokens. Use fewer tiles or images or a shorter"):
        check_context(prompt_tokens=1_020, answer_budget=16, context=1_024)
    check_context(prompt_tokens=1_008, answer_budget=16, context=1_024)
    check_context(prompt_tokens=10**6, answer_budget=16, context=0)  # a model that does not say: not checked here


def test_a_request_beyond_a_limit_never_reaches_the_model(tiny_loaded):
    model = tiny_loaded.model
    calls = []
    hook = model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        over_context = ask(images=[png()], answer_budget=context_size(tiny_loaded))
        result = collect(LocalEngine(tiny_loaded).stream(over_context))
    finally:
        hook.remove()
    assert [type(e).__name__ for e in result["events"]] == ["Error", "Done"] and not calls
    assert result["errors"][0].kind == "input" and "context" in result["errors"][0].message


def test_the_limits_in_the_environment_apply_when_none_are_given(tiny_loaded, monkeypatch):
    monkeypatch.setenv("R1V_MAX_QUESTION_TOKENS", "3")
    with pytest.raises(UserFacingError, match="the limit is 3 tokens"):
        prepare_input(tiny_loaded, ask("How many red shapes are there?", answer_budget=64))


def test_a_file_over_the_size_limit_is_refused_before_it_is_decoded(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(png(1, 1) + bytes(3 * 2**19))  # a valid PNG followed by padding: 1.5 MB in all
    with pytest.raises(UserFacingError, match=r"big\.png is 1\.5 MiB; the limit is 1 MiB per file"):
        load_images([str(big)], Limits(max_file_mb=1))
    with pytest.raises(UserFacingError, match=r"image 1 is 1\.5 MiB; the limit is 1 MiB per file"):
        build_messages(ask(images=[big.read_bytes()]), Limits(max_file_mb=1))
    assert load_images([str(big)], Limits(max_file_mb=2))[0].size == (1, 1)
