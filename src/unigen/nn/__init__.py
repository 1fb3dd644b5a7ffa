"""Network building blocks shared by every paradigm.

Import the submodule you need, e.g. ``from unigen.nn import transformer``.
Each module is small and readable on its own:

- ``transformer``: attention, blocks and a transformer that runs causal (AR) or bidirectional (masked diffusion);
- ``embeddings``: time / noise-level embeddings;
- ``mlp``: a time-conditioned MLP for 2-D data;
- ``unet``, ``dit``: small image backbones for 8x8 digits;
- ``pixelcnn``: masked convolutions and the PixelCNN (the maths is in :mod:`unigen.pixelcnn`);
- ``var``: the block-causal transformer of next-scale prediction (the maths is in :mod:`unigen.var`);
- ``classifier``: the digit classifier behind the Fréchet digit distance (:func:`digit_classifier`).
"""
from .classifier import digit_classifier

__all__ = ["digit_classifier"]
