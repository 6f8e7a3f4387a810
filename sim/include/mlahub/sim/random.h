// The simulator's random numbers: std::mt19937_64 (its output is fixed by
// the C++ standard) with distributions implemented here, so a seed gives the
// same run with any standard library. Not thread-safe; one per run.
#pragma once

#include <cstdint>
#include <random>

#include "mlahub/sim/scenario.h"

namespace mlahub::sim {

class Random {
 public:
  explicit Random(uint64_t seed) : gen_(seed) {}
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  // Exponential with the given mean (inverse transform).
  double Exponential(double mean);
  // Standard normal (Box-Muller, one value per call).
  double Normal();
  // A draw from `d` (never negative).
  double Sample(const Distribution& d);

 private:
  std::mt19937_64 gen_;
};

}  // namespace mlahub::sim
