// The text readers' rules and bounds: the CSV header rule and quoting, the
// size limits of CSV and training-log lines (a binary file or /dev/zero fails
// fast, naming the file, line and limit), printable_text, the messages about
// a model file's own settings, and the thread cap.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/threads.hpp"
#include "dictlearn/figures.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/parameters.hpp"
#include "dictlearn/safetensors.hpp"
#include "dictlearn/training_log.hpp"
#include "io/detail.hpp"
#include "io/text_lines.hpp"
#include "test_util.hpp"

namespace dictlearn {
namespace {

using testing::TempDir;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a dictlearn::Error";
  return "";
}

// ------------------------------------------------------------ the header rule

TEST(CsvHeader, QuotedNumbersOnTheFirstLineAreData) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  write_text(path, "\"1\",\"2\"\n3,\"4\"\n");
  EXPECT_EQ(read_csv<double>(path), (Matrix<double>(2, 2) << 1, 2, 3, 4).finished());
  write_text(path, "\" 1.5 \", \"-2\" \n");  // spaces inside and around the quotes
  EXPECT_EQ(read_csv<double>(path), (Matrix<double>(1, 2) << 1.5, -2).finished());
}

TEST(CsvHeader, AFirstLineWithAnyFieldNotANumberIsAHeader) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  write_text(path, "x,1\n2,3\n");  // pandas: an unnamed index column is "" or a name
  EXPECT_EQ(read_csv<double>(path), (Matrix<double>(1, 2) << 2, 3).finished());
  write_text(path, ",a\n2,3\n");
  EXPECT_EQ(read_csv<double>(path), (Matrix<double>(1, 2) << 2, 3).finished());
  write_text(path, "\"a,b\",\"say \"\"c\"\"\"\n2,3\n");  // a quoted name holds a comma
  EXPECT_EQ(read_csv<double>(path), (Matrix<double>(1, 2) << 2, 3).finished());
  int header_lines = -1;
  detail::read_csv_counting_header<float>(path, header_lines);
  EXPECT_EQ(header_lines, 1);
}

TEST(CsvHeader, ANumericHeaderCannotBeToldFromDataAndIsData) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  write_text(path, "0,1\n2,3\n");  // pandas' names of unnamed columns
  EXPECT_EQ(read_csv<double>(path), (Matrix<double>(2, 2) << 0, 1, 2, 3).finished());
  // write_csv refuses to write such a header, which would come back as data.
  EXPECT_NE(error_of([&] {
              write_csv(path, Matrix<double>::Zero(1, 2), {"0", "1"});
            }).find("every header name is a number"),
            std::string::npos);
}

TEST(CsvHeader, BadQuotesNameLineAndColumn) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  write_text(path, "1,2\n3,\"4\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            path + ": line 2, column 2: the quote is not closed (a quoted field ends at its line)");
  write_text(path, "1,2\n\"3\"x,4\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            path + ": line 2, column 1: text after the closing quote");
}

// ------------------------------------------------------------------- bounds

TEST(CsvBounds, DevZeroFailsAtTheLineLimitNamingIt) {
  EXPECT_EQ(error_of([] { read_csv<float>("/dev/zero"); }),
            fmt::format("/dev/zero: line 1 is longer than {} bytes, the limit (not a text file?)",
                        detail::kMaxLineBytes));
}

TEST(CsvBounds, ALongLineWithNewlinesAfterItStillFails) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  write_text(path, "1,2\n" + std::string(detail::kMaxLineBytes + 1, '7') + "\n3,4\n");
  EXPECT_EQ(error_of([&] { read_csv<float>(path); }),
            fmt::format("{}: line 2 is longer than {} bytes, the limit (not a text file?)", path,
                        detail::kMaxLineBytes));
}

TEST(CsvBounds, TooManyFieldsAndTooLongAField) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  std::string wide = "0";
  for (size_t i = 0; i < detail::kMaxFields; ++i) wide += ",0";
  write_text(path, wide + "\n");
  EXPECT_EQ(error_of([&] { read_csv<float>(path); }),
            fmt::format("{}: line 1 has more than {} fields, the limit", path, detail::kMaxFields));
  write_text(path, "1,2\n3," + std::string(detail::kMaxFieldBytes + 1, '4') + "\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            fmt::format("{}: line 2, column 2: field longer than {} bytes, the limit", path,
                        detail::kMaxFieldBytes));
  write_text(path, "\"" + std::string(detail::kMaxFieldBytes + 1, 'a') + "\"\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            fmt::format("{}: line 1, column 1: field longer than {} bytes, the limit", path,
                        detail::kMaxFieldBytes));
  // At the limits, it reads.
  write_text(path, "1," + std::string(detail::kMaxFieldBytes - 1, '0') + "2\n");
  EXPECT_EQ(read_csv<double>(path)(0, 1), 2.0);
}

TEST(CsvBounds, ControlCharactersInFieldsAreEscaped) {
  TempDir dir;
  const std::string path = dir / "x.csv";
  write_text(path, "1,2\n3,\x1b[31mred\x07\n");
  EXPECT_EQ(error_of([&] { read_csv<double>(path); }),
            path + ": line 2, column 2: '\\x1b[31mred\\x07' is not a number");
}

TEST(TrainingLogBounds, DevZeroAndLongLinesFailNamingTheLimit) {
  EXPECT_EQ(error_of([] { read_training_log("/dev/zero"); }),
            fmt::format("/dev/zero: line 1 is longer than {} bytes, the limit (not a text file?)",
                        detail::kMaxLineBytes));
  TempDir dir;
  const std::string path = dir / "log.csv";
  write_text(path, "epoch,loss\n1," + std::string(detail::kMaxLineBytes, '5') + "\n");
  EXPECT_EQ(error_of([&] { read_training_log(path); }),
            fmt::format("{}: line 2 is longer than {} bytes, the limit (not a text file?)", path,
                        detail::kMaxLineBytes));
}

TEST(TrainingLogBounds, EpochsMustBeWholeNumbersThatFitAnInt) {
  TempDir dir;
  const std::string path = dir / "log.csv";
  for (const std::string epoch : {"1e300", "-1", "2.5", "2147483648", "nan", ""}) {
    write_text(path, "epoch,loss\n1,0.5\n" + epoch + ",0.25\n");
    EXPECT_EQ(error_of([&] { read_training_log(path); }),
              fmt::format("{}: line 3: epoch '{}' is not a whole number in [0, 2147483647]", path,
                          epoch));
  }
  write_text(path, "epoch,loss\n2147483647,0.5\n\r\n");
  EXPECT_EQ(read_training_log(path).rows.at(0).at(0), 2147483647.0);
  // A log built in memory reaches plot without the reader's check.
  TrainingLog log{.columns = {"epoch", "loss", "atom0_x", "atom0_y"}, .rows = {{1e300, 1, 0, 0}}};
  const Matrix<double> data = (Matrix<double>(2, 2) << 0, 1, 1, 0).finished();
  EXPECT_NE(error_of([&] { make_plot_input(data, &log, nullptr); }).find("epoch 1e+300"),
            std::string::npos);
}

TEST(TrainingLogBounds, ACheckpointKeepsEmptyColumnNames) {
  // fuzz_training_log: an empty first name lost its comma, an empty last one was dropped.
  for (const std::vector<std::string>& columns :
       {std::vector<std::string>{"epoch", "loss", ""}, {"", "epoch", "loss"}, {"", "", "epoch"}}) {
    TrainingLog log{.columns = columns, .rows = {}};
    TensorFile file;
    log_to_tensors(log, file);
    const std::optional<TrainingLog> back = log_from_tensors(file, "ck");
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->columns, log.columns);
  }
}

// ----------------------------------------------------------- printable text

TEST(PrintableText, EscapesControlsC1AndBadUtf8KeepsText) {
  EXPECT_EQ(printable_text("plain text, 1.5e-3 [ok]"), "plain text, 1.5e-3 [ok]");
  EXPECT_EQ(printable_text("a\x1b[2Jb\tc\nd\x7f"), "a\\x1b[2Jb\\x09c\\x0ad\\x7f");
  EXPECT_EQ(printable_text(std::string("nul\0end", 7)), "nul\\x00end");
  EXPECT_EQ(printable_text("caf\xc3\xa9 \xe2\x89\x88 \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x89\x88 \xf0\x9f\x98\x80");  // é ≈ and an emoji stay
  EXPECT_EQ(printable_text("csi\xc2\x9b"
                           "31m"),
            "csi\\xc2\\x9b31m");  // U+009B, the C1 CSI
  EXPECT_EQ(printable_text("raw\x9b"
                           "31m"),
            "raw\\x9b31m");                                    // a lone byte
  EXPECT_EQ(printable_text("\xc0\xaf \xed\xa0\x80 \xe2\x89"),  // overlong, surrogate,
            "\\xc0\\xaf \\xed\\xa0\\x80 \\xe2\\x89");          // cut short
}

// ------------------------------------------------- a model file's settings

void write_model_with(const std::string& path, const std::string& key, const std::string& value,
                      const std::string& encoder = "topk") {
  Model<float> model = init_model<float>(2, 3, 1);
  model.encoder = {.kind = EncoderKind::topk, .k = 1};
  save_model(path, model);
  TensorFile file = read_safetensors(path);
  file.metadata["encoder"] = encoder;
  file.metadata[key] = value;
  write_safetensors(path, file);
}

TEST(ModelFileSettings, ErrorsNameTheFileAndKeyNotAFlag) {
  TempDir dir;
  const std::string path = dir / "m.safetensors";
  write_model_with(path, "k", "5");
  EXPECT_EQ(error_of([&] { load_model<float>(path); }),
            path + ": metadata 'k': 5 exceeds the number of atoms (2)");
  write_model_with(path, "k", "0");
  EXPECT_EQ(error_of([&] { load_model<float>(path); }),
            path + ": metadata 'k': topk needs k >= 1 active atoms per sample, got 0");
  write_model_with(path, "threshold", "-1");
  EXPECT_EQ(error_of([&] { load_model<double>(path); }),
            path + ": metadata 'threshold': must be >= 0 and finite, got -1");
  write_model_with(path, "temperature", "0", "softmax");
  EXPECT_EQ(error_of([&] { load_model<float>(path); }),
            path + ": metadata 'temperature': must be > 0 and finite, got 0");
  // Options from the command line still name the flag.
  EXPECT_EQ(error_of([] { validate(EncoderOptions{.kind = EncoderKind::topk, .k = 3}, 2); }),
            "--k: 3 exceeds the number of atoms (2)");
  EXPECT_EQ(error_of([] { validate(EncoderOptions{.k = -5}, 2); }),
            "--k: must be >= 0 (0: not used by softmax), got -5");
}

// ------------------------------------------------------------------ threads

TEST(Threads, CappedAtAStatedMultipleOfTheCores) {
  EXPECT_GE(available_cores(), 1);
  EXPECT_EQ(max_threads(), kThreadsPerCore * available_cores());
  EXPECT_EQ(resolve_threads(1'000'000), max_threads());
  EXPECT_EQ(resolve_threads(std::numeric_limits<int>::max()), max_threads());
  EXPECT_EQ(resolve_threads(1), 1);
  EXPECT_EQ(resolve_threads(0), available_cores());
  // The cap itself can start: ensure_threads finds no limit here.
  EXPECT_EQ(threads_for(max_threads(), 1e12), max_threads());
}

}  // namespace
}  // namespace dictlearn
