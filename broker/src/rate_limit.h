// Per-node refusal rate limit: a node whose commands are refused more than
// `limit` times within one second is limited for `backoff_ms`: its further
// frames are refused at once (`unavailable`, "rate limited"), without a
// verification or a ledger entry, until the backoff ends. Each limited burst
// is reported once (Note returns kLimitedNow for its first refusal only).
//
// Pure logic over a caller-supplied monotonic time in milliseconds, so it is
// tested without clocks. Thread-safety: none; the socket thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace mlahub::broker {

class RefusalLimiter {
 public:
  // limit 0 disables the limiter.
  RefusalLimiter(uint32_t limit, int64_t backoff_ms) : limit_(limit), backoff_ms_(backoff_ms) {}

  enum class Note : uint8_t { kCounted, kLimitedNow };
  // A refusal of one of `node`'s commands at `now_ms`. kLimitedNow when this
  // one crossed the limit (the burst starts: log it once).
  Note Refused(const std::string& node, int64_t now_ms) {
    if (limit_ == 0) return Note::kCounted;
    State& s = nodes_[node];
    if (now_ms - s.window_start >= 1000 || now_ms < s.window_start) {
      s.window_start = now_ms;
      s.count = 0;
    }
    if (++s.count <= limit_ || now_ms < s.limited_until) return Note::kCounted;
    s.limited_until = now_ms + backoff_ms_;
    s.count = 0;
    s.window_start = s.limited_until;  // counting starts again after the backoff
    return Note::kLimitedNow;
  }
  // Is `node` limited at `now_ms`?
  bool Limited(const std::string& node, int64_t now_ms) const {
    if (limit_ == 0) return false;
    auto it = nodes_.find(node);
    return it != nodes_.end() && now_ms < it->second.limited_until;
  }
  int64_t LimitedUntil(const std::string& node) const {
    auto it = nodes_.find(node);
    return it == nodes_.end() ? 0 : it->second.limited_until;
  }

 private:
  struct State {
    int64_t window_start = 0;
    uint32_t count = 0;
    int64_t limited_until = 0;
  };
  uint32_t limit_;
  int64_t backoff_ms_;
  std::map<std::string, State> nodes_;
};

}  // namespace mlahub::broker
