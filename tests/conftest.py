import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one thread each, or they slow each other down many times over
    torch.set_num_threads(1)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Write results/ and .cache/ under a temp folder, never into the checkout."""
    monkeypatch.setenv("UNIGEN_HOME", str(tmp_path))
