// Progress of a transfer, for a terminal bar or JSON lines.
//
// ProgressMeter turns (bytes, chunks) counts into a Progress with a rate and
// a time left, and calls the callback at most every `min_interval` (and
// always from Finish). The rate is measured over the current session (from
// the meter's creation), so a resumed transfer shows its real speed.
//
// Thread-safety: a meter belongs to one thread; the helpers are pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace mlahub::evidence {

struct Progress {
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  uint64_t chunks_done = 0;
  uint64_t chunks_total = 0;
  double bytes_per_second = 0;  // 0 until measurable
  double eta_seconds = -1;      // -1: unknown
  bool finished = false;
};

using ProgressFn = std::function<void(const Progress&)>;

class ProgressMeter {
 public:
  ProgressMeter(uint64_t bytes_total, uint64_t chunks_total, ProgressFn fn,
                std::chrono::milliseconds min_interval = std::chrono::milliseconds(200));
  void Update(uint64_t bytes_done, uint64_t chunks_done);
  void Finish(uint64_t bytes_done, uint64_t chunks_done);
  const Progress& last() const { return p_; }

 private:
  void Compute(uint64_t bytes_done, uint64_t chunks_done);
  ProgressFn fn_;
  std::chrono::milliseconds min_interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_report_;
  uint64_t start_bytes_ = 0;
  bool started_ = false;
  Progress p_;
};

// {"bytes":N,"total":N,"chunks":N,"chunk_count":N,"rate_bps":X,"eta_s":X,"done":false}
std::string ProgressJson(const Progress& p);
// "[##########..........]  50.0%  12.3 MiB/s  ETA 0:00:35" (width = bar cells)
std::string ProgressBar(const Progress& p, int width = 30);

}  // namespace mlahub::evidence
