// The training progress bar: epoch, reconstruction MSE, rate and time left, redrawn on
// stderr at most ten times a second, only when stderr is a terminal. Within
// an epoch it advances by batches (EpochLoop's batch progress) and shows
// samples/s, so a long epoch on a big file moves instead of jumping to 100%.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace dictlearn::cli {

class ProgressBar {
 public:
  ProgressBar(int total_epochs, bool enabled)
      : total_(total_epochs), enabled_(enabled && total_epochs > 0 && isatty(STDERR_FILENO)) {}

  /// After an epoch: its reconstruction MSE; `seconds` since the run started.
  void update(int epoch, double loss, double seconds) {
    if (!enabled_) return;
    loss_ = loss;
    has_loss_ = true;
    const auto now = std::chrono::steady_clock::now();
    if (epoch < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double rate = seconds > 0 ? epoch / seconds : 0;
    const double left = rate > 0 ? (total_ - epoch) / rate : 0;
    // Epochs longer than a second read better as seconds per epoch than as "0 epochs/s".
    const std::string speed = rate >= 1 || rate == 0 ? fmt::format("{:.0f} epochs/s", rate)
                                                     : fmt::format("{:.3g} s/epoch", 1 / rate);
    draw(static_cast<double>(epoch) / total_,
         fmt::format("epoch {}/{} MSE {:.6g} {} {} left", epoch, total_, loss, speed,
                     format_seconds(left)));
    if (epoch >= total_) fmt::print(stderr, "\n");
    std::fflush(stderr);
  }

  /// Within epoch `epoch`: `done` of its `samples`; `run_samples` stepped on
  /// in `seconds` since the run started.
  void update_batch(int epoch, int64_t done, int64_t samples, int64_t run_samples, double seconds) {
    if (!enabled_ || samples <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double in_epoch = static_cast<double>(done) / static_cast<double>(samples);
    const double rate = seconds > 0 ? static_cast<double>(run_samples) / seconds : 0;
    const double remaining = static_cast<double>(total_ - epoch) * static_cast<double>(samples) +
                             static_cast<double>(samples - done);
    const std::string loss = has_loss_ ? fmt::format(" MSE {:.6g}", loss_) : "";
    draw(((epoch - 1) + in_epoch) / total_,
         fmt::format("epoch {}/{} ({:.0f}%){} {:.0f} samples/s {} left", epoch, total_,
                     100 * in_epoch, loss, rate, format_seconds(rate > 0 ? remaining / rate : 0)));
    std::fflush(stderr);
  }

 private:
  static void draw(double fraction, const std::string& text) {
    constexpr int width = 30;
    const int filled = static_cast<int>(fraction * width);
    const std::string bar = std::string(filled, '#') + std::string(width - filled, '-');
    fmt::print(stderr, "\r[{}] {:>3.0f}% {}   ", bar, 100 * fraction, text);
  }

  static std::string format_seconds(double seconds) {
    const int s = static_cast<int>(seconds + 0.5);
    if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
    if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}s", s);
  }

  int total_;
  bool enabled_;
  double loss_ = 0;
  bool has_loss_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace dictlearn::cli
