import math

import pytest
import torch

from unigen import metrics
from unigen.data import digits, surnames
from unigen.data.registry import DATASETS, Dataset, Tokens, load_dataset


@pytest.mark.parametrize("name", DATASETS)
def test_tokens_round_trip_and_shapes(name):
    data = load_dataset(name)
    x = data.test[:16]
    ids = data.tokens.encode(x)
    assert ids.shape == (16, data.tokens.length) and ids.dtype == torch.int64
    assert 0 <= ids.min() and ids.max() < data.tokens.vocab_size
    back = data.tokens.decode(ids, torch.Generator().manual_seed(0))
    assert back.shape == x.shape and data.shape == tuple(x.shape[1:])
    assert torch.equal(data.tokens.encode(back), ids)        # decoding lands in the same bin


def test_properties_of_each_dataset():
    mix, dig, names = (load_dataset(n) for n in DATASETS)
    # the grid's bins: 2 coordinates of width 7 / 64
    assert mix.tokens.log_bin_volume == pytest.approx(2 * math.log(7 / 64))
    assert mix.bin_width is None and mix.bounds is None and mix.tokens.end is None
    assert dig.bin_width == pytest.approx(2 / 16) and dig.bounds == (-1.0, 1.0)
    assert torch.equal(dig.clip(torch.tensor([-3.0, 0.5, 2.0])), torch.tensor([-1.0, 0.5, 1.0]))
    assert names.tokens.end == surnames.END and names.tokens.length == surnames.MAX_LEN + 1
    # NLL dimensions: coordinates, pixels, letters plus the END token
    assert mix.dims(mix.test[:2]).tolist() == [2.0, 2.0]
    assert dig.dims(dig.test[:2]).tolist() == [64.0, 64.0]
    assert names.dims(surnames.encode(["ab", "abcde"])).tolist() == [3.0, 6.0]


def test_quality_ratio_of_held_out_data_is_near_one():
    data = load_dataset("mixture2d")
    ratio = metrics.quality_ratio(data.train[-2000:], data, torch.Generator().manual_seed(0))
    assert 0.3 < ratio < 2.0
    names = load_dataset("surnames")
    pick = torch.randperm(len(names.train), generator=torch.Generator().manual_seed(1))[:1000]
    out = metrics.quality_ratio(names.train[pick], names, torch.Generator().manual_seed(0),
                                full=True)
    assert set(out) == {"model", "data", "data_std", "ratio"} and 0.5 < out["ratio"] < 2.0


def test_bad_input():
    with pytest.raises(ValueError, match="name"):
        load_dataset("moons")
    with pytest.raises(ValueError, match="dataset"):
        metrics.quality_ratio(torch.zeros(3, 2), "mixture2d")
    with pytest.raises(ValueError, match="samples"):
        metrics.quality_ratio([1, 2], load_dataset("mixture2d"))
    with pytest.raises(ValueError, match="x"):
        load_dataset("digits").dims([1, 2])
