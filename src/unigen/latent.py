r"""Latent diffusion: an autoencoder for digits, the latent's normalisation, and the cost arithmetic.

Introduced in *Latent diffusion* (Part III). Rombach et al. (2022) train a diffusion model not on
pixels but on the latent code :math:`z = E(x)` of an autoencoder, and decode its samples with
:math:`D`. Three pieces make that work, and this module holds them:

- :class:`Autoencoder`, a small deterministic MLP autoencoder for 8x8 digits, trained with
  :func:`ae_loss`: reconstruction error plus a small penalty on :math:`\|z\|^2`, which keeps the
  latent from drifting to large values (a deterministic code; a KL-regularised one would add noise);
- :class:`LatentScaler`, which centres each latent coordinate and divides by one overall standard
  deviation, so that the latent has the scale a noise schedule assumes, :math:`\mathrm{Var}[z] \approx 1`.
  On a path :math:`z_t = \alpha_t z_0 + \sigma_t\varepsilon` the signal-to-noise ratio of data with
  variance :math:`v` is :math:`\alpha_t^2 v / \sigma_t^2` (:func:`snr`), so a latent with standard
  deviation 0.1 sees a schedule 100 times noisier than the one designed for it;
- :func:`linear_flops` and :func:`attention_cost`, the arithmetic behind "matched training compute"
  and behind the saving a latent space gives at 256x256 resolution.

Shapes: images are ``(B, 1, 8, 8)`` (or any ``(B, *image_shape)``), latents ``(B, latent_dim)``.
The diffusion itself is Part III's: :func:`unigen.ddpm.ddpm_loss` and :func:`unigen.ddpm.ddim_sample`
accept flat ``(B, D)`` data, and :class:`unigen.nn.mlp.TimeMLP` is the denoiser.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from .utils import check_positive, check_tensor

__all__ = ["AEConfig", "Autoencoder", "ae_loss", "LatentScaler", "fit_scaler", "encode", "decode",
           "snr", "linear_flops", "attention_cost"]


@dataclass(frozen=True)
class AEConfig:
    """Sizes of an :class:`Autoencoder`: images of ``image_shape``, a code of ``latent_dim`` numbers,
    two hidden layers of width ``hidden`` on each side, and the weight ``penalty`` of :math:`\\|z\\|^2`."""

    image_shape: tuple = (1, 8, 8)
    latent_dim: int = 8
    hidden: int = 128
    penalty: float = 1e-3


def _mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                         nn.Linear(hidden, d_out))


class Autoencoder(nn.Module):
    r"""A deterministic MLP autoencoder: :math:`z = E(x)` ``(B, latent_dim)``, :math:`\hat x = D(z)` in [-1, 1].

    The decoder ends in a tanh, because the images live in [-1, 1]. ``forward(x)`` is the
    reconstruction :math:`D(E(x))`, with the shape of ``x``.
    """

    def __init__(self, config: AEConfig | None = None, **kwargs):
        super().__init__()
        if config is not None and not isinstance(config, AEConfig):
            raise ValueError(f"config must be an AEConfig, got {type(config).__name__}")
        config = config or AEConfig(**kwargs)
        for name in ("latent_dim", "hidden"):
            v = getattr(config, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        shape = config.image_shape
        if not isinstance(shape, tuple) or not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(f"image_shape must be a tuple of positive ints, got {shape!r}")
        check_positive("penalty", config.penalty, allow_zero=True)
        self.config = config
        self.data_dim = math.prod(shape)
        self.encoder = _mlp(self.data_dim, config.hidden, config.latent_dim)
        self.decoder = nn.Sequential(_mlp(config.latent_dim, config.hidden, self.data_dim), nn.Tanh())

    def _check_images(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, floating=True)
        shape = self.config.image_shape
        if tuple(x.shape[1:]) not in (shape, (self.data_dim,)):
            raise ValueError(f"x must have shape (B, {', '.join(map(str, shape))}) or (B, {self.data_dim}), "
                             f"got {tuple(x.shape)}")
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, *image_shape)`` or ``(B, data_dim)`` to latents ``(B, latent_dim)``."""
        return self.encoder(self._check_images(x).reshape(x.shape[0], -1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, latent_dim)`` to images ``(B, *image_shape)`` in [-1, 1]."""
        check_tensor("z", z, dim=2, last=self.config.latent_dim, floating=True)
        return self.decoder(z).reshape(z.shape[0], *self.config.image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)).reshape(x.shape)


def ae_loss(model: Autoencoder, x: torch.Tensor) -> torch.Tensor:
    r"""The autoencoder's loss :math:`\mathbb E\,\|D(E(x)) - x\|^2 / n + \lambda\,\mathbb E\,\|E(x)\|^2 / d`.

    Both terms are means over entries: the squared error per pixel, and the penalty (weight
    :math:`\lambda` = ``model.config.penalty``) per latent coordinate. Without the penalty only the
    product of the encoder's and the decoder's scales is fixed, and the latent can drift to any size.
    """
    if not isinstance(model, Autoencoder):
        raise ValueError(f"model must be a latent.Autoencoder, got {type(model).__name__}")
    z = model.encode(x)
    x_hat = model.decode(z).reshape(x.shape)
    return (x_hat - x).square().mean() + model.config.penalty * z.square().mean()


@dataclass
class LatentScaler:
    r"""Centre each latent coordinate and divide by one overall scale: :math:`\tilde z = (z - m)/s`.

    ``mean`` is ``(d,)``, ``std`` a scalar tensor: :math:`s^2` is the mean of the coordinates'
    variances, so the normalised latents of the fitting data have mean 0 in every coordinate and
    mean square exactly 1. One scale for all coordinates (as Rombach et al. use) keeps the
    relative sizes of the coordinates, which the decoder relies on.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def _check(self, name: str, z: torch.Tensor) -> torch.Tensor:
        return check_tensor(name, z, dim=2, last=self.mean.shape[0], floating=True)

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        """Raw latents ``(B, d)`` to normalised ones."""
        self._check("z", z)
        return (z - self.mean.to(z)) / self.std.to(z)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents ``(B, d)`` back to the autoencoder's scale."""
        self._check("z", z)
        return z * self.std.to(z) + self.mean.to(z)


def fit_scaler(z: torch.Tensor) -> LatentScaler:
    """The :class:`LatentScaler` of latents ``z`` ``(N, d)``, ``N >= 2`` (population statistics)."""
    check_tensor("z", z, dim=2, floating=True)
    if z.shape[0] < 2:
        raise ValueError(f"z must hold at least 2 latents, got shape {tuple(z.shape)}")
    z = z.detach()
    mean = z.mean(0)
    std = (z - mean).square().mean().sqrt()
    if not torch.isfinite(std) or std <= 0:
        raise ValueError(f"z must have a finite, positive spread, got std {std.item()!r}")
    return LatentScaler(mean, std)


@torch.no_grad()
def encode(model: Autoencoder, scaler: LatentScaler, x: torch.Tensor) -> torch.Tensor:
    """Images to *normalised* latents ``(B, d)``: :math:`(E(x) - m)/s`, without gradients."""
    return scaler.normalize(model.encode(x))


@torch.no_grad()
def decode(model: Autoencoder, scaler: LatentScaler, z: torch.Tensor) -> torch.Tensor:
    """Normalised latents ``(B, d)`` to images: :math:`D(s\\,z + m)`, without gradients."""
    return model.decode(scaler.denormalize(z))


def snr(alpha_t, sigma_t, data_std=1.0):
    r"""The signal-to-noise ratio of :math:`\alpha_t z_0 + \sigma_t\varepsilon` for data of standard deviation ``data_std``.

    :math:`\mathrm{SNR} = \alpha_t^2\,\mathrm{Var}[z_0]/\sigma_t^2`: the schedule's own
    :math:`\alpha_t^2/\sigma_t^2` assumes :math:`\mathrm{Var}[z_0] = 1`. Numbers or tensors that broadcast.
    """
    for name, v in (("alpha_t", alpha_t), ("sigma_t", sigma_t), ("data_std", data_std)):
        if not isinstance(v, (int, float, torch.Tensor)) or isinstance(v, bool):
            raise ValueError(f"{name} must be a number or a tensor, got {type(v).__name__}")
    return alpha_t**2 * data_std**2 / sigma_t**2


def linear_flops(module: nn.Module) -> int:
    """Multiply-adds of a forward pass of ``module`` for one example, counted as 2 FLOPs each, over
    its ``nn.Linear`` layers (the rest of an MLP, activations and norms, is a few per cent)."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    return sum(2 * m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))


def attention_cost(height: int, width: int, channels: int, *, patch: int = 1, model_width: int = 1) -> dict:
    r"""Tokens and the cost of one self-attention layer over a ``channels x height x width`` array.

    The array is cut into ``patch x patch`` patches, one token each, so there are
    :math:`N = hw/p^2` tokens; the attention scores and their weighted sum cost
    :math:`\propto N^2 \cdot` ``model_width``. Returns ``{"dims", "tokens", "attention"}``
    (``dims`` = :math:`c\,h\,w`, the numbers a denoiser must produce).
    """
    for name, v in (("height", height), ("width", width), ("channels", channels), ("patch", patch),
                    ("model_width", model_width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if height % patch or width % patch:
        raise ValueError(f"patch must divide height and width, got patch {patch} for {height}x{width}")
    tokens = (height // patch) * (width // patch)
    return {"dims": channels * height * width, "tokens": tokens, "attention": tokens**2 * model_width}
