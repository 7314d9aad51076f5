// Macros for code shared by host (C++) and device (CUDA) compilers.
#pragma once

#if defined(__CUDACC__)
#define F3D_HD __host__ __device__ __forceinline__
#define F3D_UNROLL _Pragma("unroll")
#else
#define F3D_HD inline
#define F3D_UNROLL
#endif
