/* headrank: accumulators and measures beyond one stage's moments (hr-measures.c) */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The cross-moments of two stages over the same rows: the means of each and
 * C = Σ (x − m_x)(z − m_z)ᵀ, D_x × D_z float64, merged chunk by chunk (Chan et al.). */
typedef struct _HrCrossMoments HrCrossMoments;

guint64 hr_cross_moments_bytes (gsize dx, gsize dz);
HrCrossMoments *hr_cross_moments_new (gsize dx, gsize dz);
void hr_cross_moments_free (HrCrossMoments *cm);
void hr_cross_moments_add (HrCrossMoments *cm, const float *x, const float *z, gsize n_rows);
guint64 hr_cross_moments_get_n_samples (HrCrossMoments *cm);
double hr_cross_moments_linear_cka (HrCrossMoments *cm, const double *scatter_x,
                                    const double *scatter_z);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrCrossMoments, hr_cross_moments_free)

/* Rows L2-normalised as torch.nn.functional.normalize (dim 1, ε = 10⁻¹²), in float32. */
void hr_normalize_rows (const float *x, gsize n_rows, gsize d, float *out);

/* LiDAR of @n pairs of rows (q = 2 views per sample); NaN when n < 2. */
double hr_lidar_of_pairs (const float *a, const float *p, gsize n, gsize d, GError **error);

G_END_DECLS
