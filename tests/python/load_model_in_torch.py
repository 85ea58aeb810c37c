#!/usr/bin/python3
"""Proves a dictlearn model file loads into the seed's PyTorch module.

    /usr/bin/python3 tests/python/load_model_in_torch.py MODEL.safetensors

Reads the file with numpy only (seed_module.read_safetensors), builds the
seed's DictionaryLearning(dim, n_atoms) with dim and n_atoms taken from the
"dictionary" tensor, calls load_state_dict(strict=True) with every tensor of
the file, checks the loaded parameters equal the file's values, and runs
forward on a few random points (codes must be finite, non-negative, rows
summing to 1; also compared with a numpy evaluation of the same model).

Exit status: 0 and "OK ..." on success; 77 (skip) if torch or numpy cannot be
imported; 1 with a message on any mismatch or unreadable file; 2 on bad usage.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def fail(msg):
    print("load_model_in_torch: FAIL: %s" % msg, file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) != 2:
        print("usage: %s MODEL.safetensors" % argv[0], file=sys.stderr)
        return 2
    path = argv[1]
    try:
        import numpy as np
        import torch
    except ImportError as e:
        print("load_model_in_torch: SKIP: %s" % e, file=sys.stderr)
        return 77
    import seed_module as sm

    try:
        tensors, metadata = sm.read_safetensors(path)
    except (OSError, sm.SafetensorsError) as e:
        fail(str(e))

    if "dictionary" not in tensors:
        fail("%s: no 'dictionary' tensor (has: %s)" % (path, ", ".join(tensors) or "none"))
    dic = tensors["dictionary"]
    if dic.ndim != 2 or dic.shape[0] < 1 or dic.shape[1] < 1:
        fail("%s: 'dictionary' has shape %s, expected (n_atoms, dim)" % (path, list(dic.shape)))
    n_atoms, dim = (int(s) for s in dic.shape)
    for name, arr in tensors.items():
        if arr.dtype.kind != "f":
            fail("%s: tensor %r has dtype %s, expected a float type" % (path, name, arr.dtype))

    torch.manual_seed(0)
    model = sm.DictionaryLearning(dim, n_atoms)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        fail("%s: load_state_dict(strict=True) failed (expected %s, file has %s): %s" % (
            path, expected, {k: tuple(v.shape) for k, v in tensors.items()}, e))

    loaded = model.state_dict()
    for name, arr in tensors.items():
        got = loaded[name].detach().numpy()
        if not np.array_equal(got, arr.astype(np.float32)):
            fail("%s: tensor %r differs after loading" % (path, name))
        if not np.all(np.isfinite(arr)):
            fail("%s: tensor %r has non-finite values" % (path, name))

    rng = np.random.RandomState(0)
    x = rng.standard_normal((5, dim)).astype(np.float32)
    with torch.no_grad():
        codes = model(torch.from_numpy(x))
        loss = model.loss(torch.from_numpy(x), codes).item()
    codes = codes.numpy()
    if codes.shape != (5, n_atoms):
        fail("forward gave shape %s, expected %s" % (codes.shape, (5, n_atoms)))
    if not np.all(np.isfinite(codes)) or np.any(codes < 0):
        fail("forward gave non-finite or negative codes")
    if not np.allclose(codes.sum(axis=1), 1.0, atol=1e-5):
        fail("code rows do not sum to 1: %s" % codes.sum(axis=1))

    # the same model evaluated in numpy, float64
    w = tensors["attributor.0.weight"].astype(np.float64)
    b = tensors["attributor.0.bias"].astype(np.float64)
    z = x.astype(np.float64) @ w.T + b
    z -= z.max(axis=1, keepdims=True)
    ref = np.exp(z)
    ref /= ref.sum(axis=1, keepdims=True)
    if not np.allclose(codes, ref, rtol=1e-4, atol=1e-6):
        fail("torch codes differ from numpy evaluation by %g" % np.abs(codes - ref).max())

    dtypes = sorted({str(v.dtype) for v in tensors.values()})
    print("OK %s: dim=%d n_atoms=%d dtypes=%s metadata_keys=%s loss(5 random points)=%.6g torch=%s" % (
        path, dim, n_atoms, ",".join(dtypes), sorted(metadata), loss, torch.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
