// Shared by the fuzz targets: the library's readers take a path, so each input
// is written into an anonymous in-memory file (memfd) that is read back through
// /proc/self/fd/N. Readers that pick the format by extension get a symlink
// with that extension in /tmp, named after the process so parallel fuzzers
// never share it. Nothing touches the disk per input.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dictlearn/error.hpp"

namespace dictlearn::fuzz {

class MemoryFile {
 public:
  /// `extension` (".csv", ".npy"), when given, adds the symlink path().
  explicit MemoryFile(const std::string& extension = "") {
    fd_ = ::memfd_create("dictlearn-fuzz", 0);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    fd_path_ = "/proc/self/fd/" + std::to_string(fd_);
    path_ = fd_path_;
    if (!extension.empty()) {
      path_ = "/tmp/dictlearn-fuzz-" + std::to_string(::getpid()) + extension;
      ::unlink(path_.c_str());
      if (::symlink(fd_path_.c_str(), path_.c_str()) != 0) {
        std::perror("symlink");
        std::abort();
      }
    }
  }
  ~MemoryFile() {
    if (path_ != fd_path_) ::unlink(path_.c_str());
    ::close(fd_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  /// Replaces the file's contents with `size` bytes.
  void set(const void* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    const auto* bytes = static_cast<const char*>(data);
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::pwrite(fd_, bytes + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
  }

  /// The path readers open: the symlink with the extension, or /proc/self/fd/N.
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string fd_path_;
  std::string path_;
};

/// Runs `read`; a dictlearn::Error is the expected answer to a bad file, so it
/// is swallowed. Any other exception escapes and libFuzzer reports it as a
/// crash (an uncaught exception aborts).
template <typename Read>
void expect_ok_or_error(Read&& read) {
  try {
    read();
  } catch (const dictlearn::Error&) {
  }
}

/// `text` as a JSON string literal for the safetensors headers the structured
/// fuzzers write: quotes, backslashes and control bytes escaped, other bytes
/// (invalid UTF-8 included: the reader must refuse it cleanly) kept.
inline std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace dictlearn::fuzz
