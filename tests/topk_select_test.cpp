// TopK selection (src/encoders/encoders.cpp: block-maxima bound, heap for NaNs and
// short rows) against a full sort by (value descending, index ascending),
// on rows full of ties, and its behaviour on rows with NaNs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "encoders/encoder_rows.hpp"

namespace dictlearn::detail {
namespace {

std::vector<int> by_sorting(const std::vector<float>& row, int k) {
  std::vector<int> index(row.size());
  std::iota(index.begin(), index.end(), 0);
  std::stable_sort(index.begin(), index.end(), [&](int a, int b) { return row[a] > row[b]; });
  index.resize(std::min<size_t>(k, row.size()));
  std::sort(index.begin(), index.end());
  return index;
}

TEST(TopkSelectTest, EqualsAFullSortWithTiesToTheLowerIndex) {
  std::mt19937_64 engine(4);
  std::normal_distribution<float> normal;
  std::vector<int> order;
  std::vector<float> scratch;
  for (int cols : {1, 5, 16, 31, 64, 100, 513, 4096, 5000}) {
    for (int k : {1, 2, 7, 32, 64}) {
      for (int levels : {0, 3, 50}) {  // 0: continuous values; else that many distinct values
        std::vector<float> row(cols);
        for (float& v : row) v = levels ? static_cast<float>(engine() % levels) : normal(engine);
        topk_select(row.data(), cols, k, order, scratch);
        EXPECT_EQ(order, by_sorting(row, k))
            << cols << " columns, k " << k << ", levels " << levels;
      }
    }
  }
}

TEST(TopkSelectTest, RowsWithNaNsGiveKDistinctEntriesAndSkipLateNaNs) {
  std::vector<int> order;
  std::vector<float> scratch;
  std::vector<float> row(4096);
  for (int j = 0; j < 4096; ++j) row[j] = static_cast<float>(j % 97);
  row[3000] = std::nanf("");
  topk_select(row.data(), 4096, 32, order, scratch);
  ASSERT_EQ(order.size(), 32u);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(std::adjacent_find(order.begin(), order.end()), order.end());
  EXPECT_EQ(std::count(order.begin(), order.end(), 3000), 0);
  for (int j : order) EXPECT_EQ(row[j], 96.0f);  // the 42 entries of value 96: the first 32
  EXPECT_EQ(order.front(), 96);
}

}  // namespace
}  // namespace dictlearn::detail
