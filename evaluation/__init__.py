"""Batch evaluation through the demo's own engine: `python -m evaluation`.

A set of questions (JSON Lines, a folder, MMMU or MathVista files in their published columns, or the
bundled puzzles) goes through the engine the page uses, with the page's settings; every answer is
scored by several rules side by side (the benchmark's own, a strict last-`\\boxed{}` match, the
puzzles' grader, optionally an LLM judge), one JSON line per item, then summarised with 95 % intervals
beside the published figures.

Modules: items (one question), readers (files -> items), extract / mmmu_rule / mathvista_rule /
scorers / judge (answers -> right or wrong), engines (the engine as app.py builds it), runner
(resumable run), stats / published / report (summary and its renderings).
May import model/, ui/serving/settings.py (the page's defaults) and, only to build the engine, app.py's
factories; matplotlib, tqdm, openai and pyarrow lazily. No Gradio view is built.
"""
