#!/usr/bin/python3
"""dictlearn's recipes next to scikit-learn's, on issue 13's datasets, in one run.

    /usr/bin/python3 bench/recipes.py [--dictlearn BIN] [--extra-flags "FLAGS"] [--explicit-sae]
        [--datasets digits,face,synth] [--cases topk:64,topk:256,batchtopk:64,batchtopk:256]
        [--only all|dictlearn|sklearn] [--threads 2] [--work DIR] [--jsonl FILE]

For each dataset (bench/recipe_data.py makes them in DIR/data) and each
(encoder, atoms) case it runs

    dictlearn fit TRAIN -o M --encoder E --k 5 --atoms A --log L --threads 2 -q [FLAGS]
    dictlearn eval M TEST

naming only the encoder, k and the atoms: the defaults do the rest (the `sae`
preset, automatic for encoders other than softmax). For a binary without that
preset, --explicit-sae spells its settings out (recipe_data.planned_flags) and
--extra-flags adds any others. For each dataset and atom count it also fits
scikit-learn's MiniBatchDictionaryLearning (n_components=A, batch_size 256,
random_state 0, max_iter per dataset in SK_MAX_ITER, alpha from SK_ALPHAS: the
one whose lasso codes of 2,000 training rows have L0 nearest 5) and codes the
held-out rows by OMP with 5 nonzeros (sparse_encode, algorithm='omp').

Both sides use 2 threads: dictlearn --threads 2; scikit-learn through
OMP_NUM_THREADS / OPENBLAS_NUM_THREADS (set before numpy loads) and
threadpoolctl where present (its own n_jobs stays 1: a process per batch
costs more than it gives).

Prints a Markdown table: dataset, method, atoms, held-out FVU (sum of squared
residuals / sum of squares of (x - mean of the training rows)), L0, dead %
(dictlearn: the training log's last dead_fraction / held-out rows on which an
atom is never nonzero; scikit-learn: held-out only, of the OMP codes), and
seconds (dictlearn: fit's wall clock, reading and writing included;
scikit-learn: the chosen alpha's fit + the OMP coding of the held-out rows),
then the CPU model. Each result is also appended to --jsonl as one JSON line.
"""

import os

_THREADS = os.environ.get("RECIPES_THREADS", "2")
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, _THREADS)

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import recipe_data  # noqa: E402

# scikit-learn's side, stated: the alphas tried (lasso L0 of about 5 lies
# inside each list at 64-256 atoms), the passes over the data (digits stops
# earlier on scikit-learn's own no-improvement rule) and the training rows it
# sees: on synth only the first 20,000 (78 steps), since one pass of its
# lasso-LARS over all 90,000 takes 5-20 minutes per alpha here.
SK_ALPHAS = {"digits": (0.5, 0.6, 0.7), "face": (0.1, 0.115, 0.13), "synth": (0.4, 0.5, 0.7)}
SK_MAX_ITER = {"digits": 20, "face": 1, "synth": 1}
SK_TRAIN_ROWS = {"synth": 20000}
K = 5


def parse_eval(text):
    """Numbers of `dictlearn eval`'s report (labels as of 0903f34, or with a prefix)."""

    def number(label):
        m = re.search(rf"^\s*(?:[\w ]*?){label}\s+([-+0-9.eEinfa]+)", text, re.M | re.I)
        if not m:
            raise ValueError(f"eval printed no '{label}':\n{text}")
        return float(m.group(1))

    return {"mse": number("MSE"), "fvu_eval": number("FVU"), "l0": number("L0"),
            "dead_test": number("dead atoms")}


def last_log_row(log):
    with open(log, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("dead_fraction")]
    if not rows:
        raise ValueError(f"{log}: no rows with dead_fraction")
    return rows[-1]


def run_dictlearn(binary, train, test, model, log, flags, threads=2, spread=None, nice=False):
    """fit + eval; returns the measured numbers, FVU against the training mean when spread is given."""
    cmd = [binary, "fit", train, "-o", model, "--log", log, "-q", "--threads", str(threads)]
    cmd += flags
    if nice:
        cmd = ["nice", "-n", "10"] + cmd
    start = time.perf_counter()
    fit = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if fit.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({fit.returncode}):\n{fit.stderr}")
    ev = subprocess.run([binary, "eval", model, test], capture_output=True, text=True)
    if ev.returncode != 0:
        raise RuntimeError(f"eval {model} {test} failed:\n{ev.stderr}")
    result = parse_eval(ev.stdout)
    last = last_log_row(log)
    result["dead_log"] = 100.0 * float(last["dead_fraction"])
    result["train_fvu"] = float(last["fvu"]) if last.get("fvu") else None
    result["train_s"] = float(last["seconds"]) if last.get("seconds") else None
    result["fit_s"] = seconds
    if spread is not None:
        total, n, dim = spread
        result["fvu"] = result["mse"] * n * dim / total
    else:
        result["fvu"] = result["fvu_eval"]
    result["command"] = " ".join(shlex.quote(c) for c in cmd)
    return result


def limit_threads(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(n)


def run_sklearn(train, test, atoms, alphas, max_iter, spread, train_rows=None):
    from sklearn.decomposition import MiniBatchDictionaryLearning, sparse_encode

    Xtr = np.load(train).astype(np.float64)[:train_rows]
    Xte = np.load(test).astype(np.float64)
    total, _, _ = spread
    tried = []
    for alpha in alphas:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning of a capped max_iter
            m = MiniBatchDictionaryLearning(n_components=atoms, alpha=alpha, max_iter=max_iter,
                                            batch_size=256, random_state=0)
            m.fit(Xtr)
        fit_s = time.perf_counter() - start
        D = m.components_
        lasso = sparse_encode(Xtr[:2000], D, algorithm="lasso_lars", alpha=alpha)
        l0_lasso = float((lasso != 0).sum(1).mean())
        tried.append({"alpha": alpha, "l0_lasso": l0_lasso, "fit_s": fit_s, "D": D,
                      "n_iter": float(m.n_iter_), "steps": int(m.n_steps_)})
    best = min(tried, key=lambda t: abs(t["l0_lasso"] - K))
    start = time.perf_counter()
    C = sparse_encode(Xte, best["D"], algorithm="omp", n_nonzero_coefs=K)
    enc_s = time.perf_counter() - start
    R = Xte - C @ best["D"]
    fvu = float((R**2).sum() / total)
    return {
        "fvu": fvu,
        "fvu_eval": float((R**2).sum() / ((Xte - Xte.mean(0)) ** 2).sum()),
        "l0": float((C != 0).sum(1).mean()),
        "dead_log": None,
        "dead_test": 100.0 * float((~(C != 0).any(0)).mean()),
        "fit_s": best["fit_s"] + enc_s,
        "sk_fit_s": best["fit_s"],
        "sk_omp_s": enc_s,
        "alpha": best["alpha"],
        "l0_lasso": best["l0_lasso"],
        "n_iter": best["n_iter"],
        "steps": best["steps"],
        "tried": [{k: v for k, v in t.items() if k != "D"} for t in tried],
        "max_iter": max_iter,
        "train_rows": Xtr.shape[0],
    }


def fmt_dead(r):
    test = f"{r['dead_test']:.1f}"
    return test if r.get("dead_log") is None else f"{r['dead_log']:.1f} / {test}"


def table(results):
    lines = ["| dataset | method | atoms | held-out FVU | L0 | dead % (log / held-out) | seconds |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['dataset']} | {r['method']} | {r['atoms']} | {r['fvu']:.4f} | "
                     f"{r['l0']:.2f} | {fmt_dead(r)} | {r['fit_s']:.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dictlearn", default="dictlearn", help="the binary")
    parser.add_argument("--extra-flags", default="", help="more fit flags (one string)")
    parser.add_argument("--explicit-sae", action="store_true",
                        help="spell out the planned sae preset (binaries without --preset)")
    parser.add_argument("--datasets", default="digits,face,synth")
    parser.add_argument("--cases", default="topk:64,topk:256,batchtopk:64,batchtopk:256")
    parser.add_argument("--only", choices=("all", "dictlearn", "sklearn"), default="all")
    parser.add_argument("--threads", type=int, default=int(_THREADS))
    parser.add_argument("--work", default="/tmp/dictlearn-recipes")
    parser.add_argument("--jsonl", default=None, help="append results here (default WORK/recipes.jsonl)")
    args = parser.parse_args()
    if args.threads != int(_THREADS):
        sys.exit("--threads: set RECIPES_THREADS in the environment instead (numpy reads it at import)")

    cases = []
    for item in args.cases.split(","):
        encoder, atoms = item.split(":")
        cases.append((encoder, int(atoms)))
    names = [n for n in args.datasets.split(",") if n]
    data = recipe_data.ensure(os.path.join(args.work, "data"), names)
    runs = os.path.join(args.work, "runs")
    os.makedirs(runs, exist_ok=True)
    jsonl = args.jsonl or os.path.join(args.work, "recipes.jsonl")
    limiter = limit_threads(args.threads)
    threads_note = (f"dictlearn --threads {args.threads}; scikit-learn: OMP/OPENBLAS_NUM_THREADS="
                    f"{os.environ['OPENBLAS_NUM_THREADS']}"
                    + (f", threadpoolctl limit {args.threads}" if limiter else ", no threadpoolctl"))

    results = []
    for name in names:
        train, test = data[name]
        spread = recipe_data.held_out_spread(train, test)
        n_train = recipe_data.rows(train)
        todo = []
        if args.only in ("all", "dictlearn"):
            todo += [("dictlearn", e, a) for e, a in cases]
        if args.only in ("all", "sklearn"):
            todo += [("sklearn", None, a) for a in sorted({a for _, a in cases})]
        for method, encoder, atoms in todo:
            if method == "dictlearn":
                tag = f"{name}_{encoder}_{atoms}"
                flags = ["--encoder", encoder, "--k", str(K), "--atoms", str(atoms)]
                if args.explicit_sae:
                    flags += recipe_data.planned_flags(n_train, atoms)
                flags += shlex.split(args.extra_flags)
                r = run_dictlearn(args.dictlearn, train, test, os.path.join(runs, tag + ".safetensors"),
                                  os.path.join(runs, tag + ".csv"), flags, args.threads, spread)
                r["method"] = f"dictlearn {encoder} k={K}"
            else:
                r = run_sklearn(train, test, atoms, SK_ALPHAS[name], SK_MAX_ITER[name], spread,
                                SK_TRAIN_ROWS.get(name))
                r["method"] = f"sklearn MBDL alpha={r['alpha']:g} + OMP-{K}"
            r.update(dataset=name, atoms=atoms, cpu=recipe_data.cpu_model(), threads=threads_note,
                     when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            results.append(r)
            with open(jsonl, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"{name} {r['method']} {atoms}: FVU {r['fvu']:.4f}, L0 {r['l0']:.2f}, "
                  f"dead {fmt_dead(r)}%, {r['fit_s']:.1f} s", file=sys.stderr, flush=True)

    print(table(results))
    print()
    print(f"CPU: {recipe_data.cpu_model()} ({os.cpu_count()} logical cores); threads: {threads_note}.")
    print("FVU: held-out sum of squared residuals / sum of squares of (x - mean of the training rows).")
    sk = {n: f"alpha from {list(SK_ALPHAS[n])}, max_iter {SK_MAX_ITER[n]}"
          + (f", first {SK_TRAIN_ROWS[n]} training rows" if n in SK_TRAIN_ROWS else "")
          for n in names}
    if args.only != "dictlearn":
        print(f"scikit-learn 1.2 MiniBatchDictionaryLearning (batch 256, random_state 0): {sk}; "
              "seconds = the chosen alpha's fit + OMP coding of the held-out rows.")


if __name__ == "__main__":
    main()
