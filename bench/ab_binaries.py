#!/usr/bin/python3
"""Times two dictlearn binaries on issue 4's workloads, alternating, and reports ratios.

    /usr/bin/python3 bench/ab_binaries.py OLD_BINARY NEW_BINARY [--repeat 5] [--workloads W1,W2,...]
        [--threads 2] [--work DIR]

For a change that must not cost speed (a restructure): both binaries train the
same data from the same initial model, in turns (old, new, new, old, ...) so
that the machine's drift falls on both. Each run's training-loop time is the
log's last `seconds` (reading the data and writing the model excluded) and its
whole time the process's wall clock. Prints per workload the medians and the
ratio new/old of each; a ratio within the runs' spread is noise. Data and
initial models as bench/compare.py makes them.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (the workloads, their data and initial models)


def save_init(path, tensors):
    import json
    import struct
    header, body, offset = {}, b"", 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": "F32" if array.dtype == np.float32 else "F64", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        body += raw
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + body)


def has_preset(binary, known={}):
    """Whether `fit` has --preset (then its sae preset would fill what a workload leaves out)."""
    if binary not in known:
        text = subprocess.run([binary, "fit", "--help"], capture_output=True, text=True).stdout
        known[binary] = "--preset" in text
    return known[binary]


def run_once(binary, w, data, init, work, threads):
    log = os.path.join(work, "ab.log.csv")
    command = [binary, "fit", data, "-o", os.path.join(work, "ab.safetensors"), "--init", init,
               "--epochs", str(w["epochs"]), "--atoms", str(w["atoms"]), "--log", log, "--quiet", "--threads", str(threads)]
    if w["batch"]:
        command += ["--batch-size", str(w["batch"])]
    if w["encoder"] != "softmax":
        command += ["--encoder", w["encoder"], "--k", str(w["k"])]
    if has_preset(binary):
        command += ["--preset", "seed"]  # both binaries train the same settings
    start = time.perf_counter()
    subprocess.run(command, check=True)
    whole = time.perf_counter() - start
    with open(log) as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    loop = float(lines[-1].split(",")[header.index("seconds")])
    return loop, whole


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workloads", default="W1,W2,W3,W4,W5")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="dictlearn-ab-")
    os.makedirs(work, exist_ok=True)
    binaries = [("old", os.path.abspath(args.old)), ("new", os.path.abspath(args.new))]
    cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    print("cpu: %s (%s), %d threads" % (cpu, "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE",
                                     args.threads))
    print("%-4s %12s %12s %7s   %12s %12s %7s" % ("", "old loop s", "new loop s", "ratio", "old whole s", "new whole s",
                                                 "ratio"))
    for name in args.workloads.split(","):
        w = compare.WORKLOADS[name]
        data = os.path.join(work, name + ".npy")
        init = os.path.join(work, name + "_init.safetensors")
        np.save(data, compare.make_data(w, 0))
        save_init(init, compare.make_init(w, 0))
        times = {"old": [], "new": []}
        for r in range(args.repeat):
            order = binaries if r % 2 == 0 else binaries[::-1]
            for side, binary in order:
                times[side].append(run_once(binary, w, data, init, work, args.threads))
        med = {s: (statistics.median(t[0] for t in times[s]), statistics.median(t[1] for t in times[s]))
               for s in times}
        spread = {s: (min(t[0] for t in times[s]), max(t[0] for t in times[s])) for s in times}
        print("%-4s %12.4f %12.4f %7.3f   %12.4f %12.4f %7.3f   (loop ranges old %.4f-%.4f, new %.4f-%.4f)" % (
            name, med["old"][0], med["new"][0], med["new"][0] / med["old"][0], med["old"][1], med["new"][1],
            med["new"][1] / med["old"][1], *spread["old"], *spread["new"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
