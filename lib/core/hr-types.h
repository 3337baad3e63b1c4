/* headrank: enumerations shared by the public API */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * HrStackLayout:
 * @HR_STACK_LAYOUT_AUTO: decide from the file's metadata and shape; fails with
 *   %HR_STACK_ERROR_LAYOUT when that is ambiguous
 * @HR_STACK_LAYOUT_MATRIX: one 2-D page; rows are samples, columns are features (what
 *   `tifffile.imwrite (path, features)` writes for an (N, D) array)
 * @HR_STACK_LAYOUT_CHANNELS: a per-pixel feature stack: C feature planes of Y×X, stored as C
 *   pages or as C samples per pixel; every pixel (of every Z slice and T frame) is a sample
 *   and its C values are the features
 * @HR_STACK_LAYOUT_PAGES: N pages, each holding one sample's features (a 1×D row, or an h×w
 *   map flattened row by row)
 *
 * How a TIFF file holds an N×D feature matrix.
 */
typedef enum
{
  HR_STACK_LAYOUT_AUTO,
  HR_STACK_LAYOUT_MATRIX,
  HR_STACK_LAYOUT_CHANNELS,
  HR_STACK_LAYOUT_PAGES,
} HrStackLayout;

/**
 * HrSampleFormat:
 * @HR_SAMPLE_FORMAT_UINT8: unsigned 8-bit integers
 * @HR_SAMPLE_FORMAT_UINT16: unsigned 16-bit integers
 * @HR_SAMPLE_FORMAT_UINT32: unsigned 32-bit integers
 * @HR_SAMPLE_FORMAT_INT8: signed 8-bit integers
 * @HR_SAMPLE_FORMAT_INT16: signed 16-bit integers
 * @HR_SAMPLE_FORMAT_INT32: signed 32-bit integers
 * @HR_SAMPLE_FORMAT_FLOAT16: IEEE 754 half precision
 * @HR_SAMPLE_FORMAT_FLOAT32: IEEE 754 single precision
 * @HR_SAMPLE_FORMAT_FLOAT64: IEEE 754 double precision
 *
 * The element type a feature stack was stored with. headrank always computes in float32:
 * integers become their float32 values without scaling (rounded to nearest for values
 * above 2²⁴), float16 is widened exactly, float64 is rounded to nearest.
 */
typedef enum
{
  HR_SAMPLE_FORMAT_UINT8,
  HR_SAMPLE_FORMAT_UINT16,
  HR_SAMPLE_FORMAT_UINT32,
  HR_SAMPLE_FORMAT_INT8,
  HR_SAMPLE_FORMAT_INT16,
  HR_SAMPLE_FORMAT_INT32,
  HR_SAMPLE_FORMAT_FLOAT16,
  HR_SAMPLE_FORMAT_FLOAT32,
  HR_SAMPLE_FORMAT_FLOAT64,
} HrSampleFormat;

/**
 * HrProgressFunc:
 * @fraction: the fraction of the work done, from 0 to 1
 * @user_data: (closure): the data given with the function
 *
 * Called as long work progresses, in the thread that does the work: the one type of
 * progress callback of the library, taken by hr_analysis_run(), hr_head_project() and
 * hr_head_project_source() (always called synchronously: `(scope call)`). The
 * asynchronous analysis reports its progress through #HrAnalysis:progress instead,
 * notified in the caller's main context.
 *
 * Since 0.2 it also replaces `HrAnalysisProgressFunc`, which had the same signature.
 */
typedef void (*HrProgressFunc) (double fraction, gpointer user_data);

G_END_DECLS
