#!/usr/bin/python3
"""The PyTorch side of bench/compare.py: one training run, or the machine's
GEMM rate, in a fresh process; prints one JSON line on stdout.

    /usr/bin/python3 bench/torch_side.py train --data X.npy --atoms K --epochs E
        [--lr 1e-3] [--batch-size B] [--encoder softmax|topk] [--k K]
        [--threads 2] [--seed 0] [--init INIT.safetensors]
    /usr/bin/python3 bench/torch_side.py gemm [--threads 2] [--repeat 10]
    /usr/bin/python3 bench/torch_side.py probe

train: the seed's model (tests/python/seed_module.py DictionaryLearning:
Linear + softmax over atoms, a dictionary parameter, MSELoss; float64 data
makes a float64 model) or, with --encoder topk, the usual dense top-k
autoencoder (z = Linear(x); torch.topk; ReLU of the kept values; scatter into a
dense zero code matrix; codes @ dictionary; MSELoss), trained with
torch.optim.Adam(lr) and default betas.  A batch size below N draws a new
shuffled order every epoch from torch.Generator seeded with --seed (the last
batch may be smaller, as DataLoader(drop_last=False)); otherwise the whole
data is one batch, exactly the seed's loop.  Only the loop is timed: model and
optimizer construction included, imports and data loading excluded.
final_loss is the mean of the last epoch's batch losses (each computed before
its update), the quantity `dictlearn fit --log` writes in its last row.

gemm: torch.mm of a 4096x512 by a 512x4096 matrix (2*4096*512*4096 flops),
float32 and float64, after warm-up; the median rate over --repeat products.

probe: torch's version and the kernel set OpenBLAS chose (OPENBLAS_CORETYPE
overrides it; OpenBLAS 0.3.21 does not know some recent Xeons and falls back
to 'Prescott', SSE3 kernels at a fifth of the AVX-512 rate).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import torch  # noqa: E402

import seed_module as sm  # noqa: E402


def openblas_core():
    """The kernel set OpenBLAS picked (e.g. 'SkylakeX'), or None without OpenBLAS."""
    import ctypes
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "openblas" in line and ".so" in line})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return None


def peak_rss_mib():
    """This process's peak resident memory.  VmHWM, not ru_maxrss: ru_maxrss also
    counts the parent's memory at the fork that started this process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class TopKDictionary(torch.nn.Module):
    """The dense way to write a top-k sparse autoencoder in PyTorch.

    Parameter names match the seed module's state_dict keys (dictionary,
    attributor.0.weight, attributor.0.bias) so the same initial-parameter file
    serves both.
    """

    def __init__(self, dim, n_atoms, k, dtype):
        super().__init__()
        self.k = k
        self.dictionary = torch.nn.Parameter(torch.rand((n_atoms, dim), dtype=dtype))
        self.attributor = torch.nn.Sequential(torch.nn.Linear(dim, n_atoms, dtype=dtype))

    def forward(self, x):
        z = self.attributor(x)
        values, indices = torch.topk(z, self.k, dim=1)
        codes = torch.zeros_like(z)
        return codes.scatter(1, indices, torch.relu(values))

    def loss(self, x, codes):
        return torch.nn.MSELoss()(x, torch.matmul(codes, self.dictionary))


def build_model(args, dim, dtype):
    if args.encoder == "softmax":
        model = sm.DictionaryLearning(dim, args.atoms)
        if dtype == torch.float64:
            model = model.double()
    elif args.encoder == "topk":
        model = TopKDictionary(dim, args.atoms, args.k, dtype)
    else:
        raise SystemExit("torch_side.py: unknown encoder %r" % args.encoder)
    if args.init_state is not None:
        model.load_state_dict(args.init_state)
    return model


def train(args):
    torch.set_num_threads(args.threads)
    x = np.load(args.data)
    if x.ndim != 2 or x.dtype not in (np.float32, np.float64):
        raise SystemExit("%s: expected a 2-D float32/float64 array, got %s %s"
                         % (args.data, x.dtype, x.shape))
    data = torch.from_numpy(np.ascontiguousarray(x))
    n, dim = x.shape
    dtype = data.dtype
    args.init_state = None
    if args.init:
        tensors, _ = sm.read_safetensors(args.init)
        args.init_state = {name: torch.from_numpy(np.ascontiguousarray(t, dtype=x.dtype))
                           for name, t in tensors.items()}
    batch = args.batch_size if 0 < args.batch_size < n else n
    rss_before = peak_rss_mib()

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    model = build_model(args, dim, dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    last_losses = []
    steps = 0
    for epoch in range(args.epochs):
        last = epoch == args.epochs - 1
        order = None if batch == n else torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            xb = data if order is None else data[order[start:start + batch]]
            codes = model(xb)
            loss = model.loss(xb, codes)

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps += 1
            if last:
                last_losses.append(loss.item())
    seconds = time.perf_counter() - t0

    print(json.dumps({
        "seconds": seconds,
        "final_loss": sum(last_losses) / len(last_losses),
        "steps": steps,
        "batch": batch,
        "n": int(n),
        "dim": int(dim),
        "dtype": str(x.dtype),
        "peak_rss_before_loop_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "openblas_core": openblas_core(),
    }))


def gemm(args):
    torch.set_num_threads(args.threads)
    m, k, n = 4096, 512, 4096
    flops = 2.0 * m * k * n
    result = {"shape": [m, k, n], "threads": torch.get_num_threads(), "torch": torch.__version__,
              "openblas_core": openblas_core()}
    generator = torch.Generator().manual_seed(0)
    kinds = [("sgemm", torch.float32), ("dgemm", torch.float64)]
    if args.only:
        kinds = [kind for kind in kinds if kind[0] == args.only]
    for name, dtype in kinds:
        a = torch.rand((m, k), generator=generator, dtype=dtype)
        b = torch.rand((k, n), generator=generator, dtype=dtype)
        c = torch.empty((m, n), dtype=dtype)
        for _ in range(3):
            torch.mm(a, b, out=c)
        rates = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            rates.append(flops / (time.perf_counter() - t0) / 1e9)
        result[name + "_gflops"] = statistics.median(rates)
        result[name + "_gflops_best"] = max(rates)
    print(json.dumps(result))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--atoms", type=int, required=True)
    t.add_argument("--epochs", type=int, required=True)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--batch-size", type=int, default=0, help="0 or >= N: full batch")
    t.add_argument("--encoder", choices=("softmax", "topk"), default="softmax")
    t.add_argument("--k", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--init", help="initial parameters (safetensors, the seed's state_dict keys)")
    g = sub.add_parser("gemm")
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--repeat", type=int, default=10)
    g.add_argument("--only", choices=("sgemm", "dgemm"), help="measure one of the two")
    sub.add_parser("probe", help="print the torch version and OpenBLAS's kernel set")
    args = ap.parse_args()
    if args.mode == "train":
        if args.encoder == "topk" and not 1 <= args.k <= args.atoms:
            ap.error("--k must be in [1, --atoms] for topk")
        train(args)
    elif args.mode == "gemm":
        gemm(args)
    else:
        torch.mm(torch.ones(2, 2), torch.ones(2, 2))  # make sure BLAS is loaded
        print(json.dumps({"torch": torch.__version__, "openblas_core": openblas_core()}))


if __name__ == "__main__":
    main()
