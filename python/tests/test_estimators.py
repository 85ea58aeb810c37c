"""The estimators under scikit-learn's own checks, in pipelines, pickled, and
equal to the CLI on the same data, seed and dtype."""

import os
import pickle
import subprocess

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import check_estimator

import dictlearn
from conftest import mixtures

# Small settings so that scikit-learn's ~40 checks per estimator stay quick.
LEARNERS = [
    dictlearn.MiniBatchDictionaryLearning(n_components=3, max_iter=3, batch_size=16),
    dictlearn.DictionaryLearning(n_components=3, max_iter=3),
    dictlearn.KSVD(n_components=3, n_nonzero_coefs=1, max_iter=3),
    dictlearn.MOD(n_components=3, n_nonzero_coefs=1, max_iter=3),
    dictlearn.GradientDictionaryLearning(n_components=3, max_iter=50),
]


@pytest.mark.parametrize("estimator", LEARNERS, ids=lambda e: type(e).__name__)
def test_check_estimator(estimator):
    check_estimator(estimator)


def test_sparse_coder_passes_the_checks_that_apply():
    # As scikit-learn exempts its own SparseCoder (a fixed dictionary: the
    # checks' data have other shapes), the checks that apply to a
    # transformer whose fit learns nothing.
    from sklearn.utils import estimator_checks as ec

    X, D = mixtures(n_samples=40, n_features=5, n_atoms=4)
    coder = dictlearn.SparseCoder(D, transform_algorithm="lasso_lars", transform_alpha=0.1)
    name = "SparseCoder"
    ec.check_no_attributes_set_in_init(name, coder)
    ec.check_get_params_invariance(name, coder)
    ec.check_set_params(name, coder)
    codes = coder.fit_transform(X)
    assert codes.shape == (40, 4)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(coder)).transform(X), codes)
    np.testing.assert_array_equal(clone(coder).transform(X), codes)


def test_pipeline_and_grid_search():
    X, _ = mixtures(n_samples=200, n_features=10)
    y = (X[:, 0] > 0).astype(int)
    pipe = Pipeline([("dict", dictlearn.MiniBatchDictionaryLearning(n_components=6, max_iter=2,
                                                                    batch_size=32,
                                                                    transform_algorithm="lasso_lars",
                                                                    transform_alpha=0.05)),
                     ("clf", LogisticRegression())])
    search = GridSearchCV(pipe, {"dict__alpha": [0.1, 0.5], "dict__n_components": [4, 6]}, cv=2)
    search.fit(X, y)
    assert set(search.best_params_) == {"dict__alpha", "dict__n_components"}
    assert search.score(X, y) > 0.5


@pytest.mark.parametrize("estimator", LEARNERS, ids=lambda e: type(e).__name__)
def test_clone_and_pickle_round_trip(estimator):
    X, _ = mixtures(n_samples=120, n_features=6)
    fitted = clone(estimator).fit(X)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.components_, fitted.components_)
    np.testing.assert_array_equal(again.transform(X), fitted.transform(X))
    assert clone(fitted).get_params() == estimator.get_params()


@pytest.mark.parametrize("estimator", LEARNERS, ids=lambda e: type(e).__name__)
def test_results_do_not_depend_on_n_jobs(estimator):
    X, _ = mixtures(n_samples=400, n_features=12)
    one = clone(estimator).set_params(n_jobs=1).fit(X)
    two = clone(estimator).set_params(n_jobs=2).fit(X)
    np.testing.assert_array_equal(one.components_, two.components_)
    np.testing.assert_array_equal(one.transform(X), two.transform(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trains_and_codes_in_the_arrays_dtype(dtype):
    X, _ = mixtures(n_samples=100, n_features=6, dtype=dtype)
    est = dictlearn.MiniBatchDictionaryLearning(n_components=4, max_iter=2, batch_size=20).fit(X)
    assert est.components_.dtype == dtype
    assert est.transform(X).dtype == dtype
    assert est.model_.dtype == np.dtype(dtype).name


def test_integer_and_object_arrays_are_converted_once():
    X, _ = mixtures(n_samples=60, n_features=5)
    ints = np.round(X * 10).astype(np.int64)
    est = dictlearn.KSVD(n_components=3, n_nonzero_coefs=1, max_iter=2).fit(ints)
    assert est.components_.dtype == np.float64
    objects = ints.astype(object)
    np.testing.assert_array_equal(clone(est).fit(objects).components_, est.components_)


CLI_CASES = [
    (dictlearn.MiniBatchDictionaryLearning(n_components=6, alpha=0.3, max_iter=3, batch_size=32,
                                           random_state=4, tol=None, max_no_improvement=None),
     ["--method", "online", "--atoms", "6", "--alpha", "0.3", "--epochs", "3",
      "--batch-size", "32", "--seed", "4"]),
    (dictlearn.KSVD(n_components=6, n_nonzero_coefs=2, max_iter=4, random_state=1),
     ["--method", "ksvd", "--atoms", "6", "--n-nonzero", "2", "--epochs", "4", "--seed", "1"]),
    (dictlearn.DictionaryLearning(n_components=5, alpha=0.2, max_iter=3, fit_algorithm="cd"),
     ["--method", "alternating", "--atoms", "5", "--alpha", "0.2", "--epochs", "3",
      "--coder", "lasso-cd"]),
    (dictlearn.GradientDictionaryLearning(n_components=4, max_iter=200, encoder="topk",
                                          n_nonzero_coefs=2, random_state=3),
     ["--atoms", "4", "--epochs", "200", "--encoder", "topk", "--k", "2", "--seed", "3"]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: type(c[0]).__name__)
def test_equals_the_cli_bit_for_bit(case, dtype, cli, tmp_path):
    estimator, flags = case
    X, _ = mixtures(n_samples=250, n_features=10, seed=7, dtype=np.dtype(dtype))
    data = tmp_path / "X.npy"
    np.save(data, X)
    model = tmp_path / "cli.safetensors"
    subprocess.run([cli, "fit", str(data), "-o", str(model), "--dtype", dtype, "--quiet", *flags],
                   check=True)
    from_cli = dictlearn.load(model)
    fitted = clone(estimator).fit(X)
    assert from_cli.components_.dtype == fitted.components_.dtype
    np.testing.assert_array_equal(fitted.components_, from_cli.components_)
    if fitted.model_.has_encoder:
        np.testing.assert_array_equal(fitted.model_.encoder_weight, from_cli.model_.encoder_weight)
    # The files record the same settings (the data file's name aside).
    fitted.save(tmp_path / "python.safetensors")
    saved = dictlearn.load(tmp_path / "python.safetensors")
    ours = {k: v for k, v in saved.model_.metadata.items() if k != "train.data"}
    theirs = {k: v for k, v in from_cli.model_.metadata.items() if k != "train.data"}
    assert ours == theirs


def test_saved_model_encodes_with_the_cli(cli, tmp_path):
    X, _ = mixtures(n_samples=150, n_features=8)
    est = dictlearn.KSVD(n_components=5, n_nonzero_coefs=2, max_iter=3).fit(X)
    path = tmp_path / "ksvd.safetensors"
    est.save(path)
    np.save(tmp_path / "X.npy", X)
    subprocess.run([cli, "encode", str(path), str(tmp_path / "X.npy"), "-o",
                    str(tmp_path / "codes.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), est.transform(X))
    np.testing.assert_allclose(est.model_.reconstruct(X), est.transform(X) @ est.components_,
                               rtol=1e-12, atol=1e-12)
    loaded = dictlearn.load(path)
    assert isinstance(loaded, dictlearn.KSVD)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_partial_fit_streams():
    X, _ = mixtures(n_samples=300, n_features=10)
    est = dictlearn.MiniBatchDictionaryLearning(n_components=5, batch_size=50, random_state=0)
    for start in range(0, 300, 50):
        est.partial_fit(X[start:start + 50])
    assert est.n_steps_ == 6
    assert est.components_.shape == (5, 10)
    again = pickle.loads(pickle.dumps(est))
    again.partial_fit(X[:50])  # continues from components_ with new statistics
    assert again.n_steps_ == 1


def test_log_and_callback():
    X, _ = mixtures(n_samples=100, n_features=6)
    seen = []
    est = dictlearn.DictionaryLearning(n_components=4, max_iter=3, callback=seen.append).fit(X)
    assert [row["epoch"] for row in est.log_] == [1, 2, 3] == [row["epoch"] for row in seen]
    assert est.n_iter_ == 3
    frame = est.log_frame()
    assert list(frame["epoch"]) == [1, 2, 3]


def test_a_callback_error_stops_the_fit():
    X, _ = mixtures(n_samples=100, n_features=6)

    def stop(stats):
        raise RuntimeError("stop here")

    est = dictlearn.DictionaryLearning(n_components=4, max_iter=5, callback=stop)
    with pytest.raises(RuntimeError, match="stop here"):
        est.fit(X)
    assert not hasattr(est, "model_")


BAD_INPUTS = [
    (np.ones((5, 3), dtype=complex), "Complex data not supported"),
    (np.array([["a", "b"], ["c", "d"]]), "could not convert|dtype='numeric'|Unable to convert"),
    (np.ones(5), "Expected 2D array"),
    (np.ones((4, 3, 2)), "Found array with dim 3"),
    (np.array([[1.0, np.nan], [2.0, 3.0]]), "NaN"),
    (np.array([[1.0, np.inf], [2.0, 3.0]]), "infinity"),
]


@pytest.mark.parametrize("X, message", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
@pytest.mark.parametrize("estimator", LEARNERS[:3], ids=lambda e: type(e).__name__)
def test_bad_input_is_a_value_error(estimator, X, message):
    with pytest.raises(ValueError, match=message):
        clone(estimator).fit(X)


def test_unfitted_and_wrong_width():
    X, _ = mixtures(n_samples=60, n_features=6)
    est = dictlearn.KSVD(n_components=3, n_nonzero_coefs=1, max_iter=2)
    with pytest.raises(NotFittedError):
        est.transform(X)
    est.fit(X)
    with pytest.raises(ValueError, match="X has 5 features"):
        est.transform(X[:, :5])


def test_bad_parameters_name_the_keyword():
    X, _ = mixtures(n_samples=60, n_features=6)
    with pytest.raises(ValueError, match=r"^alpha: must be"):
        dictlearn.MiniBatchDictionaryLearning(n_components=3, alpha=-1.0).fit(X)
    with pytest.raises(ValueError, match=r"^batch_size: must be"):
        dictlearn.MiniBatchDictionaryLearning(n_components=3, batch_size=0).fit(X)
    with pytest.raises(ValueError, match="fit_algorithm: expected one of"):
        dictlearn.MiniBatchDictionaryLearning(n_components=3, fit_algorithm="magic").fit(X)
    with pytest.raises(ValueError, match=r"^n_jobs: must be"):
        dictlearn.KSVD(n_components=3, n_jobs=0).fit(X)
    with pytest.raises(ValueError, match="learning_rate_init"):
        dictlearn.GradientDictionaryLearning(learning_rate_init=-1.0).fit(X)
    with pytest.raises(ValueError, match="random_state: must be >= 0"):
        dictlearn.MOD(n_components=3, random_state=-2).fit(X)


def test_load_refuses_a_bad_file(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(ValueError, match="bad.safetensors"):
        dictlearn.load(path)
    with pytest.raises(ValueError, match="missing.safetensors"):
        dictlearn.load(tmp_path / "missing.safetensors")


def test_save_refuses_a_bad_path_and_writes_nothing(tmp_path):
    X, _ = mixtures(n_samples=60, n_features=6)
    est = dictlearn.KSVD(n_components=3, n_nonzero_coefs=1, max_iter=2).fit(X)
    with pytest.raises(ValueError):
        est.save(tmp_path / "no" / "such" / "folder" / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_review_findings_stay_fixed():
    X, _ = mixtures(n_samples=200, n_features=8)
    # A model codes only arrays of its own dtype (the bytes are never reinterpreted).
    est = dictlearn.GradientDictionaryLearning(n_components=4, max_iter=5).fit(X)
    with pytest.raises(ValueError, match="expected a float64 array"):
        est.model_.encode(X.astype(np.float32))
    # fit() after partial_fit() ends the stream: the next step continues from fit's atoms.
    stream = dictlearn.MiniBatchDictionaryLearning(n_components=5, batch_size=40, max_iter=2,
                                                   random_state=0)
    stream.partial_fit(X[:40])
    stream.fit(X)
    fitted = stream.components_.copy()
    assert not hasattr(stream, "n_steps_")
    stream.partial_fit(X[40:80])
    assert stream.n_steps_ == 1
    fresh = dictlearn.MiniBatchDictionaryLearning(n_components=5, batch_size=40, max_iter=2,
                                                  random_state=0).fit(X)
    # fit() ignores the earlier stream (a stale one differs in every digit),
    # bit for bit: this once failed by 3e-16 in some runs, when small products
    # took Eigen's coefficient-based path, whose sums followed the alignment
    # of the batch buffer (src/kernels/gemm_isa.cpp).
    np.testing.assert_array_equal(fresh.components_, fitted)
    # transform_alpha None is the estimator's alpha (scikit-learn 1.2's learners).
    lasso = dictlearn.MiniBatchDictionaryLearning(n_components=5, alpha=0.1, max_iter=2,
                                                  transform_algorithm="lasso_lars").fit(X)
    np.testing.assert_array_equal(
        lasso.transform(X),
        dictlearn.sparse_encode(X, lasso.components_, algorithm="lasso_lars", alpha=0.1))
    # split_sign cannot be sparse.
    with pytest.raises(ValueError, match="split_sign: not with sparse_output"):
        dictlearn.SparseCoder(lasso.components_, split_sign=True, sparse_output=True).transform(X)


@pytest.mark.parametrize("estimator", [
    dictlearn.MiniBatchDictionaryLearning(n_components=5, alpha=0.3, max_iter=2, batch_size=40,
                                          random_state=3, tol=None, max_no_improvement=None),
    dictlearn.KSVD(n_components=5, n_nonzero_coefs=2, max_iter=3, random_state=2),
    dictlearn.GradientDictionaryLearning(n_components=4, max_iter=30, encoder="topk",
                                         n_nonzero_coefs=2, random_state=5),
], ids=lambda e: type(e).__name__)
def test_a_loaded_model_has_its_files_settings(estimator, tmp_path):
    X, _ = mixtures(n_samples=200, n_features=8)
    fitted = clone(estimator).fit(X)
    fitted.save(tmp_path / "m.safetensors")
    loaded = dictlearn.load(tmp_path / "m.safetensors")
    assert type(loaded) is type(estimator)
    again = clone(loaded).fit(X)  # the file's settings: the same run
    np.testing.assert_array_equal(again.components_, fitted.components_)


def test_partial_fit_starts_from_the_librarys_initialization():
    X, _ = mixtures(n_samples=200, n_features=8)
    from dictlearn import _core

    est = dictlearn.MiniBatchDictionaryLearning(n_components=5, batch_size=50, random_state=4,
                                                init_atoms="svd", max_steps=1, max_iter=1,
                                                tol=None, max_no_improvement=None,
                                                shuffle=False)
    est.partial_fit(X[:50])
    start = _core.initial_atoms(np.ascontiguousarray(X[:50]), 5, "svd", 4)
    one_step = clone(est).set_params(dict_init=start).fit(X[:50])
    np.testing.assert_array_equal(est.components_, one_step.components_)
