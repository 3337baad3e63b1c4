/* headrank: the eigenvalue spectrum of a stage and the rank measures read from it */
#include "hr-private.h"
#include "hr-spectrum.h"

#include "hr-error.h"
#include "hr-measures-private.h"
#include "hr-moments.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

/**
 * HrSpectrum:
 *
 * The eigenvalue spectrum of N samples of dimension D, and the rank measures read from it.
 *
 * An #HrSpectrum is made from the float64 accumulators of one pass over the samples: the
 * number of samples N, the mean m (D values) and the centred scatter matrix
 * S = Σₙ (xₙ − m)(xₙ − m)ᵀ (D × D, full and symmetric, row-major). Everything is computed
 * once, in the constructor; the object is immutable, reference-counted and may be read
 * from any thread.
 *
 * Two spectra are computed (eigenvalues only, in float64) from one reduction of S to
 * tridiagonal form (LAPACK's `dsytrd`, after a Householder reflection that takes m to the
 * first axis) and LAPACK's `dsterf` on the tridiagonal matrix and on it with N‖m‖² added to
 * its first element:
 *
 * - the centred one, of the covariance C = S / (N − 1): its eigenvalues λ₁ ≥ … ≥ λ_D are the
 *   variances along the principal axes, scikit-learn's `PCA().explained_variance_`; the
 *   singular values of the centred N × D matrix are σₖ = √((N − 1) λₖ);
 * - the uncentred one, of the Gram matrix G = XᵀX = S + N m mᵀ of the raw N × D matrix X:
 *   its singular values are √μₖ, with μₖ the eigenvalues of G.
 *
 * Eigenvalues that come out slightly negative through rounding (a covariance cannot have
 * negative ones) are clamped to 0, and the clamped values are what every accessor returns
 * and every measure uses, as scikit-learn's PCA does (its explained variances are squares,
 * or eigenvalues clipped at 0). Only the K = min(N, D) largest values of each spectrum are
 * returned: the rank of an N × D matrix is at most K, and scikit-learn's PCA with its
 * defaults returns K components. (The centred matrix has rank at most N − 1, so when N ≤ D
 * its last value is 0 up to rounding.)
 *
 * The rank measures, each documented with its accessor: the numerical rank of the centred
 * and of the raw matrix (hr_spectrum_get_rank(), hr_spectrum_get_matrix_rank()), RankMe's
 * effective rank (hr_spectrum_get_effective_rank()), the participation ratio
 * (hr_spectrum_get_participation_ratio()), the number of components that explain a
 * fraction of the variance (hr_spectrum_get_components()) and the decay exponent α of
 * α-ReQ (hr_spectrum_get_alpha()).
 */

/* LAPACK's symmetric eigensolver (divide and conquer), Fortran calling convention as
 * exported by libopenblas: every argument by reference, column-major matrices, 32-bit
 * integers (LP64), and the hidden lengths of the character arguments at the end. */
extern void dsyevd_ (const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                     double *w, double *work, const int *lwork, int *iwork, const int *liwork,
                     int *info, size_t jobz_len, size_t uplo_len);
/* …its reduction to tridiagonal form, the eigenvalues of a tridiagonal matrix (QR without
 * square roots), and a Householder reflection (H·x = β·e₁) */
extern void dsytrd_ (const char *uplo, const int *n, double *a, const int *lda, double *d,
                     double *e, double *tau, double *work, const int *lwork, int *info,
                     size_t uplo_len);
extern void dsterf_ (const int *n, double *d, double *e, int *info);
extern void dlarfg_ (const int *n, double *alpha, double *x, const int *incx, double *tau);

/* RankMe's ε, added to every normalised singular value (Garrido et al., ICML 2023). */
#define HR_RANKME_EPSILON 1e-7

/* How close a cumulative explained variance may come below a fraction and still count as
 * reaching it, so that a fraction met exactly (up to rounding) is met. */
#define HR_COMPONENTS_SLACK 1e-12

struct _HrSpectrum
{
  gatomicrefcount ref_count;
  guint64 n_samples;
  gsize dimension;
  gsize n_components;

  /* One block of 5 × K doubles, cut into the five arrays below. */
  double *values;
  double *eigenvalues;
  double *explained_variance_ratio;
  double *cumulative_explained_variance;
  double *singular_values;
  double *uncentred_singular_values;

  double tolerance;
  double uncentred_tolerance;
  double value_error;       /* given: a bound on ‖E‖₂ of the rounding of the values */
  double scatter_error;     /* given: a bound on ‖ΔS‖₂ of the accumulation */
  double eigensolver_error; /* a bound on the eigensolver's backward error, units of S */
  double noise_floor;
  guint rank;
  guint rank_low;
  guint rank_high;
  guint matrix_rank;
  double effective_rank;
  double participation_ratio;
  double alpha;
  double alpha_r_squared;
  guint alpha_first;
  guint alpha_last;
};

G_DEFINE_BOXED_TYPE (HrSpectrum, hr_spectrum, hr_spectrum_ref, hr_spectrum_unref)

/* The one place where LAPACK's info becomes an error of our domain. */
static gboolean
hr_lapack_check (const char *routine, int info, GError **error)
{
  if (info == 0)
    return TRUE;
  if (info < 0)
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                 /* TRANSLATORS: %s is a LAPACK routine such as dsyevd; "info" is its
                  * status code, left untranslated */
                 _ ("LAPACK %s refused its argument %d (info = %d)"), routine, -info, info);
  else
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                 /* TRANSLATORS: %s is a LAPACK routine such as dsyevd; "info" is its
                  * status code, left untranslated */
                 _ ("LAPACK %s did not converge (info = %d)"), routine, info);
  return FALSE;
}

/* The @n ascending eigenvalues @w of @routine made descending, negative rounding residue
 * clamped to 0; an error if one is not finite. */
static gboolean
hr_descending_eigenvalues (double *w, gsize n, const char *routine, GError **error)
{
  for (gsize i = 0; i < n / 2; i++)
    {
      double t = w[i];
      w[i] = w[n - 1 - i];
      w[n - 1 - i] = t;
    }
  for (gsize i = 0; i < n; i++)
    {
      if (!isfinite (w[i]))
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                       /* TRANSLATORS: %s is a LAPACK routine */
                       _ ("LAPACK %s returned a non-finite eigenvalue"), routine);
          return FALSE;
        }
      if (w[i] < 0)
        w[i] = 0;
    }
  return TRUE;
}

/* The eigenvalues of the symmetric n × n matrix @a (destroyed), descending, clamped at 0,
 * into @w (n values). @a is row-major; LAPACK reads it as column-major, which for a
 * symmetric matrix is the same matrix, and reads its lower triangle in that view: the
 * upper triangle of the row-major matrix. */
static gboolean
symmetric_eigenvalues (double *a, gsize n, double *w, GError **error)
{
  const int n_int = (int)n;
  int lwork = -1, liwork = -1, info = 0, iwork_size = 0;
  double work_size = 0;
  g_autofree double *work = NULL;
  g_autofree int *iwork = NULL;

  /* Workspace query. */
  dsyevd_ ("N", "L", &n_int, a, &n_int, w, &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  if (!hr_lapack_check ("dsyevd", info, error))
    return FALSE;
  lwork = MAX ((int)ceil (work_size), 1);
  liwork = MAX (iwork_size, 1);
  work = g_new (double, lwork);
  iwork = g_new (int, liwork);

  dsyevd_ ("N", "L", &n_int, a, &n_int, w, work, &lwork, iwork, &liwork, &info, 1, 1);
  if (!hr_lapack_check ("dsyevd", info, error))
    return FALSE;
  return hr_descending_eigenvalues (w, n, "dsyevd", error);
}

static gboolean
all_finite (const double *values, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!isfinite (values[i]))
      return FALSE;
  return TRUE;
}

/* α-ReQ's least-squares fit of log λᵢ = c − α log i over i = 1 … last (1-based). */
static void
fit_alpha (HrSpectrum *self, gsize last)
{
  double mean_x = 0, mean_y = 0, sxx = 0, sxy = 0, syy = 0, slope, ss_res = 0;

  self->alpha = NAN;
  self->alpha_r_squared = NAN;
  self->alpha_first = 0;
  self->alpha_last = 0;
  if (last < 3)
    return;

  for (gsize i = 0; i < last; i++)
    {
      mean_x += log ((double)(i + 1));
      mean_y += log (self->eigenvalues[i]);
    }
  mean_x /= (double)last;
  mean_y /= (double)last;
  for (gsize i = 0; i < last; i++)
    {
      double dx = log ((double)(i + 1)) - mean_x;
      double dy = log (self->eigenvalues[i]) - mean_y;

      sxx += dx * dx;
      sxy += dx * dy;
      syy += dy * dy;
    }
  slope = sxy / sxx;
  for (gsize i = 0; i < last; i++)
    {
      double fitted = mean_y + slope * (log ((double)(i + 1)) - mean_x);
      double residual = log (self->eigenvalues[i]) - fitted;

      ss_res += residual * residual;
    }

  self->alpha = -slope;
  self->alpha_r_squared = syy > 0 ? 1.0 - ss_res / syy : 1.0;
  self->alpha_first = 1;
  self->alpha_last = (guint)last;
}

/* -- the rank tolerance and the rank's range (doc/analysis.md, "The rank tolerance") ------ */

#define HR_U64 (1.0 / 9007199254740992.0) /* 2⁻⁵³, float64 unit roundoff */
#define HR_U32 (1.0 / 16777216.0)         /* 2⁻²⁴, float32 unit roundoff */
#define HR_A32 0x1p-150                   /* half of float32's subnormal spacing 2⁻¹⁴⁹ */

/* ‖X‖_F of the raw N × D matrix from its moments: ‖X‖_F² = trace(S) + N·‖m‖². */
double
hr_moments_frobenius_norm (guint64 n_samples, gsize dimension, const double *mean,
                           const double *scatter)
{
  double trace = 0, mean_sq = 0;

  for (gsize i = 0; i < dimension; i++)
    {
      trace += MAX (scatter[i * dimension + i], 0.0);
      mean_sq += mean[i] * mean[i];
    }
  return sqrt (trace + (double)n_samples * mean_sq);
}

/* The squared error bound δ on the eigenvalues of S (Weyl: |λ̂ₖ − λₖ| ≤ ‖ΔS‖₂): the
 * accumulation's and the eigensolver's. */
static double
hr_spectrum_eigenvalue_error (HrSpectrum *self)
{
  return self->scatter_error + self->eigensolver_error;
}

/* The noise floor ν: the size that rounding noise typically reaches. Rounding errors of
 * relative size ≤ u are spread about uniformly, with an rms of about e/√(3ND) per value when
 * e = u·‖X‖_F; the largest singular value of an N × D matrix of such independent errors is
 * about rms·(√N + √D) (the edge of the Marchenko–Pastur law): twice that. A sum of b
 * rounded terms typically errs by √b·u, not the b·u of the bound (Higham and Mary, SIAM J.
 * Sci. Comput. 2019): the accumulation's δ_S over √b for the largest b, 2,048; the
 * eigensolver's D·u₆₄·‖S‖ over D. */
static double
hr_spectrum_typical_floor (HrSpectrum *self)
{
  double n = (double)self->n_samples, d = (double)self->dimension;
  double typical = 2.0 * self->value_error * (1.0 / sqrt (d) + 1.0 / sqrt (n)) / sqrt (3.0);

  return sqrt (MIN (typical * typical, self->value_error * self->value_error)
               + self->scatter_error / sqrt ((double)HR_MOMENTS_CHUNK_ROWS)
               + self->eigensolver_error / d);
}

/* τ = √(e² + δ): the largest value that a singular value which is exactly 0 can be computed
 * as (worst case). The rank counts the centred singular values above τ, among the first
 * min(K, N − 1) (a centred matrix has rank at most N − 1). Its range reaches from the rank
 * to the count above the noise floor ν ≤ τ: values between ν and τ may be signal or
 * rounding. */
static void
hr_spectrum_count_rank (HrSpectrum *self)
{
  gsize limit = MIN (self->n_components, (gsize)MIN (self->n_samples - 1, (guint64)G_MAXSIZE));

  self->tolerance
      = sqrt (self->value_error * self->value_error + hr_spectrum_eigenvalue_error (self));
  self->noise_floor = hr_spectrum_typical_floor (self);
  self->rank = self->rank_high = 0;
  for (gsize i = 0; i < limit; i++)
    {
      self->rank += self->singular_values[i] > self->tolerance;
      self->rank_high += self->singular_values[i] > self->noise_floor;
    }
  self->rank_low = self->rank;
}

/* The measures, from the eigenvalues @w of the covariance S / (N − 1) and @wu of the
 * uncentred Gram matrix XᵀX, both descending and clamped at 0, @n_w ≥ K values each (the
 * values beyond are 0): from the D × D matrices (@n_w = D), or from the N × N Gram matrices
 * of a wide stack (hr_spectrum_new_from_rows(), @n_w = N), whose nonzero eigenvalues are the
 * same. @n_w is also the order of the matrices the eigensolver saw. */
static void
hr_spectrum_measure (HrSpectrum *self, const double *w, const double *wu, gsize n_w)
{
  const gsize d = self->dimension, k = self->n_components;
  const double n = (double)self->n_samples;
  const double max_n_d = MAX (n, (double)d);
  double total = 0, sum_squares = 0, running = 0, singular_sum = 0, entropy = 0;

  for (gsize i = 0; i < n_w; i++)
    {
      total += w[i];
      sum_squares += w[i] * w[i];
    }
  for (gsize i = 0; i < k; i++)
    {
      self->eigenvalues[i] = w[i];
      running += w[i];
      self->explained_variance_ratio[i] = w[i] / total; /* NaN when there is no variance */
      self->cumulative_explained_variance[i] = running / total;
      self->singular_values[i] = sqrt ((n - 1) * w[i]);
    }
  self->participation_ratio = total * total / sum_squares;
  /* the reduction and dsterf are backward stable: the eigenvalues are those of S + E with
   * ‖E‖₂ ≤ p(D)·u₆₄·‖S‖₂; we take p(D) = D (see doc/analysis.md), D the order of the
   * matrix reduced. */
  self->eigensolver_error = (double)n_w * HR_U64 * (n - 1) * w[0];

  hr_spectrum_count_rank (self);
  fit_alpha (self, self->rank);

  for (gsize i = 0; i < k; i++)
    {
      self->uncentred_singular_values[i] = sqrt (wu[i]);
      singular_sum += self->uncentred_singular_values[i];
    }
  /* numpy's rule, kept for comparison with numpy (see hr_spectrum_get_matrix_rank()) */
  self->uncentred_tolerance = self->uncentred_singular_values[0] * max_n_d * FLT_EPSILON;
  /* … raised to the accumulation's noise floor where that is larger (float32 products) */
  self->uncentred_tolerance
      = MAX (self->uncentred_tolerance, sqrt (self->scatter_error + (double)n_w * HR_U64 * wu[0]));
  self->matrix_rank = 0;
  for (gsize i = 0; i < k; i++)
    if (self->uncentred_singular_values[i] > self->uncentred_tolerance)
      self->matrix_rank++;

  /* RankMe: p = σ / ‖σ‖₁ + ε, exp of the entropy of p; NaN for an all-zero matrix. */
  for (gsize i = 0; i < k; i++)
    {
      double p = self->uncentred_singular_values[i] / singular_sum + HR_RANKME_EPSILON;

      entropy -= p * log (p);
    }
  self->effective_rank = exp (entropy);
}

/* The eigenvalues of a symmetric tridiagonal matrix (diagonal @d, n values, off-diagonal
 * @e, n − 1, both destroyed) by `dsterf`, descending, clamped at 0, into @d. */
static gboolean
tridiagonal_eigenvalues (double *d, double *e, gsize n, GError **error)
{
  const int n_int = (int)n;
  int info = 0;

  dsterf_ (&n_int, d, e, &info);
  if (!hr_lapack_check ("dsterf", info, error))
    return FALSE;
  return hr_descending_eigenvalues (d, n, "dsterf", error);
}

/* One tridiagonal eigenvalue problem on a thread of its own. */
typedef struct
{
  double *d, *e;
  gsize n;
  gboolean ok;
  GError *error;
} HrTridiagonalTask;

static gpointer
hr_tridiagonal_thread (gpointer data)
{
  HrTridiagonalTask *task = data;

  task->ok = tridiagonal_eigenvalues (task->d, task->e, task->n, &task->error);
  return NULL;
}

/* Reduces the symmetric @n × @n matrix @a (row-major, its upper triangle read; destroyed)
 * with the mean @m to the tridiagonal T = Qᵀ H A H Q: diagonal @d (n values), off-diagonal
 * @e (n − 1), and returns β² with H m = β e₁. H = I − τ v vᵀ is the Householder reflection
 * that takes m to β e₁ (`dlarfg`), applied on both sides as LAPACK's `dsytd2` applies its
 * reflections (`dsymv`, then the rank-2 update `dsyr2`), and Q is `dsytrd`'s, whose
 * reflections leave the first coordinate alone (Q e₁ = e₁, UPLO = "L"). So, with
 * U = A + N m mᵀ, Qᵀ H U H Q = T + N β² e₁ e₁ᵀ: the same tridiagonal matrix but for its
 * first element, and one reduction gives the eigenvalues of both A and U. */
static gboolean
hr_tridiagonal_with_mean (double *a, const double *mean, gsize n, double *d, double *e,
                          double *beta_sq, GError **error)
{
  const int n_int = (int)n, one = 1;
  int lwork = -1, info = 0;
  double work_size = 0, tau = 0, beta;
  g_autofree double *v = g_memdup2 (mean, n * sizeof (double));
  g_autofree double *tau_q = g_new (double, MAX (n, 2) - 1);
  g_autofree double *work = NULL;

  /* H m = β e₁ (v₁ = 1 implied, v₂ … v_n in v[1 …]) */
  beta = v[0];
  dlarfg_ (&n_int, &beta, v + 1, &one, &tau);
  *beta_sq = beta * beta;
  if (tau != 0)
    {
      /* A ← H A H = A − v wᵀ − w vᵀ, with p = τ A v and w = p − (τ/2)(pᵀv) v; in LAPACK's
       * column-major view of @a, the lower triangle */
      g_autofree double *w = g_new (double, n);

      v[0] = 1;
      cblas_dsymv (CblasColMajor, CblasLower, n_int, tau, a, n_int, v, 1, 0.0, w, 1);
      cblas_daxpy (n_int, -0.5 * tau * cblas_ddot (n_int, w, 1, v, 1), v, 1, w, 1);
      cblas_dsyr2 (CblasColMajor, CblasLower, n_int, -1.0, v, 1, w, 1, a, n_int);
    }

  dsytrd_ ("L", &n_int, a, &n_int, d, e, tau_q, &work_size, &lwork, &info, 1);
  if (!hr_lapack_check ("dsytrd", info, error))
    return FALSE;
  lwork = MAX ((int)ceil (work_size), 1);
  work = g_new (double, lwork);
  dsytrd_ ("L", &n_int, a, &n_int, d, e, tau_q, work, &lwork, &info, 1);
  return hr_lapack_check ("dsytrd", info, error);
}

/* The eigenvalues of the covariance S / (N − 1) (centred) and of the Gram matrix
 * G = XᵀX = S + N m mᵀ (uncentred), from one reduction of S to tridiagonal form
 * (hr_tridiagonal_with_mean()): the centred values are those of T / (N − 1), the
 * uncentred ones those of T with N β² added to its first element. The reduction is the
 * O(D³) part (`dsytrd`, half of it matrix-vector products bound by memory); each `dsterf`
 * is O(D²). With @two_threads the uncentred values are found on a thread of their own
 * while the centred ones are. */
static gboolean
hr_spectrum_compute (HrSpectrum *self, const double *mean, const double *scatter,
                     gboolean two_threads, GError **error)
{
  const gsize d = self->dimension;
  const double n = (double)self->n_samples;
  g_autofree double *matrix = g_memdup2 (scatter, d * d * sizeof (double));
  g_autofree double *w = g_new (double, d);
  g_autofree double *wu = g_new (double, d);
  g_autofree double *e = g_new (double, d);
  g_autofree double *eu = g_new (double, d);
  HrTridiagonalTask task = { wu, eu, d, FALSE, NULL };
  GThread *thread = NULL;
  double beta_sq;
  gboolean ok;

  if (!hr_tridiagonal_with_mean (matrix, mean, d, w, e, &beta_sq, error))
    return FALSE;
  /* Uncentred: T + N β² e₁ e₁ᵀ, where N β² = N ‖m‖² is the trace of N m mᵀ */
  memcpy (wu, w, d * sizeof (double));
  memcpy (eu, e, (d - 1) * sizeof (double));
  wu[0] += n * beta_sq;
  if (!isfinite (wu[0]))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                   _ ("The uncentred Gram matrix overflows: the mean is too large"));
      return FALSE;
    }
  if (two_threads)
    thread = g_thread_try_new ("headrank-eigen", hr_tridiagonal_thread, &task, NULL);

  /* Centred: T / (N − 1) */
  for (gsize i = 0; i < d; i++)
    w[i] /= n - 1;
  for (gsize i = 0; i + 1 < d; i++)
    e[i] /= n - 1;
  ok = tridiagonal_eigenvalues (w, e, d, error);
  if (thread != NULL)
    g_thread_join (thread);
  else if (ok)
    task.ok = tridiagonal_eigenvalues (wu, eu, d, &task.error);
  if (ok && !task.ok)
    g_propagate_error (error, g_steal_pointer (&task.error));
  g_clear_error (&task.error);
  if (!ok || !task.ok)
    return FALSE;
  hr_spectrum_measure (self, w, wu, d);
  return TRUE;
}

/* An empty spectrum of N samples of dimension D, its K = min(N, D) values zeroed. */
static HrSpectrum *
hr_spectrum_alloc (guint64 n_samples, gsize dimension, double value_error, double scatter_error)
{
  HrSpectrum *self = g_new0 (HrSpectrum, 1);
  gsize k = n_samples < (guint64)dimension ? (gsize)n_samples : dimension;

  g_atomic_ref_count_init (&self->ref_count);
  self->n_samples = n_samples;
  self->dimension = dimension;
  self->n_components = k;
  self->values = g_new0 (double, 5 * k);
  self->eigenvalues = self->values;
  self->explained_variance_ratio = self->values + k;
  self->cumulative_explained_variance = self->values + 2 * k;
  self->singular_values = self->values + 3 * k;
  self->uncentred_singular_values = self->values + 4 * k;
  self->value_error = value_error;
  self->scatter_error = scatter_error;
  return self;
}

/* NaN value error: the default (float32 values), for hr_spectrum_new(). */
static gboolean
check_errors (double value_error, double scatter_error, GError **error)
{
  if ((isnan (value_error) || (value_error >= 0 && isfinite (value_error))) && scatter_error >= 0
      && isfinite (scatter_error))
    return TRUE;
  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
               /* TRANSLATORS: the two error bounds given to a spectrum */
               _ ("The error bounds of a spectrum must be finite and not negative, not %g and %g"),
               value_error, scatter_error);
  return FALSE;
}

static HrSpectrum *
hr_spectrum_new_internal (guint64 n_samples, gsize dimension, const double *mean,
                          const double *scatter, double value_error, double scatter_error,
                          gboolean two_threads, GError **error)
{
  g_autoptr (HrSpectrum) self = NULL;

  if (n_samples < 2)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                   _ ("A spectrum needs at least 2 samples, not %llu"),
                   (unsigned long long)n_samples);
      return NULL;
    }
  if (!all_finite (mean, dimension) || !all_finite (scatter, dimension * dimension))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                   _ ("The mean or the scatter matrix holds NaN or infinite values"));
      return NULL;
    }

  if (!check_errors (value_error, scatter_error, error))
    return NULL;
  if (isnan (value_error)) /* float32 values: their rounding, relative and absolute */
    value_error = HR_U32 * hr_moments_frobenius_norm (n_samples, dimension, mean, scatter)
                  + sqrt ((double)n_samples * (double)dimension) * HR_A32;

  self = hr_spectrum_alloc (n_samples, dimension, value_error, scatter_error);
  if (!hr_spectrum_compute (self, mean, scatter, two_threads, error))
    return NULL;
  return g_steal_pointer (&self);
}

/* The dimension must fit LAPACK's 32-bit integers and D × D doubles must fit memory's
 * address space. */
static gboolean
check_dimension (gsize dimension, GError **error)
{
  gsize n_bytes;

  if (dimension == 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("A spectrum needs a dimension of at least 1"));
      return FALSE;
    }
  if (dimension > G_MAXINT || !g_size_checked_mul (&n_bytes, dimension, dimension)
      || !g_size_checked_mul (&n_bytes, n_bytes, sizeof (double)))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("A dimension of %zu is too large for a scatter matrix"), dimension);
      return FALSE;
    }
  return TRUE;
}

/**
 * hr_spectrum_new: (skip)
 * @n_samples: the number of samples N, at least 2
 * @dimension: the dimension D, at least 1
 * @mean: (array): the float64 mean of the samples, D values
 * @scatter: (array): the float64 centred scatter matrix S = Σₙ (xₙ − m)(xₙ − m)ᵀ, D × D,
 *   row-major; only its upper triangle is read (it must be symmetric)
 * @error: return location for a #GError, or %NULL
 *
 * Computes the spectrum of N samples from their mean and scatter matrix, as accumulated by
 * one pass over the samples. Both arrays are only read during the call.
 *
 * Errors, in the %HR_ANALYSIS_ERROR domain: %HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES when N < 2,
 * %HR_ANALYSIS_ERROR_SHAPE when D is 0 (or too large), %HR_ANALYSIS_ERROR_NO_MEMORY when
 * its matrices do not fit memory, %HR_ANALYSIS_ERROR_NUMERIC when the input holds NaN or
 * infinite values or LAPACK fails.
 *
 * Returns: (transfer full) (nullable): the spectrum, or %NULL with @error set
 */
HrSpectrum *
hr_spectrum_new (guint64 n_samples, gsize dimension, const double *mean, const double *scatter,
                 GError **error)
{
  g_return_val_if_fail (mean != NULL || dimension == 0, NULL);
  g_return_val_if_fail (scatter != NULL || dimension == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_dimension (dimension, error))
    return NULL;
  return hr_spectrum_new_internal (n_samples, dimension, mean, scatter, NAN, 0.0, FALSE, error);
}

/* The float64 values of @bytes, suitably aligned: its own data, or a copy in @copy. */
static const double *
aligned_doubles (GBytes *bytes, double **copy)
{
  gsize size;
  const void *data = g_bytes_get_data (bytes, &size);

  if (((guintptr)data % G_ALIGNOF (double)) == 0)
    return data;
  *copy = g_malloc (size);
  memcpy (*copy, data, size);
  return *copy;
}

static gboolean
check_sizes (gsize dimension, GBytes *mean, GBytes *scatter, GError **error)
{
  if (g_bytes_get_size (mean) == dimension * sizeof (double)
      && g_bytes_get_size (scatter) == dimension * dimension * sizeof (double))
    return TRUE;
  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
               /* TRANSLATORS: the sizes are in bytes; D is the dimension */
               _ ("A mean of %zu bytes and a scatter matrix of %zu bytes do not fit "
                  "dimension %zu (8·D and 8·D² bytes of float64)"),
               g_bytes_get_size (mean), g_bytes_get_size (scatter), dimension);
  return FALSE;
}

/**
 * hr_spectrum_new_from_bytes: (constructor)
 * @n_samples: the number of samples N, at least 2
 * @dimension: the dimension D, at least 1
 * @mean: the float64 mean of the samples, D values in native byte order (8 D bytes)
 * @scatter: the float64 centred scatter matrix S = Σₙ (xₙ − m)(xₙ − m)ᵀ, D × D, row-major,
 *   in native byte order (8 D² bytes); only its upper triangle is read
 * @error: return location for a #GError, or %NULL
 *
 * Computes the spectrum of N samples from their mean and scatter matrix, given as bytes
 * (from Python: `GLib.Bytes.new (array.astype (numpy.float64).tobytes ())`).
 *
 * Errors, in the %HR_ANALYSIS_ERROR domain: as hr_spectrum_new(), and
 * %HR_ANALYSIS_ERROR_SHAPE when the sizes of @mean or @scatter are not 8 D and 8 D² bytes.
 *
 * Returns: (transfer full) (nullable): the spectrum, or %NULL with @error set
 */
HrSpectrum *
hr_spectrum_new_from_bytes (guint64 n_samples, gsize dimension, GBytes *mean, GBytes *scatter,
                            GError **error)
{
  g_autofree double *mean_copy = NULL, *scatter_copy = NULL;
  const double *mean_values, *scatter_values;

  g_return_val_if_fail (mean != NULL, NULL);
  g_return_val_if_fail (scatter != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_dimension (dimension, error))
    return NULL;
  if (!check_sizes (dimension, mean, scatter, error))
    return NULL;

  mean_values = aligned_doubles (mean, &mean_copy);
  scatter_values = aligned_doubles (scatter, &scatter_copy);
  return hr_spectrum_new_internal (n_samples, dimension, mean_values, scatter_values, NAN, 0.0,
                                   FALSE, error);
}

/**
 * hr_spectrum_new_with_errors: (skip)
 * @n_samples: the number of samples N, at least 2
 * @dimension: the dimension D, at least 1
 * @mean: (array): the float64 mean of the samples, D values
 * @scatter: (array): the float64 centred scatter matrix, D × D, row-major (as
 *   hr_spectrum_new())
 * @value_error: a bound e on the spectral norm ‖E‖₂ of the error of the N × D values
 *   themselves (their rounding when stored, and the rounding of the layers that computed
 *   them), in units of singular values; 0 for exact values
 * @scatter_error: a bound δ on ‖ΔS‖₂, the error of the accumulated scatter matrix, in
 *   units of S (hr_moments_get_error_bound()); 0 for an exact one
 * @error: return location for a #GError, or %NULL
 *
 * Computes the spectrum as hr_spectrum_new() does, with the rank tolerance derived from
 * the given error bounds (see hr_spectrum_get_tolerance()). hr_spectrum_new() is this with
 * e = 2⁻²⁴·‖X‖_F + √(N·D)·2⁻¹⁵⁰ (float32 values, rounded once: relatively, and absolutely by
 * at most half the subnormal spacing 2⁻¹⁴⁹) and δ = 0.
 *
 * Errors: as hr_spectrum_new(), and %HR_ANALYSIS_ERROR_NUMERIC when a bound is negative or
 * not finite.
 *
 * Returns: (transfer full) (nullable): the spectrum, or %NULL with @error set
 *
 * Since: 0.2
 */
HrSpectrum *
hr_spectrum_new_with_errors (guint64 n_samples, gsize dimension, const double *mean,
                             const double *scatter, double value_error, double scatter_error,
                             GError **error)
{
  g_return_val_if_fail (mean != NULL || dimension == 0, NULL);
  g_return_val_if_fail (scatter != NULL || dimension == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return hr_spectrum_new_with_errors_full (n_samples, dimension, mean, scatter, value_error,
                                           scatter_error, FALSE, error);
}

/* hr_spectrum_new_with_errors() with, when @two_threads, the uncentred values found on a
 * second thread while the centred ones are (hr_spectrum_compute()). */
HrSpectrum *
hr_spectrum_new_with_errors_full (guint64 n_samples, gsize dimension, const double *mean,
                                  const double *scatter, double value_error, double scatter_error,
                                  gboolean two_threads, GError **error)
{
  if (!check_dimension (dimension, error)
      || !check_errors (isnan (value_error) ? -1.0 : value_error, scatter_error, error))
    return NULL;
  return hr_spectrum_new_internal (n_samples, dimension, mean, scatter, value_error, scatter_error,
                                   two_threads, error);
}

/**
 * hr_spectrum_new_from_bytes_with_errors: (constructor)
 * @n_samples: the number of samples N, at least 2
 * @dimension: the dimension D, at least 1
 * @mean: the float64 mean, 8 D bytes in native byte order
 * @scatter: the float64 centred scatter matrix, 8 D² bytes in native byte order
 * @value_error: a bound on ‖E‖₂ of the error of the values (see
 *   hr_spectrum_new_with_errors())
 * @scatter_error: a bound on ‖ΔS‖₂ of the accumulated scatter matrix
 * @error: return location for a #GError, or %NULL
 *
 * hr_spectrum_new_with_errors() with the arrays given as bytes, as
 * hr_spectrum_new_from_bytes().
 *
 * Returns: (transfer full) (nullable): the spectrum, or %NULL with @error set
 *
 * Since: 0.2
 */
HrSpectrum *
hr_spectrum_new_from_bytes_with_errors (guint64 n_samples, gsize dimension, GBytes *mean,
                                        GBytes *scatter, double value_error, double scatter_error,
                                        GError **error)
{
  g_autofree double *mean_copy = NULL, *scatter_copy = NULL;

  g_return_val_if_fail (mean != NULL, NULL);
  g_return_val_if_fail (scatter != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_dimension (dimension, error) || !check_sizes (dimension, mean, scatter, error)
      || !check_errors (isnan (value_error) ? -1.0 : value_error, scatter_error, error))
    return NULL;
  return hr_spectrum_new_internal (n_samples, dimension, aligned_doubles (mean, &mean_copy),
                                   aligned_doubles (scatter, &scatter_copy), value_error,
                                   scatter_error, FALSE, error);
}

/**
 * hr_spectrum_ref:
 * @self: a #HrSpectrum
 *
 * Acquires a reference on @self.
 *
 * Returns: (transfer full): @self, with one more reference
 */
HrSpectrum *
hr_spectrum_ref (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * hr_spectrum_unref:
 * @self: (transfer full): a #HrSpectrum
 *
 * Drops a reference; frees @self when it was the last.
 */
void
hr_spectrum_unref (HrSpectrum *self)
{
  g_return_if_fail (self != NULL);
  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      g_free (self->values);
      g_free (self);
    }
}

/**
 * hr_spectrum_get_n_samples:
 * @self: a #HrSpectrum
 *
 * Gets the number of samples N.
 *
 * Returns: the number of samples N
 */
guint64
hr_spectrum_get_n_samples (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_samples;
}

/**
 * hr_spectrum_get_dimension:
 * @self: a #HrSpectrum
 *
 * Gets the dimension D.
 *
 * Returns: the dimension D
 */
gsize
hr_spectrum_get_dimension (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->dimension;
}

/**
 * hr_spectrum_get_n_components:
 * @self: a #HrSpectrum
 *
 * Gets the number of components K = min(N, D), the length of every array of the spectrum.
 *
 * Returns: K = min(N, D), the length of every array of the spectrum
 */
gsize
hr_spectrum_get_n_components (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->n_components;
}

static const double *
get_array (const double *values, gsize n_components, gsize *n_values)
{
  if (n_values != NULL)
    *n_values = n_components;
  return values;
}

/**
 * hr_spectrum_get_eigenvalues:
 * @self: a #HrSpectrum
 * @n_values: (out) (optional): the number of values, K = min(N, D)
 *
 * The K largest eigenvalues λ₁ ≥ … ≥ λ_K of the covariance C = S / (N − 1) (unbiased,
 * ddof = 1), clamped at 0: the variances along the principal axes, scikit-learn's
 * `PCA().fit(x).explained_variance_`.
 *
 * Returns: (array length=n_values) (transfer none): the eigenvalues, descending
 */
const double *
hr_spectrum_get_eigenvalues (HrSpectrum *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  return get_array (self->eigenvalues, self->n_components, n_values);
}

/**
 * hr_spectrum_get_explained_variance_ratio:
 * @self: a #HrSpectrum
 * @n_values: (out) (optional): the number of values, K = min(N, D)
 *
 * The fraction of the total variance along each principal axis, λₖ / Σᵢ λᵢ, the sum over
 * all D (clamped) eigenvalues: scikit-learn's `PCA().explained_variance_ratio_`. NaN when
 * the samples have no variance at all (all equal).
 *
 * Returns: (array length=n_values) (transfer none): the ratios, descending
 */
const double *
hr_spectrum_get_explained_variance_ratio (HrSpectrum *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  return get_array (self->explained_variance_ratio, self->n_components, n_values);
}

/**
 * hr_spectrum_get_cumulative_explained_variance:
 * @self: a #HrSpectrum
 * @n_values: (out) (optional): the number of values, K = min(N, D)
 *
 * The running sums of hr_spectrum_get_explained_variance_ratio(): the fraction of the
 * variance explained by the first 1, 2, … K principal axes. NaN when the samples have no
 * variance.
 *
 * Returns: (array length=n_values) (transfer none): the cumulative ratios, ascending
 */
const double *
hr_spectrum_get_cumulative_explained_variance (HrSpectrum *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  return get_array (self->cumulative_explained_variance, self->n_components, n_values);
}

/**
 * hr_spectrum_get_singular_values:
 * @self: a #HrSpectrum
 * @n_values: (out) (optional): the number of values, K = min(N, D)
 *
 * The singular values of the centred N × D matrix X − 1mᵀ, σₖ = √((N − 1) λₖ):
 * scikit-learn's `PCA().singular_values_`, `numpy.linalg.svd (x - x.mean (0),
 * compute_uv=False)`.
 *
 * Returns: (array length=n_values) (transfer none): the singular values, descending
 */
const double *
hr_spectrum_get_singular_values (HrSpectrum *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  return get_array (self->singular_values, self->n_components, n_values);
}

/**
 * hr_spectrum_get_uncentred_singular_values:
 * @self: a #HrSpectrum
 * @n_values: (out) (optional): the number of values, K = min(N, D)
 *
 * The singular values of the raw, uncentred N × D matrix X, √μₖ with μₖ the eigenvalues of
 * the Gram matrix XᵀX = S + N m mᵀ (clamped at 0): `numpy.linalg.svd (x,
 * compute_uv=False)`. Computed from the Gram matrix, a value below about 10⁻⁸ of the
 * largest is not resolved (it carries an absolute error of that order).
 *
 * Returns: (array length=n_values) (transfer none): the singular values, descending
 */
const double *
hr_spectrum_get_uncentred_singular_values (HrSpectrum *self, gsize *n_values)
{
  g_return_val_if_fail (self != NULL, NULL);
  return get_array (self->uncentred_singular_values, self->n_components, n_values);
}

/**
 * hr_spectrum_get_tolerance:
 * @self: a #HrSpectrum
 *
 * The tolerance of hr_spectrum_get_rank(), from what the numbers can resolve:
 *
 *     τ = √(e² + δ_S + δ_eig)
 *
 * the largest value that a singular value which is exactly 0 can be computed as. e is
 * the bound on the error of the values (hr_spectrum_get_value_error(): their rounding
 * when stored and the head's rounding), δ_S the bound on the error of the accumulated
 * scatter matrix (hr_spectrum_get_scatter_error()) and δ_eig that of the eigensolver
 * (hr_spectrum_get_eigensolver_error()); an eigenvalue error δ leaves a singular value
 * unresolved below √δ (Weyl). For samples of one distribution e and √δ_eig grow as √N, as
 * the singular values do; √δ_S of #HrMoments grows faster (its sequential merges), by a
 * factor of 2.8 relative to σ₁ from N = 10³ to 2²³ in doc/analysis.md's measurement, too
 * little to change the rank. See doc/analysis.md.
 *
 * Before 0.2 this was numpy's σ₁·max(N, D)·ε₃₂, which grows with N (at N = 10⁶ it is 12 %
 * of σ₁); that rule is kept for hr_spectrum_get_matrix_rank() only.
 *
 * Returns: the tolerance, in units of singular values
 */
double
hr_spectrum_get_tolerance (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->tolerance;
}

/**
 * hr_spectrum_get_uncentred_tolerance:
 * @self: a #HrSpectrum
 *
 * The tolerance of hr_spectrum_get_matrix_rank(): σ₁ · max(N, D) · `FLT_EPSILON` on the
 * uncentred singular values, numpy's rule, for comparison with numpy only: it grows with N
 * and is not what the rank is judged by (hr_spectrum_get_tolerance()). Where the
 * accumulation's noise floor √(δ_S + D·2⁻⁵³·μ₁) (μ₁ the largest eigenvalue of the Gram
 * matrix) is larger, as with float32 products on a short stack, the tolerance is raised to
 * it, since numpy would not see that noise.
 *
 * Returns: the tolerance, in units of singular values
 */
double
hr_spectrum_get_uncentred_tolerance (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->uncentred_tolerance;
}

/**
 * hr_spectrum_get_rank:
 * @self: a #HrSpectrum
 *
 * The numerical rank of the centred matrix: the number of centred singular values
 * σₖ > hr_spectrum_get_tolerance(), among the first min(N − 1, D) (a centred matrix of N
 * rows has rank at most N − 1). The rank that headrank judges by; how sure it is, is
 * hr_spectrum_get_rank_range().
 *
 * Returns: the rank, at most min(N − 1, D)
 */
guint
hr_spectrum_get_rank (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->rank;
}

/**
 * hr_spectrum_get_matrix_rank:
 * @self: a #HrSpectrum
 *
 * The numerical rank of the raw, uncentred matrix by numpy's rule, for comparison with
 * numpy: the number of uncentred singular values above
 * hr_spectrum_get_uncentred_tolerance(), as `numpy.linalg.matrix_rank (x)` for a float32
 * array `x` (what VisCy's scripts print). Its tolerance grows with N, so for tall stacks
 * it undercounts (1,000,000 samples of 64 well-resolved dimensions give 39); judge by
 * hr_spectrum_get_rank(). A large common offset of the
 * samples makes this differ from hr_spectrum_get_rank(): the offset adds a direction, and
 * raises σ₁ and with it the tolerance.
 *
 * Returns: the rank, at most min(N, D)
 */
guint
hr_spectrum_get_matrix_rank (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->matrix_rank;
}

/**
 * hr_spectrum_get_effective_rank:
 * @self: a #HrSpectrum
 *
 * RankMe, the smooth effective rank of Garrido, Balestriero, Najman and LeCun ("RankMe:
 * Assessing the downstream performance of pretrained self-supervised representations by
 * their rank", ICML 2023), over the K uncentred singular values σₖ (of the raw embeddings,
 * as the paper computes it):
 *
 *     pₖ = σₖ / Σᵢ σᵢ + ε,   ε = 10⁻⁷,   RankMe = exp (−Σₖ pₖ log pₖ)
 *
 * It builds on the effective rank of Roy and Vetterli ("The effective rank: a measure of
 * effective dimensionality", EUSIPCO 2007), which has no ε. NaN when every value is 0.
 *
 * Returns: the effective rank, between about 1 and K
 */
double
hr_spectrum_get_effective_rank (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->effective_rank;
}

/**
 * hr_spectrum_get_participation_ratio:
 * @self: a #HrSpectrum
 *
 * The participation ratio of the covariance eigenvalues (all D, clamped at 0),
 *
 *     PR = (Σᵢ λᵢ)² / Σᵢ λᵢ²  = (tr C)² / tr C²,
 *
 * the linear dimensionality measure used by Gao, Trautmann, Yu, Santhanam, Ryu, Shenoy and
 * Ganguli ("A theory of multineuronal dimensionality, dynamics and measurement", bioRxiv
 * 2017) and by Recanatesi, Farrell, Lajoie, Deneve, Rigotti and Shea-Brown ("Predictive
 * learning as a network mechanism for extracting low-dimensional latent space
 * representations", Nature Communications 2021). NaN when the samples have no variance.
 *
 * Returns: the participation ratio, between 1 and the rank
 */
double
hr_spectrum_get_participation_ratio (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->participation_ratio;
}

/**
 * hr_spectrum_get_components:
 * @self: a #HrSpectrum
 * @fraction: the fraction of the variance to explain, 0 < @fraction ≤ 1 (reports use 0.9,
 *   0.95 and 0.99)
 *
 * The smallest number k of principal axes whose cumulative explained variance reaches the
 * fraction asked for, cumulativeₖ ≥ @fraction − 10⁻¹², so that a fraction reached exactly
 * (up to rounding) counts. scikit-learn's `PCA (n_components=fraction).n_components_` asks for
 * strictly more than the fraction, and so differs only where a fraction is met exactly.
 *
 * Returns: k, between 1 and K; 0 when the samples have no variance
 */
guint
hr_spectrum_get_components (HrSpectrum *self, double fraction)
{
  g_return_val_if_fail (self != NULL, 0);
  g_return_val_if_fail (fraction > 0 && fraction <= 1, 0);

  if (isnan (self->cumulative_explained_variance[0]))
    return 0;
  for (gsize i = 0; i < self->n_components; i++)
    if (self->cumulative_explained_variance[i] >= fraction - HR_COMPONENTS_SLACK)
      return (guint)(i + 1);
  /* Only rounding (the last D − K eigenvalues of a short stack) keeps the sum below 1. */
  return (guint)self->n_components;
}

/**
 * hr_spectrum_get_alpha:
 * @self: a #HrSpectrum
 * @first: (out) (optional): the first index of the fit (1-based), 0 when there is no fit
 * @last: (out) (optional): the last index of the fit (1-based), 0 when there is no fit
 * @r_squared: (out) (optional): the coefficient of determination R² of the fit in log-log
 *   space (1 when every eigenvalue in the range is equal), NaN when there is no fit
 *
 * The decay exponent α of the covariance eigenspectrum, λᵢ ∝ i^−α, from α-ReQ (Agrawal,
 * Mondal, Ghosh and Richards, "α-ReQ: Assessing representation quality in self-supervised
 * learning by measuring eigenspectrum decay", NeurIPS 2022): α = −slope of the ordinary
 * least-squares line of log λᵢ on log i.
 *
 * The range fitted is ours to choose: i runs from 1 to hr_spectrum_get_rank(), the
 * eigenvalues whose singular values are above hr_spectrum_get_tolerance(); eigenvalues
 * below it are rounding, whose logarithms would decide the slope. At least 3 eigenvalues
 * are needed.
 *
 * Returns: α, or NaN when fewer than 3 eigenvalues are above the tolerance
 */
double
hr_spectrum_get_alpha (HrSpectrum *self, guint *first, guint *last, double *r_squared)
{
  g_return_val_if_fail (self != NULL, NAN);

  if (first != NULL)
    *first = self->alpha_first;
  if (last != NULL)
    *last = self->alpha_last;
  if (r_squared != NULL)
    *r_squared = self->alpha_r_squared;
  return self->alpha;
}

/**
 * hr_spectrum_get_rank_range:
 * @self: a #HrSpectrum
 * @low: (out) (optional): the fewest singular values that can be above the tolerance
 * @high: (out) (optional): the most singular values that can be above the tolerance
 *
 * How sure hr_spectrum_get_rank() is. A singular value above the tolerance (the worst case
 * of the errors) is certainly not rounding; one below the noise floor
 * (hr_spectrum_get_noise_floor(), what rounding typically reaches) is rounding; one between
 * the two may be either. @low is the rank, @high counts the singular values above the noise
 * floor; they differ when singular values lie between the two ("rank 61–64").
 *
 * Since: 0.2
 */
void
hr_spectrum_get_rank_range (HrSpectrum *self, guint *low, guint *high)
{
  g_return_if_fail (self != NULL);
  if (low != NULL)
    *low = self->rank_low;
  if (high != NULL)
    *high = self->rank_high;
}

/**
 * hr_spectrum_get_value_error:
 * @self: a #HrSpectrum
 *
 * The part of hr_spectrum_get_tolerance() from the values themselves: a bound e on ‖E‖₂,
 * E the error of the N × D values (their rounding when stored, the head's rounding).
 *
 * Returns: e, in units of singular values
 *
 * Since: 0.2
 */
double
hr_spectrum_get_value_error (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->value_error;
}

/**
 * hr_spectrum_get_scatter_error:
 * @self: a #HrSpectrum
 *
 * The part of hr_spectrum_get_tolerance() from the accumulation: the bound δ_S on ‖ΔS‖₂
 * the spectrum was made with (hr_moments_get_error_bound()).
 *
 * Returns: δ_S, in units of the scatter matrix (squared singular values)
 *
 * Since: 0.2
 */
double
hr_spectrum_get_scatter_error (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->scatter_error;
}

/**
 * hr_spectrum_get_eigensolver_error:
 * @self: a #HrSpectrum
 *
 * The part of hr_spectrum_get_tolerance() from the eigensolver: the reduction to
 * tridiagonal form (LAPACK's `dsytrd`, after one Householder reflection) and `dsterf` are
 * backward stable, the eigenvalues are those of S + E with ‖E‖₂ ≤ p(D)·u₆₄·‖S‖₂; headrank
 * takes p(D) = D, so δ_eig = D·2⁻⁵³·σ₁².
 *
 * Returns: δ_eig, in units of the scatter matrix (squared singular values)
 *
 * Since: 0.2
 */
double
hr_spectrum_get_eigensolver_error (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->eigensolver_error;
}

/**
 * hr_spectrum_get_noise_floor:
 * @self: a #HrSpectrum
 *
 * The size that rounding noise typically reaches in the singular values, where the
 * tolerance is its worst case: √(min(ẽ, e)² + δ_S/√2048 + δ_eig/D), with
 * ẽ = 2·e·(1/√D + 1/√N)/√3 twice the largest singular value of an N × D matrix of
 * independent rounding errors (the edge of the Marchenko–Pastur law), e the value error,
 * and the accumulation's and the eigensolver's bounds taken at their typical √b·u instead
 * of b·u (Higham and Mary, SIAM J. Sci. Comput. 2019). At most the tolerance; singular
 * values between the two make the rank a range (hr_spectrum_get_rank_range()).
 *
 * Returns: the noise floor, in units of singular values
 *
 * Since: 0.2
 */
double
hr_spectrum_get_noise_floor (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return self->noise_floor;
}

/**
 * hr_spectrum_is_tolerance_raised:
 * @self: a #HrSpectrum
 *
 * Whether the accumulation's error bound (hr_spectrum_get_scatter_error()) is the largest
 * part of the tolerance, that is larger than e² + δ_eig: then the accumulation (for
 * instance %HR_PRECISION_FLOAT32_PRODUCTS) has raised the tolerance above what the values
 * resolve, and the rank is the rank that this accumulation can see.
 *
 * Returns: %TRUE when the accumulation raised the tolerance
 *
 * Since: 0.2
 */
gboolean
hr_spectrum_is_tolerance_raised (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->scatter_error > self->value_error * self->value_error + self->eigensolver_error;
}

/* -- wide stacks: the spectrum from the rows ---------------------------------------------- */

/* Columns converted to float64 at a time when the Gram matrices are formed. */
#define HR_GRAM_BLOCK 1024

/* The per-column divisors of StandardScaler: the standard deviation (ddof 0), or 1 for a
 * column without variance (which stays all 0 once centred). */
static double
hr_standard_scale (double scatter_jj, double n)
{
  double s = sqrt (MAX (scatter_jj, 0.0) / n);

  return s > 0 && isfinite (s) ? s : 1.0;
}

/* The spectrum of @n finite rows: when N < D from the eigenvalues of the N × N Gram
 * matrices Y Yᵀ (Y the centred rows) and X Xᵀ, whose nonzero eigenvalues are those of the
 * D × D matrices S = YᵀY and XᵀX; otherwise from S and XᵀX, formed here. With
 * @standardize, each column of Y is divided by its standard deviation (ddof 0) first and
 * the uncentred spectrum is that of the standardised (mean 0) rows. */
static HrSpectrum *
hr_spectrum_from_rows_internal (guint64 n_samples, gsize dimension, const float *rows,
                                gboolean standardize, double relative_error, double absolute_error,
                                GError **error)
{
  g_autoptr (HrSpectrum) self = NULL;
  const gsize n = (gsize)n_samples, d = dimension;
  const gsize side = MIN (n, d);
  const gsize block = n < d ? MIN (d, (gsize)HR_GRAM_BLOCK) : MIN (n, (gsize)HR_GRAM_BLOCK);
  g_autofree double *mean = NULL, *scale = NULL, *y = NULL, *u = NULL;
  g_autofree double *gc = NULL, *gu = NULL, *w = NULL, *wu = NULL;
  double values_sq = 0, centred_sq = 0, inverse_scale_sq = 0;

  if (n_samples < 2)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                   _ ("A spectrum needs at least 2 samples, not %llu"),
                   (unsigned long long)n_samples);
      return NULL;
    }
  mean = g_try_new0 (double, d);
  scale = g_try_new (double, d);
  gc = hr_try_zeroed (side * side, sizeof (double));
  gu = hr_try_zeroed (side * side, sizeof (double));
  /* N < D: column blocks of all N rows; N ≥ D: row blocks of all D columns */
  y = g_try_new (double, n < d ? n * block : block * d);
  u = g_try_new (double, n < d ? n * block : block * d);
  w = g_try_new (double, side);
  wu = g_try_new (double, side);
  if (mean == NULL || scale == NULL || gc == NULL || gu == NULL || y == NULL || u == NULL
      || w == NULL || wu == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   /* TRANSLATORS: N × N and D: the sizes of the matrices */
                   _ ("not enough memory for the Gram matrices of %zu samples of dimension %zu"), n,
                   d);
      return NULL;
    }

  for (gsize r = 0; r < n; r++)
    for (gsize j = 0; j < d; j++)
      mean[j] += rows[r * d + j];
  for (gsize j = 0; j < d; j++)
    {
      mean[j] /= (double)n;
      scale[j] = 0;
    }
  for (gsize r = 0; r < n; r++)
    for (gsize j = 0; j < d; j++)
      {
        double c = rows[r * d + j] - mean[j];

        scale[j] += c * c;
      }
  for (gsize j = 0; j < d; j++)
    {
      scale[j] = standardize ? hr_standard_scale (scale[j], (double)n) : 1.0;
      inverse_scale_sq += 1.0 / (scale[j] * scale[j]);
    }

  if (n < d)
    for (gsize c0 = 0; c0 < d; c0 += block)
      {
        gsize nb = MIN (block, d - c0);

        for (gsize r = 0; r < n; r++)
          for (gsize j = 0; j < nb; j++)
            {
              double x = rows[r * d + c0 + j];

              y[r * nb + j] = (x - mean[c0 + j]) / scale[c0 + j];
              u[r * nb + j] = x;
              values_sq += (x / scale[c0 + j]) * (x / scale[c0 + j]);
              centred_sq += y[r * nb + j] * y[r * nb + j];
            }
        cblas_dsyrk (CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)nb, 1.0, y, (int)nb, 1.0,
                     gc, (int)n);
        if (!standardize)
          cblas_dsyrk (CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)nb, 1.0, u, (int)nb,
                       1.0, gu, (int)n);
      }
  else
    for (gsize r0 = 0; r0 < n; r0 += block)
      {
        gsize nb = MIN (block, n - r0);

        for (gsize r = 0; r < nb; r++)
          for (gsize j = 0; j < d; j++)
            {
              double x = rows[(r0 + r) * d + j];

              y[r * d + j] = (x - mean[j]) / scale[j];
              u[r * d + j] = x;
              values_sq += (x / scale[j]) * (x / scale[j]);
              centred_sq += y[r * d + j] * y[r * d + j];
            }
        cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, y, (int)d, 1.0,
                     gc, (int)d);
        if (!standardize)
          cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)nb, 1.0, u, (int)d, 1.0,
                       gu, (int)d);
      }
  if (standardize)
    memcpy (gu, gc, side * side * sizeof (double));
  for (gsize i = 0; i < side * side; i++)
    gc[i] /= (double)(n - 1);
  if (!all_finite (gu, side * side))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                   _ ("The uncentred Gram matrix overflows: the mean is too large"));
      return NULL;
    }
  /* dsyrk filled the upper triangle of the row-major matrices: what symmetric_eigenvalues()
   * reads */
  if (!symmetric_eigenvalues (gc, side, w, error) || !symmetric_eigenvalues (gu, side, wu, error))
    return NULL;

  /* the values' error: @relative_error of each (standardised) value and @absolute_error a
   * value (divided by its column's scale), ‖E‖_F ≤ r·‖X‖_F + a·√(N·Σ_j 1/s_j²); the
   * float64 products: each entry sums D (or N) products, |ΔG| ≤ γ·|Y||Y|ᵀ, so
   * ‖ΔG‖₂ ≤ γ·trace (YYᵀ), in the units of the scatter matrix */
  self = hr_spectrum_alloc (n_samples, dimension,
                            relative_error * sqrt (values_sq)
                                + absolute_error * sqrt ((double)n * inverse_scale_sq),
                            (double)(MAX (n, d) + 2) * HR_U64 * centred_sq);
  hr_spectrum_measure (self, w, wu, side);
  return g_steal_pointer (&self);
}

/**
 * hr_spectrum_new_from_rows: (skip)
 * @n_samples: the number of samples N, at least 2
 * @dimension: the dimension D, at least 1
 * @rows: (array): N × D float32 values, row-major, all finite
 * @standardize: whether to standardise each column first (centred and divided by its
 *   standard deviation, ddof 0, as scikit-learn's `StandardScaler`; a column without
 *   variance is left at 0)
 * @error: return location for a #GError, or %NULL
 *
 * Computes the spectrum of N samples from the samples themselves, for wide stacks: when
 * N < D the eigenvalues come from the N × N Gram matrices (X − 1mᵀ)(X − 1mᵀ)ᵀ and XXᵀ,
 * whose nonzero eigenvalues are those of the scatter matrix S and of XᵀX, in O(N²·D) time
 * and 8·N·(2·N + 2·1024) bytes beyond the rows, instead of the O(D³) eigendecomposition of a
 * D × D matrix of rank at most N. When N ≥ D it forms the D × D matrices. Every accessor
 * and measure is the same as from hr_spectrum_new() (up to rounding).
 *
 * Errors, in the %HR_ANALYSIS_ERROR domain: %HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES when N < 2,
 * %HR_ANALYSIS_ERROR_NO_MEMORY when the matrices do not fit memory,
 * %HR_ANALYSIS_ERROR_NUMERIC for non-finite values or when LAPACK fails.
 *
 * Returns: (transfer full) (nullable): the spectrum, or %NULL with @error set
 *
 * Since: 0.2
 */
HrSpectrum *
hr_spectrum_new_from_rows (guint64 n_samples, gsize dimension, const float *rows,
                           gboolean standardize, GError **error)
{
  gsize n_values;

  g_return_val_if_fail (rows != NULL || n_samples == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (dimension == 0 || dimension > G_MAXINT || n_samples > G_MAXINT
      || !g_size_checked_mul (&n_values, (gsize)n_samples, dimension))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("%llu samples of dimension %zu cannot make a spectrum"),
                   (unsigned long long)n_samples, dimension);
      return NULL;
    }
  for (gsize i = 0; i < n_values; i++)
    if (!isfinite (rows[i]))
      {
        g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC,
                     _ ("The samples hold NaN or infinite values"));
        return NULL;
      }
  return hr_spectrum_from_rows_internal (n_samples, dimension, rows, standardize, HR_U32, HR_A32,
                                         error);
}

/* hr_spectrum_new_from_rows() for finite values with a relative error of @relative_error
 * and an absolute one of @absolute_error each (hr-private.h). */
HrSpectrum *
hr_spectrum_new_from_rows_with_error (guint64 n_samples, gsize dimension, const float *rows,
                                      gboolean standardize, double relative_error,
                                      double absolute_error, GError **error)
{
  return hr_spectrum_from_rows_internal (n_samples, dimension, rows, standardize, relative_error,
                                         absolute_error, error);
}

/**
 * hr_spectrum_new_from_row_bytes: (constructor)
 * @dimension: the dimension D, at least 1
 * @rows: N × D float32 values, row-major, in native byte order (4·N·D bytes), all finite
 * @standardize: whether to standardise each column first (see hr_spectrum_new_from_rows())
 * @error: return location for a #GError, or %NULL
 *
 * hr_spectrum_new_from_rows() for bindings: from Python,
 * `Headrank.Spectrum.new_from_row_bytes (d, GLib.Bytes (x.astype (numpy.float32).tobytes ()),
 * False)`.
 *
 * Errors: as hr_spectrum_new_from_rows(), and %HR_ANALYSIS_ERROR_SHAPE when @rows is not a
 * whole number of rows.
 *
 * Returns: (transfer full) (nullable): the spectrum, or %NULL with @error set
 *
 * Since: 0.2
 */
HrSpectrum *
hr_spectrum_new_from_row_bytes (gsize dimension, GBytes *rows, gboolean standardize, GError **error)
{
  g_autofree float *copy = NULL;
  gsize size;
  const float *data;

  g_return_val_if_fail (rows != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (rows, &size);
  if (dimension == 0 || size % (dimension * sizeof (float)) != 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("%zu bytes are not a whole number of rows of %zu float32 values"), size,
                   dimension);
      return NULL;
    }
  if (size > 0 && (guintptr)data % G_ALIGNOF (float) != 0)
    data = copy = g_memdup2 (data, size);
  return hr_spectrum_new_from_rows (size / (dimension * sizeof (float)), dimension, data,
                                    standardize, error);
}

/* The spectrum of the correlation matrix: the scatter matrix of the standardised samples,
 * S_ij / (s_i s_j) with s the standard deviations (ddof 0, 1 for a column without variance),
 * and a mean of 0, as StandardScaler then PCA (hr-private.h). The values' error: each
 * stored value x_ij off by r·|x_ij| + a, so the standardised one by (r·|x_ij| + a)/s_j, whose
 * Frobenius norm is at most r·√(Σ_j (S_jj + N m_j²)/s_j²) + a·√(N·Σ_j 1/s_j²); the scatter
 * matrix's error is scaled by at most 1/min s². */
HrSpectrum *
hr_spectrum_new_standardized (guint64 n_samples, gsize dimension, const double *mean,
                              const double *scatter, double relative_error, double absolute_error,
                              double scatter_error, gboolean two_threads, GError **error)
{
  g_autofree double *scaled = NULL, *scale = NULL, *zero = NULL;
  const gsize d = dimension;
  const double n = (double)n_samples;
  double values_sq = 0, inverse_scale_sq = 0, smallest = G_MAXDOUBLE;

  if (!check_dimension (dimension, error))
    return NULL;
  scaled = g_try_new (double, d *d);
  scale = g_try_new (double, d);
  zero = g_try_new0 (double, d);
  if (scaled == NULL || scale == NULL || zero == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for a scatter matrix of dimension %zu"), dimension);
      return NULL;
    }
  for (gsize j = 0; j < d; j++)
    {
      scale[j] = hr_standard_scale (scatter[j * d + j], n);
      smallest = MIN (smallest, scale[j]);
      values_sq += (MAX (scatter[j * d + j], 0.0) + n * mean[j] * mean[j]) / (scale[j] * scale[j]);
      inverse_scale_sq += 1.0 / (scale[j] * scale[j]);
    }
  for (gsize i = 0; i < d; i++)
    for (gsize j = 0; j < d; j++)
      scaled[i * d + j] = scatter[i * d + j] / (scale[i] * scale[j]);
  return hr_spectrum_new_internal (n_samples, dimension, zero, scaled,
                                   relative_error * sqrt (values_sq)
                                       + absolute_error * sqrt (n * inverse_scale_sq),
                                   scatter_error / (smallest * smallest), two_threads, error);
}

/* -- the measures the field compares with ------------------------------------------------- */

/* exp of the entropy of p = v / Σv over the values v > @floor (0 log 0 = 0); NaN when no
 * value is above it. */
static double
hr_entropy_rank (const double *values, gsize n, double floor)
{
  double sum = 0, entropy = 0;

  for (gsize i = 0; i < n; i++)
    if (values[i] > floor)
      sum += values[i];
  if (!(sum > 0))
    return NAN;
  for (gsize i = 0; i < n; i++)
    if (values[i] > floor)
      {
        double p = values[i] / sum;

        entropy -= p * log (p);
      }
  return exp (entropy);
}

/**
 * hr_spectrum_get_viscy_effective_rank:
 * @self: a #HrSpectrum
 *
 * The effective rank that VisCy logs (viscy-utils, `callbacks/online_eval.py`,
 * `effective_rank`), so that a VisCy user's number and headrank's agree: over the uncentred
 * singular values σₖ of the raw matrix, those with σₖ ≤ 10⁻¹⁰ dropped,
 *
 *     pₖ = σₖ / Σᵢ σᵢ,   exp (−Σₖ pₖ log pₖ)
 *
 * with no ε (unlike RankMe, hr_spectrum_get_effective_rank()). VisCy computes the SVD in
 * float32 and headrank its singular values in float64 from XᵀX, so the two differ in the
 * last digits (singular values below about 10⁻⁸ σ₁ are rounding in both).
 *
 * Returns: the effective rank, NaN when no singular value exceeds 10⁻¹⁰
 *
 * Since: 0.2
 */
double
hr_spectrum_get_viscy_effective_rank (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return hr_entropy_rank (self->uncentred_singular_values, self->n_components, 1e-10);
}

/**
 * hr_spectrum_get_roy_vetterli_effective_rank:
 * @self: a #HrSpectrum
 *
 * The effective rank of Roy and Vetterli ("The effective rank: a measure of effective
 * dimensionality", EUSIPCO 2007) of the centred matrix X − 1mᵀ, over its singular values
 * σₖ (hr_spectrum_get_singular_values(), the PCA spectrum):
 *
 *     pₖ = σₖ / Σᵢ σᵢ,   exp (−Σₖ pₖ log pₖ),   0 log 0 = 0
 *
 * No ε and no threshold. RankMe (hr_spectrum_get_effective_rank()) and VisCy's
 * (hr_spectrum_get_viscy_effective_rank()) apply the same entropy to the uncentred
 * singular values, where a common offset of the samples adds a direction.
 *
 * Returns: the effective rank, between 1 and the rank; NaN when the samples have no
 *   variance
 *
 * Since: 0.2
 */
double
hr_spectrum_get_roy_vetterli_effective_rank (HrSpectrum *self)
{
  g_return_val_if_fail (self != NULL, NAN);
  return hr_entropy_rank (self->singular_values, self->n_components, 0.0);
}

/**
 * hr_spectrum_get_stable_rank:
 * @self: a #HrSpectrum
 *
 * The stable rank of the raw, uncentred N × D matrix X, ‖X‖²_F / ‖X‖²₂ = Σₖ σₖ² / σ₁² over
 * its singular values (Rudelson and Vershynin, "Sampling from large matrices: an approach
 * through geometric functional analysis", J. ACM 2007), as `torch.linalg.matrix_norm (x,
 * "fro")**2 / torch.linalg.matrix_norm (x, 2)**2`. The same ratio of the centred matrix is
 * hr_spectrum_get_nesum().
 *
 * Returns: the stable rank, between 1 and the matrix rank; NaN for an all-zero matrix
 *
 * Since: 0.2
 */
double
hr_spectrum_get_stable_rank (HrSpectrum *self)
{
  double sum = 0, first;

  g_return_val_if_fail (self != NULL, NAN);
  first = self->uncentred_singular_values[0];
  for (gsize i = 0; i < self->n_components; i++)
    sum += self->uncentred_singular_values[i] * self->uncentred_singular_values[i];
  return first > 0 ? sum / (first * first) : NAN;
}

/**
 * hr_spectrum_get_nesum:
 * @self: a #HrSpectrum
 *
 * NESum, the normalised eigenvalue sum of He and Ozay ("Exploring the gap between collapsed
 * and whitened features in self-supervised learning", ICML 2022): Σᵢ λᵢ / λ₁ over the
 * eigenvalues of the covariance (hr_spectrum_get_eigenvalues()), the stable rank of the
 * centred matrix.
 *
 * Returns: NESum, between 1 and the rank; NaN when the samples have no variance
 *
 * Since: 0.2
 */
double
hr_spectrum_get_nesum (HrSpectrum *self)
{
  double sum = 0;

  g_return_val_if_fail (self != NULL, NAN);
  for (gsize i = 0; i < self->n_components; i++)
    sum += self->eigenvalues[i];
  return self->eigenvalues[0] > 0 ? sum / self->eigenvalues[0] : NAN;
}
