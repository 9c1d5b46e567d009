"""Entry point: read the flags, pick the model, serve the page at once and load the model behind it.

Every flag can also be set by an environment variable `R1V_<FLAG>` (e.g. R1V_MODEL=tiny,
R1V_PORT=7861); a flag on the command line wins. `--host` also honours GRADIO_SERVER_NAME.
Without `--model`, the model is chosen from the GPUs present (`registry.pick_default`): the bundled
tiny model on a machine without a GPU, which the log and the page's banner say.

`main()` is what `python app.py` runs: it builds the page's one `Services` (ui.page.services), the
page on it (`build_page`) and serves it (`serve`). Tests import `build_app(...)` (the same services,
then `build_page`) and `serve(demo, ...)` from ui.page.layout.
"""
from __future__ import annotations

import argparse
import glob
import logging
import os
import re
import threading
from pathlib import PurePosixPath
from typing import Any, Callable, Sequence

from model import registry
from model.events import Status, UserFacingError
from model.limits import Limits
from ui.serving import zerogpu
from ui.page.handlers import ModelInfo, ServingPolicy
from ui.store.history import FEEDBACK_MODES, HistoryOptions, data_folder
from ui.page.layout import build_page, serve
from ui.page.services import Services
from ui.serving.settings import served_defaults
from ui.serving.zerogpu import ZeroGPUEngine

log = logging.getLogger("r1v")


def _env(name: str, default):
    return os.environ.get(f"R1V_{name}", default)


class OneLineParser(argparse.ArgumentParser):
    """Refuses a bad flag or R1V_* value in one line naming it (argparse's usage block would hide it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    # String defaults (from R1V_* variables) go through each flag's `type`, so a bad value is refused by name.
    parser = OneLineParser(prog="app.py", description="Skywork R1V visual reasoning demo (Gradio).")
    parser.add_argument("--model", default=_env("MODEL", None),
                        help="registry name, Hub id or local folder (default: chosen from the GPUs present)")
    parser.add_argument("--host", default=_env("HOST", os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")),
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=_env("PORT", 7860))
    parser.add_argument("--share", action="store_true", default=_env("SHARE", "") not in ("", "0", "false"),
                        help="also serve through a temporary public Gradio link")
    parser.add_argument("--max-concurrency", type=int, default=_env("MAX_CONCURRENCY", 4),
                        help="requests handled at once by the queue (the engine answers one at a time)")
    parser.add_argument("--max-file-size", default=_env("MAX_FILE_SIZE", None),
                        help='largest upload, e.g. "20mb" (default: R1V_MAX_FILE_MB, 20 MB)')
    parser.add_argument("--max-seconds", type=float, default=_env("MAX_SECONDS", 600),
                        help="wall-clock limit of one answer, and of an API call's wait for the model to load "
                             "(seconds)")
    parser.add_argument("--quantization", choices=["", "4bit", "8bit"], default=_env("QUANTIZATION", ""),
                        help="load a bf16 checkpoint in 4 or 8 bits through bitsandbytes (CUDA only)")
    parser.add_argument("--max-queue", type=int, default=_env("MAX_QUEUE", 64),
                        help="people who may wait in line; beyond it new requests are turned away")
    parser.add_argument("--backend", choices=("local", "openai"),
                        default=_env("BACKEND", "openai" if os.environ.get("R1V_ENDPOINT") else "local"),
                        help="local: load the model here; openai: answer through an OpenAI-compatible "
                             "server (vLLM) at --endpoint")
    parser.add_argument("--endpoint", default=_env("ENDPOINT", None),
                        help="that server's URL, e.g. http://127.0.0.1:8000/v1 (its key: env R1V_API_KEY only)")
    parser.add_argument("--budget-mode", choices=("auto", "server", "client"), default=_env("BUDGET_MODE", "auto"),
                        help="with --backend openai: who enforces the thinking budget")
    parser.add_argument("--timeout", type=float, default=_env("TIMEOUT", 60),
                        help="with --backend openai: seconds to wait for the server")
    parser.add_argument("--rate-limit", type=int, default=_env("RATE_LIMIT", 10 if on_spaces() else 0),
                        help="questions per minute from one address, 0 = no limit (default: 10 on Spaces, else 0)")
    parser.add_argument("--log-questions", action="store_true", default=_env("LOG_QUESTIONS", "") not in ("", "0"),
                        help="put question text into the request log (debugging only)")
    parser.add_argument("--mcp", action="store_true", default=_env("MCP", "") not in ("", "0", "false"),
                        help="also serve /reason as an MCP tool at /gradio_api/mcp/")
    parser.add_argument("--plan", action="store_true",
                        help="fetch only the config and tokenizer, print where the model would go on these GPUs "
                             "and whether it fits, then exit (1 when it would not load)")
    parser.add_argument("--compare-endpoint", default=_env("COMPARE_ENDPOINT", None),
                        help="a second OpenAI-compatible server (e.g. R1V2 behind vLLM) for column B of the "
                             "Compare tab; both columns then stream at once")
    parser.add_argument("--fast-path", choices=("auto", "on", "off"), default=_env("FAST_PATH", "auto"),
                        help="static KV cache and compiled decoding (auto: on with a CUDA GPU)")
    parser.add_argument("--no-compile", action="store_true", default=_env("COMPILE", "") in ("0", "false", "off"),
                        help="fast path without torch.compile (which otherwise runs at load time, on CUDA)")
    parser.add_argument("--no-share-links", action="store_true",
                        default=_env("SHARE_LINKS", "1").lower() in ("0", "false", "no", "off"),
                        help="turn off the Share button and ?share= links (R1V_SHARE_LINKS=0)")
    parser.add_argument("--feedback", choices=FEEDBACK_MODES, default=_env("FEEDBACK", "on"),
                        help="verdicts and blind votes kept in the data folder: off, on (text only) or with-images")
    parser.add_argument("--feedback-summary", action="store_true",
                        help="print the stored verdicts (per day, verdict, reason, model and settings) and the "
                             "blind-vote table from the data folder, then exit; nothing is loaded")
    parser.add_argument("--keep-thinking-open", action="store_true",
                        default=_env("KEEP_THINKING_OPEN", "") not in ("", "0", "false", "no", "off"),
                        help="traces stay unfolded after the answer (the page's box starts ticked)")
    args = parser.parse_args(argv)
    _check(parser, args)
    return args


# Flags that must be at least this much (a zero concurrency or queue would serve no one).
_AT_LEAST = {"port": 0, "max_concurrency": 1, "max_queue": 1, "max_seconds": 1, "timeout": 1}


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, in one line naming it, a flag that would fail later (at load, or at every request)."""
    for name, low in _AT_LEAST.items():
        if getattr(args, name) < low:
            parser.error(f"--{name.replace('_', '-')} must be at least {low}; got {getattr(args, name):g}")
    if args.port > 65535:
        parser.error(f"--port must be at most 65535; got {args.port}")
    try:  # a bad R1V_MAX_* value stops the start with its name, not every request later
        limits = Limits.from_env()
    except (ValueError, UserFacingError) as error:
        parser.error(str(error))
    args.max_file_size = args.max_file_size or f"{limits.max_file_mb}mb"
    try:
        _file_size_bytes(args.max_file_size)
    except ValueError:
        parser.error(f'--max-file-size must be a size such as "20mb" or "500kb"; got {args.max_file_size!r}')
    if args.backend == "local" and args.model:
        try:
            registry.resolve(args.model)
        except ValueError as error:
            parser.error(str(error))
    for flag, endpoint in (("--endpoint", args.endpoint), ("--compare-endpoint", args.compare_endpoint)):
        if flag == "--endpoint" and args.backend == "openai" and not endpoint:
            parser.error("--backend openai needs --endpoint URL (or R1V_ENDPOINT)")
        if endpoint and (flag == "--compare-endpoint" or args.backend == "openai"):
            from model.remote.engine import normalise_endpoint

            try:
                normalise_endpoint(endpoint)
            except ValueError as error:
                parser.error(f"{flag}: {error}" if flag == "--compare-endpoint" else str(error))


def _file_size_bytes(size: str) -> int:
    """What Gradio makes of --max-file-size ("20mb", "500 KB"); ValueError for what it cannot read."""
    from gradio.utils import FileSize

    found = re.fullmatch(r"(\d+)\s*([a-z]+)", size.strip().lower())
    multiple = getattr(FileSize, found.group(2).upper(), None) if found else None
    if not isinstance(multiple, int):
        raise ValueError(size)
    return int(found.group(1)) * multiple


def compare_engine(args: argparse.Namespace):
    """The Compare tab's second backend (--compare-endpoint), or None."""
    if not args.compare_endpoint:
        return None
    from model.remote.engine import RemoteEngine

    return RemoteEngine(args.compare_endpoint, timeout_s=args.timeout, max_seconds=args.max_seconds,
                        budget_mode=args.budget_mode)


def on_spaces() -> bool:
    """Hugging Face Spaces sets SPACE_ID; there the app sits behind Hugging Face's proxy."""
    return bool(os.environ.get("SPACE_ID"))


def serving_policy(args: argparse.Namespace) -> ServingPolicy:
    return ServingPolicy(rate_limit_per_minute=max(0, args.rate_limit), trust_forwarded=on_spaces(),
                         log_questions=args.log_questions, load_wait_s=args.max_seconds)


# Device files a CUDA or ROCm GPU shows (Linux, WSL); without one, torch would find no GPU either.
GPU_DEVICE_FILES = ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/dxg")


def gpu_memory_gb() -> list[float]:
    if not any(glob.glob(pattern) for pattern in GPU_DEVICE_FILES):
        return []  # no torch import (about a second) just to learn there is no GPU: the page comes first
    import torch

    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_properties(i).total_memory / 2**30 for i in range(torch.cuda.device_count())]


def choose_model(name: str | None) -> tuple[registry.ModelSpec, Status | None]:
    """The spec to serve and, when picked automatically, why (keyed, so the banner can translate it)."""
    if name:
        return registry.resolve(name), None
    gpus = gpu_memory_gb()
    spec = registry.pick_default(gpus)
    if not gpus:
        return spec, Status("No GPU was found, so the bundled tiny model is served.", "note.no_gpu")
    gib = f"{sum(gpus):.0f}"
    return spec, Status(f"Chosen for {len(gpus)} GPU(s) with {gib} GiB in all.", "note.gpus",
                        {"count": len(gpus), "gib": gib})


def engine_factory(spec: registry.ModelSpec, max_seconds: float, quantization: str = "", fast_path: str = "auto",
                   compile: bool | None = None) -> Callable:
    """(progress) -> LocalEngine; run by the page in a background thread."""

    def load_engine(progress: Callable[[str], None]):
        from model.local.engine import LocalEngine
        from model.local.fastpath import setup_fast_path
        from model.local.loader import load

        loaded = load(spec, quantization=quantization, progress=progress)
        fast = setup_fast_path(loaded, fast_path, compile, progress)
        progress(Status(f"{spec.name} is ready on {loaded.device_label}.", "load.ready",
                        {"name": spec.name, "device": loaded.device_label}))
        return LocalEngine(loaded, max_seconds=max_seconds, fast=fast)

    return load_engine


def zero_gpu_engine(spec: registry.ModelSpec, max_seconds: float):
    """ZeroGPU: the model goes to CUDA now, at import; each answer borrows the GPU."""
    import spaces  # before anything initialises CUDA

    import torch

    from model.local.engine import LocalEngine
    from model.local.fastpath import zero_gpu_fast_path
    from model.local.loader import load

    loaded = load(spec, device="cuda" if torch.cuda.is_available() else "cpu")
    return ZeroGPUEngine(LocalEngine(loaded, max_seconds=max_seconds, fast=zero_gpu_fast_path()), spaces)


def remote_engine_factory(args: argparse.Namespace) -> Callable:
    """(progress) -> RemoteEngine over the OpenAI-compatible server at --endpoint."""

    def connect(progress: Callable[[str], None]):
        from model.remote.engine import RemoteEngine

        engine = RemoteEngine(args.endpoint, model=args.model, timeout_s=args.timeout,
                              max_seconds=args.max_seconds, budget_mode=args.budget_mode)
        log.info("answering through the model server at %s", engine.endpoint)  # the log only: never shown
        name = remote_model_name(args)
        progress(Status(f"Answering through {name}.", "load.remote", {"model": name}))
        return engine

    return connect


def remote_model_name(args: argparse.Namespace) -> str:
    """What visitors are told is answering: the model's name, never the endpoint (an internal address)
    nor the local path it is served from."""
    model = args.model or ""
    spec = registry.by_name(model)
    if spec is not None:
        return spec.name
    return PurePosixPath(model).name if model.startswith("/") else (model or "remote model")


def remote_info(args: argparse.Namespace) -> ModelInfo:
    spec = registry.by_name(args.model or "") or registry.ModelSpec(args.model or "remote", args.model or "", "auto", ())
    return ModelInfo(name=remote_model_name(args), defaults=served_defaults(spec), backend="openai")


# On a ZeroGPU Space (and only there) the model must be loaded at module level.
ZERO_GPU_ENGINE = None
if zerogpu.enabled():
    _args = parse_args([])
    ZERO_GPU_ENGINE = zero_gpu_engine(choose_model(_args.model)[0], _args.max_seconds)


def local_setup(args: argparse.Namespace) -> tuple[Callable, ModelInfo]:
    spec, note = choose_model(args.model)
    log.info("serving %s (%s)%s", spec.name, spec.source, f": {note.message}" if note else "")
    info = ModelInfo(name=spec.name, is_tiny=spec.is_tiny, note=note or "", defaults=served_defaults(spec))
    return ZERO_GPU_ENGINE or engine_factory(spec, args.max_seconds, args.quantization, args.fast_path,
                                                 False if args.no_compile else None), info


def after(started: threading.Event, engine: Any) -> Any:
    """A loader factory that begins once `started` is set (the server is up), or `engine` as it is.
    Importing torch and transformers beside Gradio's own start would slow the page for everyone;
    the page and every call wait for the model as they do while it loads."""
    if not callable(engine) or hasattr(engine, "stream"):
        return engine

    def load_once_serving(progress: Callable):
        started.wait()
        return engine(progress)

    return load_once_serving


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    if args.feedback_summary:  # from the stored files alone
        from ui.store.feedback import feedback_summary_lines

        print("\n".join(feedback_summary_lines(data_folder())))
        return
    if args.plan:  # before anything is loaded or served
        from model.plan.facts import run_plan

        raise SystemExit(run_plan(choose_model(args.model)[0], args.quantization))
    if args.backend == "openai":
        engine, info = remote_engine_factory(args), remote_info(args)
    else:
        engine, info = local_setup(args)
    serving = threading.Event()
    services = Services.create(after(serving, engine), info, policy=serving_policy(args),
                               history=HistoryOptions.from_env(share_links=not args.no_share_links)
                               .with_feedback(args.feedback),
                               compare_engine=compare_engine(args), keep_thinking_open=args.keep_thinking_open)
    demo = build_page(services, max_concurrency=args.max_concurrency, max_queue=args.max_queue)
    serve(demo, server_name=args.host, server_port=args.port, share=args.share, max_file_size=args.max_file_size,
          mcp=args.mcp, prevent_thread_lock=True)
    serving.set()
    demo.block_thread()


if __name__ == "__main__":
    main()
