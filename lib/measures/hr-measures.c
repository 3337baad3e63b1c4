/* headrank: accumulators and measures beyond one stage's moments: the cross-moments of two
 * stages (linear CKA), L2-normalised rows, and LiDAR */
#include "hr-private.h"

#include "hr-error.h"
#include "hr-measures-private.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* LAPACK's symmetric eigensolver, as in hr-spectrum.c. */
extern void dsyevd_ (const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                     double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                     int *info, size_t jobz_len, size_t uplo_len);

#define HR_NORMALIZE_EPS 1e-12f /* torch.nn.functional.normalize */

/* Rows centred and multiplied at a time by the cross-moments: enough for `dgemm` to run
 * near its peak, small enough that the float64 scratch stays a few MB for wide stages. */
#define HR_CROSS_BLOCK 256

/* -- cross-moments ------------------------------------------------------------------------ */

struct _HrCrossMoments
{
  gsize dx, dz;
  guint64 n;
  double *mx, *mz;    /* running means */
  double *c;          /* dx × dz, row-major */
  double *bx, *bz;    /* the chunk's means */
  double *yx, *yz;    /* the block's centred rows, HR_CROSS_BLOCK × dx and × dz */
  gsize *rows;        /* the chunk's rows finite in both */
  HrPool *pool;       /* the threads a chunk's product is split over, or NULL */
  double *part_sums;  /* per part of a chunk (hr_pool_get_n_parts()): its sums of x and z */
  gsize *part_counts; /* … and its finite rows */
  guint n_parts;      /* the parts the buffers above hold */
};

/* The memory an accumulator takes. */
guint64
hr_cross_moments_bytes (gsize dx, gsize dz)
{
  return 8 * ((guint64)dx * dz + 4 * (dx + dz) + (guint64)HR_CROSS_BLOCK * (dx + dz))
         + sizeof (gsize) * HR_CROSS_BLOCK;
}

void
hr_cross_moments_free (HrCrossMoments *cm)
{
  if (cm == NULL)
    return;
  g_free (cm->mx);
  g_free (cm->mz);
  g_free (cm->c);
  g_free (cm->bx);
  g_free (cm->bz);
  g_free (cm->yx);
  g_free (cm->yz);
  g_free (cm->rows);
  g_free (cm->part_sums);
  g_free (cm->part_counts);
  g_free (cm);
}

/* An empty accumulator, or NULL when memory runs out. */
HrCrossMoments *
hr_cross_moments_new (gsize dx, gsize dz)
{
  g_autoptr (HrCrossMoments) cm = g_new0 (HrCrossMoments, 1);

  cm->dx = dx;
  cm->dz = dz;
  cm->mx = g_try_new0 (double, dx);
  cm->mz = g_try_new0 (double, dz);
  cm->c = hr_try_zeroed (dx * dz, sizeof (double));
  cm->bx = g_try_new0 (double, dx);
  cm->bz = g_try_new0 (double, dz);
  cm->yx = g_try_new (double, (gsize)HR_CROSS_BLOCK *dx);
  cm->yz = g_try_new (double, (gsize)HR_CROSS_BLOCK *dz);
  cm->rows = g_try_new (gsize, HR_CROSS_BLOCK);
  cm->n_parts = 1;
  cm->part_sums = g_try_new (double, dx + dz);
  cm->part_counts = g_try_new (gsize, 1);
  if (cm->mx == NULL || cm->mz == NULL || cm->c == NULL || cm->bx == NULL || cm->bz == NULL
      || cm->yx == NULL || cm->yz == NULL || cm->rows == NULL || cm->part_sums == NULL
      || cm->part_counts == NULL)
    return NULL;
  return g_steal_pointer (&cm);
}

static gboolean
hr_row_finite (const float *x, gsize d)
{
  float s = 0;

  for (gsize j = 0; j < d; j++)
    s += x[j] * 0.0f; /* NaN for a NaN or an infinity, else 0 */
  return s == 0.0f;
}

void
hr_cross_moments_set_pool (HrCrossMoments *cm, HrPool *pool)
{
  guint n_parts = hr_pool_get_n_parts (pool);

  cm->pool = pool;
  if (n_parts == cm->n_parts)
    return;
  g_free (cm->part_sums);
  g_free (cm->part_counts);
  cm->part_sums = g_new (double, n_parts *(cm->dx + cm->dz));
  cm->part_counts = g_new (gsize, n_parts);
  cm->n_parts = n_parts;
}

/* Chan, Golub and LeVeque, once C holds C_a + C_b and bx, bz the chunk's means:
 * C ← C + (n_a·n_b/n)·δ_x δ_zᵀ, the means move by δ·n_b/n. With @applied, C has had its
 * w·δ_x δ_zᵀ already (hr_cross_moments_add_centred()), and bx, bz are δ_x, δ_z. */
static void
hr_cross_moments_merge_chunk (HrCrossMoments *cm, gsize nb, gboolean applied)
{
  const gsize dx = cm->dx, dz = cm->dz;
  double n_a = (double)cm->n, n = n_a + (double)nb;
  double w = n_a * (double)nb / n, step = (double)nb / n;

  if (!applied)
    {
      for (gsize j = 0; j < dx; j++)
        cm->bx[j] -= cm->mx[j];
      for (gsize j = 0; j < dz; j++)
        cm->bz[j] -= cm->mz[j];
      if (cm->n > 0)
        cblas_dger (CblasRowMajor, (int)dx, (int)dz, w, cm->bx, 1, cm->bz, 1, cm->c, (int)dz);
    }
  for (gsize j = 0; j < dx; j++)
    cm->mx[j] += cm->bx[j] * step;
  for (gsize j = 0; j < dz; j++)
    cm->mz[j] += cm->bz[j] * step;
  cm->n += nb;
}

static void hr_cross_moments_add_product (HrCrossMoments *cm, const double *yx, const double *yz,
                                          gsize n_rows);

typedef struct
{
  HrCrossMoments *cm;
  const float *x, *z;
} HrCrossChunkJob;

/* Rows [@first, @end) of a chunk: those finite in both stages listed in cm->rows from @first
 * on, and their sums of x and of z in part @part's sums (in the order of the rows). */
static void
hr_cross_scan_range (gsize first, gsize end, guint part, gpointer data)
{
  HrCrossChunkJob *job = data;
  HrCrossMoments *cm = job->cm;
  const gsize dx = cm->dx, dz = cm->dz;
  double *restrict sx = cm->part_sums + part * (dx + dz), *restrict sz = sx + dx;
  gsize nb = 0;

  memset (sx, 0, (dx + dz) * sizeof (double));
  for (gsize r = first; r < end; r++)
    {
      const float *xr = job->x + r * dx, *zr = job->z + r * dz;

      if (!hr_row_finite (xr, dx) || !hr_row_finite (zr, dz))
        continue;
      cm->rows[first + nb++] = r;
      for (gsize j = 0; j < dx; j++)
        sx[j] += xr[j];
      for (gsize j = 0; j < dz; j++)
        sz[j] += zr[j];
    }
  cm->part_counts[part] = nb;
}

/* The finite rows [@first, @end) of the chunk centred on its means bx, bz into yx, yz. */
static void
hr_cross_centre_range (gsize first, gsize end, G_GNUC_UNUSED guint part, gpointer data)
{
  HrCrossChunkJob *job = data;
  HrCrossMoments *cm = job->cm;
  const gsize dx = cm->dx, dz = cm->dz;
  const double *restrict bx = cm->bx, *restrict bz = cm->bz;

  for (gsize k = first; k < end; k++)
    {
      const float *restrict xr = job->x + cm->rows[k] * dx, *restrict zr
                                                            = job->z + cm->rows[k] * dz;
      double *restrict yx = cm->yx + k * dx, *restrict yz = cm->yz + k * dz;

      for (gsize j = 0; j < dx; j++)
        yx[j] = xr[j] - bx[j];
      for (gsize j = 0; j < dz; j++)
        yz[j] = zr[j] - bz[j];
    }
}

/* A chunk of rows that neither stage's moments has centred (float32 products, or stages
 * without a scatter matrix): the rows finite in both, their means and their centred copies
 * in float64, split by rows over the pool's threads when there is one (the parts' sums
 * added in order), then their product. */
static void
hr_cross_moments_chunk (HrCrossMoments *cm, const float *x, const float *z, gsize n_rows)
{
  const gsize dx = cm->dx, dz = cm->dz;
  guint n_parts = n_rows >= 2 * (gsize)cm->n_parts ? cm->n_parts : 1;
  HrPool *pool = n_parts > 1 ? cm->pool : NULL;
  HrCrossChunkJob job = { cm, x, z };
  gsize nb = 0;

  hr_pool_run_ranges (pool, n_rows, n_parts, hr_cross_scan_range, &job);
  memset (cm->bx, 0, dx * sizeof (double));
  memset (cm->bz, 0, dz * sizeof (double));
  for (guint t = 0; t < n_parts; t++)
    {
      const double *sx = cm->part_sums + t * (dx + dz), *sz = sx + dx;

      nb = hr_pool_gather (cm->rows, n_rows, n_parts, t, cm->part_counts[t], nb);
      for (gsize j = 0; j < dx; j++)
        cm->bx[j] += sx[j];
      for (gsize j = 0; j < dz; j++)
        cm->bz[j] += sz[j];
    }
  if (nb == 0)
    return;
  for (gsize j = 0; j < dx; j++)
    cm->bx[j] /= (double)nb;
  for (gsize j = 0; j < dz; j++)
    cm->bz[j] /= (double)nb;
  hr_pool_run_ranges (pool, nb, n_parts, hr_cross_centre_range, &job);
  hr_cross_moments_add_product (cm, cm->yx, cm->yz, nb);
}

typedef struct
{
  HrCrossMoments *cm;
  const double *yx, *yz;
  gsize n_rows;
  double w; /* n_a·n_b/n, or 0 for the first chunk */
} HrCrossJob;

static void
hr_cross_range (gsize first, gsize end, G_GNUC_UNUSED guint part, gpointer data)
{
  HrCrossJob *job = data;
  HrCrossMoments *cm = job->cm;

  if (end <= first)
    return;
  cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int)(end - first), (int)cm->dz,
               (int)job->n_rows, 1.0, job->yx + first, (int)cm->dx, job->yz, (int)cm->dz, 1.0,
               cm->c + first * cm->dz, (int)cm->dz);
  if (job->w != 0)
    cblas_dger (CblasRowMajor, (int)(end - first), (int)cm->dz, job->w, cm->bx + first, 1, cm->bz,
                1, cm->c + first * cm->dz, (int)cm->dz);
}

/* Adds the product of a chunk's centred rows (bx, bz hold the chunk's means): one `dgemm`,
 * or on the pool's threads each a band of rows of C, its product and then its
 * w·δ_x δ_zᵀ. */
static void
hr_cross_moments_add_product (HrCrossMoments *cm, const double *yx, const double *yz, gsize n_rows)
{
  HrCrossJob job = { cm, yx, yz, n_rows, 0.0 };

  if (cm->pool == NULL)
    {
      cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int)cm->dx, (int)cm->dz, (int)n_rows,
                   1.0, yx, (int)cm->dx, yz, (int)cm->dz, 1.0, cm->c, (int)cm->dz);
      hr_cross_moments_merge_chunk (cm, n_rows, FALSE);
      return;
    }
  for (gsize j = 0; j < cm->dx; j++)
    cm->bx[j] -= cm->mx[j];
  for (gsize j = 0; j < cm->dz; j++)
    cm->bz[j] -= cm->mz[j];
  if (cm->n > 0)
    job.w = (double)cm->n * (double)n_rows / ((double)cm->n + (double)n_rows);
  hr_pool_run_ranges (cm->pool, cm->dx, hr_pool_get_n_threads (cm->pool), hr_cross_range, &job);
  hr_cross_moments_merge_chunk (cm, n_rows, TRUE);
}

/* Adds a chunk whose rows the two stages' moments have already centred (float64, on the
 * chunk's means @cx and @cz): no copy of the rows. */
void
hr_cross_moments_add_centred (HrCrossMoments *cm, const double *yx, const double *cx,
                              const double *yz, const double *cz, gsize n_rows)
{
  if (n_rows == 0)
    return;
  memcpy (cm->bx, cx, cm->dx * sizeof (double));
  memcpy (cm->bz, cz, cm->dz * sizeof (double));
  hr_cross_moments_add_product (cm, yx, yz, n_rows);
}

/* Adds @n_rows rows of both stages (row r of @x and of @z are the same sample); rows that
 * are not finite in both are left out. */
void
hr_cross_moments_add (HrCrossMoments *cm, const float *x, const float *z, gsize n_rows)
{
  for (gsize first = 0; first < n_rows; first += HR_CROSS_BLOCK)
    hr_cross_moments_chunk (cm, x + first * cm->dx, z + first * cm->dz,
                            MIN (n_rows - first, (gsize)HR_CROSS_BLOCK));
}

/* Sets @cm (dx × dz) to the cross-moments of X with Z = T A + 1 cᵀ, from those of X with
 * T over the same @n rows: C = C_XT A and the means μ_X and μ_T A + c. @cxt (dx × dt) and
 * @mt are T's cross-moments and mean, or the scatter matrix and mean of X itself when T
 * is X; @a (dt × dz) and @c as hr_head_affine_map() gives them. Centred cross-moments
 * need no correction for c: it moves Z and its mean alike. */
void
hr_cross_moments_set_affine (HrCrossMoments *cm, guint64 n, const double *mx, const double *cxt,
                             const double *mt, gsize dt, const double *a, const double *c)
{
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)cm->dx, (int)cm->dz, (int)dt, 1.0,
               cxt, (int)dt, a, (int)cm->dz, 0.0, cm->c, (int)cm->dz);
  memcpy (cm->mx, mx, cm->dx * sizeof (double));
  memcpy (cm->mz, c, cm->dz * sizeof (double));
  cblas_dgemv (CblasRowMajor, CblasTrans, (int)dt, (int)cm->dz, 1.0, a, (int)cm->dz, mt, 1, 1.0,
               cm->mz, 1);
  cm->n = n;
}

guint64
hr_cross_moments_get_n_samples (HrCrossMoments *cm)
{
  return cm->n;
}

static double
hr_frobenius (const double *a, gsize n)
{
  double s = 0;

  for (gsize i = 0; i < n; i++)
    s += a[i] * a[i];
  return sqrt (s);
}

/* ‖S‖_F of a full D × D scatter matrix. */
double
hr_scatter_frobenius (const double *scatter, gsize d)
{
  return hr_frobenius (scatter, d * d);
}

#define HR_CKA_BLOCK 1024

/* ‖YᵀY‖_F of @n rows of @d float32 values, Y the rows centred on their mean (float64):
 * the norm hr_scatter_frobenius() takes of the scatter matrix, for a stage that keeps its
 * rows instead. When n < d from the N × N Gram matrix Y Yᵀ, which has the same nonzero
 * eigenvalues and so the same Frobenius norm, formed by `dsyrk` over blocks of columns
 * (8·N² + 8·N·1024 bytes), as hr_spectrum_new_from_rows() forms it; otherwise from YᵀY
 * over blocks of rows. @n and @d are at least 1 (the rows of a spectrum, N ≥ 2). */
double
hr_rows_scatter_frobenius (const float *rows, gsize n, gsize d, GError **error)
{
  const gsize side = MIN (n, d);
  const gsize block = n < d ? MIN (d, (gsize)HR_CKA_BLOCK) : MIN (n, (gsize)HR_CKA_BLOCK);
  g_autofree double *mean = g_try_new0 (double, d);
  g_autofree double *g = hr_try_zeroed (side * side, sizeof (double));
  g_autofree double *y = g_try_new (double, n < d ? n * block : block * d);
  double sq = 0;

  if (mean == NULL || g == NULL || y == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   /* TRANSLATORS: N × N and D: the sizes of the matrices */
                   _ ("not enough memory for the Gram matrices of %zu samples of dimension %zu"), n,
                   d);
      return NAN;
    }
  for (gsize r = 0; r < n; r++)
    for (gsize j = 0; j < d; j++)
      mean[j] += rows[r * d + j];
  for (gsize j = 0; j < d; j++)
    mean[j] /= (double)n;
  if (n < d)
    for (gsize c0 = 0; c0 < d; c0 += block)
      {
        gsize nb = MIN (block, d - c0);

        for (gsize r = 0; r < n; r++)
          for (gsize j = 0; j < nb; j++)
            y[r * nb + j] = rows[r * d + c0 + j] - mean[c0 + j];
        cblas_dsyrk (CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)nb, 1.0, y, (int)nb, 1.0,
                     g, (int)n);
      }
  else
    for (gsize r0 = 0; r0 < n; r0 += block)
      {
        gsize nb = MIN (block, n - r0);

        for (gsize r = 0; r < nb; r++)
          for (gsize j = 0; j < d; j++)
            y[r * d + j] = rows[(r0 + r) * d + j] - mean[j];
        cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, y, (int)d, 1.0, g,
                     (int)d);
      }
  /* the upper triangle: each value off the diagonal twice */
  for (gsize i = 0; i < side; i++)
    {
      sq += g[i * side + i] * g[i * side + i];
      for (gsize j = i + 1; j < side; j++)
        sq += 2 * g[i * side + j] * g[i * side + j];
    }
  return sqrt (sq);
}

/* Linear CKA (Kornblith, Norouzi, Lee and Hinton, ICML 2019) from the cross-moments C = XᵀZ
 * and the Frobenius norms of the two scatter matrices over the same rows, ‖XᵀX‖_F and
 * ‖ZᵀZ‖_F (hr_scatter_frobenius(), or hr_rows_scatter_frobenius() for a stage that keeps
 * its rows): ‖C‖²_F / (‖XᵀX‖_F ‖ZᵀZ‖_F). NaN when either stage has no variance. */
double
hr_cross_moments_linear_cka (HrCrossMoments *cm, double norm_x, double norm_z)
{
  double c = hr_frobenius (cm->c, cm->dx * cm->dz);

  if (!(norm_x > 0) || !(norm_z > 0))
    return NAN;
  return c * c / (norm_x * norm_z);
}

/* -- L2-normalised rows ------------------------------------------------------------------- */

/* x / max(‖x‖, ε) per row, as torch.nn.functional.normalize: the norm summed in float64 in
 * order, rounded to float32, and each value divided by it in float32. */
void
hr_normalize_rows (const float *x, gsize n_rows, gsize d, float *out)
{
  for (gsize r = 0; r < n_rows; r++)
    {
      const float *xr = x + r * d;
      float *o = out + r * d;
      double sq = 0;
      float norm;

      for (gsize j = 0; j < d; j++)
        sq += (double)xr[j] * xr[j];
      norm = MAX ((float)sqrt (sq), HR_NORMALIZE_EPS);
      for (gsize j = 0; j < d; j++)
        o[j] = xr[j] / norm;
    }
}

typedef struct
{
  const float *x;
  gsize d;
  float *out;
} HrNormalizeJob;

static void
hr_normalize_range (gsize first, gsize end, guint part, gpointer data)
{
  HrNormalizeJob *job = data;

  hr_normalize_rows (job->x + first * job->d, end - first, job->d, job->out + first * job->d);
}

/* hr_normalize_rows() with the rows split over @pool's threads (NULL: the calling thread);
 * each row is normalised as there. */
void
hr_normalize_rows_pool (HrPool *pool, const float *x, gsize n_rows, gsize d, float *out)
{
  HrNormalizeJob job = { x, d, out };
  guint n_parts = hr_pool_get_n_parts (pool);

  hr_pool_run_ranges (pool, n_rows, n_rows < 2 * (gsize)n_parts ? 1 : n_parts, hr_normalize_range,
                      &job);
}

/* -- LiDAR -------------------------------------------------------------------------------- */

#define HR_LIDAR_DELTA 1e-4
#define HR_LIDAR_EPSILON 1e-8
#define HR_LIDAR_BLOCK 1024

static gboolean
hr_eigh (double *a, gsize n, double *w, gboolean vectors, GError **error)
{
  const int n_int = (int)n;
  const char *jobz = vectors ? "V" : "N";
  int lwork = -1, liwork = -1, info = 0, iwork_size = 0;
  double work_size = 0;
  g_autofree double *work = NULL;
  g_autofree int *iwork = NULL;

  dsyevd_ (jobz, "L", &n_int, a, &n_int, w, &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  if (info == 0)
    {
      lwork = MAX ((int)ceil (work_size), 1);
      liwork = MAX (iwork_size, 1);
      work = g_try_new (double, lwork);
      iwork = g_try_new (int, liwork);
      if (work == NULL || iwork == NULL)
        {
          /* not a convergence failure: the workspace LAPACK asked for is not there */
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       /* TRANSLATORS: %s is a LAPACK routine such as dsyevd */
                       _ ("not enough memory for the workspace of LAPACK %s (%d values)"), "dsyevd",
                       lwork);
          return FALSE;
        }
      dsyevd_ (jobz, "L", &n_int, a, &n_int, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    }
  if (info != 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                   /* TRANSLATORS: %s is a LAPACK routine such as dsyevd; "info" is its
                    * status code, left untranslated */
                   _ ("LAPACK %s did not converge (info = %d)"), "dsyevd", info);
      return FALSE;
    }
  return TRUE;
}

/* LiDAR (Thilak et al., "LiDAR: Sensing linear probing performance in joint embedding SSL
 * architectures", ICLR 2024) with each pair (a_i, p_i) a surrogate class of q = 2 views:
 * μ_i = (a_i + p_i)/2, μ their mean, Σ_b = Σ_i (μ_i − μ)(μ_i − μ)ᵀ / (n − 1),
 * Σ_w = Σ_i Σ_v (v − μ_i)(v − μ_i)ᵀ / (n (q − 1)) + δI = Σ_i (a_i − p_i)(a_i − p_i)ᵀ / (2n) + δI,
 * Σ_L = Σ_w^{-1/2} Σ_b Σ_w^{-1/2} (the eigenvalues of Σ_w clamped at ε), its eigenvalues λ
 * (clamped at 0), p = (λ + ε) / Σ (λ + ε), LiDAR = exp (−Σ p log p); δ = 10⁻⁴, ε = 10⁻⁸.
 * Float64 throughout. */
HrLidarSums *
hr_lidar_sums_new (gsize d)
{
  HrLidarSums *s = g_new0 (HrLidarSums, 1);

  s->d = d;
  return s;
}

void
hr_lidar_sums_free (HrLidarSums *s)
{
  g_free (s->mean);
  g_free (s->sb);
  g_free (s->sw);
  g_free (s);
}

gboolean
hr_lidar_sums_set (HrLidarSums *s, const float *a, const float *p, gsize n, GError **error)
{
  g_autofree double *ym = NULL, *yd = NULL;
  gsize d = s->d;

  /* the pairs' widths come from heads and stacks, which refuse 0 columns */
  g_return_val_if_fail (d > 0, FALSE);
  s->mean = g_try_new0 (double, d);
  s->sb = d <= G_MAXSIZE / sizeof (double) / d ? hr_try_zeroed (d * d, sizeof (double)) : NULL;
  s->sw = s->sb != NULL ? hr_try_zeroed (d * d, sizeof (double)) : NULL;
  ym = g_try_new (double, (gsize)HR_LIDAR_BLOCK *d);
  yd = g_try_new (double, (gsize)HR_LIDAR_BLOCK *d);
  if (s->mean == NULL || s->sb == NULL || s->sw == NULL || ym == NULL || yd == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for the rows of %zu pairs"), n);
      return FALSE;
    }
  s->n = n;
  if (n == 0)
    return TRUE;
  for (gsize i = 0; i < n; i++)
    for (gsize j = 0; j < d; j++)
      s->mean[j] += 0.5 * ((double)a[i * d + j] + (double)p[i * d + j]);
  for (gsize j = 0; j < d; j++)
    s->mean[j] /= (double)n;
  for (gsize i0 = 0; i0 < n; i0 += HR_LIDAR_BLOCK)
    {
      gsize nb = MIN ((gsize)HR_LIDAR_BLOCK, n - i0);

      for (gsize r = 0; r < nb; r++)
        for (gsize j = 0; j < d; j++)
          {
            double x = a[(i0 + r) * d + j], y = p[(i0 + r) * d + j];

            ym[r * d + j] = 0.5 * (x + y) - s->mean[j];
            yd[r * d + j] = x - y;
          }
      cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, ym, (int)d, 1.0,
                   s->sb, (int)d);
      cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, yd, (int)d, 1.0,
                   s->sw, (int)d);
    }
  /* full symmetric matrices from the upper triangles */
  for (gsize i = 0; i < d; i++)
    for (gsize j = i + 1; j < d; j++)
      {
        s->sb[j * d + i] = s->sb[i * d + j];
        s->sw[j * d + i] = s->sw[i * d + j];
      }
  return TRUE;
}

void
hr_lidar_sums_merge (HrLidarSums *a, const HrLidarSums *b)
{
  gsize d = a->d;
  double n, w;

  if (b->n == 0)
    return;
  if (a->n == 0)
    {
      a->n = b->n;
      memcpy (a->mean, b->mean, d * sizeof (double));
      memcpy (a->sb, b->sb, d * d * sizeof (double));
      memcpy (a->sw, b->sw, d * d * sizeof (double));
      return;
    }
  n = (double)a->n + (double)b->n;
  w = (double)a->n * (double)b->n / n;
  for (gsize i = 0; i < d; i++)
    for (gsize j = 0; j < d; j++)
      {
        double di = b->mean[i] - a->mean[i], dj = b->mean[j] - a->mean[j];

        a->sb[i * d + j] += b->sb[i * d + j] + w * di * dj;
        a->sw[i * d + j] += b->sw[i * d + j];
      }
  for (gsize j = 0; j < d; j++)
    a->mean[j] += (b->mean[j] - a->mean[j]) * ((double)b->n / n);
  a->n += b->n;
}

double
hr_lidar_of_pairs (const float *a, const float *p, gsize n, gsize d, GError **error)
{
  g_autoptr (HrLidarSums) s = hr_lidar_sums_new (d);

  if (n < 2)
    return NAN;
  if (!hr_lidar_sums_set (s, a, p, n, error))
    return NAN;
  return hr_lidar_of_sums (s, error);
}

double
hr_lidar_of_sums (const HrLidarSums *sums, GError **error)
{
  g_autofree double *sb = NULL, *sw = NULL;
  g_autofree double *w = NULL, *t = NULL, *v = NULL;
  double total = 0, entropy = 0;
  gsize d = sums->d, n = (gsize)sums->n;

  if (sums->n < 2)
    return NAN;
  sb = g_try_new (double, d *d);
  sw = g_try_new (double, d *d);
  w = g_try_new (double, d);
  t = g_try_new (double, d *d);
  v = g_try_new (double, d *d);
  if (sb == NULL || sw == NULL || w == NULL || t == NULL || v == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for the rows of %zu pairs"), n);
      return NAN;
    }
  for (gsize i = 0; i < d; i++)
    for (gsize j = i; j < d; j++)
      {
        sb[j * d + i] = sb[i * d + j] = sums->sb[i * d + j] / (double)(n - 1);
        sw[j * d + i] = sw[i * d + j] = sums->sw[i * d + j] / (2.0 * (double)n);
      }
  for (gsize i = 0; i < d; i++)
    sw[i * d + i] += HR_LIDAR_DELTA;

  /* Σ_w^{-1/2} = V diag (1/√max (w, ε)) Vᵀ; dsyevd's vectors are the columns of the
   * column-major V, that is the rows of @sw read row-major */
  if (!hr_eigh (sw, d, w, TRUE, error))
    return NAN;
  for (gsize k = 0; k < d; k++)
    {
      double s = 1.0 / sqrt (MAX (w[k], HR_LIDAR_EPSILON));

      for (gsize j = 0; j < d; j++)
        t[k * d + j] = sw[k * d + j] * s;
    }
  /* v = Σ_w^{-1/2} = Σ_k s_k v_k v_kᵀ = (rows of sw)ᵀ · (rows of t) */
  cblas_dgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, sw, (int)d, t,
               (int)d, 0.0, v, (int)d);
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, v, (int)d,
               sb, (int)d, 0.0, t, (int)d);
  cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d, (int)d, 1.0, t, (int)d, v,
               (int)d, 0.0, sb, (int)d);
  for (gsize i = 0; i < d; i++)
    for (gsize j = i + 1; j < d; j++)
      sb[i * d + j] = sb[j * d + i] = 0.5 * (sb[i * d + j] + sb[j * d + i]);
  if (!hr_eigh (sb, d, w, FALSE, error))
    return NAN;

  for (gsize k = 0; k < d; k++)
    total += MAX (w[k], 0.0) + HR_LIDAR_EPSILON;
  for (gsize k = 0; k < d; k++)
    {
      double q = (MAX (w[k], 0.0) + HR_LIDAR_EPSILON) / total;

      entropy -= q * log (q);
    }
  return exp (entropy);
}

/* -- the state, for serialising and merging (hr-moments-merge.c) ------------------------- */

void
hr_cross_moments_get_state (HrCrossMoments *cm, HrCrossMomentsState *state)
{
  state->dx = cm->dx;
  state->dz = cm->dz;
  state->n = &cm->n;
  state->mx = cm->mx;
  state->mz = cm->mz;
  state->c = cm->c;
}
