"""Test setup: no test may reach a real network model (THINKGRAPH_BLOCK_REMOTE=1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["THINKGRAPH_BLOCK_REMOTE"] = "1"

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def shared_file(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (development data lives outside the repository)")
    return path


# The bundled example problem translated correctly, sentence by sentence (for scripted models).
EXAMPLE_FORMULAS = {
    "All squirrels are rodents.": "∀x (Squirrel(x) → Rodent(x))",
    "All rodents are mammals.": "∀x (Rodent(x) → Mammal(x))",
    "Nutty is a squirrel.": "Squirrel(nutty)",
    "No mammal is a reptile.": "∀x (Mammal(x) → ¬Reptile(x))",
    "Nutty is a reptile.": "Reptile(nutty)",
}
