"""Shared data and the CLI for the Python package's tests."""

import os
import shutil

import numpy as np
import pytest


@pytest.fixture(scope="session")
def cli():
    """The dictlearn CLI of the same build (DICTLEARN_CLI, set by CTest)."""
    path = os.environ.get("DICTLEARN_CLI") or shutil.which("dictlearn")
    if not path or not os.path.exists(path):
        if os.environ.get("CI"):
            pytest.fail("DICTLEARN_CLI is not set: the CLI comparisons cannot run")
        pytest.skip("no dictlearn CLI (set DICTLEARN_CLI)")
    return path


def mixtures(n_samples=300, n_features=12, n_atoms=8, nonzero=3, noise=0.05, seed=0,
             dtype=np.float64):
    """Signals made of a few unit atoms plus noise (a planted dictionary)."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_atoms, n_features))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    R = np.zeros((n_samples, n_atoms))
    for i in range(n_samples):
        R[i, rng.choice(n_atoms, nonzero, replace=False)] = rng.standard_normal(nonzero)
    X = R @ D + noise * rng.standard_normal((n_samples, n_features))
    return X.astype(dtype), D.astype(dtype)


@pytest.fixture
def data():
    return mixtures()
