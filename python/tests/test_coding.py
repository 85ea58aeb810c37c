"""sparse_encode and SparseCoder against scikit-learn and the library."""

import numpy as np
import pytest
import scipy.sparse
import sklearn.decomposition

import dictlearn
from conftest import mixtures


@pytest.mark.parametrize("algorithm", ["omp", "lasso_lars", "threshold", "lars"])
def test_same_codes_as_scikit_learn(algorithm):
    X, D = mixtures(n_samples=80, n_features=12, n_atoms=10)
    kwargs = {"omp": {"n_nonzero_coefs": 3}, "lars": {"n_nonzero_coefs": 3},
              "lasso_lars": {"alpha": 0.1}, "threshold": {"alpha": 0.2}}[algorithm]
    ours = dictlearn.sparse_encode(X, D, algorithm=algorithm, **kwargs)
    theirs = sklearn.decomposition.sparse_encode(X, D, algorithm=algorithm, **kwargs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8)


def test_omp_alpha_is_the_squared_residual_tolerance():
    # scikit-learn's sparse_encode documents alpha as OMP's tolerance but 1.2
    # ignores it (it passes tol=None); dictlearn does what the documentation
    # says, which is orthogonal_mp_gram's tol.
    from sklearn.linear_model import orthogonal_mp_gram

    X, D = mixtures(n_samples=50, n_features=12, n_atoms=10)
    ours = dictlearn.sparse_encode(X, D, algorithm="omp", alpha=0.05)
    theirs = orthogonal_mp_gram(D @ D.T, D @ X.T, tol=0.05,
                                norms_squared=(X ** 2).sum(axis=1)).T
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-8)
    assert (np.count_nonzero(ours, axis=1) > 1).any()


@pytest.mark.parametrize("algorithm", ["lasso_cd", "fista"])
def test_lasso_solvers_reach_the_lasso_optimum(algorithm):
    X, D = mixtures(n_samples=40, n_features=12, n_atoms=10)
    exact = dictlearn.sparse_encode(X, D, algorithm="lasso_lars", alpha=0.1)
    ours = dictlearn.sparse_encode(X, D, algorithm=algorithm, alpha=0.1, coder_tol=1e-12,
                                   max_iter=100000)

    def objective(R):
        return 0.5 * ((X - R @ D) ** 2).sum(axis=1) + 0.1 * np.abs(R).sum(axis=1)

    np.testing.assert_allclose(objective(ours), objective(exact), rtol=1e-7)


def test_csr_output_equals_the_dense_codes():
    X, D = mixtures(n_samples=70, n_features=12, n_atoms=10)
    dense = dictlearn.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=2)
    csr = dictlearn.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=2, sparse_output=True)
    assert scipy.sparse.isspmatrix_csr(csr)
    np.testing.assert_array_equal(csr.toarray(), dense)
    assert csr.nnz <= 2 * 70


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_codes_in_the_arrays_dtype(dtype):
    X, D = mixtures(n_samples=20, n_features=8, n_atoms=6, dtype=dtype)
    codes = dictlearn.sparse_encode(X, D, algorithm="lasso_lars", alpha=0.1)
    assert codes.dtype == dtype


def test_sparse_coder_transform_and_inverse():
    X, D = mixtures(n_samples=30, n_features=8, n_atoms=6)
    coder = dictlearn.SparseCoder(D, transform_algorithm="omp", transform_n_nonzero_coefs=3)
    codes = coder.fit(X).transform(X)
    assert coder.n_components_ == 6 and coder.n_features_in_ == 8
    np.testing.assert_allclose(coder.inverse_transform(codes), codes @ D)
    split = dictlearn.SparseCoder(D, transform_algorithm="omp", transform_n_nonzero_coefs=3,
                                  split_sign=True).transform(X)
    assert split.shape == (30, 12)
    np.testing.assert_array_equal(split[:, :6] - split[:, 6:], codes)


def test_bad_coding_parameters_name_the_keyword():
    X, D = mixtures(n_samples=10, n_features=8, n_atoms=6)
    with pytest.raises(ValueError, match="algorithm: expected one of"):
        dictlearn.sparse_encode(X, D, algorithm="nope")
    with pytest.raises(ValueError, match="positive: the omp coder has no positive form"):
        dictlearn.sparse_encode(X, D, algorithm="omp", positive=True)
    with pytest.raises(ValueError, match=r"^transform_alpha: must be"):
        dictlearn.SparseCoder(D, transform_algorithm="lasso_lars",
                              transform_alpha=-1.0).transform(X)
    with pytest.raises(ValueError, match="dictionary: 8 features but X has 7"):
        dictlearn.sparse_encode(X[:, :7], D)
    with pytest.raises(ValueError, match="NaN"):
        dictlearn.sparse_encode(np.full((2, 8), np.nan), D)
