// AtomicFile: write to a temporary file beside the destination, then rename
// (the promises are listed in dictlearn/atomic_file.hpp).
//
// rename(2) within one file system replaces the destination atomically, so a
// reader sees either the previous complete file or the new complete file, never
// a prefix. The temporary lives in the destination's folder (the final
// target's, for a link) because rename across file systems is not atomic (it
// fails with EXDEV).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/atomic_file.hpp"
#include "io/writer.hpp"

namespace dictlearn {
namespace {

namespace fs = std::filesystem;

/// The process umask. Reading it through umask(2) means setting it, which races
/// with other threads creating files, so Linux's /proc/self/status comes first.
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Umask:", 0) == 0) {
      return static_cast<mode_t>(std::strtoul(line.c_str() + 6, nullptr, 8));
    }
  }
  const mode_t mask = ::umask(022);
  ::umask(mask);
  return mask;
}

/// The mode a plain open(O_CREAT | O_TRUNC) would leave: an existing file keeps
/// its mode, a new one gets 0666 minus the umask. The temporary's 0600 would
/// otherwise make every output private to its owner.
mode_t mode_for(const std::string& path) {
  struct stat existing;
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) {
    return existing.st_mode & 07777;
  }
  return 0666 & ~current_umask();
}

/// Makes the rename durable; a failure only weakens crash safety, so it is ignored.
void sync_folder(const fs::path& folder) {
  const std::string name = folder.empty() ? std::string(".") : folder.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

/// 6 random letters and digits, the end of a temporary's name.
std::string random_suffix() {
  static std::mutex mutex;
  static std::mt19937_64 engine(std::random_device{}() ^ static_cast<uint64_t>(::getpid()));
  constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  const std::lock_guard<std::mutex> lock(mutex);
  std::string out(6, ' ');
  for (char& c : out) c = kAlphabet[engine() % (sizeof kAlphabet - 1)];
  return out;
}

std::string link_text(const std::string& path) {
  std::vector<char> buffer(4096);
  const ssize_t size = ::readlink(path.c_str(), buffer.data(), buffer.size());
  return size < 0 ? std::string("?") : std::string(buffer.data(), static_cast<size_t>(size));
}

/// The refusal of a target that is not a regular file (or a link to one).
[[noreturn]] void refuse(const std::string& path, mode_t mode) {
  DICTLEARN_FAIL("{} exists and is not a regular file ({}); it is never replaced", path,
                 detail::file_kind(mode));
}

/// pwrite or pread of `size` bytes at `offset`, in as many calls as it takes
/// (EINTR retried): nullptr when all are done, else strerror's text, or ""
/// when a call moved no byte.
template <typename Io, typename Buffer>
const char* positional_io(Io io, int fd, Buffer* data, size_t size, uint64_t offset) {
  using Byte = std::conditional_t<std::is_const_v<Buffer>, const char, char>;
  auto* bytes = static_cast<Byte*>(data);
  while (size > 0) {
    const ssize_t done = io(fd, bytes, size, static_cast<off_t>(offset));
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) return std::strerror(errno);
    if (done == 0) return "";
    bytes += done;
    offset += static_cast<uint64_t>(done);
    size -= static_cast<size_t>(done);
  }
  return nullptr;
}

}  // namespace

namespace detail {

std::string writable_target(const std::string& path) {
  struct stat entry;
  // Absent, or unreachable: creating the temporary says why (a missing folder).
  if (::lstat(path.c_str(), &entry) != 0) return path;
  if (S_ISREG(entry.st_mode)) return path;
  if (!S_ISLNK(entry.st_mode)) refuse(path, entry.st_mode);
  struct stat target;
  if (::stat(path.c_str(), &target) != 0) {
    const int error = errno;
    DICTLEARN_CHECK(error != ENOENT,
                    "{} is a symbolic link to {}, which does not exist; only a link to an "
                    "existing regular file is written through",
                    path, link_text(path));
    DICTLEARN_FAIL("{} is a symbolic link that cannot be followed ({}); it is never replaced", path,
                   std::strerror(error));
  }
  DICTLEARN_CHECK(S_ISREG(target.st_mode),
                  "{} is a symbolic link to {}, which is not a regular file ({}); it is never "
                  "replaced",
                  path, link_text(path), file_kind(target.st_mode));
  char* resolved = ::realpath(path.c_str(), nullptr);
  DICTLEARN_CHECK(resolved != nullptr, "{}: cannot follow the symbolic link: {}", path,
                  std::strerror(errno));
  std::string out = resolved;
  std::free(resolved);
  return out;
}

}  // namespace detail

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  DICTLEARN_CHECK(!path_.empty(), "cannot create a file with an empty name");
  DICTLEARN_CHECK(fs::path(path_).has_filename(), "{}: cannot create file: the name is a folder",
                  path_);
  target_ = detail::writable_target(path_);
  const fs::path target(target_);
  const fs::path folder = target.parent_path();
  detail::remove_stale_temps(folder.empty() ? std::string(".") : folder.string());

  const std::string prefix =
      (folder / detail::temp_name_prefix(target.filename().string(), ::getpid())).string();
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    // Registered before it exists, so no moment has it on disk unregistered.
    temp_path_ = prefix + random_suffix();
    registration_ = detail::register_temp_file(temp_path_);
    // Read-write: read_at() reads back what a writer staged.
    fd = ::open(temp_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) break;
    const int error = errno;
    detail::unregister_temp_file(registration_);
    registration_ = -1;
    if (error != EEXIST || attempt >= 100) {
      temp_path_.clear();
      DICTLEARN_FAIL("{}: cannot create file: {}", path_, std::strerror(error));
    }
  }
  if (::fchmod(fd, mode_for(target_)) != 0 || (file_ = ::fdopen(fd, "wb")) == nullptr) {
    const int error = errno;
    ::close(fd);
    ::unlink(temp_path_.c_str());
    detail::unregister_temp_file(registration_);
    registration_ = -1;
    temp_path_.clear();
    DICTLEARN_FAIL("{}: cannot create file: {}", path_, std::strerror(error));
  }
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
  detail::unregister_temp_file(registration_);
}

void AtomicFile::write(const void* data, size_t size) {
  DICTLEARN_CHECK(file_ != nullptr, "{}: cannot write: the file is already closed", path_);
  if (size == 0) return;
  errno = 0;
  if (std::fwrite(data, 1, size, file_) != size) {
    DICTLEARN_FAIL("{}: cannot write: {}", path_,
                   errno != 0 ? std::strerror(errno) : "write failed");
  }
  written_ += size;
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t size) {
  DICTLEARN_CHECK(file_ != nullptr, "{}: cannot write: the file is already closed", path_);
  DICTLEARN_CHECK(offset <= written_ && size <= written_ - offset,
                  "{}: cannot overwrite bytes {}..{}: only {} are written", path_, offset,
                  offset + size, written_);
  // The stream's buffer holds the latest bytes: out first, so the patch is not overwritten.
  if (std::fflush(file_) != 0) {
    DICTLEARN_FAIL("{}: cannot write: {}", path_, std::strerror(errno));
  }
  const char* problem = positional_io(::pwrite, ::fileno(file_), data, size, offset);
  if (problem != nullptr)
    DICTLEARN_FAIL("{}: cannot write: {}", path_, *problem ? problem : "write failed");
}

void AtomicFile::read_at(uint64_t offset, void* data, size_t size) {
  DICTLEARN_CHECK(file_ != nullptr, "{}: cannot read back: the file is already closed", path_);
  DICTLEARN_CHECK(offset <= written_ && size <= written_ - offset,
                  "{}: cannot read back bytes {}..{}: only {} are written", path_, offset,
                  offset + size, written_);
  if (std::fflush(file_) != 0) {
    DICTLEARN_FAIL("{}: cannot write: {}", path_, std::strerror(errno));
  }
  const char* problem = positional_io(::pread, ::fileno(file_), data, size, offset);
  if (problem != nullptr) {
    DICTLEARN_FAIL("{}: cannot read back: {}", path_,
                   *problem ? problem : "the file is shorter than written");
  }
}

const std::string& AtomicFile::hand_over() {
  DICTLEARN_CHECK(file_ != nullptr && written_ == 0,
                  "{}: cannot hand the file over: it is already written or closed", path_);
  // Closed here: the program may replace the file rather than write it in place.
  std::fclose(file_);
  file_ = nullptr;
  handed_over_ = true;
  return temp_path_;
}

void AtomicFile::commit(const ContentCheck& check) {
  DICTLEARN_CHECK(!committed_ && !temp_path_.empty() && (file_ != nullptr || handed_over_),
                  "{}: cannot commit: the file is already closed", path_);
  // Report the first failure, but always close and, on failure, remove the
  // temporary: the destructor must not find a half-written file to leave behind.
  int error = 0;
  const char* step = nullptr;
  std::string problem;
  if (file_ != nullptr) {
    struct stat info;
    if (std::fflush(file_) != 0) {
      error = errno;
      step = "write";
    } else if (::fstat(::fileno(file_), &info) == 0 &&
               static_cast<uint64_t>(info.st_size) != written_) {
      // A write error the C library did not report must not pass as a complete file.
      step = "write";
      problem = fmt::format("the file holds {} of the {} bytes written", info.st_size, written_);
    } else if (::fsync(::fileno(file_)) != 0) {
      error = errno;
      step = "sync";
    }
    const int close_status = std::fclose(file_);
    file_ = nullptr;
    if (step == nullptr && close_status != 0) {
      error = errno;
      step = "write";
    }
  } else {
    const int fd = ::open(temp_path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::fsync(fd) != 0) {
      error = errno;
      step = "sync";
    }
    if (fd >= 0) ::close(fd);
  }
  auto discard = [&] {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
    detail::unregister_temp_file(registration_);
    registration_ = -1;
  };
  if (step != nullptr) {
    discard();
    DICTLEARN_FAIL("{}: cannot {}: {}", path_, step,
                   problem.empty() ? std::strerror(error) : problem);
  }
  if (check) {
    try {
      check(temp_path_);
    } catch (...) {
      discard();
      throw;
    }
  }
  // Again just before the rename: a FIFO or device may have taken the name meanwhile.
  struct stat entry;
  if (::lstat(target_.c_str(), &entry) == 0 && !S_ISREG(entry.st_mode)) {
    discard();
    refuse(path_, entry.st_mode);
  }
  if (std::rename(temp_path_.c_str(), target_.c_str()) != 0) {
    error = errno;
    discard();
    DICTLEARN_FAIL("{}: cannot rename into place: {}", path_, std::strerror(error));
  }
  committed_ = true;
  detail::unregister_temp_file(registration_);
  registration_ = -1;
  sync_folder(fs::path(target_).parent_path());
}

}  // namespace dictlearn
