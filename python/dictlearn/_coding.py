"""sparse_encode and SparseCoder: the library's coders on a fixed dictionary.

Conventions as scikit-learn's: rows are signals, x ≈ r·D with D
n_components x n_features, the lasso objective ½‖x − rD‖² + α‖r‖₁ (α as
scikit-learn's `alpha`, SPAMS's lambda1). With algorithm="omp", `alpha`
is scikit-learn's tolerance, the largest squared residual (the library's
max_error), and overrides n_nonzero_coefs, as in scikit-learn.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from . import _core, _params

# The coders by scikit-learn's names and the library's (both accepted).
_SKLEARN_CODERS = {"lasso_lars": "lasso-lars", "lasso_cd": "lasso-cd", "lars": "lars",
                   "omp": "omp", "threshold": "threshold", "fista": "fista"}

_CODING = _params.rows("coding")


def _coder_name(algorithm, name="algorithm"):
    if not isinstance(algorithm, str):
        raise ValueError(f"{name}: expected one of {', '.join(_SKLEARN_CODERS)}, got {algorithm!r}")
    coder = _SKLEARN_CODERS.get(algorithm, algorithm)
    if coder not in _core.coders():
        raise ValueError(f"{name}: expected one of {', '.join(_SKLEARN_CODERS)}, "
                         f"got {algorithm!r}")
    return coder


def coding_flags(n_features, n_components, algorithm, n_nonzero_coefs=None, alpha=None,
                 max_error=None, l2=None, positive=False, max_iter=None, coder_tol=None,
                 n_jobs=None, names=None):
    """The library's coding flags for scikit-learn's coding keywords.

    scikit-learn's defaults where it has them: n_nonzero_coefs
    min(max(n_features // 10, 1), n_components) for omp and lars; alpha 1.0
    for the lasso coders and threshold. For omp, alpha is the squared-residual
    tolerance (max_error) and overrides n_nonzero_coefs, as scikit-learn's
    documentation says (its 1.2 code ignores alpha for omp).
    """
    names = names or {}
    coder = _coder_name(algorithm, names.get("algorithm", "algorithm"))
    reads = {"omp": {"n_nonzero_coefs", "max_error"}, "lars": {"n_nonzero_coefs"},
             "lasso-lars": {"alpha", "l2", "max_iter"}, "lasso-cd": {"alpha", "l2", "max_iter",
                                                                    "coder_tol"},
             "fista": {"alpha", "l2", "max_iter", "coder_tol"}, "threshold": {"alpha"}}[coder]
    values = {"algorithm": coder, "positive": positive, "n_jobs": _params.threads_of(n_jobs)}
    if coder == "omp":
        if alpha is not None:
            values["max_error"] = alpha
        elif max_error is not None:
            values["max_error"] = max_error
            values["n_nonzero_coefs"] = n_nonzero_coefs
        else:
            values["n_nonzero_coefs"] = (n_nonzero_coefs if n_nonzero_coefs is not None
                                         else default_nonzero(n_features, n_components))
    elif coder == "lars":
        values["n_nonzero_coefs"] = (n_nonzero_coefs if n_nonzero_coefs is not None
                                     else default_nonzero(n_features, n_components))
    else:
        values["alpha"] = 1.0 if alpha is None else alpha
    for key, value in (("l2", l2), ("max_iter", max_iter), ("coder_tol", coder_tol)):
        if key in reads:
            values[key] = value
    if positive and coder in ("omp", "lars"):
        raise ValueError(f"{names.get('positive', 'positive')}: the {coder} coder has no "
                         f"positive form")
    # A keyword the coder does not read is left out, not refused: scikit-learn
    # ignores transform_alpha under omp's n_nonzero_coefs the same way.
    flags = [("coder", coder)] + [f for f in _params.to_flags(
        {k: v for k, v in values.items() if k != "algorithm"}, _CODING)]
    return flags


def default_nonzero(n_features, n_components):
    """scikit-learn's n_nonzero_coefs when none is given."""
    return min(max(n_features // 10, 1), n_components)


def encode(dictionary, X, flags, sparse_output=False, names=None):
    """The library's sparse_encode on float arrays of one dtype (no copy)."""
    try:
        result = _core.sparse_encode(dictionary, X, flags, sparse_output)
    except ValueError as error:
        raise _params.translate(error, _CODING, names) from None
    if not sparse_output:
        return result
    import scipy.sparse

    values, indices, indptr, shape = result
    return scipy.sparse.csr_matrix((values, indices, indptr), shape=shape)


def check_finite(X, name="X"):
    """scikit-learn's finiteness check and messages, by the library's one-pass
    vectorized scan (GIL released) instead of NumPy's temporaries."""
    bad = _core.first_non_finite(X)
    if bad >= 0:
        value = X.flat[bad]
        if np.isnan(value):
            raise ValueError(f"Input {name} contains NaN.")
        raise ValueError(f"Input {name} contains infinity or a value too large for "
                         f"{X.dtype!r}.")
    return X


def check_data(X, name="X"):
    """scikit-learn's check_array as the estimators use it: float32 and float64
    kept as they are (read in place when C-contiguous), other numbers and
    objects of numbers converted to float64 with one copy, 2-D, finite."""
    X = check_array(X, dtype=[np.float64, np.float32], order="C", input_name=name,
                    force_all_finite=False)
    return check_finite(X, name)


def split(codes):
    """split_sign: [max(r, 0), max(-r, 0)], as scikit-learn's."""
    n_samples, n_components = codes.shape
    out = np.empty((n_samples, 2 * n_components), dtype=codes.dtype)
    out[:, :n_components] = np.maximum(codes, 0)
    out[:, n_components:] = -np.minimum(codes, 0)
    return out


def sparse_encode(X, dictionary, *, algorithm="lasso_lars", n_nonzero_coefs=None, alpha=None,
                  max_error=None, l2=None, max_iter=1000, coder_tol=None, n_jobs=None,
                  positive=False, sparse_output=False):
    """Sparse codes of X (n_samples x n_features) over `dictionary`
    (n_components x n_features), as scikit-learn's sparse_encode.

    algorithm: "lasso_lars" (exact LARS homotopy), "lasso_cd" (coordinate
    descent to a duality gap), "fista", "lars", "omp" (Batch-OMP),
    "threshold"; the library's spellings ("lasso-lars") too. Computed in
    X's dtype when both arrays are float32 or float64 (float32 X with a
    float64 dictionary: the dictionary is converted). max_error, l2 and
    coder_tol are the library's (omp's squared-residual bound, the elastic
    net's λ₂, the gap tolerance). sparse_output: a scipy.sparse.csr_matrix
    built without the dense matrix. n_jobs: None or -1 all cores; the codes
    do not depend on it.
    """
    X = check_data(X)
    D = check_array(dictionary, dtype=[np.float64, np.float32], order="C",
                    input_name="dictionary")
    if D.shape[1] != X.shape[1]:
        raise ValueError(f"dictionary: {D.shape[1]} features but X has {X.shape[1]}")
    D = D.astype(X.dtype, copy=False)
    flags = coding_flags(X.shape[1], D.shape[0], algorithm, n_nonzero_coefs, alpha, max_error, l2,
                         positive, max_iter, coder_tol, n_jobs)
    return encode(D, X, flags, sparse_output)


class SparseCoder(TransformerMixin, BaseEstimator):
    """Codes over a fixed dictionary, as scikit-learn's SparseCoder.

    The transform_* keywords are sparse_encode's (transform_algorithm its
    algorithm, positive_code its positive; transform_alpha None is 1.0 for
    the lasso coders). fit learns and checks nothing, as scikit-learn's.
    """

    def __init__(self, dictionary, *, transform_algorithm="omp", transform_n_nonzero_coefs=None,
                 transform_alpha=None, transform_max_error=None, transform_l2=None,
                 transform_max_iter=1000, transform_coder_tol=None, split_sign=False,
                 n_jobs=None, positive_code=False, sparse_output=False):
        self.dictionary = dictionary
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.transform_max_error = transform_max_error
        self.transform_l2 = transform_l2
        self.transform_max_iter = transform_max_iter
        self.transform_coder_tol = transform_coder_tol
        self.split_sign = split_sign
        self.n_jobs = n_jobs
        self.positive_code = positive_code
        self.sparse_output = sparse_output

    def fit(self, X, y=None):
        """Learns nothing (the dictionary is given); as scikit-learn's, X is not read."""
        return self

    @property
    def n_components_(self):
        """The number of atoms (the dictionary's rows)."""
        return np.shape(self.dictionary)[0]

    @property
    def n_features_in_(self):
        """The atoms' dimension (the dictionary's columns)."""
        return np.shape(self.dictionary)[1]

    def transform(self, X, y=None):
        """The codes of X (n_samples x n_atoms; x 2 with split_sign)."""
        X = check_data(X)
        return transform_codes(self, X, np.asarray(self.dictionary))

    def inverse_transform(self, codes):
        """codes · dictionary."""
        return inverse(codes, np.asarray(self.dictionary), None, self.split_sign)

    def _more_tags(self):
        return {"requires_fit": False, "preserves_dtype": [np.float64, np.float32]}


# The transform keywords and the coding table's keywords they stand for.
TRANSFORM_NAMES = {"algorithm": "transform_algorithm", "n_nonzero_coefs": "transform_n_nonzero_coefs",
                   "alpha": "transform_alpha", "max_error": "transform_max_error",
                   "l2": "transform_l2", "max_iter": "transform_max_iter",
                   "coder_tol": "transform_coder_tol", "positive": "positive_code",
                   "n_jobs": "n_jobs"}


def transform_codes(estimator, X, D):
    """Codes of X over D by the estimator's transform_* keywords."""
    D = check_array(D, dtype=[np.float64, np.float32], order="C", input_name="dictionary")
    if D.shape[1] != X.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features, but the dictionary's atoms have "
                         f"{D.shape[1]}")
    D = D.astype(X.dtype, copy=False)
    names = {_CODING[k]["flag"]: v for k, v in TRANSFORM_NAMES.items()}
    sparse_output = getattr(estimator, "sparse_output", False)
    if estimator.split_sign and sparse_output:
        raise ValueError("split_sign: not with sparse_output (the split codes are built dense)")
    transform_alpha = estimator.transform_alpha
    if transform_alpha is None and _coder_name(estimator.transform_algorithm,
                                               "transform_algorithm") not in ("omp", "lars"):
        # scikit-learn 1.2's learners: transform_alpha None is the estimator's alpha.
        transform_alpha = getattr(estimator, "alpha", None)
    flags = coding_flags(X.shape[1], D.shape[0], estimator.transform_algorithm,
                         estimator.transform_n_nonzero_coefs, transform_alpha,
                         estimator.transform_max_error, estimator.transform_l2,
                         estimator.positive_code, estimator.transform_max_iter,
                         estimator.transform_coder_tol, estimator.n_jobs,
                         names={k: TRANSFORM_NAMES[k] for k in TRANSFORM_NAMES})
    codes = encode(D, X, flags, sparse_output, names)
    return split(codes) if estimator.split_sign else codes


def inverse(codes, D, bias, split_sign=False):
    """codes · D (+ the decoder bias); split-sign codes are folded first."""
    codes = check_array(codes, dtype=[np.float64, np.float32], accept_sparse="csr",
                        input_name="codes")
    k = D.shape[0]
    if split_sign:
        if codes.shape[1] != 2 * k:
            raise ValueError(f"codes: {codes.shape[1]} columns, expected 2 x {k} (split_sign)")
        codes = codes[:, :k] - codes[:, k:]
    elif codes.shape[1] != k:
        raise ValueError(f"codes: {codes.shape[1]} columns, expected {k} (one per atom)")
    out = codes @ D.astype(codes.dtype, copy=False)
    out = np.asarray(out)
    if bias is not None:
        out = out + bias.astype(out.dtype, copy=False)
    return out
