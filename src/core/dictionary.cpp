#include "dictlearn/dictionary.hpp"

#include "core/check.hpp"
#include "core/finite.hpp"

namespace dictlearn {

template <typename T>
void validate_dictionary(const Dictionary<T>& dictionary, const std::string& what) {
  const Matrix<T>& atoms = dictionary.dictionary;
  const Vector<T>& bias = dictionary.decoder_bias;
  DICTLEARN_CHECK(atoms.rows() >= 1 && atoms.cols() >= 1, "{}: dictionary is empty ({} x {})", what,
                  atoms.rows(), atoms.cols());
  DICTLEARN_CHECK(detail::all_finite(atoms.data(), atoms.size()),
                  "{}: dictionary holds non-finite values", what);
  DICTLEARN_CHECK(bias.size() == 0 || bias.size() == atoms.cols(),
                  "{}: decoder_bias has {} entries but the atoms have dimension {}", what,
                  bias.size(), atoms.cols());
  DICTLEARN_CHECK(detail::all_finite(bias.data(), bias.size()),
                  "{}: decoder_bias holds non-finite values", what);
}

template void validate_dictionary<float>(const Dictionary<float>&, const std::string&);
template void validate_dictionary<double>(const Dictionary<double>&, const std::string&);

}  // namespace dictlearn
