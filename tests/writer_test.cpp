// Tests of the one writer (dictlearn/atomic_file.hpp) and of what the CLI
// promises through it (issue 12): targets that are not regular files refused
// and left as they were, links written through, content checked before the
// rename (images whole or absent, even under a file-size limit), no temporary
// left after SIGINT/SIGTERM, stale temporaries of dead processes removed.
//
// Device nodes, FIFOs and sockets are made in the test's own temporary folder
// (never the system's /dev): a bug would replace only those.
#include "io/writer.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dictlearn/atomic_file.hpp"
#include "dictlearn/io.hpp"
#include "dictlearn/model.hpp"
#include "dictlearn/plot.hpp"
#include "dictlearn/sparse_codes.hpp"
#include "dictlearn/trainer.hpp"
#include "dictlearn/training_log.hpp"
#include "io/images.hpp"
#include "io/zip.hpp"
#include "test_util.hpp"

extern char** environ;

namespace dictlearn {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

/// Names in `folder` that look like a temporary of the writer (".<name>.tmp.")
/// or of the old gnuplot driver (".<name>.<pid>-<n>.tmp").
std::vector<std::string> temporaries(const fs::path& folder) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (contains(name, ".tmp")) out.push_back(name);
  }
  return out;
}

// ---------------------------------------------------------------- special files

/// The kinds of non-regular files a target may be.
enum class Kind { fifo, folder, socket, char_device, block_device };

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::fifo:
      return "a FIFO";
    case Kind::folder:
      return "a folder";
    case Kind::socket:
      return "a socket";
    case Kind::char_device:
      return "a character device";
    case Kind::block_device:
      return "a block device";
  }
  return "";
}

/// Makes a `kind` at `path`; false when this process may not (mknod without
/// CAP_MKNOD). The device nodes are the numbers of /dev/null (1, 3) and of
/// /dev/loop0 (7, 0); the test never opens them.
bool make_special(Kind kind, const fs::path& path) {
  switch (kind) {
    case Kind::fifo:
      return ::mkfifo(path.c_str(), 0644) == 0;
    case Kind::folder:
      fs::create_directories(path / "inside");
      return true;
    case Kind::socket: {
      // Bound by its name inside the folder: a socket's path is limited to 107 bytes.
      const fs::path previous = fs::current_path();
      fs::current_path(path.parent_path());
      const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      const std::string name = path.filename().string();
      bool bound = false;
      if (fd >= 0 && name.size() < sizeof address.sun_path) {
        std::memcpy(address.sun_path, name.c_str(), name.size() + 1);
        bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      }
      if (fd >= 0) ::close(fd);  // the socket file stays
      fs::current_path(previous);
      return bound;
    }
    case Kind::char_device:
      return ::mknod(path.c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0;
    case Kind::block_device:
      return ::mknod(path.c_str(), S_IFBLK | 0600, ::makedev(7, 0)) == 0;
  }
  return false;
}

/// The type bits and inode of `path` (not following links).
std::pair<mode_t, ino_t> identity(const fs::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return {0, 0};
  return {info.st_mode & S_IFMT, info.st_ino};
}

constexpr Kind kAllKinds[] = {Kind::fifo, Kind::folder, Kind::socket, Kind::char_device,
                              Kind::block_device};

Model<float> small_model() {
  const Matrix<float> X = testing::normal_matrix<float>(20, 3, 1);
  return initialize(X, FitOptions{.n_atoms = 2});
}

/// Every library writer, each a call that writes `path`.
std::map<std::string, std::function<void(const std::string&)>> library_writers() {
  const Matrix<float> M = testing::normal_matrix<float>(4, 3, 2);
  return {
      {"AtomicFile",
       [](const std::string& path) {
         AtomicFile file(path);
         file.write("x");
         file.commit();
       }},
      {"write_npy", [M](const std::string& path) { write_npy(path, M); }},
      {"write_csv", [M](const std::string& path) { write_csv(path, M); }},
      {"save_model", [](const std::string& path) { save_model(path, small_model()); }},
      {"write_training_log",
       [](const std::string& path) {
         write_training_log(path, TrainingLog{.columns = {"epoch", "loss"}, .rows = {{1, 2}}});
       }},
      {"write_sparse_codes",
       [M](const std::string& path) { write_sparse_codes(path, to_sparse(M)); }},
  };
}

TEST(Writer, RefusesTargetsThatAreNotRegularFiles) {
  TempDir dir("kinds");
  int made = 0;
  for (const Kind kind : kAllKinds) {
    for (const auto& entry : library_writers()) {
      // Not a structured binding: clang 14 cannot capture one in a lambda.
      const std::string& writer = entry.first;
      const auto& write = entry.second;
      const fs::path target = dir.path() / fmt::format("t{}", made++);
      if (!make_special(kind, target)) {
        if (kind == Kind::char_device || kind == Kind::block_device) {
          GTEST_SKIP() << "mknod is not permitted here: " << std::strerror(errno);
        }
        FAIL() << "cannot make " << kind_name(kind);
      }
      const auto before = identity(target);
      const std::string message = error_of([&] { write(target.string()); });
      EXPECT_EQ(message, target.string() + " exists and is not a regular file (" + kind_name(kind) +
                             "); it is never replaced")
          << writer;
      EXPECT_EQ(identity(target), before) << writer << ": " << kind_name(kind);
      EXPECT_TRUE(temporaries(dir.path()).empty()) << writer;
    }
  }
}

TEST(Writer, LinkToARegularFileIsWrittenThrough) {
  TempDir dir("link");
  fs::create_directories(dir.path() / "a");
  fs::create_directories(dir.path() / "b");
  const fs::path real = dir.path() / "b" / "real.npy";
  write_text(real, "old");
  ::chmod(real.c_str(), 0640);
  const fs::path link = dir.path() / "a" / "out.npy";
  const fs::path chain = dir.path() / "a" / "chain.npy";
  fs::create_symlink("../b/real.npy", link);  // relative to the link's folder
  fs::create_symlink("out.npy", chain);       // a link to a link
  const Matrix<float> M = testing::normal_matrix<float>(5, 2, 3);
  write_npy(link.string(), M);
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), "../b/real.npy");
  EXPECT_EQ(read_npy<float>(real.string()), M);
  EXPECT_EQ(fs::status(real).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);

  const Matrix<float> N = testing::normal_matrix<float>(3, 2, 4);
  write_npy(chain.string(), N);
  EXPECT_TRUE(fs::is_symlink(chain));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_npy<float>(real.string()), N);
  EXPECT_TRUE(temporaries(dir.path() / "a").empty());
  EXPECT_TRUE(temporaries(dir.path() / "b").empty());
}

TEST(Writer, DanglingLinksLoopsAndLinksToSpecialFilesAreRefused) {
  TempDir dir("dangling");
  const fs::path dangling = dir.path() / "dangling.npy";
  fs::create_symlink("missing.npy", dangling);
  EXPECT_EQ(error_of([&] { AtomicFile file(dangling.string()); }),
            dangling.string() +
                " is a symbolic link to missing.npy, which does not exist; only a link to an "
                "existing regular file is written through");
  EXPECT_TRUE(fs::is_symlink(dangling));
  EXPECT_FALSE(fs::exists(dir.path() / "missing.npy"));

  const fs::path loop = dir.path() / "loop.npy";
  fs::create_symlink("loop.npy", loop);
  EXPECT_TRUE(contains(error_of([&] { write_npy(loop.string(), Matrix<float>::Ones(1, 1)); }),
                       "is a symbolic link that cannot be followed"));

  const fs::path fifo = dir.path() / "fifo";
  ASSERT_TRUE(make_special(Kind::fifo, fifo));
  const fs::path to_fifo = dir.path() / "to_fifo.npy";
  fs::create_symlink("fifo", to_fifo);
  EXPECT_EQ(error_of([&] { write_npy(to_fifo.string(), Matrix<float>::Ones(1, 1)); }),
            to_fifo.string() +
                " is a symbolic link to fifo, which is not a regular file (a FIFO); it is never "
                "replaced");
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_TRUE(fs::is_symlink(to_fifo));
  EXPECT_TRUE(temporaries(dir.path()).empty());
}

TEST(Writer, AFailedContentCheckLeavesNothing) {
  TempDir dir("check");
  const fs::path path = dir.path() / "out.bin";
  {
    AtomicFile file(path.string());
    file.write("content");
    EXPECT_EQ(error_of([&] {
                file.commit([&](const std::string& temp) {
                  EXPECT_EQ(read_all(temp), "content");  // the complete file
                  throw Error("out.bin: refused");
                });
              }),
              "out.bin: refused");
  }
  EXPECT_TRUE(dir.listing().empty());

  write_text(path, "previous");
  {
    AtomicFile file(path.string());
    file.write("new");
    EXPECT_THROW(file.commit([](const std::string&) { throw Error("no"); }), Error);
  }
  EXPECT_EQ(read_all(path), "previous");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.bin"});
}

TEST(Writer, HandedOverContentIsCheckedThenRenamed) {
  TempDir dir("handover");
  const fs::path path = dir.path() / "image.bin";
  AtomicFile file(path.string());
  const std::string temp = file.hand_over();
  EXPECT_EQ(fs::path(temp).parent_path(), dir.path());
  EXPECT_THROW(file.write("x"), Error);
  write_text(temp, "written by another program");
  bool checked = false;
  file.commit([&](const std::string& complete) {
    checked = read_all(complete) == "written by another program";
  });
  EXPECT_TRUE(checked);
  EXPECT_EQ(read_all(path), "written by another program");
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"image.bin"});
}

TEST(Writer, ATargetReplacedBeforeTheRenameIsNotReplaced) {
  TempDir dir("race");
  const fs::path path = dir.path() / "out.bin";
  {
    AtomicFile file(path.string());
    file.write("x");
    ASSERT_TRUE(make_special(Kind::fifo, path));
    EXPECT_EQ(error_of([&] { file.commit(); }),
              path.string() + " exists and is not a regular file (a FIFO); it is never replaced");
  }
  EXPECT_TRUE(fs::is_fifo(path));
  EXPECT_EQ(dir.listing(), std::vector<std::string>{"out.bin"});
}

TEST(Writer, LongNamesGetAShortenedTemporary) {
  TempDir dir("long");
  const fs::path path = dir.path() / (std::string(250, 'n') + ".npy");  // 254 bytes: the limit
  write_npy(path.string(), Matrix<float>::Ones(2, 2));
  EXPECT_EQ(read_npy<float>(path.string()), Matrix<float>::Ones(2, 2));
  EXPECT_EQ(dir.listing().size(), 1u);
}

/// A pid that no longer runs: a child that exited and was reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

/// Stale and live temporaries of the writer's pattern for `name`, and names
/// the removal must leave: another machine's tag, the old pattern, a folder.
struct TempFixture {
  explicit TempFixture(const fs::path& folder, const std::string& name) {
    stale = folder / (detail::temp_name_prefix(name, dead_pid()) + "Ab3dE9");
    live = folder / (detail::temp_name_prefix(name, 1) + "Zx81Qq");  // init always runs
    const std::string dead = std::to_string(dead_pid());
    const std::string tag = detail::temp_name_prefix(name, 7).substr(name.size() + 6, 8);
    other_machine = folder / ("." + name + ".tmp." + (tag == "00000000" ? "11111111" : "00000000") +
                              "." + dead + ".Ab3dE9");
    old_pattern = folder / ("." + name + ".tmp.Ab3dE9");
    stale_folder = folder / (detail::temp_name_prefix(name, dead_pid()) + "Folder");
    for (const fs::path& path : {stale, live, other_machine, old_pattern}) {
      write_text(path, "partial");
    }
    fs::create_directories(stale_folder);
  }
  void expect_only_stale_removed() const {
    EXPECT_FALSE(fs::exists(stale)) << stale;
    for (const fs::path& path : {live, other_machine, old_pattern, stale_folder}) {
      EXPECT_TRUE(fs::exists(path)) << path;
    }
  }
  fs::path stale, live, other_machine, old_pattern, stale_folder;
};

TEST(Writer, StaleTemporariesOfDeadProcessesAreRemoved) {
  TempDir dir("stale");
  const TempFixture fixture(dir.path(), "model.safetensors");
  write_npy((dir.path() / "other.npy").string(), Matrix<float>::Ones(1, 1));
  fixture.expect_only_stale_removed();
}

// ---------------------------------------------------------------- images

uint32_t crc_of(const std::string& bytes) {
  detail::Crc32 crc;
  crc.update(bytes.data(), bytes.size());
  return crc.value();
}

std::string big_endian32(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
          static_cast<char>(value >> 8), static_cast<char>(value)};
}

std::string png_chunk(const std::string& type, const std::string& data) {
  return big_endian32(static_cast<uint32_t>(data.size())) + type + data +
         big_endian32(crc_of(type + data));
}

/// A structurally complete PNG (its IDAT is not a real image: the check does
/// not decompress).
std::string small_png() {
  return std::string("\x89PNG\r\n\x1a\n", 8) +
         png_chunk("IHDR", std::string("\0\0\0\1\0\0\0\1\x08\x02\0\0\0", 13)) +
         png_chunk("IDAT", std::string("\x78\x9c\x63\xf8\x0f\x00\x01\x01\x01\x00", 10)) +
         png_chunk("IEND", "");
}

/// A complete GIF89a: global colour table, a graphic control extension, one
/// 1x1 image, the trailer.
std::string small_gif() {
  std::string gif = "GIF89a";
  gif += std::string("\x01\0\x01\0\x80\0\0", 7) + std::string(6, '\x7f');
  gif += std::string("\x21\xf9\x04\x00\x08\x00\x00\x00", 8);
  gif += std::string("\x2c\0\0\0\0\x01\0\x01\0\0", 10) + std::string("\x02\x02\x44\x01\x00", 5);
  return gif + "\x3b";
}

TEST(Images, EveryCutOfAPngOrGifIsFound) {
  const std::string png = small_png();
  EXPECT_EQ(detail::png_problem(png), "");
  for (size_t size = 0; size < png.size(); ++size) {
    EXPECT_NE(detail::png_problem(png.substr(0, size)), "") << size;
  }
  std::string flipped = png;
  flipped[20] ^= 1;
  EXPECT_EQ(detail::png_problem(flipped), "the PNG's IHDR chunk fails its CRC");
  EXPECT_EQ(detail::png_problem(png + "x"), "bytes follow the PNG's IEND chunk");

  const std::string gif = small_gif();
  EXPECT_EQ(detail::gif_problem(gif), "");
  for (size_t size = 0; size < gif.size(); ++size) {
    EXPECT_NE(detail::gif_problem(gif.substr(0, size)), "") << size;
  }
  // Cut where the last byte happens to be the trailer's value: still incomplete.
  std::string fake_end = gif.substr(0, gif.size() - 3);
  fake_end.back() = '\x3b';
  EXPECT_NE(detail::gif_problem(fake_end), "");
}

/// A stand-in for gnuplot: reads the script, writes `content` (printf
/// format) where it says `set output`, then runs `after` (shell).
fs::path fake_gnuplot(const fs::path& folder, const std::string& content,
                      const std::string& after = "exit 0") {
  const fs::path fake = folder / "fake-gnuplot";
  write_text(fake,
             "#!/bin/sh\nout=$(sed -n 's/^set output \"\\(.*\\)\"$/\\1/p' | head -n 1)\n"
             "printf '" +
                 content + "' > \"$out\"\n" + after + "\n");
  fs::permissions(fake, fs::perms::owner_all);
  return fake;
}

/// Sets an environment variable for the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) previous_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (previous_) {
      ::setenv(name_, previous_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> previous_;
};

PlotInput small_plot_input() {
  PlotInput input;
  input.data = testing::normal_matrix<double>(30, 2, 5);
  return input;
}

TEST(Images, AnIncompleteImageFromGnuplotIsNotKept) {
  TempDir dir("cut");
  const fs::path out = dir.path() / "figures";
  // A PNG signature and nothing else, exit status 0: what gnuplot leaves on a full disk.
  const ScopedEnv fake("DICTLEARN_GNUPLOT",
                       fake_gnuplot(dir.path(), "\\211PNG\\r\\n\\032\\n").string());
  EXPECT_EQ(error_of([&] { render_figures(small_plot_input(), out.string()); }),
            (out / "scatter.png").string() + ": gnuplot (" +
                (dir.path() / "fake-gnuplot").string() +
                ") wrote an incomplete image (the PNG ends before its IEND chunk; a full disk or "
                "a file-size limit?); it was not kept");
  EXPECT_FALSE(fs::exists(out / "scatter.png"));
  EXPECT_TRUE(temporaries(out).empty());
}

TEST(Images, AFigureTargetThatIsNotARegularFileIsRefused) {
  TempDir dir("special");
  const fs::path out = dir.path() / "figures";
  fs::create_directories(out);
  ASSERT_TRUE(make_special(Kind::fifo, out / "scatter.png"));
  const ScopedEnv fake("DICTLEARN_GNUPLOT", fake_gnuplot(dir.path(), "x").string());
  EXPECT_EQ(error_of([&] { render_figures(small_plot_input(), out.string()); }),
            (out / "scatter.png").string() +
                " exists and is not a regular file (a FIFO); it is never replaced");
  EXPECT_TRUE(fs::is_fifo(out / "scatter.png"));
  EXPECT_TRUE(temporaries(out).empty());
}

// ---------------------------------------------------------------- the CLI

/// The CLI run as a child: stdout and stderr in files, environment changes
/// (name -> value), an optional file-size limit. The signals the tests send
/// are reset to their defaults in the child, whatever this process does.
class Cli {
 public:
  Cli(const TempDir& dir, std::vector<std::string> args,
      const std::map<std::string, std::string>& env = {}, rlim_t file_size_limit = 0)
      : out_(dir / "cli.out"), err_(dir / "cli.err") {
    std::vector<std::string> strings = {DICTLEARN_CLI};
    strings.insert(strings.end(), args.begin(), args.end());
    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string text = *entry;
      if (env.count(text.substr(0, text.find('='))) == 0) environment.push_back(text);
    }
    for (const auto& [name, value] : env) environment.push_back(name + "=" + value);
    std::vector<char*> argv, envp;
    for (std::string& s : strings) argv.push_back(s.data());
    for (std::string& s : environment) envp.push_back(s.data());
    argv.push_back(nullptr);
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0) ::_exit(126);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      sigset_t signals;
      sigemptyset(&signals);
      for (int s : {SIGINT, SIGTERM, SIGHUP}) {
        ::signal(s, SIG_DFL);
        sigaddset(&signals, s);
      }
      ::sigprocmask(SIG_UNBLOCK, &signals, nullptr);
      if (file_size_limit > 0) {
        const rlimit limit{file_size_limit, file_size_limit};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
      }
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
  }
  ~Cli() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  pid_t pid() const { return pid_; }
  /// Exit code, or -signal.
  int wait() {
    if (!status_) {
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
    return *status_;
  }
  std::string err() const { return read_all(err_); }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Expects exit 1 and exactly one stderr line "dictlearn: error: ..." containing `needle`.
void expect_one_error_line(Cli& cli, const std::string& needle) {
  EXPECT_EQ(cli.wait(), 1);
  const std::string err = cli.err();
  EXPECT_EQ(err.rfind("dictlearn: error: ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_TRUE(contains(err, needle)) << "missing '" << needle << "' in " << err;
}

TEST(WriterCli, TargetsThatAreNotRegularFilesAreRefusedForEveryOutput) {
  TempDir dir("cli_kinds");
  const std::string data = dir / "toy.npy";
  write_npy(data, testing::normal_matrix<float>(50, 2, 6));
  const std::string model = dir / "model.safetensors";
  ASSERT_EQ(Cli(dir, {"fit", data, "-o", model, "-e", "2", "-q"}).wait(), 0);
  int made = 0;
  for (const Kind kind : {Kind::fifo, Kind::folder, Kind::socket, Kind::char_device}) {
    const auto fresh = [&](const std::string& extension) {
      return dir.path() / ("s" + std::to_string(made++) + extension);
    };
    // Each run and the path in it that is made `kind` first.
    std::vector<std::pair<std::vector<std::string>, fs::path>> runs;
    for (const auto& [flag, extension] : std::vector<std::pair<std::string, std::string>>{
             {"-o", ".safetensors"}, {"--log", ".csv"}, {"--checkpoint", ".ckpt"}}) {
      const fs::path target = fresh(extension);
      std::vector<std::string> args = {"fit", data, "-o", dir / "new.safetensors", "-e", "2"};
      if (flag == "-o") {
        args[3] = target.string();
      } else {
        args.insert(args.end(), {flag, target.string()});
      }
      runs.push_back({args, target});
    }
    fs::path target = fresh(".npy");
    runs.push_back({{"toy", "-o", target.string()}, target});
    target = fresh(".npy");
    runs.push_back({{"encode", model, data, "-o", target.string()}, target});
    target = fresh(".npy");
    runs.push_back({{"reconstruct", model, data, "-o", target.string()}, target});
    // A file in the output folder of plot and demo.
    const fs::path plot_folder = fresh("_plot"), demo_folder = fresh("_demo");
    fs::create_directories(plot_folder);
    fs::create_directories(demo_folder);
    runs.push_back({{"plot", data, "-o", plot_folder.string()}, plot_folder / "scatter.png"});
    runs.push_back(
        {{"demo", "-o", demo_folder.string(), "-e", "2"}, demo_folder / "model.safetensors"});
    for (const auto& [args, path] : runs) {
      if (!make_special(kind, path)) {
        if (kind == Kind::char_device) GTEST_SKIP() << "mknod is not permitted here";
        FAIL() << "cannot make " << kind_name(kind) << " " << path;
      }
      const auto before = identity(path);
      Cli cli(dir, args);
      expect_one_error_line(cli, path.string() + " exists and is not a regular file (" +
                                     kind_name(kind) + "); it is never replaced");
      EXPECT_EQ(identity(path), before) << args[0] << " " << path;
      EXPECT_TRUE(temporaries(path.parent_path()).empty()) << path.parent_path();
    }
    EXPECT_FALSE(fs::exists(dir / "new.safetensors"));
  }
}

TEST(WriterCli, LinksAreWrittenThroughAndDanglingLinksRefusedBeforeAnyWork) {
  TempDir dir("cli_links");
  const std::string data = dir / "toy.npy";
  write_npy(data, testing::normal_matrix<float>(50, 2, 7));
  fs::create_directories(dir.path() / "store");
  for (const char* name : {"model.safetensors", "log.csv", "run.ckpt"}) {
    write_text(dir.path() / "store" / name, "old");
    fs::create_symlink(fs::path("store") / name, dir.path() / name);
  }
  Cli fit(dir, {"fit", data, "-o", dir / "model.safetensors", "--log", dir / "log.csv",
                "--checkpoint", dir / "run.ckpt", "-e", "3", "-q"});
  ASSERT_EQ(fit.wait(), 0) << fit.err();
  for (const char* name : {"model.safetensors", "log.csv", "run.ckpt"}) {
    EXPECT_TRUE(fs::is_symlink(dir.path() / name)) << name;
    EXPECT_NE(read_all(dir.path() / "store" / name), "old") << name;
  }
  EXPECT_EQ(load_model<float>(dir / "store/model.safetensors").n_atoms(), 2);
  EXPECT_EQ(read_training_log(dir / "store/log.csv").rows.size(), 3u);
  EXPECT_TRUE(temporaries(dir.path()).empty());
  EXPECT_TRUE(temporaries(dir.path() / "store").empty());

  fs::create_symlink("nowhere.safetensors", dir.path() / "dangling.safetensors");
  const auto start = Clock::now();
  Cli dangling(dir, {"fit", data, "-o", dir / "dangling.safetensors", "-e", "100000"});
  expect_one_error_line(dangling,
                        "is a symbolic link to nowhere.safetensors, which does not exist");
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 20.0);  // before training
  EXPECT_FALSE(fs::exists(dir.path() / "nowhere.safetensors"));
  EXPECT_TRUE(fs::is_symlink(dir.path() / "dangling.safetensors"));
}

bool gnuplot_installed() { return ::access("/usr/bin/gnuplot", X_OK) == 0; }

/// Every image in `folder` is whole; `absent` is not there; no temporary.
void expect_no_partial_image(const fs::path& folder, const std::string& absent) {
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    const std::string extension = entry.path().extension().string();
    if (extension == ".png" || extension == ".gif") {
      EXPECT_EQ(detail::image_problem(entry.path().string(), name), "") << name;
    }
  }
  EXPECT_FALSE(fs::exists(folder / absent)) << absent;
  EXPECT_TRUE(temporaries(folder).empty());
}

TEST(WriterCli, PlotAndDemoUnderAFileSizeLimitLeaveNoPartialImage) {
  if (!gnuplot_installed()) GTEST_SKIP() << "gnuplot is not installed";
  TempDir dir("fsize");
  const std::string data = dir / "toy.npy", model = dir / "m.safetensors", log = dir / "log.csv";
  ASSERT_EQ(Cli(dir, {"toy", "-o", data}).wait(), 0);
  ASSERT_EQ(Cli(dir, {"fit", data, "-o", model, "--log", log, "-e", "20", "-q"}).wait(), 0);
  // 100 kB: the data files and the PNGs fit (about 65 kB at most), the GIF (about 260 kB) not.
  const rlim_t limit = 100 * 1024;
  const std::map<std::string, std::string> env = {{"DICTLEARN_GNUPLOT", "/usr/bin/gnuplot"}};
  Cli plot(dir, {"plot", data, "-m", model, "-l", log, "-o", dir / "figures"}, env, limit);
  expect_one_error_line(plot, (dir.path() / "figures" / "atoms.gif").string() +
                                  ": gnuplot (/usr/bin/gnuplot) wrote an incomplete image");
  expect_no_partial_image(dir.path() / "figures", "atoms.gif");

  Cli demo(dir, {"demo", "-o", dir / "demo", "-e", "20", "-q"}, env, limit);
  expect_one_error_line(demo, (dir.path() / "demo" / "atoms.gif").string() +
                                  ": gnuplot (/usr/bin/gnuplot) wrote an incomplete image");
  expect_no_partial_image(dir.path() / "demo", "atoms.gif");
}

/// Waits (up to `seconds`) until `ready` holds; false on time-out.
bool wait_until(const std::function<bool()>& ready, double seconds) {
  const auto start = Clock::now();
  while (!ready()) {
    if (std::chrono::duration<double>(Clock::now() - start).count() > seconds) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

bool runs(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  // A zombie no parent reaps yet has ended too.
  const std::string stat = read_all("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

TEST(WriterCli, SignalsDuringFitLeaveNoTemporaries) {
  TempDir dir("fit_signals");
  const std::string data = dir / "toy.npy";
  ASSERT_EQ(Cli(dir, {"toy", "-o", data}).wait(), 0);
  const fs::path out = dir.path() / "out", tmp = dir.path() / "tmp";
  fs::create_directories(out);
  fs::create_directories(tmp);
  int caught_in_a_write = 0;
  for (const int signal_number : {SIGTERM, SIGINT, SIGHUP, SIGTERM, SIGINT, SIGHUP}) {
    Cli fit(dir,
            {"fit", data, "-o", (out / "model.safetensors").string(), "--log",
             (out / "log.csv").string(), "--checkpoint", (out / "run.ckpt").string(),
             "--checkpoint-every", "1", "--snapshot-every", "1", "-e", "100000000", "-q"},
            {{"TMPDIR", tmp.string()}});
    // While a temporary is being written, if the poll sees one within 10 s.
    if (wait_until([&] { return !temporaries(out).empty(); }, 10)) ++caught_in_a_write;
    ::kill(fit.pid(), signal_number);
    EXPECT_EQ(fit.wait(), -signal_number);
    EXPECT_EQ(temporaries(out), std::vector<std::string>{});
    EXPECT_TRUE(fs::is_empty(tmp));
  }
  EXPECT_GT(caught_in_a_write, 0);  // the test did test something
}

TEST(WriterCli, SignalsDuringDemoAndPlotLeaveNoTemporariesAndStopGnuplot) {
  TempDir dir("demo_signals");
  const fs::path tmp = dir.path() / "tmp";
  fs::create_directories(tmp);
  const fs::path pid_file = dir.path() / "gnuplot.pid";
  // gnuplot in the middle of writing an image: part of it written, still running.
  const fs::path fake = fake_gnuplot(dir.path(), "\\211PNG partial",
                                     "echo $$ > " + pid_file.string() + "\nexec sleep 60");
  const std::string data = dir / "toy.npy";
  write_npy(data, testing::normal_matrix<float>(50, 2, 9));
  for (const int signal_number : {SIGTERM, SIGINT}) {
    for (const std::string command : {"demo", "plot"}) {
      fs::remove(pid_file);
      const fs::path out = dir.path() / (command + std::to_string(signal_number));
      const std::vector<std::string> args =
          command == "demo" ? std::vector<std::string>{"demo", "-o", out.string(), "-e", "5", "-q"}
                            : std::vector<std::string>{"plot", data, "-o", out.string()};
      Cli demo(dir, args, {{"TMPDIR", tmp.string()}, {"DICTLEARN_GNUPLOT", fake.string()}});
      ASSERT_TRUE(wait_until(
          [&] {
            return fs::exists(out) && !temporaries(out).empty() && !read_all(pid_file).empty();
          },
          30));
      const pid_t gnuplot = std::stoi(read_all(pid_file));
      ::kill(demo.pid(), signal_number);
      EXPECT_EQ(demo.wait(), -signal_number);
      EXPECT_EQ(temporaries(out), std::vector<std::string>{});
      EXPECT_FALSE(fs::exists(out / "scatter.png"));
      EXPECT_TRUE(fs::is_empty(tmp));
      EXPECT_TRUE(wait_until([&] { return !runs(gnuplot); }, 5)) << "gnuplot outlived the CLI";
      ::kill(gnuplot, SIGKILL);  // should it have survived
    }
  }
}

TEST(WriterCli, TheNextRunRemovesStaleTemporariesOfDeadRuns) {
  TempDir dir("cli_stale");
  const std::string data = dir / "toy.npy";
  write_npy(data, testing::normal_matrix<float>(50, 2, 8));
  const fs::path out = dir.path() / "out";
  fs::create_directories(out);
  const TempFixture fixture(out, "model.safetensors");
  Cli fit(dir, {"fit", data, "-o", (out / "model.safetensors").string(), "-e", "2", "-q"});
  ASSERT_EQ(fit.wait(), 0) << fit.err();
  fixture.expect_only_stale_removed();
}

}  // namespace
}  // namespace dictlearn
