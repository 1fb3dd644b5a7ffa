"""Train the checkpoints that ship in src/unigen/weights/ (see unigen.pretrained).

    python tools/train_weights.py                  # every recipe
    python tools/train_weights.py ddim_digits_unet # one of them

Runs on the CPU in a couple of minutes per recipe; the result is deterministic for a given torch version.
"""
import argparse

import torch

from unigen import pretrained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"recipes to train, from {list(pretrained.all_recipes())} (default: all)")
    names = parser.parse_args().names or list(pretrained.all_recipes())
    torch.set_num_threads(1)            # bit-for-bit the same run on any machine with this torch
    for name in names:
        model, hist = pretrained.train_recipe(name)
        file = pretrained.save(name, model, hist.seconds)
        kept = f", weights of step {hist.best_step} kept" if hist.best_step else ""
        print(f"{name}: {hist.steps} steps in {hist.seconds:.0f} s{kept} -> {file}")


if __name__ == "__main__":
    main()
