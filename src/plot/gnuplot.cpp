// The gnuplot driver (see gnuplot.hpp): finding gnuplot, running it on a
// figure's script through a pipe, its messages in a file without a name, and
// the rendered image checked and renamed into place by AtomicFile.
#include "plot/gnuplot.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/atomic_file.hpp"
#include "io/images.hpp"
#include "io/writer.hpp"

namespace dictlearn::detail {
namespace {

namespace fs = std::filesystem;

bool is_executable_file(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error) && ::access(path.c_str(), X_OK) == 0;
}

/// A file without a name for gnuplot's stderr (nothing to clean up, even after
/// a signal; memory-backed, so a full disk does not hide the message).
int make_stderr_file() {
  int fd = ::memfd_create("dictlearn-gnuplot-stderr", MFD_CLOEXEC);
  if (fd < 0) {
    std::FILE* file = std::tmpfile();  // unlinked at once (O_TMPFILE where supported)
    if (file != nullptr) fd = ::dup(::fileno(file));
    if (file != nullptr) std::fclose(file);
  }
  DICTLEARN_CHECK(fd >= 0, "cannot create a temporary file for gnuplot's messages: {}",
                  std::strerror(errno));
  return fd;
}

/// gnuplot's error, from what it wrote to stderr: the first "line N: ..."
/// message that is not a warning, else the first non-blank line.
std::string first_error_line(int stderr_fd) {
  std::string text;
  char buffer[4096];
  ::lseek(stderr_fd, 0, SEEK_SET);
  ssize_t got;
  while (text.size() < (1u << 20) && (got = ::read(stderr_fd, buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<size_t>(got));
  }
  std::istringstream in(text);
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
void write_to_pipe(int pipe, const std::string& text) {
  sigset_t pipe_signal, previous_mask, pending;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous_mask);

  size_t done = 0;
  while (done < text.size()) {
    const ssize_t wrote = ::write(pipe, text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) break;
    done += static_cast<size_t>(wrote);
  }

  sigpending(&pending);
  if (!was_pending && sigismember(&pending, SIGPIPE) == 1) {
    const timespec no_wait{0, 0};
    sigtimedwait(&pipe_signal, nullptr, &no_wait);
  }
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
}

/// Closes a descriptor at scope exit.
struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

/// Starts gnuplot in `folder` reading `stdin_fd`, its stderr on `stderr_fd`,
/// registered for the signal handler (which kills it) before it can run. It
/// dies with this process too (PR_SET_PDEATHSIG), even on SIGKILL.
pid_t start_gnuplot(const std::string& gnuplot, const fs::path& folder, int stdin_fd, int stderr_fd,
                    int& child_slot) {
  // Prepared before fork: the child may only make async-signal-safe calls.
  const std::string folder_name = folder.string();
  std::vector<char> program(gnuplot.begin(), gnuplot.end());
  program.push_back('\0');
  char* argv[] = {program.data(), nullptr};
  char shell[] = "/bin/sh";
  char* shell_argv[] = {shell, program.data(), nullptr};
  const pid_t parent = ::getpid();

  // The cleanup signals wait until the child is registered.
  sigset_t cleanup_signals, previous_mask;
  sigemptyset(&cleanup_signals);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&cleanup_signals, signal_number);
  pthread_sigmask(SIG_BLOCK, &cleanup_signals, &previous_mask);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::sigprocmask(SIG_SETMASK, &previous_mask, nullptr);
    // What failed goes to the stderr file, for the parent's message (write(2) only).
    const auto fail = [](const char* message) {
      [[maybe_unused]] const ssize_t ignored = ::write(2, message, std::strlen(message));
      ::_exit(127);
    };
    if (::dup2(stdin_fd, 0) < 0 || ::dup2(stderr_fd, 2) < 0) ::_exit(127);
    if (::chdir(folder_name.c_str()) != 0) fail("cannot enter the output folder\n");
    ::execv(argv[0], argv);
    // A script without "#!" runs under sh, as it did when a shell started gnuplot.
    if (errno == ENOEXEC) ::execv(shell_argv[0], shell_argv);
    fail("cannot execute it\n");
  }
  const int fork_error = errno;
  if (pid > 0) child_slot = register_child(pid);
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  DICTLEARN_CHECK(pid > 0, "cannot start gnuplot ({}): {}", gnuplot, std::strerror(fork_error));
  return pid;
}

/// Runs gnuplot in `folder` on `commands`; throws Error naming `what` when
/// it cannot be started or exits with a failure.
void run_gnuplot(const std::string& gnuplot, const fs::path& folder, const std::string& commands,
                 const std::string& what) {
  Descriptor stderr_file{make_stderr_file()};
  int pipe_ends[2];
  DICTLEARN_CHECK(::pipe2(pipe_ends, O_CLOEXEC) == 0, "{}: cannot start gnuplot ({}): {}", what,
                  gnuplot, std::strerror(errno));
  Descriptor read_end{pipe_ends[0]}, write_end{pipe_ends[1]};
  int child_slot = -1;
  const pid_t pid = start_gnuplot(gnuplot, folder, read_end.fd, stderr_file.fd, child_slot);
  ::close(read_end.fd);
  read_end.fd = -1;
  write_to_pipe(write_end.fd, commands);
  ::close(write_end.fd);
  write_end.fd = -1;
  // Waited for without reaping, then unregistered, then reaped: while it is
  // registered its pid cannot be reused, so the handler never kills a stranger.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  unregister_child(child_slot);
  int status = 0;
  pid_t waited;
  while ((waited = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  const int wait_error = errno;
  DICTLEARN_CHECK(waited == pid, "{}: waiting for gnuplot ({}) failed: {}", what, gnuplot,
                  std::strerror(wait_error));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string how =
      WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                        : fmt::format("signal {}", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  const std::string message = first_error_line(stderr_file.fd);
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
  const std::string what = (shown / figure.name).string();
  // The writer refuses what must not be replaced and owns the temporary;
  // gnuplot writes the image into it, by its absolute name (a link's target
  // may lie in another folder).
  AtomicFile image(what);
  const fs::path temp = fs::absolute(image.hand_over());
  run_gnuplot(gnuplot, folder, gnuplot_script(figure, temp.string()), what);
  // gnuplot reports no write error (a full disk, a file-size limit): the
  // image must be whole before it gets its name.
  image.commit([&](const std::string& path) {
    const std::string problem = image_problem(path, figure.name);
    DICTLEARN_CHECK(problem.empty(),
                    "{}: gnuplot ({}) wrote an incomplete image ({}; a full disk or a file-size "
                    "limit?); it was not kept",
                    what, gnuplot, problem);
  });
}

}  // namespace dictlearn::detail
