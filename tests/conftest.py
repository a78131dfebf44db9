"""Shared test fixtures: the codebook, fixture paths, and the shared training data (when present)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "data" / "fixtures"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def codebook():
    from transcript_coder.codebook import load_codebook

    return load_codebook(ROOT / "configs" / "codebooks")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "annomi" / "annomi_full_dev.csv").is_file():
        pytest.skip("../shared/data is not present (a fresh clone without the shared training data)")
    return SHARED_DATA
