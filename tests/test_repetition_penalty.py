"""The repetition penalty counts only generated tokens, as the official InternVL/Skywork `chat` does.

The official `model.chat` builds the prompt's embeddings itself (image features scattered into the
token embeddings) and calls `generate(inputs_embeds=...)`: `generate` then holds no prompt ids, so
transformers' penalty sees only new tokens. That call, made here on the bundled checkpoint, is the
reference. On a two-turn image question at the page's default penalty (1.05) a penalty over the
prompt too gives other greedy tokens; the engine, plain and fast path, must give the reference's.
"""
from __future__ import annotations

import functools

import pytest
import torch

from model.local.engine import LocalEngine
from model.events import GenerationOptions, Request, Turn
from model.local.fastpath import FastPath
from model.inputs.assemble import prepare_input
from tests.helpers import collect, tiny_folder, tiny_loaded  # noqa: F401 (fixtures)
from tests.test_engine import GREEDY, png

PENALTY = 1.05


def two_turn_question(first_answer: str) -> Request:
    image, question = png(2)
    history = (Turn(question, first_answer, (image,)),)
    return Request("And how many blue shapes?", (), history=history,
                   options=GenerationOptions.validated(**{**GREEDY, "repetition_penalty": PENALTY}))


def official_embeddings(model, prepared) -> torch.Tensor:
    """The prompt as the official chat hands it to generate: token embeddings with the image
    features in place of the image-context tokens."""
    embeddings = model.get_input_embeddings()(prepared.input_ids)
    features = model.model.get_image_features(pixel_values=prepared.pixel_values)
    features = getattr(features, "pooler_output", features)
    places = (prepared.input_ids == model.config.image_token_id).unsqueeze(-1).expand_as(embeddings)
    return embeddings.masked_scatter(places, features.to(embeddings.dtype))


def reference_ids(loaded, prepared, tokens: int, stop_ids: list[int], **how) -> list[int]:
    with torch.inference_mode():
        common = dict(attention_mask=torch.ones_like(prepared.input_ids), do_sample=False, max_new_tokens=tokens,
                      eos_token_id=stop_ids, pad_token_id=loaded.tokenizer.pad_token_id)
        if how.get("embeddings"):
            out = loaded.model.generate(inputs_embeds=official_embeddings(loaded.model, prepared),
                                        repetition_penalty=how["penalty"], **common)
            return out[0].tolist()  # from embeddings generate returns the new tokens only
        out = loaded.model.generate(input_ids=prepared.input_ids, pixel_values=prepared.pixel_values,
                                    repetition_penalty=how["penalty"], **common)
        return out[0, prepared.input_ids.shape[1]:].tolist()


def engine_ids(engine: LocalEngine, request: Request, monkeypatch) -> list[int]:
    model, original, outputs = engine.loaded.model, engine.loaded.model.generate, []

    @functools.wraps(original)
    def keeping(*args, **kwargs):
        outputs.append(original(*args, **kwargs))
        return outputs[-1]

    monkeypatch.setattr(model, "generate", keeping)
    collect(engine.stream(request))
    monkeypatch.setattr(model, "generate", original)
    prompt = prepare_input(engine.loaded, request).input_ids.shape[1]
    return outputs[-1][0, prompt:].tolist()  # the last stretch holds the whole sequence


@pytest.mark.parametrize("climbing", [False, True], ids=["plain", "climbing"])
def test_the_engine_penalises_generated_tokens_only_as_the_official_chat(tiny_loaded, monkeypatch, climbing):  # noqa: F811
    image, question = png(2)
    first = collect(LocalEngine(tiny_loaded).stream(Request(question, (image,),
                                                            options=GenerationOptions.validated(**GREEDY))))
    request = two_turn_question(first["answer"])
    prepared = prepare_input(tiny_loaded, request)
    prompt = prepared.input_ids.shape[1]
    # Climbing: sizes just past the prompt, so the penalised tokens are made in two more caches.
    fast = FastPath(compile=False, lengths=[prompt + 3, prompt + 5], stretch=2) if climbing else None
    engine = LocalEngine(tiny_loaded, fast=fast)
    got = engine_ids(engine, request, monkeypatch)
    official = reference_ids(tiny_loaded, prepared, len(got), engine.stop_ids, embeddings=True, penalty=PENALTY)
    over_prompt = reference_ids(tiny_loaded, prepared, len(got), engine.stop_ids, penalty=PENALTY)
    assert got == official
    assert over_prompt[:len(got)] != official  # the case tells the two semantics apart
    assert not climbing or fast.moves == 2


def test_the_reference_builds_the_same_prompt_as_the_engine(tiny_loaded):  # noqa: F811
    """Without a penalty, generating from the official embeddings gives the ids generate gives from
    the prompt ids and pixels: the reference is the same question, not another one."""
    prepared = prepare_input(tiny_loaded, two_turn_question("The answer is 2."))
    stop = [tiny_loaded.tokenizer.eos_token_id]
    assert (reference_ids(tiny_loaded, prepared, 40, stop, embeddings=True, penalty=1.0)
            == reference_ids(tiny_loaded, prepared, 40, stop, penalty=1.0))
