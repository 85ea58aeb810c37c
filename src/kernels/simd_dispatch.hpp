// Internal: the instruction-set levels the explicit SIMD kernels are compiled
// for (the small kernel, src/small_kernel.cpp; softmax and its backward,
// src/row_kernels.cpp), each with its native vector width, and the choice
// among them at run time.
//
//   level     compiled for     vectors
//   v4        x86-64-v4        64 bytes: zmm, AVX-512 (16 floats, 8 doubles)
//   v3        x86-64-v3        32 bytes: ymm, AVX2 and FMA (8 floats, 4 doubles)
//   baseline  the build flags  16 bytes: xmm, SSE2 on x86-64 (4 floats, 2 doubles)
//
// A vector wider than the registers costs two or four registers per value,
// and the spills cost far more than the width explains (docs/PERFORMANCE.md,
// "History"): each level gets kernels of its own width.
//
// The level is chosen once per process, on first use: the best the CPU
// supports, or the one the environment variable DICTLEARN_SIMD names
// (v4, v3 or baseline), for testing and diagnosis. A level the CPU lacks is
// refused: the best available runs instead, and one line on stderr says so,
// as it does for an unknown name. Levels differ in the last bits of their
// results (the lane count sets the order of the sums); at any one level,
// results do not depend on the thread count.
//
// The plain loops of src/row_kernels.cpp (dot_product, add_scaled, ...), Adam
// and the matrix products choose their instruction set on their own and do not
// follow DICTLEARN_SIMD.
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#define DICTLEARN_SIMD_X86_LEVELS 1
/// Compiles a function for one level. Every vector helper it calls must be
/// always inlined and take vectors by reference: passing one by value between
/// functions built for different targets changes the ABI (clang: an error).
#define DICTLEARN_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define DICTLEARN_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
/// Compiles a plain loop once per level (AVX-512, AVX2, the baseline), the
/// compiler choosing the width; the CPU picks the clone when the library
/// loads, not DICTLEARN_SIMD.
#define DICTLEARN_LEVEL_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DICTLEARN_LEVEL_CLONES
#endif

namespace dictlearn::detail {

/// Ordered: a level runs everything the levels below it run.
enum class SimdLevel : int { baseline = 0, v3 = 1, v4 = 2 };

/// Vector width of a level's kernels, in bytes.
constexpr int simd_bytes(SimdLevel level) {
  return level == SimdLevel::v4 ? 64 : level == SimdLevel::v3 ? 32 : 16;
}

/// "v4", "v3" or "baseline".
constexpr const char* simd_level_name(SimdLevel level) {
  return level == SimdLevel::v4 ? "v4" : level == SimdLevel::v3 ? "v3" : "baseline";
}

/// The best level this CPU (and its operating system) supports.
inline SimdLevel cpu_simd_level() {
  static const SimdLevel level = [] {
#ifdef DICTLEARN_SIMD_X86_LEVELS
    __builtin_cpu_init();
    // The levels' main features one by one (the matrix products of src/gemm.cpp
    // choose by this too; clang 14 knows no level names).
    const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi2");
    const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                    __builtin_cpu_supports("avx512cd");
    if (v4) return SimdLevel::v4;
    if (v3) return SimdLevel::v3;
#endif
    return SimdLevel::baseline;
  }();
  return level;
}

/// `requested`, or the CPU's best level where it lacks `requested`.
inline SimdLevel supported_simd_level(SimdLevel requested) {
  return requested < cpu_simd_level() ? requested : cpu_simd_level();
}

/// The level from DICTLEARN_SIMD and the CPU (see the top of this file).
inline SimdLevel simd_level_from_environment() {
  const SimdLevel best = cpu_simd_level();
  const char* name = std::getenv("DICTLEARN_SIMD");
  if (name == nullptr || *name == '\0') return best;
  for (SimdLevel level : {SimdLevel::v4, SimdLevel::v3, SimdLevel::baseline}) {
    if (std::strcmp(name, simd_level_name(level)) != 0) continue;
    if (level > best) {
      std::fprintf(stderr, "dictlearn: DICTLEARN_SIMD=%s: this CPU lacks it; using %s\n", name,
                   simd_level_name(best));
    }
    return supported_simd_level(level);
  }
  std::fprintf(stderr, "dictlearn: DICTLEARN_SIMD=%s is not v4, v3 or baseline; using %s\n", name,
               simd_level_name(best));
  return best;
}

/// The level the kernels run at now (atomic: tests change it).
inline std::atomic<SimdLevel>& simd_level_state() {
  static std::atomic<SimdLevel> level{simd_level_from_environment()};
  return level;
}

/// The level the kernels run at.
inline SimdLevel simd_level() { return simd_level_state().load(std::memory_order_relaxed); }

/// Runs the kernels at `level` from now on, or at the CPU's best where it
/// lacks `level` (for tests); returns the level set.
inline SimdLevel set_simd_level(SimdLevel level) {
  const SimdLevel supported = supported_simd_level(level);
  simd_level_state().store(supported, std::memory_order_relaxed);
  return supported;
}

}  // namespace dictlearn::detail
