"""Train the PixelCNN of *Autoregression for images* at its ``UNIGEN_SCALE=large`` settings, on the CPU.

The large settings (64 channels, 6 gated layers, dropout 0.3, EMA 0.995, 6,000 steps) have far more capacity than the
1,437 training digits need. This script trains that network the way the chapter does, with
early stopping on the validation split (the weights with the lowest validation loss are
kept), scores bits/dim on the test split exactly as the chapter does, and writes
``results/pixelcnn_large.json``. ``--no-early-stopping`` trains the full budget and keeps the
last weights, to show what early stopping protects against.

    OMP_NUM_THREADS=1 python tools/pixelcnn_large.py [--no-early-stopping]

The settings below copy the chapter's ``utils.pick(default, large)`` large values; keep them
in step with ``book/06_crossing/visual_autoregression.ipynb``.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from unigen import baselines, metrics, train, utils, visual_ar
from unigen.data import digits

# The chapter's PixelCNN at UNIGEN_SCALE=large.
CONFIG = dict(channels=64, n_layers=6, first_kernel=5, gated=True, dropout=0.3)
STEPS, BATCH_SIZE, LR, EMA = 6000, 64, 2e-3, 0.995
EVAL_EVERY, PATIENCE = 200, 5


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-early-stopping", action="store_true",
                        help="train all steps and keep the last weights")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", default=None, help="results file (default: results/pixelcnn_large[_no_es].json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()

    gen = utils.seed_everything(0)
    x_train, _ = digits.load("train", kind="levels")
    x_val, _ = digits.load("val", kind="levels")
    x_test, _ = digits.load("test", kind="levels")
    utils.seed_everything(1)
    model = visual_ar.PixelCNN(visual_ar.PixelCNNConfig(n_levels=digits.N_LEVELS, **CONFIG))
    early = {} if args.no_early_stopping else dict(val_data=x_val, eval_every=EVAL_EVERY,
                                                   patience=PATIENCE)
    hist = train.train(model, visual_ar.pixel_loss, x_train, steps=args.steps, batch_size=BATCH_SIZE,
                       lr=LR, ema_decay=EMA, generator=gen, device="cpu", desc="PixelCNN (large)",
                       **early)
    model = hist.ema

    # Test bits/dim exactly as the chapter computes them.
    logp = visual_ar.pixel_log_prob(model, x_test)
    bpd = metrics.bits_per_dim(-logp.mean().item(), 64)
    indep = baselines.IndependentPixels(n_levels=digits.N_LEVELS, alpha=0.5).fit(x_train.flatten(1))
    indep_bpd = metrics.bits_per_dim(-indep.log_prob(x_test.flatten(1)).double().mean().item(), 64)
    result = {
        "early_stopping": not args.no_early_stopping,
        "config": CONFIG, "steps_budget": args.steps, "batch_size": BATCH_SIZE, "lr": LR, "ema": EMA,
        "eval_every": None if args.no_early_stopping else EVAL_EVERY,
        "patience": None if args.no_early_stopping else PATIENCE,
        "bpd": bpd,
        "independent_bpd": indep_bpd,
        "uniform_bpd": metrics.nats_to_bits(torch.log(torch.tensor(float(digits.N_LEVELS))).item()),
        "best_step": hist.best_step,
        "stopped_early": hist.stopped_early,
        "steps_run": hist.steps,
        "val_steps": hist.val_steps,
        "val_bpd": [metrics.nats_to_bits(v) for v in hist.val_losses],
        "train_seconds": hist.seconds,
        "seconds": time.perf_counter() - start,
    }
    out = args.out or utils.project_dir("results") / (
        "pixelcnn_large_no_es.json" if args.no_early_stopping else "pixelcnn_large.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"PixelCNN {CONFIG}, early stopping {result['early_stopping']}: "
          f"{hist.steps} steps in {hist.seconds:.0f} s (best step {hist.best_step}, "
          f"stopped early {hist.stopped_early}); test {bpd:.3f} bits/dim "
          f"(independent pixels {indep_bpd:.3f}, uniform {result['uniform_bpd']:.3f}); wrote {out}")
    return result


if __name__ == "__main__":
    main()
