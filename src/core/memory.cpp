// The memory available and the full-batch check (memory.hpp).
#include "core/memory.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/check.hpp"

namespace dictlearn::detail {

int64_t available_memory() {
  std::ifstream meminfo("/proc/meminfo");
  std::string line;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t kib = -1;
    if (fields >> kib && kib >= 0) return kib * 1024;
    break;
  }
#ifdef _SC_AVPHYS_PAGES
  // Free pages only (no reclaimable cache): lower than MemAvailable, so the
  // check errs on the side of refusing late rather than never.
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) return static_cast<int64_t>(pages) * page;
#endif
  return -1;
}

std::string format_bytes(double bytes) {
  constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.3g} {}", bytes, units[unit]);
}

void check_full_batch_fits(int64_t rows, int64_t workspace, int64_t available) {
  DICTLEARN_CHECK(available < 0 || workspace <= available,
                  "--batch-size: one batch of all {} samples needs a workspace of about {}, more "
                  "than the {} of memory available; train in smaller batches, e.g. --batch-size "
                  "4096",
                  rows, format_bytes(static_cast<double>(workspace)),
                  format_bytes(static_cast<double>(available)));
}

}  // namespace dictlearn::detail
