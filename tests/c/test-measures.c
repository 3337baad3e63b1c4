/* headrank tests: the spectrum of wide stacks from their rows (N × N Gram matrices) and the
 * measures the field compares heads with, on cases whose answers are known in closed form
 * or from the D × D route. The comparisons with the reference packages' outputs are in
 * tests/python/test_measures.py (through GObject Introspection). */
#include <headrank.h>

#include "test-util.h"

#include <math.h>
#include <string.h>

/* Deterministic rows: a few scaled directions plus an offset. */
static float *
make_rows (gsize n, gsize d, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  float *x = g_new (float, n *d);

  for (gsize i = 0; i < n; i++)
    for (gsize j = 0; j < d; j++)
      x[i * d + j] = (float)(g_rand_double_range (rand, -1, 1) * (0.1 + j % 7) + 2.0);
  return x;
}

/* The float64 mean and full scatter matrix of the rows, two-pass. */
static void
moments_of (const float *x, gsize n, gsize d, double *mean, double *scatter)
{
  memset (mean, 0, d * sizeof (double));
  memset (scatter, 0, d * d * sizeof (double));
  for (gsize i = 0; i < n; i++)
    for (gsize j = 0; j < d; j++)
      mean[j] += x[i * d + j] / (double)n;
  for (gsize i = 0; i < n; i++)
    for (gsize a = 0; a < d; a++)
      for (gsize b = 0; b < d; b++)
        scatter[a * d + b] += (x[i * d + a] - mean[a]) * (x[i * d + b] - mean[b]);
}

static void
assert_close (double got, double want, double rel)
{
  g_assert_cmpfloat_with_epsilon (got, want, rel * MAX (fabs (want), 1e-300));
}

/* The Gram route and the scatter route give the same spectrum and measures. */
static void
test_wide_gram_equals_scatter (gconstpointer data)
{
  const gsize *shape = data, n = shape[0], d = shape[1];
  g_autofree float *x = make_rows (n, d, (guint32)(n * 1000 + d));
  g_autofree double *mean = g_new (double, d), *scatter = g_new (double, d *d);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) rows = NULL, direct = NULL;
  const double *a, *b;
  gsize k, k2;

  moments_of (x, n, d, mean, scatter);
  rows = hr_spectrum_new_from_rows (n, d, x, FALSE, &error);
  g_assert_no_error (error);
  direct = hr_spectrum_new (n, d, mean, scatter, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (hr_spectrum_get_n_components (rows), ==, MIN (n, d));
  a = hr_spectrum_get_eigenvalues (rows, &k);
  b = hr_spectrum_get_eigenvalues (direct, &k2);
  g_assert_cmpuint (k, ==, k2);
  /* the last centred value of a wide stack is 0 up to rounding */
  for (gsize i = 0; i + 1 < k; i++)
    g_assert_cmpfloat_with_epsilon (a[i], b[i], 1e-9 * b[0]);
  a = hr_spectrum_get_uncentred_singular_values (rows, NULL);
  b = hr_spectrum_get_uncentred_singular_values (direct, NULL);
  for (gsize i = 0; i < k; i++)
    g_assert_cmpfloat_with_epsilon (a[i], b[i], 1e-7 * b[0]);
  g_assert_cmpuint (hr_spectrum_get_rank (rows), ==, hr_spectrum_get_rank (direct));
  g_assert_cmpuint (hr_spectrum_get_matrix_rank (rows), ==, hr_spectrum_get_matrix_rank (direct));
  assert_close (hr_spectrum_get_effective_rank (rows), hr_spectrum_get_effective_rank (direct),
                1e-7);
  assert_close (hr_spectrum_get_participation_ratio (rows),
                hr_spectrum_get_participation_ratio (direct), 1e-9);
  assert_close (hr_spectrum_get_nesum (rows), hr_spectrum_get_nesum (direct), 1e-9);
  assert_close (hr_spectrum_get_stable_rank (rows), hr_spectrum_get_stable_rank (direct), 1e-9);
  assert_close (hr_spectrum_get_viscy_effective_rank (rows),
                hr_spectrum_get_viscy_effective_rank (direct), 1e-7);
  if (n <= d)
    g_assert_cmpuint (hr_spectrum_get_rank (rows), ==, n - 1);
}

/* Eigenvalues 4, 1, 0.25 (N = 5, mean 0): every measure in closed form. */
static void
test_field_measures_closed_form (void)
{
  const double lambda[3] = { 4, 1, 0.25 };
  double mean[3] = { 0 }, scatter[9] = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) sp = NULL;
  double s = 2 + 1 + 0.5, h = 0;

  for (int i = 0; i < 3; i++)
    scatter[i * 3 + i] = 4 * lambda[i]; /* (N − 1)·λ */
  sp = hr_spectrum_new (5, 3, mean, scatter, &error);
  g_assert_no_error (error);
  /* singular values ∝ √λ = 2, 1, 0.5: p = σ/Σσ */
  for (int i = 0; i < 3; i++)
    h -= sqrt (lambda[i]) / s * log (sqrt (lambda[i]) / s);
  assert_close (hr_spectrum_get_roy_vetterli_effective_rank (sp), exp (h), 1e-12);
  /* mean 0: the uncentred values are the centred ones */
  assert_close (hr_spectrum_get_viscy_effective_rank (sp), exp (h), 1e-12);
  assert_close (hr_spectrum_get_nesum (sp), 5.25 / 4, 1e-12);
  assert_close (hr_spectrum_get_stable_rank (sp), 5.25 / 4, 1e-12);
}

/* A common offset makes the uncentred measures differ from the centred ones. */
static void
test_field_measures_offset (void)
{
  double mean[2] = { 10, 0 }, scatter[4] = { 1, 0, 0, 1 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) sp = hr_spectrum_new (3, 2, mean, scatter, &error);

  g_assert_no_error (error);
  /* centred: λ = 1, 1 → NESum 2, Roy–Vetterli 2; uncentred XᵀX = S + N·mmᵀ = diag (301, 1) */
  assert_close (hr_spectrum_get_nesum (sp), 2, 1e-12);
  assert_close (hr_spectrum_get_roy_vetterli_effective_rank (sp), 2, 1e-12);
  assert_close (hr_spectrum_get_stable_rank (sp), 302.0 / 301.0, 1e-12);
  {
    double s1 = sqrt (301.0), s2 = 1, p1 = s1 / (s1 + s2), p2 = s2 / (s1 + s2);

    assert_close (hr_spectrum_get_viscy_effective_rank (sp), exp (-p1 * log (p1) - p2 * log (p2)),
                  1e-12);
  }
}

/* No variance: NaN, not a number made up. */
static void
test_field_measures_no_variance (void)
{
  double mean[2] = { 0, 0 }, scatter[4] = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) sp = hr_spectrum_new (3, 2, mean, scatter, &error);

  g_assert_no_error (error);
  g_assert_true (isnan (hr_spectrum_get_nesum (sp)));
  g_assert_true (isnan (hr_spectrum_get_stable_rank (sp)));
  g_assert_true (isnan (hr_spectrum_get_roy_vetterli_effective_rank (sp)));
  g_assert_true (isnan (hr_spectrum_get_viscy_effective_rank (sp)));
}

/* Standardised from the rows: every column's variance is 1, so the eigenvalues sum to
 * D·N/(N − 1) (ddof 0 scale, ddof 1 covariance). */
static void
test_wide_standardized (void)
{
  const gsize n = 12, d = 30;
  g_autofree float *x = make_rows (n, d, 5);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) sp = hr_spectrum_new_from_rows (n, d, x, TRUE, &error);
  const double *ev;
  double sum = 0;
  gsize k;

  g_assert_no_error (error);
  ev = hr_spectrum_get_eigenvalues (sp, &k);
  for (gsize i = 0; i < k; i++)
    sum += ev[i];
  g_assert_cmpfloat_with_epsilon (sum, (double)d * n / (n - 1), 1e-9 * d);
}

static void
test_wide_errors (void)
{
  float one[3] = { 1, 2, 3 }, bad[6] = { 1, 2, 3, 4, NAN, 6 };
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) odd = g_bytes_new (one, 3 * sizeof (float));

  g_assert_null (hr_spectrum_new_from_rows (1, 3, one, FALSE, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES);
  g_clear_error (&error);
  g_assert_null (hr_spectrum_new_from_rows (2, 3, bad, FALSE, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC);
  g_clear_error (&error);
  g_assert_null (hr_spectrum_new_from_row_bytes (2, odd, FALSE, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE);
}

int
main (int argc, char **argv)
{
  static const gsize shapes[][2] = { { 2, 5 }, { 3, 64 }, { 40, 90 }, { 90, 40 }, { 60, 400 } };

  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (shapes); i++)
    {
      g_autofree char *path = g_strdup_printf ("/measures/wide/gram-equals-scatter/%zux%zu",
                                               shapes[i][0], shapes[i][1]);
      g_test_add_data_func (path, shapes[i], test_wide_gram_equals_scatter);
    }
  g_test_add_func ("/measures/wide/standardized", test_wide_standardized);
  g_test_add_func ("/measures/wide/errors", test_wide_errors);
  g_test_add_func ("/measures/field/closed-form", test_field_measures_closed_form);
  g_test_add_func ("/measures/field/offset", test_field_measures_offset);
  g_test_add_func ("/measures/field/no-variance", test_field_measures_no_variance);
  return g_test_run ();
}
