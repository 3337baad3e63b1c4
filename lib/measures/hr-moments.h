/* headrank: one-pass, bounded-memory moments of a stream of samples */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib-object.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HrPrecision:
 * @HR_PRECISION_AUTO: %HR_PRECISION_FLOAT32_PRODUCTS only where
 *   hr_moments_float32_is_safe() says so, else %HR_PRECISION_FLOAT64; since 0.2 always
 *   float64 (float32 products cannot resolve what the rank tolerance needs)
 * @HR_PRECISION_FLOAT64: rows converted to float64, centred on their chunk's mean and
 *   multiplied in float64 (`dsyrk`)
 * @HR_PRECISION_FLOAT32_PRODUCTS: rows centred and rounded to float32, multiplied in
 *   float32 (`ssyrk`) in blocks of at most %HR_MOMENTS_F32_BLOCK rows, each block's product
 *   added into the float64 scatter matrix; its error bound raises the rank tolerance
 *   (hr_spectrum_is_tolerance_raised())
 *
 * How #HrMoments forms the products of the scatter matrix. Means, merges and all other
 * sums are float64 in every precision.
 */
typedef enum
{
  HR_PRECISION_AUTO,
  HR_PRECISION_FLOAT64,
  HR_PRECISION_FLOAT32_PRODUCTS,
} HrPrecision;

/**
 * HR_MOMENTS_F32_BLOCK:
 *
 * The largest number of rows whose float32 products %HR_PRECISION_FLOAT32_PRODUCTS sums
 * in float32 before adding them into the float64 scatter matrix: the b of its rounding
 * error bound (see #HrMoments).
 */
#define HR_MOMENTS_F32_BLOCK 64

/**
 * HR_MOMENTS_CHUNK_ROWS:
 *
 * The largest number of rows #HrMoments centres on one chunk mean and merges at once;
 * longer additions are split. It bounds the scratch memory of %HR_PRECISION_FLOAT64
 * (this many rows of float64) and is the b of that precision's error bound.
 */
#define HR_MOMENTS_CHUNK_ROWS 2048

#define HR_TYPE_MOMENTS (hr_moments_get_type ())

HR_AVAILABLE_IN_0_1
G_DECLARE_FINAL_TYPE (HrMoments, hr_moments, HR, MOMENTS, GObject)

HR_AVAILABLE_IN_0_1
HrMoments *hr_moments_new (gsize dimension, guint64 expected_samples, HrPrecision precision);

HR_AVAILABLE_IN_0_1
HrMoments *hr_moments_new_diagonal (gsize dimension);
HR_AVAILABLE_IN_0_1
gboolean hr_moments_float32_is_safe (guint64 n_samples, gsize dimension);

HR_AVAILABLE_IN_0_1
void hr_moments_add (HrMoments *self, const float *rows, gsize n_rows, float *per_sample);
HR_AVAILABLE_IN_0_1
gboolean hr_moments_add_bytes (HrMoments *self, GBytes *rows, GBytes **per_sample, GError **error);

HR_AVAILABLE_IN_0_1
gsize hr_moments_get_dimension (HrMoments *self);
HR_AVAILABLE_IN_0_1
guint64 hr_moments_get_n_samples (HrMoments *self);
HR_AVAILABLE_IN_0_1
guint64 hr_moments_get_n_dropped (HrMoments *self);
HR_AVAILABLE_IN_0_1
guint64 hr_moments_get_n_nonfinite (HrMoments *self);
HR_AVAILABLE_IN_0_1
HrPrecision hr_moments_get_precision (HrMoments *self);
HR_AVAILABLE_IN_0_1
double hr_moments_get_error_bound (HrMoments *self);

HR_AVAILABLE_IN_0_1
const double *hr_moments_peek_mean (HrMoments *self);
HR_AVAILABLE_IN_0_1
const double *hr_moments_peek_scatter (HrMoments *self);
HR_AVAILABLE_IN_0_1
GBytes *hr_moments_get_mean (HrMoments *self);
HR_AVAILABLE_IN_0_1
GBytes *hr_moments_get_scatter (HrMoments *self);
HR_AVAILABLE_IN_0_1
GBytes *hr_moments_get_gram (HrMoments *self);
HR_AVAILABLE_IN_0_1
GBytes *hr_moments_get_std (HrMoments *self);
HR_AVAILABLE_IN_0_1
GBytes *hr_moments_get_zero_fraction (HrMoments *self);
HR_AVAILABLE_IN_0_1
guint hr_moments_get_n_dead (HrMoments *self);
HR_AVAILABLE_IN_0_1
double hr_moments_get_simsiam_std (HrMoments *self);
HR_AVAILABLE_IN_0_2
double hr_moments_get_lightly_std (HrMoments *self);

G_END_DECLS
