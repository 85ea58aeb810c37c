// The gnuplot driver (see gnuplot.hpp): finding gnuplot, running it on a
// figure's script through a pipe, its messages in a temporary file, and the
// rendered image renamed into place.
#include "plot/gnuplot.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/check.hpp"

namespace dictlearn::detail {
namespace {

namespace fs = std::filesystem;

/// A POSIX shell single-quoted word.
std::string sh_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool is_executable_file(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error) && ::access(path.c_str(), X_OK) == 0;
}

/// Removes a file when it goes out of scope (unless released).
class RemoveOnExit {
 public:
  explicit RemoveOnExit(fs::path path) : path_(std::move(path)) {}
  ~RemoveOnExit() {
    if (!path_.empty()) {
      std::error_code ignored;
      fs::remove(path_, ignored);
    }
  }
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

/// A fresh temporary file for gnuplot's stderr.
fs::path make_stderr_file() {
  std::error_code error;
  fs::path folder = fs::temp_directory_path(error);
  if (error) folder = "/tmp";
  std::string pattern = (folder / "dictlearn-gnuplot-XXXXXX").string();
  const int fd = ::mkstemp(pattern.data());
  DICTLEARN_CHECK(fd >= 0, "cannot create a temporary file in {} for gnuplot's messages: {}",
                  folder.string(), std::strerror(errno));
  ::close(fd);
  return pattern;
}

/// gnuplot's error, from what it wrote to stderr: the first "line N: ..."
/// message that is not a warning, else the first non-blank line.
std::string first_error_line(const fs::path& stderr_file) {
  std::ifstream in(stderr_file);
  std::string line, first;
  while (std::getline(in, line)) {
    const size_t start = line.find_first_not_of(" \t\r^");
    if (start == std::string::npos) continue;
    const std::string trimmed = line.substr(start, line.find_last_not_of(" \t\r") + 1 - start);
    if (first.empty()) first = trimmed;
    const bool warning = trimmed.find("warning") != std::string::npos ||
                         trimmed.find("Warning") != std::string::npos;
    if (!warning && trimmed.rfind("line ", 0) == 0) return trimmed;
  }
  return first;
}

/// Writes `text` to the pipe. SIGPIPE is blocked meanwhile so a gnuplot that
/// exits early makes the write fail (its exit status reports why) instead of
/// killing the process; a SIGPIPE raised here is consumed before unblocking.
void write_to_pipe(std::FILE* pipe, const std::string& text) {
  sigset_t pipe_signal, previous_mask, pending;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous_mask);

  std::fwrite(text.data(), 1, text.size(), pipe);
  std::fflush(pipe);

  sigpending(&pending);
  if (!was_pending && sigismember(&pending, SIGPIPE) == 1) {
    const timespec no_wait{0, 0};
    sigtimedwait(&pipe_signal, nullptr, &no_wait);
  }
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
}

/// Runs gnuplot in `folder` on `commands`; throws Error naming `what` when
/// it cannot be started or exits with a failure.
void run_gnuplot(const std::string& gnuplot, const fs::path& folder, const std::string& commands,
                 const std::string& what) {
  const fs::path stderr_file = make_stderr_file();
  RemoveOnExit remove_stderr(stderr_file);
  // The folder is absolute, so `cd` cannot mistake it for an option.
  const std::string command = fmt::format("cd {} && exec {} 2>{}", sh_quote(folder.string()),
                                          sh_quote(gnuplot), sh_quote(stderr_file.string()));
  std::FILE* pipe = ::popen(command.c_str(), "w");
  DICTLEARN_CHECK(pipe != nullptr, "{}: cannot start gnuplot ({}): {}", what, gnuplot,
                  std::strerror(errno));
  write_to_pipe(pipe, commands);
  const int status = ::pclose(pipe);
  DICTLEARN_CHECK(status != -1, "{}: waiting for gnuplot ({}) failed: {}", what, gnuplot,
                  std::strerror(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string how =
      WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                        : fmt::format("signal {}", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  const std::string message = first_error_line(stderr_file);
  DICTLEARN_FAIL("{}: gnuplot ({}) failed with {}{}{}", what, gnuplot, how,
                 message.empty() ? "" : ": ", message);
}

}  // namespace

std::string gp_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
      case '\r':
      case '\t':
        out += ' ';
        break;
      default:
        out += c;
    }
  }
  return out + "\"";
}

std::string gnuplot_script(const GnuplotFigure& figure, std::string_view output) {
  return fmt::format("reset\n{}\nset output {}\n{}unset output\n", figure.terminal,
                     gp_string(output), figure.commands);
}

std::optional<std::string> find_gnuplot() {
  const char* override_name = std::getenv("DICTLEARN_GNUPLOT");
  const std::string name =
      override_name != nullptr && *override_name != '\0' ? override_name : "gnuplot";
  if (name.find('/') != std::string::npos) {
    if (!is_executable_file(name)) return std::nullopt;
    std::error_code error;
    const fs::path absolute = fs::absolute(name, error);
    return error ? name : absolute.string();
  }
  const char* path_variable = std::getenv("PATH");
  const std::string search = path_variable != nullptr ? path_variable : "/usr/bin:/bin";
  size_t begin = 0;
  while (begin <= search.size()) {
    size_t end = search.find(':', begin);
    if (end == std::string::npos) end = search.size();
    const std::string folder = search.substr(begin, end - begin);
    fs::path candidate = fs::path(folder.empty() ? "." : folder) / name;
    if (is_executable_file(candidate)) {
      std::error_code error;
      const fs::path absolute = fs::absolute(candidate, error);
      return (error ? candidate : absolute).string();
    }
    begin = end + 1;
  }
  return std::nullopt;
}

void render_figure(const std::string& gnuplot, const fs::path& folder, const fs::path& shown,
                   const GnuplotFigure& figure) {
  static std::atomic<unsigned> counter{0};
  const fs::path destination = folder / figure.name;
  const std::string what = (shown / figure.name).string();
  const std::string temp_name =
      fmt::format(".{}.{}-{}.tmp", figure.name, static_cast<long>(::getpid()), counter++);
  const fs::path temp = folder / temp_name;
  RemoveOnExit remove_temp(temp);
  run_gnuplot(gnuplot, folder, gnuplot_script(figure, temp_name), what);

  std::error_code error;
  const auto size = fs::file_size(temp, error);
  DICTLEARN_CHECK(!error && size > 0, "{}: gnuplot ({}) exited without writing the image", what,
                  gnuplot);
  fs::rename(temp, destination, error);
  DICTLEARN_CHECK(!error, "{}: cannot rename the rendered image into place: {}", what,
                  error.message());
  remove_temp.release();
}

}  // namespace dictlearn::detail
