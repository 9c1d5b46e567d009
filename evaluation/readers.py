"""Sets of questions from files: `read_set(source, layout="auto", prompt="benchmark") -> list[Item]`.

`source` is "puzzles" (the bundled puzzle generator, seed `PUZZLE_SEED`, `PUZZLE_COUNT` items) or a
path: a JSON Lines / JSON file, or a folder holding such files (and their images). Layouts:
- "generic": `image` (a path, relative to the file, or a list of them), `question`, `answer`,
  optional `choices` (a list), `id`, `subject`; scored by MMMU's rules. A folder may also use
  `file_name` (Hugging Face's image-folder metadata.jsonl) for the image.
- "mmmu": MMMU's columns (`id`, `question`, `options`, `answer`, `question_type`, `image_1`..`image_7`,
  `subfield`); prompt as MMMU builds it (options as "(A) ...", then MMMU's instruction).
- "mathvista": MathVista's columns (`pid`, `question`, `query`, `image`/`decoded_image`, `choices`,
  `answer`, `question_type`, `answer_type`, `precision`, `unit`, `metadata`); prompt = `query`.
"auto" tells them apart by their columns. Images are a path, or `{"bytes": ..., "path": ...}` as the
datasets library writes them (bytes raw or base64). `.parquet` files are read with pyarrow
(in requirements.txt; imported only for them). `prompt="question"` sends the question alone (no options, no instruction).
A bad file raises `SetError` naming the file, the line and what is wrong.
"""
from __future__ import annotations

import ast
import base64
import io
import json
from pathlib import Path
from typing import Any, Iterator

from evaluation.items import MULTIPLE_CHOICE, OPEN, Item

PUZZLE_SEED = 12_345  # a seed the tiny model's trainer never used (it trains on seed 0)
PUZZLE_COUNT = 100
LAYOUTS = ("auto", "generic", "mmmu", "mathvista")
PROMPTS = ("benchmark", "question")
MMMU_CHOICE_INSTRUCTION = "Answer with the option's letter from the given choices directly."
MMMU_OPEN_INSTRUCTION = "Answer the question using a single word or phrase."
SUFFIXES = (".jsonl", ".json", ".parquet")


class SetError(ValueError):
    """A set that cannot be read; the message names the file and what is wrong."""


def read_set(source: str, layout: str = "auto", prompt: str = "benchmark", split: str = "") -> list[Item]:
    if layout not in LAYOUTS or prompt not in PROMPTS:
        raise SetError(f"layout must be one of {', '.join(LAYOUTS)} and prompt one of {', '.join(PROMPTS)}")
    if source == "puzzles":
        return puzzle_items()
    path = Path(source).expanduser()
    if not path.exists():
        raise SetError(f"{source}: no such file or folder (or use the built-in set: --set puzzles)")
    items = [item for file in _files(path, split) for item in _read_file(file, layout, prompt)]
    if not items:
        raise SetError(f"{source}: no questions found (looked for {', '.join(SUFFIXES)} files)")
    _check_unique(items)
    return items


def puzzle_items(seed: int = PUZZLE_SEED, count: int = PUZZLE_COUNT) -> list[Item]:
    from model.tiny.puzzles import generate

    items = []
    for index, puzzle in enumerate(generate(seed, count)):
        buffer = io.BytesIO()
        puzzle.image.save(buffer, format="PNG")
        items.append(Item(f"puzzle-{index:05d}", puzzle.question, puzzle.answer, (buffer.getvalue(),),
                          rule="puzzle", subject=puzzle.kind))
    return items


def _files(path: Path, split: str) -> list[Path]:
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    return [p for p in found if split in p.name]


def _records(file: Path) -> Iterator[tuple[int, dict]]:
    if file.suffix == ".parquet":
        yield from enumerate(_parquet_rows(file), 1)
        return
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        data = json.loads(text)
        rows = data.values() if isinstance(data, dict) else data  # MathVista's testmini.json: {pid: record}
        yield from enumerate(rows, 1)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise SetError(f"{file}:{number}: not valid JSON ({error.msg})") from None


def _parquet_rows(file: Path) -> list[dict]:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise SetError(f"{file}: reading .parquet needs pyarrow, which is not installed here; "
                       "`pip install pyarrow`, or give the same columns as JSON Lines") from None
    return parquet.read_table(file).to_pylist()


def _read_file(file: Path, layout: str, prompt: str) -> Iterator[Item]:
    for number, record in _records(file):
        if not isinstance(record, dict):
            raise SetError(f"{file}:{number}: each question must be a JSON object")
        kind = _detect(record) if layout == "auto" else layout
        try:
            yield READERS[kind](record, file.parent, prompt, f"{file.stem}-{number}")
        except (KeyError, TypeError, ValueError, OSError) as error:
            if isinstance(error, SetError):
                raise SetError(f"{file}:{number}: {error}") from None
            raise SetError(f"{file}:{number}: {kind} question unreadable ({type(error).__name__}: {error})") from None


def _detect(record: dict) -> str:
    if "pid" in record and "answer_type" in record:
        return "mathvista"
    if "options" in record and any(key.startswith("image_") for key in record):
        return "mmmu"
    return "generic"


def _required(record: dict, *names: str) -> None:
    missing = [name for name in names if record.get(name) in (None, "")]
    if missing:
        raise SetError(f"missing {', '.join(missing)} (has: {', '.join(sorted(record)) or 'nothing'})")


def _image(value: Any, base: Path) -> bytes:
    if isinstance(value, dict):
        if value.get("bytes"):
            raw = value["bytes"]
            return raw if isinstance(raw, bytes) else base64.b64decode(raw)
        value = value.get("path")
    if not isinstance(value, str) or not value:
        raise SetError(f"an image must be a path or {{'bytes': ...}}; got {type(value).__name__}")
    path = (base / value) if not Path(value).is_absolute() else Path(value)
    if not path.is_file():
        raise SetError(f"image {value!r} not found (looked at {path})")
    return path.read_bytes()


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):  # MMMU stores options as the repr of a Python list
        value = ast.literal_eval(value) if value.strip().startswith("[") else [value]
    return [str(entry) for entry in value]


def _with_options(question: str, choices: list[str], instruction: str) -> str:
    lines = [f"({chr(ord('A') + index)}) {choice}" for index, choice in enumerate(choices)]
    return "\n\n".join(part for part in (question, "\n".join(lines), instruction) if part)


def generic(record: dict, base: Path, prompt: str, fallback_id: str) -> Item:
    _required(record, "question", "answer")
    images = record.get("image", record.get("images", record.get("file_name")))
    images = [] if images is None else images if isinstance(images, list) else [images]
    choices = _as_list(record.get("choices"))
    text = _with_options(record["question"], choices, "") if choices and prompt == "benchmark" else record["question"]
    return Item(str(record.get("id", fallback_id)), text, str(record["answer"]),
                tuple(_image(image, base) for image in images), tuple(choices),
                MULTIPLE_CHOICE if choices else OPEN, rule="mmmu", subject=str(record.get("subject", "")))


def mmmu(record: dict, base: Path, prompt: str, fallback_id: str) -> Item:
    _required(record, "question", "answer")
    choices = _as_list(record.get("options"))
    multiple = record.get("question_type", MULTIPLE_CHOICE if choices else OPEN) == MULTIPLE_CHOICE
    item_id = str(record.get("id", fallback_id))
    text = record["question"]
    if prompt == "benchmark":
        text = _with_options(text, choices, MMMU_CHOICE_INSTRUCTION) if multiple else \
            f"{text}\n\n{MMMU_OPEN_INSTRUCTION}"
    images = [record[f"image_{n}"] for n in range(1, 8) if record.get(f"image_{n}")]
    subject = item_id.split("_")[1] if item_id.count("_") >= 2 else str(record.get("subfield", ""))
    return Item(item_id, text, str(record["answer"]), tuple(_image(image, base) for image in images),
                tuple(choices) if multiple else (), MULTIPLE_CHOICE if multiple else OPEN, rule="mmmu",
                subject=subject, extra={"subfield": record.get("subfield", "")})


def mathvista(record: dict, base: Path, prompt: str, fallback_id: str) -> Item:
    _required(record, "question", "answer")
    choices = _as_list(record.get("choices"))
    multiple = record.get("question_type") == "multi_choice"
    text = record.get("query") or record["question"] if prompt == "benchmark" else record["question"]
    image = record.get("decoded_image") or record.get("image")
    metadata = record.get("metadata") or {}
    precision = record.get("precision")
    return Item(str(record.get("pid", fallback_id)), text, str(record["answer"]),
                (_image(image, base),) if image else (), tuple(choices), MULTIPLE_CHOICE if multiple else OPEN,
                rule="mathvista", subject=str(metadata.get("task", metadata.get("category", ""))),
                answer_type=str(record.get("answer_type") or "text"),
                precision=int(float(precision)) if precision not in (None, "") else None,
                unit=str(record.get("unit") or ""), extra={"category": metadata.get("category", "")})


READERS = {"generic": generic, "mmmu": mmmu, "mathvista": mathvista}


def _check_unique(items: list[Item]) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise SetError(f"two questions share the id {item.id!r}; ids must be unique (results are resumed by id)")
        seen.add(item.id)
