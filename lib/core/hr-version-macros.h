/* headrank: symbol visibility */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#if defined(_WIN32) && defined(HEADRANK_COMPILATION)
#define HR_AVAILABLE_IN_ALL __declspec(dllexport) extern
#elif defined(HEADRANK_COMPILATION) && defined(__GNUC__)
#define HR_AVAILABLE_IN_ALL __attribute__ ((visibility ("default"))) extern
#else
#define HR_AVAILABLE_IN_ALL extern
#endif
