"""A real OpenAI-compatible server for the RemoteEngine tests: `transformers serve` on 127.0.0.1.

- `script_model(loaded, out, ...)`: the tiny checkpoint (loaded by our own loader) with its
  language model turned into a fixed script, saved in native transformers format with what
  `transformers serve` needs for an InternVL model: an InternVLProcessor (GotOcr2 tiling at the
  tiny model's 64 px tiles, up to 4 tiles, 4 tokens per tile) and a DeepSeek-R1 chat template.
  The script makes every test independent of how (or whether) the tiny model was trained: the
  attention and MLP outputs are zeroed, so each next token depends on the current token alone,
  and `lm_head` maps each token of the script to the next one. After the prompt's `<think>\\n`
  the model writes the thinking tokens, `</think>`, `\\n\\n`, the answer tokens and the end token;
  with `cycle=True` the thinking loops forever instead (a run that only a client can end).
  `\\n\\n` is added to the vocabulary as one token, so that a continuation ending in
  `</think>\\n\\n` leads straight to the answer.
- `Server`: `transformers serve` in a subprocess on a free port, with an empty Hub cache and no
  network; `start()` waits until /health answers, `kill()` is a SIGKILL (a crash), `stop()` ends it.
  It runs as `python -m tests.remote_server --port N`, which is the `transformers serve` CLI plus one
  registration: transformers' own InternVLProcessor insists on a video processor, which cannot be
  loaded without torchvision (not a dependency here), so an image-only subclass is registered.
- `FakeServer`: a scripted HTTP server on 127.0.0.1 for what transformers serve never does (vLLM's
  reasoning fields, a budget it ignores, invalid JSON, silence): `reply(path, body)` returns
  `(status, [SSE data...])` or `HANG`; every request is recorded with its headers.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import torch
from transformers import InternVLProcessor, ProcessorMixin

from model.inputs.images import IMAGENET_MEAN, IMAGENET_STD

# DeepSeek-R1's template as R1V uses it (model/inputs/prompt.py "deepseek_r1"); images as `<IMG_CONTEXT>\n`,
# which the InternVL processor expands to `<img>` + tokens + `</img>`.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}<｜User｜>\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] if part['type'] == 'image' %}<IMG_CONTEXT>\n{% endfor %}"
    "{% for part in message['content'] if part['type'] == 'text' %}{{ part['text'] }}{% endfor %}"
    "{% endif %}"
    "{% elif message['role'] == 'assistant' %}<｜Assistant｜>"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] if part['type'] == 'text' %}{{ part['text'] }}{% endfor %}"
    "{% endif %}<｜end▁of▁sentence｜>"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}"
)
IMAGE_TOKENS = {"start_image_token": "<img>", "end_image_token": "</img>",
                "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"}
PARAGRAPH = "\n\n"
REPO = Path(__file__).resolve().parent.parent
LOGIT_SCALE = 4.0  # x sqrt(hidden): the next token of the script wins by a wide margin


@dataclass(frozen=True)
class Script:
    folder: Path
    thinking: str  # the thinking text of one pass (looped when cycle=True)
    answer: str
    thinking_tokens: int
    answer_tokens: int


def _plain_tokens(tokenizer, exclude: set[int]) -> list[int]:
    """Ids of ordinary tokens that decode to plain letters or digits on their own."""
    added = set(tokenizer.get_added_vocab().values())
    found = []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        if token_id not in added | exclude and re.fullmatch(r" ?[A-Za-z0-9]+", text):
            found.append(token_id)
    return found


def _chain(tokenizer, thinking: int, answer: int, cycle: bool) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """(token, next token) pairs of the script, and the thinking and answer ids."""
    newline = tokenizer.encode("<think>\n", add_special_tokens=False)[-1]
    paragraph = tokenizer.convert_tokens_to_ids(PARAGRAPH)
    plain = _plain_tokens(tokenizer, {newline, paragraph})
    if len(plain) < thinking + answer:
        raise ValueError(f"only {len(plain)} plain tokens for a script of {thinking + answer}")
    think_ids, answer_ids = plain[:thinking], plain[thinking:thinking + answer]
    order = [newline, *think_ids]
    order += [think_ids[0]] if cycle else [tokenizer.convert_tokens_to_ids("</think>"), paragraph]
    pairs = list(zip(order, order[1:]))
    # The answer chain starts at `\n\n` in both models: a continuation lands on it.
    tail = [paragraph, *answer_ids, tokenizer.eos_token_id]
    pairs += [pair for pair in zip(tail, tail[1:]) if pair[0] not in dict(pairs)]
    return pairs, think_ids, answer_ids


@torch.no_grad()
def _rewire(model, pairs: list[tuple[int, int]]) -> None:
    text = model.model.language_model
    for layer in text.layers:
        layer.self_attn.o_proj.weight.zero_()
        layer.mlp.down_proj.weight.zero_()
    text.norm.weight.fill_(1.0)
    embed = text.embed_tokens.weight
    generator = torch.Generator().manual_seed(0)
    embed.copy_(torch.randn(embed.shape, generator=generator))
    head = torch.zeros_like(model.lm_head.weight)
    scale = LOGIT_SCALE / embed.shape[1] ** 0.5
    for current, following in pairs:
        head[following] += embed[current] * scale
    model.lm_head.weight.copy_(head)
    rows = torch.stack([embed[c] for c, _ in pairs])
    normed = rows / rows.pow(2).mean(-1, keepdim=True).sqrt()
    assert (normed @ head.T).argmax(-1).tolist() == [f for _, f in pairs], "the script is ambiguous"


def script_model(loaded, out: Path, thinking: int = 40, answer: int = 4, cycle: bool = False) -> Script:
    """Save a scripted copy of `loaded` (a model.local.loader.LoadedModel) into `out`, native format."""
    from transformers import AddedToken, GenerationConfig, GotOcr2ImageProcessorPil

    tokenizer = loaded.tokenizer
    tokenizer.add_tokens([AddedToken(PARAGRAPH, normalized=False, special=False)])
    tokenizer.add_special_tokens({"additional_special_tokens": ["<video>"]}, replace_extra_special_tokens=False)
    model = loaded.model
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.config.tie_word_embeddings = model.config.text_config.tie_word_embeddings = False
    pairs, think_ids, answer_ids = _chain(tokenizer, thinking, answer, cycle)
    _rewire(model, pairs)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _name_image_tokens(out / "tokenizer_config.json")
    GotOcr2ImageProcessorPil(
        size={"height": loaded.tile_size, "width": loaded.tile_size}, crop_to_patches=True, min_patches=1,
        max_patches=loaded.max_tiles, image_mean=list(IMAGENET_MEAN), image_std=list(IMAGENET_STD),
    ).save_pretrained(out)
    (out / "processor_config.json").write_text(json.dumps(
        {"processor_class": ImageOnlyInternVLProcessor.__name__, "image_seq_length": loaded.tokens_per_tile}))
    (out / "chat_template.jinja").write_text(CHAT_TEMPLATE)
    return Script(out, tokenizer.decode(think_ids), tokenizer.decode(answer_ids), len(think_ids), len(answer_ids))


def _name_image_tokens(config_file: Path) -> None:
    """InternVL's processor finds its image tokens by name (`tokenizer.context_image_token`...)."""
    config = json.loads(config_file.read_text())
    config["extra_special_tokens"] = {**IMAGE_TOKENS, "end_of_text_token": "<|endoftext|>"}
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False))


class ImageOnlyInternVLProcessor(InternVLProcessor):
    """InternVL's processor without its video processor, which cannot load without torchvision."""

    def __init__(self, image_processor=None, tokenizer=None, image_seq_length: int = 256,
                 chat_template=None, **kwargs):
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template, **kwargs)
        self.image_seq_length = image_seq_length
        self.start_image_token, self.end_image_token = tokenizer.start_image_token, tokenizer.end_image_token
        self.start_image_token_id = tokenizer.start_image_token_id
        self.end_image_token_id = tokenizer.end_image_token_id
        self.image_token, self.image_token_id = tokenizer.context_image_token, tokenizer.context_image_token_id
        self.video_token = tokenizer.video_token
        self.multimodal_pattern = re.compile(
            f"(?P<image>{re.escape(self.image_token)})|(?P<video>{re.escape(self.video_token)})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`transformers serve` on 127.0.0.1; any local model folder can be asked for by its path."""

    def __init__(self, workdir: Path, port: int | None = None, startup_s: float = 90):
        self.workdir = workdir
        self.port = port or free_port()
        self.startup_s = startup_s
        self.process: subprocess.Popen | None = None
        self.log = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "Server":
        cache = self.workdir / "hub-cache"
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "TRANSFORMERS_VERBOSITY": "error"}
        command = [sys.executable, "-m", "tests.remote_server", "--port", str(self.port)]
        self.log = open(self.workdir / f"server-{self.port}.log", "ab")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}; see {self.log.name}")
            try:
                with urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"transformers serve did not answer within {self.startup_s} s; see {self.log.name}")

    def kill(self) -> None:
        """A crash: SIGKILL, no goodbye to open connections."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self.log is not None:
            self.log.close()


HANG = "hang"
Reply = Callable[[str, dict], Any]


def chat_chunk(content: str | None = None, reasoning: str | None = None, field: str = "reasoning",
               finish: str | None = None) -> dict:
    """A chat.completion.chunk; vLLM puts its reasoning in `field` ("reasoning", formerly "reasoning_content")."""
    delta = {"content": content, field: reasoning} if reasoning is not None else {"content": content}
    return {"id": "fake", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class CountingServer:
    """An HTTP server on 127.0.0.1 that records the path of every request it is sent: any hit means
    the page fetched or sent something it must not."""

    def __init__(self):
        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server name
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def streamed_reply(thinking: str, answer: str, piece: int = 4000) -> Reply:
    """A FakeServer reply that streams `thinking` as reasoning, then `answer`, in `piece`-sized chunks."""
    def reply(path: str, body: dict):
        chunks = [chat_chunk(reasoning=thinking[i:i + piece]) for i in range(0, len(thinking), piece)]
        chunks += [chat_chunk(content=answer[i:i + piece]) for i in range(0, len(answer), piece)]
        return 200, [*chunks, chat_chunk(content="", finish="stop"), "[DONE]"]
    return reply


class FakeServer:
    def __init__(self, reply: Reply):
        self.reply = reply
        self.requests: list[tuple[str, dict, dict]] = []  # (path, lower-cased headers, body)
        self.release = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FakeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(fake: FakeServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._send(200, "application/json", [json.dumps({"object": "list", "data": [{"id": "fake"}]})])

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = fake.reply(self.path, body)
            if reply == HANG:
                fake.release.wait(30)
                return
            status, events = reply
            lines = [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n" for e in events]
            self._send(status, "text/event-stream" if status == 200 else "application/json",
                       lines if status == 200 else [str(events[0]) if events else ""])

        def _send(self, status: int, kind: str, parts: list[str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.end_headers()
            for part in parts:
                self.wfile.write(part.encode())
                self.wfile.flush()

        def log_message(self, *args) -> None:
            pass

    return Handler


def main() -> None:
    """`transformers serve` on 127.0.0.1, with the image-only InternVL processor registered."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from transformers import AutoProcessor, InternVLConfig
    from transformers.cli.serve import Serve

    AutoProcessor.register(InternVLConfig, ImageOnlyInternVLProcessor, exist_ok=True)
    Serve(host="127.0.0.1", port=args.port, device="cpu", log_level="error")


if __name__ == "__main__":
    main()
