// Models without an encoder (a classical learner's): the file holds the
// dictionary and the coder it was learned with; load/save accept them only
// when consistent; the library's encode refuses them; `dictlearn encode`,
// `eval`, `reconstruct` and `plot` code with the recorded coder, and --coder
// overrides it.
#include <gtest/gtest.h>

#include <string>

#include "cli_util.hpp"
#include "dictlearn/coders.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/safetensors.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::expect_cli_error;
using testing::max_abs_difference;
using testing::normal_matrix;
using testing::run_cli;
using testing::TempDir;

/// A model of 6 unit atoms in dimension 5 with no encoder, coded by OMP at 2 atoms.
template <typename T>
Model<T> coded_model() {
  Model<T> model;
  model.dictionary = normal_matrix<T>(6, 5, 3);
  model.dictionary.rowwise().normalize();
  model.metadata["train.method"] = "ksvd";
  CodingOptions coding{.method = CoderKind::omp, .n_nonzero = 2};
  record_parameters(coding_parameters(), coding, model.metadata);
  return model;
}

TEST(CodedModel, SavesTheDictionaryOnlyAndLoadsBackWithItsCoder) {
  TempDir dir;
  const std::string path = dir / "m.safetensors";
  save_model(path, coded_model<double>());
  const TensorFile file = read_safetensors(path);
  EXPECT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(file.tensors.count("dictionary"), 1u);
  EXPECT_EQ(file.metadata.at("encoder"), "none");
  EXPECT_EQ(file.metadata.count("k"), 0u);
  const Model<double> back = load_model<double>(path);
  EXPECT_FALSE(back.has_encoder());
  EXPECT_EQ(back.dictionary, coded_model<double>().dictionary);
  const CodingOptions coding = recorded_coding(back.metadata, path);
  EXPECT_EQ(coding.method, CoderKind::omp);
  EXPECT_EQ(coding.n_nonzero, 2);
  // A float load of the same file: the dictionary in float, still no encoder.
  EXPECT_FALSE(load_model<float>(path).has_encoder());
}

TEST(CodedModel, InconsistentFilesAndModelsAreRefusedNamingWhatIsWrong) {
  TempDir dir;
  Model<float> model = coded_model<float>();
  model.metadata.erase("train.coder");
  EXPECT_ERROR_CONTAINS(save_model(dir / "a.safetensors", model),
                        "a.safetensors: the model has no encoder and no recorded coder");
  EXPECT_FALSE(std::filesystem::exists(dir / "a.safetensors"));
  model = coded_model<float>();
  model.metadata["train.alpha"] = "-1";
  EXPECT_ERROR_CONTAINS(save_model(dir / "b.safetensors", model),
                        "b.safetensors: metadata: --alpha: must be");
  // A W without b is not a model without an encoder: the shapes disagree.
  model = coded_model<float>();
  model.encoder_weight = model.dictionary;
  EXPECT_ERROR_CONTAINS(save_model(dir / "c.safetensors", model),
                        "attributor.0.bias has 0 entries but the dictionary has 6 atoms");
  // A file that says "none" but holds encoder tensors.
  save_model(dir / "d.safetensors", coded_model<float>());
  TensorFile file = read_safetensors(dir / "d.safetensors");
  file.tensors["attributor.0.bias"] = Tensor{DType::float32, {6}, std::vector<double>(6, 0.0)};
  write_safetensors(dir / "e.safetensors", file);
  EXPECT_ERROR_CONTAINS(load_model<float>(dir / "e.safetensors"),
                        "e.safetensors: metadata 'encoder' is none (a model without an encoder) "
                        "but the file holds tensor 'attributor.0.bias'");
  // A gradient model's file without its encoder tensors keeps its message.
  file = read_safetensors(dir / "d.safetensors");
  file.metadata["encoder"] = "relu";
  write_safetensors(dir / "f.safetensors", file);
  EXPECT_ERROR_CONTAINS(load_model<float>(dir / "f.safetensors"),
                        "missing tensor 'attributor.0.weight'");
}

TEST(CodedModel, TheEncoderPassesRefuseAModelWithoutOne) {
  const Model<float> model = coded_model<float>();
  const Matrix<float> X = normal_matrix<float>(4, 5, 1);
  for (int pass = 0; pass < 4; ++pass) {
    try {
      if (pass == 0) encode(model, X);
      if (pass == 1) reconstruct(model, X);
      if (pass == 2) pre_activations(model, X);
      if (pass == 3) reconstruction_loss(model, X);
      ADD_FAILURE() << "pass " << pass << " did not throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("the model has no encoder (its atoms were learned by "
                                           "--method ksvd): code with its coder"),
                std::string::npos)
          << e.what();
    }
  }
  // The coder path is the way: the Model is a Dictionary.
  const Matrix<float> codes = encode(model, X, recorded_coding(model.metadata, "m"));
  EXPECT_EQ(codes.rows(), 4);
}

TEST(CodedModel, EncodeEvalAndReconstructUseTheRecordedCoderAndCoderOverrides) {
  TempDir dir;
  const std::string model = dir / "m.safetensors", data = dir / "x.npy";
  const Model<double> m = coded_model<double>();
  save_model(model, m);
  const Matrix<double> X = normal_matrix<double>(300, 5, 7);
  write_matrix(data, X);
  auto ok = [&](const std::string& args) {
    const auto result = run_cli(dir, args);
    EXPECT_EQ(result.code, 0) << args << ": " << result.err;
    return result;
  };
  ok("encode " + model + " " + data + " -o " + (dir / "codes.npy"));
  const Matrix<double> expected = sparse_encode(m, X, recorded_coding(m.metadata, model));
  EXPECT_EQ(read_matrix<double>(dir / "codes.npy"), expected);
  ok("reconstruct " + model + " " + data + " -o " + (dir / "out.npy"));
  const Matrix<double> out = read_matrix<double>(dir / "out.npy");
  EXPECT_LT(max_abs_difference(out, Matrix<double>(expected * m.dictionary)), 1e-12);
  const auto eval = ok("eval " + model + " " + data);
  EXPECT_NE(eval.out.find("coder            omp"), std::string::npos) << eval.out;
  EXPECT_NE(eval.out.find("max 2"), std::string::npos) << eval.out;
  // --coder overrides the recorded one, with its own flags.
  ok("encode " + model + " " + data + " -o " + (dir / "codes3.npy") + " --coder omp --n-nonzero 3");
  const Matrix<double> three =
      sparse_encode(m, X, CodingOptions{.method = CoderKind::omp, .n_nonzero = 3});
  EXPECT_EQ(read_matrix<double>(dir / "codes3.npy"), three);
  EXPECT_NE(three, expected);
  // The gradient learner cannot start from it.
  expect_cli_error(run_cli(dir, "fit " + data + " -o " + (dir / "g.safetensors") + " --init " +
                                    model + " --epochs 1"),
                   {"--init: ", "has no encoder (learned by --method ksvd)"},
                   dir / "g.safetensors");
}

}  // namespace
}  // namespace dictlearn
