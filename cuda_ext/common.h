// Argument checks and compile-time dispatch shared by the fields3d kernels.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#define F3D_CHECK_CONTIGUOUS(t) TORCH_CHECK((t).is_contiguous(), "expected a contiguous tensor for " #t)

namespace fields3d {

template <int V>
using IntConst = std::integral_constant<int, V>;

// Calls fn(IntConst<D>{}, IntConst<F>{}) for the supported point dimensions and feature counts.
template <typename Fn>
void dispatch_dims_features(int64_t dims, int64_t features, Fn&& fn) {
  auto with_features = [&](auto d) {
    switch (features) {
      case 1: fn(d, IntConst<1>{}); break;
      case 2: fn(d, IntConst<2>{}); break;
      case 4: fn(d, IntConst<4>{}); break;
      case 8: fn(d, IntConst<8>{}); break;
      default: TORCH_CHECK(false, "expected 1, 2, 4 or 8 features per level, got ", features);
    }
  };
  switch (dims) {
    case 2: with_features(IntConst<2>{}); break;
    case 3: with_features(IntConst<3>{}); break;
    default: TORCH_CHECK(false, "expected 2 or 3 point dimensions, got ", dims);
  }
}

inline bool aligned_to(const at::Tensor& t, int64_t bytes) {
  return reinterpret_cast<std::uintptr_t>(t.data_ptr()) % bytes == 0;
}

// A contiguous tensor whose data is aligned for vector loads (a copy only for odd views).
inline at::Tensor contiguous_aligned(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  if (c.numel() > 0 && !aligned_to(c, 16)) c = c.clone();
  return c;
}

}  // namespace fields3d
