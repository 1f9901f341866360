// The standard normal distribution's tail, its logarithm and its quantiles, in double, for the
// continuous hidden units (rbm/units.hpp): exact to a few units in the last place over the whole real
// line, without overflow or underflow, on the CPU and in the kernels alike.
#pragma once

#include <cmath>

#include "rbm/math.hpp"

namespace rbm {

constexpr double sqrt_2pi = 2.5066282746310002;       // sqrt(2 pi)
constexpr double log_sqrt_2pi = 0.91893853320467274;  // log sqrt(2 pi)

// log Q(z) + z^2 / 2, Q(z) = P(Z > z) the upper tail: a smooth function of z (about -log(z sqrt(2 pi))
// for large z, z^2 / 2 for very negative z). erfc while its value is a normal double; beyond z = 25 the
// asymptotic series Q(z) = phi(z) / z (1 - 1/z^2 + 3/z^4 - ...), whose ninth term is below 1e-16 there.
RBM_HD double log_scaled_upper_tail(double z) {
  if (z < 25.0) return log(0.5 * erfc(z * 0.70710678118654752)) + 0.5 * z * z;
  const double r = 1.0 / (z * z);
  double s = 1.0, t = 1.0;
  for (int n = 1; n <= 8; ++n) {
    t *= -(2 * n - 1) * r;
    s += t;
  }
  return log(s / z) - log_sqrt_2pi;
}

// log Q(z), accurate where Q(z) is near 1 as well (log1p of the lower tail there).
RBM_HD double log_upper_tail(double z) {
  if (z < 0.0) return log1p(-0.5 * erfc(-z * 0.70710678118654752));
  return log_scaled_upper_tail(z) - 0.5 * z * z;
}

// The z >= 0 with log Q(z) = lp, for lp <= log(1/2): Acklam's rational approximation (relative error
// 1.2e-9 where Q is a double) as the start, then Newton steps on log Q (concave; a step squares the
// relative error): one, or two below lp = -500, where Acklam's start is outside the range it was fitted
// on (tests/test_hidden_units.cpp checks the inverse to 1e-12 from lp = -10^4).
RBM_HD double upper_tail_quantile_log(double lp) {
  double z;
  if (lp < -3.7193 /* log 0.02425 */) {
    const double q = sqrt(-2.0 * lp);
    z = (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q -
           2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00) /
        ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q +
          3.754408661907416e+00) * q + 1.0);
    z = -z;  // the formula gives the lower quantile, -z
  } else {
    const double q = exp(lp) - 0.5, r = q * q;
    z = -(((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r +
             1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q /
        (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r +
           6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1.0);
  }
  for (int i = lp < -500.0 ? 0 : 1; i < 2; ++i) {
    // f(z) = log Q(z) - lp, f'(z) = -phi(z) / Q(z) = -1 / (sqrt(2 pi) exp(log Q(z) + z^2 / 2)).
    const double l = log_scaled_upper_tail(z);
    z += (l - 0.5 * z * z - lp) * sqrt_2pi * exp(l);
  }
  return z;
}

// The z with Q(z) = exp(lp) for any lp <= 0: the upper quantile above, or by symmetry the lower one.
RBM_HD double upper_quantile_log(double lp) {
  if (lp <= -0.69314718055994531) return upper_tail_quantile_log(lp);
  return -upper_tail_quantile_log(log(-expm1(lp)));  // Q(-z) = 1 - Q(z)
}

// Phi^-1(p), the standard normal's p-quantile, for p in (0, 1]; p = 1 (a float uniform's largest value)
// is taken as 1 - 2^-34.
RBM_HD double normal_quantile(double p) {
  if (p <= 0.5) return -upper_tail_quantile_log(log(p));
  return upper_tail_quantile_log(log(fmax(1.0 - p, 5.820766091346741e-11)));
}

// A draw of Z | Z >= a by inverse CDF from one uniform u in (0, 1]: the z >= a with
// Q(z) = u Q(a) (u = 1 gives a itself).
RBM_HD double truncated_normal_above(double a, double u) {
  const double z = upper_quantile_log(log(u) + log_upper_tail(a));
  return z > a ? z : a;
}

}  // namespace rbm
