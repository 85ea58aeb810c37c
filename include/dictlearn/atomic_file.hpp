// dictlearn: the one writer every output goes through (models, logs,
// checkpoints, codes, reconstructions, data, figures and their data files).
//
// A file is written to a temporary name beside its destination, synced, checked
// and renamed over the destination, so a reader sees the previous complete file
// or the new complete one, never a prefix. What the writer promises:
//
//  - Targets: an absent name is created; an existing regular file is replaced
//    (its mode kept). Anything else that exists under the name is refused
//    before a temporary is created, naming the file and what it is: a
//    character or block device, a FIFO, a folder, a socket is never replaced.
//  - Symbolic links: a link to a regular file is written through: the link
//    stays a link and its final target (every link resolved) gets the new
//    content, written to a temporary in the target's folder and renamed over
//    the target. A dangling link, a link loop, and a link to anything but a
//    regular file are refused (as `cp` refuses to write through a dangling
//    link: creating a file wherever a stale link points is rarely wanted).
//  - The type of the target is checked again just before the rename; what
//    replaces it in between (microseconds; rename(2) has no compare-and-swap)
//    is not detected.
//  - Content: commit() checks that the file holds every byte written, and runs
//    the caller's check (a PNG's IEND chunk, a GIF's trailer) on the complete
//    temporary before it gets the final name; a failed check removes it.
//  - Temporaries: named ".<name>.tmp.<host tag>.<pid>.<6 random characters>",
//    registered while they exist so that the handler of
//    install_temp_file_cleanup() removes them on SIGINT, SIGTERM and SIGHUP.
//    The first write into a folder removes the temporaries of this pattern
//    left there by dead processes of this machine (the pid in the name no
//    longer runs); a live process's temporary is never touched.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace dictlearn {

/// A file written to a temporary name in the destination's folder and renamed
/// over the destination by commit(). Destroyed without commit(), it removes the
/// temporary file, so the destination is never seen half-written.
class AtomicFile {
 public:
  /// A check of the complete content, given the temporary file's path; it
  /// throws Error to refuse the content (the temporary is then removed).
  using ContentCheck = std::function<void(const std::string& temp_path)>;

  /// Creates the temporary file next to `path` (next to its final target when
  /// `path` is a link). Throws Error naming `path`, before creating anything,
  /// when the folder is missing or not writable, or when `path` exists and is
  /// not a regular file or a link to one.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends bytes; throws Error naming the destination on a write failure
  /// (disk full, file-size limit).
  void write(const void* data, size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }

  /// Overwrites `size` bytes already written, from byte `offset` on (offset +
  /// size must not pass the bytes written): for formats whose headers hold
  /// what is known only at the end (a zip entry's CRC and size, an array's
  /// length), patched after the data was streamed. Throws Error naming the
  /// destination on a failure.
  void write_at(uint64_t offset, const void* data, size_t size);

  /// Reads back `size` bytes already written, from byte `offset` on: a
  /// writer may stage data in an AtomicFile that it never commits (its
  /// destructor removes it) and copy it into the real output afterwards.
  void read_at(uint64_t offset, void* data, size_t size);

  /// The number of bytes written so far.
  uint64_t size() const { return written_; }

  /// For content written by another program (gnuplot writes the images
  /// itself): the temporary file's path, for that program to open and write
  /// in place. After this, write() is refused, and commit() cannot count the
  /// bytes, so its `check` should look at the content.
  const std::string& hand_over();

  /// Flushes and syncs, checks that the file holds every byte written (unless
  /// handed over), runs `check` on the complete temporary, then renames it
  /// onto the destination. Throws Error on failure, in which case the
  /// temporary file is removed.
  void commit(const ContentCheck& check = {});

  /// The destination as given.
  const std::string& path() const { return path_; }
  /// Where the content goes: `path`, or the final target of a link.
  const std::string& target() const { return target_; }

 private:
  std::string path_;
  std::string target_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  int registration_ = -1;  // slot in the registry of live temporaries
  size_t written_ = 0;
  bool handed_over_ = false;
  bool committed_ = false;
};

/// Installs handlers of SIGINT, SIGTERM and SIGHUP (those not ignored when it
/// is called) that remove every live temporary file of AtomicFile, stop the
/// programs the library runs (gnuplot), then end the process by the same
/// signal, so its exit status stays the signal's. For programs (the CLI);
/// a library caller with its own handlers can leave it uninstalled. The
/// handler is async-signal-safe (fixed storage, kill, waitpid and unlink
/// only) and does nothing but re-raise in a forked child.
void install_temp_file_cleanup();

}  // namespace dictlearn
