import pytest
import torch


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Write results/ and .cache/ under a temp folder, never into the checkout."""
    monkeypatch.setenv("UNIGEN_HOME", str(tmp_path))
