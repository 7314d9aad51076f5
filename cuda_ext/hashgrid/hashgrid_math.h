// Hash grid arithmetic shared by the CPU (hashgrid_cpu.cpp) and CUDA (hashgrid.cu) kernels.
//
// The grid is tiny-cuda-nn's (see fields3d/ops/hashgrid.py for the definition and the PyTorch twin
// that specifies it): per level a float32 scale s, position p = x * s + 0.5, cell floor(p), fraction
// t = p - floor(p), D-linear weights over the 2^D corners, dense indexing on coarse levels and
// tcnn's XOR-of-primes hash on fine ones.
#pragma once

#include <cmath>
#include <cstdint>

#include "../host_device.h"

namespace fields3d {
namespace hashgrid {

constexpr int kMaxLevels = 32;

// One level of the grid, as the kernels read it.
struct Level {
  uint32_t offset;      // first table row of the level
  uint32_t size;        // rows of the level
  uint32_t resolution;  // grid points per dimension (dense indexing stride)
  uint32_t hash_mask;   // size - 1 for a hashed level (size is a power of two), 0 for a dense one
  float scale;          // s_l
};

// All levels (passed by value to kernels: 32 * 20 + 8 bytes).
struct Levels {
  int n_levels;  // L: levels in the output
  int n_active;  // levels >= n_active output zeros and receive no gradient
  Level level[kMaxLevels];
};

F3D_HD constexpr uint32_t hash_prime(int dim) {
  return dim == 0 ? 1u : dim == 1 ? 2654435761u : dim == 2 ? 805459861u : 3674653429u;
}

// Grid position x * s + 0.5.  float: the product is exact in double, so this is one rounding to
// double and one to float, exactly what the twin computes (and within a rare tie of tcnn's fmaf).
F3D_HD float grid_position(float x, float scale) {
  return static_cast<float>(static_cast<double>(x) * static_cast<double>(scale) + 0.5);
}

// double: two roundings (product, then sum), as the twin's separate multiply and add.
F3D_HD double grid_position(double x, float scale) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(__dmul_rn(x, static_cast<double>(scale)), 0.5);
#else
  volatile double product = x * static_cast<double>(scale);  // keep the compiler from fusing
  return product + 0.5;
#endif
}

// Table row (within the level) of an integer grid corner.
template <int D>
F3D_HD uint32_t level_row(const uint32_t (&corner)[D], const Level& lv) {
  if (lv.hash_mask != 0u) {
    uint32_t h = 0u;
F3D_UNROLL
    for (int d = 0; d < D; ++d) h ^= corner[d] * hash_prime(d);
    return h & lv.hash_mask;
  }
  uint32_t index = 0u, stride = 1u;
F3D_UNROLL
  for (int d = 0; d < D; ++d) {
    index += corner[d] * stride;
    stride *= lv.resolution;
  }
  return index % lv.size;
}

// A point's coordinates clamped to [0, 1]; inside[d] says whether coordinate d was already inside
// (the gradient of the clamp).  Returns false when a coordinate is NaN.
template <typename T, int D>
F3D_HD bool clamp_point(const T* x, T (&xc)[D], bool (&inside)[D]) {
  bool finite = true;
F3D_UNROLL
  for (int d = 0; d < D; ++d) {
    const T v = x[d];
    if (v != v) finite = false;
    inside[d] = v >= T(0) && v <= T(1);
    xc[d] = v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
  }
  return finite;
}

// The cell of a (clamped) point in one level.
template <typename T, int D>
struct Cell {
  uint32_t base[D];  // lowest corner
  T t[D];            // fractions in [0, 1)

  F3D_HD Cell() {}
  F3D_HD Cell(const T (&xc)[D], float scale) {
F3D_UNROLL
    for (int d = 0; d < D; ++d) {
      const T p = grid_position(xc[d], scale);
      const T f = floor(p);
      base[d] = static_cast<uint32_t>(static_cast<int>(f));
      t[d] = p - f;
    }
  }

  // Corner c (bit d of c selects base[d] + 1): its grid point and its D-linear weight, the
  // product of the per-dimension factors in dimension order (as the twin multiplies them).
  F3D_HD T corner(int c, uint32_t (&point)[D]) const {
    T w = T(1);
F3D_UNROLL
    for (int d = 0; d < D; ++d) {
      const bool bit = (c >> d) & 1;
      point[d] = base[d] + (bit ? 1u : 0u);
      w *= bit ? t[d] : T(1) - t[d];
    }
    return w;
  }

  // d w_c / d t_dim.
  F3D_HD T weight_derivative(int c, int dim) const {
    T w = ((c >> dim) & 1) ? T(1) : T(-1);
F3D_UNROLL
    for (int d = 0; d < D; ++d) {
      if (d == dim) continue;
      w *= ((c >> d) & 1) ? t[d] : T(1) - t[d];
    }
    return w;
  }

  // d^2 w_c / (d t_a d t_b) for a != b (the diagonal is zero: w is linear in each t_d).
  F3D_HD T weight_second_derivative(int c, int a, int b) const {
    T w = (((c >> a) & 1) ? T(1) : T(-1)) * (((c >> b) & 1) ? T(1) : T(-1));
F3D_UNROLL
    for (int d = 0; d < D; ++d) {
      if (d == a || d == b) continue;
      w *= ((c >> d) & 1) ? t[d] : T(1) - t[d];
    }
    return w;
  }
};

}  // namespace hashgrid
}  // namespace fields3d
