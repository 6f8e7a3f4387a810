#include "mlahub/evidence/progress.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace mlahub::evidence {

ProgressMeter::ProgressMeter(uint64_t bytes_total, uint64_t chunks_total, ProgressFn fn,
                             std::chrono::milliseconds min_interval)
    : fn_(std::move(fn)), min_interval_(min_interval) {
  p_.bytes_total = bytes_total;
  p_.chunks_total = chunks_total;
}

void ProgressMeter::Compute(uint64_t bytes_done, uint64_t chunks_done) {
  auto now = std::chrono::steady_clock::now();
  if (!started_) {
    started_ = true;
    start_ = now;
    last_report_ = now;
    start_bytes_ = bytes_done;
  }
  p_.bytes_done = bytes_done;
  p_.chunks_done = chunks_done;
  double secs = std::chrono::duration<double>(now - start_).count();
  if (secs > 0.05 && bytes_done > start_bytes_) {
    p_.bytes_per_second = static_cast<double>(bytes_done - start_bytes_) / secs;
    p_.eta_seconds = bytes_done >= p_.bytes_total
                         ? 0
                         : static_cast<double>(p_.bytes_total - bytes_done) / p_.bytes_per_second;
  }
}

void ProgressMeter::Update(uint64_t bytes_done, uint64_t chunks_done) {
  bool first = !started_;
  Compute(bytes_done, chunks_done);
  if (!fn_) return;
  auto now = std::chrono::steady_clock::now();
  if (first || now - last_report_ >= min_interval_) {
    last_report_ = now;
    fn_(p_);
  }
}

void ProgressMeter::Finish(uint64_t bytes_done, uint64_t chunks_done) {
  Compute(bytes_done, chunks_done);
  p_.finished = true;
  if (bytes_done >= p_.bytes_total) p_.eta_seconds = 0;
  if (fn_) fn_(p_);
}

std::string ProgressJson(const Progress& p) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"bytes\":%" PRIu64 ",\"total\":%" PRIu64 ",\"chunks\":%" PRIu64
                ",\"chunk_count\":%" PRIu64 ",\"rate_bps\":%.0f,\"eta_s\":%.1f,\"done\":%s}",
                p.bytes_done, p.bytes_total, p.chunks_done, p.chunks_total, p.bytes_per_second,
                p.eta_seconds, p.finished ? "true" : "false");
  return buf;
}

std::string ProgressBar(const Progress& p, int width) {
  double frac = p.bytes_total == 0
                    ? (p.finished ? 1.0 : 0.0)
                    : static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total);
  if (frac > 1) frac = 1;
  int filled = static_cast<int>(std::floor(frac * width));
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
  char tail[96];
  if (p.eta_seconds >= 0) {
    auto eta = static_cast<uint64_t>(p.eta_seconds + 0.5);
    std::snprintf(tail, sizeof tail,
                  " %5.1f%%  %.1f MiB/s  ETA %" PRIu64 ":%02" PRIu64 ":%02" PRIu64, frac * 100,
                  p.bytes_per_second / (1024.0 * 1024.0), eta / 3600, eta / 60 % 60, eta % 60);
  } else {
    std::snprintf(tail, sizeof tail, " %5.1f%%  -- MiB/s  ETA --:--:--", frac * 100);
  }
  return bar + tail;
}

}  // namespace mlahub::evidence
