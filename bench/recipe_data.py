#!/usr/bin/python3
"""Issue 13's datasets, made deterministically and offline, and the planned `sae` preset.

    /usr/bin/python3 bench/recipe_data.py OUT_DIR [--datasets digits,face,synth]

Writes OUT_DIR/{name}_train.npy and OUT_DIR/{name}_test.npy (float32, one
sample per row) for each dataset, skipping files that exist:

- digits: scikit-learn's load_digits (1,797 x 64) / 16, so in [0, 1]; held
  out: a seeded 20% (numpy default_rng(0).permutation, the first 359 rows of
  it), train: the other 1,438 rows.
- face: 8x8 patches of scipy.misc.face(gray=True) / 255 (768 x 1024; Debian's
  scipy 1.10 ships it, with a deprecation warning; never scipy.datasets, which
  downloads). 60,000 patches at corners drawn by default_rng(0) (rows, then
  columns), each patch's own mean removed; train: the first 50,000, held out:
  the last 10,000.
- synth (activation-like): 100,000 x 128. 1,024 ground-truth directions,
  unit-norm Gaussian; feature i fires independently with probability
  p_i = 4 / H * (i+1)^-1 (H = sum of (i+1)^-1: a power law, 4 active per
  sample on average, the rarest about 50 times in 100,000), with magnitude
  Exp(1); each sample = sum of magnitude x direction + a fixed offset of norm
  1 (activations have a mean) + N(0, 0.03^2) noise per coordinate (about 1%
  of the variance). All from default_rng(1); train: the first 90,000, held
  out: the last 10,000.

The `sae` preset's formulas (the coordinator's src/core/presets.cpp) are here
too, so that the grid and the recipes spell out the same settings for a
binary that has no `--preset` yet.
"""

import argparse
import math
import os
import sys
import warnings

import numpy as np

DATASETS = ("digits", "face", "synth")


def make_digits():
    from sklearn.datasets import load_digits

    X = load_digits().data.astype(np.float64) / 16
    perm = np.random.default_rng(0).permutation(len(X))
    n_test = int(round(0.2 * len(X)))
    return X[perm[n_test:]], X[perm[:n_test]]


def make_face():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy.misc.face is deprecated, not gone, in 1.10
        import scipy.misc

        img = scipy.misc.face(gray=True).astype(np.float64) / 255
    rng = np.random.default_rng(0)
    h, w = img.shape
    rows = rng.integers(0, h - 8 + 1, 60000)
    cols = rng.integers(0, w - 8 + 1, 60000)
    P = np.stack([img[i : i + 8, j : j + 8].ravel() for i, j in zip(rows, cols)])
    P -= P.mean(1, keepdims=True)
    return P[:50000], P[50000:]


def make_synth(n=100000, dim=128, features=1024, mean_active=4.0, noise=0.03):
    rng = np.random.default_rng(1)
    D = rng.standard_normal((features, dim))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, features + 1)
    p = mean_active * weights / weights.sum()
    offset = rng.standard_normal(dim)
    offset /= np.linalg.norm(offset)
    X = np.empty((n, dim))
    block = 10000  # a dense n x features draw would take 800 MB
    for start in range(0, n, block):
        m = min(block, n - start)
        fires = rng.random((m, features)) < p
        codes = np.where(fires, rng.exponential(1.0, (m, features)), 0.0)
        X[start : start + m] = codes @ D + offset + noise * rng.standard_normal((m, dim))
    n_test = n // 10
    return X[: n - n_test], X[n - n_test :]


MAKERS = {"digits": make_digits, "face": make_face, "synth": make_synth}


def paths(out_dir, name):
    return (os.path.join(out_dir, f"{name}_train.npy"), os.path.join(out_dir, f"{name}_test.npy"))


def ensure(out_dir, names=DATASETS):
    """Writes the datasets not yet in out_dir; returns {name: (train path, test path)}."""
    os.makedirs(out_dir, exist_ok=True)
    result = {}
    for name in names:
        train, test = paths(out_dir, name)
        if not (os.path.exists(train) and os.path.exists(test)):
            Xtr, Xte = MAKERS[name]()
            np.save(train, Xtr.astype(np.float32))
            np.save(test, Xte.astype(np.float32))
        result[name] = (train, test)
    return result


def held_out_spread(train, test):
    """Sum of squares of (test - mean of train): the FVU's denominator here."""
    Xtr = np.load(train).astype(np.float64)
    Xte = np.load(test).astype(np.float64)
    return float(((Xte - Xtr.mean(0)) ** 2).sum()), Xte.shape[0], Xte.shape[1]


# The planned `sae` preset (src/core/presets.cpp): about 6,000 Adam steps at
# batch 256, sparsify's learning rate for the atom count, AuxK 1/8, a sample
# budget of one epoch (at most 65,536) before an atom counts as dead.
SAE_STEPS = 6000
SAE_BATCH = 256


def batches_per_epoch(n_train, batch):
    return 1 if batch <= 0 or batch >= n_train else math.ceil(n_train / batch)


def planned_epochs(n_train, batch=SAE_BATCH):
    """The sae preset's epochs: at least SAE_STEPS steps; up to 64 passes within 20,000 steps."""
    per_epoch = batches_per_epoch(n_train, batch)
    return max(1, math.ceil(SAE_STEPS / per_epoch), min(64, 20000 // per_epoch))


def planned_lr(atoms):
    return min(1e-2, 2e-4 / math.sqrt(atoms / 16384.0))


def planned_flags(n_train, atoms):
    """The sae preset's settings as explicit flags, for a binary without --preset."""
    return [
        "--batch-size", str(SAE_BATCH),
        "--epochs", str(planned_epochs(n_train)),
        "--lr", f"{planned_lr(atoms):g}",
        "--lr-decay", "0.2",
        "--init-dict", "uniform",
        "--unit-atoms",
        "--tied",
        "--decoder-bias", "mean",
        "--auxk", "0.125",
        "--dead-after", str(min(n_train, 65536)),
    ]


def rows(path):
    """Rows of an .npy file, from its header only."""
    return int(np.load(path, mmap_mode="r").shape[0])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    names = [n for n in args.datasets.split(",") if n]
    for n in names:
        if n not in MAKERS:
            sys.exit(f"--datasets: unknown dataset '{n}' (have {', '.join(DATASETS)})")
    for name, (train, test) in ensure(args.out_dir, names).items():
        print(f"{name}: {train} {np.load(train, mmap_mode='r').shape}, "
              f"{test} {np.load(test, mmap_mode='r').shape}")


if __name__ == "__main__":
    main()
