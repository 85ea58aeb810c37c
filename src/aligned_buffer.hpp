// Internal: a growable scratch buffer whose data starts on a 64-byte
// boundary (a cache line, and an AVX-512 vector), so that vector loads and
// stores of rows that are whole cache lines never straddle two lines (in the
// fused pass's block products such split loads cost a quarter of the time).
#pragma once

#include <cstdint>
#include <vector>

namespace dictlearn::detail {

template <typename T>
class AlignedBuffer {
 public:
  static constexpr int64_t kAlignment = 64;

  /// Makes room for at least n values (the contents are not kept when it grows).
  void reserve(int64_t n) {
    if (n <= capacity_) return;
    storage_.assign(static_cast<size_t>(n + kAlignment / static_cast<int64_t>(sizeof(T))), T(0));
    const auto address = reinterpret_cast<uintptr_t>(storage_.data());
    const auto aligned = (address + kAlignment - 1) / kAlignment * kAlignment;
    data_ = storage_.data() + (aligned - address) / sizeof(T);
    capacity_ = n;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }

 private:
  std::vector<T> storage_;
  T* data_ = nullptr;
  int64_t capacity_ = 0;
};

}  // namespace dictlearn::detail
