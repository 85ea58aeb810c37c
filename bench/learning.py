#!/usr/bin/python3
"""Issue 15's learning benchmark: dictlearn, SPAMS trainDL and scikit-learn side by side.

    PYTHONPATH=/work/scratch/spams /usr/bin/python3 bench/learning.py \\
        --dictlearn BUILD/dictlearn --work /tmp/learning --out /tmp/learning/result.md
    # a smoke run: one seed, a few steps
    ... --quick

Workloads (float64, 2 threads; the same data, the same initial dictionary
D0 and the same number of steps on every side):

- L-a (scikit-learn's denoising example, gallery-like): face[::4, ::4] of
  scipy.misc.face(gray=True) / 255 (192 x 256), its left 128 columns, all
  7x7 patches in raster order (extract_patches_2d, each flattened row by
  row: 186 x 122 = 22,692), then each of the 49 features centred and divided
  by its standard deviation. 50 atoms, alpha = 1, batch 200, 1,140 steps
  (ten passes of 114 batches, the last of each 92 signals).
- L-b: issue 9's 100,000 unit-norm 8x8 patches (face_patches.py's X). 256
  atoms, alpha = 0.15, batch 256, 391 steps (one pass, the last batch 160).

D0 (per seed s): rows of X in the order of numpy's default_rng(s).permutation,
skipping rows of norm < 1e-12 and rows equal to an earlier pick, until there
are K; each scaled to unit norm. Seeds s, s+1, s+2 (--seed, --seeds).

The sides, each run in its own process (a fresh interpreter or the CLI,
started by a small launcher so that wait4's max RSS is the tool's own), with
thread settings of its own:

- SPAMS: spams.trainDL(X.T Fortran, D=D0.T, iter=STEPS, batchsize=B,
  lambda1=alpha, mode=2, numThreads=2, verbose=False, return_model=True)
  (its other defaults: lambda2 = 1e-9, t0 = 1e-5, modeParam 0, clean=True:
  unused atoms replaced by random signals). `iter` counts mini-batches of
  `batchsize` signals; its model's 'iter' is checked equal to STEPS. Its
  batches are not in file order: trainDL draws them from a permutation of
  the signals (srandom(0)), whatever the data. OpenBLAS pinned to 1 thread
  (OPENBLAS_NUM_THREADS=1; its OpenMP loop over the signals takes the 2
  threads, as in coding.py, where a threaded BLAS inside that loop ran 25-36x
  slower); --spams-blas-threads changes it. Debian's OpenBLAS 0.3.21 does not
  know every CPU and falls back to SSE3 "Prescott" kernels (reported): an
  informative row runs SPAMS with OPENBLAS_CORETYPE=SkylakeX (AVX-512) or
  Haswell (--tuned-coretype; --sklearn-tuned adds such scikit-learn rows).
- scikit-learn 1.2: MiniBatchDictionaryLearning(n_components=K, alpha=alpha,
  batch_size=B, n_iter=STEPS, tol=0, max_no_improvement=None, dict_init=D0,
  shuffle=False, fit_algorithm=lars|cd, n_jobs=1|2, random_state=s).fit(X)
  (1.2's n_iter is the number of mini-batch steps, batches in file order
  cycling over the data; its max_iter would count passes), n_steps_ checked
  equal to STEPS; OpenBLAS pinned to 2 threads (OPENBLAS_NUM_THREADS=2). The
  four variants by default, the best one compared (--sklearn-variants).
- dictlearn: `dictlearn fit X.npy --method online ...` with D0, each
  schedule in the order of the tool it follows: --forgetting capped (the
  default: SPAMS's weighting with its horizon capped at --memory samples,
  5,000 by default for these atoms) and --forgetting spams (trainDL's own)
  with their batches from a permutation of the signals (seeded by --seed s, a
  new one each pass; trainDL cycles through one), --forgetting sklearn in
  file order (--no-shuffle, as scikit-learn's shuffle=False), --max-steps
  STEPS, --threads 2, --dtype float64 (the flags are in DICTLEARN_FLAGS
  below), for each --forgetting (capped, spams, sklearn) and
  --coder (lasso-lars; lasso-cd on request); timed as the whole process and,
  from its --log CSV's last `seconds`, the training alone. Skipped with a
  message when `dictlearn fit --help` has no --method.

The fit time of SPAMS and scikit-learn is the trainDL / fit call alone; the
process time adds the interpreter, imports and loading X. Times: median
(min-max) over the seeds; objective: mean over the seeds of the mean over
ALL signals of 1/2 |x - rD|^2 + alpha |r|_1, r the exact lasso codes of the
final D, computed the same way for every side: `dictlearn encode D.npy X.npy
--coder lasso-lars --alpha A` (LARS homotopy, float64) and the sum in numpy;
without a dictlearn binary, SPAMS's lasso (mode 2), else scikit-learn's
lasso_lars. Checks: one SPAMS dictionary also scored by SPAMS's lasso; the
first seed's dictlearn --forgetting sklearn atoms against scikit-learn lars's.

Under --work: data/{La,Lb}_X.npy and _D0_s{seed}.npy, runs/<workload>/<side>/
s<seed>/D.npy (each final dictionary, K x dim). --out FILE.md also writes
FILE.json (every run). --atom-grid DIR: dictlearn's first seed's atoms by
`dictlearn plot --patch-shape` as DIR/learning_{La,Lb}_atoms.png.
"""

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import face_patches  # noqa: E402  (issue 9's data, next to this script)

WORKLOADS = {
    "L-a": {"tag": "La", "atoms": 50, "alpha": 1.0, "batch": 200, "steps": 1140, "patch": "7x7"},
    "L-b": {"tag": "Lb", "atoms": 256, "alpha": 0.15, "batch": 256, "steps": 391, "patch": "8x8"},
}
QUICK_STEPS = {"L-a": 57, "L-b": 39}  # --quick: about half a pass of L-a, a tenth of L-b
SKLEARN_VARIANTS = ("lars-1", "lars-2", "cd-1", "cd-2")  # fit_algorithm-n_jobs

# dictlearn fit's flags for the online learner, in one place.
DICTLEARN_FLAGS = {
    "method": ["--method", "online"],
    "init": "--init",  # the initial atoms, D0.npy (n_atoms x dim)
    "in_order": ["--no-shuffle", "--in-order"],  # the first one `fit --help` lists is used
    "max_steps": "--max-steps",
    "forgetting": "--forgetting",
    "coder": "--coder",
}


# -- the data ----------------------------------------------------------------


def workload_data(name, data_dir):
    """Writes (once) and returns the path of the workload's X (see the docstring)."""
    path = os.path.join(data_dir, f"{WORKLOADS[name]['tag']}_X.npy")
    if os.path.exists(path):
        return path
    if name == "L-a":
        from sklearn.feature_extraction.image import extract_patches_2d

        left = face_patches.face_image()[::4, ::4][:, :128]
        X = extract_patches_2d(left, (7, 7)).reshape(-1, 49).astype(np.float64)
        X -= X.mean(axis=0)
        X /= X.std(axis=0)
    else:
        X = face_patches.make_data()[0]
    save_npy(path, X)
    return path


def save_npy(path, array):
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def initial_atoms(X, n_atoms, seed):
    """D0: distinct nonzero rows in a seeded random order, unit norm (see the docstring)."""
    picked, seen = [], set()
    for i in np.random.default_rng(seed).permutation(len(X)):
        norm = np.linalg.norm(X[i])
        key = X[i].tobytes()
        if norm < 1e-12 or key in seen:
            continue
        seen.add(key)
        picked.append(X[i] / norm)
        if len(picked) == n_atoms:
            return np.array(picked)
    sys.exit(f"learning.py: only {len(picked)} distinct nonzero rows for {n_atoms} atoms")


# -- processes -----------------------------------------------------------------


# Runs one command and reports its wall time and peak memory. A small fresh
# interpreter starts it: a child's ru_maxrss counts the memory of the process
# it was forked from (Linux keeps the high-water mark across fork and exec), so
# forking the tools from this script, which holds X and the libraries, would
# report this script's size for every tool.
LAUNCHER = """
import json, os, subprocess, sys, time
spec = json.loads(sys.argv[1])
with open(spec["out"], "w") as out, open(spec["err"], "w") as err:
    start = time.perf_counter()
    child = subprocess.Popen(spec["command"], stdout=out, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "rc": os.waitstatus_to_exitcode(status),
                  "max_rss": usage.ru_maxrss * 1024}))
"""


def run_child(command, env_extra, log_path):
    """Runs command; returns (wall seconds, max RSS bytes, stdout). Exits on failure."""
    spec = {"command": command, "out": log_path + ".out", "err": log_path + ".err"}
    environment = dict(os.environ)
    for key, value in env_extra.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    launched = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, json.dumps(spec)],
                              env=environment, capture_output=True, text=True)
    if launched.returncode != 0:
        sys.exit(f"learning.py: the launcher failed: {launched.stderr[-2000:]}")
    reply = json.loads(launched.stdout)
    if reply["rc"] != 0:
        with open(spec["err"]) as f:
            tail = f.read()[-2000:]
        sys.exit(f"learning.py: {' '.join(command)} exited {reply['rc']}:\n{tail}")
    with open(spec["out"]) as f:
        return reply["wall"], reply["max_rss"], f.read()  # Linux: ru_maxrss was in KiB


def thread_env(blas, omp):
    env = {"OPENBLAS_NUM_THREADS": str(blas), "OMP_NUM_THREADS": str(omp),
           "MKL_NUM_THREADS": str(blas)}
    # As installed unless a side asks for a core type (the informative rows).
    env["OPENBLAS_CORETYPE"] = None  # None: removed from the environment
    return env


def worker(spec):
    """In a child process: one SPAMS or scikit-learn fit; prints a JSON line."""
    X = np.load(spec["X"])
    D0 = np.load(spec["D0"])
    steps = spec["steps"]
    if spec["tool"] == "spams":
        import spams

        Xf = np.asfortranarray(X.T)
        D0f = np.asfortranarray(D0.T)
        start = time.perf_counter()
        D, model = spams.trainDL(Xf, D=D0f, iter=steps, batchsize=spec["batch"],
                                 lambda1=spec["alpha"], mode=2, numThreads=spec["threads"],
                                 verbose=False, return_model=True)
        seconds = time.perf_counter() - start
        n_steps = int(np.asarray(model["iter"]).ravel()[0])
        D = D.T
    else:
        from sklearn.decomposition import MiniBatchDictionaryLearning

        estimator = MiniBatchDictionaryLearning(
            n_components=len(D0), alpha=spec["alpha"], batch_size=spec["batch"], n_iter=steps,
            tol=0, max_no_improvement=None, dict_init=D0, shuffle=False,
            fit_algorithm=spec["fit_algorithm"], n_jobs=spec["n_jobs"],
            random_state=spec["seed"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # 1.2: n_iter is deprecated
            start = time.perf_counter()
            estimator.fit(X)
            seconds = time.perf_counter() - start
        n_steps = int(estimator.n_steps_)
        D = estimator.components_
    save_npy(spec["out"], np.ascontiguousarray(D))
    from threadpoolctl import threadpool_info

    print(json.dumps({"fit_seconds": seconds, "n_steps": n_steps,
                      "threadpools": threadpool_info()}))


# -- dictlearn -----------------------------------------------------------------


def cli_help(binary, command):
    try:
        return subprocess.run([binary, command, "--help"], capture_output=True, text=True).stdout
    except OSError:
        return ""


def dictlearn_fit_flags(binary):
    """The online fit's flags this binary has, or None (with the reason printed)."""
    text = cli_help(binary, "fit")
    flags = dict(DICTLEARN_FLAGS, in_order=next(
        (f for f in DICTLEARN_FLAGS["in_order"] if f + " " in text or f + "," in text), None))
    missing = [str(flags[k]) for k in ("in_order", "init", "max_steps", "forgetting", "coder")
               if flags[k] is None or flags[k] not in text]
    if "--method" not in text or missing:
        print(f"dictlearn skipped: `{binary} fit --help` has no --method (no online learner in "
              "this build)" if "--method" not in text else
              f"dictlearn skipped: `fit --help` lacks {missing} (DICTLEARN_FLAGS)", file=sys.stderr)
        return None
    return flags


def read_safetensors(path, name="dictionary"):
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(length))
        entry = header[name]
        begin, end = entry["data_offsets"]
        f.seek(8 + length + begin)
        raw = f.read(end - begin)
    dtype = {"F64": np.float64, "F32": np.float32}[entry["dtype"]]
    return np.frombuffer(raw, dtype=dtype).reshape(entry["shape"]).astype(np.float64)


def log_seconds(path):
    """The last `seconds` of a training log CSV, or None."""
    try:
        with open(path) as f:
            rows = [row for row in csv.reader(line for line in f if not line.startswith("#"))]
    except OSError:
        return None
    if len(rows) < 2 or "seconds" not in rows[0]:
        return None
    column = rows[0].index("seconds")
    try:
        return float(rows[-1][column])
    except (ValueError, IndexError):
        return None


# -- the objective ---------------------------------------------------------------


class Scorer:
    """The objective of a dictionary on all of X with exact lasso codes (see the docstring)."""

    def __init__(self, args, spams):
        self.args = args
        self.spams = spams
        self.cli = bool(args.dictlearn) and "lasso-lars" in cli_help(args.dictlearn, "encode")
        self.method = ("dictlearn encode --coder lasso-lars" if self.cli
                       else "SPAMS lasso mode=2" if spams else "scikit-learn lasso_lars")

    def codes(self, D_path, X, X_path, alpha, how):
        if how == "cli":
            out = D_path + ".codes.npz"
            subprocess.run([self.args.dictlearn, "encode", D_path, X_path, "-o", out, "--coder",
                            "lasso-lars", "--alpha", repr(alpha), "--threads",
                            str(self.args.threads)], check=True, capture_output=True)
            z = np.load(out)
            import scipy.sparse

            R = scipy.sparse.csr_matrix((z["values"], z["indices"], z["indptr"]),
                                        shape=tuple(z["shape"]))
            os.remove(out)
            return R
        D = np.load(D_path)
        if how == "spams":
            return self.spams.lasso(np.asfortranarray(X.T), D=np.asfortranarray(D.T),
                                    lambda1=alpha, mode=2, numThreads=self.args.threads).T.tocsr()
        from sklearn.decomposition import sparse_encode

        return sparse_encode(X, D, algorithm="lasso_lars", alpha=alpha)

    def __call__(self, D_path, X, X_path, alpha, how=None):
        how = how or ("cli" if self.cli else "spams" if self.spams else "sklearn")
        R = self.codes(D_path, X, X_path, alpha, how)
        residual = X - np.asarray(R @ np.load(D_path))
        l1 = np.asarray(abs(R).sum(axis=1)).ravel()
        return float((0.5 * np.einsum("ij,ij->i", residual, residual) + alpha * l1).mean())


# -- the sides -------------------------------------------------------------------


def plan_sides(args, have_spams, fit_flags):
    sides = []
    if have_spams and "spams" in args.tools:
        sides.append(("SPAMS", "trainDL mode=2", "spams", {}))
        if args.tuned_coretype:
            sides.append(("SPAMS", f"trainDL mode=2, OPENBLAS_CORETYPE={args.tuned_coretype} "
                          "(informative)", "spams", {"coretype": args.tuned_coretype}))
    if fit_flags and "dictlearn" in args.tools:
        for forgetting in args.dictlearn_forgetting:
            for coder in args.dictlearn_coders:
                sides.append(("dictlearn", f"online, --forgetting {forgetting}, --coder {coder}",
                              "dictlearn", {"forgetting": forgetting, "coder": coder}))
    if "sklearn" in args.tools:
        for variant in args.sklearn_variants:
            algorithm, jobs = variant.split("-")
            sides.append(("scikit-learn", f"fit_algorithm={algorithm}, n_jobs={jobs}", "sklearn",
                          {"fit_algorithm": algorithm, "n_jobs": int(jobs)}))
        if args.tuned_coretype and args.sklearn_tuned:
            for variant in args.sklearn_variants:
                algorithm, jobs = variant.split("-")
                sides.append(("scikit-learn", f"fit_algorithm={algorithm}, n_jobs={jobs}, "
                              f"OPENBLAS_CORETYPE={args.tuned_coretype} (informative)", "sklearn",
                              {"fit_algorithm": algorithm, "n_jobs": int(jobs),
                               "coretype": args.tuned_coretype}))
    return sides


def run_side(args, fit_flags, kind, params, work, X_path, D0_path, seed, steps, w):
    os.makedirs(work, exist_ok=True)
    D_path = os.path.join(work, "D.npy")
    result = {"seed": seed}
    if kind == "dictlearn":
        model = os.path.join(work, "model.safetensors")
        log = os.path.join(work, "log.csv")
        n_rows = len(np.load(X_path, mmap_mode="r"))
        epochs = -(-steps * w["batch"] // n_rows) + 1  # enough passes: --max-steps ends it
        # Each schedule in its counterpart's order: SPAMS draws its batches from
        # a permutation, scikit-learn (shuffle=False) takes them in file order.
        order = [fit_flags["in_order"]] if params["forgetting"] == "sklearn" else []
        command = [args.dictlearn, "fit", X_path, "-o", model, *fit_flags["method"],
                   "--atoms", str(w["atoms"]), fit_flags["coder"], params["coder"],
                   "--alpha", repr(w["alpha"]), "--batch-size", str(w["batch"]),
                   fit_flags["max_steps"], str(steps), "--epochs", str(epochs),
                   fit_flags["init"], D0_path, *order,
                   fit_flags["forgetting"], params["forgetting"], "--seed", str(seed),
                   "--threads", str(args.threads), "--dtype", "float64", "--quiet",
                   "--log", log]
        wall, rss, _ = run_child(command, thread_env(1, args.threads), os.path.join(work, "run"))
        save_npy(D_path, read_safetensors(model))
        result.update(process_seconds=wall, fit_seconds=log_seconds(log), max_rss=rss,
                      n_steps=None, model=model)
    else:
        params = dict(params)
        env = thread_env(args.spams_blas_threads if kind == "spams" else args.threads,
                         args.threads)
        coretype = params.pop("coretype", None)
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
        spec = {"tool": kind, "X": X_path, "D0": D0_path, "out": D_path, "alpha": w["alpha"],
                "batch": w["batch"], "steps": steps, "threads": args.threads, "seed": seed,
                **params}
        command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
        wall, rss, stdout = run_child(command, env, os.path.join(work, "run"))
        reply = json.loads(stdout.strip().splitlines()[-1])
        if reply["n_steps"] != steps:
            sys.exit(f"learning.py: {kind} {params} made {reply['n_steps']} steps, not {steps}")
        kernels = [pool.get("architecture") for pool in reply["threadpools"]
                   if pool.get("internal_api") == "openblas"]
        if coretype and kernels != [coretype]:
            print(f"warning: OPENBLAS_CORETYPE={coretype} gave OpenBLAS kernels {kernels}",
                  file=sys.stderr)
        result.update(process_seconds=wall, fit_seconds=reply["fit_seconds"], max_rss=rss,
                      n_steps=reply["n_steps"], threadpools=reply["threadpools"],
                      openblas_kernels=kernels)
    result["D"] = D_path
    return result


# -- the report ------------------------------------------------------------------


def machine():
    model, level = platform.processor() or "unknown", "unknown"
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in text.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")),
                         [])
        level = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else
                 "SSE/AVX only")
    except (OSError, StopIteration):
        pass
    return {"cpu": model, "level": level, "cores": os.cpu_count()}


def openblas_of(runs):
    """OpenBLAS's version and the core type it chose, as the runs' threadpoolctl saw them."""
    for run in runs:
        for pool in run.get("threadpools") or []:
            if pool.get("internal_api") == "openblas":
                return f"{pool.get('version')}, kernels {pool.get('architecture')}"
    return "not seen"


def summarize(rows):
    """Medians, ratios and differences of one workload's table rows, in place."""
    def best(tool):
        candidates = [r for r in rows if r["tool"] == tool and "informative" not in r["variant"]]
        return min(candidates, key=lambda r: r["time"]) if candidates else None

    spams, sklearn = best("SPAMS"), best("scikit-learn")
    for row in rows:
        row["vs_spams"] = spams["time"] / row["time"] if spams else None
        row["vs_sklearn"] = sklearn["time"] / row["time"] if sklearn else None
        row["objective_minus_spams"] = row["objective"] - spams["objective"] if spams else None
    return spams, sklearn


def render(report):
    m = report["machine"]
    lines = [
        f"CPU: {m['cpu']} ({m['level']}, {m['cores']} cores); {report['threads']} threads; "
        f"OpenBLAS as installed: {report['openblas']}; {report['threads']} threads for "
        "scikit-learn, "
        f"{report['spams_blas_threads']} inside SPAMS's OpenMP loop; seeds {report['seeds']}; "
        f"load average {report['load_before']:.2f} before, {report['load_after']:.2f} after. "
        f"Objective by {report['objective_by']}. Time: the training call (SPAMS, "
        "scikit-learn) or the training in dictlearn's log; (process): the whole process; "
        "'vs X': X's time / this time (above 1: faster). "
        f"{report['label']}", ""]
    for name, data in report["workloads"].items():
        w = data["settings"]
        lines += [f"### {name}: {data['rows']:,} x {data['dim']}, {w['atoms']} atoms, "
                  f"alpha = {w['alpha']}, batch {w['batch']}, {data['steps']} steps", "",
                  "| tool | variant | time s, median (min-max) | process s | objective | "
                  "objective − SPAMS's | vs SPAMS | vs best scikit-learn | max RSS MiB |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in data["table"]:
            ratio = lambda x: f"{x:.2f}x" if x is not None else ""  # noqa: E731
            diff = (f"{r['objective_minus_spams']:+.2e}" if r["objective_minus_spams"] is not None
                    else "")
            lines.append(
                f"| {r['tool']} | {r['variant']}{' (process)' if r['time_is_process'] else ''} | "
                f"{r['time']:.3f} ({min(r['times']):.3f}-{max(r['times']):.3f}) | "
                f"{r['process']:.3f} | {r['objective']:.6f} | {diff} | {ratio(r['vs_spams'])} | "
                f"{ratio(r['vs_sklearn'])} | {r['max_rss'] / 2**20:.1f} |")
        lines.append("")
        lines += [f"- {note}" for note in data["notes"]]
        lines.append("")
    return "\n".join(lines)


def notes_for(name, data, spams, sklearn):
    notes, w = [], data["settings"]
    target = {"L-a": 30, "L-b": 15}[name]
    tuned = next((r for r in data["table"]
                  if r["tool"] == "SPAMS" and "informative" in r["variant"]), None)

    def versus(r, other, what):
        sign = "<=" if r["objective"] <= other["objective"] else ">"
        return (f"{other['time'] / r['time']:.2f}x {what}'s speed (processes: "
                f"{other['process'] / r['process']:.2f}x), objective {sign} its")

    for r in data["table"]:
        if r["tool"] != "dictlearn":
            continue
        parts = []
        if spams:
            parts.append(versus(r, spams, "SPAMS") + " (target: 2x and <=)")
        if tuned:
            parts.append(versus(r, tuned, "tuned SPAMS"))
        if sklearn:
            parts.append(versus(r, sklearn, f"scikit-learn's best ({sklearn['variant']})")
                         + f" (target: {target}x and <=)")
        notes.append(f"dictlearn {r['variant']}: " + "; ".join(parts))
    dim, K, B = data["dim"], w["atoms"], w["batch"]
    state = (2 * K * dim + K * K + B * dim + B * K) * 8
    # The support cache (2·17 bytes a sample) when the run passes over the
    # data more than once and it fits in a quarter of X (BatchCoder::enable_cache).
    cache = data["rows"] * 34 if (data["steps"] * B > data["rows"]
                                  and 4 * 34 <= dim * 8) else 0
    notes.append(f"online learner's state (D, B: K x dim; A: K x K; one batch and its codes): "
                 f"{state / 2**20:.2f} MiB in float64, and its support cache "
                 f"{cache / 2**20:.2f} MiB; X itself "
                 f"{data['rows'] * dim * 8 / 2**20:.1f} MiB (max RSS is the whole process: "
                 "interpreter, libraries, X and copies)")
    return notes + data.get("checks", [])


# -- the run ----------------------------------------------------------------------


def run(args):
    spams = None
    try:
        import spams  # noqa: F811
    except Exception as error:  # an unbuilt module: SPAMS's lines are skipped
        print(f"SPAMS skipped: import spams failed ({error})", file=sys.stderr)
    fit_flags = dictlearn_fit_flags(args.dictlearn) if args.dictlearn else None
    if not args.dictlearn:
        print("dictlearn skipped: no --dictlearn binary given", file=sys.stderr)
    sides = plan_sides(args, spams is not None, fit_flags)
    scorer = Scorer(args, spams)
    data_dir = os.path.join(args.work, "data")
    os.makedirs(data_dir, exist_ok=True)
    seeds = [args.seed + i for i in range(args.seeds)]
    load_before = os.getloadavg()[0]

    inputs = {}
    for name in args.workloads:
        w = WORKLOADS[name]
        X_path = workload_data(name, data_dir)
        X = np.load(X_path)
        steps = min(w["steps"], args.max_steps or (QUICK_STEPS[name] if args.quick else 10**9))
        D0 = {}
        for seed in seeds:
            D0[seed] = os.path.join(data_dir, f"{w['tag']}_D0_s{seed}.npy")
            if not os.path.exists(D0[seed]):
                save_npy(D0[seed], initial_atoms(X, w["atoms"], seed))
        inputs[name] = (X, X_path, steps, D0)

    runs = {name: {i: [] for i in range(len(sides))} for name in args.workloads}
    for seed in seeds:  # rounds: every side once per seed, interleaved
        for name in args.workloads:
            w = WORKLOADS[name]
            X, X_path, steps, D0 = inputs[name]
            for i, (tool, variant, kind, params) in enumerate(sides):
                label = f"{tool}-{variant}".replace(" ", "").replace(",", "_").replace("=", "")
                work = os.path.join(args.work, "runs", w["tag"], label, f"s{seed}")
                r = run_side(args, fit_flags, kind, params, work, X_path, D0[seed], seed,
                             steps, w)
                r["objective"] = scorer(r["D"], X, X_path, w["alpha"])
                runs[name][i].append(r)
                fit = f"{r['fit_seconds']:.3f}" if r["fit_seconds"] is not None else "-"
                print(f"  seed {seed} {name} {tool} {variant}: fit {fit} s, process "
                      f"{r['process_seconds']:.3f} s, objective {r['objective']:.6f}, max RSS "
                      f"{r['max_rss'] / 2**20:.0f} MiB", file=sys.stderr)

    report = {"machine": machine(), "threads": args.threads, "seeds": seeds, "label": args.label,
              "spams_blas_threads": args.spams_blas_threads, "objective_by": scorer.method,
              "load_before": load_before, "load_after": os.getloadavg()[0], "workloads": {},
              "openblas": openblas_of([r for n in runs.values() for i, rs in n.items()
                                       if "coretype" not in sides[i][3] for r in rs])}
    for name in args.workloads:
        X, X_path, steps, D0 = inputs[name]
        table = []
        for i, (tool, variant, kind, params) in enumerate(sides):
            rs = runs[name][i]
            fit_known = all(r["fit_seconds"] is not None for r in rs)
            times = [r["fit_seconds"] if fit_known else r["process_seconds"] for r in rs]
            table.append({
                "tool": tool, "variant": variant, "times": times, "time": statistics.median(times),
                "time_is_process": not fit_known,
                "process": statistics.median(r["process_seconds"] for r in rs),
                "objective": statistics.fmean(r["objective"] for r in rs),
                "objectives": [r["objective"] for r in rs],
                "max_rss": max(r["max_rss"] for r in rs),
                "runs": [{k: v for k, v in r.items() if k != "threadpools"} for r in rs]})
        data = {"settings": WORKLOADS[name], "steps": steps, "rows": X.shape[0], "dim": X.shape[1],
                "table": table, "checks": []}
        spams_best, sklearn_best = summarize(table)
        if scorer.cli and spams is not None and spams_best:
            # The scorer against SPAMS's own lasso on one dictionary.
            D_path = spams_best["runs"][0]["D"]
            a = scorer(D_path, X, X_path, WORKLOADS[name]["alpha"])
            b = scorer(D_path, X, X_path, WORKLOADS[name]["alpha"], how="spams")
            data["checks"].append(f"objective of SPAMS's seed-{seeds[0]} dictionary: "
                                  f"{a:.9f} by dictlearn's lasso-lars, {b:.9f} by SPAMS's lasso "
                                  f"(relative difference {abs(a - b) / abs(b):.1e})")
        # Same start, same batches, same schedule: how far dictlearn's run is from scikit-learn's.
        pair = [next((r for r in table if r["variant"].startswith(v)), None) for v in
                ("online, --forgetting sklearn, --coder lasso-lars", "fit_algorithm=lars")]
        if all(pair):
            gap = np.abs(np.load(pair[0]["runs"][0]["D"]) - np.load(pair[1]["runs"][0]["D"]))
            data["checks"].append(f"seed {seeds[0]}: max |D - D| between dictlearn "
                                  f"--forgetting sklearn and scikit-learn lars: {gap.max():.1e}")
        data["notes"] = notes_for(name, data, spams_best, sklearn_best)
        report["workloads"][name] = data

    markdown = render(report)
    print(markdown)
    if args.out:
        with open(args.out, "w") as f:
            f.write(markdown)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump(report, f, indent=1, default=str)
    if args.atom_grid:
        atom_grids(args, runs, sides, inputs)


def atom_grids(args, runs, sides, inputs):
    """dictlearn plot of the first seed's model of dictlearn's first variant, per workload."""
    index = next((i for i, side in enumerate(sides) if side[2] == "dictlearn"), None)
    if index is None:
        print("--atom-grid skipped: no dictlearn run (the grids are of dictlearn's atoms)",
              file=sys.stderr)
        return
    os.makedirs(args.atom_grid, exist_ok=True)
    for name in runs:
        w = WORKLOADS[name]
        model = runs[name][index][0]["model"]
        folder = tempfile.mkdtemp(prefix="grid-", dir=args.work)
        subprocess.run([args.dictlearn, "plot", inputs[name][1], "--model", model,
                        "--patch-shape", w["patch"], "-o", folder], check=True,
                       capture_output=True)
        target = os.path.join(args.atom_grid, f"learning_{w['tag']}_atoms.png")
        shutil.copyfile(os.path.join(folder, "atoms_grid.png"), target)
        shutil.rmtree(folder)
        print(f"{target}: {name}, {sides[index][1]}, seed {runs[name][index][0]['seed']}",
              file=sys.stderr)


def default_coretype():
    return {"AVX-512": "SkylakeX", "AVX2": "Haswell"}.get(machine()["level"])


def split_list(allowed):
    def parse(text):
        items = [item for item in text.split(",") if item and item != "none"]
        wrong = [item for item in items if item not in allowed]
        if wrong:
            raise argparse.ArgumentTypeError(f"{wrong[0]} is not one of {', '.join(allowed)}")
        return items
    return parse


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dictlearn", help="the dictlearn CLI (its side and the objective)")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "learning-bench"))
    parser.add_argument("--out", help="writes the tables to FILE.md and the runs to FILE.json")
    parser.add_argument("--workloads", default=list(WORKLOADS), type=split_list(WORKLOADS))
    parser.add_argument("--tools", default=["spams", "sklearn", "dictlearn"],
                        type=split_list(("spams", "sklearn", "dictlearn")))
    parser.add_argument("--sklearn-variants", default=list(SKLEARN_VARIANTS),
                        type=split_list(SKLEARN_VARIANTS),
                        help="fit_algorithm-n_jobs, of " + ",".join(SKLEARN_VARIANTS) + " (none)")
    parser.add_argument("--dictlearn-forgetting", default=["capped", "spams", "sklearn"],
                        type=split_list(("capped", "spams", "sklearn")))
    parser.add_argument("--dictlearn-coders", default=["lasso-lars"],
                        type=split_list(("lasso-lars", "lasso-cd")))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--spams-blas-threads", type=int, default=1)
    parser.add_argument("--tuned-coretype", default=default_coretype(),
                        help="adds an informative SPAMS row with this OPENBLAS_CORETYPE (Debian's "
                        "OpenBLAS 0.3.21 falls back to Prescott kernels on CPUs it does not know; "
                        "default: SkylakeX with AVX-512, Haswell with AVX2; none: no such row)")
    parser.add_argument("--sklearn-tuned", action="store_true",
                        help="also scikit-learn's variants with --tuned-coretype (informative)")
    parser.add_argument("--seed", type=int, default=0, help="the first seed of D0")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=0,
                        help="cap every workload's steps (0: the issue's)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: one seed, " + ", ".join(
                            f"{k} {v} steps" for k, v in QUICK_STEPS.items()))
    parser.add_argument("--atom-grid", metavar="DIR",
                        help="write dictlearn's learned L-a / L-b atom grids (PNG) there")
    parser.add_argument("--label", default="", help="a note printed with the results")
    args = parser.parse_args()
    if args.tuned_coretype in ("", "none"):
        args.tuned_coretype = None
    if args.quick:
        args.seeds = 1
    os.makedirs(args.work, exist_ok=True)
    run(args)


if __name__ == "__main__":
    main()
