// Hash grid op: argument checks, output allocation and dispatch to the CPU or CUDA kernels.
#include "hashgrid.h"

#include "../common.h"

namespace fields3d {
namespace hashgrid {

Levels make_levels(const std::vector<int64_t>& offsets, const std::vector<int64_t>& sizes,
                   const std::vector<int64_t>& resolutions, const std::vector<double>& scales,
                   const std::vector<bool>& dense, int64_t n_active) {
  const int64_t L = static_cast<int64_t>(offsets.size());
  TORCH_CHECK(L >= 1 && L <= kMaxLevels, "expected 1..", kMaxLevels, " levels, got ", L);
  TORCH_CHECK(static_cast<int64_t>(sizes.size()) == L && static_cast<int64_t>(resolutions.size()) == L &&
                  static_cast<int64_t>(scales.size()) == L && static_cast<int64_t>(dense.size()) == L,
              "expected one offset, size, resolution, scale and dense flag per level");
  TORCH_CHECK(n_active >= 0 && n_active <= L, "expected n_active in 0..", L, ", got ", n_active);
  Levels lv{};
  lv.n_levels = static_cast<int>(L);
  lv.n_active = static_cast<int>(n_active);
  for (int64_t l = 0; l < L; ++l) {
    const int64_t size = sizes[l];
    TORCH_CHECK(size > 0 && offsets[l] >= 0 && offsets[l] + size < (int64_t(1) << 31),
                "expected level rows inside [0, 2^31), got offset ", offsets[l], " size ", size);
    TORCH_CHECK(dense[l] || (size & (size - 1)) == 0, "expected a power-of-two size for hashed level ", l,
                ", got ", size);
    Level& v = lv.level[l];
    v.offset = static_cast<uint32_t>(offsets[l]);
    v.size = static_cast<uint32_t>(size);
    v.resolution = static_cast<uint32_t>(resolutions[l]);
    v.hash_mask = dense[l] ? 0u : static_cast<uint32_t>(size - 1);
    v.scale = static_cast<float>(scales[l]);
  }
  return lv;
}

namespace {

void check_points_table(const at::Tensor& x, const at::Tensor& table, const Levels& lv) {
  TORCH_CHECK(x.dim() == 2, "expected points of shape (N, D), got ", x.sizes());
  TORCH_CHECK(table.dim() == 2, "expected a table of shape (rows, F), got ", table.sizes());
  TORCH_CHECK(x.scalar_type() == table.scalar_type(), "expected points and table of one dtype, got ",
              x.scalar_type(), " and ", table.scalar_type());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "expected float32 or float64 tensors, got ", x.scalar_type());
  TORCH_CHECK(x.device() == table.device(), "expected points and table on one device, got ", x.device(),
              " and ", table.device());
  const Level& last = lv.level[lv.n_levels - 1];
  TORCH_CHECK(table.size(0) >= static_cast<int64_t>(last.offset) + last.size, "expected at least ",
              static_cast<int64_t>(last.offset) + last.size, " table rows, got ", table.size(0));
}

void check_like(const at::Tensor& t, const at::Tensor& x, int64_t cols, const char* what) {
  TORCH_CHECK(t.dim() == 2 && t.size(0) == x.size(0) && t.size(1) == cols, "expected ", what, " of shape (",
              x.size(0), ", ", cols, "), got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == x.scalar_type() && t.device() == x.device(), "expected ", what,
              " with the points' dtype and device");
}

}  // namespace

at::Tensor forward(const at::Tensor& x_in, const at::Tensor& table_in, const std::vector<int64_t>& offsets,
                   const std::vector<int64_t>& sizes, const std::vector<int64_t>& resolutions,
                   const std::vector<double>& scales, const std::vector<bool>& dense, int64_t n_active) {
  const Levels lv = make_levels(offsets, sizes, resolutions, scales, dense, n_active);
  check_points_table(x_in, table_in, lv);
  const at::Tensor x = contiguous_aligned(x_in);
  const at::Tensor table = contiguous_aligned(table_in);
  at::Tensor out = x.new_empty({x.size(0), lv.n_levels * table.size(1)});
  if (x.size(0) == 0) return out;
  if (x.is_cuda()) {
#ifdef FIELDS3D_WITH_CUDA
    forward_cuda(x, table, out, lv);
#else
    TORCH_CHECK(false, "this build of fields3d's kernels has no CUDA support");
#endif
  } else {
    forward_cpu(x, table, out, lv);
  }
  return out;
}

std::tuple<c10::optional<at::Tensor>, c10::optional<at::Tensor>> backward(
    const at::Tensor& x_in, const at::Tensor& table_in, const at::Tensor& grad_out_in,
    const std::vector<int64_t>& offsets, const std::vector<int64_t>& sizes,
    const std::vector<int64_t>& resolutions, const std::vector<double>& scales,
    const std::vector<bool>& dense, int64_t n_active, bool need_x, bool need_table) {
  const Levels lv = make_levels(offsets, sizes, resolutions, scales, dense, n_active);
  check_points_table(x_in, table_in, lv);
  check_like(grad_out_in, x_in, lv.n_levels * table_in.size(1), "grad_out");
  const at::Tensor x = contiguous_aligned(x_in);
  const at::Tensor table = contiguous_aligned(table_in);
  const at::Tensor grad_out = contiguous_aligned(grad_out_in);
  at::Tensor grad_x = need_x ? x.new_zeros(x.sizes()) : at::Tensor();
  at::Tensor grad_table = need_table ? table.new_zeros(table.sizes()) : at::Tensor();
  if (x.size(0) > 0 && (need_x || need_table)) {
    if (x.is_cuda()) {
#ifdef FIELDS3D_WITH_CUDA
      backward_cuda(x, table, grad_out, grad_x, grad_table, lv);
#else
      TORCH_CHECK(false, "this build of fields3d's kernels has no CUDA support");
#endif
    } else {
      backward_cpu(x, table, grad_out, grad_x, grad_table, lv);
    }
  }
  c10::optional<at::Tensor> rx, rt;
  if (need_x) rx = grad_x;
  if (need_table) rt = grad_table;
  return {rx, rt};
}

std::tuple<c10::optional<at::Tensor>, c10::optional<at::Tensor>, c10::optional<at::Tensor>> double_backward(
    const at::Tensor& x_in, const at::Tensor& table_in, const at::Tensor& grad_out_in, const at::Tensor& gg_x_in,
    const std::vector<int64_t>& offsets, const std::vector<int64_t>& sizes,
    const std::vector<int64_t>& resolutions, const std::vector<double>& scales,
    const std::vector<bool>& dense, int64_t n_active, bool need_x, bool need_table, bool need_grad_out) {
  const Levels lv = make_levels(offsets, sizes, resolutions, scales, dense, n_active);
  check_points_table(x_in, table_in, lv);
  check_like(grad_out_in, x_in, lv.n_levels * table_in.size(1), "grad_out");
  check_like(gg_x_in, x_in, x_in.size(1), "the gradient of dL/dx");
  const at::Tensor x = contiguous_aligned(x_in);
  const at::Tensor table = contiguous_aligned(table_in);
  const at::Tensor grad_out = contiguous_aligned(grad_out_in);
  const at::Tensor gg_x = contiguous_aligned(gg_x_in);
  at::Tensor grad_x = need_x ? x.new_zeros(x.sizes()) : at::Tensor();
  at::Tensor grad_table = need_table ? table.new_zeros(table.sizes()) : at::Tensor();
  at::Tensor grad_grad_out = need_grad_out ? grad_out.new_zeros(grad_out.sizes()) : at::Tensor();
  if (x.size(0) > 0 && (need_x || need_table || need_grad_out)) {
    if (x.is_cuda()) {
#ifdef FIELDS3D_WITH_CUDA
      double_backward_cuda(x, table, grad_out, gg_x, grad_x, grad_table, grad_grad_out, lv);
#else
      TORCH_CHECK(false, "this build of fields3d's kernels has no CUDA support");
#endif
    } else {
      double_backward_cpu(x, table, grad_out, gg_x, grad_x, grad_table, grad_grad_out, lv);
    }
  }
  c10::optional<at::Tensor> rx, rt, rg;
  if (need_x) rx = grad_x;
  if (need_table) rt = grad_table;
  if (need_grad_out) rg = grad_grad_out;
  return {rx, rt, rg};
}

}  // namespace hashgrid
}  // namespace fields3d
