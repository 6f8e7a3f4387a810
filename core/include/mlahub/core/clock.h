// Clocks. All mlahub times are Unix milliseconds (UTC).
//
// SystemClock reads the wall clock; ScaledClock runs faster than real time
// from a fixed origin (the simulator compresses months into minutes);
// FakeClock is set by tests. Implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace mlahub {

using UnixMillis = int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixMillis NowMillis() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixMillis NowMillis() const override;
  static const SystemClock& Instance();
};

// now = origin + (real_now - real_origin) * rate.
class ScaledClock final : public Clock {
 public:
  ScaledClock(UnixMillis origin, double rate);
  UnixMillis NowMillis() const override;

 private:
  UnixMillis origin_;
  UnixMillis real_origin_;
  double rate_;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(UnixMillis now = 0) : now_(now) {}
  UnixMillis NowMillis() const override { return now_.load(); }
  void Set(UnixMillis now) { now_.store(now); }
  void Advance(int64_t ms) { now_.fetch_add(ms); }

 private:
  std::atomic<UnixMillis> now_;
};

// "2026-11-28T15:49:00.000Z"
std::string FormatRfc3339(UnixMillis t);

}  // namespace mlahub
