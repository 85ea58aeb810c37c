#!/usr/bin/python3
"""Runs the same dictlearn commands with two binaries and compares what they wrote.

    /usr/bin/python3 scripts/compare_outputs.py OLD_BINARY NEW_BINARY [--work DIR] [--quick]
        [--rename OLD_KEY=NEW_KEY ...]

For a restructure that must not change results: every model (.safetensors),
every code file (.npy, .npz) and every reconstruction must be byte for byte
the same; every training log equal except the wall-clock `seconds` column;
every checkpoint equal in its tensors and in its metadata, where a key
renamed on purpose is given as --rename OLD=NEW (a prefix ending in '.' or
'*' renames every key under it).

The runs: the seed's problem (W1, also resumed from a checkpoint and started
--init from a model), issue 4's W2-W5 at their sizes (W3 and W4 shortened with
--quick), and a set of small runs over every encoder and training option.
Data comes from numpy with fixed seeds (W2-W5 as bench/compare.py makes them).
Exit status 0 when everything matches; otherwise each difference is printed.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np


def safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = raw[8 + n:]
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        tensors[name] = (info["dtype"], tuple(info["shape"]), body[a:b])
    return tensors, meta


def rename_key(key, renames):
    for old, new in renames:
        if old.endswith("*") and key.startswith(old[:-1]):
            return new[:-1] + key[len(old) - 1:] if new.endswith("*") else new
        if key == old:
            return new
    return key


def compare_checkpoint(a, b, renames, added=(), dropped=()):
    ta, ma = safetensors(a)
    tb, mb = safetensors(b)
    problems = []
    mb = {k: v for k, v in mb.items() if k not in added}
    def kept(k):
        return not any(k.startswith(d[:-1]) if d.endswith("*") else k == d for d in dropped)
    ma = {k: v for k, v in ma.items() if kept(k)}
    mb = {k: v for k, v in mb.items() if kept(k)}
    if ta.keys() != tb.keys():
        problems.append("tensors differ in names: %s vs %s" % (sorted(set(ta) - set(tb)), sorted(set(tb) - set(ta))))
    for name in sorted(set(ta) & set(tb)):
        if name == "log.rows":
            # The log's wall-clock `seconds` column differs from run to run.
            def without_seconds(t, meta):
                columns = meta.get("log.columns", "").split(",")
                rows = np.frombuffer(t[2], dtype=np.float64).reshape(-1, len(columns))
                return np.delete(rows, columns.index("seconds"), axis=1).tobytes() if "seconds" in columns else t[2]
            if without_seconds(ta[name], ma) != without_seconds(tb[name], mb):
                problems.append("tensor log.rows differs (seconds column left out)")
            continue
        if ta[name] != tb[name]:
            problems.append("tensor %s differs" % name)
    ma = {rename_key(k, renames): v for k, v in ma.items()}
    for key in sorted(set(ma) | set(mb)):
        if ma.get(key) != mb.get(key):
            problems.append("metadata %s: %r vs %r" % (key, ma.get(key), mb.get(key)))
    return problems


def compare_log(a, b):
    def rows(path):
        with open(path) as f:
            lines = f.read().splitlines()
        header = lines[0].split(",")
        drop = header.index("seconds") if "seconds" in header else -1
        return [",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines]
    ra, rb = rows(a), rows(b)
    if ra == rb:
        return []
    for i, (x, y) in enumerate(zip(ra, rb)):
        if x != y:
            return ["line %d: %s vs %s" % (i + 1, x[:120], y[:120])]
    return ["%d vs %d lines" % (len(ra), len(rb))]


def make_data(work, quick):
    files = {}
    rng = np.random.default_rng([0, 100000, 64])
    w5 = rng.standard_normal((100000, 64))
    np.save(os.path.join(work, "w5.npy"), w5)
    np.save(os.path.join(work, "w2.npy"), w5.astype(np.float32))
    n3 = 6000 if quick else 60000
    rng = np.random.default_rng([0, 60000, 784])
    prototypes = (rng.random((32, 784)) < 0.2) * rng.random((32, 784))
    weights = rng.dirichlet(np.full(32, 0.3), size=60000)
    w3 = np.clip(2.5 * (weights @ prototypes), 0.0, 1.0)[:n3].astype(np.float32)
    np.save(os.path.join(work, "w3.npy"), w3)
    n4 = 4096 if quick else 20000
    w4 = np.random.default_rng([0, 20000, 512]).standard_normal((20000, 512))[:n4].astype(np.float32)
    np.save(os.path.join(work, "w4.npy"), w4)
    small = np.random.default_rng(5).standard_normal((500, 12)).astype(np.float32)
    np.save(os.path.join(work, "small.npy"), small)
    np.save(os.path.join(work, "small64.npy"), small.astype(np.float64))
    np.savetxt(os.path.join(work, "small.csv"), small[:50], delimiter=",")
    return files


# (name, fit flags, data file). Every run writes NAME.safetensors, NAME.log.csv,
# and NAME.ckpt (checkpoint every 2 epochs), then encodes and reconstructs.
RUNS = [
    ("w1", "-e 10000", "seed.npy"),
    ("w1_short", "-e 300", "seed.npy"),
    ("w2", "--atoms 256 -b 4096 -e 3", "w2.npy"),
    ("w3", "--atoms 512 -b 1024 -e 1", "w3.npy"),
    ("w4", "--atoms 4096 --encoder topk --k 32 -b 4096 -e 1", "w4.npy"),
    ("w5", "--atoms 256 -b 4096 -e 3", "w5.npy"),
    ("softmax_t", "--atoms 8 -e 6 -b 64 --temperature 0.5", "small.npy"),
    ("sparsemax", "--atoms 8 -e 6 -b 64 --encoder sparsemax", "small.npy"),
    ("relu_l1", "--atoms 8 -e 6 -b 64 --encoder relu --l1 0.01 --ortho 0.1", "small.npy"),
    ("topk_sae", "--atoms 16 -e 6 -b 50 --encoder topk --k 3 --init-dict data --unit-atoms --tied "
                 "--decoder-bias mean --auxk 0.03 --lr 0.003 --warmup-steps 5 --lr-decay 0.3", "small.npy"),
    ("batchtopk", "--atoms 16 -e 6 -b 50 --encoder batchtopk --k 3 --decoder-bias zero --auxk 0.1 "
                  "--auxk-k 4 --dead-after 100", "small.npy"),
    ("patience", "--atoms 4 -e 400 --patience 3 --tol 0.01", "small.npy"),
    ("float64", "--atoms 8 -e 6 -b 64 --encoder topk --k 2", "small64.npy"),
    ("dtype64", "--atoms 8 -e 4 --dtype float64 --seed 9", "small.npy"),
    ("csv", "--atoms 3 -e 20", "small.csv"),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--work")
    parser.add_argument("--quick", action="store_true", help="W3 and W4 on a tenth/fifth of their data")
    parser.add_argument("--only", help="comma-separated run names")
    parser.add_argument("--rename", action="append", default=[], help="OLD=NEW metadata key renamed on purpose")
    parser.add_argument("--added", action="append", default=[],
                        help="a metadata key the new binary adds to models or checkpoints on purpose "
                             "(they then must be equal in tensors and every other key)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work folder (about 3 GB) when every output matches; it is always kept "
                             "when something differs")
    parser.add_argument("--dropped", action="append", default=[],
                        help="a metadata key (or prefix*) left out of the comparison of resumed models on purpose")
    args = parser.parse_args()
    renames = [tuple(r.split("=", 1)) for r in args.rename]
    work = args.work or tempfile.mkdtemp(prefix="dictlearn-compare-")
    os.makedirs(work, exist_ok=True)
    print("comparing in", work)
    make_data(work, args.quick)
    binaries = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    for side, binary in binaries.items():
        os.makedirs(os.path.join(work, side), exist_ok=True)
        subprocess.run([binary, "toy", "-o", os.path.join(work, "seed.npy")], check=True)
    failures = []
    changed_models = []
    only = set(args.only.split(",")) if args.only else None

    def has_preset(binary):
        help_text = subprocess.run([binary, "fit", "--help"], capture_output=True, text=True).stdout
        return "--preset" in help_text
    pin_seed = {side: has_preset(binary) for side, binary in binaries.items()}

    def run(side, command):
        # Every run here is the seed's settings plus its flags: where `fit` has
        # --preset (auto would bring the sae preset's for sparse encoders), pin it.
        if pin_seed[side] and len(command) > 1 and command[1] == "fit":
            command = command[:2] + ["--preset", "seed"] + command[2:]
        result = subprocess.run(command, cwd=os.path.join(work, side), capture_output=True, text=True)
        return result.returncode, result.stdout, result.stderr

    def both(label, make_command, outputs):
        results = {}
        for side, binary in binaries.items():
            results[side] = run(side, make_command(binary))
        if results["old"][0] != results["new"][0]:
            failures.append("%s: exit %d vs %d (%s)" % (label, results["old"][0], results["new"][0],
                                                        results["new"][2].strip()[:200]))
        if results["old"][2] != results["new"][2]:
            failures.append("%s: stderr differs:\n  old: %s\n  new: %s" % (label, results["old"][2].strip()[:300],
                                                                          results["new"][2].strip()[:300]))
        for out in outputs:
            a, b = os.path.join(work, "old", out), os.path.join(work, "new", out)
            if os.path.exists(a) != os.path.exists(b):
                failures.append("%s: %s exists on one side only" % (label, out))
                continue
            if not os.path.exists(a):
                continue
            if out.endswith("log.csv"):
                problems = compare_log(a, b)
            elif out.endswith(".ckpt"):
                problems = compare_checkpoint(a, b, renames, args.added)
            elif out.endswith(".safetensors"):
                with open(a, "rb") as fa, open(b, "rb") as fb:
                    same = fa.read() == fb.read()
                # A model may differ from the old one only by the keys named on purpose.
                problems = [] if same or (args.added or args.dropped) and not compare_checkpoint(
                    a, b, renames, args.added, args.dropped if "resume" in label else ()) else \
                    ["bytes differ"] + compare_checkpoint(a, b, renames, args.added, ())[:5]
                if not same and not problems:
                    changed_models.append(out)
            else:
                with open(a, "rb") as fa, open(b, "rb") as fb:
                    problems = [] if fa.read() == fb.read() else ["bytes differ"]
            failures.extend("%s: %s: %s" % (label, out, p) for p in problems)
        return results

    d = lambda name: os.path.join(work, name)
    for name, flags, data in RUNS:
        if only and name not in only:
            continue
        print("run", name, flush=True)
        outs = [name + ".safetensors", name + ".log.csv", name + ".ckpt"]
        both(name, lambda b: [b, "fit", d(data), "-o", name + ".safetensors", "--log", name + ".log.csv",
                              "--checkpoint", name + ".ckpt", "--checkpoint-every", "2", "--quiet"]
             + flags.split(), outs)
        both(name + " (eval)", lambda b: [b, "eval", name + ".safetensors", d(data)], [])
        if data in ("w4.npy", "w3.npy"):
            continue  # large code files; the small runs cover encode and reconstruct
        for out in ("codes.npy", "codes.npz", "codes.csv", "recon.npy"):
            sub = "reconstruct" if out.startswith("recon") else "encode"
            both("%s (%s %s)" % (name, sub, out),
                 lambda b: [b, sub, name + ".safetensors", d(data), "-o", name + "." + out], [name + "." + out])
    if not only or "resume" in only:
        print("run resume", flush=True)
        # Stop at 150 of 300 epochs, then resume to 300: the model equals w1_short's.
        both("resume part 1", lambda b: [b, "fit", d("seed.npy"), "-o", "part.safetensors", "-e", "150",
                                         "--checkpoint", "resume.ckpt", "--checkpoint-every", "50",
                                         "--log", "part.log.csv", "--quiet"],
             ["part.safetensors", "resume.ckpt", "part.log.csv"])
        both("resume part 2", lambda b: [b, "fit", d("seed.npy"), "-o", "resumed.safetensors", "-e", "300",
                                         "--resume", "resume.ckpt", "--log", "resumed.log.csv", "--quiet"],
             ["resumed.safetensors", "resumed.log.csv"])
        both("init", lambda b: [b, "fit", d("small.npy"), "-o", "init.safetensors", "-e", "5", "--init",
                                "sparsemax.safetensors", "--encoder", "topk", "--k", "2", "--quiet"],
             ["init.safetensors"])
        both("demo", lambda b: [b, "demo", "-o", "demo", "-e", "500"],
             ["demo/model.safetensors", "demo/log.csv", "demo/data.npy"])
        for bad in (["fit", d("small.npy"), "-o", "x.safetensors", "--lr", "-1"],
                    ["fit", d("small.npy"), "-o", "x.safetensors", "--encoder", "nope"],
                    ["fit", d("small.npy"), "-o", "x.safetensors", "--encoder", "topk"],
                    ["fit", d("missing.npy"), "-o", "x.safetensors"],
                    ["encode", "missing.safetensors", d("small.npy"), "-o", "x.npy"]):
            both("bad " + " ".join(bad[3:] if bad[0] == "fit" else bad[:2]), lambda b: [b] + bad, [])
    if failures:
        print("\n%d difference(s):" % len(failures))
        for f in failures:
            print(" ", f)
        return 1
    if changed_models:
        print("%d model files differ only by the keys named on purpose (--added/--dropped)" % len(changed_models))
    print("all outputs match")
    if not args.keep:
        # The runs leave about 3 GB; a gate run per change filled the disk once.
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
