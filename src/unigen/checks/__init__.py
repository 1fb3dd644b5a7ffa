"""Automatic checks for the exercises: compare a learner's function with the reference.

Introduced in *The generative modelling problem* (Part I). A check calls the
learner's function and the reference on fresh random inputs, compares the
outputs (shape, dtype, values) and, on a mismatch, raises :class:`CheckFailed`
with a message that names what differed (``mean``, ``variance``, ...) and gives
the failing case: the inputs themselves when they are small, otherwise a call
that rebuilds them, e.g. ``args = checks.failing_inputs("q_sample", trial=3)``.

    >>> from unigen import checks
    >>> checks.bigram_logprobs(my_bigram_logprobs)
    ✓ bigram_logprobs matches the reference on 5 random inputs

The machinery is in ``_framework``; each part keeps its checks in its own
module (``foundations``, ...), and all of them are available as ``checks.<name>``.
"""
from ._framework import CheckFailed, compare, failing_inputs, register_inputs
from .foundations import *  # noqa: F401,F403  Part I
from .autoregressive import *  # noqa: F401,F403  Part II
from .diffusion import *  # noqa: F401,F403  Part III
from .editing import *  # noqa: F401,F403  Part III, Editing with diffusion
from .latent import *  # noqa: F401,F403  Part III, Latent diffusion
from .score import *  # noqa: F401,F403  Part IV
from .flow import *  # noqa: F401,F403  Part V
from .consistency import *  # noqa: F401,F403  Part V, consistency models
from .crossing import *  # noqa: F401,F403  Part VI
from .unified import *  # noqa: F401,F403  Part VII

__all__ = ["CheckFailed", "compare", "failing_inputs", "register_inputs"]
