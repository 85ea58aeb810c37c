"""What needs a process of its own: Ctrl-C during a fit, and peak memory with
a large input (no copy of a C-contiguous array)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

ENV = dict(os.environ)


def run_python(code, **kwargs):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.parametrize("learner", ["GradientDictionaryLearning(n_components=16, max_iter=10**7)",
                                     "MiniBatchDictionaryLearning(n_components=16, max_iter=10**6,"
                                     " tol=None, max_no_improvement=None)"])
def test_ctrl_c_stops_a_fit_within_a_second_and_writes_nothing(learner, tmp_path):
    out = tmp_path / "model.safetensors"
    process = run_python(f"""
        import numpy as np, sys, dictlearn
        X = np.random.default_rng(0).standard_normal((4000, 32))
        est = dictlearn.{learner}
        print("fitting", flush=True)
        est.fit(X)
        est.save({str(out)!r})
    """)
    assert process.stdout.readline().strip() == "fitting"
    time.sleep(1.5)  # well into the fit
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    waited = time.monotonic() - sent
    assert process.returncode != 0
    assert "KeyboardInterrupt" in stderr
    assert waited < 1.5, f"stopped {waited:.2f} s after Ctrl-C"
    assert not out.exists()


def test_no_copy_of_a_large_c_contiguous_input():
    # 1 GiB of float32: fitting and encoding must stay below 1.2 GiB plus the
    # model (the process's peak resident size, interpreter and libraries included).
    process = run_python("""
        import resource, numpy as np, dictlearn
        n, d = (1 << 30) // (4 * 64), 64
        X = np.empty((n, d), dtype=np.float32)
        rng = np.random.default_rng(0)
        for start in range(0, n, 1 << 16):  # 16 MiB at a time
            X[start:start + (1 << 16)] = rng.standard_normal((min(1 << 16, n - start), d),
                                                             dtype=np.float32)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        est = dictlearn.MiniBatchDictionaryLearning(n_components=32, max_steps=20, batch_size=256,
                                                    tol=None, max_no_improvement=None,
                                                    transform_algorithm="threshold",
                                                    transform_alpha=0.5)
        est.fit(X)
        codes = est.transform(X[:100000])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(before, peak)
    """)
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    before, peak = map(int, stdout.strip().splitlines()[-1].split())
    limit = 1.2 * (1 << 30) + 100000 * 32 * 4
    assert peak < limit, f"peak {peak / 2**30:.3f} GiB, {before / 2**30:.3f} GiB before the fit"
