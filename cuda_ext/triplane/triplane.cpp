// Tri-plane op: argument checks, output allocation and dispatch to the CPU or CUDA kernels.
#include "triplane.h"

#include "../common.h"

namespace fields3d {
namespace triplane {
namespace {

at::Tensor checked_index(const at::Tensor& x, const at::Tensor& planes, const c10::optional<at::Tensor>& index) {
  if (!index.has_value() || !index->defined()) {
    TORCH_CHECK(planes.size(0) == 1, "expected an object index per point for ", planes.size(0), " objects");
    return at::Tensor();
  }
  const at::Tensor& i = *index;
  TORCH_CHECK(i.dim() == 1 && i.size(0) == x.size(0), "expected an object index of shape (", x.size(0),
              ",), got ", i.sizes());
  TORCH_CHECK(i.scalar_type() == at::kLong, "expected an int64 object index, got ", i.scalar_type());
  TORCH_CHECK(i.device() == x.device(), "expected the object index on ", x.device(), ", got ", i.device());
  return i.contiguous();
}

void check_points_planes(const at::Tensor& x, const at::Tensor& planes, int64_t reduce) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == 3, "expected points of shape (N, 3), got ", x.sizes());
  TORCH_CHECK(planes.dim() == 5 && planes.size(1) == 3 && planes.size(2) == planes.size(3) && planes.size(2) >= 2,
              "expected channel-last planes of shape (B, 3, R, R, C) with R >= 2, got ", planes.sizes());
  TORCH_CHECK(x.scalar_type() == planes.scalar_type(), "expected points and planes of one dtype, got ",
              x.scalar_type(), " and ", planes.scalar_type());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "expected float32 or float64 tensors, got ", x.scalar_type());
  TORCH_CHECK(x.device() == planes.device(), "expected points and planes on one device, got ", x.device(),
              " and ", planes.device());
  TORCH_CHECK(reduce == kSum || reduce == kProduct || reduce == kConcat,
              "expected reduce 0 (sum), 1 (product) or 2 (concat), got ", reduce);
}

int64_t out_channels(const at::Tensor& planes, int64_t reduce) {
  return reduce == kConcat ? 3 * planes.size(4) : planes.size(4);
}

}  // namespace

at::Tensor forward(const at::Tensor& x_in, const at::Tensor& planes_in, const c10::optional<at::Tensor>& index_in,
                   int64_t reduce) {
  check_points_planes(x_in, planes_in, reduce);
  const at::Tensor index = checked_index(x_in, planes_in, index_in);
  const at::Tensor x = contiguous_aligned(x_in);
  const at::Tensor planes = contiguous_aligned(planes_in);
  at::Tensor out = x.new_empty({x.size(0), out_channels(planes, reduce)});
  if (x.size(0) == 0) return out;
  if (x.is_cuda()) {
#ifdef FIELDS3D_WITH_CUDA
    forward_cuda(x, planes, index, out, static_cast<int>(reduce));
#else
    TORCH_CHECK(false, "this build of fields3d's kernels has no CUDA support");
#endif
  } else {
    forward_cpu(x, planes, index, out, static_cast<int>(reduce));
  }
  return out;
}

std::tuple<c10::optional<at::Tensor>, c10::optional<at::Tensor>> backward(
    const at::Tensor& x_in, const at::Tensor& planes_in, const c10::optional<at::Tensor>& index_in,
    const at::Tensor& grad_out_in, int64_t reduce, bool need_x, bool need_planes) {
  check_points_planes(x_in, planes_in, reduce);
  const at::Tensor index = checked_index(x_in, planes_in, index_in);
  TORCH_CHECK(grad_out_in.dim() == 2 && grad_out_in.size(0) == x_in.size(0) &&
                  grad_out_in.size(1) == out_channels(planes_in, reduce),
              "expected grad_out of shape (", x_in.size(0), ", ", out_channels(planes_in, reduce), "), got ",
              grad_out_in.sizes());
  TORCH_CHECK(grad_out_in.scalar_type() == x_in.scalar_type() && grad_out_in.device() == x_in.device(),
              "expected grad_out with the points' dtype and device");
  const at::Tensor x = contiguous_aligned(x_in);
  const at::Tensor planes = contiguous_aligned(planes_in);
  const at::Tensor grad_out = contiguous_aligned(grad_out_in);
  at::Tensor grad_x = need_x ? x.new_zeros(x.sizes()) : at::Tensor();
  at::Tensor grad_planes = need_planes ? planes.new_zeros(planes.sizes()) : at::Tensor();
  if (x.size(0) > 0 && (need_x || need_planes)) {
    if (x.is_cuda()) {
#ifdef FIELDS3D_WITH_CUDA
      backward_cuda(x, planes, index, grad_out, grad_x, grad_planes, static_cast<int>(reduce));
#else
      TORCH_CHECK(false, "this build of fields3d's kernels has no CUDA support");
#endif
    } else {
      backward_cpu(x, planes, index, grad_out, grad_x, grad_planes, static_cast<int>(reduce));
    }
  }
  c10::optional<at::Tensor> rx, rp;
  if (need_x) rx = grad_x;
  if (need_planes) rp = grad_planes;
  return {rx, rp};
}

}  // namespace triplane
}  // namespace fields3d
