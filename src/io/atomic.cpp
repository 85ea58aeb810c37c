// AtomicFile: write to a temporary file beside the destination, then rename.
//
// rename(2) within one file system replaces the destination atomically, so a
// reader sees either the previous complete file or the new complete file, never
// a prefix. The temporary lives in the destination's folder because rename
// across file systems is not atomic (it fails with EXDEV).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/check.hpp"
#include "dictlearn/io.hpp"

namespace dictlearn {
namespace {

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
/// its mode, a new one gets 0666 minus the umask. mkstemp's 0600 would
/// otherwise make every output private to its owner.
mode_t mode_for(const std::string& path) {
  struct stat existing;
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) {
    return existing.st_mode & 07777;
  }
  return 0666 & ~current_umask();
}

/// Makes the rename durable; a failure only weakens crash safety, so it is ignored.
void sync_folder(const std::filesystem::path& folder) {
  const std::string name = folder.empty() ? std::string(".") : folder.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  DICTLEARN_CHECK(!path_.empty(), "cannot create a file with an empty name");
  const std::filesystem::path destination(path_);
  DICTLEARN_CHECK(destination.has_filename(), "{}: cannot create file: the name is a folder",
                  path_);
  // fmt rather than "." + name + ...: GCC 12 warns a false -Wrestrict on that
  // (its bug 105651).
  const std::filesystem::path temp =
      destination.parent_path() / fmt::format(".{}.tmp.XXXXXX", destination.filename().string());
  const std::string pattern = temp.string();
  std::vector<char> name(pattern.begin(), pattern.end());  // mkstemp edits it in place
  name.push_back('\0');

  const int fd = ::mkstemp(name.data());
  if (fd < 0) DICTLEARN_FAIL("{}: cannot create file: {}", path_, std::strerror(errno));
  temp_path_ = name.data();
  if (::fchmod(fd, mode_for(path_)) != 0 || (file_ = ::fdopen(fd, "wb")) == nullptr) {
    const int error = errno;
    ::close(fd);
    ::unlink(temp_path_.c_str());
    DICTLEARN_FAIL("{}: cannot create file: {}", path_, std::strerror(error));
  }
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(const void* data, size_t size) {
  DICTLEARN_CHECK(file_ != nullptr, "{}: cannot write: the file is already closed", path_);
  if (size == 0) return;
  errno = 0;
  if (std::fwrite(data, 1, size, file_) != size) {
    DICTLEARN_FAIL("{}: cannot write: {}", path_,
                   errno != 0 ? std::strerror(errno) : "write failed");
  }
}

void AtomicFile::commit() {
  DICTLEARN_CHECK(file_ != nullptr, "{}: cannot commit: the file is already closed", path_);
  // Report the first failure, but always close and, on failure, remove the
  // temporary: the destructor must not find a half-written file to leave behind.
  int error = 0;
  const char* step = nullptr;
  if (std::fflush(file_) != 0) {
    error = errno;
    step = "write";
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
  if (step == nullptr && std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    error = errno;
    step = "rename into place";
  }
  if (step != nullptr) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
    DICTLEARN_FAIL("{}: cannot {}: {}", path_, step, std::strerror(error));
  }
  committed_ = true;
  sync_folder(std::filesystem::path(path_).parent_path());
}

}  // namespace dictlearn
