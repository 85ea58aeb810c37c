"""Every estimator's keywords against the library's parameter tables."""

import inspect

import pytest

import dictlearn
from dictlearn import _learners, _params

LEARNERS = [dictlearn.MiniBatchDictionaryLearning, dictlearn.DictionaryLearning, dictlearn.KSVD,
            dictlearn.MOD, dictlearn.GradientDictionaryLearning]

# Keywords that are not rows of a table: what scikit-learn's API has besides
# the library's options (the transform step, dict_init, callbacks).
NOT_ROWS = {"dict_init", "callback", "verbose", "split_sign", "transform_algorithm",
            "transform_n_nonzero_coefs", "transform_alpha", "transform_max_error",
            "transform_l2", "transform_max_iter", "transform_coder_tol"}

# Defaults that follow scikit-learn rather than the library's table (the
# estimator's name promises scikit-learn's behaviour), with the reason.
SKLEARN_DEFAULTS = {
    "tol": "scikit-learn's MiniBatchDictionaryLearning stops at tol=1e-3 by default",
    "max_no_improvement": "scikit-learn's default 10",
    "batch_size": "scikit-learn 1.3's default 256 (the table's is the gradient learner's)",
    "alpha": "scikit-learn's alpha=1",
    "fit_algorithm": "scikit-learn's 'lars' (lasso-lars), the learners' default too",
    "coder": "omp, the default coder of ksvd and mod",
    "shuffle": "True, scikit-learn's",
    "resample_unused": "True (the library's default, as a bool)",
    "unit_norm": "False (the library's default, as a bool)",
    "positive_dict": "False", "positive_code": "False",
    "approximate": "False", "keep_better_codes": "False",
}


def signature(cls):
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if name != "self"}


@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_every_row_the_method_reads_is_a_keyword(cls):
    keywords = cls._keywords()
    params = signature(cls)
    missing = sorted(set(keywords) - set(params))
    assert not missing, f"{cls.__name__} lacks keywords for the rows {missing}"
    extra = sorted(set(params) - set(keywords) - NOT_ROWS)
    assert not extra, f"{cls.__name__} has keywords no table row or rule explains: {extra}"


@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_defaults_are_the_tables_or_stated(cls):
    keywords = cls._keywords()
    for name, default in signature(cls).items():
        if name not in keywords or default is None or name in SKLEARN_DEFAULTS:
            continue
        text = _params.flag_text(name, keywords[name], default)
        assert text == keywords[name]["default"], (cls.__name__, name, default)


def test_a_new_row_would_be_noticed():
    # The check above is not vacuous: a row without a keyword is reported.
    with pytest.raises(RuntimeError, match="keyword max_iter from two rows"):
        _learners.method_keywords("online")  # coding's max_iter and fit's: one must be renamed
    rows = _learners.method_keywords("online", {("coding", "max_iter"): "coder_max_iter"})
    assert "forgetting" in rows and "max_steps" in rows and "fit_algorithm" not in rows
    renamed = dictlearn.MiniBatchDictionaryLearning._keywords()
    assert "fit_algorithm" in renamed and "algorithm" not in renamed


def test_gradient_keywords_cover_every_fit_option():
    flags = {row["flag"] for row in _params.TABLES["fit"]}
    rows = dictlearn.GradientDictionaryLearning._keywords()
    assert flags <= {row["flag"] for row in rows.values()}


def test_flag_text_follows_the_rows():
    row = {"type": "bool", "negated": True, "flag": "no-shuffle", "default": "false"}
    assert _params.flag_text("shuffle", row, False) == "true"
    assert _params.flag_text("shuffle", row, True) == "false"
    with pytest.raises(ValueError, match="max_iter: expected an integer"):
        _params.flag_text("max_iter", {"type": "int"}, 2.5)
    with pytest.raises(ValueError, match="alpha: expected a number"):
        _params.flag_text("alpha", {"type": "double"}, "big")
