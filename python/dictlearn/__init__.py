"""dictlearn: dictionary learning and sparse coding over a C++ core.

X ≈ R·D with D (n_components x n_features) the atoms and R sparse codes.
Estimators with scikit-learn's API, each one method of `dictlearn fit`:

    MiniBatchDictionaryLearning   online dictionary learning (Mairal et al. 2010)
    DictionaryLearning            batch alternation (scikit-learn's DictionaryLearning)
    KSVD, MOD                     K-SVD (exact or approximate) and MOD with OMP codes
    GradientDictionaryLearning    the seed's model and sparse autoencoders (Adam)
    SparseCoder, sparse_encode    the coders on a fixed dictionary: omp, lars,
                                  lasso_lars, lasso_cd, fista, threshold

Models are the CLI's safetensors files: estimator.save(path), load(path).
float32 and float64 arrays are used in place (no copy when C-contiguous) and
trained in their own dtype; see docs/PYTHON.md.
"""

from . import _core
from ._coding import SparseCoder, sparse_encode
from ._learners import (KSVD, MOD, DictionaryLearning, GradientDictionaryLearning,
                        MiniBatchDictionaryLearning, load)

__version__ = "0.1.0"

__all__ = ["DictionaryLearning", "GradientDictionaryLearning", "KSVD", "MOD",
           "MiniBatchDictionaryLearning", "SparseCoder", "load", "sparse_encode", "toy_data"]


def toy_data(seed=0, points_per_cluster=1000):
    """The seed's data (float32, 2·points_per_cluster x 2): N((1,0), 0.01·I)
    then N((0,1), 0.01·I), as `dictlearn toy` and `dictlearn demo` make it."""
    return _core.toy_data(seed, points_per_cluster)


def build_info():
    """The core's build: the vector-kernel level and the matrix products in use."""
    return {"vector_kernels": _core.vector_kernel_level(),
            "matrix_products": _core.matrix_product_backend(),
            "max_threads": _core.max_threads()}
