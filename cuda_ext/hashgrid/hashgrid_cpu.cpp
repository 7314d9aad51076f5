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

// One (point, level) pair, prepared ahead of its use: the cell, the corners' table offsets (of the
// first feature) and weights, and the point's clamp mask.
template <typename T, int D>
struct Item {
  Cell<T, D> cell;
  int64_t row[1 << D];
  T weight[1 << D];
  bool inside[D];
  bool valid;  // false for a point with a NaN coordinate
};

// Visits the (point, level) pairs n in [n_begin, n_end), l in [l_begin, l_end) in that order.  Random
// table reads are latency-bound on CPUs: each pair's corners are computed, and their rows in the
// tables read and written (either may be null) prefetched, kDepth pairs before the pair is visited,
// so that many reads are in flight at once.
template <typename T, int D, int F, typename Visit>
void for_each_item(const T* x, const Levels& lv, int64_t n_begin, int64_t n_end, int l_begin, int l_end,
                   const T* read, T* write, Visit&& visit) {
  constexpr int kDepth = 8;
  const int n_levels = l_end - l_begin;
  if (n_levels <= 0 || n_end <= n_begin) return;
  const int64_t total = (n_end - n_begin) * n_levels;
  Item<T, D> ring[kDepth];
  for (int64_t i = 0; i < total + kDepth - 1; ++i) {
    if (i < total) {
      Item<T, D>& item = ring[i % kDepth];
      const int64_t n = n_begin + i / n_levels;
      const Level& level = lv.level[l_begin + static_cast<int>(i % n_levels)];
      T xc[D];
      item.valid = clamp_point<T, D>(x + n * D, xc, item.inside);
      if (item.valid) {
        item.cell = Cell<T, D>(xc, level.scale);
        for (int c = 0; c < (1 << D); ++c) {
          uint32_t corner[D];
          item.weight[c] = item.cell.corner(c, corner);
          item.row[c] = static_cast<int64_t>(level.offset + level_row<D>(corner, level)) * F;
          if (read) __builtin_prefetch(read + item.row[c], 0);
          if (write) __builtin_prefetch(write + item.row[c], 1);
        }
      }
    }
    const int64_t j = i - (kDepth - 1);
    if (j >= 0) visit(n_begin + j / n_levels, l_begin + static_cast<int>(j % n_levels), ring[j % kDepth]);
  }
}

template <typename T, int D, int F>
void forward_impl(const T* x, const T* table, T* out, int64_t N, const Levels lv) {
  const int L = lv.n_levels;
  at::parallel_for(0, N, 256, [&](int64_t begin, int64_t end) {
    for_each_item<T, D, F>(x, lv, begin, end, 0, lv.n_active, table, nullptr,
                           [&](int64_t n, int l, const Item<T, D>& item) {
                             T* o = out + (n * L + l) * F;
                             if (!item.valid) {
                               std::fill(o, o + F, std::numeric_limits<T>::quiet_NaN());
                               return;
                             }
                             T acc[F] = {};
                             for (int c = 0; c < (1 << D); ++c) {
                               const T* e = table + item.row[c];
                               for (int f = 0; f < F; ++f) acc[f] += item.weight[c] * e[f];
                             }
                             for (int f = 0; f < F; ++f) o[f] = acc[f];
                           });
    if (lv.n_active < L) {  // disabled levels: zeros (NaN for NaN points)
      for (int64_t n = begin; n < end; ++n) {
        T xc[D];
        bool inside[D];
        const T fill = clamp_point<T, D>(x + n * D, xc, inside) ? T(0) : std::numeric_limits<T>::quiet_NaN();
        std::fill(out + (n * L + lv.n_active) * F, out + (n + 1) * L * F, fill);
      }
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

// Small problems run on one thread: waking a team costs more than the work (and much more on a
// loaded machine).
LevelSplit split_levels(int n_active, int64_t N) {
  const int threads = N * n_active < (int64_t(1) << 14) ? 1 : std::max(1, at::get_num_threads());
  return {std::max(1, std::min(threads, n_active)), n_active};
}

template <typename T, int D, int F>
void backward_impl(const T* x, const T* table, const T* grad_out, T* grad_x_parts, T* grad_table, int64_t N,
                   const Levels lv, const LevelSplit split) {
  const int L = lv.n_levels;
  at::parallel_for(0, split.n_tasks, 1, [&](int64_t task_begin, int64_t task_end) {
    for (int64_t task = task_begin; task < task_end; ++task) {
      T* gx = grad_x_parts ? grad_x_parts + task * N * D : nullptr;  // this task's (N, D) slice
      for_each_item<T, D, F>(
          x, lv, 0, N, split.begin(static_cast<int>(task)), split.end(static_cast<int>(task)),
          gx ? table : nullptr, grad_table, [&](int64_t n, int l, const Item<T, D>& item) {
            if (!item.valid) return;
            const T* g = grad_out + (n * L + l) * F;
            if (grad_table) {
              for (int c = 0; c < (1 << D); ++c) {
                for (int f = 0; f < F; ++f) grad_table[item.row[c] + f] += item.weight[c] * g[f];
              }
            }
            if (gx) {
              T dx[D] = {};
              for (int c = 0; c < (1 << D); ++c) {
                T dot = T(0);
                for (int f = 0; f < F; ++f) dot += g[f] * table[item.row[c] + f];
                for (int d = 0; d < D; ++d) dx[d] += item.cell.weight_derivative(c, d) * dot;
              }
              const T s = static_cast<T>(lv.level[l].scale);
              for (int d = 0; d < D; ++d) {
                if (item.inside[d]) gx[n * D + d] += dx[d] * s;
              }
            }
          });
    }
  });
}

template <typename T, int D, int F>
void double_backward_impl(const T* x, const T* table, const T* grad_out, const T* gg_x, T* grad_x_parts,
                          T* grad_table, T* grad_grad_out, int64_t N, const Levels lv, const LevelSplit split) {
  const int L = lv.n_levels;
  at::parallel_for(0, split.n_tasks, 1, [&](int64_t task_begin, int64_t task_end) {
    for (int64_t task = task_begin; task < task_end; ++task) {
      T* gx = grad_x_parts ? grad_x_parts + task * N * D : nullptr;
      for_each_item<T, D, F>(
          x, lv, 0, N, split.begin(static_cast<int>(task)), split.end(static_cast<int>(task)),
          (gx || grad_grad_out) ? table : nullptr, grad_table, [&](int64_t n, int l, const Item<T, D>& item) {
            if (!item.valid) return;
            const T s = static_cast<T>(lv.level[l].scale);
            const T* g = grad_out + (n * L + l) * F;
            T v[D];  // gradient w.r.t. dL/dx, through the clamp's mask
            for (int d = 0; d < D; ++d) v[d] = item.inside[d] ? gg_x[n * D + d] : T(0);
            T acc_g[F] = {};
            T acc_x[D] = {};
            for (int c = 0; c < (1 << D); ++c) {
              const int64_t row = item.row[c];
              T a = T(0);  // sum_d v_d dw_c/dt_d
              for (int d = 0; d < D; ++d) a += v[d] * item.cell.weight_derivative(c, d);
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
                    if (d != e) b += v[d] * item.cell.weight_second_derivative(c, d, e);
                  }
                  acc_x[e] += b * dot;
                }
              }
            }
            if (grad_grad_out) {
              T* o = grad_grad_out + (n * L + l) * F;
              for (int f = 0; f < F; ++f) o[f] = s * acc_g[f];
            }
            if (gx) {
              for (int e = 0; e < D; ++e) {
                if (item.inside[e]) gx[n * D + e] += s * s * acc_x[e];
              }
            }
          });
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
  const LevelSplit split = split_levels(lv.n_active, x.size(0));
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
  const LevelSplit split = split_levels(lv.n_active, x.size(0));
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
