#include "mlahub/sim/random.h"

#include <cmath>

namespace mlahub::sim {

double Random::Exponential(double mean) {
  if (mean <= 0) return 0;
  return -mean * std::log1p(-Uniform());
}

double Random::Normal() {
  double u1 = 1.0 - Uniform();  // (0, 1]
  double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
}

double Random::Sample(const Distribution& d) {
  double v = 0;
  switch (d.kind) {
    case Distribution::Kind::kFixed:
      v = d.a;
      break;
    case Distribution::Kind::kExponential:
      v = Exponential(d.a);
      break;
    case Distribution::Kind::kLognormal:
      v = d.a * std::exp(d.b * Normal());
      break;
    case Distribution::Kind::kUniform:
      v = d.a + (d.b - d.a) * Uniform();
      break;
  }
  return v < 0 ? 0 : v;
}

}  // namespace mlahub::sim
