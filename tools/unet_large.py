"""Train the class-conditional digit U-Net of *Diffusion on images* at its large budget, on the CPU.

The chapter trains its U-Net for 1,200 steps by default and 12,000 with ``UNIGEN_SCALE=large``,
on 1,437 training digits. Does the longer run memorise them, and does early stopping protect it?
This script trains the chapter's network with the chapter's settings for ``--steps`` steps, with
early stopping on the validation split as in the chapter (``--no-early-stopping``: all steps, last
weights), and scores the kept EMA weights on the test digits two ways:

- the test diffusion loss (the ε-MSE), averaged over ``--loss-draws`` fixed draws of times and
  noise, the same draws for every run, so runs differ only by their weights;
- the FD ratio of 500 unconditional samples (50 DDIM steps), as the chapter computes it.

It writes ``results/unet_large[_no_es|_<steps>].json``.

    OMP_NUM_THREADS=1 python tools/unet_large.py [--steps 12000] [--no-early-stopping]

The settings below copy the chapter's; keep them in step with
``book/03_diffusion/image_diffusion.ipynb``.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from unigen import ddpm, metrics, schedules, train, utils
from unigen.data import digits
from unigen.nn import digit_classifier, unet

STEPS, BATCH_SIZE, LR, EMA = 12_000, 128, 2e-3, 0.995
EVAL_EVERY, PATIENCE, N_CLASSES = 500, 5, 10


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-early-stopping", action="store_true",
                        help="train all steps and keep the last weights")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--loss-draws", type=int, default=8)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    gen = utils.seed_everything(0)
    grid = schedules.ddpm_cosine(1000)
    x_train, y_train = digits.load("train")
    x_val, y_val = digits.load("val")
    x_test, y_test = digits.load("test")

    def loss_fn(model, batch, generator=gen):
        x, y = batch
        return ddpm.ddpm_loss(model, x, grid, y=y, p_uncond=0.1, null_label=N_CLASSES,
                              generator=generator)

    utils.seed_everything(1)
    early = {} if args.no_early_stopping else dict(
        val_data=(x_val, y_val), eval_every=EVAL_EVERY, patience=PATIENCE)
    hist = train.train(unet.UNet(channels=16, n_classes=N_CLASSES), loss_fn, (x_train, y_train),
                       steps=args.steps, batch_size=BATCH_SIZE, lr=LR, ema_decay=EMA, generator=gen,
                       desc="U-Net", **early)
    net = hist.ema
    with torch.no_grad():
        def split_loss(x, y):
            return sum(float(loss_fn(net, (x, y), torch.Generator().manual_seed(100 + k)))
                       for k in range(args.loss_draws)) / args.loss_draws
        test_loss, train_loss = split_loss(x_test, y_test), split_loss(x_train, y_train)
    samples = ddpm.ddim_sample(net, (500, 1, 8, 8), grid, steps=50, clip_x0=1.0,
                               generator=torch.Generator().manual_seed(7)).x
    fd = metrics.fd_ratio(samples, x_test, x_train, torch.Generator().manual_seed(8),
                          classifier=digit_classifier())
    result = {
        "early_stopping": not args.no_early_stopping, "steps_budget": args.steps,
        "steps_run": hist.steps, "best_step": hist.best_step, "stopped_early": hist.stopped_early,
        "val_steps": hist.val_steps, "val_losses": hist.val_losses,
        "test_loss": test_loss, "train_loss": train_loss, "fd_ratio": fd,
        "train_seconds": hist.seconds, "seconds": time.perf_counter() - start,
    }
    suffix = ("_no_es" if args.no_early_stopping else "") + (
        "" if args.steps == STEPS else f"_{args.steps}")
    out = args.out or utils.project_dir("results") / f"unet_large{suffix}.json"
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"U-Net, {hist.steps} of {args.steps} steps in {hist.seconds:.0f} s (kept step "
          f"{hist.best_step}, stopped early {hist.stopped_early}): test loss {test_loss:.4f}, "
          f"train loss {train_loss:.4f}, FD ratio {fd:.3f}")
    return result


if __name__ == "__main__":
    main()
