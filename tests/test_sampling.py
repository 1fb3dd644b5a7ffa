import pytest
import torch

from unigen import ar, masked, sampling


def test_one_home_for_the_token_samplers():
    assert ar.top_p_filter is sampling.top_p_filter and ar.process_logits is sampling.process_logits
    assert masked.gumbel_argmax is sampling.gumbel_argmax


def test_gumbel_argmax_matches_the_softmax_and_the_filters_compose():
    logits = torch.tensor([0.0, 1.0, 2.0])
    draws = sampling.gumbel_argmax(logits.expand(40000, 3), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws, minlength=3).double() / len(draws)
    assert torch.allclose(freq, logits.double().softmax(0), atol=0.01)
    out = sampling.process_logits(logits, temperature=0.5, top_k=2, top_p=0.5)
    assert torch.isfinite(out).tolist() == [False, False, True]
    with pytest.raises(ValueError, match="temperature"):
        sampling.process_logits(logits, temperature=0.0)
