"""`python -m evaluation --set puzzles --limit 20 --out DIR`: run a set through the page's engine.

Writes DIR/results.jsonl (one line per item, appended as each finishes), then DIR/summary.json,
DIR/report.md, DIR/report.html and DIR/thinking.png, and prints the summary table. Run it again
with the same DIR and it resumes: finished items are skipped. Settings start where the page's
sliders start for the model (`served_defaults`); the flags below change them.
Exit status: 0 done, 2 bad flags or set, 130 interrupted (run again to resume).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from evaluation import readers, report
from evaluation.runner import ResultsFile, RunConfig, run
from model.events import UserFacingError

OPTION_FLAGS = {"thinking_budget": int, "answer_budget": int, "temperature": float, "top_p": float,
                "top_k": int, "repetition_penalty": float, "max_tiles": int, "min_thinking": int}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluation", description=__doc__.splitlines()[0])
    parser.add_argument("--set", required=True, help='"puzzles" (built in, 100 items) or a .jsonl/.json/.parquet '
                                                     "file or folder")
    parser.add_argument("--layout", choices=readers.LAYOUTS, default="auto",
                        help="the file's columns: generic, mmmu, mathvista (auto: told from the columns)")
    parser.add_argument("--prompt", choices=readers.PROMPTS, default="benchmark",
                        help="benchmark: the benchmark's own prompt (MMMU's options and instruction, MathVista's "
                             "query); question: the question alone")
    parser.add_argument("--split", default="", help="in a folder, read only files whose name contains this "
                                                    "(e.g. validation, testmini)")
    parser.add_argument("--out", required=True, type=Path, help="folder for results.jsonl and the reports")
    parser.add_argument("--limit", type=int, default=None, help="only the first N items")
    parser.add_argument("--seed", type=int, default=0, help="run seed; each item samples with a seed made from it "
                                                            "and the item's id")
    parser.add_argument("--model", default="tiny", help="registry name, Hub id or folder, as app.py's --model")
    parser.add_argument("--backend", choices=("local", "openai"), default="local")
    parser.add_argument("--endpoint", help="with --backend openai: the server's URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--concurrency", type=int, default=1, help="questions in flight at once (remote backends)")
    parser.add_argument("--judge-endpoint", help="an OpenAI-compatible server whose model judges each answer "
                                                 "(key: env R1V_JUDGE_KEY)")
    parser.add_argument("--judge-model", help="the judge's model id (default: the first the server lists)")
    parser.add_argument("--max-seconds", type=float, default=600, help="wall-clock limit of one answer")
    parser.add_argument("--timeout", type=float, default=60, help="with --backend openai: seconds to wait for the server")
    parser.add_argument("--budget-mode", choices=("auto", "server", "client"), default="auto")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    for name, kind in OPTION_FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                            help=f"{name.replace('_', ' ')} (default: the page's)")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.backend == "openai" and not args.endpoint:
        parser.error("--backend openai needs --endpoint URL")
    if args.concurrency < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--concurrency and --limit must be at least 1")
    if args.backend == "local" and args.concurrency > 1:
        print("note: the local engine answers one question at a time; --concurrency applies to --backend openai",
              file=sys.stderr)
        args.concurrency = 1
    return args


def check_same_settings(results: ResultsFile, settings: dict, model: str) -> None:
    for record in results.records.values():
        if record["settings"] != settings or record["model"] != model:
            raise UserFacingError(f"{results.path} holds results of other settings or another model "
                                  f"({record['model']}: {record['settings']}); use another --out to compare them")
        return


def prepare(args: argparse.Namespace):
    """The items, the engine, the results so far and the run's settings; raises on a bad set or flag."""
    items = readers.read_set(args.set, args.layout, args.prompt, args.split)[:args.limit]
    from evaluation.engines import build

    engine, defaults, model_name = build(args.model, args.backend, args.endpoint, args.max_seconds, args.timeout,
                                         args.budget_mode)
    chosen = {name: getattr(args, name) for name in OPTION_FLAGS if getattr(args, name) is not None}
    options = defaults.replace(**chosen)
    results = ResultsFile(args.out / "results.jsonl")
    check_same_settings(results, _settings(options), model_name)
    judge = None
    if args.judge_endpoint:
        from evaluation.judge import LLMJudge

        judge = LLMJudge(args.judge_endpoint, args.judge_model, args.timeout)
    config = RunConfig(options, args.seed, args.concurrency, judge, model_name, args.backend, not args.no_progress)
    return items, engine, results, config


def _settings(options) -> dict:
    return {key: value for key, value in asdict(options).items() if key != "seed"}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        items, engine, results, config = prepare(args)
    except (readers.SetError, UserFacingError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = run(items, engine, results, config)
    ids = {item.id for item in items}
    records = [record for item_id, record in results.records.items() if item_id in ids]
    context = {"set": args.set, "model": config.model, "backend": args.backend, "seed": args.seed,
               "settings": _settings(config.options), "items_in_set": len(items), **counts}
    summary = report.write_reports(args.out, records, context)
    print(report.table(summary))
    print(f"{counts['answered']} answered, {counts['skipped']} already done; reports in {args.out}")
    if counts["interrupted"]:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
