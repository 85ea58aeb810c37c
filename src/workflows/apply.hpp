// Internal: the block-wise passes of encode, reconstruct and eval
// (src/workflows/apply.cpp), with the block size open to tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "dictlearn/types.hpp"
#include "dictlearn/workflows.hpp"

namespace dictlearn::detail {

/// The workspace of one block: its codes, their CSR form at worst (every entry
/// stored) and its reconstructions, so rows_per_block = kWorkspaceBytes /
/// (n_atoms (2 value size + 8) + dim value size), in whole kBlockAlignment rows
/// (and at least that many, so a model with rows of over 256 KiB gets blocks
/// of 256 rows, which then pass the bound).
inline constexpr int64_t kWorkspaceBytes = int64_t{64} << 20;
/// The inference passes' own block (src/core/model.cpp): blocks of whole ones
/// give every row the codes it gets when all the data is encoded at once.
inline constexpr int64_t kBlockAlignment = 256;

/// The rows per block that run_encode, run_reconstruct and run_eval use.
int64_t apply_block_rows(int n_atoms, int dim, size_t value_size);

/// run_encode, run_reconstruct and run_eval with `block_rows` rows per block
/// (0: apply_block_rows()); any block size gives the same files and metrics.
void run_encode(const std::string& model, const std::string& data, const std::string& output,
                int64_t block_rows);
void run_reconstruct(const std::string& model, const std::string& data, const std::string& output,
                     int64_t block_rows);
EvalSummary run_eval(const std::string& model, const std::string& data, int64_t block_rows);
/// The coders' forms (run_encode and run_eval with CodingOptions).
void run_encode(const std::string& dictionary, const std::string& data, const std::string& output,
                const CodingOptions& coding, int64_t block_rows);
EvalSummary run_eval(const std::string& dictionary, const std::string& data,
                     const CodingOptions& coding, int64_t block_rows);
/// reconstruct with a coder: the codes of sparse_encode, times the atoms
/// (plus the decoder bias), a block of rows at a time (src/workflows/coding.cpp).
void run_reconstruct(const std::string& dictionary, const std::string& data,
                     const std::string& output, const CodingOptions& coding, int64_t block_rows);
/// The coder a model file without an encoder records (recorded_coding), or
/// nothing for a model with one (src/workflows/coding.cpp).
std::optional<CodingOptions> model_coding(const std::string& model);

/// "float32" or "float64": the dtype of a block, as the errors of encode,
/// reconstruct and eval name it.
inline const char* dtype_name(const Matrix<float>&) { return "float32"; }
inline const char* dtype_name(const Matrix<double>&) { return "float64"; }

}  // namespace dictlearn::detail
