/* What every fragrisk CUDA source shares. The sources are kept in a C subset that gcc also
 * compiles, so CPU-only CI runs the GPU's arithmetic (tests/c/). */
#ifndef FRAGRISK_COMMON_CUH
#define FRAGRISK_COMMON_CUH

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FR_DEVICE __device__ __forceinline__
#define FR_NAN __longlong_as_double(0x7ff8000000000000LL)
#else
#include <math.h>
#define FR_DEVICE static inline
#define FR_NAN NAN
#endif

#endif /* FRAGRISK_COMMON_CUH */
