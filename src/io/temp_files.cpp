// The writer's temporaries outside AtomicFile itself (see writer.hpp): the
// registry the signal handler reads, the handler, the naming pattern and the
// removal of the temporaries dead processes left behind.
//
// The handler may run on any thread at any moment, so the registry is fixed
// storage (no allocation, no lock): each slot is a state word and a path.
// A slot is filled while "busy" and read by the handler only when "live".
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/check.hpp"
#include "dictlearn/atomic_file.hpp"
#include "io/writer.hpp"

namespace dictlearn {
namespace detail {
namespace {

constexpr int kTempSlots = 128;
constexpr size_t kPathBytes = 4096;
constexpr int kChildSlots = 16;
constexpr int kFree = 0, kBusy = 1, kLive = 2;
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

struct TempSlot {
  std::atomic<int> state{kFree};
  char path[kPathBytes];
};
TempSlot temp_slots[kTempSlots];
std::atomic<pid_t> children[kChildSlots];
std::atomic<pid_t> handler_owner{0};  // the process that installed the handler

static_assert(std::atomic<int>::is_always_lock_free && std::atomic<pid_t>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

/// Stops the children, removes the live temporaries, then dies of the signal.
/// Only async-signal-safe calls: getpid, kill, waitpid, unlink, sigaction, raise.
extern "C" void remove_temps_and_die(int signal_number) {
  const int saved_errno = errno;
  if (::getpid() == handler_owner.load()) {
    for (auto& child : children) {
      const pid_t pid = child.load();
      if (pid > 0) ::kill(pid, SIGKILL);
    }
    // Reaped before the unlinks, so a child cannot create a temporary again.
    for (auto& child : children) {
      const pid_t pid = child.load();
      if (pid <= 0) continue;
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    for (auto& slot : temp_slots) {
      if (slot.state.load(std::memory_order_acquire) == kLive) ::unlink(slot.path);
    }
  }
  // The default action, once this handler returns (the signal is blocked until then).
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(signal_number, &default_action, nullptr);
  ::raise(signal_number);
  errno = saved_errno;
}

/// 8 hex digits (FNV-1a) of the host name and the pid namespace: a pid in a
/// temporary's name means something only to processes with the same tag.
uint32_t machine_tag() {
  static const uint32_t tag = [] {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    char pid_namespace[128] = {};
    if (::readlink("/proc/self/ns/pid", pid_namespace, sizeof pid_namespace - 1) < 0) {
      pid_namespace[0] = '\0';
    }
    uint32_t hash = 2166136261u;
    auto add = [&](std::string_view text) {
      for (unsigned char c : text) hash = (hash ^ c) * 16777619u;
      hash = (hash ^ 0xFFu) * 16777619u;  // a separator no name contains
    };
    add(host);
    add(pid_namespace);
    return hash;
  }();
  return tag;
}

bool all_of(std::string_view text, int (*test)(int)) {
  for (unsigned char c : text) {
    if (test(c) == 0) return false;
  }
  return !text.empty();
}

/// The pid in `name` when it is a temporary of the pattern with tag `tag`:
/// ".<anything>.tmp.<tag>.<pid>.<6 alphanumerics>".
std::optional<pid_t> temp_owner(std::string_view name, std::string_view tag) {
  if (name.size() < 8 || name[0] != '.') return std::nullopt;
  const std::string_view random = name.substr(name.size() - 6);
  name.remove_suffix(6);
  if (!all_of(random, [](int c) { return std::isalnum(c); }) || !name.ends_with('.')) {
    return std::nullopt;
  }
  name.remove_suffix(1);
  const size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view digits = name.substr(dot + 1);
  if (digits.size() > 9 || !all_of(digits, [](int c) { return std::isdigit(c); })) {
    return std::nullopt;
  }
  name = name.substr(0, dot);
  const std::string suffix = fmt::format(".tmp.{}", tag);
  if (!name.ends_with(suffix) || name.size() == suffix.size()) return std::nullopt;
  const pid_t pid = static_cast<pid_t>(std::stol(std::string(digits)));
  return pid > 0 ? std::optional<pid_t>(pid) : std::nullopt;
}

}  // namespace

int register_temp_file(const std::string& path) {
  std::error_code error;
  std::string absolute = std::filesystem::absolute(path, error).string();
  if (error) absolute = path;
  if (absolute.size() >= kPathBytes) return -1;
  for (int slot = 0; slot < kTempSlots; ++slot) {
    int expected = kFree;
    TempSlot& entry = temp_slots[slot];
    if (entry.state.compare_exchange_strong(expected, kBusy, std::memory_order_acq_rel)) {
      std::memcpy(entry.path, absolute.c_str(), absolute.size() + 1);
      entry.state.store(kLive, std::memory_order_release);
      return slot;
    }
  }
  DICTLEARN_FAIL("{}: cannot create file: {} temporary files are being written at once", path,
                 kTempSlots);
}

void unregister_temp_file(int slot) {
  if (slot >= 0 && slot < kTempSlots) temp_slots[slot].state.store(kFree);
}

int register_child(pid_t pid) {
  for (int slot = 0; slot < kChildSlots; ++slot) {
    pid_t expected = 0;
    if (children[slot].compare_exchange_strong(expected, pid)) return slot;
  }
  return -1;
}

void unregister_child(int slot) {
  if (slot >= 0 && slot < kChildSlots) children[slot].store(0);
}

std::string temp_name_prefix(const std::string& name, pid_t pid) {
  const std::string tail = fmt::format(".tmp.{:08x}.{}.", machine_tag(), static_cast<long>(pid));
  std::string kept = name;
  const size_t room = NAME_MAX - 1 - tail.size() - 6;  // the dot before, 6 random characters after
  if (kept.size() > room) kept.resize(room);
  return "." + kept + tail;
}

void remove_stale_temps(const std::string& folder) {
  static std::mutex mutex;
  static std::set<std::string> done;
  std::error_code error;
  std::string key =
      std::filesystem::weakly_canonical(std::filesystem::absolute(folder, error), error).string();
  if (error) key = folder;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    if (!done.insert(key).second) return;
  }
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return;
  const std::string tag = fmt::format("{:08x}", machine_tag());
  const pid_t self = ::getpid();
  while (const dirent* entry = ::readdir(dir)) {
    const std::optional<pid_t> owner = temp_owner(entry->d_name, tag);
    if (!owner || *owner == self) continue;
    // EPERM means the pid runs (as another user): only ESRCH says it is gone.
    if (::kill(*owner, 0) == 0 || errno != ESRCH) continue;
    const std::string path = (std::filesystem::path(folder) / entry->d_name).string();
    struct stat info;
    if (::lstat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) ::unlink(path.c_str());
  }
  ::closedir(dir);
}

const char* file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a file";
}

}  // namespace detail

void install_temp_file_cleanup() {
  detail::handler_owner.store(::getpid());
  for (const int signal_number : detail::kSignals) {
    struct sigaction previous {};
    if (::sigaction(signal_number, nullptr, &previous) != 0) continue;
    // Ignored (nohup, a background job of a script): it stays ignored.
    if ((previous.sa_flags & SA_SIGINFO) == 0 && previous.sa_handler == SIG_IGN) continue;
    struct sigaction action {};
    action.sa_handler = detail::remove_temps_and_die;
    sigemptyset(&action.sa_mask);
    for (const int other : detail::kSignals) sigaddset(&action.sa_mask, other);
    ::sigaction(signal_number, &action, nullptr);
  }
}

}  // namespace dictlearn
