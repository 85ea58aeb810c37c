// Internal: what AtomicFile (atomic.cpp) and the gnuplot driver share with
// the signal handler of install_temp_file_cleanup() (temp_files.cpp): the
// registry of live temporary files and child processes, the temporaries'
// naming pattern, the removal of stale ones, and the rule for which targets
// may be replaced.
#pragma once

#include <sys/types.h>

#include <string>

namespace dictlearn::detail {

/// Registers `path` (made absolute) for removal by the signal handler while it
/// lives; returns its slot, or -1 when the absolute path does not fit the
/// handler's fixed storage (4095 bytes; that file is then not removed on a
/// signal). Throws Error when all 128 slots are taken.
int register_temp_file(const std::string& path);

/// Ends a registration (the file itself is left alone); -1 does nothing.
void unregister_temp_file(int slot);

/// Registers a child process that the handler kills (SIGKILL) and reaps
/// before it removes the temporaries, so that it cannot write one again.
/// Returns its slot, or -1 when all 16 slots are taken.
int register_child(pid_t pid);
void unregister_child(int slot);

/// The start of a temporary's name for `name` written by process `pid`:
/// ".<name>.tmp.<tag>.<pid>.", tag being 8 hex digits that tell this machine
/// and pid namespace from others sharing the folder; `name` is shortened when
/// the whole name (with 6 more characters) would not fit a file name.
std::string temp_name_prefix(const std::string& name, pid_t pid);

/// Removes, once per folder and process, the temporaries of that pattern in
/// `folder` whose tag is this machine's and whose pid no longer runs (regular
/// files only). Failures are ignored: this is housekeeping.
void remove_stale_temps(const std::string& folder);

/// What a file type is, for messages: "a FIFO", "a folder", "a socket", ...
const char* file_kind(mode_t mode);

/// Where the writer puts the content for `path`: `path` itself when it does
/// not exist or is a regular file; the final target of a link to a regular
/// file. Throws Error naming `path` and what it is otherwise (a device, FIFO,
/// folder, socket; a dangling link or a loop; a link to any of those).
std::string writable_target(const std::string& path);

}  // namespace dictlearn::detail
