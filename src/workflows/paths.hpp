// Internal: the output paths of a command, checked before any work, so that a
// bad path fails in milliseconds, writes nothing and replaces nothing it must
// not (issue 12 asks for this of every command).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dictlearn::detail {

/// A path as the command names it: the flag (or argument) and its value.
struct NamedPath {
  std::string flag;  ///< "-o", "--log", "data", ...
  std::string path;  ///< empty: not given (skipped)
  /// For an output: the extensions that name its format (".safetensors"), the
  /// first one the usual; empty: any name. The writers pick the format by the
  /// extension, so a model under "m.npy" would be a file no reader expects.
  std::vector<std::string> extensions = {};
};

/// Throws Error naming the flag and the path unless every output
///  - ends in one of its `extensions` (when it has any);
///  - lies in a folder that exists and is writable;
///  - is, where it exists already, a regular file (or a link to one): a
///    device, FIFO, socket or folder is never replaced, a dangling link
///    never written through (AtomicFile's rules, dictlearn/atomic_file.hpp);
///  - differs from every other output and every input (the same file through
///    another spelling or a link counts as the same), except the pairs of
///    flags in `allowed` (e.g. --checkpoint equal to --resume).
void check_output_paths(const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs,
                        const std::vector<std::pair<std::string, std::string>>& allowed = {});

/// For a command that writes `names` into an output folder (plot, demo):
/// throws Error naming the flag unless the folder exists and is a writable
/// folder, or can be created (its nearest existing ancestor is a writable
/// folder), and every name in it passes check_output_paths against `inputs`.
void check_output_folder(const NamedPath& folder, const std::vector<std::string>& names,
                         const std::vector<NamedPath>& inputs);

}  // namespace dictlearn::detail
