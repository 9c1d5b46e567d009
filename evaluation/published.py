"""The published figures of the R1V family and the rule each was scored by, with sources.

`compare(benchmark, ours)`: each published figure for that benchmark beside our accuracy (under
the benchmark's own rule) with the difference in points and whether it lies inside our 95 % interval.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

R1V_SOURCE = "github.com/SkyworkAI/Skywork-R1V README (March 2025); arXiv 2504.05599"
_R1V3_EVAL = "github.com/SkyworkAI/Skywork-R1V README and eval/ (July 2025): eval/vlmevalkit/eval_shell/"
R1V3_MMMU_SOURCE = _R1V3_EVAL + "eval_bench.sh (judge gpt-4o-2024-05-13), run_eval.sh, rule_base_mmmu.py"
R1V3_MATHVISTA_SOURCE = _R1V3_EVAL + "eval_bench.sh (VLMEvalKit, judge gpt-4o-2024-05-13)"
NO_SCORER = "not stated with the figure; the repository published no scoring script until July 2025"


@dataclass(frozen=True)
class Published:
    model: str
    benchmark: str  # "mmmu" (validation split) | "mathvista" (testmini)
    accuracy: float  # percent
    rule: str
    source: str


PUBLISHED: tuple[Published, ...] = (
    Published("r1v-38b", "mmmu", 69.0, NO_SCORER, R1V_SOURCE),
    Published("r1v-38b", "mathvista", 67.5, NO_SCORER, R1V_SOURCE),
    Published("r1v3-38b", "mmmu", 76.0, "lenient: right if the last \\boxed{} matches after normalising OR "
              "VLMEvalKit's GPT-4o judge says so", R1V3_MMMU_SOURCE),
    Published("r1v3-38b", "mathvista", 77.1, "VLMEvalKit's MathVista evaluation (GPT-4o extracts the answer, "
              "then MathVista's comparison)", R1V3_MATHVISTA_SOURCE),
)


def compare(benchmark: str, ours: dict | None, model: str = "") -> list[dict]:
    """Rows for `benchmark`; with `ours` ({"accuracy", "ci95"}) the difference and inside-interval;
    `same_model` says whether `model` (a registry name) is the published one or its AWQ build."""
    rows = []
    for figure in PUBLISHED:
        if figure.benchmark != benchmark:
            continue
        row = {**asdict(figure), "same_model": model in (figure.model, figure.model + "-awq")}
        if ours is not None and ours.get("n"):
            mine = 100 * ours["accuracy"]
            low, high = (100 * bound for bound in ours["ci95"])
            row.update(ours=round(mine, 1), difference=round(mine - figure.accuracy, 1),
                       inside_interval=low <= figure.accuracy <= high)
        rows.append(row)
    return rows


def all_rows() -> list[dict]:
    return [asdict(figure) for figure in PUBLISHED]
