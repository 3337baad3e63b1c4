/* headrank: the principal axes of a stage: the leading eigenvectors of its covariance */
#include "hr-private.h"
#include "hr-principal-axes.h"

#include "hr-error.h"
#include "hr-moments.h"

#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

/**
 * HrPrincipalAxes:
 *
 * The k leading principal axes of N samples of dimension D: what scikit-learn's
 * `PCA(n_components=k).fit(X)` keeps, computed from the float64 accumulators of one pass
 * over the samples (their number N, their mean m and their centred scatter matrix
 * S = Σₙ (xₙ − m)(xₙ − m)ᵀ) instead of the samples themselves.
 *
 * The axes are the eigenvectors of the covariance C = S / (N − 1) that belong to its k
 * largest eigenvalues, computed in float64 with LAPACK's `dsyevr`, in descending order of
 * their eigenvalue (scikit-learn's `components_`, k × D, row-major, each of unit length).
 * hr_principal_axes_get_explained_variance() gives those eigenvalues, clamped at 0
 * (`explained_variance_`), and hr_principal_axes_get_explained_variance_ratio() their share
 * of the total variance, trace C (`explained_variance_ratio_`).
 *
 * An eigenvector is only defined up to its sign. Each axis is oriented so that its
 * component of largest absolute value is positive (the first such component when several
 * share that value): the convention of scikit-learn's `svd_flip (u_based_decision=False)`,
 * which its `PCA` has used since 1.5, so that the axes and coordinates match
 * `PCA().fit(X).components_` and `.transform(X)` exactly where the eigenvalues are distinct.
 * Axes that belong to equal eigenvalues span the same space, but any rotation within it is
 * as good an answer; neither library promises a particular one.
 *
 * hr_principal_axes_project() gives the coordinates of samples on the axes, centred on the
 * mean: yₙ = Vᵀ (xₙ − m), scikit-learn's `transform` (without whitening). For a stream too
 * large for memory, #HrPcaProjection runs the same projection over a source, a chunk at a
 * time.
 *
 * The object is immutable, reference-counted and may be read from any thread.
 *
 * Since: 0.2
 */

/* LAPACK's symmetric eigensolver for selected eigenpairs (MRRR), Fortran calling convention
 * as exported by libopenblas: every argument by reference, column-major matrices, 32-bit
 * integers (LP64), the hidden lengths of the character arguments at the end. */
extern void dsyevr_ (const char *jobz, const char *range, const char *uplo, const int *n, double *a,
                     const int *lda, const double *vl, const double *vu, const int *il,
                     const int *iu, const double *abstol, int *m, double *w, double *z,
                     const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
                     const int *liwork, int *info, size_t jobz_len, size_t range_len,
                     size_t uplo_len);

struct _HrPrincipalAxes
{
  gatomicrefcount ref_count;
  guint64 n_samples;
  gsize dimension;
  guint n_axes;
  double *mean;                     /* D */
  double *components;               /* k × D, row-major */
  double *explained_variance;       /* k */
  double *explained_variance_ratio; /* k */
};

G_DEFINE_BOXED_TYPE (HrPrincipalAxes, hr_principal_axes, hr_principal_axes_ref,
                     hr_principal_axes_unref)

static void
hr_principal_axes_free (HrPrincipalAxes *self)
{
  g_free (self->mean);
  g_free (self->components);
  g_free (self->explained_variance);
  g_free (self->explained_variance_ratio);
  g_free (self);
}

/**
 * hr_principal_axes_ref:
 * @self: a #HrPrincipalAxes
 *
 * Takes a reference.
 *
 * Returns: (transfer full): @self
 *
 * Since: 0.2
 */
HrPrincipalAxes *
hr_principal_axes_ref (HrPrincipalAxes *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * hr_principal_axes_unref:
 * @self: (transfer full): a #HrPrincipalAxes
 *
 * Drops a reference; the last one frees the axes.
 *
 * Since: 0.2
 */
void
hr_principal_axes_unref (HrPrincipalAxes *self)
{
  g_return_if_fail (self != NULL);
  if (g_atomic_ref_count_dec (&self->ref_count))
    hr_principal_axes_free (self);
}

static gboolean
hr_principal_axes_check (guint64 n_samples, gsize dimension, guint n_axes, GError **error)
{
  gsize n_bytes;

  if (dimension == 0 || dimension > G_MAXINT || !g_size_checked_mul (&n_bytes, dimension, dimension)
      || !g_size_checked_mul (&n_bytes, n_bytes, sizeof (double)))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("principal axes need a dimension from 1 to %d, not %zu"), G_MAXINT,
                   dimension);
      return FALSE;
    }
  if (n_samples < 2)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                   _ ("principal axes need at least 2 samples, there are %" PRIu64), n_samples);
      return FALSE;
    }
  if (n_axes > dimension || n_axes > n_samples)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   /* TRANSLATORS: N samples of dimension D have at most min(N, D) axes */
                   _ ("%u principal axes asked for, but %" PRIu64
                      " samples of dimension %zu have at most %" PRIu64),
                   n_axes, n_samples, dimension, MIN (n_samples, (guint64)dimension));
      return FALSE;
    }
  return TRUE;
}

static gboolean
hr_principal_axes_compute (HrPrincipalAxes *self, const double *scatter, GError **error)
{
  const int n = (int)self->dimension, il = n - (int)self->n_axes + 1, iu = n;
  const double zero = 0, abstol = 0; /* 0: LAPACK's default, the most accurate */
  gsize d = self->dimension, k = self->n_axes;
  int m = 0, lwork = -1, liwork = -1, info = 0, iwork_size = 0;
  double work_size = 0, total = 0;
  g_autofree double *a = g_try_new (double, d *d);
  g_autofree double *w = g_try_new (double, d);
  g_autofree double *z = g_try_new (double, d *k);
  g_autofree int *isuppz = g_try_new (int, 2 * k);
  g_autofree double *work = NULL;
  g_autofree int *iwork = NULL;

  if (a == NULL || w == NULL || z == NULL || isuppz == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for the principal axes of dimension %zu"), d);
      return FALSE;
    }
  for (gsize i = 0; i < d * d; i++)
    if (!isfinite (scatter[i]))
      {
        g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                     _ ("the scatter matrix holds NaN or infinite values"));
        return FALSE;
      }
  for (gsize i = 0; i < d; i++)
    total += scatter[i * d + i];
  total /= (double)(self->n_samples - 1);
  if (k == 0)
    return TRUE;

  /* S is row-major and symmetric; LAPACK reads it column-major, the same matrix, and its
   * lower triangle in that view is the upper triangle of the row-major matrix. */
  memcpy (a, scatter, d * d * sizeof (double));
  dsyevr_ ("V", "I", "L", &n, a, &n, &zero, &zero, &il, &iu, &abstol, &m, w, z, &n, isuppz,
           &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1, 1);
  if (info == 0)
    {
      lwork = MAX ((int)ceil (work_size), 1);
      liwork = MAX (iwork_size, 1);
      work = g_try_new (double, lwork);
      iwork = g_try_new (int, liwork);
      if (work == NULL || iwork == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("not enough memory for the principal axes of dimension %zu"), d);
          return FALSE;
        }
      dsyevr_ ("V", "I", "L", &n, a, &n, &zero, &zero, &il, &iu, &abstol, &m, w, z, &n, isuppz,
               work, &lwork, iwork, &liwork, &info, 1, 1, 1);
    }
  if (info != 0 || m != (int)k)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                   /* TRANSLATORS: %s is a LAPACK routine; "info" is its status code */
                   _ ("LAPACK %s failed (info = %d)"), "dsyevr", info);
      return FALSE;
    }

  /* z holds the eigenvectors as columns (column-major), eigenvalues ascending: axis i is
   * column k − 1 − i, D contiguous values. */
  for (gsize i = 0; i < k; i++)
    {
      const double *v = z + (k - 1 - i) * d;
      double *c = self->components + i * d, largest = -1, sign, lambda;
      gsize at = 0;

      for (gsize j = 0; j < d; j++)
        if (fabs (v[j]) > largest)
          {
            largest = fabs (v[j]);
            at = j;
          }
      sign = v[at] < 0 ? -1.0 : 1.0;
      for (gsize j = 0; j < d; j++)
        c[j] = sign * v[j];
      lambda = w[k - 1 - i] / (double)(self->n_samples - 1);
      if (!isfinite (lambda))
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                       _ ("LAPACK %s returned a non-finite eigenvalue"), "dsyevr");
          return FALSE;
        }
      self->explained_variance[i] = MAX (lambda, 0.0);
      self->explained_variance_ratio[i] = total > 0 ? self->explained_variance[i] / total : NAN;
    }
  return TRUE;
}

/**
 * hr_principal_axes_new: (skip)
 * @n_samples: the number of samples N, at least 2
 * @dimension: the dimension D, at least 1
 * @mean: (array): the float64 mean of the samples, D values
 * @scatter: (array): the float64 centred scatter matrix S = Σₙ (xₙ − m)(xₙ − m)ᵀ, D × D,
 *   row-major; only its upper triangle is read (it must be symmetric)
 * @n_axes: how many axes to keep, k ≤ min(N, D); 0 keeps min(N, D)
 * @error: return location for a #GError, or %NULL
 *
 * Computes the @n_axes leading principal axes of N samples from their mean and scatter
 * matrix (see #HrPrincipalAxes). Both arrays are only read during the call.
 *
 * Errors, in the %HR_ANALYSIS_ERROR domain: %HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES when N < 2,
 * %HR_ANALYSIS_ERROR_SHAPE when D is 0 or too large, %HR_ANALYSIS_ERROR_INVALID when k is
 * larger than N or D, %HR_ANALYSIS_ERROR_NO_MEMORY when the D × D matrix does not fit
 * memory, %HR_ANALYSIS_ERROR_NUMERIC when the input holds NaN or infinite values or LAPACK
 * fails.
 *
 * Returns: (transfer full) (nullable): the axes, or %NULL with @error set
 *
 * Since: 0.2
 */
HrPrincipalAxes *
hr_principal_axes_new (guint64 n_samples, gsize dimension, const double *mean,
                       const double *scatter, guint n_axes, GError **error)
{
  g_autoptr (HrPrincipalAxes) self = NULL;

  g_return_val_if_fail (mean != NULL || dimension == 0, NULL);
  g_return_val_if_fail (scatter != NULL || dimension == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (n_axes == 0 && n_samples >= 2)
    n_axes = (guint)MIN ((guint64)MIN (dimension, G_MAXUINT), n_samples);
  if (!hr_principal_axes_check (n_samples, dimension, n_axes, error))
    return NULL;
  for (gsize j = 0; j < dimension; j++)
    if (!isfinite (mean[j]))
      {
        g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                     _ ("the mean holds NaN or infinite values"));
        return NULL;
      }

  self = g_new0 (HrPrincipalAxes, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->n_samples = n_samples;
  self->dimension = dimension;
  self->n_axes = n_axes;
  self->mean = g_memdup2 (mean, dimension * sizeof (double));
  self->components = g_try_new0 (double, (gsize)n_axes *dimension);
  self->explained_variance = g_new0 (double, MAX (n_axes, 1));
  self->explained_variance_ratio = g_new0 (double, MAX (n_axes, 1));
  if (self->components == NULL && n_axes > 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for the principal axes of dimension %zu"), dimension);
      return NULL;
    }
  if (!hr_principal_axes_compute (self, scatter, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * hr_principal_axes_new_from_bytes: (constructor)
 * @n_samples: the number of samples N, at least 2
 * @dimension: the dimension D, at least 1
 * @mean: the float64 mean, D values in native byte order (8 D bytes)
 * @scatter: the float64 centred scatter matrix, D × D, row-major, in native byte order
 *   (8 D² bytes); only its upper triangle is read
 * @n_axes: how many axes to keep, k ≤ min(N, D); 0 keeps min(N, D)
 * @error: return location for a #GError, or %NULL
 *
 * hr_principal_axes_new() for bindings (from Python:
 * `GLib.Bytes.new (array.astype (numpy.float64).tobytes ())`).
 *
 * Errors: as hr_principal_axes_new(), and %HR_ANALYSIS_ERROR_SHAPE when the sizes of
 * @mean or @scatter are not 8 D and 8 D² bytes.
 *
 * Returns: (transfer full) (nullable): the axes, or %NULL with @error set
 *
 * Since: 0.2
 */
HrPrincipalAxes *
hr_principal_axes_new_from_bytes (guint64 n_samples, gsize dimension, GBytes *mean, GBytes *scatter,
                                  guint n_axes, GError **error)
{
  gsize mean_size, scatter_size;
  const void *m, *s;
  g_autofree double *m_copy = NULL, *s_copy = NULL;

  g_return_val_if_fail (mean != NULL && scatter != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  m = g_bytes_get_data (mean, &mean_size);
  s = g_bytes_get_data (scatter, &scatter_size);
  if (dimension == 0 || dimension > G_MAXINT || mean_size != dimension * sizeof (double)
      || scatter_size / dimension / sizeof (double) != dimension
      || scatter_size % (dimension * sizeof (double)) != 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   /* TRANSLATORS: the sizes are in bytes; D is the dimension */
                   _ ("A mean of %zu bytes and a scatter matrix of %zu bytes do not fit "
                      "dimension %zu (8·D and 8·D² bytes of float64)"),
                   mean_size, scatter_size, dimension);
      return NULL;
    }
  /* copies only where the bytes are not aligned for doubles */
  if ((guintptr)m % G_ALIGNOF (double) != 0)
    m = m_copy = g_memdup2 (m, mean_size);
  if ((guintptr)s % G_ALIGNOF (double) != 0)
    s = s_copy = g_memdup2 (s, scatter_size);
  return hr_principal_axes_new (n_samples, dimension, m, s, n_axes, error);
}

/**
 * hr_principal_axes_new_from_moments: (constructor)
 * @moments: the moments of a stream, with the full scatter matrix (hr_moments_new())
 * @n_axes: how many axes to keep, k ≤ min(N, D); 0 keeps min(N, D)
 * @error: return location for a #GError, or %NULL
 *
 * The principal axes of the samples added to @moments so far, for example those of a
 * stage of an analysis (hr_stage_get_moments()).
 *
 * Errors: as hr_principal_axes_new(), and %HR_ANALYSIS_ERROR_INVALID when @moments keep
 * only the diagonal of the scatter matrix (hr_moments_new_diagonal(): an analysis keeps
 * the full matrix only for the stages whose spectrum it computes from it).
 *
 * Returns: (transfer full) (nullable): the axes, or %NULL with @error set
 *
 * Since: 0.2
 */
HrPrincipalAxes *
hr_principal_axes_new_from_moments (HrMoments *moments, guint n_axes, GError **error)
{
  const double *scatter;

  g_return_val_if_fail (HR_IS_MOMENTS (moments), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  scatter = hr_moments_peek_scatter (moments);
  if (scatter == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("these moments keep only the diagonal of the scatter matrix, which "
                      "has no principal axes"));
      return NULL;
    }
  return hr_principal_axes_new (hr_moments_get_n_samples (moments),
                                hr_moments_get_dimension (moments), hr_moments_peek_mean (moments),
                                scatter, n_axes, error);
}

/**
 * hr_principal_axes_get_n_samples:
 * @self: a #HrPrincipalAxes
 *
 * Gets the number of samples N the axes were computed from.
 *
 * Returns: N
 *
 * Since: 0.2
 */
guint64
hr_principal_axes_get_n_samples (HrPrincipalAxes *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_samples;
}

/**
 * hr_principal_axes_get_dimension:
 * @self: a #HrPrincipalAxes
 *
 * Gets the dimension D of the samples.
 *
 * Returns: D
 *
 * Since: 0.2
 */
gsize
hr_principal_axes_get_dimension (HrPrincipalAxes *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->dimension;
}

/**
 * hr_principal_axes_get_n_axes:
 * @self: a #HrPrincipalAxes
 *
 * Gets the number of axes k.
 *
 * Returns: k
 *
 * Since: 0.2
 */
guint
hr_principal_axes_get_n_axes (HrPrincipalAxes *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_axes;
}

/**
 * hr_principal_axes_get_mean:
 * @self: a #HrPrincipalAxes
 * @n_values: (out) (optional): D
 *
 * Gets the mean the samples are centred on before they are projected (scikit-learn's
 * `mean_`).
 *
 * Returns: (array length=n_values) (transfer none): D float64 values, owned by @self
 *
 * Since: 0.2
 */
const double *
hr_principal_axes_get_mean (HrPrincipalAxes *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  if (n_values != NULL)
    *n_values = self->dimension;
  return self->mean;
}

/**
 * hr_principal_axes_get_components:
 * @self: a #HrPrincipalAxes
 * @n_values: (out) (optional): k × D
 *
 * Gets the axes: k rows of D float64 values, row-major, each of unit length, in
 * descending order of their variance and oriented as #HrPrincipalAxes says (scikit-learn's
 * `components_`).
 *
 * Returns: (array length=n_values) (transfer none): k × D values, owned by @self
 *
 * Since: 0.2
 */
const double *
hr_principal_axes_get_components (HrPrincipalAxes *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  if (n_values != NULL)
    *n_values = (gsize)self->n_axes * self->dimension;
  return self->components;
}

/**
 * hr_principal_axes_get_components_bytes:
 * @self: a #HrPrincipalAxes
 *
 * hr_principal_axes_get_components() as bytes, for bindings: k × D float64 values in
 * native byte order (from Python: `numpy.frombuffer (bytes.get_data (), numpy.float64)`).
 *
 * Returns: (transfer full): the axes
 *
 * Since: 0.2
 */
GBytes *
hr_principal_axes_get_components_bytes (HrPrincipalAxes *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_bytes_new (self->components, (gsize)self->n_axes * self->dimension * sizeof (double));
}

/**
 * hr_principal_axes_get_explained_variance:
 * @self: a #HrPrincipalAxes
 * @n_values: (out) (optional): k
 *
 * Gets the variance along each axis: the k largest eigenvalues of the covariance
 * S / (N − 1), descending, clamped at 0 (scikit-learn's `explained_variance_`).
 *
 * Returns: (array length=n_values) (transfer none): k values, owned by @self
 *
 * Since: 0.2
 */
const double *
hr_principal_axes_get_explained_variance (HrPrincipalAxes *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  if (n_values != NULL)
    *n_values = self->n_axes;
  return self->explained_variance;
}

/**
 * hr_principal_axes_get_explained_variance_ratio:
 * @self: a #HrPrincipalAxes
 * @n_values: (out) (optional): k
 *
 * Gets the share of the total variance (the trace of the covariance) along each axis
 * (scikit-learn's `explained_variance_ratio_`); NaN when the total variance is 0.
 *
 * Returns: (array length=n_values) (transfer none): k values, owned by @self
 *
 * Since: 0.2
 */
const double *
hr_principal_axes_get_explained_variance_ratio (HrPrincipalAxes *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  if (n_values != NULL)
    *n_values = self->n_axes;
  return self->explained_variance_ratio;
}

/* Rows centred into float64 and multiplied by the axes at a time: bounds the scratch. */
#define HR_PROJECT_BLOCK 256

/**
 * hr_principal_axes_project: (skip)
 * @self: a #HrPrincipalAxes
 * @rows: (array): @n_rows samples, D float32 values each, row-major
 * @n_rows: the number of samples
 * @coordinates: (array): room for @n_rows × k float32 values
 *
 * Projects samples onto the axes, centred on the mean: yₙ = Vᵀ (xₙ − m), computed in
 * float64 and rounded to float32 (scikit-learn's `PCA.transform`). A sample that holds a
 * NaN or an infinite value gets NaN coordinates.
 *
 * Since: 0.2
 */
void
hr_principal_axes_project (HrPrincipalAxes *self, const float *rows, gsize n_rows,
                           float *coordinates)
{
  gsize d, k;
  g_autofree double *centred = NULL, *product = NULL;

  g_return_if_fail (self != NULL);
  g_return_if_fail (rows != NULL || n_rows == 0);
  g_return_if_fail (coordinates != NULL || n_rows == 0);

  d = self->dimension;
  k = self->n_axes;
  if (n_rows == 0 || k == 0)
    return;
  centred = g_new (double, (gsize)MIN (n_rows, HR_PROJECT_BLOCK) * d);
  product = g_new (double, (gsize)MIN (n_rows, HR_PROJECT_BLOCK) * k);
  for (gsize first = 0; first < n_rows; first += HR_PROJECT_BLOCK)
    {
      gsize n = MIN (HR_PROJECT_BLOCK, n_rows - first);

      for (gsize r = 0; r < n; r++)
        {
          const float *x = rows + (first + r) * d;
          double *c = centred + r * d;

          for (gsize j = 0; j < d; j++)
            c[j] = (double)x[j] - self->mean[j];
        }
      /* n × k = (n × D) · (k × D)ᵀ */
      cblas_dgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)d, 1.0, centred,
                   (int)d, self->components, (int)d, 0.0, product, (int)k);
      for (gsize r = 0; r < n; r++)
        {
          const double *c = centred + r * d;
          gboolean finite = TRUE;

          for (gsize j = 0; j < d && finite; j++)
            finite = isfinite (c[j]);
          for (gsize a = 0; a < k; a++)
            coordinates[(first + r) * k + a] = finite ? (float)product[r * k + a] : NAN;
        }
    }
}

/**
 * hr_principal_axes_project_bytes:
 * @self: a #HrPrincipalAxes
 * @rows: samples as float32 values in native byte order, D per sample
 * @error: return location for a #GError, or %NULL
 *
 * hr_principal_axes_project() for bindings (from Python:
 * `GLib.Bytes.new (array.astype (numpy.float32).tobytes ())`; read the result with
 * `numpy.frombuffer (result.get_data (), numpy.float32).reshape (-1, k)`).
 *
 * Errors: %HR_ANALYSIS_ERROR_SHAPE when @rows is not a whole number of samples.
 *
 * Returns: (transfer full) (nullable): N × k float32 coordinates, or %NULL with @error set
 *
 * Since: 0.2
 */
GBytes *
hr_principal_axes_project_bytes (HrPrincipalAxes *self, GBytes *rows, GError **error)
{
  gsize size, n_rows, n_out;
  const void *data;
  g_autofree float *copy = NULL;
  float *out;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (rows != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (rows, &size);
  if (size % (self->dimension * sizeof (float)) != 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   /* TRANSLATORS: %zu bytes; D float32 values per sample */
                   _ ("%zu bytes are not whole samples of %zu float32 values"), size,
                   self->dimension);
      return NULL;
    }
  n_rows = size / (self->dimension * sizeof (float));
  if (data != NULL && (guintptr)data % G_ALIGNOF (float) != 0)
    data = copy = g_memdup2 (data, size);
  if (!g_size_checked_mul (&n_out, n_rows, self->n_axes)
      || (out = g_try_new (float, MAX (n_out, 1))) == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for %zu × %u coordinates"), n_rows, self->n_axes);
      return NULL;
    }
  hr_principal_axes_project (self, data, n_rows, out);
  return g_bytes_new_take (out, n_out * sizeof (float));
}
