#!/usr/bin/python3
"""Issue 14's coding data (shared with issues 8 and 10): face patches and a dictionary of others.

    /usr/bin/python3 bench/face_patches.py OUT_DIR [--dtype float64|float32|both]

Writes OUT_DIR/face_X_{dtype}.npy (100,000 x 64, one signal per row) and
OUT_DIR/face_D_{dtype}.npy (256 x 64, one atom per row), skipping files that
exist. Deterministic and offline (about 5 s), from Debian's numpy, scipy 1.10
and scikit-learn 1.2:

- the image: scipy.misc.face(gray=True) / 255 (768 x 1024, float64; scipy
  1.10 ships it with a deprecation warning, filtered here; never
  scipy.datasets, which downloads);
- X: extract_patches_2d(face, (8, 8), max_patches=120000, random_state=0)
  (scikit-learn's uniform corners, with repeats), each patch flattened row by
  row to 64 values, its own mean subtracted, patches of norm < 1e-6 (flat
  ones) dropped, the first 100,000 kept in order, each divided by its norm;
- D: extract_patches_2d(face, (8, 8), max_patches=2000, random_state=1), the
  same preprocessing (mean removed, norm < 1e-6 dropped, unit norm), then
  every patch equal to a row of X or to an earlier kept atom dropped (so the
  atoms are other patches, pairwise distinct), the first 256 kept in order.

Everything is computed in float64; float32 files are the float64 arrays cast
once (norms 1 within 1e-7).
"""

import argparse
import os
import sys
import warnings

import numpy as np

N_SIGNALS = 100_000
N_DRAWN = 120_000
N_ATOMS = 256
N_ATOMS_DRAWN = 2_000
PATCH = (8, 8)


def face_image():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in 1.10, still shipped
        import scipy.misc

        return scipy.misc.face(gray=True).astype(np.float64) / 255


def unit_patches(image, count, seed):
    """`count` patches drawn with `seed`, mean removed, flat ones dropped, unit norm."""
    from sklearn.feature_extraction.image import extract_patches_2d

    P = extract_patches_2d(image, PATCH, max_patches=count, random_state=seed)
    P = P.reshape(len(P), -1).astype(np.float64)
    P -= P.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(P, axis=1)
    keep = norms >= 1e-6
    return P[keep] / norms[keep, None]


def make_data():
    """(X, D), both float64: see the module's docstring."""
    image = face_image()
    X = unit_patches(image, N_DRAWN, 0)
    if len(X) < N_SIGNALS:
        sys.exit(f"face_patches.py: only {len(X)} non-flat patches of {N_DRAWN}")
    X = X[:N_SIGNALS]
    seen = {row.tobytes() for row in X}
    atoms = []
    for row in unit_patches(image, N_ATOMS_DRAWN, 1):
        key = row.tobytes()
        if key in seen:
            continue
        seen.add(key)
        atoms.append(row)
        if len(atoms) == N_ATOMS:
            break
    if len(atoms) < N_ATOMS:
        sys.exit(f"face_patches.py: only {len(atoms)} distinct atoms of {N_ATOMS_DRAWN}")
    return X, np.array(atoms)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--dtype", choices=("float64", "float32", "both"), default="float64")
    args = parser.parse_args()
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    paths = {
        (name, dtype): os.path.join(args.out_dir, f"face_{name}_{dtype}.npy")
        for name in ("X", "D")
        for dtype in dtypes
    }
    if all(os.path.exists(path) for path in paths.values()):
        return
    os.makedirs(args.out_dir, exist_ok=True)
    X, D = make_data()
    for (name, dtype), path in paths.items():
        if os.path.exists(path):
            continue
        array = (X if name == "X" else D).astype(dtype)
        tmp = path + ".tmp.npy"
        np.save(tmp, array)
        os.replace(tmp, path)
        print(f"{path}: {array.shape[0]} x {array.shape[1]} {dtype}")


if __name__ == "__main__":
    main()
