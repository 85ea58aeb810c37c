#!/usr/bin/python3
"""Times the seed's PyTorch training loop in-process.

    /usr/bin/python3 bench/seed_pytorch.py [--data X.npy] [--epochs 10000]
        [--lr 1e-3] [--atoms 2] [--threads 2] [--repeat 1] [--seed 0]

The loop is the seed's (shared/seed/very-simple-dictionary-learning-in-pytorch.md):
DictionaryLearning(dim, atoms), Adam(lr) with defaults, full batch,
model(data) / loss / zero_grad / backward / step for every epoch.  Only the
loop is timed (model and optimizer construction included, data generation and
imports excluded).  Without --data the seed's toy data (2000 x 2, float32) is
generated with numpy.random.seed(--seed).  With --repeat R the loop is run R
times from the same initial parameters and the median time is reported.

Prints one JSON line:
  {"seconds": ..., "epochs": ..., "final_loss": ..., "torch": "...", "threads": n, ...}
where final_loss is loss.item() of the last epoch (computed before its update).
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))

import torch  # noqa: E402

import seed_module as sm  # noqa: E402


def run_once(data, dim, atoms, lr, epochs, torch_seed):
    torch.manual_seed(torch_seed)
    t0 = time.perf_counter()
    model = sm.DictionaryLearning(dim, atoms)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for e in range(epochs):
        attributions = model(data)
        loss = model.loss(data, attributions)

        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - t0
    return seconds, loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="float32/float64 .npy of shape N x dim (default: the seed's data)")
    ap.add_argument("--epochs", type=int, default=10000)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--atoms", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="numpy seed for generated data and torch seed")
    args = ap.parse_args()
    if args.epochs < 1 or args.repeat < 1 or args.atoms < 1 or args.threads < 1:
        ap.error("--epochs, --repeat, --atoms and --threads must be >= 1")

    torch.set_num_threads(args.threads)
    if args.data:
        x = np.load(args.data)
        if x.ndim != 2:
            ap.error("%s: expected a 2-D array, got shape %s" % (args.data, x.shape))
        x = np.ascontiguousarray(x, dtype=np.float32)
    else:
        x = sm.seed_data(numpy_seed=args.seed)
    data = torch.from_numpy(x)

    times = []
    final_loss = None
    for _ in range(args.repeat):
        seconds, final_loss = run_once(data, x.shape[1], args.atoms, args.lr, args.epochs, args.seed)
        times.append(seconds)

    print(json.dumps({
        "seconds": statistics.median(times),
        "epochs": args.epochs,
        "final_loss": final_loss,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "repeat": args.repeat,
        "all_seconds": times,
        "n": int(x.shape[0]),
        "dim": int(x.shape[1]),
        "atoms": args.atoms,
        "lr": args.lr,
    }))


if __name__ == "__main__":
    main()
