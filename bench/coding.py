#!/usr/bin/python3
"""Issue 14's coding benchmark: dictlearn, SPAMS and scikit-learn side by side in one run.

    /usr/bin/python3 bench/face_patches.py /tmp/coding            # the data, once
    PYTHONPATH=/work/scratch/spams /usr/bin/python3 bench/coding.py \\
        --bench BUILD/bench/dictlearn_coding_bench --dictlearn BUILD/dictlearn \\
        --data-dir /tmp/coding --out /tmp/coding/result

Workloads (data: face_patches.py's X, 100,000 unit-norm 8x8 patches, and D,
256 other ones), 2 threads, medians of 3 rounds, every side once a round
(rounds interleave the sides, so load on a shared machine spreads over all):

- C-omp: codes with L = 10 atoms. scikit-learn: sparse_encode(X, D,
  algorithm='omp', n_nonzero_coefs=10, n_jobs=J); SPAMS: spams.omp(X.T, D.T,
  L=10, numThreads=2); dictlearn: sparse_encode with CoderKind::omp,
  n_nonzero 10. Objective: mean over signals of ‖x − rD‖².
- C-lasso: min ½‖x − rD‖² + α‖r‖₁, α = 0.15. scikit-learn: sparse_encode(X,
  D, algorithm=A, alpha=0.15, n_jobs=J) for A in lasso_lars, lasso_cd
  (scikit-learn divides alpha by dim inside, for estimators whose loss has
  1/(2·dim): the same problem); SPAMS: spams.lasso(X.T, D=D.T, lambda1=0.15,
  mode=2, numThreads=2) (mode 2 is ½‖x − Dα‖² + λ₁‖α‖₁: the same scaling);
  dictlearn: each lasso coder this build has (lasso-lars, lasso-cd, fista:
  whatever `dictlearn_coding_bench --list` lists). Objective: mean of
  ½‖x − rD‖² + α‖r‖₁.

scikit-learn is timed as the whole sparse_encode call (its Gram D Dᵀ
included) for n_jobs 1 and 2, with OpenBLAS pinned to 2 threads
(threadpoolctl) so its products use both cores; its best variant is the one
compared. SPAMS runs its own OpenMP loop with OpenBLAS pinned to 1 thread
inside (a multi-threaded BLAS inside its loop ran 25-36x slower), and
returns sparse codes (not converted inside the timing). dictlearn's library
call is timed in process by dictlearn_coding_bench (one process a round, a
few warm-up rows first; it also reports the call's peak memory); the CLI line
is the whole process `dictlearn encode D.npy X.npy -o codes.npz --coder ...`
(reading, coding, writing sparse codes), skipped when the binary has no
--coder.

Note: SPAMS's omp is ORMP (its coreORMP picks the atom of largest
(dᵢ·r)² / ‖P⊥dᵢ‖², the residual decrease after projection), not OMP's
largest |dᵢ·r|: the same problem, another greedy path, usually a lower
objective. scikit-learn's and dictlearn's OMP are the same algorithm; the
script counts the signals whose supports differ.

SPAMS (GPLv3) is not part of dictlearn; build its Python module in a scratch
folder outside the repository (Debian 12: apt-get install libopenblas-dev):

    git clone https://github.com/getspams/spams-python /work/scratch/spams   # @ 8973146
    cd /work/scratch/spams && g++ -O3 -march=native -fopenmp -fPIC -shared -std=c++11 \\
      -DNDEBUG -DUSE_BLAS_LIB -w -Ispams_wrap -Ispams_wrap/linalg -Ispams_wrap/prox \\
      -Ispams_wrap/decomp -Ispams_wrap/dictLearn \\
      -I$(/usr/bin/python3 -c 'import numpy; print(numpy.get_include())') \\
      -I/usr/include/python3.11 spams_wrap/spams_wrap.cpp \\
      -o spams_wrap/_spams_wrap$(/usr/bin/python3 -c 'import sysconfig; \\
      print(sysconfig.get_config_var("EXT_SUFFIX"))') -lopenblas
    mkdir -p spams.egg-info && printf 'Metadata-Version: 2.1\\nName: spams\\nVersion: 2.6.5.4\\n' \\
      > spams.egg-info/PKG-INFO      # its __init__ asks pkg_resources for its version

(about 3 minutes), then run this script with PYTHONPATH=/work/scratch/spams.
Without `import spams` the SPAMS lines are skipped.

Quick runs: --rows N codes the first N signals on every side; --sklearn-rows M
codes only the first M on scikit-learn's side (the slowest: about 7,000
signals/s), whose rate is then M / seconds, and its objective is compared on
those M rows. The defaults are the issue's full workloads (about 3 minutes on
2 cores, most of it scikit-learn).

Writes OUT.json (every timing, the CPU, the libraries' thread settings) and
OUT.md (the tables), and prints the tables.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

WORKLOADS = ("omp", "lasso")
LASSO_CODERS = ("lasso-lars", "lasso-cd", "fista")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def objective(workload, X, R, D, alpha):
    """Per-signal mean: ‖x − rD‖² (omp) or ½‖x − rD‖² + α‖r‖₁ (lasso), R dense or sparse."""
    residual = X - np.asarray(R @ D)
    squares = np.einsum("ij,ij->i", residual, residual)
    if workload == "omp":
        return float(squares.mean())
    l1 = np.asarray(abs(R).sum(axis=1)).ravel()
    return float((0.5 * squares + alpha * l1).mean())


def nonzeros(R):
    count = R.nnz if hasattr(R, "nnz") else np.count_nonzero(R)
    return count / R.shape[0]


def per_signal_objective(workload, X, R, D, alpha):
    residual = X - np.asarray(R @ D)
    squares = np.einsum("ij,ij->i", residual, residual)
    if workload == "omp":
        return squares
    return 0.5 * squares + alpha * np.asarray(abs(R).sum(axis=1)).ravel()


class Sides:
    """The sides of one run: each a function of the round returning a result dict."""

    def __init__(self, args, X, D):
        self.args = args
        self.X = X
        self.D = D
        self.rows = len(X)
        self.sk_rows = min(args.sklearn_rows or self.rows, self.rows)
        self.codes_dir = tempfile.mkdtemp(prefix="coding-", dir=args.work)
        self.X_path = os.path.join(args.data_dir, "face_X_float64.npy")
        self.D_path = os.path.join(args.data_dir, "face_D_float64.npy")
        self.spams = None
        try:
            import spams  # noqa: F401

            self.spams = spams
        except Exception as error:  # an unbuilt or broken module: its lines are skipped
            print(f"SPAMS skipped: import spams failed ({error})", file=sys.stderr)
        from threadpoolctl import threadpool_info, threadpool_limits

        self.threadpool_limits = threadpool_limits
        self.threadpool_info = threadpool_info
        self.coders = json.loads(subprocess.check_output([args.bench, "--list"], text=True))
        self.cli_flags = self.cli_support()

    def cli_support(self):
        """The CLI's coder names (hyphens or underscores) if it has --coder, else None."""
        if not self.args.dictlearn:
            return None
        try:
            text = subprocess.run(
                [self.args.dictlearn, "encode", "--help"], capture_output=True, text=True
            ).stdout
        except OSError:
            return None
        if "--coder" not in text:
            print("CLI line skipped: `dictlearn encode` has no --coder", file=sys.stderr)
            return None
        return {"hyphen": "lasso-lars" in text or "lasso-cd" in text, "threads": "--threads" in text}

    # -- the sides -------------------------------------------------------

    def sklearn(self, workload, algorithm, n_jobs):
        from sklearn.decomposition import sparse_encode

        X = self.X[: self.sk_rows]
        kwargs = (
            {"n_nonzero_coefs": self.args.n_nonzero}
            if workload == "omp"
            else {"alpha": self.args.alpha}
        )
        with self.threadpool_limits(limits=self.args.threads, user_api="blas"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # lasso_cd's convergence warnings
                start = time.perf_counter()
                R = sparse_encode(X, self.D, algorithm=algorithm, n_jobs=n_jobs, **kwargs)
                seconds = time.perf_counter() - start
        return {"seconds": seconds, "rows": len(X), "codes": R}

    def spams_side(self, workload):
        X = self.X
        Xf = X.T  # C-order rows are Fortran-order columns: no copy
        Df = np.asfortranarray(self.D.T)
        with self.threadpool_limits(limits=1, user_api="blas"):
            start = time.perf_counter()
            if workload == "omp":
                A = self.spams.omp(Xf, Df, L=self.args.n_nonzero, numThreads=self.args.threads)
            else:
                A = self.spams.lasso(
                    Xf, D=Df, lambda1=self.args.alpha, mode=2, numThreads=self.args.threads
                )
            seconds = time.perf_counter() - start
        return {"seconds": seconds, "rows": len(X), "codes": A.T.tocsr()}

    def coder_flags(self, workload):
        if workload == "omp":
            return ["--n-nonzero", str(self.args.n_nonzero)]
        return ["--alpha", str(self.args.alpha)]

    def library(self, workload, coder, save):
        command = [
            self.args.bench,
            "--dictionary", self.D_path,
            "--data", self.X_path,
            "--coder", coder,
            "--threads", str(self.args.threads),
            "--rows", str(self.rows),
        ] + self.coder_flags(workload)
        path = os.path.join(self.codes_dir, f"{coder}.npy")
        if save:
            command += ["--save-codes", path]
        result = json.loads(subprocess.check_output(command, text=True))
        result["rows"] = self.rows
        result["seconds"] = result["seconds"][0]  # one call a round
        result["cpu_seconds"] = result["cpu_seconds"][0]
        if save:
            result["codes"] = np.load(path)
            os.remove(path)
        return result

    def cli(self, workload, coder):
        name = coder.replace("_", "-") if self.cli_flags["hyphen"] else coder
        out = os.path.join(self.codes_dir, "cli_codes.npz")
        X_path = self.X_path
        if self.rows < len(np.load(self.X_path, mmap_mode="r")):
            X_path = os.path.join(self.codes_dir, "X_rows.npy")
            if not os.path.exists(X_path):
                np.save(X_path, self.X)
        command = [self.args.dictlearn, "encode", self.D_path, X_path, "-o", out,
                   "--coder", name] + self.coder_flags(workload)
        if self.cli_flags["threads"]:
            command += ["--threads", str(self.args.threads)]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        os.remove(out)
        return {"seconds": seconds, "rows": self.rows}


def run(args):
    X = np.load(os.path.join(args.data_dir, "face_X_float64.npy"))
    D = np.load(os.path.join(args.data_dir, "face_D_float64.npy"))
    if args.rows:
        X = X[: args.rows]
    sides = Sides(args, X, D)
    names = {c["name"] for c in sides.coders}
    plan = {}
    for workload in args.workloads:
        entries = []
        algorithms = ("omp",) if workload == "omp" else ("lasso_lars", "lasso_cd")
        for algorithm in algorithms:
            for n_jobs in (1, 2):
                entries.append(
                    (f"scikit-learn {algorithm} n_jobs={n_jobs}",
                     "sklearn", (workload, algorithm, n_jobs))
                )
        if sides.spams is not None:
            entries.append((f"SPAMS {'omp (ORMP)' if workload == 'omp' else 'lasso mode=2'}",
                            "spams", (workload,)))
        coders = ("omp",) if workload == "omp" else tuple(
            c for c in LASSO_CODERS if c in names and c in args.lasso_coders.split(","))
        for coder in coders:
            entries.append((f"dictlearn {coder} (library)", "library", (workload, coder)))
            if sides.cli_flags is not None:
                entries.append((f"dictlearn {coder} (CLI process)", "cli", (workload, coder)))
        plan[workload] = entries

    results = {w: {label: [] for label, _, _ in entries} for w, entries in plan.items()}
    first_codes = {}
    for round_index in range(args.repeats):
        for workload, entries in plan.items():
            for label, kind, params in entries:
                keep = round_index == 0
                if kind == "sklearn":
                    r = sides.sklearn(*params)
                elif kind == "spams":
                    r = sides.spams_side(*params)
                elif kind == "library":
                    r = sides.library(*params, save=keep)
                else:
                    r = sides.cli(*params)
                codes = r.pop("codes", None)
                if keep and codes is not None:
                    first_codes[(workload, label)] = codes
                results[workload][label].append(r)
                print(f"  round {round_index + 1} {workload:5s} {label:40s} "
                      f"{r['rows'] / r['seconds']:12,.0f} signals/s", file=sys.stderr)

    report = {
        "cpu": cpu_model(),
        "label": args.label,
        "threads": args.threads,
        "repeats": args.repeats,
        "rows": len(X),
        "sklearn_rows": sides.sk_rows,
        "n_nonzero": args.n_nonzero,
        "alpha": args.alpha,
        "threadpools": sides.threadpool_info(),
        "workloads": {},
    }
    for workload, entries in plan.items():
        table = []
        for label, kind, params in entries:
            runs = results[workload][label]
            rates = [r["rows"] / r["seconds"] for r in runs]
            row = {
                "side": label,
                "kind": kind,
                "seconds": [r["seconds"] for r in runs],
                "rows": runs[0]["rows"],
                "signals_per_second": statistics.median(rates),
            }
            # Objectives on the rows every side coded (scikit-learn's first M).
            codes = first_codes.get((workload, label))
            if codes is not None:
                part = codes[: sides.sk_rows]
                row["objective_mean"] = objective(workload, X[: sides.sk_rows], part, D, args.alpha)
                row["nonzeros_mean"] = nonzeros(part)
            if kind == "library":
                last = runs[-1]
                for key in ("peak_rss_bytes", "call_peak_extra_bytes", "bound_bytes",
                            "simd_level", "gemm_backend"):
                    row[key] = last[key]
                row["cpu_seconds"] = [r["cpu_seconds"] for r in runs]
                row["objective_mean_all_rows"] = last["objective_mean"]
                row["nonzeros_mean_all_rows"] = last["nonzeros_mean"]
            table.append(row)
        summary = compare(workload, table, first_codes, X, D, args)
        report["workloads"][workload] = {"table": table, "summary": summary}

    markdown = render(report)
    print(markdown)
    if args.out:
        with open(args.out + ".json", "w") as f:
            json.dump(report, f, indent=1, default=str)
        with open(args.out + ".md", "w") as f:
            f.write(markdown)


def compare(workload, table, first_codes, X, D, args):
    """Ratios of dictlearn's best library line to SPAMS and to scikit-learn's best, and agreement."""
    def best(kind):
        rows = [r for r in table if r["kind"] == kind]
        return max(rows, key=lambda r: r["signals_per_second"]) if rows else None

    ours, spams, sklearn = best("library"), best("spams"), best("sklearn")
    summary = {}
    if ours is None:
        return summary
    summary["dictlearn"] = ours["side"]
    if spams:
        summary["vs_spams"] = ours["signals_per_second"] / spams["signals_per_second"]
    if sklearn:
        summary["sklearn_best"] = sklearn["side"]
        summary["vs_sklearn_best"] = ours["signals_per_second"] / sklearn["signals_per_second"]
    # Agreement with scikit-learn's codes on its rows (the first round's).
    sk_codes = next((first_codes[k] for k in first_codes
                     if k[0] == workload and k[1].startswith("scikit-learn")
                     and ("lasso_lars" in k[1] or workload == "omp")), None)
    if sk_codes is None:
        return summary
    rows = sk_codes.shape[0]
    for row in table:
        if row["kind"] != "library":
            continue
        codes = first_codes.get((workload, row["side"]))
        if codes is None:
            continue
        mine = codes[:rows]
        if workload == "omp":
            differ = np.any((mine != 0) != (sk_codes != 0), axis=1)
            summary[f"{row['side']}: signals whose support differs from scikit-learn's"] = int(
                differ.sum())
            summary[f"{row['side']}: max |code - scikit-learn's|"] = float(
                np.abs(mine - sk_codes).max())
        else:
            a = per_signal_objective(workload, X[:rows], mine, D, args.alpha)
            b = per_signal_objective(workload, X[:rows], sk_codes, D, args.alpha)
            summary[f"{row['side']}: mean objective / scikit-learn lasso_lars's - 1"] = float(
                a.sum() / b.sum() - 1)
            for rel in (1e-9, 1e-6):
                summary[f"{row['side']}: signals with objective > lasso_lars's + {rel:g} rel"] = int(
                    np.sum(a > b * (1 + rel)))
    return summary


def render(report):
    lines = [
        f"CPU: {report['cpu']}; {report['threads']} threads; medians of {report['repeats']} "
        f"interleaved rounds; {report['rows']:,} signals (scikit-learn: the first "
        f"{report['sklearn_rows']:,}). {report['label']}",
        "",
    ]
    for workload, data in report["workloads"].items():
        title = (f"C-omp (L = {report['n_nonzero']})" if workload == "omp"
                 else f"C-lasso (alpha = {report['alpha']})")
        lines += [f"### {title}", "",
                  "| side | signals/s | seconds (rounds) | objective (mean, first "
                  f"{report['sklearn_rows']:,}) | nonzeros (mean) |",
                  "|---|---:|---|---:|---:|"]
        for row in data["table"]:
            seconds = ", ".join(f"{s:.3f}" for s in row["seconds"])
            objective_text = (f"{row['objective_mean']:.6f}" if "objective_mean" in row else "")
            nnz = f"{row['nonzeros_mean']:.2f}" if "nonzeros_mean" in row else ""
            lines.append(f"| {row['side']} | {row['signals_per_second']:,.0f} | {seconds} | "
                         f"{objective_text} | {nnz} |")
        lines.append("")
        for key, value in data["summary"].items():
            text = f"{value:.2f}x" if key.startswith("vs_") else value
            lines.append(f"- {key}: {text}")
        for row in data["table"]:
            if row["kind"] == "library":
                mib = 1 << 20
                lines.append(
                    f"- {row['side']}: peak RSS of the call {row['call_peak_extra_bytes'] / mib:.1f}"
                    f" MiB above the resident data (bound {row['bound_bytes'] / mib:.1f} MiB); "
                    f"SIMD {row['simd_level']}, products: {row['gemm_backend']}")
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", required=True, help="dictlearn_coding_bench")
    parser.add_argument("--dictlearn", help="the dictlearn CLI (for the CLI process line)")
    parser.add_argument("--data-dir", required=True, help="face_patches.py's output folder")
    parser.add_argument("--work", default=tempfile.gettempdir(), help="scratch for codes")
    parser.add_argument("--out", help="writes OUT.json and OUT.md")
    parser.add_argument("--workloads", default="omp,lasso",
                        type=lambda s: [w for w in s.split(",") if w])
    parser.add_argument("--lasso-coders", default=",".join(LASSO_CODERS),
                        help="dictlearn's lasso coders to time (those the build has)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=0, help="first N signals (0: all)")
    parser.add_argument("--sklearn-rows", type=int, default=0,
                        help="scikit-learn codes only the first M signals (0: all)")
    parser.add_argument("--n-nonzero", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=0.15)
    parser.add_argument("--label", default="", help="a note printed with the results")
    args = parser.parse_args()
    for w in args.workloads:
        if w not in WORKLOADS:
            parser.error(f"--workloads: {w} is not omp or lasso")
    os.makedirs(args.work, exist_ok=True)
    run(args)


if __name__ == "__main__":
    main()
