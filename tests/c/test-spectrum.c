/* headrank tests: HrSpectrum, the eigenvalue spectrum of a stage and its rank measures
 *
 * Table-driven over tests/data/spectrum/manifest.json (written by make_spectrum.py there):
 * every case's float64 mean and scatter matrix, as numpy computed them from the float32
 * samples, are handed to HrSpectrum, and what it computes is compared with numpy
 * (eigvalsh, svd), scikit-learn's PCA, torch's and numpy's matrix_rank and the script's
 * reimplementations of RankMe, the participation ratio and α-ReQ. The tolerances are those
 * of issue 4 §10:
 *   eigenvalues              |Δ| ≤ 1e-6·λ_max, and |Δ| ≤ 1e-6·λ for λ > 1e-3·λ_max
 *   explained variance ratio |Δ| ≤ 1e-7
 *   ranks                    exact (every case has a gap of ≥ 5× at the tolerance)
 *   effective rank           |Δ| ≤ 1e-6 relative
 *   singular values          |Δ| ≤ 1e-6·σ_max + 1e-6·σ; α, R², participation ratio and
 *                            tolerances 1e-6 relative or tighter
 * Then bad input: too few samples, NaN and infinity, wrong sizes.
 */
#include <headrank.h>

#include "test-util.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static JsonParser *manifest_parser;

static char *
spectrum_path (const char *relative)
{
  return g_test_build_filename (G_TEST_DIST, "data", "spectrum", relative, NULL);
}

static GBytes *
load_f64 (const char *relative, gsize n_values)
{
  return hr_test_load_raw ("spectrum", relative, sizeof (double), n_values);
}

/* A JSON number, or NaN for null. */
static double
number_or_nan (JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NAN;
  return json_node_get_double (node);
}

static double
array_double (JsonArray *array, guint i)
{
  return number_or_nan (json_array_get_element (array, i));
}

/* The case's spectrum, from its mean and scatter files through hr_spectrum_new(). */
static HrSpectrum *
case_spectrum (JsonObject *c)
{
  JsonObject *files = json_object_get_object_member (c, "files");
  gsize d = json_object_get_int_member (c, "dimension");
  guint64 n = json_object_get_int_member (c, "n_samples");
  g_autoptr (GBytes) mean = load_f64 (json_object_get_string_member (files, "mean"), d);
  g_autoptr (GBytes) scatter = load_f64 (json_object_get_string_member (files, "scatter"), d * d);
  g_autoptr (GError) error = NULL;
  HrSpectrum *spectrum;

  spectrum = hr_spectrum_new (n, d, g_bytes_get_data (mean, NULL), g_bytes_get_data (scatter, NULL),
                              &error);
  g_assert_no_error (error);
  g_assert_nonnull (spectrum);
  g_assert_cmpuint (hr_spectrum_get_n_samples (spectrum), ==, n);
  g_assert_cmpuint (hr_spectrum_get_dimension (spectrum), ==, d);
  g_assert_cmpuint (hr_spectrum_get_n_components (spectrum), ==,
                    json_object_get_int_member (c, "n_components"));
  return spectrum;
}

/* Compares @got (as many values as @ref) elementwise: |Δ| ≤ abs_scale·max|ref| + rel·|ref|,
 * and, where |ref| > rel_floor·max|ref|, |Δ| ≤ rel_strict·|ref|. */
static void
compare_values (const char *what, const double *got, gsize n_got, JsonArray *ref, double abs_scale,
                double rel, double rel_floor, double rel_strict)
{
  double ref_max = 0;

  g_assert_cmpuint (n_got, ==, json_array_get_length (ref));
  for (gsize i = 0; i < n_got; i++)
    ref_max = MAX (ref_max, fabs (array_double (ref, i)));
  for (gsize i = 0; i < n_got; i++)
    {
      double expected = array_double (ref, i);
      double delta = fabs (got[i] - expected);
      double allowed = abs_scale * ref_max + rel * fabs (expected);

      if (isnan (expected))
        {
          if (!isnan (got[i]))
            g_test_fail_printf ("%s[%zu]: got %.17g, expected NaN", what, i, got[i]);
          continue;
        }
      if (!(delta <= allowed))
        g_test_fail_printf ("%s[%zu]: got %.17g, expected %.17g (|Δ| = %.3g > %.3g)", what, i,
                            got[i], expected, delta, allowed);
      if (fabs (expected) > rel_floor * ref_max && !(delta <= rel_strict * fabs (expected)))
        g_test_fail_printf ("%s[%zu]: got %.17g, expected %.17g (relative %.3g > %.3g)", what, i,
                            got[i], expected, delta / fabs (expected), rel_strict);
    }
}

static void
assert_relative (const char *what, double got, JsonNode *ref_node, double rel)
{
  double expected = number_or_nan (ref_node);

  if (isnan (expected))
    {
      if (!isnan (got))
        g_test_fail_printf ("%s: got %.17g, expected NaN", what, got);
      return;
    }
  if (!(fabs (got - expected) <= rel * fabs (expected)))
    g_test_fail_printf ("%s: got %.17g, expected %.17g (relative %.3g > %.3g)", what, got, expected,
                        fabs (got - expected) / fabs (expected), rel);
}

/* -- per case ----------------------------------------------------------------------------- */

static void
test_eigenvalues (gconstpointer data)
{
  JsonObject *c = (JsonObject *)data;
  g_autoptr (HrSpectrum) spectrum = case_spectrum (c);
  gsize n_values = 0;
  const double *values = hr_spectrum_get_eigenvalues (spectrum, &n_values);

  compare_values ("eigenvalues vs numpy eigvalsh", values, n_values,
                  json_object_get_array_member (c, "eigenvalues"), 1e-6, 0, 1e-3, 1e-6);
  compare_values ("eigenvalues vs sklearn explained_variance_", values, n_values,
                  json_object_get_array_member (c, "explained_variance"), 1e-6, 0, 1e-3, 1e-6);
  for (gsize i = 0; i < n_values; i++)
    {
      g_assert_cmpfloat (values[i], >=, 0);
      if (i > 0)
        g_assert_cmpfloat (values[i], <=, values[i - 1]);
    }
}

static void
test_singular_values (gconstpointer data)
{
  JsonObject *c = (JsonObject *)data;
  g_autoptr (HrSpectrum) spectrum = case_spectrum (c);
  gsize n_values = 0;
  const double *values;

  values = hr_spectrum_get_singular_values (spectrum, &n_values);
  compare_values ("centred singular values vs numpy svd", values, n_values,
                  json_object_get_array_member (c, "singular_values"), 1e-6, 1e-6, 1e-3, 1e-6);
  values = hr_spectrum_get_uncentred_singular_values (spectrum, &n_values);
  compare_values ("uncentred singular values vs numpy svd", values, n_values,
                  json_object_get_array_member (c, "uncentred_singular_values"), 1e-6, 1e-6, 1e-3,
                  1e-6);
}

static void
test_ratio (gconstpointer data)
{
  JsonObject *c = (JsonObject *)data;
  JsonArray *ref = json_object_get_array_member (c, "explained_variance_ratio");
  g_autoptr (HrSpectrum) spectrum = case_spectrum (c);
  gsize n_ratio = 0, n_cumulative = 0;
  const double *ratio = hr_spectrum_get_explained_variance_ratio (spectrum, &n_ratio);
  const double *cumulative
      = hr_spectrum_get_cumulative_explained_variance (spectrum, &n_cumulative);
  double running = 0;

  g_assert_cmpuint (n_ratio, ==, json_array_get_length (ref));
  g_assert_cmpuint (n_cumulative, ==, n_ratio);
  for (gsize i = 0; i < n_ratio; i++)
    {
      double expected = array_double (ref, i);

      running += expected;
      if (isnan (expected))
        {
          g_assert_true (isnan (ratio[i]));
          g_assert_true (isnan (cumulative[i]));
          continue;
        }
      g_assert_cmpfloat_with_epsilon (ratio[i], expected, 1e-7);
      g_assert_cmpfloat_with_epsilon (cumulative[i], running, 1e-7);
    }
}

static void
test_rank (gconstpointer data)
{
  JsonObject *c = (JsonObject *)data;
  g_autoptr (HrSpectrum) spectrum = case_spectrum (c);

  g_assert_cmpuint (hr_spectrum_get_rank (spectrum), ==, json_object_get_int_member (c, "rank"));
  g_assert_cmpuint (hr_spectrum_get_matrix_rank (spectrum), ==,
                    json_object_get_int_member (c, "matrix_rank"));
  /* The tolerances scale with σ₁; a zero tolerance (no variance) must be exactly 0. */
  assert_relative ("tolerance", hr_spectrum_get_tolerance (spectrum),
                   json_object_get_member (c, "tolerance"), 1e-6);
  assert_relative ("uncentred tolerance", hr_spectrum_get_uncentred_tolerance (spectrum),
                   json_object_get_member (c, "uncentred_tolerance"), 1e-6);
}

static void
test_effective_rank (gconstpointer data)
{
  JsonObject *c = (JsonObject *)data;
  g_autoptr (HrSpectrum) spectrum = case_spectrum (c);

  assert_relative ("RankMe", hr_spectrum_get_effective_rank (spectrum),
                   json_object_get_member (c, "effective_rank"), 1e-6);
  assert_relative ("participation ratio", hr_spectrum_get_participation_ratio (spectrum),
                   json_object_get_member (c, "participation_ratio"), 1e-9);
}

static void
test_components (gconstpointer data)
{
  JsonObject *c = (JsonObject *)data;
  JsonObject *ref = json_object_get_object_member (c, "components");
  JsonArray *fractions = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (manifest_parser)), "fractions");
  g_autoptr (HrSpectrum) spectrum = case_spectrum (c);

  for (guint i = 0; i < json_array_get_length (fractions); i++)
    {
      double fraction = json_array_get_double_element (fractions, i);
      g_autofree char *key = g_strdup_printf ("%g", fraction);

      g_assert_true (json_object_has_member (ref, key));
      g_assert_cmpuint (hr_spectrum_get_components (spectrum, fraction), ==,
                        json_object_get_int_member (ref, key));
    }
}

static void
test_alpha (gconstpointer data)
{
  JsonObject *c = (JsonObject *)data;
  JsonNode *ref_node = json_object_get_member (c, "alpha");
  g_autoptr (HrSpectrum) spectrum = case_spectrum (c);
  guint first = 99, last = 99;
  double r_squared = 0, alpha;
  JsonObject *ref;

  alpha = hr_spectrum_get_alpha (spectrum, &first, &last, &r_squared);
  if (JSON_NODE_HOLDS_NULL (ref_node))
    {
      g_assert_true (isnan (alpha));
      g_assert_true (isnan (r_squared));
      g_assert_cmpuint (first, ==, 0);
      g_assert_cmpuint (last, ==, 0);
      return;
    }
  ref = json_node_get_object (ref_node);
  g_assert_cmpuint (first, ==, json_object_get_int_member (ref, "first"));
  g_assert_cmpuint (last, ==, json_object_get_int_member (ref, "last"));
  assert_relative ("alpha", alpha, json_object_get_member (ref, "alpha"), 1e-6);
  g_assert_cmpfloat_with_epsilon (r_squared, json_object_get_double_member (ref, "r_squared"),
                                  1e-6);
  /* The out parameters are optional. */
  g_assert_cmpfloat (hr_spectrum_get_alpha (spectrum, NULL, NULL, NULL), ==, alpha);
}

/* The same case through hr_spectrum_new_from_bytes(), with bytes at an address that is not
 * aligned for doubles: every array must be bitwise what hr_spectrum_new() gives. */
static void
test_bytes (gconstpointer data)
{
  JsonObject *c = (JsonObject *)data;
  JsonObject *files = json_object_get_object_member (c, "files");
  gsize d = json_object_get_int_member (c, "dimension");
  g_autoptr (HrSpectrum) direct = case_spectrum (c);
  g_autoptr (GBytes) mean = load_f64 (json_object_get_string_member (files, "mean"), d);
  g_autoptr (GBytes) scatter = load_f64 (json_object_get_string_member (files, "scatter"), d * d);
  g_autofree char *shifted = g_malloc (g_bytes_get_size (scatter) + 1);
  g_autoptr (GBytes) whole = NULL, unaligned = NULL;
  g_autoptr (HrSpectrum) spectrum = NULL;
  g_autoptr (GError) error = NULL;
  const double *(*getters[]) (HrSpectrum *, gsize *) = {
    hr_spectrum_get_eigenvalues,
    hr_spectrum_get_explained_variance_ratio,
    hr_spectrum_get_cumulative_explained_variance,
    hr_spectrum_get_singular_values,
    hr_spectrum_get_uncentred_singular_values,
  };

  memcpy (shifted + 1, g_bytes_get_data (scatter, NULL), g_bytes_get_size (scatter));
  whole = g_bytes_new (shifted, g_bytes_get_size (scatter) + 1);
  unaligned = g_bytes_new_from_bytes (whole, 1, g_bytes_get_size (scatter));

  spectrum = hr_spectrum_new_from_bytes (json_object_get_int_member (c, "n_samples"), d, mean,
                                         unaligned, &error);
  g_assert_no_error (error);
  for (gsize g = 0; g < G_N_ELEMENTS (getters); g++)
    {
      gsize n_a = 0, n_b = 0;
      const double *a = getters[g](direct, &n_a);
      const double *b = getters[g](spectrum, &n_b);

      g_assert_cmpuint (n_a, ==, n_b);
      g_assert_cmpmem (a, n_a * sizeof (double), b, n_b * sizeof (double));
      g_assert_true (getters[g](spectrum, NULL) == b);
    }
  g_assert_cmpuint (hr_spectrum_get_rank (spectrum), ==, hr_spectrum_get_rank (direct));
  g_assert_cmpuint (hr_spectrum_get_matrix_rank (spectrum), ==,
                    hr_spectrum_get_matrix_rank (direct));
}

/* -- hand-made cases ---------------------------------------------------------------------- */

/* A 2 × 2 covariance [[0.5, 0.4], [0.4, 0.5]] (eigenvalues 0.9 and 0.1, found by LAPACK with
 * rounding): the first axis explains 0.9 of the variance, which must count as reaching 0.9. */
static void
test_components_exact (void)
{
  const double mean[2] = { 0, 0 };
  const double scatter[4] = { 0.5, 0.4, 0.4, 0.5 }; /* N − 1 = 1 */
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) spectrum = hr_spectrum_new (2, 2, mean, scatter, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (hr_spectrum_get_components (spectrum, 0.9), ==, 1);
  g_assert_cmpuint (hr_spectrum_get_components (spectrum, 0.95), ==, 2);
  g_assert_cmpuint (hr_spectrum_get_components (spectrum, 1.0), ==, 2);
}

static void
test_ref_counting (void)
{
  const double mean[1] = { 1 };
  const double scatter[1] = { 4 };
  g_autoptr (GError) error = NULL;
  HrSpectrum *spectrum = hr_spectrum_new (5, 1, mean, scatter, &error);
  GValue value = G_VALUE_INIT;

  g_assert_no_error (error);
  g_assert_true (hr_spectrum_ref (spectrum) == spectrum);
  hr_spectrum_unref (spectrum);
  g_assert_true (G_TYPE_IS_BOXED (HR_TYPE_SPECTRUM));
  g_value_init (&value, HR_TYPE_SPECTRUM);
  g_value_set_boxed (&value, spectrum);
  g_assert_true (g_value_get_boxed (&value) == spectrum);
  hr_spectrum_unref (spectrum);
  g_assert_cmpuint (hr_spectrum_get_dimension (g_value_get_boxed (&value)), ==, 1);
  g_value_unset (&value);
}

/* -- bad input ---------------------------------------------------------------------------- */

static void
test_error_too_few_samples (void)
{
  const double mean[2] = { 0, 0 };
  const double scatter[4] = { 1, 0, 0, 1 };

  for (guint64 n = 0; n < 2; n++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (HrSpectrum) spectrum = hr_spectrum_new (n, 2, mean, scatter, &error);

      g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES);
      g_assert_null (spectrum);
    }
}

static void
test_error_non_finite (void)
{
  const double bad[] = { NAN, INFINITY, -INFINITY };

  for (gsize b = 0; b < G_N_ELEMENTS (bad); b++)
    for (gsize where = 0; where < 5; where++) /* mean[0], mean[1], scatter[0, 1, 3] */
      {
        double mean[2] = { 0, 1 };
        double scatter[4] = { 1, 0.5, 0.5, 1 };
        g_autoptr (GError) error = NULL;
        g_autoptr (HrSpectrum) spectrum = NULL;

        if (where < 2)
          mean[where] = bad[b];
        else
          scatter[where == 4 ? 3 : where - 2] = bad[b];
        spectrum = hr_spectrum_new (10, 2, mean, scatter, &error);
        g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC);
        g_assert_null (spectrum);
      }
}

/* A finite mean so large that N·m·mᵀ overflows the Gram matrix. */
static void
test_error_overflow (void)
{
  const double mean[2] = { 1e160, 1 };
  const double scatter[4] = { 1, 0, 0, 1 };
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) spectrum = hr_spectrum_new (10, 2, mean, scatter, &error);

  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC);
  g_assert_null (spectrum);
}

static void
test_error_shape (void)
{
  const double values[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
  struct
  {
    gsize dimension, mean_values, scatter_values;
  } cases[] = {
    { 3, 2, 9 }, { 3, 3, 8 }, { 3, 3, 3 }, { 2, 3, 9 }, { 0, 0, 0 }, { 3, 4, 9 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) mean = g_bytes_new (values, cases[i].mean_values * sizeof (double));
      g_autoptr (GBytes) scatter = g_bytes_new (values, cases[i].scatter_values * sizeof (double));
      g_autoptr (GError) error = NULL;
      g_autoptr (HrSpectrum) spectrum
          = hr_spectrum_new_from_bytes (10, cases[i].dimension, mean, scatter, &error);

      g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE);
      g_assert_null (spectrum);
    }

  {
    g_autoptr (GError) error = NULL;
    g_autoptr (HrSpectrum) spectrum = hr_spectrum_new (10, 0, values, values, &error);

    g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE);
    g_assert_null (spectrum);
  }
}

/* Bytes of NaN through the bytes constructor: the numeric error, not a shape error. */
static void
test_error_bytes_nan (void)
{
  const double mean_values[2] = { 0, 0 };
  const double scatter_values[4] = { 1, NAN, NAN, 1 };
  g_autoptr (GBytes) mean = g_bytes_new (mean_values, sizeof mean_values);
  g_autoptr (GBytes) scatter = g_bytes_new (scatter_values, sizeof scatter_values);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) spectrum = hr_spectrum_new_from_bytes (10, 2, mean, scatter, &error);

  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC);
  g_assert_null (spectrum);
}

/* -- issue 10: a rank that does not depend on N --------------------------------------------- */

/* The moments of N samples of one distribution, as a pass would accumulate them: mean m,
 * scatter S = (N − 1)·C with C = diag(s²) rotated by a fixed orthogonal matrix (a Householder
 * reflection), singular values spread over a factor of 33. */
static void
synthetic_moments (guint64 n, gsize d, double *mean, double *scatter)
{
  g_autofree double *v = g_new (double, d);
  double vv = 0;

  for (gsize i = 0; i < d; i++)
    {
      v[i] = 1.0 + (double)i / d;
      vv += v[i] * v[i];
      mean[i] = 0.5 - (double)i / d;
    }
  /* H = I − 2vvᵀ/vᵀv; S = (N − 1)·H diag(s²) H */
  for (gsize i = 0; i < d; i++)
    for (gsize j = 0; j < d; j++)
      {
        double sum = 0;

        for (gsize k = 0; k < d; k++)
          {
            double s = pow (33.0, -(double)k / (d - 1));
            double hik = (i == k) - 2 * v[i] * v[k] / vv;
            double hjk = (j == k) - 2 * v[j] * v[k] / vv;

            sum += hik * s * s * hjk;
          }
        scatter[i * d + j] = ((double)n - 1) * sum;
      }
}

static void
test_rank_independent_of_n (void)
{
  const gsize d = 64;
  g_autofree double *mean = g_new (double, d), *scatter = g_new (double, d *d);
  guint64 n;

  for (n = 10000; n <= 1000000000; n *= 10)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (HrSpectrum) sp = NULL;
      guint low, high;

      synthetic_moments (n, d, mean, scatter);
      sp = hr_spectrum_new (n, d, mean, scatter, &error);
      g_assert_no_error (error);
      hr_spectrum_get_rank_range (sp, &low, &high);
      g_test_message ("N = %" G_GUINT64_FORMAT ": rank %u (%u–%u), tolerance/σ₁ %.3g, numpy's "
                      "m.rank %u",
                      n, hr_spectrum_get_rank (sp), low, high,
                      hr_spectrum_get_tolerance (sp)
                          / hr_spectrum_get_singular_values (sp, NULL)[0],
                      hr_spectrum_get_matrix_rank (sp));
      g_assert_cmpuint (hr_spectrum_get_rank (sp), ==, d);
      g_assert_cmpuint (low, ==, d);
      g_assert_cmpuint (high, ==, d);
      g_assert_cmpuint (hr_spectrum_get_alpha (sp, NULL, NULL, NULL) > 0, ==, TRUE);
    }
  /* numpy's rule, kept as matrix_rank, does change with N: the reason for the issue */
  {
    g_autoptr (HrSpectrum) sp = NULL;

    synthetic_moments (1000000, d, mean, scatter);
    sp = hr_spectrum_new (1000000, d, mean, scatter, NULL);
    g_assert_cmpuint (hr_spectrum_get_matrix_rank (sp), <, d);
  }
}

/* N = 2: a centred matrix of two rows has rank at most 1. */
static void
test_rank_two_samples (void)
{
  const double mean[3] = { 0.5, 1.0, -0.5 };
  double scatter[9];
  const double diff[3] = { 1.0, -2.0, 0.25 };
  g_autoptr (HrSpectrum) sp = NULL;
  guint low, high;

  /* two samples m ± diff/2: S = diff diffᵀ / 2, plus a rounding-sized perturbation that a
   * careless count would take for a second direction */
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      scatter[i * 3 + j] = diff[i] * diff[j] / 2 + (i == j) * 1e-3;
  sp = hr_spectrum_new (2, 3, mean, scatter, NULL);
  hr_spectrum_get_rank_range (sp, &low, &high);
  g_assert_cmpuint (hr_spectrum_get_rank (sp), ==, 1);
  g_assert_cmpuint (high, ==, 1);
}

/* The error bounds raise the tolerance: τ = √(e² + δ_S + δ_eig), and the parts are kept. */
static void
test_tolerance_parts (void)
{
  const gsize d = 8;
  g_autofree double *mean = g_new (double, d), *scatter = g_new (double, d *d);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) sp = NULL, bad = NULL;
  double tau;

  synthetic_moments (1000, d, mean, scatter);
  sp = hr_spectrum_new_with_errors (1000, d, mean, scatter, 0.5, 4.0, &error);
  g_assert_no_error (error);
  tau = sqrt (0.25 + 4.0 + hr_spectrum_get_eigensolver_error (sp));
  g_assert_cmpfloat_with_epsilon (hr_spectrum_get_tolerance (sp), tau, 1e-12 * tau);
  g_assert_cmpfloat (hr_spectrum_get_value_error (sp), ==, 0.5);
  g_assert_cmpfloat (hr_spectrum_get_scatter_error (sp), ==, 4.0);
  g_assert_true (hr_spectrum_is_tolerance_raised (sp));
  g_assert_cmpfloat (hr_spectrum_get_noise_floor (sp), <=, hr_spectrum_get_tolerance (sp));
  /* a scatter error as large as the smallest eigenvalue of S makes those uncounted */
  g_clear_pointer (&sp, hr_spectrum_unref);
  sp = hr_spectrum_new_with_errors (1000, d, mean, scatter, 0.0, 999.0 * 2, &error);
  g_assert_cmpuint (hr_spectrum_get_rank (sp), <, d);
  bad = hr_spectrum_new_with_errors (1000, d, mean, scatter, -1.0, 0.0, &error);
  g_assert_null (bad);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC);
}

/* Subnormal float32 values (about 1e-42): their rounding is absolute, half the spacing
 * 2⁻¹⁴⁹ each, not u·|x|; e ≥ √(N·D)·2⁻¹⁵⁰. Four directions of values up to 1000·2⁻¹⁴⁹ and
 * four of ±1 spacing, which the format cannot tell from rounding: rank 4, where
 * e = u·‖X‖_F alone (3.8e-48 here) counted all 8. */
static void
test_tolerance_subnormal (void)
{
  const gsize n = 500, d = 8;
  g_autofree float *rows = g_new (float, n *d);
  g_autofree double *mean = g_new0 (double, d), *scatter = g_new0 (double, d *d);
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) from_moments = NULL, from_rows = NULL;
  const double floor = sqrt ((double)(n * d)) * 0x1p-150;

  for (gsize r = 0; r < n; r++)
    for (gsize j = 0; j < d; j++)
      rows[r * d + j] = (float)((j < 4 ? g_rand_int_range (rand, -1000, 1001)
                                       : (g_rand_boolean (rand) ? 1 : -1))
                                * 0x1p-149);
  for (gsize r = 0; r < n; r++)
    for (gsize j = 0; j < d; j++)
      mean[j] += rows[r * d + j] / (double)n;
  for (gsize r = 0; r < n; r++)
    for (gsize i = 0; i < d; i++)
      for (gsize j = 0; j < d; j++)
        scatter[i * d + j] += (rows[r * d + i] - mean[i]) * (rows[r * d + j] - mean[j]);

  from_moments = hr_spectrum_new (n, d, mean, scatter, &error);
  g_assert_no_error (error);
  from_rows = hr_spectrum_new_from_rows (n, d, rows, FALSE, &error);
  g_assert_no_error (error);
  g_test_message ("value error %.3g (floor %.3g), tolerance %.3g, σ₄ %.3g, σ₅ %.3g",
                  hr_spectrum_get_value_error (from_moments), floor,
                  hr_spectrum_get_tolerance (from_moments),
                  hr_spectrum_get_singular_values (from_moments, NULL)[3],
                  hr_spectrum_get_singular_values (from_moments, NULL)[4]);
  g_assert_cmpfloat (hr_spectrum_get_value_error (from_moments), >=, floor);
  g_assert_cmpfloat (hr_spectrum_get_value_error (from_rows), >=, floor);
  g_assert_cmpuint (hr_spectrum_get_rank (from_moments), ==, 4);
  g_assert_cmpuint (hr_spectrum_get_rank (from_rows), ==, 4);
}

int
main (int argc, char **argv)
{
  g_autofree char *manifest_path = NULL;
  g_autoptr (GError) error = NULL;
  JsonArray *cases;
  static const struct
  {
    const char *name;
    GTestDataFunc func;
  } per_case[] = {
    { "eigenvalues", test_eigenvalues },
    { "singular-values", test_singular_values },
    { "ratio", test_ratio },
    { "rank", test_rank },
    { "effective-rank", test_effective_rank },
    { "components", test_components },
    { "alpha", test_alpha },
    { "bytes", test_bytes },
  };
  int status;

  g_test_init (&argc, &argv, NULL);

  manifest_path = spectrum_path ("manifest.json");
  manifest_parser = json_parser_new ();
  json_parser_load_from_file (manifest_parser, manifest_path, &error);
  g_assert_no_error (error);
  cases = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (manifest_parser)), "cases");

  for (gsize t = 0; t < G_N_ELEMENTS (per_case); t++)
    for (guint i = 0; i < json_array_get_length (cases); i++)
      {
        JsonObject *c = json_array_get_object_element (cases, i);
        g_autofree char *path = g_strdup_printf ("/spectrum/%s/%s", per_case[t].name,
                                                 json_object_get_string_member (c, "name"));

        g_test_add_data_func (path, c, per_case[t].func);
      }

  g_test_add_func ("/spectrum/components/exact-fraction", test_components_exact);
  g_test_add_func ("/spectrum/boxed", test_ref_counting);
  g_test_add_func ("/spectrum/tolerance/independent-of-n", test_rank_independent_of_n);
  g_test_add_func ("/spectrum/tolerance/two-samples", test_rank_two_samples);
  g_test_add_func ("/spectrum/tolerance/parts", test_tolerance_parts);
  g_test_add_func ("/spectrum/tolerance/subnormal", test_tolerance_subnormal);
  g_test_add_func ("/spectrum/error/too-few-samples", test_error_too_few_samples);
  g_test_add_func ("/spectrum/error/non-finite", test_error_non_finite);
  g_test_add_func ("/spectrum/error/overflow", test_error_overflow);
  g_test_add_func ("/spectrum/error/shape", test_error_shape);
  g_test_add_func ("/spectrum/error/bytes-nan", test_error_bytes_nan);

  status = g_test_run ();
  g_object_unref (manifest_parser);
  return status;
}
