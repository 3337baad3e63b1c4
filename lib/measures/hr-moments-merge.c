/* headrank: moments that serialise to bytes and merge (doc/partial.md) */
#include "hr-private.h"
#include "hr-moments-merge.h"

#include "hr-error.h"
#include "hr-measures-private.h"
#include "hr-moments.h"
#include "hr-part-format.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define HR_U64 (1.0 / 9007199254740992.0) /* 2⁻⁵³, float64 unit roundoff */
#define HR_GAMMA3 (3 * HR_U64 / (1 - 3 * HR_U64))

#define HR_MOMENTS_FLAG_FULL 1u
#define HR_MOMENTS_FLAG_Z_SHIFT 2u

/* -- the payload ------------------------------------------------------------------------ */

/* The number of values the scatter of @s stores: its upper triangle, or its diagonal. */
static guint64
hr_scatter_values (gsize d, gboolean full)
{
  return full ? (guint64)d * ((guint64)d + 1) / 2 : (guint64)d;
}

void
hr_moments_write (HrMoments *moments, HrPartWriter *w)
{
  HrMomentsState s;
  gsize d;

  hr_moments_get_state (moments, &s);
  d = s.dimension;
  hr_part_put_u64 (w, d);
  hr_part_put_u32 (w, (s.full ? HR_MOMENTS_FLAG_FULL : 0)
                          | (*s.has_z_shift ? HR_MOMENTS_FLAG_Z_SHIFT : 0));
  hr_part_put_u32 (w, (guint32)s.precision);
  hr_part_put_u64 (w, *s.n_samples);
  hr_part_put_u64 (w, *s.n_dropped);
  hr_part_put_u64 (w, *s.n_nonfinite);
  hr_part_put_f64 (w, *s.error_bound);
  hr_part_put_f64 (w, *s.mean_error);
  hr_part_put_f64s (w, s.mean, d);
  if (s.full)
    for (gsize i = 0; i < d; i++)
      hr_part_put_f64s (w, s.scatter + i * d + i, d - i);
  else
    hr_part_put_f64s (w, s.scatter, d);
  hr_part_put_u64s (w, s.zero_count, d);
  hr_part_put_f64s (w, s.z_shift, d);
  hr_part_put_f64s (w, s.z_sum, d);
  hr_part_put_f64s (w, s.z_sq_sum, d);
}

static gboolean
hr_part_corrupt (GError **error, const char *message)
{
  g_set_error_literal (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT, message);
  return FALSE;
}

static gboolean
hr_all_finite (const double *v, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite (v[i]))
      return FALSE;
  return TRUE;
}

HrMoments *
hr_moments_read (HrPartReader *r, GError **error)
{
  guint64 d64, n_samples;
  guint32 flags, precision;
  g_autoptr (HrMoments) m = NULL;
  HrMomentsState s;
  gboolean full;
  gsize d;

  if (!hr_part_get_u64 (r, &d64, error) || !hr_part_get_u32 (r, &flags, error)
      || !hr_part_get_u32 (r, &precision, error))
    return NULL;
  if (d64 == 0 || d64 > G_MAXINT)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT,
                   _ ("the part's moments have a dimension of %llu (1 to %d)"),
                   (unsigned long long)d64, G_MAXINT);
      return NULL;
    }
  d = (gsize)d64;
  full = (flags & HR_MOMENTS_FLAG_FULL) != 0;
  if ((flags & ~(HR_MOMENTS_FLAG_FULL | HR_MOMENTS_FLAG_Z_SHIFT)) != 0
      || (precision != HR_PRECISION_FLOAT64 && precision != HR_PRECISION_FLOAT32_PRODUCTS)
      || (!full && precision != HR_PRECISION_FLOAT64))
    {
      hr_part_corrupt (error, _ ("the part's moments have unknown flags or precision"));
      return NULL;
    }
  /* every value the dimension promises is there before anything of its size is allocated */
  if (!hr_part_reader_has (r, hr_scatter_values (d, full) + 5 * (guint64)d + 5, 8, error))
    return NULL;
  m = full ? hr_moments_new (d, 0, (HrPrecision)precision) : hr_moments_new_diagonal (d);
  hr_moments_get_state (m, &s);
  hr_part_get_u64 (r, &n_samples, NULL);
  *s.n_samples = n_samples;
  hr_part_get_u64 (r, s.n_dropped, NULL);
  hr_part_get_u64 (r, s.n_nonfinite, NULL);
  hr_part_get_f64 (r, s.error_bound, NULL);
  hr_part_get_f64 (r, s.mean_error, NULL);
  hr_part_get_f64s (r, s.mean, d, NULL);
  if (full)
    for (gsize i = 0; i < d; i++)
      hr_part_get_f64s (r, s.scatter + i * d + i, d - i, NULL);
  else
    hr_part_get_f64s (r, s.scatter, d, NULL);
  hr_part_get_u64s (r, s.zero_count, d, NULL);
  hr_part_get_f64s (r, s.z_shift, d, NULL);
  hr_part_get_f64s (r, s.z_sum, d, NULL);
  hr_part_get_f64s (r, s.z_sq_sum, d, NULL);
  *s.has_z_shift = (flags & HR_MOMENTS_FLAG_Z_SHIFT) != 0;
  *s.lower_valid = FALSE;

  /* what one pass cannot produce */
  if (*s.has_z_shift != (n_samples > 0))
    {
      hr_part_corrupt (error, _ ("the part's moments disagree with their number of samples"));
      return NULL;
    }
  for (gsize j = 0; j < d; j++)
    if (s.zero_count[j] > n_samples)
      {
        hr_part_corrupt (error, _ ("the part's moments count more zeros than samples"));
        return NULL;
      }
  if (!(*s.error_bound >= 0) || !isfinite (*s.error_bound) || !(*s.mean_error >= 0)
      || !isfinite (*s.mean_error) || !hr_all_finite (s.mean, d) || !hr_all_finite (s.z_shift, d)
      || !hr_all_finite (s.z_sum, d) || !hr_all_finite (s.z_sq_sum, d))
    {
      hr_part_corrupt (error, _ ("the part's moments hold values that are not finite"));
      return NULL;
    }
  *s.scatter_trace = 0;
  for (gsize i = 0; i < d; i++)
    {
      const double *row = s.scatter + (full ? i * d + i : i);

      if (!hr_all_finite (row, full ? d - i : 1))
        {
          hr_part_corrupt (error, _ ("the part's moments hold values that are not finite"));
          return NULL;
        }
      *s.scatter_trace += row[0];
    }
  return g_steal_pointer (&m);
}

/**
 * hr_moments_to_bytes:
 * @self: a #HrMoments
 *
 * The state of @self as bytes: a part of kind "moments" in the format of doc/partial.md
 * (versioned, little-endian, with a SHA-256 checksum), which hr_moments_new_from_bytes()
 * reads on any machine. It holds the mean, the upper triangle of the scatter matrix (or
 * its diagonal), the counts of samples, dropped samples, non-finite values and zeros per
 * dimension, the SimSiam sums and the rounding-error bounds: 4·D·(D+1) + 40·D + 112 bytes
 * with the scatter matrix.
 *
 * Returns: (transfer full): the bytes
 *
 * Since: 0.2
 */
GBytes *
hr_moments_to_bytes (HrMoments *self)
{
  HrPartWriter w;

  g_return_val_if_fail (HR_IS_MOMENTS (self), NULL);
  hr_part_writer_init (&w, HR_PART_KIND_MOMENTS);
  hr_moments_write (self, &w);
  return hr_part_writer_finish (&w);
}

/**
 * hr_moments_new_from_bytes:
 * @bytes: bytes from hr_moments_to_bytes()
 * @error: return location for a #GError
 *
 * The moments that @bytes hold, ready to take more rows (hr_moments_add()) or other
 * moments (hr_moments_add_moments()). Bytes that are not such a part, are cut, damaged,
 * of another format version or hold values one pass cannot produce are refused with an
 * error of the %HR_PART_ERROR domain.
 *
 * Returns: (transfer full): the moments, or %NULL with @error set
 *
 * Since: 0.2
 */
HrMoments *
hr_moments_new_from_bytes (GBytes *bytes, GError **error)
{
  HrPartReader r;
  g_autoptr (HrMoments) m = NULL;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hr_part_reader_init (&r, bytes, HR_PART_KIND_MOMENTS, error)
      || (m = hr_moments_read (&r, error)) == NULL || !hr_part_reader_end (&r, error))
    return NULL;
  return g_steal_pointer (&m);
}

/**
 * hr_moments_save:
 * @self: a #HrMoments
 * @path: (type filename): the file to write
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Writes hr_moments_to_bytes() to @path, whole or not at all (a temporary file renamed
 * into place).
 *
 * Returns: %TRUE on success; on failure a %G_IO_ERROR
 *
 * Since: 0.2
 */
gboolean
hr_moments_save (HrMoments *self, const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;

  g_return_val_if_fail (HR_IS_MOMENTS (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  bytes = hr_moments_to_bytes (self);
  return hr_part_write_file (bytes, path, cancellable, error);
}

/**
 * hr_moments_new_from_file:
 * @path: (type filename): a file written by hr_moments_save()
 * @error: return location for a #GError
 *
 * hr_moments_new_from_bytes() of the contents of @path.
 *
 * Returns: (transfer full): the moments, or %NULL with @error set (%G_IO_ERROR when the
 *   file cannot be read, else %HR_PART_ERROR)
 *
 * Since: 0.2
 */
HrMoments *
hr_moments_new_from_file (const char *path, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  HrMoments *m;

  g_return_val_if_fail (path != NULL, NULL);

  bytes = hr_part_read_file (path, error);
  if (bytes == NULL)
    return NULL;
  m = hr_moments_new_from_bytes (bytes, error);
  if (m == NULL)
    g_prefix_error (error, "%s: ", path);
  return m;
}

/* -- merging ---------------------------------------------------------------------------- */

static const char *
hr_precision_name (HrPrecision p)
{
  return p == HR_PRECISION_FLOAT32_PRODUCTS ? "float32-products" : "float64";
}

/* Re-centres the SimSiam sums of @b, taken about its first row z_b, about @a's z_a, and
 * adds them: Σ(z − z_a) = Σ(z − z_b) + n_b·s and Σ(z − z_a)² = Σ(z − z_b)² +
 * 2s·Σ(z − z_b) + n_b·s², s = z_b − z_a. */
static void
hr_merge_z (HrMomentsState *a, HrMomentsState *b, double n_b)
{
  gsize d = a->dimension;

  if (!*b->has_z_shift)
    return;
  if (!*a->has_z_shift)
    {
      memcpy (a->z_shift, b->z_shift, d * sizeof (double));
      memcpy (a->z_sum, b->z_sum, d * sizeof (double));
      memcpy (a->z_sq_sum, b->z_sq_sum, d * sizeof (double));
      *a->has_z_shift = TRUE;
      return;
    }
  for (gsize j = 0; j < d; j++)
    {
      double s = b->z_shift[j] - a->z_shift[j];

      a->z_sq_sum[j] += b->z_sq_sum[j] + 2 * s * b->z_sum[j] + n_b * s * s;
      a->z_sum[j] += b->z_sum[j] + n_b * s;
    }
}

/**
 * hr_moments_add_moments:
 * @self: a #HrMoments
 * @other: moments of other samples, of the same dimension and precision
 * @error: return location for a #GError
 *
 * Adds the samples that @other has accumulated to @self, as if its rows had been added to
 * @self with hr_moments_add() (the per-row statistics aside, which are the caller's): the
 * centred scatter matrices and means are merged with the pairwise update of Chan, Golub
 * and LeVeque, S = S_a + S_b + (n_a·n_b/n)·δδᵀ with δ = m_b − m_a, the counts added, the
 * SimSiam sums moved to one shift. The rounding-error bound (hr_moments_get_error_bound())
 * becomes the sum of both bounds plus that of the merge itself, in the same terms as a
 * chunk's merge (see #HrMoments and doc/analysis.md): γ₃·(trace S_a + trace S_b +
 * w‖δ‖²) + w·(2‖δ‖e + e²), with w = n_a·n_b/n, γ₃ = 3u/(1 − 3u), u = 2⁻⁵³ and e the sum
 * of the two means' error bounds. @other is not changed.
 *
 * Moments of a different dimension, with and without the scatter matrix, or of different
 * precisions are refused with %HR_PART_ERROR_MISMATCH.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.2
 */
gboolean
hr_moments_add_moments (HrMoments *self, HrMoments *other, GError **error)
{
  HrMomentsState a, b;
  gsize d;
  double n_a, n_b, n, w, step, delta_sq = 0, m_sq = 0, e, delta_norm;
  g_autofree double *delta = NULL;

  g_return_val_if_fail (HR_IS_MOMENTS (self), FALSE);
  g_return_val_if_fail (HR_IS_MOMENTS (other), FALSE);
  g_return_val_if_fail (self != other, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  hr_moments_get_state (self, &a);
  hr_moments_get_state (other, &b);
  if (a.dimension != b.dimension)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH,
                   _ ("moments of dimension %zu cannot be merged with moments of dimension %zu"),
                   a.dimension, b.dimension);
      return FALSE;
    }
  if (a.full != b.full)
    {
      g_set_error_literal (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH,
                           _ ("moments with a scatter matrix cannot be merged with moments of "
                              "its diagonal only"));
      return FALSE;
    }
  if (a.precision != b.precision)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH,
                   _ ("moments of precision %s cannot be merged with moments of precision %s"),
                   hr_precision_name (a.precision), hr_precision_name (b.precision));
      return FALSE;
    }
  d = a.dimension;
  if (*b.n_samples > G_MAXUINT64 - *a.n_samples)
    {
      g_set_error_literal (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH,
                           _ ("the merged moments would count more samples than 2⁶⁴"));
      return FALSE;
    }

  *a.n_dropped += *b.n_dropped;
  *a.n_nonfinite += *b.n_nonfinite;
  for (gsize j = 0; j < d; j++)
    a.zero_count[j] += b.zero_count[j];
  n_b = (double)*b.n_samples;
  hr_merge_z (&a, &b, n_b);
  if (*b.n_samples == 0)
    return TRUE;
  if (*a.n_samples == 0)
    {
      memcpy (a.mean, b.mean, d * sizeof (double));
      if (a.full)
        for (gsize i = 0; i < d; i++)
          memcpy (a.scatter + i * d + i, b.scatter + i * d + i, (d - i) * sizeof (double));
      else
        memcpy (a.scatter, b.scatter, d * sizeof (double));
      *a.lower_valid = !a.full;
      *a.scatter_trace = *b.scatter_trace;
      *a.error_bound = *b.error_bound;
      *a.mean_error = *b.mean_error;
      *a.n_samples = *b.n_samples;
      return TRUE;
    }

  n_a = (double)*a.n_samples;
  n = n_a + n_b;
  w = n_a * n_b / n;
  step = n_b / n;
  delta = g_new (double, d);
  for (gsize j = 0; j < d; j++)
    {
      delta[j] = b.mean[j] - a.mean[j];
      delta_sq += delta[j] * delta[j];
    }
  if (a.full)
    {
      for (gsize i = 0; i < d; i++)
        {
          double *restrict srow = a.scatter + i * d;
          const double *restrict orow = b.scatter + i * d;

          for (gsize j = i; j < d; j++)
            srow[j] += orow[j];
        }
      if (delta_sq > 0)
        cblas_dsyr (CblasRowMajor, CblasUpper, (int)d, w, delta, 1, a.scatter, (int)d);
      *a.lower_valid = FALSE;
      /* The merge's own rounding: each element of the three terms added, and the error e
       * of δ carried through w·δδᵀ (see #HrMoments, "Rounding-error bound"). */
      delta_norm = sqrt (delta_sq);
      e = *a.mean_error + *b.mean_error;
      *a.error_bound += *b.error_bound
                        + HR_GAMMA3 * (*a.scatter_trace + *b.scatter_trace + w * delta_sq)
                        + w * (2 * delta_norm * e + e * e);
    }
  else
    {
      for (gsize j = 0; j < d; j++)
        a.scatter[j] += b.scatter[j] + w * delta[j] * delta[j];
      delta_norm = sqrt (delta_sq);
      *a.error_bound += *b.error_bound;
    }
  for (gsize j = 0; j < d; j++)
    {
      a.mean[j] += delta[j] * step;
      m_sq += a.mean[j] * a.mean[j];
    }
  *a.mean_error = (1 - step) * *a.mean_error + step * *b.mean_error
                  + HR_GAMMA3 * (sqrt (m_sq) + 2 * delta_norm);
  *a.n_samples += *b.n_samples;
  *a.scatter_trace = 0;
  for (gsize i = 0; i < d; i++)
    *a.scatter_trace += a.scatter[a.full ? i * d + i : i];
  return TRUE;
}

/* -- cross-moments ------------------------------------------------------------------------ */

void
hr_cross_moments_write (HrCrossMoments *cm, HrPartWriter *w)
{
  HrCrossMomentsState s;

  hr_cross_moments_get_state (cm, &s);
  hr_part_put_u64 (w, s.dx);
  hr_part_put_u64 (w, s.dz);
  hr_part_put_u64 (w, *s.n);
  hr_part_put_f64s (w, s.mx, s.dx);
  hr_part_put_f64s (w, s.mz, s.dz);
  hr_part_put_f64s (w, s.c, s.dx * s.dz);
}

HrCrossMoments *
hr_cross_moments_read (HrPartReader *r, GError **error)
{
  guint64 dx, dz, n;
  g_autoptr (HrCrossMoments) cm = NULL;
  HrCrossMomentsState s;

  if (!hr_part_get_u64 (r, &dx, error) || !hr_part_get_u64 (r, &dz, error)
      || !hr_part_get_u64 (r, &n, error))
    return NULL;
  if (dx == 0 || dz == 0 || dx > G_MAXINT || dz > G_MAXINT)
    {
      hr_part_corrupt (error, _ ("the part's cross-moments have an impossible shape"));
      return NULL;
    }
  if (!hr_part_reader_has (r, dx * dz + dx + dz, 8, error))
    return NULL;
  cm = hr_cross_moments_new ((gsize)dx, (gsize)dz);
  if (cm == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for the cross-moments of a part"));
      return NULL;
    }
  hr_cross_moments_get_state (cm, &s);
  *s.n = n;
  hr_part_get_f64s (r, s.mx, s.dx, NULL);
  hr_part_get_f64s (r, s.mz, s.dz, NULL);
  hr_part_get_f64s (r, s.c, s.dx * s.dz, NULL);
  if (!hr_all_finite (s.mx, s.dx) || !hr_all_finite (s.mz, s.dz)
      || !hr_all_finite (s.c, s.dx * s.dz))
    {
      hr_part_corrupt (error, _ ("the part's cross-moments hold values that are not finite"));
      return NULL;
    }
  return g_steal_pointer (&cm);
}

/* C = C_a + C_b + w·δ_x·δ_zᵀ and the means moved, as for the moments. */
gboolean
hr_cross_moments_merge (HrCrossMoments *cm, HrCrossMoments *other, GError **error)
{
  HrCrossMomentsState a, b;
  double n_a, n_b, w, step;
  g_autofree double *dx = NULL, *dz = NULL;

  hr_cross_moments_get_state (cm, &a);
  hr_cross_moments_get_state (other, &b);
  if (a.dx != b.dx || a.dz != b.dz)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH,
                   _ ("cross-moments of %zu × %zu cannot be merged with cross-moments of "
                      "%zu × %zu"),
                   a.dx, a.dz, b.dx, b.dz);
      return FALSE;
    }
  if (*b.n == 0)
    return TRUE;
  if (*a.n == 0)
    {
      memcpy (a.mx, b.mx, a.dx * sizeof (double));
      memcpy (a.mz, b.mz, a.dz * sizeof (double));
      memcpy (a.c, b.c, a.dx * a.dz * sizeof (double));
      *a.n = *b.n;
      return TRUE;
    }
  n_a = (double)*a.n;
  n_b = (double)*b.n;
  w = n_a * n_b / (n_a + n_b);
  step = n_b / (n_a + n_b);
  dx = g_new (double, a.dx);
  dz = g_new (double, a.dz);
  for (gsize j = 0; j < a.dx; j++)
    dx[j] = b.mx[j] - a.mx[j];
  for (gsize j = 0; j < a.dz; j++)
    dz[j] = b.mz[j] - a.mz[j];
  for (gsize i = 0; i < a.dx * a.dz; i++)
    a.c[i] += b.c[i];
  cblas_dger (CblasRowMajor, (int)a.dx, (int)a.dz, w, dx, 1, dz, 1, a.c, (int)a.dz);
  for (gsize j = 0; j < a.dx; j++)
    a.mx[j] += dx[j] * step;
  for (gsize j = 0; j < a.dz; j++)
    a.mz[j] += dz[j] * step;
  *a.n += *b.n;
  return TRUE;
}
