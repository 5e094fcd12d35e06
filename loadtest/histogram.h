// A latency histogram with bounded relative error, in the manner of
// HdrHistogram (log-linear buckets). Written here because Debian 12 ships no
// C++ HDR histogram library (`apt-cache search hdr`: Go and Java only).
//
// Values are non-negative integers (admit-loadtest records microseconds).
// Values below kSubBuckets are kept exactly; above, each power of two
// [2^e, 2^(e+1)) is split into kSubBuckets / 2 buckets of width
// 2^(e - kSubBits + 1), so a recorded
// value is known within 1 / (kSubBuckets / 2) = 1.6% of itself at worst
// (ValueAt returns the top of the bucket, so it never under-reports).
// Min, max, count and sum are exact.
//
// Not thread-safe: record from one thread, or record into one histogram per
// thread and Merge them.
#ifndef ADMIT_LOADTEST_HISTOGRAM_H_
#define ADMIT_LOADTEST_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace admit::loadtest {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr int64_t kSubBuckets = int64_t{1} << kSubBits;  // 128

  Histogram();

  // Records `value` (negative values are recorded as 0) `n` times.
  void Record(int64_t value, int64_t n = 1);
  // Adds every value recorded in `other`.
  void Merge(const Histogram& other);

  int64_t count() const { return count_; }
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  double mean() const;

  // The value at percentile `p` (0..100): the smallest bucket top such that
  // at least p% of the recorded values are <= it, clamped to max(). Its
  // relative error is at most RelativeError(). 0 when empty.
  int64_t ValueAt(double p) const;

  // Worst-case (top - value) / value of a bucket that a value >= kSubBuckets
  // falls in: 1 / (kSubBuckets / 2).
  static double RelativeError() { return 2.0 / kSubBuckets; }

  // Bucket index of `value` and the [low, high] values that bucket holds.
  static int BucketOf(int64_t value);
  static int64_t BucketLow(int bucket);
  static int64_t BucketHigh(int bucket);

 private:
  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace admit::loadtest

#endif  // ADMIT_LOADTEST_HISTOGRAM_H_
