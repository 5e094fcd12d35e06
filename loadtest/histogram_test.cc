#include "loadtest/histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace admit::loadtest {
namespace {

// The exact value at percentile p of sorted `v`, with ValueAt's rank rule.
int64_t Exact(const std::vector<int64_t>& v, double p) {
  const auto rank = std::max<int64_t>(
      1, static_cast<int64_t>(
             std::ceil(p / 100.0 * static_cast<double>(v.size()))));
  return v[static_cast<size_t>(rank - 1)];
}

TEST(Histogram, EmptyReportsZeros) {
  Histogram h;
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.ValueAt(99), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.min(), 0);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (int64_t v = 0; v < Histogram::kSubBuckets; ++v) h.Record(v);
  EXPECT_EQ(h.ValueAt(50), 63);
  EXPECT_EQ(h.ValueAt(100), 127);
  EXPECT_EQ(h.ValueAt(0), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_DOUBLE_EQ(h.mean(), 63.5);
}

TEST(Histogram, BucketsTileTheRangeWithoutGaps) {
  for (int b = 0; b < 3000; ++b) {
    EXPECT_EQ(Histogram::BucketOf(Histogram::BucketLow(b)), b) << b;
    EXPECT_EQ(Histogram::BucketOf(Histogram::BucketHigh(b)), b) << b;
    EXPECT_EQ(Histogram::BucketHigh(b) + 1, Histogram::BucketLow(b + 1)) << b;
  }
  EXPECT_GT(Histogram::BucketOf(INT64_MAX), 0);
  EXPECT_EQ(Histogram::BucketHigh(Histogram::BucketOf(INT64_MAX)), INT64_MAX);
}

TEST(Histogram, PercentilesAreWithinTheRelativeErrorOfExactOnes) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(8.0,
                                           1.5);  // ~3 ms median, long tail
  std::vector<int64_t> values;
  Histogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<int64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const int64_t exact = Exact(values, p);
    const int64_t approx = h.ValueAt(p);
    EXPECT_GE(approx, exact) << p;  // never under-reports
    EXPECT_LE(static_cast<double>(approx - exact),
              Histogram::RelativeError() * static_cast<double>(exact) + 1)
        << p;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  Histogram a, b, all;
  for (int64_t v = 1; v < 100000; v += 7) {
    (v % 2 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double p : {50.0, 99.0, 99.9}) EXPECT_EQ(a.ValueAt(p), all.ValueAt(p));
  EXPECT_EQ(a.max(), all.max());
  EXPECT_EQ(a.min(), all.min());
}

TEST(Histogram, NegativeValuesCountAsZeroAndMaxIsExact) {
  Histogram h;
  h.Record(-5);
  h.Record(1'234'567);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.ValueAt(100), 1'234'567);
  EXPECT_EQ(h.count(), 2);
}

}  // namespace
}  // namespace admit::loadtest
