// Internal: the memory a process may still take, and the check that a
// full-batch run's workspace fits in it before anything is allocated.
#pragma once

#include <cstdint>
#include <string>

namespace dictlearn::detail {

/// Bytes of memory available to new allocations: /proc/meminfo's
/// MemAvailable (what the kernel can give without swapping), else
/// sysconf(_SC_AVPHYS_PAGES) pages; -1 when neither tells.
int64_t available_memory();

/// "3.8 GiB", "512 MiB", "900 B": a size as the messages print it.
std::string format_bytes(double bytes);

/// Throws Error naming --batch-size, `workspace` and `available` when one
/// batch of all `rows` samples needs a workspace of `workspace` bytes and
/// more than `available` bytes of memory cannot hold it. `available` < 0
/// (unknown) passes.
void check_full_batch_fits(int64_t rows, int64_t workspace, int64_t available);

}  // namespace dictlearn::detail
