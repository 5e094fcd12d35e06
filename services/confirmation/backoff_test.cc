#include "services/confirmation/backoff.h"

#include "gtest/gtest.h"

namespace admit::confirmation {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, CeilingDoublesFromBaseUpToMax) {
  BackoffPolicy policy{milliseconds(1000), milliseconds(300000)};
  EXPECT_EQ(BackoffCeiling(policy, 1), milliseconds(1000));
  EXPECT_EQ(BackoffCeiling(policy, 2), milliseconds(2000));
  EXPECT_EQ(BackoffCeiling(policy, 5), milliseconds(16000));
  EXPECT_EQ(BackoffCeiling(policy, 9), milliseconds(256000));
  EXPECT_EQ(BackoffCeiling(policy, 10), milliseconds(300000));
  EXPECT_EQ(BackoffCeiling(policy, 1000000), milliseconds(300000));
  EXPECT_EQ(BackoffCeiling(policy, 0), milliseconds(1000));
}

TEST(Backoff, DelayStaysWithinZeroAndCeilingForEveryDraw) {
  BackoffPolicy policy{milliseconds(1000), milliseconds(300000)};
  for (int attempt = 1; attempt <= 40; ++attempt) {
    for (double u : {0.0, 1e-9, 0.25, 0.5, 0.999999, 1.0, -3.0, 7.0}) {
      const milliseconds delay = RetryDelay(policy, attempt, u);
      EXPECT_GE(delay, milliseconds(1)) << attempt << " " << u;
      EXPECT_LE(delay, BackoffCeiling(policy, attempt)) << attempt << " " << u;
    }
  }
  EXPECT_EQ(RetryDelay(policy, 3, 0.5), milliseconds(2000));
}

TEST(Backoff, MaxBelowBaseMeansBase) {
  BackoffPolicy policy{milliseconds(500), milliseconds(10)};
  EXPECT_EQ(BackoffCeiling(policy, 4), milliseconds(500));
}

}  // namespace
}  // namespace admit::confirmation
