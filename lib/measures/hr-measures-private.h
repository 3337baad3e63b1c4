/* headrank: internal declarations of the measures layer (lib/measures/): accumulators and
 * measures beyond one stage's moments (hr-measures.c), and what the moments and spectra
 * offer the analysis (hr-moments.c, hr-spectrum.c) */
#pragma once

#include "hr-contrastive.h"
#include "hr-moments.h"
#include "hr-spectrum.h"
#include "hr-part-format.h"
#include "hr-pool.h"

#include <glib.h>

G_BEGIN_DECLS

/* The cross-moments of two stages over the same rows: the means of each and
 * C = Σ (x − m_x)(z − m_z)ᵀ, D_x × D_z float64, merged chunk by chunk (Chan et al.). */
typedef struct _HrCrossMoments HrCrossMoments;

guint64 hr_cross_moments_bytes (gsize dx, gsize dz);
HrCrossMoments *hr_cross_moments_new (gsize dx, gsize dz);
void hr_cross_moments_free (HrCrossMoments *cm);
void hr_cross_moments_add (HrCrossMoments *cm, const float *x, const float *z, gsize n_rows);
void hr_cross_moments_add_centred (HrCrossMoments *cm, const double *yx, const double *cx,
                                   const double *yz, const double *cz, gsize n_rows);
void hr_cross_moments_set_affine (HrCrossMoments *cm, guint64 n, const double *mx,
                                  const double *cxt, const double *mt, gsize dt, const double *a,
                                  const double *c);
guint64 hr_cross_moments_get_n_samples (HrCrossMoments *cm);
double hr_cross_moments_linear_cka (HrCrossMoments *cm, double norm_x, double norm_z);
double hr_scatter_frobenius (const double *scatter, gsize d);
double hr_rows_scatter_frobenius (const float *rows, gsize n, gsize d, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrCrossMoments, hr_cross_moments_free)

/* Rows L2-normalised as torch.nn.functional.normalize (dim 1, ε = 10⁻¹²), in float32. */
void hr_normalize_rows (const float *x, gsize n_rows, gsize d, float *out);
void hr_normalize_rows_pool (HrPool *pool, const float *x, gsize n_rows, gsize d, float *out);

/* LiDAR of @n pairs of rows (q = 2 views per sample); NaN when n < 2. */
double hr_lidar_of_pairs (const float *a, const float *p, gsize n, gsize d, GError **error);

/* The sums LiDAR is computed from, which merge (doc/partial.md): over n pairs, the mean m of
 * the midpoints y = (a + p)/2, their centred scatter S_b = Σ (y − m)(y − m)ᵀ and
 * S_w = Σ (a − p)(a − p)ᵀ, d × d float64 (full, symmetric). */
typedef struct
{
  gsize d;
  guint64 n;
  double *mean, *sb, *sw;
} HrLidarSums;

HrLidarSums *hr_lidar_sums_new (gsize d);
void hr_lidar_sums_free (HrLidarSums *s);
/* The sums of @n pairs of rows, into the empty @s; FALSE with @error when out of memory. */
gboolean hr_lidar_sums_set (HrLidarSums *s, const float *a, const float *p, gsize n,
                            GError **error);
/* Merges @b into @a (Chan et al. for S_b). */
void hr_lidar_sums_merge (HrLidarSums *a, const HrLidarSums *b);
/* LiDAR of the sums; NaN when n < 2. */
double hr_lidar_of_sums (const HrLidarSums *s, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrLidarSums, hr_lidar_sums_free)

/* The sums over the batches of pairs the contrastive measures are means of (hr-contrastive.c),
 * which merge by addition (doc/partial.md). */
typedef struct
{
  guint64 n_pairs;        /* pairs accumulated */
  guint64 n_batches;      /* batches of at least two pairs */
  double alignment;       /* Σ ‖â − p̂‖² */
  double positive_cosine; /* Σ ŝ(aᵢ, pᵢ) */
  double triplet;         /* Σ max (d_ap − d_an + margin, 0) */
  guint64 triplet_n;      /* the pairs of that sum */
  double uniformity;      /* Σ_b w_b u_b */
  double uniformity_w;    /* Σ_b w_b */
  double ntxent;          /* Σ ℓ over positive pairs */
  guint64 ntxent_n;       /* number of positive pairs */
  double negative_cosine; /* Σ over in-batch negatives */
  double negative_n;      /* number of in-batch negatives */
} HrContrastiveSums;

gboolean hr_contrastive_accumulate (const float *anchors, const float *positives,
                                    const float *negatives, gsize n_pairs, gsize dimension,
                                    gsize batch_size, double temperature, double margin,
                                    HrContrastiveSums *sums, GError **error);
void hr_contrastive_sums_add (HrContrastiveSums *a, const HrContrastiveSums *b);
HrContrastive *hr_contrastive_new_from_sums (const HrContrastiveSums *sums, gsize batch_size,
                                             double temperature, double margin,
                                             gboolean has_negatives, GError **error);

/* hr_moments_add() with four floats per row: mean, std, norm and fraction of exact zeros
 * (hr-moments.c). */
void hr_moments_add_with_zeros (HrMoments *moments, const float *rows, gsize n_rows,
                                float *per_sample);

/* The last added rows, centred in float64, when they were one finite chunk; else NULL
 * (hr-moments.c). */
const double *hr_moments_peek_centred (HrMoments *moments, gsize n_rows, const double **center);

/* The chunks' float64 products into a caller's D × D scratch, shared by accumulators fed
 * one after the other (hr-moments.c). */
void hr_moments_share_products_scratch (HrMoments *moments, double *scratch);

/* Frees the moments' scratch memory once the last rows are in (hr-moments.c). */
void hr_moments_release_scratch (HrMoments *moments);

/* Spreads the work of each added chunk over @pool's threads (NULL: the calling thread
 * alone), until set again (hr-moments.c, hr-measures.c). */
void hr_moments_set_pool (HrMoments *moments, HrPool *pool);

/* The parts float32 products of dimension @d are split into on @n_threads threads, at
 * least 1: capped so that the scratch of the parts after the first stays within 64 MiB,
 * or twice the scatter matrix when that is more (hr-moments.c). The analysis plans its memory with
 * it. */
guint hr_moments_float32_parts (guint n_threads, gsize d);
void hr_cross_moments_set_pool (HrCrossMoments *cm, HrPool *pool);

/* The mean over the dimensions of the fraction of samples that are exactly zero; NaN
 * before any sample (hr-moments.c). */
double hr_moments_get_mean_zero_fraction (HrMoments *moments);

/* ‖X‖_F of the raw N × D matrix from its mean and scatter matrix (hr-spectrum.c). */
double hr_moments_frobenius_norm (guint64 n_samples, gsize dimension, const double *mean,
                                  const double *scatter);

/* hr_spectrum_new_from_rows() for values with a relative error of @relative_error each
 * (hr-spectrum.c). */
HrSpectrum *hr_spectrum_new_from_rows_with_error (guint64 n_samples, gsize dimension,
                                                  const float *rows, gboolean standardize,
                                                  double relative_error, double absolute_error,
                                                  GError **error);

/* The spectrum of the correlation matrix, from the mean and the scatter matrix, for values
 * with a relative error of @relative_error and a scatter matrix off by @scatter_error; with
 * @two_threads its two eigenvalue problems are solved at the same time (hr-spectrum.c). */
HrSpectrum *hr_spectrum_new_standardized (guint64 n_samples, gsize dimension, const double *mean,
                                          const double *scatter, double relative_error,
                                          double absolute_error, double scatter_error,
                                          gboolean two_threads, GError **error);

/* hr_spectrum_new_with_errors(), with @two_threads as above (hr-spectrum.c). */
HrSpectrum *hr_spectrum_new_with_errors_full (guint64 n_samples, gsize dimension,
                                              const double *mean, const double *scatter,
                                              double value_error, double scatter_error,
                                              gboolean two_threads, GError **error);

/* Pointers into the fields of an #HrMoments, for hr-moments-merge.c (hr-moments.c). The
 * scatter matrix is D × D with its upper triangle accumulated (the lower one is valid when
 * *lower_valid), or D values without the full matrix. */
typedef struct
{
  gsize dimension;
  gboolean full;
  HrPrecision precision;
  guint64 *n_samples, *n_dropped, *n_nonfinite;
  double *mean, *scatter;
  gboolean *lower_valid;
  double *scatter_trace, *error_bound, *mean_error;
  guint64 *zero_count;
  gboolean *has_z_shift;
  double *z_shift, *z_sum, *z_sq_sum;
} HrMomentsState;

void hr_moments_get_state (HrMoments *moments, HrMomentsState *state);

/* The fields of an #HrCrossMoments (hr-measures.c). */
typedef struct
{
  gsize dx, dz;
  guint64 *n;
  double *mx, *mz, *c;
} HrCrossMomentsState;

void hr_cross_moments_get_state (HrCrossMoments *cm, HrCrossMomentsState *state);

/* Serialising and merging of cross-moments (hr-moments-merge.c), in the payload of a part
 * (hr-part-format.h). */
void hr_cross_moments_write (HrCrossMoments *cm, HrPartWriter *w);
HrCrossMoments *hr_cross_moments_read (HrPartReader *r, GError **error);
gboolean hr_cross_moments_merge (HrCrossMoments *cm, HrCrossMoments *other, GError **error);

/* Serialising an #HrMoments into / out of the payload of a larger part. */
void hr_moments_write (HrMoments *moments, HrPartWriter *w);
HrMoments *hr_moments_read (HrPartReader *r, GError **error);

G_END_DECLS
