#include "workflows/paths.hpp"

#include <fmt/ranges.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>

#include "core/check.hpp"

namespace dictlearn::detail {
namespace {

namespace fs = std::filesystem;

/// Whether `a` and `b` name the same file: the same existing file (through
/// links or other spellings), or the same place once resolved.
bool same_file(const std::string& a, const std::string& b) {
  std::error_code error;
  if (fs::exists(a, error) && fs::exists(b, error)) {
    const bool same = fs::equivalent(a, b, error);
    if (!error) return same;
  }
  const fs::path pa = fs::weakly_canonical(fs::absolute(a, error), error);
  const fs::path pb = fs::weakly_canonical(fs::absolute(b, error), error);
  return pa == pb;
}

void check_extension(const NamedPath& output) {
  if (output.extensions.empty()) return;
  const std::string extension = fs::path(output.path).extension().string();
  const bool known = std::find(output.extensions.begin(), output.extensions.end(), extension) !=
                     output.extensions.end();
  DICTLEARN_CHECK(known, "{}: {}: the name must end in {} (the extension chooses the format)",
                  output.flag, output.path, fmt::join(output.extensions, " or "));
}

void check_writable(const NamedPath& output) {
  const fs::path path(output.path);
  std::error_code error;
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const fs::file_status folder_status = fs::status(folder, error);
  DICTLEARN_CHECK(fs::exists(folder_status), "{}: {}: the folder {} does not exist", output.flag,
                  output.path, folder.string());
  DICTLEARN_CHECK(fs::is_directory(folder_status), "{}: {}: {} is not a folder", output.flag,
                  output.path, folder.string());
  DICTLEARN_CHECK(::access(folder.c_str(), W_OK | X_OK) == 0,
                  "{}: {}: the folder {} is not writable", output.flag, output.path,
                  folder.string());
  // status() follows links: a link to a regular file is written through, a
  // dangling one never (AtomicFile refuses it; here it fails before any work).
  const fs::file_status status = fs::status(path, error);
  if (!fs::exists(status) && fs::is_symlink(fs::symlink_status(path, error))) {
    DICTLEARN_FAIL(
        "{}: {} is a symbolic link to {}, which does not exist; only a link to an existing "
        "regular file is written through",
        output.flag, output.path, fs::read_symlink(path, error).string());
  }
  if (fs::exists(status)) {
    DICTLEARN_CHECK(fs::is_regular_file(status),
                    "{}: {} exists and is not a regular file ({}); it is never replaced",
                    output.flag, output.path,
                    fs::is_directory(status)        ? "a folder"
                    : fs::is_character_file(status) ? "a character device"
                    : fs::is_block_file(status)     ? "a block device"
                    : fs::is_fifo(status)           ? "a FIFO"
                    : fs::is_socket(status)         ? "a socket"
                                                    : "not a file");
  }
}

}  // namespace

void check_output_paths(const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs,
                        const std::vector<std::pair<std::string, std::string>>& allowed) {
  auto is_allowed = [&](const std::string& a, const std::string& b) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const auto& pair) {
      return (pair.first == a && pair.second == b) || (pair.first == b && pair.second == a);
    });
  };
  for (size_t i = 0; i < outputs.size(); ++i) {
    const NamedPath& output = outputs[i];
    if (output.path.empty()) continue;
    check_writable(output);
    for (size_t j = 0; j < i; ++j) {
      const NamedPath& other = outputs[j];
      DICTLEARN_CHECK(other.path.empty() || !same_file(output.path, other.path),
                      "{}: {} is also {}: two outputs cannot be the same file", output.flag,
                      output.path, other.flag);
    }
    for (const NamedPath& input : inputs) {
      if (input.path.empty() || is_allowed(output.flag, input.flag)) continue;
      DICTLEARN_CHECK(!same_file(output.path, input.path),
                      "{}: {} is also the input {}: writing it would destroy what is read",
                      output.flag, output.path, input.flag);
    }
    check_extension(output);  // after the checks that protect data: their message matters more
  }
}

void check_output_folder(const NamedPath& folder, const std::vector<std::string>& names,
                         const std::vector<NamedPath>& inputs) {
  DICTLEARN_CHECK(!folder.path.empty(), "{}: the output folder name is empty", folder.flag);
  std::error_code error;
  const fs::file_status status = fs::status(folder.path, error);
  if (!fs::exists(status)) {
    // Created by the command: what exists of its path must let it.
    fs::path existing = fs::absolute(folder.path, error).parent_path();
    while (!existing.empty() && !fs::exists(existing, error) && existing != existing.root_path()) {
      existing = existing.parent_path();
    }
    DICTLEARN_CHECK(fs::is_directory(existing, error),
                    "{}: {}: cannot create the folder: {} is not a folder", folder.flag,
                    folder.path, existing.string());
    DICTLEARN_CHECK(::access(existing.c_str(), W_OK | X_OK) == 0,
                    "{}: {}: cannot create the folder: {} is not writable", folder.flag,
                    folder.path, existing.string());
    return;  // nothing exists inside it: no file to refuse, no input to overwrite
  }
  DICTLEARN_CHECK(fs::is_directory(status), "{}: {} exists and is not a folder", folder.flag,
                  folder.path);
  std::vector<NamedPath> outputs;
  for (const std::string& name : names) {
    outputs.push_back({folder.flag, (fs::path(folder.path) / name).string()});
  }
  check_output_paths(outputs, inputs);
}

}  // namespace dictlearn::detail
