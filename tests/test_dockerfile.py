"""The Dockerfile passes hadolint (no Docker engine runs in CI, so it is linted, not built)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -r requirements-dev.txt)")
    result = subprocess.run([hadolint, "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_keeps_what_the_hosting_needs():
    text = (ROOT / "Dockerfile").read_text()
    for needed in ("USER 1000", "EXPOSE 7860", "GRADIO_SERVER_NAME=0.0.0.0", "HEALTHCHECK", "HF_HOME=/data/hf",
                   'VOLUME ["/data/hf"]', "useradd --create-home --uid 1000"):
        assert needed in text, needed


def test_the_health_check_asks_for_readiness():
    """Healthy only once the model is loaded: the page alone is served before that (ui.http.health)."""
    text = (ROOT / "Dockerfile").read_text()
    check = text[text.index("HEALTHCHECK"):].split("\n\n")[0]
    assert "http://127.0.0.1:7860/readyz" in check and '"--fail"' in check
