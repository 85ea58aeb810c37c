#!/usr/bin/python3
"""Issue 13's grid: where the planned `sae` defaults stand against the best grid point.

    /usr/bin/python3 bench/defaults_grid.py [--dictlearn BIN] [--work DIR] [--jobs 2]
        [--datasets digits,face] [--cases topk:64,topk:256,batchtopk:64,batchtopk:256]
        [--report-only]

For each dataset and (encoder, atoms) case, with k = 5, it trains the grid
lr {1e-3, 3e-3, 1e-2} x batch {256, 1024} x dead-atom handling on/off
(on: the sae preset's --auxk 0.125 --auxk-k 5 --resample-every steps/12
--resample-scale 1; off: --auxk 0 --resample-every 0) x init data/uniform
(--init-dict), 24 points, plus the default run (only --encoder, --k and
--atoms named: the binary's sae preset), all at the default run's epochs (about 6,000 steps at
batch 256: recipe_data.planned_epochs; batch 1024 thus takes a quarter of the
steps) and with the preset's other settings explicit: --unit-atoms --tied
--decoder-bias mean --lr-decay 0.2 --dead-after min(N, 65536). Each run is
`nice`, --threads 1, at most --jobs at once, evaluated by `dictlearn eval` on
the held-out rows.

Results go to DIR/grid.jsonl, one JSON line per run, appended as runs
finish; a rerun skips the points already there (runs are deterministic), so
the script can be stopped and restarted. Then it prints per case the best
point (held-out FVU, against the training mean), the default's FVU, the ratio
default / best, and dead % (the training log's last dead_fraction / held-out
rows on which an atom is never nonzero), and a line per case flagging
"dead > 2%" and "FVU more than 10% above the best".
"""

import argparse
import concurrent.futures
import itertools
import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import recipe_data  # noqa: E402
import recipes  # noqa: E402

LRS = (1e-3, 3e-3, 1e-2)
BATCHES = (256, 1024)
AUXKS = (0.125, 0.0)
INITS = ("data", "uniform")


def points(atoms):
    grid = [{"lr": lr, "batch": b, "auxk": ax, "init": init, "default": False}
            for lr, b, ax, init in itertools.product(LRS, BATCHES, AUXKS, INITS)]
    grid.append({"lr": float(f"{recipe_data.planned_lr(atoms):g}"), "batch": 256, "auxk": 0.125,
                 "init": "uniform", "default": True})
    return grid


def key(r):
    return (r["dataset"], r["encoder"], r["atoms"], r["lr"], r["batch"], r["auxk"], r["init"],
            r["epochs"], r["default"])


def flags(p, encoder, atoms, epochs, n_train):
    named = ["--encoder", encoder, "--k", str(recipes.K), "--atoms", str(atoms)]
    if p["default"]:
        # The default point is the binary's own defaults: the sae preset (auto
        # for these encoders) fills everything else.
        return named
    # Dead-atom handling on is the sae preset's: AuxK with k dead atoms, and
    # resampling 1/12 of the steps apart (first half) at scale 1; off is neither.
    steps = epochs * recipe_data.batches_per_epoch(n_train, p["batch"])
    handling = (["--auxk", f"{p['auxk']:g}", "--auxk-k", str(recipes.K),
                 "--resample-every", str(max(1, steps // 12)), "--resample-scale", "1"]
                if p["auxk"] > 0 else ["--auxk", "0", "--resample-every", "0"])
    return named + ["--epochs", str(epochs), "--batch-size", str(p["batch"]),
                    "--lr", f"{p['lr']:g}", "--init-dict", p["init"], "--unit-atoms", "--tied",
                    "--decoder-bias", "mean", "--lr-decay", "0.2",
                    "--dead-after", str(min(n_train, 65536))] + handling


def load(jsonl):
    done = {}
    if os.path.exists(jsonl):
        with open(jsonl) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    done[key(r)] = r
    return done


def report(results, cases, names):
    lines = ["| dataset | encoder | atoms | best point (lr, batch, auxk, init) | best FVU | default FVU "
             "| default / best | default dead % (log / held-out) | best dead % | grid runs |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    misses = []
    for name in names:
        for encoder, atoms in cases:
            rs = [r for r in results if r["dataset"] == name and r["encoder"] == encoder
                  and r["atoms"] == atoms]
            grid = [r for r in rs if not r["default"]]
            default = [r for r in rs if r["default"]]
            if not grid or not default:
                lines.append(f"| {name} | {encoder} | {atoms} | (incomplete: {len(grid)} grid runs) "
                             "| | | | | | |")
                continue
            best = min(grid, key=lambda r: r["fvu"])
            d = default[0]
            ratio = d["fvu"] / best["fvu"]
            where = f"{best['lr']:g}, {best['batch']}, {best['auxk']:g}, {best['init']}"
            lines.append(f"| {name} | {encoder} | {atoms} | {where} | {best['fvu']:.4f} | "
                         f"{d['fvu']:.4f} (lr {d['lr']:g}) | {ratio:.3f} | "
                         f"{d['dead_log']:.1f} / {d['dead_test']:.1f} | "
                         f"{best['dead_log']:.1f} / {best['dead_test']:.1f} | {len(grid)} |")
            why = []
            if max(d["dead_log"], d["dead_test"]) > 2:
                why.append(f"dead {d['dead_log']:.1f}% (log) / {d['dead_test']:.1f}% (held-out) > 2%")
            if ratio > 1.10:
                why.append(f"FVU {100 * (ratio - 1):.0f}% above the best")
            if why:
                misses.append(f"- {name} {encoder} {atoms}: " + "; ".join(why))
    return "\n".join(lines), misses


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dictlearn", default="dictlearn")
    parser.add_argument("--work", default="/tmp/dictlearn-grid")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--datasets", default="digits,face")
    parser.add_argument("--cases", default="topk:64,topk:256,batchtopk:64,batchtopk:256")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--keep-models", action="store_true")
    args = parser.parse_args()

    cases = [(e, int(a)) for e, a in (c.split(":") for c in args.cases.split(","))]
    names = [n for n in args.datasets.split(",") if n]
    data = recipe_data.ensure(os.path.join(args.work, "data"), names)
    runs = os.path.join(args.work, "runs")
    os.makedirs(runs, exist_ok=True)
    jsonl = os.path.join(args.work, "grid.jsonl")
    done = load(jsonl)
    lock = threading.Lock()

    todo = []
    for name in names:
        train, test = data[name]
        n_train = recipe_data.rows(train)
        epochs = recipe_data.planned_epochs(n_train)
        spread = recipe_data.held_out_spread(train, test)
        for encoder, atoms in cases:
            for p in points(atoms):
                r = dict(p, dataset=name, encoder=encoder, atoms=atoms, epochs=epochs)
                if key(r) not in done:
                    todo.append((r, train, test, spread, n_train))

    def one(job):
        r, train, test, spread, n_train = job
        tag = (f"{r['dataset']}_{r['encoder']}_{r['atoms']}_lr{r['lr']:g}_b{r['batch']}"
               f"_ax{r['auxk']:g}_{r['init']}" + ("_default" if r["default"] else ""))
        model = os.path.join(runs, tag + ".safetensors")
        out = recipes.run_dictlearn(args.dictlearn, train, test, model, os.path.join(runs, tag + ".csv"),
                                    flags(r, r["encoder"], r["atoms"], r["epochs"], n_train),
                                    threads=1, spread=spread, nice=True)
        if not args.keep_models:
            os.remove(model)
        r = dict(r, **out, when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        with lock:
            with open(jsonl, "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"{tag}: FVU {r['fvu']:.4f}, dead {r['dead_log']:.1f}/{r['dead_test']:.1f}%, "
                  f"{r['fit_s']:.1f} s", file=sys.stderr, flush=True)
        return r

    if not args.report_only and todo:
        print(f"{len(todo)} runs to do ({len(done)} done), {args.jobs} at once", file=sys.stderr)
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for future in concurrent.futures.as_completed([pool.submit(one, j) for j in todo]):
                future.result()

    results = list(load(jsonl).values())
    text, misses = report(results, cases, names)
    print(text)
    print()
    epochs = {n: recipe_data.planned_epochs(recipe_data.rows(data[n][0])) for n in names}
    print(f"Epochs (default run's): {epochs}; k = {recipes.K}; --threads 1, {args.jobs} runs at once.")
    print(f"CPU: {recipe_data.cpu_model()} ({os.cpu_count()} logical cores).")
    print("Misses (dead > 2% or FVU > 1.10 x best):")
    print("\n".join(misses) if misses else "- none")


if __name__ == "__main__":
    main()
