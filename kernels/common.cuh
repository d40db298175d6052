/* What every fragrisk CUDA source shares. The sources are kept in a C subset that gcc also
 * compiles, so CPU-only CI runs the GPU's arithmetic (tests/c/). */
#ifndef FRAGRISK_COMMON_CUH
#define FRAGRISK_COMMON_CUH

#ifndef FRAGRISK_CONSTANTS
#error "compile through kernels/build.py, which prepends the constants shared with Python (gcc: -include the text of build.constants_header())"
#endif

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FR_DEVICE __device__ __forceinline__
#define FR_NAN __longlong_as_double(0x7ff8000000000000LL)
/* One argument reduction for both (CUDA's sincos gives what sin and cos give). */
#define FR_SINCOS(x, s, c) sincos((x), (s), (c))
/* The slot counter of a record buffer: old value, then +1, atomically across threads. */
#define FR_NEXT_SLOT(counter) atomicAdd((counter), 1ULL)
#else
#include <math.h>
#define FR_DEVICE static inline
#define FR_NAN NAN
#define FR_SINCOS(x, s, c) (*(s) = sin(x), *(c) = cos(x))
/* One thread on the CPU (tests/c): a plain increment. */
#define FR_NEXT_SLOT(counter) ((*(counter))++)
#endif

#endif /* FRAGRISK_COMMON_CUH */
