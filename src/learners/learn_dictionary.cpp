// learn_dictionary (learning.hpp): the one call over the classical learners
// -- the first atoms, the learner of options.method, the model with its
// settings recorded so that its codes come from the coder it was learned with.
#include "core/check.hpp"
#include "dictlearn/batch_learning.hpp"
#include "dictlearn/learning.hpp"
#include "dictlearn/online.hpp"
#include "dictlearn/parameters.hpp"

namespace dictlearn {

template <typename T>
Model<T> learn_dictionary(MatrixView<std::type_identity_t<T>> X, const LearningOptions& options,
                          const Matrix<T>* atoms, std::vector<double>* losses) {
  validate(options);
  Matrix<T> start;
  if (atoms != nullptr) {
    DICTLEARN_CHECK(atoms->cols() == X.cols(), "atoms: dimension {} but the data has {} columns",
                    atoms->cols(), X.cols());
    DICTLEARN_CHECK(options.n_atoms == 0 || options.n_atoms == atoms->rows(),
                    "--atoms: {} differs from the {} initial atoms", options.n_atoms,
                    atoms->rows());
    start = *atoms;
  } else {
    DICTLEARN_CHECK(options.n_atoms >= 1,
                    "--atoms: must be >= 1 when no initial atoms are given, got {}",
                    options.n_atoms);
    start = initial_atoms<T>(X, options.n_atoms, options.init, options.seed);
  }
  LearningOptions effective = options;
  effective.n_atoms = static_cast<int>(start.rows());
  validate(effective);  // --n-nonzero against the atoms now known
  Model<T> model;
  auto run = [&](auto& learner) {
    learner.fit(X);
    if (losses != nullptr) *losses = learner.losses();
    model = learner.release_model();
  };
  if (effective.method == LearningMethod::online) {
    OnlineDictionaryLearner<T> learner(std::move(start), effective);
    run(learner);
  } else {
    BatchDictionaryLearner<T> learner(std::move(start), effective);
    run(learner);
  }
  std::erase_if(model.metadata, [](const auto& entry) {
    return entry.first.starts_with("checkpoint.") || entry.first.starts_with("train.");
  });
  record_learning_parameters(effective, model.metadata);
  return model;
}

template Model<float> learn_dictionary<float>(MatrixView<float>, const LearningOptions&,
                                              const Matrix<float>*, std::vector<double>*);
template Model<double> learn_dictionary<double>(MatrixView<double>, const LearningOptions&,
                                                const Matrix<double>*, std::vector<double>*);

}  // namespace dictlearn
