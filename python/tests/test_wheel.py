"""The wheel: built offline with Debian's setuptools and wheel, installed into a
fresh virtualenv made with --system-site-packages, imported and used there."""

import os
import shutil
import subprocess
import sys
import venv

import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_wheel_installs_into_a_fresh_virtualenv(tmp_path):
    build = os.environ.get("DICTLEARN_CMAKE_BUILD_DIR")
    if not build:
        pytest.skip("DICTLEARN_CMAKE_BUILD_DIR not set (CTest sets it to its build)")
    env = dict(os.environ, DICTLEARN_CMAKE_BUILD_DIR=build)
    env.pop("PYTHONPATH", None)
    # A copy of the package's sources: pip builds in the tree it is given.
    source = tmp_path / "src"
    shutil.copytree(os.path.join(PYTHON_DIR, "dictlearn"), source / "dictlearn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(PYTHON_DIR, "setup.py"), source)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                    "--no-index", "-w", str(dist), str(source)], check=True, env=env,
                   cwd=tmp_path, capture_output=True)
    wheels = list(dist.glob("dictlearn_cpp-*.whl"))
    assert len(wheels) == 1, wheels
    venv.create(tmp_path / "venv", system_site_packages=True, with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-deps", str(wheels[0])],
                   check=True, env=env, capture_output=True)
    code = ("import dictlearn, numpy as np; "
            "X = np.random.default_rng(0).standard_normal((50, 6)); "
            "est = dictlearn.KSVD(n_components=4, n_nonzero_coefs=2, max_iter=2).fit(X); "
            "print(dictlearn.__file__, est.transform(X).shape)")
    out = subprocess.run([python, "-c", code], check=True, env=env, capture_output=True,
                         text=True, cwd=tmp_path).stdout
    assert str(tmp_path / "venv") in out and "(50, 4)" in out
