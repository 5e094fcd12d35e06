#include "loadtest/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace admit::loadtest {
namespace {

// Values < kSubBuckets: one bucket each. Then, for each exponent
// e >= kSubBits (value in [2^e, 2^(e+1))), kSubBuckets / 2 buckets of width
// 2^(e - kSubBits + 1). 63 - kSubBits + 1 exponents cover every int64_t.
constexpr int64_t kHalf = Histogram::kSubBuckets / 2;
constexpr int kBuckets = static_cast<int>(Histogram::kSubBuckets +
                                          (64 - Histogram::kSubBits) * kHalf);

}  // namespace

Histogram::Histogram() : counts_(kBuckets, 0) {}

int Histogram::BucketOf(int64_t value) {
  if (value < kSubBuckets) return static_cast<int>(std::max<int64_t>(value, 0));
  const auto u = static_cast<uint64_t>(value);
  const int e = std::bit_width(u) - 1;  // >= kSubBits
  const int shift = e - kSubBits + 1;
  const int64_t mantissa =
      static_cast<int64_t>(u >> shift);  // [kHalf, 2*kHalf)
  return static_cast<int>(kSubBuckets + (e - kSubBits) * kHalf +
                          (mantissa - kHalf));
}

int64_t Histogram::BucketLow(int bucket) {
  if (bucket < kSubBuckets) return bucket;
  const int64_t rest = bucket - kSubBuckets;
  const int e = static_cast<int>(rest / kHalf) + kSubBits;
  const int shift = e - kSubBits + 1;
  return (kHalf + rest % kHalf) << shift;
}

int64_t Histogram::BucketHigh(int bucket) {
  if (bucket < kSubBuckets) return bucket;
  const int e = static_cast<int>((bucket - kSubBuckets) / kHalf) + kSubBits;
  const int shift = e - kSubBits + 1;
  // The top bucket's high end is INT64_MAX; computing low + width would wrap.
  const int64_t low = BucketLow(bucket);
  return low + ((int64_t{1} << shift) - 1);
}

void Histogram::Record(int64_t value, int64_t n) {
  if (n <= 0) return;
  value = std::max<int64_t>(value, 0);
  counts_[BucketOf(value)] += n;
  if (count_ == 0 || value < min_) min_ = value;
  max_ = std::max(max_, value);
  count_ += n;
  sum_ += static_cast<double>(value) * static_cast<double>(n);
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

double Histogram::mean() const {
  return count_ == 0 ? 0 : sum_ / static_cast<double>(count_);
}

int64_t Histogram::ValueAt(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const auto rank = std::max<int64_t>(
      1,
      static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(count_))));
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::clamp(BucketHigh(static_cast<int>(i)), min(), max_);
    }
  }
  return max_;
}

}  // namespace admit::loadtest
