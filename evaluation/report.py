"""DIR/summary.json, DIR/report.md, DIR/report.html and DIR/thinking.png from a run's records.

`write_reports(out, records, context) -> summary`: `context` says what ran (set, model, backend,
settings); the summary adds the published figures of the set's benchmark (published.compare).
`table(summary) -> str`: the printed table, one row per scorer.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from evaluation import published, stats

PLOT = "thinking.png"
SCORER_TITLES = {"mmmu": "MMMU rule", "mathvista": "MathVista rule", "puzzle": "puzzle grader",
                 "boxed": "strict last \\boxed{}", "judge": "LLM judge"}


def build_summary(records: list[dict], context: dict) -> dict:
    summary = {**context, **stats.summarise(records)}
    primary = summary["primary_scorer"]
    benchmark = primary if primary in ("mmmu", "mathvista") else ""
    summary["published"] = published.compare(benchmark, summary["accuracy"].get(primary),
                                              str(context.get("model", ""))) if benchmark else []
    summary["published_all"] = published.all_rows()
    return summary


def write_reports(out: Path, records: list[dict], context: dict) -> dict:
    summary = build_summary(records, context)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot_thinking(summary["thinking"], out / PLOT)
    (out / "report.md").write_text(markdown(summary), encoding="utf-8")
    (out / "report.html").write_text(to_html(summary), encoding="utf-8")
    return summary


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def scorer_rows(summary: dict) -> list[list[str]]:
    rows = []
    for scorer, acc in summary["accuracy"].items():
        low, high = acc["ci95"]
        rows.append([SCORER_TITLES.get(scorer, scorer), f"{acc['right']}/{acc['n']}", _percent(acc["accuracy"]),
                     f"{_percent(low)}-{_percent(high)}"])
    return rows


def table(summary: dict) -> str:
    header = ["scorer", "right/n", "accuracy %", "95% interval"]
    rows = [header] + scorer_rows(summary)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows])


def _group_rows(groups: dict, scorers: list[str]) -> list[list[str]]:
    return [[group] + [f"{_percent(g[s]['accuracy'])} ({g[s]['right']}/{g[s]['n']})" for s in scorers]
            for group, g in groups.items()]


def _published_rows(summary: dict) -> list[list[str]]:
    rows = []
    for row in summary["published"] or summary["published_all"]:
        ours = f"{row['ours']}" if "ours" in row else "-"
        diff = f"{row['difference']:+.1f}" if "difference" in row else "-"
        inside = ("yes" if row["inside_interval"] else "no") if "inside_interval" in row else "-"
        same = ("yes" if row["same_model"] else "no") if "same_model" in row else "-"
        rows.append([row["model"], row["benchmark"], f"{row['accuracy']}", ours, diff, inside, same, row["rule"],
                     row["source"]])
    return rows


def sections(summary: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    scorers = list(summary["accuracy"])
    titles = [SCORER_TITLES.get(s, s) for s in scorers]
    think = summary["thinking"]
    buckets = [[label, f"{_percent(a['accuracy'])} ({a['right']}/{a['n']})"] for label, a in think["buckets"].items()]
    return [
        ("Accuracy by scorer", ["scorer", "right/n", "accuracy %", "95% interval"], scorer_rows(summary)),
        ("By subject", ["subject"] + titles, _group_rows(summary["by_subject"], scorers)),
        ("By question type", ["question type"] + titles, _group_rows(summary["by_question_type"], scorers)),
        (f"Accuracy by thinking length ({SCORER_TITLES.get(think['scorer'], think['scorer'])})",
         ["thinking tokens", "accuracy % (right/n)"], buckets),
        ("Published figures", ["model", "benchmark", "published %", "ours %", "difference", "inside our 95% interval",
                               "we ran this model", "rule", "source"], _published_rows(summary)),
    ]


def _intro(summary: dict) -> str:
    think = summary["thinking"]
    return (f"Set `{summary.get('set', '')}`, model `{summary.get('model', '')}` ({summary.get('backend', '')}), "
            f"{summary['n']} items, seed {summary.get('seed', '')}. Mean thinking tokens: right "
            f"{think['mean_tokens_right']}, wrong {think['mean_tokens_wrong']}. Finish reasons: "
            f"{', '.join(f'{k} {v}' for k, v in summary['finish_reasons'].items())}.")


def markdown(summary: dict) -> str:
    parts = ["# Evaluation report", "", _intro(summary), "", f"![thinking length against correctness]({PLOT})"]
    for title, header, rows in sections(summary):
        parts += ["", f"## {title}", "", _md_table(header, rows)]
    parts += ["", "Settings: `" + json.dumps(summary.get("settings", {})) + "`", ""]
    return "\n".join(parts)


def to_html(summary: dict) -> str:
    escape = html.escape
    body = [f"<h1>Evaluation report</h1><p>{escape(_intro(summary))}</p>",
            f'<img src="{PLOT}" alt="thinking length against correctness" width="720">']
    for title, header, rows in sections(summary):
        head = "".join(f"<th>{escape(cell)}</th>" for cell in header)
        cells = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
        body.append(f"<h2>{escape(title)}</h2><table><tr>{head}</tr>{cells}</table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Evaluation report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def plot_thinking(think: dict, path: Path) -> None:
    """Left: thinking tokens of right and wrong answers; right: accuracy per thinking-length bucket."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (left, right) = pyplot.subplots(1, 2, figsize=(10, 3.6))
    data = [think["tokens"]["right"], think["tokens"]["wrong"]]
    left.boxplot([d or [0] for d in data], tick_labels=[f"right ({len(data[0])})", f"wrong ({len(data[1])})"])
    left.set_ylabel("thinking tokens")
    left.set_title("Thinking length of right and wrong answers")
    labels = list(think["buckets"])
    right.bar(labels, [100 * think["buckets"][label]["accuracy"] for label in labels], color="#4a7bd0")
    right.set_ylim(0, 100)
    right.set_xlabel("thinking tokens")
    right.set_ylabel("accuracy %")
    right.set_title("Accuracy by thinking length")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
