// RefusalLimiter: refusals per node per second, a backoff, one report per burst.
#include "rate_limit.h"

#include <gtest/gtest.h>

namespace mlahub::broker {
namespace {

TEST(RefusalLimiterTest, LimitsANodeAboveTheRateForTheBackoffAndReportsOnce) {
  RefusalLimiter l(3, 10'000);
  int64_t t = 1'000'000;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(l.Refused("IT-MOJ", t + i), RefusalLimiter::Note::kCounted);
  EXPECT_FALSE(l.Limited("IT-MOJ", t + 3));
  EXPECT_EQ(l.Refused("IT-MOJ", t + 3), RefusalLimiter::Note::kLimitedNow);
  EXPECT_TRUE(l.Limited("IT-MOJ", t + 3));
  EXPECT_FALSE(l.Limited("NG-AGF", t + 3));  // per node
  // More refusals during the backoff: counted, not reported again.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(l.Refused("IT-MOJ", t + 100 + i), RefusalLimiter::Note::kCounted);
  EXPECT_TRUE(l.Limited("IT-MOJ", t + 10'002));
  EXPECT_FALSE(l.Limited("IT-MOJ", t + 10'003));
  // A new burst after the backoff is limited (and reported) again.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(l.Refused("IT-MOJ", t + 20'000 + i), RefusalLimiter::Note::kCounted);
  EXPECT_EQ(l.Refused("IT-MOJ", t + 20'004), RefusalLimiter::Note::kLimitedNow);
}

TEST(RefusalLimiterTest, RefusalsSpreadOverSecondsAreNotLimited) {
  RefusalLimiter l(3, 10'000);
  for (int64_t s = 0; s < 20; ++s) {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(l.Refused("IT-MOJ", s * 1000 + i * 300), RefusalLimiter::Note::kCounted);
  }
  EXPECT_FALSE(l.Limited("IT-MOJ", 20'000));
}

TEST(RefusalLimiterTest, ZeroDisables) {
  RefusalLimiter l(0, 10'000);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(l.Refused("IT-MOJ", i), RefusalLimiter::Note::kCounted);
  EXPECT_FALSE(l.Limited("IT-MOJ", 1000));
}

}  // namespace
}  // namespace mlahub::broker
