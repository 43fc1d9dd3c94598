// The seeded generator of xrun's random choices (max_tasks subsets, `sample:` draws), specified
// so that a seed gives the same results on every machine and compiler: SplitMix64 (Steele, Lea,
// Flood 2014); uniforms from its top 53 bits; normals by Box-Muller (two uniforms each, the cosine
// branch). No standard-library distribution is used: those differ between implementations.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>

namespace xrun::util {

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // In [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * M_PI * u2);
  }
};

// `n` characters from an unambiguous alphabet, not reproducible (for unique names and markers).
inline std::string random_token(size_t n) {
  static const char* alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(::getpid()));
  std::string s;
  for (size_t i = 0; i < n; ++i) s += alphabet[rng() % 32];
  return s;
}

}  // namespace xrun::util
