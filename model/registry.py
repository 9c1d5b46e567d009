"""The Skywork R1V family and the bundled tiny model, by name.

`resolve(name_or_path)` turns what a person passes to `--model` into a `ModelSpec`: a registry
name ("r1v3-38b", "tiny"), a Hub id ("Skywork/Skywork-R1V3-38B") or a local folder. Unknown Hub
ids and folders get a spec whose template is guessed from the checkpoint's own config at load
time (`template="auto"`). Token ids are never stored here: they are read from each tokenizer.
`checkpoint_version(folder)` names the weights a folder holds, for the verdicts a model team reads.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TINY_PATH = ASSETS / "tiny-r1v"

# Official sampling (Skywork's inference scripts and model cards).
OFFICIAL_TEMPERATURE = 0.6
OFFICIAL_TOP_P = 0.95
OFFICIAL_REPETITION_PENALTY = 1.05


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source: str  # Hub id or local folder
    template: str  # "deepseek_r1" | "chatml" | "auto"
    stop_tokens: tuple[str, ...]
    weights_gb: float = 0.0
    min_gpu_gb: float = 0.0
    quantized: str = ""  # "" | "awq"
    description: str = ""
    temperature: float = OFFICIAL_TEMPERATURE
    top_p: float = OFFICIAL_TOP_P
    repetition_penalty: float = OFFICIAL_REPETITION_PENALTY
    max_tiles: int = 12
    aliases: tuple[str, ...] = field(default=())

    @property
    def is_local(self) -> bool:
        return Path(self.source).is_dir()

    @property
    def is_tiny(self) -> bool:
        return self.name == "tiny"


_R1_STOPS = ("<｜end▁of▁sentence｜>", "<|endoftext|>")
_CHATML_STOPS = ("<|im_end|>", "<|endoftext|>")

MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("r1v-38b", "Skywork/Skywork-R1V-38B", "deepseek_r1", _R1_STOPS, 77, 80,
              description="Skywork R1V 38B (DeepSeek-R1-Distill-Qwen-32B + InternViT-6B)"),
    ModelSpec("r1v2-38b", "Skywork/Skywork-R1V2-38B", "chatml", _CHATML_STOPS, 77, 80,
              description="Skywork R1V2 38B (QwQ-32B + InternViT-6B)"),
    ModelSpec("r1v3-38b", "Skywork/Skywork-R1V3-38B", "chatml", _CHATML_STOPS, 77, 80,
              description="Skywork R1V3 38B (InternVL3-38B lineage)"),
    ModelSpec("r1v-38b-awq", "Skywork/Skywork-R1V-38B-AWQ", "deepseek_r1", _R1_STOPS, 26, 30,
              quantized="awq", description="Skywork R1V 38B, 4-bit AWQ"),
    ModelSpec("r1v2-38b-awq", "Skywork/Skywork-R1V2-38B-AWQ", "chatml", _CHATML_STOPS, 26, 30,
              quantized="awq", description="Skywork R1V2 38B, 4-bit AWQ"),
    ModelSpec("r1v3-38b-awq", "Skywork/Skywork-R1V3-38B-AWQ", "chatml", _CHATML_STOPS, 26, 30,
              quantized="awq", description="Skywork R1V3 38B, 4-bit AWQ"),
    ModelSpec("tiny", str(TINY_PATH), "deepseek_r1", _R1_STOPS, 0.01, 0, max_tiles=4,
              description="Bundled tiny visual reasoner (not Skywork R1V): puzzles only"),
)

DEFAULT_GPU_MODEL = "r1v3-38b"
DEFAULT_SMALL_GPU_MODEL = "r1v3-38b-awq"


def by_name(name: str) -> ModelSpec | None:
    lowered = name.lower()
    for spec in MODELS:
        if lowered in (spec.name, spec.source.lower()):
            return spec
    return None


def resolve(name_or_path: str) -> ModelSpec:
    """Registry name, Hub id or local folder -> spec. Unknown ids keep template "auto"."""
    known = by_name(name_or_path)
    if known is not None:
        return known
    path = Path(name_or_path).expanduser()
    if path.exists():
        return ModelSpec(path.name, str(path.resolve()), "auto", ())
    if name_or_path.count("/") == 1 and not name_or_path.startswith(("/", ".")):
        return ModelSpec(name_or_path.split("/")[1], name_or_path, "auto", ())
    names = ", ".join(spec.name for spec in MODELS)
    raise ValueError(
        f"--model {name_or_path!r} is neither a registry name ({names}), "
        "a Hub id (owner/name) nor an existing folder."
    )


def pick_default(gpu_memory_gb: list[float]) -> ModelSpec:
    """The model a bare `python app.py` serves on this machine's GPUs (GiB per GPU)."""
    total = sum(gpu_memory_gb)
    if gpu_memory_gb and total >= by_name(DEFAULT_GPU_MODEL).min_gpu_gb:
        return by_name(DEFAULT_GPU_MODEL)
    if gpu_memory_gb and max(gpu_memory_gb) >= by_name(DEFAULT_SMALL_GPU_MODEL).min_gpu_gb:
        return by_name(DEFAULT_SMALL_GPU_MODEL)
    return by_name("tiny")


def checkpoint_version(folder: Path | str) -> str:
    """The Hub commit of a cached snapshot (`.../snapshots/<commit>`), else a digest of the folder's
    config and of its weight files' names and sizes (reading the weights would take minutes)."""
    path = Path(folder)
    if path.parent.name == "snapshots":
        return path.name
    digest = hashlib.sha256()
    config = path / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for weights in sorted(path.glob("*.safetensors")):
        digest.update(f"{weights.name}:{weights.stat().st_size}\n".encode())
    return "sha256:" + digest.hexdigest()[:12]
