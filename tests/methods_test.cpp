// The method registry: one row per method, built from the family tables.
#include "dictlearn/methods.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "dictlearn/coders.hpp"
#include "dictlearn/encoders.hpp"

namespace dictlearn {
namespace {

TEST(MethodsTest, EveryEncoderAndCoderHasItsRowAndTheLearnerToo) {
  const auto& rows = methods();
  ASSERT_EQ(rows.size(), encoder_table().size() + coder_table().size() + 5);
  for (const EncoderTraits& encoder : encoder_table()) {
    const MethodInfo* row = find_method(encoder.name);
    ASSERT_NE(row, nullptr) << encoder.name;
    EXPECT_EQ(row->family, MethodFamily::encoder);
    EXPECT_EQ(row->help, encoder.help);  // the same text, spelled once
    EXPECT_EQ(row->options, "EncoderOptions");
  }
  for (const CoderTraits& coder : coder_table()) {
    const MethodInfo* row = find_method(coder.name);
    ASSERT_NE(row, nullptr) << coder.name;
    EXPECT_EQ(row->family, MethodFamily::coder);
    EXPECT_EQ(row->parameters.size(), coder.parameters.size());
  }
  const MethodInfo* gradient = find_method("gradient");
  ASSERT_NE(gradient, nullptr);
  EXPECT_EQ(gradient->family, MethodFamily::learner);
  EXPECT_EQ(gradient->options, "FitOptions");
  // The classical learners, in LearningMethod's order after the gradient learner.
  const std::vector<std::string> classical = {"online", "alternating", "mod", "ksvd"};
  for (size_t i = 0; i < classical.size(); ++i) {
    const MethodInfo& learner = rows[rows.size() - classical.size() + i];
    EXPECT_EQ(learner.name, classical[i]);
    EXPECT_EQ(learner.family, MethodFamily::learner);
    EXPECT_EQ(learner.options, "LearningOptions");
    EXPECT_EQ(find_method(classical[i]), &learner);
  }
  EXPECT_EQ(find_method("no-such-method"), nullptr);
  EXPECT_STREQ(family_name(MethodFamily::coder), "coder");
}

TEST(MethodsTest, NamesAreUniqueAndParametersFollowTheTraits) {
  std::set<std::string> names;
  for (const MethodInfo& row : methods()) {
    EXPECT_TRUE(names.insert(std::string(row.name)).second) << "duplicate " << row.name;
    EXPECT_FALSE(row.help.empty()) << row.name;
  }
  using Parameters = std::vector<std::string_view>;
  EXPECT_EQ(find_method("softmax")->parameters, Parameters{"temperature"});
  EXPECT_EQ(find_method("topk")->parameters, Parameters{"k"});
  EXPECT_EQ(find_method("relu")->parameters, Parameters{});
  EXPECT_EQ(find_method("threshold")->parameters, (Parameters{"alpha", "positive"}));
}

}  // namespace
}  // namespace dictlearn
