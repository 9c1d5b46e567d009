"""A resumable run: each item through the engine, scored, appended to DIR/results.jsonl at once.

- `ResultsFile(path)`: the JSON Lines of finished items. On opening, a last line cut short by a
  crash is dropped; `done` holds the ids that need no rerun (an item that failed for a reason a
  retry may cure, such as a server error, is run again; its newer line wins). `append` writes one
  line, flushes and fsyncs it, so a kill loses at most the item being answered.
- `run(items, engine, config)`: answers the items not yet done, `config.concurrency` at a time
  (a remote server batches them), with a progress bar showing the running accuracy under the
  item's own rule and the time left. Ctrl-C stops the answers in flight (they are not written: a
  rerun asks them again) and returns; nothing finished is lost.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from evaluation import scorers
from evaluation.items import Item, item_seed
from model.events import AnswerDelta, Done, Error, GenerationOptions, Request, Stats, ThinkingDelta

RETRIED_ERRORS = {"backend", "timeout", "internal", "oom"}  # failures a rerun may cure


class ResultsFile:
    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, dict] = {}
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines() if path.exists() else [], 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{number} is not a result line (not JSON); remove it to resume") from None
            self.records[record["id"]] = record

    def _repair(self) -> None:
        """Drop a last line without its newline: the process died while writing it."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with self.path.open("r+b") as file:
                file.truncate(data.rfind(b"\n") + 1)

    @property
    def done(self) -> set[str]:
        return {item_id for item_id, record in self.records.items() if record.get("error_kind") not in RETRIED_ERRORS}

    def append(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
            self.records[record["id"]] = record


@dataclass
class RunConfig:
    options: GenerationOptions
    seed: int = 0
    concurrency: int = 1
    judge: Any = None
    model: str = ""
    backend: str = "local"
    show_progress: bool = True
    stop: threading.Event = field(default_factory=threading.Event)


def answer(engine, item: Item, config: RunConfig) -> dict | None:
    """One item through the engine and the scorers; None when it was stopped before it finished."""
    seed = item_seed(config.seed, item.id)
    options = config.options.replace(seed=seed)
    thinking, text, stats, error, started = [], [], None, None, time.monotonic()
    for event in engine.stream(Request(item.prompt, item.images, options=options, request_id=item.id,
                                       stop=config.stop)):
        if isinstance(event, ThinkingDelta):
            thinking.append(event.text)
        elif isinstance(event, AnswerDelta):
            text.append(event.text)
        elif isinstance(event, Stats):
            stats = event
        elif isinstance(event, Error):
            error = event
        elif isinstance(event, Done) and config.stop.is_set():
            return None
    prediction = "".join(text)
    return _record(item, config, options, prediction, "".join(thinking), stats, error, time.monotonic() - started)


def _record(item: Item, config: RunConfig, options: GenerationOptions, prediction: str, thinking: str,
            stats: Stats | None, error: Error | None, seconds: float) -> dict:
    record = {
        "id": item.id, "question": item.prompt, "images": item.image_digests(), "gold": item.gold,
        "choices": list(item.choices), "question_type": item.question_type, "subject": item.subject,
        "rule": item.rule, "prediction": prediction,
        "scores": scorers.score(item, prediction, options.seed, config.judge),
        "thinking_tokens": stats.thinking_tokens if stats else 0,
        "answer_tokens": stats.answer_tokens if stats else 0, "seconds": round(seconds, 3),
        "finish_reason": stats.finish_reason.value if stats else "error",
        "settings": {key: value for key, value in asdict(options).items() if key != "seed"},
        "seed": options.seed, "model": config.model, "backend": config.backend, "thinking": thinking,
    }
    record["extracted"] = record["scores"][item.rule]["extracted"]
    if item.answer_type != "text" or item.precision is not None or item.unit:
        record.update(answer_type=item.answer_type, precision=item.precision, unit=item.unit)
    if error is not None:
        record.update(error=error.message, error_kind=error.kind)
    return record


class _Progress:
    """tqdm's bar (time left from its rate) with the running accuracy under each item's own rule."""

    def __init__(self, total: int, results: ResultsFile, ids: set[str], show: bool):
        from tqdm import tqdm

        self.results, self.ids = results, ids
        done = len(ids & set(results.records))
        self.bar = tqdm(total=total, initial=done, unit="item", file=sys.stderr, disable=not show, dynamic_ncols=True)
        self._update_accuracy()

    def _update_accuracy(self) -> None:
        rights = [r["scores"][r["rule"]]["right"] for i, r in self.results.records.items() if i in self.ids]
        if rights:
            self.bar.set_postfix_str(f"accuracy {sum(rights) / len(rights):.1%} of {len(rights)}")

    def step(self) -> None:
        self._update_accuracy()
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run(items: Iterable[Item], engine, results: ResultsFile, config: RunConfig) -> dict[str, int]:
    """Answer what is not done yet; returns counts: total, skipped (done before), answered, interrupted."""
    items = list(items)
    done = results.done
    todo = [item for item in items if item.id not in done]
    progress = _Progress(len(items), results, {item.id for item in items}, config.show_progress)
    answered, interrupted = 0, False
    pool = ThreadPoolExecutor(max_workers=max(1, config.concurrency), thread_name_prefix="evaluate")
    pending: set[Future] = set()
    queue = iter(todo)
    try:
        pending = {pool.submit(answer, engine, item, config) for item in _take(queue, config.concurrency)}
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                record = future.result()
                if record is not None:
                    results.append(record)
                    answered += 1
                    progress.step()
                pending |= {pool.submit(answer, engine, item, config) for item in _take(queue, 1)}
    except KeyboardInterrupt:
        interrupted = True
        config.stop.set()  # answers in flight end within a step and are not written
        answered += _keep_finished(pending, results)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
    return {"total": len(items), "skipped": len(items) - len(todo), "answered": answered,
            "interrupted": int(interrupted)}


def _keep_finished(pending: set[Future], results: ResultsFile) -> int:
    """After Ctrl-C: write the answers that had finished before the stop."""
    kept = 0
    for future in pending:
        record = future.result() if not future.cancelled() else None
        if record is not None:
            results.append(record)
            kept += 1
    return kept


def _take(queue, count: int) -> list[Item]:
    taken = []
    for item in queue:
        taken.append(item)
        if len(taken) == count:
            break
    return taken
