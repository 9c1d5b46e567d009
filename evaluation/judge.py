"""An LLM judge through any OpenAI-compatible endpoint (`--judge-endpoint`), as one more column.

`LLMJudge(endpoint, model=None).verdict(item, answer)` asks the judge whether the answer means the
same as the gold answer and reads a one-word reply: {"extracted": "correct"|"incorrect"|reply,
"right": bool}. A failed call (server down, timeout) gives {"right": False, "error": message}: the
run goes on and the summary counts how many verdicts failed. The key comes from env R1V_JUDGE_KEY.
"""
from __future__ import annotations

import os
import re
from typing import Any

from evaluation.items import Item

JUDGE_KEY_ENV = "R1V_JUDGE_KEY"
INSTRUCTION = (
    "You grade answers to exam questions. Given the question, the reference answer and a student's "
    "answer, decide whether the student's final answer means the same as the reference answer "
    "(same option, or the same value up to the precision asked; wording and units may differ). "
    "Reply with one word: CORRECT or INCORRECT."
)


def judge_prompt(item: Item, answer: str) -> str:
    reference = item.gold_text if not item.gold_letter else f"({item.gold_letter}) {item.gold_text}"
    return f"Question:\n{item.prompt}\n\nReference answer:\n{reference}\n\nStudent's answer:\n{answer}"


def read_reply(reply: str) -> bool | None:
    words = re.findall(r"[A-Za-z]+", reply.upper())
    if "INCORRECT" in words:
        return False
    if "CORRECT" in words:
        return True
    return None


class LLMJudge:
    def __init__(self, endpoint: str, model: str | None = None, timeout_s: float = 60):
        import openai

        from model.remote.engine import normalise_endpoint

        self._client = openai.OpenAI(base_url=normalise_endpoint(endpoint), max_retries=1, timeout=timeout_s,
                                     api_key=os.environ.get(JUDGE_KEY_ENV) or "EMPTY")
        self._model = model

    def _model_id(self) -> str:
        if self._model is None:
            self._model = self._client.models.list().data[0].id
        return self._model

    def verdict(self, item: Item, answer: str) -> dict[str, Any]:
        try:
            stream = self._client.chat.completions.create(  # streamed, like the answers themselves: one wire format for every server
                model=self._model_id(), temperature=0, max_tokens=8, stream=True,
                messages=[{"role": "system", "content": INSTRUCTION},
                          {"role": "user", "content": judge_prompt(item, answer)}])
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices).strip()
        except Exception as error:  # noqa: BLE001 - a judge failure must not end the run
            return {"extracted": None, "right": False, "error": f"{type(error).__name__}: {error}"[:300]}
        right = read_reply(text)
        return {"extracted": text[:80], "right": bool(right), **({} if right is not None else {"error": "unreadable"})}
