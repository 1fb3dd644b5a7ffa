"""Checks for the exercises of *Latent diffusion* (Part III).

Each check tries a small case with short numbers first (so that a failure can be read
off by hand), then random inputs.
"""
from __future__ import annotations

import math

import torch

from .. import flow, latent, schedules
from ._framework import compare, register_inputs

__all__ = ["latent_snr", "standardize_latents", "equivalent_time"]

F64 = torch.float64


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


# ---- latent_snr -------------------------------------------------------------------------------

# alpha^2 std^2 / sigma^2 = 0.64 * 0.01 / 0.36, and a std above 1
_SNR_CASES = [(_t([0.8, 0.6]), _t([0.6, 0.8]), 0.1), (_t([0.5]), _t([0.5]), 3.0)]


def _make_snr(gen):
    B = int(torch.randint(1, 7, (1,), generator=gen))
    alpha = torch.rand(B, generator=gen, dtype=F64) * 0.9 + 0.05
    return alpha, (1 - alpha**2).sqrt(), float(torch.rand(1, generator=gen) * 3 + 0.05)


register_inputs("latent_snr", _make_snr, cases=_SNR_CASES)


def latent_snr(fn, **kw) -> None:
    """Exercise: ``fn(alpha_t (B,), sigma_t (B,), latent_std float) -> (B,)``, the SNR the latent sees."""
    compare(fn, latent.snr, _make_snr, cases=_SNR_CASES, name="latent_snr",
            inputs=("alpha_t", "sigma_t", "latent_std"), outputs=("snr",), **kw)


# ---- standardize_latents ----------------------------------------------------------------------

# Two coordinates of very different spread: one overall scale, not one per coordinate.
_STD_CASES = [(_t([[1.0, 10.0], [3.0, 10.0], [2.0, 16.0]]),)]


def _make_standardize(gen):
    N = int(torch.randint(2, 9, (1,), generator=gen))
    d = int(torch.randint(1, 5, (1,), generator=gen))
    scale = torch.rand(d, generator=gen, dtype=F64) * 4 + 0.1
    return (torch.randn(N, d, generator=gen, dtype=F64) * scale + torch.randn(d, generator=gen, dtype=F64),)


register_inputs("standardize_latents", _make_standardize, cases=_STD_CASES)


def _standardize_latents(z):
    return latent.fit_scaler(z).normalize(z)


def standardize_latents(fn, **kw) -> None:
    """Exercise: ``fn(z (N, d)) -> (N, d)``: each coordinate centred, all divided by one overall scale
    (the root of the mean of the coordinates' population variances)."""
    compare(fn, _standardize_latents, _make_standardize, cases=_STD_CASES, name="standardize_latents",
            inputs=("z",), outputs=("z_normalized",), **kw)


# ---- equivalent_time --------------------------------------------------------------------------

_EQ_CASES = [(_t([0.5]), 0.1), (_t([0.2, 0.5, 0.8]), 1.0), (_t([0.3, 0.6]), 4.0)]


def _make_equivalent(gen):
    B = int(torch.randint(1, 7, (1,), generator=gen))
    t = torch.rand(B, generator=gen, dtype=F64) * 0.9 + 0.05
    log_c = float(torch.rand(1, generator=gen) * 2 - 1.3)        # c from about 0.05 to 2
    return t, math.exp(log_c * math.log(10))


register_inputs("equivalent_time", _make_equivalent, cases=_EQ_CASES)


def _equivalent_time(t, c):
    path = schedules.CosineVP()
    return flow.time_at_log_snr(path, path.log_snr(t) + 2 * math.log(c))


def equivalent_time(fn, **kw) -> None:
    """Exercise: ``fn(t (B,) float64, c float) -> (B,)``: on the cosine path (``schedules.CosineVP()``,
    s = 0.008), the time at which unit-variance data have the SNR that data of std ``c`` have at ``t``."""
    kw.setdefault("atol", 1e-7)
    compare(fn, _equivalent_time, _make_equivalent, cases=_EQ_CASES, name="equivalent_time",
            inputs=("t", "c"), outputs=("t_equivalent",), **kw)
