"""The learners as scikit-learn estimators, over `dictlearn fit` in memory.

Each estimator is one method of `dictlearn fit --method`; its keywords are
rows of the library's parameter tables (_params), and fit() hands them to
the library as the command line's flags (fit_job_from_flags), so that a fit
here is the CLI's run on the same data, seed and dtype, bit for bit.
"""

import inspect
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _coding, _core, _params

# fit's options every classical method shares with the gradient learner, by
# the keyword the estimators give them (the fit table's own Python names).
_SHARED = {"atoms": "n_components", "epochs": "max_iter", "batch-size": "batch_size",
           "seed": "random_state", "threads": "n_jobs"}


def method_keywords(method, renames=None):
    """keyword -> row for the library options `method` reads.

    gradient: the fit table (FitOptions) and the job's preset and patch
    shape; a classical method: its rows of the learning table, the coding
    table's (its coding step) and the shared rows of the fit table.
    `renames`: (table, python name) -> keyword, where scikit-learn's name
    differs (fit_algorithm for the coder) or two tables share a name.
    """
    renames = renames or {}
    keywords = {}

    def add(table, row):
        name = renames.get((table, row["python"]), row["python"])
        if name is None:
            return
        if name in keywords:
            raise RuntimeError(f"{method}: keyword {name} from two rows ({table})")
        keywords[name] = row

    if method == "gradient":
        for row in _params.TABLES["fit"]:
            add("fit", row)
        for row in _params.TABLES["fit_job"]:
            if row["flag"] in ("preset", "patch-shape"):
                add("fit_job", row)
        return keywords
    for row in _params.TABLES["fit"]:
        if row["flag"] in _SHARED and (row["flag"] != "batch-size" or method == "online"):
            add("fit", row)
    for row in _params.TABLES["learning"]:
        if row["flag"] != "method" and method in row["readers"]:
            add("learning", row)
    for row in _params.TABLES["coding"]:
        if row["flag"] != "threads":
            add("coding", row)
    for row in _params.TABLES["fit_job"]:
        if row["flag"] == "patch-shape":
            add("fit_job", row)
    return keywords


class _Learner(TransformerMixin, BaseEstimator):
    """fit / transform / inverse_transform / save over a library model."""

    _method = None      # fit's --method
    _renames = {}       # (table, python name) -> keyword
    _computed = ()      # keywords converted before they become flags

    @classmethod
    def _keywords(cls):
        return method_keywords(cls._method, cls._renames)

    def _values(self, X):
        """keyword -> value for the flags: the estimator's parameters, with
        random_state and n_jobs converted; subclasses fill their own."""
        values = {name: getattr(self, name) for name in self._keywords() if hasattr(self, name)}
        if "random_state" in values:
            values["random_state"] = _params.seed_of(values["random_state"])
        if "n_jobs" in values:
            values["n_jobs"] = _params.threads_of(values["n_jobs"])
        return values

    def _flags(self, X):
        values = self._values(X)
        keywords = self._keywords()
        flags = [] if self._method == "gradient" else [("method", self._method)]
        flags += _params.to_flags(values, keywords)
        if self._method != "gradient":
            # The rows fit shares with the gradient learner have its defaults
            # (--epochs 10000, --batch-size 0); a classical method's are its
            # own: a value given is always sent.
            sent = {flag for flag, _ in flags}
            for flag, name in _SHARED.items():
                if name in keywords and values.get(name) is not None and flag not in sent:
                    flags.append((flag, _params.flag_text(name, keywords[name], values[name])))
        # The coder is always named: the coding table's default (threshold) is
        # not the learners' (lasso-lars, or omp for ksvd and mod).
        for name, row in keywords.items():
            if row["flag"] == "coder" and not any(f == "coder" for f, _ in flags):
                flags.append(("coder", values[name]))
        return flags

    def _start(self, X):
        return None

    def _check_X(self, X, reset):
        """scikit-learn's _validate_data (n_features_in_, dtype, 2-D, C order)
        with the library's finiteness scan."""
        X = self._validate_data(X, dtype=[np.float64, np.float32], order="C", reset=reset,
                                force_all_finite=False)
        return _coding.check_finite(X)

    def _check_samples(self, X):
        if X.shape[0] < 2:
            raise ValueError(f"n_samples = {X.shape[0]}: {type(self).__name__} needs at least 2 "
                             f"samples to learn a dictionary")

    def _run(self, X, start):
        keywords = self._keywords()
        try:
            flags = self._flags(X)
            callback = getattr(self, "callback", None)
            verbose = getattr(self, "verbose", False)
            if verbose:
                user = callback

                def callback(stats):
                    print(f"[{type(self).__name__}] epoch {stats['epoch']}: loss {stats['loss']:.6g}"
                          f", mse {stats['mse']:.6g}, L0 {stats['l0']:.3g}, "
                          f"{stats['seconds']:.2f} s", flush=True)
                    if user is not None:
                        user(stats)

            return _core.fit(X, flags, start, callback)
        except ValueError as error:
            raise _params.translate(error, keywords, self._extra_names()) from None

    def _extra_names(self):
        return {"coder": "fit_algorithm"} if "fit_algorithm" in self._keywords() else {}

    def fit(self, X, y=None):
        """Learns the dictionary from X (n_samples x n_features), in X's dtype
        (float32 or float64; other numbers as float64). Returns self."""
        X = self._check_X(X, reset=True)
        self._check_samples(X)
        model, summary, log, notes = self._run(X, self._start(X))
        for note in notes:  # e.g. the values the "sae" preset chose, by keyword
            warnings.warn(str(_params.translate(note, self._keywords())), stacklevel=2)
        self._set_model(model)
        # A stream that partial_fit() had started is over: the next
        # partial_fit() continues from this fit's components_.
        self._learner = None
        self.__dict__.pop("n_steps_", None)
        self.n_iter_ = summary["epochs"]
        self.log_ = log
        self.summary_ = summary
        return self

    def _set_model(self, model):
        self.model_ = model
        self.components_ = model.dictionary
        self.n_components_ = model.n_atoms

    def fit_transform(self, X, y=None):
        """fit(X) then transform(X)."""
        return self.fit(X).transform(X)

    def _transform(self, X):
        if getattr(self, "transform_algorithm", None) is None:
            return self.model_.encode(X.astype(self.model_.dtype, copy=False),
                                      self._threads()).astype(X.dtype, copy=False)
        return _coding.transform_codes(self, X, self.components_)

    def _threads(self):
        threads = _params.threads_of(getattr(self, "n_jobs", None))
        return 0 if threads is None else threads

    def transform(self, X):
        """The codes of X: by the transform_* keywords where the estimator has
        them (transform_algorithm None: the coder it learned with), else by the
        model's encoder."""
        check_is_fitted(self, "model_")
        X = self._check_X(X, reset=False)
        try:
            return self._transform(X)
        except ValueError as error:
            raise _params.translate(error, self._keywords()) from None

    def inverse_transform(self, codes):
        """codes · components_ (+ the decoder bias of a model that has one)."""
        check_is_fitted(self, "model_")
        bias = self.model_.decoder_bias
        return _coding.inverse(codes, self.components_, bias,
                               getattr(self, "split_sign", False)
                               and getattr(self, "transform_algorithm", None) is not None)

    def save(self, path):
        """Writes the model as the CLI does (safetensors, atomically): `dictlearn
        encode PATH DATA` codes with it, and dictlearn.load(PATH) reads it back."""
        check_is_fitted(self, "model_")
        self.model_.save(str(path))

    def log_frame(self):
        """The training log (one row per epoch) as a pandas DataFrame."""
        import pandas

        check_is_fitted(self, "model_")
        return pandas.DataFrame(self.log_)

    def _more_tags(self):
        return {"preserves_dtype": [np.float64, np.float32]}


def _signature_keywords(cls):
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


class MiniBatchDictionaryLearning(_Learner):
    """Online dictionary learning (Mairal et al. 2010), as scikit-learn's
    MiniBatchDictionaryLearning: `dictlearn fit --method online`.

    scikit-learn's keywords keep their meaning: fit_algorithm "lars" or "cd"
    (or any coder of the library: "omp" with n_nonzero_coefs, "fista", ...),
    alpha, batch_size, shuffle, dict_init, positive_code, positive_dict, tol
    and max_no_improvement (its convergence tests), transform_*. max_iter
    counts passes over the data (scikit-learn 1.2's max_iter; its n_iter is
    max_steps here). The library's own: forgetting ("capped", the default:
    SPAMS's schedule with its horizon capped at `memory` samples; "spams",
    SPAMS's own; or "sklearn"), memory, unit_norm, resample_unused,
    max_steps, max_seconds, n_nonzero_coefs / max_error (omp), l2,
    coder_max_iter, coder_tol, init_atoms. random_state None is seed 0 (runs
    repeat); n_jobs None or -1 all cores (the results do not depend on it).
    """

    _method = "online"
    _renames = {("coding", "algorithm"): "fit_algorithm", ("coding", "max_iter"): "coder_max_iter",
                ("coding", "positive"): "positive_code", ("fit_job", "patch_shape"): None}

    def __init__(self, n_components=None, *, alpha=1.0, max_iter=None, fit_algorithm="lars",
                 n_jobs=None, batch_size=256, shuffle=True, dict_init=None,
                 transform_algorithm="omp", transform_n_nonzero_coefs=None, transform_alpha=None,
                 transform_max_error=None, transform_l2=None, transform_max_iter=1000,
                 transform_coder_tol=None, verbose=False, split_sign=False, random_state=None,
                 positive_code=False, positive_dict=False, callback=None, tol=1e-3,
                 max_no_improvement=10, forgetting=None, memory=None, unit_norm=False,
                 resample_unused=True,
                 max_steps=None, max_seconds=None, n_nonzero_coefs=None, max_error=None, l2=None,
                 coder_max_iter=None, coder_tol=None, init_atoms=None):
        self.n_components = n_components
        self.alpha = alpha
        self.max_iter = max_iter
        self.fit_algorithm = fit_algorithm
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.dict_init = dict_init
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.transform_max_error = transform_max_error
        self.transform_l2 = transform_l2
        self.transform_max_iter = transform_max_iter
        self.transform_coder_tol = transform_coder_tol
        self.verbose = verbose
        self.split_sign = split_sign
        self.random_state = random_state
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.callback = callback
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.forgetting = forgetting
        self.memory = memory
        self.unit_norm = unit_norm
        self.resample_unused = resample_unused
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.n_nonzero_coefs = n_nonzero_coefs
        self.max_error = max_error
        self.l2 = l2
        self.coder_max_iter = coder_max_iter
        self.coder_tol = coder_tol
        self.init_atoms = init_atoms

    def _values(self, X):
        values = _Learner._values(self, X)
        coder = _coding._coder_name({"lars": "lasso_lars", "cd": "lasso_cd"}.get(
            self.fit_algorithm, self.fit_algorithm), "fit_algorithm")
        values["fit_algorithm"] = coder
        if values.get("n_components") is None:
            values["n_components"] = X.shape[1]  # scikit-learn's default
        if coder in ("omp", "lars"):
            values["alpha"] = None  # not read by an L0 coder (scikit-learn's alpha is lasso's)
            if self.n_nonzero_coefs is None and self.max_error is None:
                values["n_nonzero_coefs"] = _coding.default_nonzero(X.shape[1],
                                                                    values["n_components"])
        elif coder == "threshold":
            values["alpha"] = self.alpha
        # tol and max_no_improvement: scikit-learn's convergence tests; None or 0 off.
        for name in ("tol", "max_no_improvement"):
            if values.get(name) is None:
                values[name] = 0
        return values

    def _start(self, X):
        if self.dict_init is None:
            return None
        D = _coding.check_array(self.dict_init, dtype=[np.float64, np.float32], order="C",
                                input_name="dict_init").astype(X.dtype, copy=True)
        return _core.Model.from_atoms(D)

    def partial_fit(self, X, y=None):
        """One step on the batch X (a stream): codes, statistics, dictionary.
        The first call starts from dict_init or from X's rows (init_atoms);
        the statistics live in memory and are not pickled (a pickled
        estimator continues from its components_ with fresh statistics)."""
        first = getattr(self, "_learner", None) is None
        X = self._check_X(X, reset=first and not hasattr(self, "model_"))
        keywords = self._keywords()
        try:
            if first:
                if hasattr(self, "model_"):
                    D = self.components_.astype(X.dtype, copy=True)
                elif self.dict_init is not None:
                    D = self._start(X).dictionary
                else:
                    # The library's initialization (init_atoms, random_state), from the first batch.
                    k = self.n_components if self.n_components is not None else X.shape[1]
                    seed = _params.seed_of(self.random_state)
                    D = _core.initial_atoms(X, _params._integer("n_components", k),
                                            self.init_atoms or "samples",
                                            0 if seed is None else seed)
                flags = [f for f in self._flags(X) if f[0] != "method"]
                self._learner = _core.OnlineLearner(np.ascontiguousarray(D), flags)
            stats = self._learner.partial_fit(X.astype(self._learner.model().dtype, copy=False))
        except ValueError as error:
            raise _params.translate(error, keywords, self._extra_names()) from None
        self._set_model(self._learner.model())
        self.n_steps_ = stats["steps"]
        self.n_iter_ = getattr(self, "n_iter_", 0)
        return self

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_learner", None)
        return state


class DictionaryLearning(_Learner):
    """Batch dictionary learning as scikit-learn's DictionaryLearning: codes of
    all the data, then the atoms by block coordinate descent (`dictlearn fit
    --method alternating`). max_iter counts iterations (None: the library's
    10); scikit-learn's tol has no counterpart yet (the run stops after
    max_iter or max_seconds). Other keywords as MiniBatchDictionaryLearning's."""

    _method = "alternating"
    _renames = MiniBatchDictionaryLearning._renames

    def __init__(self, n_components=None, *, alpha=1.0, max_iter=None, fit_algorithm="lars",
                 transform_algorithm="omp", transform_n_nonzero_coefs=None, transform_alpha=None,
                 transform_max_error=None, transform_l2=None, transform_max_iter=1000,
                 transform_coder_tol=None, n_jobs=None, dict_init=None, verbose=False,
                 split_sign=False, random_state=None, positive_code=False, positive_dict=False,
                 callback=None, unit_norm=False, resample_unused=True, max_seconds=None,
                 n_nonzero_coefs=None, max_error=None, l2=None, coder_max_iter=None,
                 coder_tol=None, init_atoms=None):
        self.n_components = n_components
        self.alpha = alpha
        self.max_iter = max_iter
        self.fit_algorithm = fit_algorithm
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.transform_max_error = transform_max_error
        self.transform_l2 = transform_l2
        self.transform_max_iter = transform_max_iter
        self.transform_coder_tol = transform_coder_tol
        self.n_jobs = n_jobs
        self.dict_init = dict_init
        self.verbose = verbose
        self.split_sign = split_sign
        self.random_state = random_state
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.callback = callback
        self.unit_norm = unit_norm
        self.resample_unused = resample_unused
        self.max_seconds = max_seconds
        self.n_nonzero_coefs = n_nonzero_coefs
        self.max_error = max_error
        self.l2 = l2
        self.coder_max_iter = coder_max_iter
        self.coder_tol = coder_tol
        self.init_atoms = init_atoms

    _values = MiniBatchDictionaryLearning._values
    _start = MiniBatchDictionaryLearning._start


class KSVD(_Learner):
    """K-SVD (Aharon, Elad, Bruckstein 2006), exact or approximate (Rubinstein
    et al. 2008): `dictlearn fit --method ksvd`. Codes by OMP with
    n_nonzero_coefs (None: max(n_features // 10, 1)) and/or max_error; other
    coders by `coder`. transform() codes with the coder it learned with, as
    `dictlearn encode MODEL` does."""

    _method = "ksvd"
    _renames = {("coding", "algorithm"): "coder", ("coding", "max_iter"): "coder_max_iter",
                ("coding", "positive"): "positive_code", ("fit_job", "patch_shape"): None}

    def __init__(self, n_components=None, *, n_nonzero_coefs=None, max_error=None, max_iter=None,
                 approximate=False, keep_better_codes=False, coder="omp", alpha=None, l2=None,
                 coder_max_iter=None, coder_tol=None, positive_code=False, positive_dict=False,
                 unit_norm=False, dict_init=None, init_atoms=None, max_seconds=None,
                 random_state=None, n_jobs=None, callback=None, verbose=False):
        self.n_components = n_components
        self.n_nonzero_coefs = n_nonzero_coefs
        self.max_error = max_error
        self.max_iter = max_iter
        self.approximate = approximate
        self.keep_better_codes = keep_better_codes
        self.coder = coder
        self.alpha = alpha
        self.l2 = l2
        self.coder_max_iter = coder_max_iter
        self.coder_tol = coder_tol
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.unit_norm = unit_norm
        self.dict_init = dict_init
        self.init_atoms = init_atoms
        self.max_seconds = max_seconds
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.callback = callback
        self.verbose = verbose

    def _values(self, X):
        values = _Learner._values(self, X)
        values["coder"] = _coding._coder_name(self.coder, "coder")
        if values.get("n_components") is None:
            values["n_components"] = X.shape[1]
        if values["coder"] in ("omp", "lars") and self.n_nonzero_coefs is None and \
                self.max_error is None:
            values["n_nonzero_coefs"] = _coding.default_nonzero(X.shape[1],
                                                                values["n_components"])
        return values

    def _extra_names(self):
        return {}

    _start = MiniBatchDictionaryLearning._start


class MOD(KSVD):
    """The method of optimal directions (Engan, Aase, Husøy 1999): codes, then
    D = (RᵀR)⁻¹RᵀX (`dictlearn fit --method mod`). Keywords as KSVD's."""

    _method = "mod"

    def __init__(self, n_components=None, *, n_nonzero_coefs=None, max_error=None, max_iter=None,
                 coder="omp", alpha=None, l2=None, coder_max_iter=None, coder_tol=None,
                 positive_code=False, positive_dict=False, unit_norm=False, dict_init=None,
                 init_atoms=None, max_seconds=None, random_state=None, n_jobs=None,
                 callback=None, verbose=False):
        self.n_components = n_components
        self.n_nonzero_coefs = n_nonzero_coefs
        self.max_error = max_error
        self.max_iter = max_iter
        self.coder = coder
        self.alpha = alpha
        self.l2 = l2
        self.coder_max_iter = coder_max_iter
        self.coder_tol = coder_tol
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.unit_norm = unit_norm
        self.dict_init = dict_init
        self.init_atoms = init_atoms
        self.max_seconds = max_seconds
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.callback = callback
        self.verbose = verbose


class GradientDictionaryLearning(_Learner):
    """The seed's model and the sparse autoencoders: a dictionary and an
    encoder trained by Adam on the mean squared error (`dictlearn fit`, the
    gradient learner). Every option of `dictlearn fit` is a keyword (the fit
    table's Python names: encoder, n_nonzero_coefs for top-k's k, alpha for
    the L1 weight, learning_rate_init, ...); None leaves the library's
    default or, under preset "auto" (the default: "sae" for an encoder other
    than softmax), the preset's. transform() is the model's encoder."""

    _method = "gradient"

    def __init__(self, n_components=None, *, encoder=None, n_nonzero_coefs=None, alpha=None,
                 max_iter=None, batch_size=None, learning_rate_init=None, beta_1=None,
                 beta_2=None, epsilon=None, temperature=None, threshold_decay=None, ortho=None,
                 unit_atoms=None, init_dict=None, tied=None, decoder_bias=None,
                 warmup_steps=None, lr_decay=None, n_iter_no_change=None, tol=None,
                 dead_after=None, auxk=None, auxk_k=None, resample_every=None,
                 resample_scale=None, preset=None, patch_shape=None, random_state=None,
                 n_jobs=None, callback=None, verbose=False):
        self.n_components = n_components
        self.encoder = encoder
        self.n_nonzero_coefs = n_nonzero_coefs
        self.alpha = alpha
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.temperature = temperature
        self.threshold_decay = threshold_decay
        self.ortho = ortho
        self.unit_atoms = unit_atoms
        self.init_dict = init_dict
        self.tied = tied
        self.decoder_bias = decoder_bias
        self.warmup_steps = warmup_steps
        self.lr_decay = lr_decay
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.dead_after = dead_after
        self.auxk = auxk
        self.auxk_k = auxk_k
        self.resample_every = resample_every
        self.resample_scale = resample_scale
        self.preset = preset
        self.patch_shape = patch_shape
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.callback = callback
        self.verbose = verbose

    def _check_samples(self, X):
        if X.shape[0] < 1:
            raise ValueError("n_samples = 0: nothing to learn from")


def estimator_for(method):
    """The estimator class of a `dictlearn fit --method` name."""
    return {"gradient": GradientDictionaryLearning, "online": MiniBatchDictionaryLearning,
            "alternating": DictionaryLearning, "ksvd": KSVD, "mod": MOD}[method]


def load(path):
    """A fitted estimator from a model file the CLI or save() wrote: its class
    from the method the file records (the gradient learner when none), its
    model, components_ and n_features_in_; transform() codes as `dictlearn
    encode MODEL` does (the model's encoder, or the coder it recorded)."""
    try:
        model = _core.Model.load(str(path))
    except ValueError as error:
        raise ValueError(str(error)) from None
    method = model.metadata.get("train.method", "gradient") if not model.has_encoder \
        else "gradient"
    estimator = estimator_for(method)(n_components=model.n_atoms)
    # The settings the file records become the estimator's parameters, so
    # that clone(load(path)).fit(X) trains as the file's run did.
    keywords = estimator._keywords()
    for name, row in keywords.items():
        text = model.metadata.get("train." + row["flag"])
        if text is not None and row["recorded"]:
            setattr(estimator, name, _params.from_text(row, text))
    if hasattr(estimator, "transform_algorithm"):
        estimator.transform_algorithm = None  # the recorded coder, as the CLI's encode
    estimator._set_model(model)
    estimator.n_features_in_ = model.dim
    estimator.log_ = []
    return estimator
