#include "mlahub/core/clock.h"

#include <chrono>
#include <ctime>

namespace mlahub {

UnixMillis SystemClock::NowMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const SystemClock& SystemClock::Instance() {
  static const SystemClock clock;
  return clock;
}

ScaledClock::ScaledClock(UnixMillis origin, double rate)
    : origin_(origin), real_origin_(SystemClock::Instance().NowMillis()), rate_(rate) {}

UnixMillis ScaledClock::NowMillis() const {
  auto real = SystemClock::Instance().NowMillis() - real_origin_;
  return origin_ + static_cast<UnixMillis>(static_cast<double>(real) * rate_);
}

std::string FormatRfc3339(UnixMillis t) {
  std::time_t secs = static_cast<std::time_t>(t / 1000);
  int ms = static_cast<int>(t % 1000);
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

}  // namespace mlahub
