#!/usr/bin/env python3
"""Issue 16's Python benchmarks, in one run on one machine.

    /usr/bin/python3 bench/python_overhead.py --build build-test [--repeat 15] [--out FILE.md]

1. Overhead: W2 (100,000 x 64 float32 Gaussian, 256 softmax atoms, batch
   4,096, 3 epochs; bench/compare.py's data) fitted and encoded from Python
   (GradientDictionaryLearning.fit, .transform) against the same library
   calls timed inside a C++ process (bench/library_timer.cpp: fit_matrix and
   encode, as `dictlearn fit` / `encode` make them, start-up and file I/O
   excluded). Rounds alternate the sides, a fresh process for each; a fit is
   one call per process, an encoding the median of 5 calls in one process;
   medians of --repeat rounds. Target: the Python side within 5% of the C++ side.
2. Against scikit-learn: L-a and L-b of bench/learning.py (issue 15) through
   the estimator API, dictlearn.MiniBatchDictionaryLearning against
   scikit-learn's MiniBatchDictionaryLearning with the same D0, steps, batch
   and alpha (scikit-learn's shuffle=False; dictlearn with --forgetting
   sklearn in file order, scikit-learn's own schedule), each in its own
   process, 2 threads. Compare the ratio with bench/learning.py's C++ one.

Needs the build's Python package (BUILD/python) and bench programs
(BUILD/bench/dictlearn_library_timer), and /tmp room for the data (about 75 MB).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

W2 = dict(n=100000, dim=64, atoms=256, batch=4096, epochs=3)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    flags = open("/proc/cpuinfo").read()
                    return name + (" (AVX-512)" if "avx512f" in flags else " (AVX2)")
    except OSError:
        pass
    return platform.processor()


def python_side(build, code, env_extra=None):
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"), OMP_WAIT_POLICY="passive")
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def overhead(args, work):
    X = np.random.default_rng([0, W2["n"], W2["dim"]]).standard_normal(
        (W2["n"], W2["dim"])).astype(np.float32)
    data = os.path.join(work, "W2.npy")
    np.save(data, X)
    timer = os.path.join(args.build, "bench", "dictlearn_library_timer")
    flags = ["atoms", str(W2["atoms"]), "batch-size", str(W2["batch"]), "epochs",
             str(W2["epochs"]), "dtype", "float32", "threads", str(args.threads)]
    model = os.path.join(work, "W2.safetensors")
    py_fit, cpp_fit, py_encode, cpp_encode = [], [], [], []
    env = dict(os.environ, OMP_WAIT_POLICY="passive")
    encodes = 5  # per process: the median of these is the round's figure
    for r in range(args.repeat):
        out = subprocess.run([timer, "fit", data, "1", *flags], check=True, capture_output=True,
                             text=True, env=env).stdout
        cpp_fit.append(float(out.split()[0]))
        reply = python_side(args.build, f"""
            import json, statistics, time, numpy as np, dictlearn
            X = np.load({data!r})
            est = dictlearn.GradientDictionaryLearning(n_components={W2['atoms']},
                batch_size={W2['batch']}, max_iter={W2['epochs']}, n_jobs={args.threads})
            t = time.perf_counter(); est.fit(X); fit = time.perf_counter() - t
            times = []
            for _ in range({encodes}):
                t = time.perf_counter(); codes = est.transform(X); times.append(time.perf_counter() - t)
                del codes
            est.save({model!r})
            print(json.dumps(dict(fit=fit, encode=statistics.median(times))))
        """)
        py_fit.append(reply["fit"])
        py_encode.append(reply["encode"])
        out = subprocess.run([timer, "encode", model, data, str(encodes), str(args.threads)],
                             check=True, capture_output=True, text=True, env=env).stdout
        cpp_encode.append(statistics.median(float(v) for v in out.split()))
        print(f"  round {r + 1}: fit C++ {cpp_fit[-1]:.3f} s, Python {py_fit[-1]:.3f} s; "
              f"encode C++ {cpp_encode[-1]:.4f} s, Python {py_encode[-1]:.4f} s", flush=True)
    rows = []
    for what, cpp, py in (("fit", cpp_fit, py_fit), ("encode (transform)", cpp_encode, py_encode)):
        c, p = statistics.median(cpp), statistics.median(py)
        rows.append(f"| {what} | {c:.4f} ({min(cpp):.4f}-{max(cpp):.4f}) | "
                    f"{p:.4f} ({min(py):.4f}-{max(py):.4f}) | {100 * (p / c - 1):+.1f}% |")
    return ("| W2 call | C++ in process, s: median (min-max) | Python, s | Python vs C++ |\n"
            "|---|---:|---:|---:|\n" + "\n".join(rows))


def versus_sklearn(args, work):
    import learning  # bench/learning.py: the workloads' data and D0

    lines = ["| workload | dictlearn estimator s | scikit-learn s | ratio | objective: dictlearn "
             "/ scikit-learn |", "|---|---:|---:|---:|---|"]
    for name in args.workloads:
        w = learning.WORKLOADS[name]
        os.makedirs(os.path.join(work, "data"), exist_ok=True)
        X_path = learning.workload_data(name, os.path.join(work, "data"))
        X = np.load(X_path)
        D0_path = os.path.join(work, "D0.npy")
        np.save(D0_path, learning.initial_atoms(X, w["atoms"], 0))
        steps = w["steps"]
        ours = []
        for _ in range(args.repeat_sklearn):
            ours.append(python_side(args.build, f"""
                import json, time, numpy as np, dictlearn
                X, D0 = np.load({X_path!r}), np.load({D0_path!r})
                est = dictlearn.MiniBatchDictionaryLearning(n_components={w['atoms']},
                    alpha={w['alpha']}, batch_size={w['batch']}, max_steps={steps},
                    max_iter={-(-steps * w['batch'] // len(X)) + 1}, tol=None,
                    max_no_improvement=None, dict_init=D0, shuffle=False, forgetting="sklearn",
                    n_jobs={args.threads})
                t = time.perf_counter(); est.fit(X); fit = time.perf_counter() - t
                np.save({os.path.join(work, 'D_ours.npy')!r}, est.components_)
                print(json.dumps(dict(fit=fit)))
            """)["fit"])
        theirs = python_side(args.build, f"""
            import json, time, warnings, numpy as np
            from sklearn.decomposition import MiniBatchDictionaryLearning
            X, D0 = np.load({X_path!r}), np.load({D0_path!r})
            est = MiniBatchDictionaryLearning(n_components={w['atoms']}, alpha={w['alpha']},
                batch_size={w['batch']}, n_iter={steps}, tol=0, max_no_improvement=None,
                dict_init=D0, shuffle=False, fit_algorithm={args.sklearn_algorithm!r},
                n_jobs={args.threads}, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter(); est.fit(X); fit = time.perf_counter() - t
            np.save({os.path.join(work, 'D_sklearn.npy')!r}, est.components_)
            print(json.dumps(dict(fit=fit)))
        """, {"OPENBLAS_NUM_THREADS": str(args.threads)})["fit"]
        D_ours = np.load(os.path.join(work, "D_ours.npy"))
        D_sk = np.load(os.path.join(work, "D_sklearn.npy"))
        objective = [objective_of(args.build, X_path, D, w["alpha"], work) for D in (D_ours, D_sk)]
        o = statistics.median(ours)
        lines.append(f"| {name} ({steps} steps) | {o:.3f} | {theirs:.3f} "
                     f"(fit_algorithm={args.sklearn_algorithm}) | {theirs / o:.1f}x | "
                     f"{objective[0]:.6f} / {objective[1]:.6f} |")
        print("  " + lines[-1], flush=True)
    return "\n".join(lines)


def objective_of(build, X_path, D, alpha, work):
    path = os.path.join(work, "D_eval.npy")
    np.save(path, D)
    return python_side(build, f"""
        import json, numpy as np, dictlearn
        X, D = np.load({X_path!r}), np.load({path!r})
        R = dictlearn.sparse_encode(X, D, algorithm="lasso_lars", alpha={alpha})
        value = (0.5 * ((X - R @ D) ** 2).sum(axis=1) + {alpha} * np.abs(R).sum(axis=1)).mean()
        print(json.dumps(float(value)))
    """)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", required=True, help="a build with -DDICTLEARN_BUILD_PYTHON=ON "
                        "and the bench programs")
    parser.add_argument("--repeat", type=int, default=15,
                        help="overhead rounds (the sides differ by less than their spread: 15 or more)")
    parser.add_argument("--repeat-sklearn", type=int, default=3,
                        help="dictlearn runs per workload against scikit-learn (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workloads", type=lambda s: s.split(","), default=["L-a", "L-b"])
    parser.add_argument("--sklearn-algorithm", default="cd",
                        help="scikit-learn's fit_algorithm (cd was its fastest in bench/learning.py)")
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--out", help="also write the tables to this Markdown file")
    args = parser.parse_args()
    args.build = os.path.abspath(args.build)
    with tempfile.TemporaryDirectory(prefix="dictlearn-pybench-") as work:
        text = [f"CPU: {cpu_name()}, {os.cpu_count()} cores; {args.threads} threads; "
                f"load average before {os.getloadavg()[0]:.2f}", ""]
        print("overhead (W2):", flush=True)
        text.append(overhead(args, work))
        if not args.skip_sklearn:
            print("against scikit-learn:", flush=True)
            text += ["", versus_sklearn(args, work)]
        text.append(f"\nload average after {os.getloadavg()[0]:.2f}")
    report = "\n".join(text)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
