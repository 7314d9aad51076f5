// Tri-plane kernels for CPU tensors (at::parallel_for, OpenMP).
//
// forward and the point gradient: parallel over points.  Plane gradients: the rows of all planes
// (B * 3 * R of them) are cut into bands; a point's footprint on a plane touches rows y0 and y0 + 1,
// so it belongs to the band of y0 and may spill into the next band only.  Even bands run in
// parallel, then odd ones: no two bands that run together are adjacent, so no atomics are needed.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "../common.h"
#include "triplane.h"

namespace fields3d {
namespace triplane {
namespace {

struct Shape {
  int64_t N, B, R, C, out_c;
};

// Clamped point and object of point n; false for a NaN coordinate or an index outside [0, B).
template <typename T>
bool load_point(const T* x, const int64_t* index, int64_t n, int64_t B, T (&xc)[3], bool (&inside)[3],
                int64_t& b) {
  b = index ? index[n] : 0;
  if (b < 0 || b >= B) return false;
  bool finite = true;
  for (int d = 0; d < 3; ++d) {
    const T v = x[n * 3 + d];
    if (v != v) finite = false;
    inside[d] = v >= T(0) && v <= T(1);
    xc[d] = v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
  }
  return finite;
}

template <typename T>
Footprint<T> footprint(const T (&xc)[3], int64_t b, int p, int64_t R) {
  return Footprint<T>(xc[plane_axis_u(p)], xc[plane_axis_v(p)], b * 3 + p, R);
}

// values[c] = bilinear value of the plane under the footprint.
template <typename T>
void plane_values(const T* planes, const Footprint<T>& fp, int64_t C, T* values) {
  const T* t0 = planes + fp.texel(0) * C;
  const T* t1 = planes + fp.texel(1) * C;
  const T* t2 = planes + fp.texel(2) * C;
  const T* t3 = planes + fp.texel(3) * C;
  const T w0 = fp.weight(0), w1 = fp.weight(1), w2 = fp.weight(2), w3 = fp.weight(3);
  for (int64_t c = 0; c < C; ++c) values[c] = w0 * t0[c] + w1 * t1[c] + w2 * t2[c] + w3 * t3[c];
}

// Upstream gradient of plane p's values: sum -> g, product -> g * (other planes), concat -> g slice.
template <typename T>
void plane_upstream(const T* g, const T* values /* 3 * C, or null unless product */, int p, int64_t C,
                    int reduce, T* out) {
  if (reduce == kConcat) {
    std::copy(g + p * C, g + (p + 1) * C, out);
  } else if (reduce == kSum) {
    std::copy(g, g + C, out);
  } else {
    const T* a = values + ((p + 1) % 3) * C;
    const T* b = values + ((p + 2) % 3) * C;
    for (int64_t c = 0; c < C; ++c) out[c] = g[c] * a[c] * b[c];
  }
}

template <typename T>
void forward_impl(const T* x, const T* planes, const int64_t* index, T* out, const Shape s, int reduce) {
  at::parallel_for(0, s.N, 256, [&](int64_t begin, int64_t end) {
    std::vector<T> values(s.C);
    for (int64_t n = begin; n < end; ++n) {
      T* o = out + n * s.out_c;
      T xc[3];
      bool inside[3];
      int64_t b;
      if (!load_point(x, index, n, s.B, xc, inside, b)) {
        std::fill(o, o + s.out_c, std::numeric_limits<T>::quiet_NaN());
        continue;
      }
      for (int p = 0; p < 3; ++p) {
        const Footprint<T> fp = footprint(xc, b, p, s.R);
        if (reduce == kConcat) {
          plane_values(planes, fp, s.C, o + p * s.C);
          continue;
        }
        plane_values(planes, fp, s.C, values.data());
        if (p == 0) {
          std::copy(values.begin(), values.end(), o);
        } else if (reduce == kSum) {
          for (int64_t c = 0; c < s.C; ++c) o[c] += values[c];
        } else {
          for (int64_t c = 0; c < s.C; ++c) o[c] *= values[c];
        }
      }
    }
  });
}

template <typename T>
void grad_points_impl(const T* x, const T* planes, const int64_t* index, const T* grad_out, T* grad_x,
                      const Shape s, int reduce) {
  at::parallel_for(0, s.N, 256, [&](int64_t begin, int64_t end) {
    std::vector<T> values(3 * s.C), up(s.C);
    for (int64_t n = begin; n < end; ++n) {
      T xc[3];
      bool inside[3];
      int64_t b;
      if (!load_point(x, index, n, s.B, xc, inside, b)) continue;
      const T* g = grad_out + n * s.out_c;
      if (reduce == kProduct) {
        for (int p = 0; p < 3; ++p) plane_values(planes, footprint(xc, b, p, s.R), s.C, values.data() + p * s.C);
      }
      T dx[3] = {};
      for (int p = 0; p < 3; ++p) {
        const Footprint<T> fp = footprint(xc, b, p, s.R);
        plane_upstream(g, values.data(), p, s.C, reduce, up.data());
        const T* t[4];
        for (int k = 0; k < 4; ++k) t[k] = planes + fp.texel(k) * s.C;
        T du = 0, dv = 0;
        for (int64_t c = 0; c < s.C; ++c) {
          const T ddu = fp.weight_du(0) * t[0][c] + fp.weight_du(1) * t[1][c] + fp.weight_du(2) * t[2][c] +
                        fp.weight_du(3) * t[3][c];
          const T ddv = fp.weight_dv(0) * t[0][c] + fp.weight_dv(1) * t[1][c] + fp.weight_dv(2) * t[2][c] +
                        fp.weight_dv(3) * t[3][c];
          du += up[c] * ddu;
          dv += up[c] * ddv;
        }
        dx[plane_axis_u(p)] += du * fp.scale;
        dx[plane_axis_v(p)] += dv * fp.scale;
      }
      for (int d = 0; d < 3; ++d) grad_x[n * 3 + d] = inside[d] ? dx[d] : T(0);
    }
  });
}

template <typename T>
void grad_planes_impl(const T* x, const T* planes, const int64_t* index, const T* grad_out, T* grad_planes,
                      const Shape s, int reduce) {
  const int64_t total_rows = s.B * 3 * s.R;
  // small problems on one thread: waking a team costs more than the work
  const int threads = s.N < 4096 ? 1 : std::max(1, at::get_num_threads());
  const int64_t n_bands = threads == 1 ? 1 : std::max<int64_t>(2, std::min<int64_t>(2 * threads, total_rows / 2));
  const int64_t band_rows = (total_rows + n_bands - 1) / n_bands;
  const int n_parities = n_bands == 1 ? 1 : 2;
  for (int parity = 0; parity < n_parities; ++parity) {
    const int64_t n_tasks = (n_bands - parity + n_parities - 1) / n_parities;
    at::parallel_for(0, n_tasks, 1, [&](int64_t task_begin, int64_t task_end) {
      std::vector<T> values(3 * s.C), up(s.C);
      for (int64_t task = task_begin; task < task_end; ++task) {
        const int64_t band = task * n_parities + parity;
        const int64_t row_begin = band * band_rows, row_end = row_begin + band_rows;
        for (int64_t n = 0; n < s.N; ++n) {
          T xc[3];
          bool inside[3];
          int64_t b;
          if (!load_point(x, index, n, s.B, xc, inside, b)) continue;
          const T* g = grad_out + n * s.out_c;
          bool have_values = false;
          for (int p = 0; p < 3; ++p) {
            const Footprint<T> fp = footprint(xc, b, p, s.R);
            const int64_t row = fp.row0 / s.R;
            if (row < row_begin || row >= row_end) continue;
            if (reduce == kProduct && !have_values) {
              for (int q = 0; q < 3; ++q) {
                plane_values(planes, footprint(xc, b, q, s.R), s.C, values.data() + q * s.C);
              }
              have_values = true;
            }
            plane_upstream(g, values.data(), p, s.C, reduce, up.data());
            for (int k = 0; k < 4; ++k) {
              T* dst = grad_planes + fp.texel(k) * s.C;
              const T w = fp.weight(k);
              for (int64_t c = 0; c < s.C; ++c) dst[c] += w * up[c];
            }
          }
        }
      }
    });
  }
}

Shape shape_of(const at::Tensor& x, const at::Tensor& planes, int reduce) {
  const int64_t C = planes.size(4);
  return {x.size(0), planes.size(0), planes.size(2), C, reduce == kConcat ? 3 * C : C};
}

}  // namespace

void forward_cpu(const at::Tensor& x, const at::Tensor& planes, const at::Tensor& index, at::Tensor& out,
                 int reduce) {
  const Shape s = shape_of(x, planes, reduce);
  const int64_t* idx = index.defined() ? index.data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplane_forward_cpu", [&] {
    forward_impl<scalar_t>(x.data_ptr<scalar_t>(), planes.data_ptr<scalar_t>(), idx, out.data_ptr<scalar_t>(), s,
                           reduce);
  });
}

void backward_cpu(const at::Tensor& x, const at::Tensor& planes, const at::Tensor& index,
                  const at::Tensor& grad_out, at::Tensor& grad_x, at::Tensor& grad_planes, int reduce) {
  const Shape s = shape_of(x, planes, reduce);
  const int64_t* idx = index.defined() ? index.data_ptr<int64_t>() : nullptr;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "triplane_backward_cpu", [&] {
    if (grad_x.defined()) {
      grad_points_impl<scalar_t>(x.data_ptr<scalar_t>(), planes.data_ptr<scalar_t>(), idx,
                                 grad_out.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(), s, reduce);
    }
    if (grad_planes.defined()) {
      grad_planes_impl<scalar_t>(x.data_ptr<scalar_t>(), planes.data_ptr<scalar_t>(), idx,
                                 grad_out.data_ptr<scalar_t>(), grad_planes.data_ptr<scalar_t>(), s, reduce);
    }
  });
}

}  // namespace triplane
}  // namespace fields3d
