// Uses the installed headers (all of them, through dictlearn.hpp) and library:
// toy data, a model, codes, and an Error from a missing file. Prints "ok".
#include <cstdio>
#include <string>

#include "dictlearn/dictlearn.hpp"

int main() {
  const dictlearn::Matrix<float> data =
      dictlearn::make_toy_data<float>({.points_per_cluster = 50, .seed = 1});
  const dictlearn::Model<float> model = dictlearn::init_model<float>(2, 2, 7);
  const dictlearn::Matrix<float> codes = dictlearn::encode(model, data, 1);
  if (data.rows() != 100 || codes.rows() != 100 || codes.cols() != 2 || !codes.allFinite()) {
    std::fprintf(stderr, "unexpected shapes or values\n");
    return 1;
  }
  try {
    dictlearn::read_npy<float>("no such file.npy");
    std::fprintf(stderr, "read_npy of a missing file did not throw\n");
    return 1;
  } catch (const dictlearn::Error& error) {
    if (std::string(error.what()).find("no such file.npy") == std::string::npos) return 1;
  }
  std::printf("ok: %s\n", dictlearn::matrix_product_backend());
  return 0;
}
