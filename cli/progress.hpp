// The training progress bar: epoch, loss, rate and time left, redrawn on
// stderr at most ten times a second, only when stderr is a terminal.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace dictlearn::cli {

class ProgressBar {
 public:
  ProgressBar(int total_epochs, bool enabled)
      : total_(total_epochs), enabled_(enabled && total_epochs > 0 && isatty(STDERR_FILENO)) {}

  void update(int epoch, double loss, double seconds) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (epoch < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double fraction = static_cast<double>(epoch) / total_;
    constexpr int width = 30;
    const int filled = static_cast<int>(fraction * width);
    const double rate = seconds > 0 ? epoch / seconds : 0;
    const double left = rate > 0 ? (total_ - epoch) / rate : 0;
    const std::string bar = std::string(filled, '#') + std::string(width - filled, '-');
    fmt::print(stderr, "\r[{}] {:>3.0f}% epoch {}/{} loss {:.6g} {:.0f} epochs/s {} left   ", bar,
               100 * fraction, epoch, total_, loss, rate, format_seconds(left));
    if (epoch >= total_) fmt::print(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  static std::string format_seconds(double seconds) {
    const int s = static_cast<int>(seconds + 0.5);
    if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
    if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}s", s);
  }

  int total_;
  bool enabled_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace dictlearn::cli
