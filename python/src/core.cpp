// dictlearn._core: the binding of the C++ library for the Python package
// (python/dictlearn/). No algorithm lives here: every call is one library
// call on NumPy memory.
//
//  - Arrays: float32 or float64, 2-D, C-contiguous (the package's
//    check_array makes them so, with one copy where needed); they are read
//    in place, never copied here. Results are handed over without a copy
//    (the NumPy array owns the Eigen matrix).
//  - Options: flags as text, (flag, value) pairs, through the library's own
//    tables (fit_job_from_flags, coding_options_from_flags): the run is the
//    one `dictlearn fit` / `encode` makes of the same flags.
//  - The GIL is released while C++ runs. A long fit checks for Ctrl-C about
//    ten times a second (the batch progress callback) and stops with
//    KeyboardInterrupt; nothing is written.
//  - dictlearn::Error becomes ValueError with the library's one-line message.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/finite.hpp"
#include "dictlearn/coders.hpp"
#include "dictlearn/error.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/online.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/toy.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/workflows.hpp"

namespace py = pybind11;
namespace dl = dictlearn;

namespace {

using Flags = std::vector<std::pair<std::string, std::string>>;

template <typename T>
using ConstMap = Eigen::Map<const dl::Matrix<T>>;

// ---- arrays -------------------------------------------------------------------

bool is_float32(const py::array& array) { return array.dtype().equal(py::dtype::of<float>()); }
bool is_float64(const py::array& array) { return array.dtype().equal(py::dtype::of<double>()); }

/// The 2-D C-contiguous float array `array` as a read-only matrix, in place.
template <typename T>
ConstMap<T> matrix_of(const py::array& array, const char* name) {
  if (array.ndim() != 2) {
    throw dl::Error(std::string(name) + ": expected a 2-D array, got " +
                    std::to_string(array.ndim()) + " dimensions");
  }
  if (!(array.flags() & py::array::c_style)) {
    throw dl::Error(std::string(name) + ": expected a C-contiguous array");
  }
  if (!array.dtype().equal(py::dtype::of<T>())) {
    throw dl::Error(std::string(name) + ": expected a " + (sizeof(T) == 4 ? "float32" : "float64") +
                    " array (the model's or the other array's dtype), got " +
                    std::string(py::str(array.dtype())));
  }
  return ConstMap<T>(static_cast<const T*>(array.data()), array.shape(0), array.shape(1));
}

/// A NumPy array that owns `matrix` (no copy).
template <typename T>
py::array_t<T> to_numpy(dl::Matrix<T>&& matrix) {
  auto* owned = new dl::Matrix<T>(std::move(matrix));
  py::capsule release(owned, [](void* p) { delete static_cast<dl::Matrix<T>*>(p); });
  const py::ssize_t rows = owned->rows(), cols = owned->cols();
  return py::array_t<T>(
      {rows, cols},
      {cols * static_cast<py::ssize_t>(sizeof(T)), static_cast<py::ssize_t>(sizeof(T))},
      owned->data(), release);
}

template <typename T>
py::array_t<T> vector_to_numpy(const dl::Vector<T>& vector) {
  py::array_t<T> out(vector.size());
  std::copy(vector.data(), vector.data() + vector.size(), out.mutable_data());
  return out;
}

/// A 1-D NumPy array that owns `values` (no copy).
template <typename V>
py::array_t<typename V::value_type> owned_vector(V&& values) {
  auto* owned = new V(std::move(values));
  py::capsule release(owned, [](void* p) { delete static_cast<V*>(p); });
  return py::array_t<typename V::value_type>(static_cast<py::ssize_t>(owned->size()), owned->data(),
                                             release);
}

/// The first NaN or infinity of values[0, count) (-1: none), scanned by
/// fixed blocks on all cores: the input check of every call, at memory speed.
template <typename T>
int64_t first_non_finite_parallel(const T* values, int64_t count) {
  constexpr int64_t block = int64_t{1} << 20;
  const int64_t blocks = (count + block - 1) / block;
  int64_t first = -1;
#pragma omp parallel for schedule(static) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t begin = b * block, size = std::min(block, count - begin);
    const int64_t bad = dl::detail::first_non_finite(values + begin, size);
    if (bad >= 0) {
#pragma omp critical(dictlearn_first_non_finite)
      if (first < 0 || begin + bad < first) first = begin + bad;
    }
  }
  return first;
}

// ---- models -------------------------------------------------------------------

/// A model of either dtype, as the package holds it.
struct PyModel {
  std::variant<dl::Model<float>, dl::Model<double>> model;

  template <typename F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), model);
  }
};

/// The coder a model without an encoder codes with (its recorded one).
template <typename T>
dl::CodingOptions recorded_coder(const dl::Model<T>& model, int threads) {
  dl::CodingOptions coding = dl::recorded_coding(model.metadata, "the model");
  coding.threads = threads;
  return coding;
}

/// The codes of a model without an encoder: its recorded coder on x − b_dec,
/// as `dictlearn encode` codes (called without the GIL).
template <typename T>
dl::Matrix<T> recorded_codes(const dl::Model<T>& model, const ConstMap<T>& data, int threads) {
  const dl::CodingOptions coding = recorded_coder(model, threads);
  if (!model.has_decoder_bias()) return dl::sparse_encode<T>(model, data, coding);
  const dl::Matrix<T> centred = data.rowwise() - model.decoder_bias.transpose();
  return dl::sparse_encode<T>(model, centred, coding);
}

template <typename T>
py::array_t<T> encode_with(const dl::Model<T>& model, const py::array& X, int threads) {
  const ConstMap<T> data = matrix_of<T>(X, "X");
  dl::Matrix<T> codes;
  {
    py::gil_scoped_release release;
    dl::check_data_matches(model, data, "X");
    codes = model.has_encoder() ? dl::encode(model, data, threads)
                                : recorded_codes(model, data, threads);
  }
  return to_numpy(std::move(codes));
}

template <typename T>
py::array_t<T> reconstruct_with(const dl::Model<T>& model, const py::array& X, int threads) {
  const ConstMap<T> data = matrix_of<T>(X, "X");
  dl::Matrix<T> out;
  {
    py::gil_scoped_release release;
    dl::check_data_matches(model, data, "X");
    if (model.has_encoder()) {
      out = dl::reconstruct(model, data, threads);
    } else {
      out = recorded_codes(model, data, threads) * model.dictionary;
      if (model.has_decoder_bias()) out.rowwise() += model.decoder_bias.transpose();
    }
  }
  return to_numpy(std::move(out));
}

/// A folder of this process's own for pickling (mkdtemp: created atomically,
/// mode 0700, so no other user can place or replace anything in it), under
/// $TMPDIR when that is a folder, else /tmp; removed with its contents.
class PrivateFolder {
 public:
  PrivateFolder() {
    std::error_code error;
    std::filesystem::path base = "/tmp";
    if (const char* tmpdir = std::getenv("TMPDIR");
        tmpdir != nullptr && std::filesystem::is_directory(tmpdir, error)) {
      base = tmpdir;
    }
    std::string pattern = (base / "dictlearn-pickle-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw dl::Error("pickling: cannot make a temporary folder in " + base.string() + ": " +
                      std::strerror(errno));
    }
    path_ = pattern;
  }
  ~PrivateFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  PrivateFolder(const PrivateFolder&) = delete;
  PrivateFolder& operator=(const PrivateFolder&) = delete;
  std::string file() const { return path_ + "/model.safetensors"; }

 private:
  std::string path_;
};

/// A model's file as bytes (pickling): written and read back through a
/// private temporary folder, so the bytes are exactly the file `save` writes.
py::bytes model_bytes(const PyModel& self) {
  const PrivateFolder folder;
  const std::string path = folder.file();
  self.visit([&](const auto& model) { dl::save_model(path, model); });
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return py::bytes(buffer.str());
}

PyModel model_from_file(const std::string& path) {
  if (dl::model_dtype(path) == dl::DType::float64) return PyModel{dl::load_model<double>(path)};
  return PyModel{dl::load_model<float>(path)};
}

PyModel model_from_bytes(const std::string& bytes) {
  const PrivateFolder folder;
  const std::string path = folder.file();
  {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw dl::Error("unpickling: cannot write " + path);
  }
  return model_from_file(path);
}

// ---- training -----------------------------------------------------------------

py::dict stats_dict(const dl::EpochStats& s) {
  py::dict d;
  d["epoch"] = s.epoch;
  d["loss"] = s.loss;
  d["mse"] = s.mse;
  d["fvu"] = s.fvu;
  d["l0"] = s.l0;
  d["dead_fraction"] = s.dead_fraction;
  d["lr"] = s.lr;
  d["atoms_replaced"] = s.atoms_replaced;
  d["seconds"] = s.seconds;
  return d;
}

py::dict summary_dict(const dl::FitSummary& s) {
  py::dict d;
  d["n_atoms"] = s.n_atoms;
  d["samples"] = s.samples;
  d["dim"] = s.dim;
  d["epochs"] = s.epochs;
  d["stopped_early"] = s.stopped_early;
  d["first_loss"] = s.first_loss;
  d["last_loss"] = s.last_loss;
  d["last_mse"] = s.last_mse;
  d["last_fvu"] = s.last_fvu;
  d["data_scale"] = s.data_scale;
  d["loss_unit"] = s.loss_unit;
  d["method"] = s.method.empty() ? std::string("gradient") : s.method;
  d["coder"] = s.coder;
  return d;
}

/// Stops a run from a callback: the Python error (KeyboardInterrupt, or what
/// the user's callback raised) is set and re-raised after the library unwound.
struct PythonErrorPending {};

/// `dictlearn fit` of the flags on X in memory; returns (model, summary,
/// log: list of per-epoch dicts, notes: list of str).
template <typename T>
py::tuple fit_typed(const py::array& X, const Flags& flags, const PyModel* start,
                    const py::object& callback, const std::string& data_name) {
  const ConstMap<T> data = matrix_of<T>(X, "X");
  dl::FitJob job = dl::fit_job_from_flags(flags);
  job.data = data_name;
  job.dtype = sizeof(T) == 4 ? "float32" : "float64";
  std::vector<dl::EpochStats> log;
  std::vector<std::string> notes;
  std::optional<py::error_already_set> failure;
  dl::FitCallbacks callbacks;
  callbacks.note = [&](const std::string& text) { notes.push_back(text); };
  callbacks.progress = [&](const dl::EpochStats& stats, int) {
    log.push_back(stats);
    py::gil_scoped_acquire acquire;
    if (PyErr_CheckSignals() != 0) {
      failure.emplace();
      throw PythonErrorPending{};
    }
    if (!callback.is_none()) {
      try {
        const py::object stop = callback(stats_dict(stats));
        (void)stop;
      } catch (py::error_already_set& error) {
        failure.emplace(std::move(error));
        throw PythonErrorPending{};
      }
    }
  };
  callbacks.batch_progress = [&](const dl::BatchProgress&, int) {
    py::gil_scoped_acquire acquire;
    if (PyErr_CheckSignals() != 0) {
      failure.emplace();
      throw PythonErrorPending{};
    }
  };
  const dl::Model<T>* initial = nullptr;
  if (start != nullptr) {
    initial = std::get_if<dl::Model<T>>(&start->model);
    if (initial == nullptr) throw dl::Error("the initial model's dtype differs from X's");
  }
  dl::FitResult<T> result;
  try {
    py::gil_scoped_release release;
    result = dl::fit_matrix<T>(job, data, callbacks, initial);
  } catch (const PythonErrorPending&) {
    failure->restore();
    throw py::error_already_set();
  }
  py::list log_list;
  for (const auto& stats : log) log_list.append(stats_dict(stats));
  return py::make_tuple(PyModel{std::move(result.model)}, summary_dict(result.summary), log_list,
                        notes);
}

/// The online learner for partial_fit: one step per call.
struct PyOnlineLearner {
  std::variant<std::unique_ptr<dl::OnlineDictionaryLearner<float>>,
               std::unique_ptr<dl::OnlineDictionaryLearner<double>>>
      learner;
  dl::LearningOptions options;
};

dl::LearningOptions online_options(const Flags& flags) {
  Flags with_method = flags;
  with_method.emplace_back("method", "online");
  const dl::FitJob job = dl::fit_job_from_flags(with_method);
  dl::validate(*job.learning);
  return *job.learning;
}

template <typename T>
py::dict partial_fit_typed(dl::OnlineDictionaryLearner<T>& learner, const py::array& X) {
  const ConstMap<T> data = matrix_of<T>(X, "X");
  dl::BatchStats stats;
  {
    py::gil_scoped_release release;
    stats = learner.partial_fit(data);
  }
  py::dict d;
  d["objective"] = stats.objective / static_cast<double>(std::max<int64_t>(data.rows(), 1));
  d["nonzero"] = stats.nonzero / static_cast<double>(std::max<int64_t>(data.rows(), 1));
  d["steps"] = learner.steps();
  return d;
}

// ---- tables -------------------------------------------------------------------

/// Who reads a row: the learners of a learning row, the coders of a coding row.
std::vector<std::string> readers(const dl::Parameter<dl::LearningOptions>& row) {
  std::vector<std::string> names;
  for (const dl::LearningMethod method : dl::methods_reading(row))
    names.emplace_back(dl::learning_method_name(method));
  return names;
}
std::vector<std::string> readers(const dl::Parameter<dl::CodingOptions>& row) {
  std::vector<std::string> names;
  for (const dl::CoderKind kind : dl::coders_reading(row))
    names.push_back(dl::coder_flag_name(kind));
  return names;
}
template <typename Options>
std::vector<std::string> readers(const dl::Parameter<Options>&) {
  return {};
}

template <typename Options>
py::list table_rows(const std::vector<dl::Parameter<Options>>& table, const Options& defaults) {
  py::list rows;
  for (const auto& row : table) {
    py::dict d;
    d["readers"] = readers(row);
    d["flag"] = row.flag;
    d["python"] = row.python;
    d["type"] = dl::parameter_type(row);
    d["default"] = dl::parameter_value(row, defaults);
    d["choices"] = dl::parameter_choices(row);
    d["help"] = row.help;
    d["negated"] = row.negated;
    d["recorded"] = row.recorded;
    rows.append(d);
  }
  return rows;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "dictlearn's C++ core (the package's estimators call it; see dictlearn.__init__)";
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const dl::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  m.def("parameter_table", [](const std::string& name) -> py::list {
    if (name == "fit") return table_rows(dl::fit_parameters(), dl::FitOptions{});
    if (name == "fit_job") return table_rows(dl::fit_job_parameters(), dl::cli_fit_job());
    if (name == "learning") return table_rows(dl::learning_parameters(), dl::LearningOptions{});
    if (name == "coding") return table_rows(dl::coding_parameters(), dl::CodingOptions{});
    throw dl::Error("parameter_table: no table named '" + name +
                    "' (fit, fit_job, learning, coding)");
  });
  m.def("coders", [] {
    std::vector<std::string> names;
    for (const auto& traits : dl::coder_table()) names.push_back(dl::coder_flag_name(traits.kind));
    return names;
  });
  m.def("default_coder", [](const std::string& method) {
    dl::LearningOptions options;
    dl::set_parameter_value(dl::learning_parameters().front(), options, method);
    return dl::coder_flag_name(dl::default_coder(options.method));
  });
  m.def(
      "toy_data",
      [](uint64_t seed, int points_per_cluster) {
        if (points_per_cluster < 1) throw dl::Error("points_per_cluster: must be >= 1");
        return to_numpy(
            dl::make_toy_data<float>({.points_per_cluster = points_per_cluster, .seed = seed}));
      },
      py::arg("seed") = 0, py::arg("points_per_cluster") = 1000);
  m.def(
      "first_non_finite",
      [](const py::array& X) -> int64_t {
        const int64_t count = static_cast<int64_t>(X.size());
        if (!(X.flags() & py::array::c_style)) throw dl::Error("X: expected a C-contiguous array");
        const bool single = is_float32(X);
        if (!single && !is_float64(X)) throw dl::Error("X: expected float32 or float64");
        const void* values = X.data();
        py::gil_scoped_release release;
        return single ? first_non_finite_parallel(static_cast<const float*>(values), count)
                      : first_non_finite_parallel(static_cast<const double*>(values), count);
      },
      py::arg("X"));
  m.def(
      "initial_atoms",
      [](const py::array& X, int n_atoms, const std::string& init, uint64_t seed) -> py::object {
        dl::LearningOptions options;
        dl::set_parameter_value(*dl::find_parameter(dl::learning_parameters(), "init-atoms"),
                                options, init);
        auto run = [&](auto tag) -> py::object {
          using T = decltype(tag);
          const ConstMap<T> data = matrix_of<T>(X, "X");
          dl::Matrix<T> atoms;
          {
            py::gil_scoped_release release;
            atoms = dl::initial_atoms<T>(data, n_atoms, options.init, seed);
          }
          return to_numpy(std::move(atoms));
        };
        if (is_float32(X)) return run(float{});
        if (is_float64(X)) return run(double{});
        throw dl::Error("X: expected float32 or float64");
      },
      py::arg("X"), py::arg("n_atoms"), py::arg("init"), py::arg("seed"));
  m.def("vector_kernel_level", &dl::vector_kernel_level);
  m.def("matrix_product_backend", &dl::matrix_product_backend);
  m.def("max_threads", &dl::max_threads);

  m.def(
      "sparse_encode",
      [](const py::array& D, const py::array& X, const Flags& flags, bool csr) -> py::object {
        const dl::CodingOptions options = dl::coding_options_from_flags(flags);
        auto run = [&](auto tag) -> py::object {
          using T = decltype(tag);
          const ConstMap<T> atoms = matrix_of<T>(D, "dictionary");
          const ConstMap<T> data = matrix_of<T>(X, "X");
          dl::Dictionary<T> dictionary;
          {
            py::gil_scoped_release release;
            dictionary.dictionary = atoms;  // K x dim: small next to X
          }
          if (!csr) {
            dl::Matrix<T> codes;
            {
              py::gil_scoped_release release;
              codes = dl::sparse_encode<T>(dictionary, data, options);
            }
            return to_numpy(std::move(codes));
          }
          dl::SparseCodes<T> codes;
          {
            py::gil_scoped_release release;
            codes = dl::sparse_encode_csr<T>(dictionary, data, options);
          }
          const int64_t rows = codes.rows, cols = codes.cols;
          return py::make_tuple(owned_vector(std::move(codes.values)),
                                owned_vector(std::move(codes.indices)),
                                owned_vector(std::move(codes.indptr)), py::make_tuple(rows, cols));
        };
        if (D.dtype().not_equal(X.dtype()))
          throw dl::Error("dictionary and X: dtypes differ (convert one)");
        if (is_float32(X)) return run(float{});
        if (is_float64(X)) return run(double{});
        throw dl::Error("X: expected float32 or float64");
      },
      py::arg("dictionary"), py::arg("X"), py::arg("flags"), py::arg("csr") = false);

  m.def(
      "fit",
      [](const py::array& X, const Flags& flags, const PyModel* start, const py::object& callback,
         const std::string& data_name) -> py::tuple {
        if (is_float32(X)) return fit_typed<float>(X, flags, start, callback, data_name);
        if (is_float64(X)) return fit_typed<double>(X, flags, start, callback, data_name);
        throw dl::Error("X: expected float32 or float64");
      },
      py::arg("X"), py::arg("flags"), py::arg("start") = nullptr, py::arg("callback") = py::none(),
      py::arg("data_name") = "");

  py::class_<PyModel>(m, "Model")
      .def_static("load", &model_from_file, py::arg("path"))
      .def_static(
          "from_atoms",
          [](const py::array& atoms) -> PyModel {
            auto make = [&](auto tag) -> PyModel {
              using T = decltype(tag);
              dl::Model<T> model;
              model.dictionary = matrix_of<T>(atoms, "dict_init");
              return PyModel{std::move(model)};
            };
            if (is_float32(atoms)) return make(float{});
            if (is_float64(atoms)) return make(double{});
            throw dl::Error("dict_init: expected float32 or float64");
          },
          py::arg("atoms"))
      .def(py::pickle([](const PyModel& self) { return model_bytes(self); },
                      [](const py::bytes& b) { return model_from_bytes(std::string(b)); }))
      .def_static("from_bytes", [](const py::bytes& b) { return model_from_bytes(std::string(b)); })
      .def("to_bytes", &model_bytes)
      .def(
          "save",
          [](const PyModel& self, const std::string& path) {
            py::gil_scoped_release release;
            self.visit([&](const auto& model) { dl::save_model(path, model); });
          },
          py::arg("path"))
      .def_property_readonly(
          "dtype",
          [](const PyModel& self) { return self.model.index() == 0 ? "float32" : "float64"; })
      .def_property_readonly("n_atoms",
                             [](const PyModel& self) {
                               return self.visit([](const auto& mo) { return mo.n_atoms(); });
                             })
      .def_property_readonly(
          "dim",
          [](const PyModel& self) { return self.visit([](const auto& mo) { return mo.dim(); }); })
      .def_property_readonly("has_encoder",
                             [](const PyModel& self) {
                               return self.visit([](const auto& mo) { return mo.has_encoder(); });
                             })
      .def_property_readonly("dictionary",
                             [](const PyModel& self) -> py::object {
                               return self.visit([](const auto& mo) -> py::object {
                                 auto copy = mo.dictionary;
                                 return to_numpy(std::move(copy));
                               });
                             })
      .def_property_readonly("decoder_bias",
                             [](const PyModel& self) -> py::object {
                               return self.visit([](const auto& mo) -> py::object {
                                 if (!mo.has_decoder_bias()) return py::none();
                                 return vector_to_numpy(mo.decoder_bias);
                               });
                             })
      .def_property_readonly("encoder_weight",
                             [](const PyModel& self) -> py::object {
                               return self.visit([](const auto& mo) -> py::object {
                                 if (!mo.has_encoder()) return py::none();
                                 auto copy = mo.encoder_weight;
                                 return to_numpy(std::move(copy));
                               });
                             })
      .def_property_readonly("encoder_bias",
                             [](const PyModel& self) -> py::object {
                               return self.visit([](const auto& mo) -> py::object {
                                 if (!mo.has_encoder()) return py::none();
                                 return vector_to_numpy(mo.encoder_bias);
                               });
                             })
      .def_property_readonly("metadata",
                             [](const PyModel& self) {
                               return self.visit([](const auto& mo) { return mo.metadata; });
                             })
      .def(
          "encode",
          [](const PyModel& self, const py::array& X, int threads) -> py::object {
            return self.visit(
                [&](const auto& mo) -> py::object { return encode_with(mo, X, threads); });
          },
          py::arg("X"), py::arg("threads") = 0)
      .def(
          "reconstruct",
          [](const PyModel& self, const py::array& X, int threads) -> py::object {
            return self.visit(
                [&](const auto& mo) -> py::object { return reconstruct_with(mo, X, threads); });
          },
          py::arg("X"), py::arg("threads") = 0);

  py::class_<PyOnlineLearner>(m, "OnlineLearner")
      .def(py::init([](const py::array& atoms, const Flags& flags) {
             auto self = std::make_unique<PyOnlineLearner>();
             self->options = online_options(flags);
             if (is_float32(atoms)) {
               self->learner = std::make_unique<dl::OnlineDictionaryLearner<float>>(
                   dl::Matrix<float>(matrix_of<float>(atoms, "dict_init")), self->options);
             } else if (is_float64(atoms)) {
               self->learner = std::make_unique<dl::OnlineDictionaryLearner<double>>(
                   dl::Matrix<double>(matrix_of<double>(atoms, "dict_init")), self->options);
             } else {
               throw dl::Error("dict_init: expected float32 or float64");
             }
             return self;
           }),
           py::arg("atoms"), py::arg("flags"))
      .def("partial_fit",
           [](PyOnlineLearner& self, const py::array& X) -> py::dict {
             return std::visit(
                 [&](auto& learner) -> py::dict {
                   using L = std::decay_t<decltype(*learner)>;
                   using T = typename std::decay_t<decltype(learner->model().dictionary)>::Scalar;
                   static_assert(std::is_same_v<L, dl::OnlineDictionaryLearner<T>>);
                   if (X.dtype().not_equal(py::dtype::of<T>()))
                     throw dl::Error("X: its dtype differs from the dictionary's");
                   return partial_fit_typed(*learner, X);
                 },
                 self.learner);
           })
      .def_property_readonly("steps",
                             [](const PyOnlineLearner& self) {
                               return std::visit([](const auto& l) { return l->steps(); },
                                                 self.learner);
                             })
      .def("model", [](const PyOnlineLearner& self) {
        return std::visit(
            [&](const auto& l) {
              auto model = l->model();
              dl::record_learning_parameters(self.options, model.metadata);
              return PyModel{std::move(model)};
            },
            self.learner);
      });
}
