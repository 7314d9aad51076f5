// Hash grid kernels for CPU tensors (at::parallel_for, OpenMP).
//
// forward: parallel over points; each point writes its own output row.
// backward / double backward: the levels are split into one contiguous range per thread; a level's
// table rows are disjoint from every other level's, so table gradients need no atomics.  Each
// thread sums its levels' input gradients into its own (N, D) slice, added up at the end.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>

#include "../common.h"
#include "hashgrid.h"

namespace fields3d {
namespace hashgrid {
namespace {

// Rows and weights of the 2^D corners of a point in one level.
template <typename T, int D>
struct Corners {
  int64_t row[1 << D];  // first element of the corner's features in the table
  T weight[1 << D];
};

// All corners of levels [l_begin, l_end) of a point, with a prefetch of each corner's features in
// the tables read and written (either may be null):
// random table reads are latency-bound on CPUs, and issuing the whole point's reads before using any
// of them lets them overlap.
template <typename T, int D, int F>
void gather_corners(const T (&xc)[D], const T* read, T* write, const Levels& lv, int l_begin, int l_end,
                    Corners<T, D>* corners) {
  for (int l = l_begin; l < l_end; ++l) {
    const Level& level = lv.level[l];
    const Cell<T, D> cell(xc, level.scale);
    Corners<T, D>& k = corners[l - l_begin];
    for (int c = 0; c < (1 << D); ++c) {
      uint32_t corner[D];
      k.weight[c] = cell.corner(c, corner);
      k.row[c] = static_cast<int64_t>(level.offset + level_row<D>(corner, level)) * F;
      if (read) __builtin_prefetch(read + k.row[c], 0);
      if (write) __builtin_prefetch(write + k.row[c], 1);
    }
  }
}

template <typename T, int D, int F>
void forward_impl(const T* x, const T* table, T* out, int64_t N, const Levels lv) {
  const int L = lv.n_levels;
  at::parallel_for(0, N, 256, [&](int64_t begin, int64_t end) {
    Corners<T, D> corners[kMaxLevels];
    for (int64_t n = begin; n < end; ++n) {
      T* o = out + n * L * F;
      T xc[D];
      bool inside[D];
      if (!clamp_point<T, D>(x + n * D, xc, inside)) {
        std::fill(o, o + L * F, std::numeric_limits<T>::quiet_NaN());
        continue;
      }
      gather_corners<T, D, F>(xc, table, nullptr, lv, 0, lv.n_active, corners);
      for (int l = 0; l < lv.n_active; ++l) {
        const Corners<T, D>& k = corners[l];
        T acc[F] = {};
        for (int c = 0; c < (1 << D); ++c) {
          const T* e = table + k.row[c];
          for (int f = 0; f < F; ++f) acc[f] += k.weight[c] * e[f];
        }
        for (int f = 0; f < F; ++f) o[l * F + f] = acc[f];
      }
      std::fill(o + lv.n_active * F, o + L * F, T(0));
    }
  });
}

// Contiguous level ranges, one per task (task count <= threads, <= active levels).
struct LevelSplit {
  int n_tasks;
  int n_active;
  int begin(int task) const { return task * n_active / n_tasks; }
  int end(int task) const { return (task + 1) * n_active / n_tasks; }
};

LevelSplit split_levels(int n_active) {
  const int threads = std::max(1, at::get_num_threads());
  return {std::max(1, std::min(threads, n_active)), n_active};
}

template <typename T, int D, int F>
void backward_impl(const T* x, const T* table, const T* grad_out, T* grad_x_parts, T* grad_table, int64_t N,
                   const Levels lv, const LevelSplit split) {
  const int L = lv.n_levels;
  at::parallel_for(0, split.n_tasks, 1, [&](int64_t task_begin, int64_t task_end) {
    Corners<T, D> corners[kMaxLevels];
    for (int64_t task = task_begin; task < task_end; ++task) {
      const int l_begin = split.begin(static_cast<int>(task)), l_end = split.end(static_cast<int>(task));
      T* gx = grad_x_parts ? grad_x_parts + task * N * D : nullptr;
      for (int64_t n = 0; n < N; ++n) {
        T xc[D];
        bool inside[D];
        if (!clamp_point<T, D>(x + n * D, xc, inside)) continue;
        gather_corners<T, D, F>(xc, gx ? table : nullptr, grad_table, lv, l_begin, l_end, corners);
        T dx[D] = {};
        for (int l = l_begin; l < l_end; ++l) {
          const Level& level = lv.level[l];
          const Corners<T, D>& k = corners[l - l_begin];
          const T* g = grad_out + (n * L + l) * F;
          if (grad_table) {
            for (int c = 0; c < (1 << D); ++c) {
              for (int f = 0; f < F; ++f) grad_table[k.row[c] + f] += k.weight[c] * g[f];
            }
          }
          if (gx) {
            const Cell<T, D> cell(xc, level.scale);
            T dx_level[D] = {};
            for (int c = 0; c < (1 << D); ++c) {
              T dot = T(0);
              for (int f = 0; f < F; ++f) dot += g[f] * table[k.row[c] + f];
              for (int d = 0; d < D; ++d) dx_level[d] += cell.weight_derivative(c, d) * dot;
            }
            for (int d = 0; d < D; ++d) dx[d] += dx_level[d] * static_cast<T>(level.scale);
          }
        }
        if (gx) {
          for (int d = 0; d < D; ++d) gx[n * D + d] = inside[d] ? dx[d] : T(0);
        }
      }
    }
  });
}

template <typename T, int D, int F>
void double_backward_impl(const T* x, const T* table, const T* grad_out, const T* gg_x, T* grad_x_parts,
                          T* grad_table, T* grad_grad_out, int64_t N, const Levels lv, const LevelSplit split) {
  const int L = lv.n_levels;
  at::parallel_for(0, split.n_tasks, 1, [&](int64_t task_begin, int64_t task_end) {
    Corners<T, D> corners[kMaxLevels];
    for (int64_t task = task_begin; task < task_end; ++task) {
      const int l_begin = split.begin(static_cast<int>(task)), l_end = split.end(static_cast<int>(task));
      T* gx = grad_x_parts ? grad_x_parts + task * N * D : nullptr;
      for (int64_t n = 0; n < N; ++n) {
        T xc[D];
        bool inside[D];
        if (!clamp_point<T, D>(x + n * D, xc, inside)) continue;
        T v[D];  // gradient w.r.t. dL/dx, through the clamp's mask
        for (int d = 0; d < D; ++d) v[d] = inside[d] ? gg_x[n * D + d] : T(0);
        gather_corners<T, D, F>(xc, (gx || grad_grad_out) ? table : nullptr, grad_table, lv, l_begin, l_end,
                                corners);
        T acc_x[D] = {};
        for (int l = l_begin; l < l_end; ++l) {
          const Level& level = lv.level[l];
          const Corners<T, D>& k = corners[l - l_begin];
          const T s = static_cast<T>(level.scale);
          const T* g = grad_out + (n * L + l) * F;
          const Cell<T, D> cell(xc, level.scale);
          T acc_g[F] = {};
          T acc_x_level[D] = {};
          for (int c = 0; c < (1 << D); ++c) {
            const int64_t row = k.row[c];
            T a = T(0);  // sum_d v_d dw_c/dt_d
            for (int d = 0; d < D; ++d) a += v[d] * cell.weight_derivative(c, d);
            if (grad_grad_out) {
              for (int f = 0; f < F; ++f) acc_g[f] += a * table[row + f];
            }
            if (grad_table) {
              for (int f = 0; f < F; ++f) grad_table[row + f] += s * a * g[f];
            }
            if (gx) {
              T dot = T(0);
              for (int f = 0; f < F; ++f) dot += g[f] * table[row + f];
              for (int e = 0; e < D; ++e) {
                T b = T(0);
                for (int d = 0; d < D; ++d) {
                  if (d != e) b += v[d] * cell.weight_second_derivative(c, d, e);
                }
                acc_x_level[e] += b * dot;
              }
            }
          }
          if (grad_grad_out) {
            T* o = grad_grad_out + (n * L + l) * F;
            for (int f = 0; f < F; ++f) o[f] = s * acc_g[f];
          }
          for (int e = 0; e < D; ++e) acc_x[e] += s * s * acc_x_level[e];
        }
        if (gx) {
          for (int e = 0; e < D; ++e) gx[n * D + e] = inside[e] ? acc_x[e] : T(0);
        }
      }
    }
  });
}

template <typename T>
T* ptr_or_null(at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

void forward_cpu(const at::Tensor& x, const at::Tensor& table, at::Tensor& out, const Levels& lv) {
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_forward_cpu", [&] {
    dispatch_dims_features(x.size(1), table.size(1), [&](auto d, auto f) {
      forward_impl<scalar_t, decltype(d)::value, decltype(f)::value>(
          x.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), x.size(0), lv);
    });
  });
}

void backward_cpu(const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out, at::Tensor& grad_x,
                  at::Tensor& grad_table, const Levels& lv) {
  if (lv.n_active == 0) return;
  const LevelSplit split = split_levels(lv.n_active);
  at::Tensor parts = grad_x.defined() ? x.new_zeros({split.n_tasks, x.size(0), x.size(1)}) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_backward_cpu", [&] {
    dispatch_dims_features(x.size(1), table.size(1), [&](auto d, auto f) {
      backward_impl<scalar_t, decltype(d)::value, decltype(f)::value>(
          x.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
          ptr_or_null<scalar_t>(parts), ptr_or_null<scalar_t>(grad_table), x.size(0), lv, split);
    });
  });
  if (grad_x.defined()) grad_x.copy_(parts.sum(0));
}

void double_backward_cpu(const at::Tensor& x, const at::Tensor& table, const at::Tensor& grad_out,
                         const at::Tensor& gg_x, at::Tensor& grad_x, at::Tensor& grad_table,
                         at::Tensor& grad_grad_out, const Levels& lv) {
  if (lv.n_active == 0) return;
  const LevelSplit split = split_levels(lv.n_active);
  at::Tensor parts = grad_x.defined() ? x.new_zeros({split.n_tasks, x.size(0), x.size(1)}) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "hashgrid_double_backward_cpu", [&] {
    dispatch_dims_features(x.size(1), table.size(1), [&](auto d, auto f) {
      double_backward_impl<scalar_t, decltype(d)::value, decltype(f)::value>(
          x.data_ptr<scalar_t>(), table.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
          gg_x.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(parts), ptr_or_null<scalar_t>(grad_table),
          ptr_or_null<scalar_t>(grad_grad_out), x.size(0), lv, split);
    });
  });
  if (grad_x.defined()) grad_x.copy_(parts.sum(0));
}

}  // namespace hashgrid
}  // namespace fields3d
