// Internal: a growable scratch buffer whose data starts on a 64-byte
// boundary (a cache line, and an AVX-512 vector), so that vector loads and
// stores of rows that are whole cache lines never straddle two lines (split
// loads are a measurable part of the fused pass's block products; see
// docs/PERFORMANCE.md, "History").
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace dictlearn::detail {

template <typename T>
class AlignedBuffer {
 public:
  static constexpr int64_t kAlignment = 64;

  AlignedBuffer() = default;
  // A copy would need its own alignment: none. Moving keeps the storage (and
  // so the offset) and leaves the source empty.
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& other) noexcept { *this = std::move(other); }
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept {
    storage_ = std::move(other.storage_);
    offset_ = other.offset_;
    capacity_ = other.capacity_;
    other.storage_.clear();
    other.offset_ = other.capacity_ = 0;
    return *this;
  }

  /// Makes room for at least n values (the contents are not kept when it grows).
  void reserve(int64_t n) {
    if (n <= capacity_) return;
    storage_.assign(static_cast<size_t>(n + kAlignment / static_cast<int64_t>(sizeof(T))), T(0));
    const auto address = reinterpret_cast<uintptr_t>(storage_.data());
    offset_ = static_cast<int64_t>(
        ((address + kAlignment - 1) / kAlignment * kAlignment - address) / sizeof(T));
    capacity_ = n;
  }
  /// The first of the reserved values, 64-byte aligned; null before reserve().
  T* data() { return capacity_ > 0 ? storage_.data() + offset_ : nullptr; }
  const T* data() const { return capacity_ > 0 ? storage_.data() + offset_ : nullptr; }

 private:
  std::vector<T> storage_;
  int64_t offset_ = 0;
  int64_t capacity_ = 0;
};

}  // namespace dictlearn::detail
