// Tri-plane arithmetic shared by the CPU (triplane_cpu.cpp) and CUDA (triplane.cu) kernels.
//
// Planes are channel-last, (B, 3, R, R, C): plane 0 is xy, 1 is xz, 2 is yz; a plane's first
// coordinate indexes columns (width), its second rows (height).  A point in [0, 1]^3 (clamped) maps
// to pixel position u * (R - 1) (grid_sample with align_corners=True): texel centres at the ends.
#pragma once

#include <cmath>
#include <cstdint>

#include "../host_device.h"

namespace fields3d {
namespace triplane {

enum Reduce : int { kSum = 0, kProduct = 1, kConcat = 2 };

F3D_HD constexpr int plane_axis_u(int plane) { return plane == 2 ? 1 : 0; }  // xy: x, xz: x, yz: y
F3D_HD constexpr int plane_axis_v(int plane) { return plane == 0 ? 1 : 2; }  // xy: y, xz: z, yz: z

// Bilinear footprint of a point on one plane.
template <typename T>
struct Footprint {
  int64_t row0;  // flat texel index (in texels) of the lower-left corner, within all planes
  int64_t R;     // texels per row
  T tu, tv;      // fractions along the columns and the rows
  T scale;       // R - 1: d(pixel)/d(coordinate)

  // u, v already clamped to [0, 1]; plane_index = object * 3 + plane.
  F3D_HD Footprint(T u, T v, int64_t plane_index, int64_t R_) : R(R_), scale(static_cast<T>(R_ - 1)) {
    const T pu = u * scale, pv = v * scale;
    T fu = floor(pu), fv = floor(pv);
    const T last = static_cast<T>(R_ - 2);
    fu = fu > last ? last : fu;
    fv = fv > last ? last : fv;
    tu = pu - fu;
    tv = pv - fv;
    row0 = (plane_index * R_ + static_cast<int64_t>(fv)) * R_ + static_cast<int64_t>(fu);
  }

  // Corner k = (dv << 1) | du: texel index and weight (weights as grid_sample's products).
  F3D_HD int64_t texel(int k) const { return row0 + ((k >> 1) ? R : 0) + (k & 1); }
  F3D_HD T weight(int k) const {
    return ((k & 1) ? tu : T(1) - tu) * ((k >> 1) ? tv : T(1) - tv);
  }
  F3D_HD T weight_du(int k) const { return ((k & 1) ? T(1) : T(-1)) * ((k >> 1) ? tv : T(1) - tv); }
  F3D_HD T weight_dv(int k) const { return ((k & 1) ? tu : T(1) - tu) * ((k >> 1) ? T(1) : T(-1)); }
};

}  // namespace triplane
}  // namespace fields3d
