"""How good are a generative model's samples? Sample distances, novelty, diversity.

Introduced in *The generative modelling problem* (Part I).

Two families of numbers, used by every later chapter:

- **sample distances** between a cloud of samples and a cloud of held-out data:
  :func:`energy_distance`, :func:`mmd_rbf` and, for 8x8 digits, the Fréchet
  distance between features of a small classifier (:func:`frechet_digit_distance`);
- **memorisation checks** for discrete samples: :func:`novelty` and :func:`distinct_ratio`.

A sample distance on its own has no scale, so the book reads every one as a
ratio to the same distance measured between two sets of real data
(:func:`reference_ratio`): a ratio near 1 means "as close as fresh data";
:func:`energy_ratio`, :func:`fd_ratio` and :func:`quality_ratio` (the distance a dataset
names, :func:`bigram_tv` for names) read them so.

Likelihoods in bits per dimension, dequantisation and the discretised decoder
(:func:`bits_per_dim`, :func:`nats_to_bits`, :func:`dequantize`, :func:`dequantized_nll`,
:func:`log_normal_mass`, :func:`discretized_gaussian_log_prob`) live in
:mod:`unigen.likelihood`; they are re-exported here, as the chapters call them ``metrics.*``.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Callable, Sequence

import torch
import torch.nn as nn

# re-exported: chapters call them as metrics.*
from .likelihood import (LN2, bits_per_dim, dequantize, dequantized_nll,  # noqa: F401
                         discretized_gaussian_log_prob, log_normal_mass, nats_to_bits)
from .utils import check_positive, check_tensor

__all__ = [
    "nats_to_bits", "bits_per_dim", "dequantize", "dequantized_nll", "log_normal_mass",
    "discretized_gaussian_log_prob",
    "energy_distance", "mmd_rbf", "reference_ratio", "energy_ratio", "fd_ratio", "quality_ratio",
    "bigram_tv",
    "frechet_distance", "frechet_digit_distance",
    "novelty", "distinct_ratio",
]


# ---- distances between point clouds --------------------------------------------------

def _as_cloud(name: str, x) -> torch.Tensor:
    """Validate a float tensor ``(N, ...)`` and flatten it to ``(N, D)`` float64."""
    check_tensor(name, x, floating=True)
    if x.dim() < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, D) or (N, ...) with N >= 1, got {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1).to(torch.float64)


def _as_clouds(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _as_cloud("x", x), _as_cloud("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"y must have {x.shape[1]} features per row like x, got {y.shape[1]}")
    return x, y.to(x.device)


def _pairwise_mean(a: torch.Tensor, b: torch.Tensor, fn: Callable | None = None, chunk: int = 1024) -> float:
    """Mean of ``fn(|a_i - b_j|)`` (default: the distance itself) over all pairs ``(i, j)``, in row chunks of ``a``."""
    total = 0.0
    for start in range(0, a.shape[0], chunk):
        d = torch.cdist(a[start:start + chunk], b, compute_mode="donot_use_mm_for_euclid_dist")
        total += (d if fn is None else fn(d)).sum().item()
    return total / (a.shape[0] * b.shape[0])


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    r"""Energy distance between samples ``x`` ``(N, ...)`` and ``y`` ``(M, ...)``.

    .. math:: \mathcal{E}(P, Q) = 2\,\mathbb{E}|X - Y| - \mathbb{E}|X - X'| - \mathbb{E}|Y - Y'|

    estimated by the V-statistic (all pairs, including ``i = j``), which is
    ``>= 0`` and of order ``1/N`` when both clouds come from the same
    distribution. Rows are flattened, so images ``(N, 1, 8, 8)`` work as ``(N, 64)``;
    the computation is in float64.
    """
    x, y = _as_clouds(x, y)
    e_xy, e_xx, e_yy = _pairwise_mean(x, y), _pairwise_mean(x, x), _pairwise_mean(y, y)
    return max(0.0, 2.0 * e_xy - e_xx - e_yy)


def _median_distance(z: torch.Tensor, max_rows: int = 1000) -> float:
    """Median of the non-zero pairwise distances between (at most ``max_rows`` evenly spaced) rows of ``z``."""
    if z.shape[0] > max_rows:
        z = z[torch.linspace(0, z.shape[0] - 1, max_rows, device=z.device).long()]
    d = torch.cdist(z, z, compute_mode="donot_use_mm_for_euclid_dist")
    d = d[torch.triu(torch.ones_like(d, dtype=torch.bool), diagonal=1)]
    d = d[d > 0]
    return d.median().item() if d.numel() else 1.0


def _check_bandwidths(bandwidths) -> tuple[float, ...]:
    if isinstance(bandwidths, (int, float)) and not isinstance(bandwidths, bool):
        bandwidths = (bandwidths,)
    if not isinstance(bandwidths, (list, tuple)) or len(bandwidths) == 0:
        raise ValueError(f"bandwidths must be a positive number or a non-empty sequence of them, got {bandwidths!r}")
    for h in bandwidths:
        check_positive("bandwidths", h)
    return tuple(float(h) for h in bandwidths)


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, bandwidths: float | Sequence[float] | None = None) -> float:
    r"""Squared maximum mean discrepancy with a sum of Gaussian (RBF) kernels.

    .. math::
        k(a, b) = \sum_h \exp\!\Big(-\frac{|a - b|^2}{2 h^2}\Big), \qquad
        \mathrm{MMD}^2 = \mathbb{E}\,k(X, X') + \mathbb{E}\,k(Y, Y') - 2\,\mathbb{E}\,k(X, Y)

    estimated by the biased V-statistic (all pairs, ``>= 0``). By default the
    bandwidths are ``(0.5, 1, 2)`` times the median pairwise distance of the
    pooled samples (the median heuristic). Rows are flattened; float64.
    """
    x, y = _as_clouds(x, y)
    if bandwidths is None:
        median = _median_distance(torch.cat([x, y]))
        bandwidths = tuple(median * f for f in (0.5, 1.0, 2.0))
    hs = _check_bandwidths(bandwidths)

    def kernel(d: torch.Tensor) -> torch.Tensor:
        return sum(torch.exp(-d.square() / (2.0 * h * h)) for h in hs)

    k_xx = _pairwise_mean(x, x, kernel)
    k_yy = _pairwise_mean(y, y, kernel)
    k_xy = _pairwise_mean(x, y, kernel)
    return max(0.0, k_xx + k_yy - 2.0 * k_xy)


def _random_rows(pool, n: int, generator: torch.Generator | None):
    """``n`` distinct random rows of ``pool`` (a tensor or a list)."""
    idx = torch.randperm(len(pool), generator=generator)[:n]
    if isinstance(pool, torch.Tensor):
        return pool[idx.to(pool.device)]
    return [pool[i] for i in idx.tolist()]


def reference_ratio(metric: Callable, samples, reference, data_pool, generator: torch.Generator | None = None,
                    repeats: int = 5) -> dict:
    r"""Read a sample metric as a ratio to data-vs-data: the book's rule for every sample metric.

    .. math:: \mathrm{ratio} = \frac{m(\text{samples}, \text{reference})}{m(\text{data}, \text{reference})}

    ``data`` is a random subset of ``data_pool`` with as many rows as
    ``samples`` (drawn with ``generator``; ``None`` uses torch's global RNG), so
    both numbers carry the same finite-sample bias. ``reference`` is typically
    the test split and ``data_pool`` the training split. The data value is the
    mean over ``repeats`` independent subsets, because a single subset makes
    the denominator (and so the ratio) noisy; ``data_std`` is their spread.
    Returns ``{"model", "data", "data_std", "ratio"}``; a ratio near 1 means
    the samples are as close to the reference as real data are.
    """
    if not callable(metric):
        raise ValueError(f"metric must be a callable (x, y) -> float, got {type(metric).__name__}")
    for name, value in (("samples", samples), ("reference", reference), ("data_pool", data_pool)):
        if not isinstance(value, (torch.Tensor, list, tuple)) or len(value) == 0:
            raise ValueError(f"{name} must be a non-empty tensor or list")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    n = len(samples)
    if len(data_pool) < n:
        raise ValueError(f"data_pool must have at least len(samples) = {n} rows, got {len(data_pool)}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    model = float(metric(samples, reference))
    draws = torch.tensor([float(metric(_random_rows(data_pool, n, generator), reference)) for _ in range(repeats)],
                         dtype=torch.float64)
    data = float(draws.mean())
    if data > 0:
        ratio = model / data
    else:
        ratio = math.inf if model > 0 else math.nan
    data_std = float(draws.std()) if repeats > 1 else 0.0
    return {"model": model, "data": data, "data_std": data_std, "ratio": ratio}


# ---- Fréchet digit distance ------------------------------------------------------------

def _check_cov(name: str, cov, d: int) -> torch.Tensor:
    check_tensor(name, cov, dim=2, floating=True)
    if tuple(cov.shape) != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) to match mu1, got {tuple(cov.shape)}")
    return cov


def _sqrtm_psd(c: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition (tiny negative eigenvalues clipped)."""
    w, v = torch.linalg.eigh((c + c.T) / 2)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    r"""Fréchet (2-Wasserstein) distance squared between :math:`\mathcal N(\mu_1, C_1)` and :math:`\mathcal N(\mu_2, C_2)`.

    .. math::
        d^2 = |\mu_1 - \mu_2|^2 + \operatorname{Tr}\!\Big(C_1 + C_2 - 2\,\big(C_1^{1/2} C_2\, C_1^{1/2}\big)^{1/2}\Big)

    Means have shape ``(D,)`` and covariances ``(D, D)``. Computed in float64
    with symmetric eigendecompositions; the trace of the inner square root is
    the sum of square roots of the (clipped) eigenvalues of
    :math:`C_1^{1/2} C_2 C_1^{1/2}`.
    """
    mu1 = check_tensor("mu1", mu1, dim=1, floating=True).to(torch.float64)
    d = mu1.shape[0]
    mu2 = check_tensor("mu2", mu2, dim=1, last=d, floating=True).to(mu1.device, torch.float64)
    cov1 = _check_cov("cov1", cov1, d).to(mu1.device, torch.float64)
    cov2 = _check_cov("cov2", cov2, d).to(mu1.device, torch.float64)
    s1 = _sqrtm_psd(cov1)
    middle = s1 @ cov2 @ s1
    eig = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0)
    value = (mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2.0 * eig.sqrt().sum()
    return max(0.0, value.item())


def _gaussian_fit(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` of features ``(N, D)``, in float64."""
    f = f.to(torch.float64)
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / max(f.shape[0] - 1, 1)


@torch.no_grad()
def _digit_features(name: str, x, classifier: nn.Module, batch_size: int = 1024) -> torch.Tensor:
    """Classifier features ``(N, F)`` of images ``(N, 1, 8, 8)`` or ``(N, 64)``."""
    check_tensor(name, x, dim=(2, 4), floating=True)
    if x.shape[0] < 2 or x[0].numel() != 64:
        raise ValueError(f"{name} must hold N >= 2 images of shape (N, 1, 8, 8) or (N, 64), got {tuple(x.shape)}")
    device = next(classifier.parameters()).device
    x = x.reshape(-1, 1, 8, 8).float()
    return torch.cat([classifier.features(x[i:i + batch_size].to(device)).cpu()
                      for i in range(0, x.shape[0], batch_size)])


def frechet_digit_distance(x: torch.Tensor, y: torch.Tensor, classifier: nn.Module) -> float:
    r"""Fréchet distance between Gaussians fitted to digit-classifier features of ``x`` and ``y``.

    The 8x8 analogue of FID:
    :math:`d^2 = |\mu_x - \mu_y|^2 + \operatorname{Tr}(C_x + C_y - 2 (C_x^{1/2} C_y C_x^{1/2})^{1/2})`
    with :math:`(\mu, C)` the mean and covariance of ``classifier.features`` (the book's is
    :func:`unigen.nn.classifier.digit_classifier`). ``x`` and ``y`` are images ``(N, 1, 8, 8)``
    or ``(N, 64)`` with values in [-1, 1]. Like every sample metric it is
    biased for finite ``N``: compare it with :func:`reference_ratio`.
    """
    if not isinstance(classifier, nn.Module) or not callable(getattr(classifier, "features", None)):
        raise ValueError(f"classifier must be an nn.Module with a features(x) method, got {type(classifier).__name__}")
    fx, fy = _digit_features("x", x, classifier), _digit_features("y", y, classifier)
    return frechet_distance(*_gaussian_fit(fx), *_gaussian_fit(fy))


def energy_ratio(samples, reference, data_pool=None, generator: torch.Generator | None = None, *,
                 repeats: int = 5, full: bool = False, data_value: float | None = None):
    """The energy distance of ``samples`` to ``reference``, read as a ratio to data (:func:`reference_ratio`).

    The book's quality number for 2-D points: ``samples`` are moved to the CPU first. Returns the
    ratio, or with ``full=True`` the whole :func:`reference_ratio` dict. ``data_value`` is the
    data-vs-data distance when it was measured once for many sample sets of one size: then no
    data are drawn and the ratio is the samples' distance over it.
    """
    if not isinstance(samples, torch.Tensor):
        raise ValueError(f"samples must be a tensor, got {type(samples).__name__}")
    if data_value is not None:
        check_positive("data_value", data_value)
        return energy_distance(samples.cpu(), reference) / data_value
    if data_pool is None:
        raise ValueError("give data_pool (data to draw the reference value from) or data_value")
    out = reference_ratio(energy_distance, samples.cpu(), reference, data_pool, generator, repeats)
    return out if full else out["ratio"]


def fd_ratio(samples, reference, data_pool, generator: torch.Generator | None = None, *,
             classifier: nn.Module, repeats: int = 5, full: bool = False):
    """The Fréchet digit distance of ``samples`` to ``reference``, read as a ratio to data.

    The book's quality number for digits: ``samples`` are clipped to [-1, 1] (the pixel range)
    and moved to the CPU; ``classifier`` gives the features (:func:`frechet_digit_distance`). Returns the
    ratio, or with ``full=True`` the whole :func:`reference_ratio` dict.
    """
    if not isinstance(samples, torch.Tensor):
        raise ValueError(f"samples must be a tensor, got {type(samples).__name__}")
    def fd(a, b):
        return frechet_digit_distance(a, b, classifier)
    out = reference_ratio(fd, samples.clamp(-1, 1).cpu(), reference, data_pool, generator, repeats)
    return out if full else out["ratio"]


def quality_ratio(samples: torch.Tensor, dataset, generator: torch.Generator | None = None, *,
                  repeats: int = 3, full: bool = False):
    """The sample metric that ``dataset`` names, read as a ratio to data (:func:`reference_ratio`).

    ``dataset`` is a :class:`unigen.data.registry.Dataset`: it gives the distance (energy
    distance on points, Fréchet digit distance on digits, :func:`bigram_tv` on names), the
    view the distance reads (clipped images, decoded names) and the test split as reference
    and the training split as the data pool. Returns the ratio, or with ``full=True`` the whole
    :func:`reference_ratio` dict.
    """
    if not isinstance(samples, torch.Tensor):
        raise ValueError(f"samples must be a tensor, got {type(samples).__name__}")
    for attr in ("distance", "view", "reference_views"):
        if not hasattr(dataset, attr):
            raise ValueError(f"dataset must be a unigen.data Dataset (it has no {attr!r}), "
                             f"got {type(dataset).__name__}")
    reference, pool = dataset.reference_views()
    out = reference_ratio(dataset.distance, dataset.view(samples), reference, pool, generator, repeats)
    return out if full else out["ratio"]


def bigram_tv(a, b) -> float:
    r"""Total-variation distance between the character-bigram frequencies of two lists of names.

    Each name is read as ``^name$`` so first and last letters count; 0 means identical frequencies.
    The sum runs over the bigrams in sorted order, so the float result does not depend on the
    order of a set (Python's string hashing changes from process to process).
    """
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, (list, tuple)) or not value \
                or not all(isinstance(s, str) for s in value):
            raise ValueError(f"{name} must be a non-empty list of strings")

    def freqs(names):
        c = Counter(p for s in names for p in zip("^" + s, s + "$"))
        total = sum(c.values())
        return {k: v / total for k, v in c.items()}
    fa, fb = freqs(a), freqs(b)
    return 0.5 * sum(abs(fa.get(k, 0.0) - fb.get(k, 0.0)) for k in sorted(fa.keys() | fb.keys()))



# ---- novelty and diversity of discrete samples -----------------------------------------

def _as_keys(name: str, samples) -> list:
    """Hashable keys of samples: strings as they are, rows of a 2-D integer tensor as tuples."""
    if isinstance(samples, torch.Tensor):
        check_tensor(name, samples, dim=2, floating=False)
        keys = [tuple(row) for row in samples.tolist()]
    elif isinstance(samples, (list, tuple)):
        if not all(isinstance(s, str) for s in samples):
            raise ValueError(f"{name} must be a list of strings or a 2-D integer tensor")
        keys = list(samples)
    else:
        raise ValueError(f"{name} must be a list of strings or a 2-D integer tensor, got {type(samples).__name__}")
    if not keys:
        raise ValueError(f"{name} must not be empty")
    return keys


def novelty(samples, train) -> float:
    r"""Share of samples that do not occur in the training set: :math:`\frac{1}{N}\sum_i [s_i \notin \mathcal D_\mathrm{train}]`.

    ``samples`` and ``train`` are lists of strings (e.g. surnames) or 2-D
    integer tensors whose rows (e.g. token sequences) are compared as tuples.
    Duplicated samples count once each.
    """
    keys = _as_keys("samples", samples)
    train_keys = _as_keys("train", train)
    if isinstance(samples, torch.Tensor) != isinstance(train, torch.Tensor):
        raise ValueError("train must be of the same kind as samples (both string lists or both tensors)")
    seen = set(train_keys)
    return sum(k not in seen for k in keys) / len(keys)


def distinct_ratio(samples) -> float:
    r"""Number of distinct samples over number of samples, :math:`|\{s_i\}| / N`, in (0, 1]."""
    keys = _as_keys("samples", samples)
    return len(set(keys)) / len(keys)

