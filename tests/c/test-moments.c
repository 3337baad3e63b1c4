/* headrank tests: HrMoments, the one-pass moments of a stage
 *
 * Table-driven over tests/data/moments/manifest.json (written by make_moments.py there,
 * numpy in float64): every case is accumulated in both precisions and in several chunkings
 * (all rows at once, chunks of 1, 17 and 256 rows), and compared with numpy:
 *
 * - the scatter matrix within 1e-12·trace for float64; for float32 products, the measured
 *   error ‖S − S_ref‖_F (an upper bound of the spectral norm the bound is about) must stay
 *   within hr_moments_get_error_bound() plus the reference's own float64 rounding
 *   (γ_{N+2}·trace with u = 2⁻⁵³), and the ratio bound/error is reported;
 * - the mean, std (ddof 0), zero fraction, dead dimensions, SimSiam std, counts and the
 *   per-sample mean, std and norm; the Gram matrix against XᵀX summed here in float64;
 * - the precision HR_PRECISION_AUTO chooses, for the manifest's table of (N, D) pairs;
 * - the state before any sample, and buffers that are not a whole number of rows;
 * - the error bound against the error measured with a long double reference, on data made
 *   to defeat it: a large offset and a wide dynamic range, and chunks whose products are
 *   each below half an ulp of the running scatter matrix in every panel BLAS would add
 *   separately (S would lose them if it were rounded once per panel, not once per chunk).
 */
#include <headrank.h>

#include "test-util.h"

#include <float.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define U64 (1.0 / 9007199254740992.0)
#define U32 (1.0 / 16777216.0)

static JsonParser *manifest_parser;

typedef struct
{
  JsonObject *ref;
  HrPrecision precision;
  gsize chunk; /* 0: all at once */
} MomentsCase;

static char *
moments_path (const char *relative)
{
  return g_test_build_filename (G_TEST_DIST, "data", "moments", relative, NULL);
}

static void *
load_file (const char *name, const char *suffix, gsize expected_size)
{
  g_autofree char *file = g_strconcat (name, suffix, NULL);
  gsize size = g_str_has_suffix (suffix, "f32") ? 4 : 8;

  return g_bytes_unref_to_data (hr_test_load_raw ("moments", file, size, expected_size / size),
                                &expected_size);
}

/* √v by Newton's iteration from a guess within a factor of two (the tests do not link
 * libm). */
static double
square_root (double v)
{
  guint64 bits;
  double r;

  if (!(v > 0) || !isfinite (v))
    return v;
  memcpy (&bits, &v, sizeof bits);
  bits = (bits >> 1) + (G_GUINT64_CONSTANT (1023) << 51);
  memcpy (&r, &bits, sizeof r);
  for (int i = 0; i < 8; i++)
    r = 0.5 * (r + v / r);
  return r;
}

static double
array_double (JsonArray *array, guint i)
{
  return json_array_get_double_element (array, i);
}

static const double *
bytes_doubles (GBytes *bytes, gsize n)
{
  gsize size;
  const double *data = g_bytes_get_data (bytes, &size);

  g_assert_cmpuint (size, ==, n * sizeof (double));
  return data;
}

static gboolean
is_finite_row (const float *x, gsize d)
{
  for (gsize j = 0; j < d; j++)
    if (!isfinite (x[j]))
      return FALSE;
  return TRUE;
}

static void
test_case (gconstpointer data)
{
  const MomentsCase *mc = data;
  JsonObject *ref = mc->ref;
  const char *name = json_object_get_string_member (ref, "name");
  gsize n_rows = json_object_get_int_member (ref, "n_rows");
  gsize d = json_object_get_int_member (ref, "dimension");
  guint64 n = json_object_get_int_member (ref, "n_samples");
  double trace = json_object_get_double_member (ref, "trace");
  JsonArray *ref_mean = json_object_get_array_member (ref, "mean");
  JsonArray *ref_std = json_object_get_array_member (ref, "std");
  JsonArray *ref_zero = json_object_get_array_member (ref, "zero_fraction");
  g_autofree float *x = load_file (name, ".f32", n_rows * d * sizeof (float));
  g_autofree double *ref_scatter = load_file (name, ".scatter.f64", d * d * sizeof (double));
  g_autofree double *ref_per = load_file (name, ".per-sample.f64", n_rows * 3 * sizeof (double));
  g_autofree float *per = g_new (float, n_rows * 3);
  g_autoptr (HrMoments) moments = NULL;
  g_autoptr (GBytes) mean_bytes = NULL, std_bytes = NULL, zero_bytes = NULL, gram_bytes = NULL;
  g_autoptr (GBytes) scatter_bytes = NULL;
  const double *mean, *scatter, *std, *zero, *gram;
  g_autofree double *xtx = g_new0 (double, d *d);
  double error_sq = 0, error_max = 0, bound, allowed, y_max = 0, mean_max = 0, mean_tol;
  double gram_trace = 0, uncentred = 0;
  gboolean f32 = mc->precision == HR_PRECISION_FLOAT32_PRODUCTS;
  gsize step = mc->chunk == 0 ? n_rows : mc->chunk;

  moments = hr_moments_new (d, n_rows, mc->precision);
  g_assert_cmpint (hr_moments_get_precision (moments), ==, mc->precision);
  g_assert_cmpuint (hr_moments_get_dimension (moments), ==, d);
  for (gsize first = 0; first < n_rows; first += step)
    hr_moments_add (moments, x + first * d, MIN (step, n_rows - first), per + 3 * first);

  g_assert_cmpuint (hr_moments_get_n_samples (moments), ==, n);
  g_assert_cmpuint (hr_moments_get_n_dropped (moments), ==,
                    json_object_get_int_member (ref, "n_dropped"));
  g_assert_cmpuint (hr_moments_get_n_nonfinite (moments), ==,
                    json_object_get_int_member (ref, "n_nonfinite"));
  g_assert_cmpuint (hr_moments_get_n_dead (moments), ==,
                    json_object_get_int_member (ref, "n_dead"));

  /* scatter */
  scatter = hr_moments_peek_scatter (moments);
  scatter_bytes = hr_moments_get_scatter (moments);
  g_assert_true (memcmp (bytes_doubles (scatter_bytes, d * d), scatter, d * d * sizeof (double))
                 == 0);
  for (gsize i = 0; i < d; i++)
    for (gsize j = 0; j < d; j++)
      {
        double e = scatter[i * d + j] - ref_scatter[i * d + j];

        g_assert_cmpfloat (scatter[i * d + j], ==, scatter[j * d + i]);
        error_sq += e * e;
        error_max = MAX (error_max, fabs (e));
      }
  bound = hr_moments_get_error_bound (moments);
  g_assert_cmpfloat (bound, >=, 0);
  /* the trace of XᵀX, for the terms of the bound that scale with the mean */
  for (gsize j = 0; j < d; j++)
    uncentred += (double)n * array_double (ref_mean, j) * array_double (ref_mean, j);
  uncentred += trace;

  /* measured against numpy's float64 scatter, itself off by up to γ_{N+2}·trace */
  allowed = bound + ((double)n + 2) * U64 / (1 - ((double)n + 2) * U64) * trace;
  g_assert_cmpfloat (square_root (error_sq), <=, allowed);
  if (f32)
    {
      /* The bound is γ·Σ‖Y‖_F² and the merges': for float32 products it is never far above
       * 66·2⁻²⁴·trace, and must not be looser. */
      g_assert_cmpfloat (bound, <=, 2.0 * 66 * U32 * trace + 1e-9 * trace + 1e-24 * uncentred);
      /* and on a few hundred rows the worst case is within a few hundred times the actual
       * error (random rounding errors partly cancel): 80 to 480 on these fixtures */
      if (n >= 100 && trace > 0)
        g_assert_cmpfloat (bound, <=, 5000 * square_root (error_sq));
    }
  else
    {
      allowed = 1e-12 * trace;
      g_assert_cmpfloat (error_max, <=, allowed);
      g_assert_cmpfloat (bound, <=, 1e-9 * trace + 1e-24 * uncentred);
    }
  g_test_message ("%s: ‖ΔS‖_F = %.3g, max |ΔS| = %.3g, trace = %.6g, bound = %.3g "
                  "(bound / ‖ΔS‖_F = %.3g)",
                  name, square_root (error_sq), error_max, trace, bound,
                  error_sq > 0 ? bound / square_root (error_sq) : INFINITY);

  /* mean: exact up to float64 for float64; for float32 products the mean comes from the
   * float32 centred values, each within u₃₂ of |x − c| */
  mean_bytes = hr_moments_get_mean (moments);
  mean = bytes_doubles (mean_bytes, d);
  g_assert_true (memcmp (mean, hr_moments_peek_mean (moments), d * sizeof (double)) == 0);
  for (gsize r = 0; r < n_rows; r++)
    if (is_finite_row (x + r * d, d))
      for (gsize j = 0; j < d; j++)
        y_max = MAX (y_max, fabs (x[r * d + j] - array_double (ref_mean, j)));
  for (gsize j = 0; j < d; j++)
    mean_max = MAX (mean_max, fabs (array_double (ref_mean, j)));
  mean_tol = 1e-13 * (mean_max + y_max) + (f32 ? 2 * U32 * y_max : 0);
  for (gsize j = 0; j < d; j++)
    g_assert_cmpfloat_with_epsilon (mean[j], array_double (ref_mean, j), mean_tol + 1e-300);

  /* std (ddof 0) and zero fraction */
  std_bytes = hr_moments_get_std (moments);
  std = bytes_doubles (std_bytes, d);
  zero_bytes = hr_moments_get_zero_fraction (moments);
  zero = bytes_doubles (zero_bytes, d);
  for (gsize j = 0; j < d; j++)
    {
      double s = array_double (ref_std, j);

      /* N·std² is the diagonal of the scatter matrix */
      g_assert_cmpfloat_with_epsilon ((double)n * std[j] * std[j], (double)n * s * s,
                                      allowed + 1e-300);
      g_assert_cmpfloat_with_epsilon (zero[j], array_double (ref_zero, j), 1e-15);
    }

  g_assert_cmpfloat_with_epsilon (hr_moments_get_simsiam_std (moments),
                                  json_object_get_double_member (ref, "simsiam_std"), 1e-12);

  /* per sample: computed in float64, rounded once to float32 */
  for (gsize r = 0; r < n_rows; r++)
    for (gsize k = 0; k < 3; k++)
      {
        double want = ref_per[3 * r + k], got = per[3 * r + k];

        if (isnan (want))
          g_assert_true (isnan (got));
        else
          g_assert_cmpfloat_with_epsilon (got, want, 1.5 * U32 * fabs (want) + 1e-300);
      }

  /* Gram matrix: XᵀX summed here in float64 */
  for (gsize r = 0; r < n_rows; r++)
    if (is_finite_row (x + r * d, d))
      for (gsize i = 0; i < d; i++)
        for (gsize j = 0; j < d; j++)
          xtx[i * d + j] += (double)x[r * d + i] * x[r * d + j];
  for (gsize i = 0; i < d; i++)
    gram_trace += xtx[i * d + i];
  gram_bytes = hr_moments_get_gram (moments);
  gram = bytes_doubles (gram_bytes, d * d);
  for (gsize i = 0; i < d * d; i++)
    g_assert_cmpfloat_with_epsilon (
        gram[i], xtx[i],
        allowed + 1e-12 * gram_trace + 2.0 * (double)n * (mean_max + mean_tol) * mean_tol + 1e-300);

  /* Without the scatter matrix: the same statistics, no matrix. */
  if (!f32)
    {
      g_autoptr (HrMoments) diagonal = hr_moments_new_diagonal (d);
      g_autoptr (GBytes) dstd_bytes = NULL, dzero_bytes = NULL;
      g_autofree float *dper = g_new (float, n_rows * 3);
      const double *dstd, *dzero, *dmean;

      for (gsize first = 0; first < n_rows; first += step)
        hr_moments_add (diagonal, x + first * d, MIN (step, n_rows - first), dper + 3 * first);
      g_assert_null (hr_moments_peek_scatter (diagonal));
      g_assert_null (hr_moments_get_gram (diagonal));
      g_assert_cmpuint (hr_moments_get_n_samples (diagonal), ==, n);
      g_assert_cmpuint (hr_moments_get_n_dead (diagonal), ==, hr_moments_get_n_dead (moments));
      dmean = hr_moments_peek_mean (diagonal);
      dstd_bytes = hr_moments_get_std (diagonal);
      dstd = bytes_doubles (dstd_bytes, d);
      dzero_bytes = hr_moments_get_zero_fraction (diagonal);
      dzero = bytes_doubles (dzero_bytes, d);
      for (gsize j = 0; j < d; j++)
        {
          double sref = array_double (ref_std, j);

          g_assert_cmpfloat_with_epsilon (dmean[j], array_double (ref_mean, j), mean_tol + 1e-300);
          g_assert_cmpfloat_with_epsilon ((double)n * dstd[j] * dstd[j], (double)n * sref * sref,
                                          allowed + 1e-300);
          g_assert_cmpfloat (dzero[j], ==, zero[j]);
        }
      g_assert_cmpfloat (hr_moments_get_simsiam_std (diagonal), ==,
                         hr_moments_get_simsiam_std (moments));
      for (gsize r = 0; r < n_rows * 3; r++)
        g_assert_true ((isnan (dper[r]) && isnan (per[r])) || dper[r] == per[r]);
    }
}

/* The precision AUTO chooses, and hr_moments_float32_is_safe(), over the table of (N, D) of
 * the fixture script: since the rank tolerance no longer grows with N, float32 products
 * are never safe (√γ ≈ 2·10⁻³ against the 2⁻²⁴ of float32 values), whatever the table's old
 * column says, and AUTO resolves to float64. */
static void
test_auto (void)
{
  JsonObject *root = json_node_get_object (json_parser_get_root (manifest_parser));
  JsonArray *table = json_object_get_array_member (root, "auto");

  g_assert_cmpuint (json_array_get_length (table), >, 0);
  for (guint i = 0; i < json_array_get_length (table); i++)
    {
      JsonObject *row = json_array_get_object_element (table, i);
      guint64 n = json_object_get_int_member (row, "n");
      gsize d = json_object_get_int_member (row, "d");

      g_assert_false (hr_moments_float32_is_safe (n, d));
      if (d <= 512)
        {
          g_autoptr (HrMoments) moments = hr_moments_new (d, n, HR_PRECISION_AUTO);

          g_assert_cmpint (hr_moments_get_precision (moments), ==, HR_PRECISION_FLOAT64);
        }
    }
  g_assert_false (hr_moments_float32_is_safe (G_MAXUINT64, 1));
}

static void
test_empty (void)
{
  g_autoptr (HrMoments) moments = hr_moments_new (3, 0, HR_PRECISION_AUTO);
  g_autoptr (GBytes) mean = hr_moments_get_mean (moments);
  g_autoptr (GBytes) scatter = hr_moments_get_scatter (moments);
  g_autoptr (GBytes) gram = hr_moments_get_gram (moments);
  g_autoptr (GBytes) std = hr_moments_get_std (moments);
  g_autoptr (GBytes) zero = hr_moments_get_zero_fraction (moments);
  const double *m = bytes_doubles (mean, 3), *s = bytes_doubles (scatter, 9);
  const double *g = bytes_doubles (gram, 9), *sd = bytes_doubles (std, 3);
  const double *z = bytes_doubles (zero, 3);

  g_assert_cmpint (hr_moments_get_precision (moments), ==, HR_PRECISION_FLOAT64);
  g_assert_cmpuint (hr_moments_get_n_samples (moments), ==, 0);
  g_assert_cmpuint (hr_moments_get_n_dead (moments), ==, 0);
  g_assert_cmpfloat (hr_moments_get_error_bound (moments), ==, 0);
  g_assert_true (isnan (hr_moments_get_simsiam_std (moments)));
  for (guint i = 0; i < 3; i++)
    {
      g_assert_cmpfloat (m[i], ==, 0);
      g_assert_true (isnan (sd[i]));
      g_assert_true (isnan (z[i]));
    }
  for (guint i = 0; i < 9; i++)
    {
      g_assert_cmpfloat (s[i], ==, 0);
      g_assert_cmpfloat (g[i], ==, 0);
    }

  /* rows that are all non-finite leave it empty */
  {
    float rows[6] = { NAN, 1, 2, 3, INFINITY, -INFINITY };
    float per[6];

    hr_moments_add (moments, rows, 2, per);
    g_assert_cmpuint (hr_moments_get_n_samples (moments), ==, 0);
    g_assert_cmpuint (hr_moments_get_n_dropped (moments), ==, 2);
    g_assert_cmpuint (hr_moments_get_n_nonfinite (moments), ==, 3);
    for (guint i = 0; i < 6; i++)
      g_assert_true (isnan (per[i]));
    g_assert_cmpfloat (hr_moments_peek_scatter (moments)[4], ==, 0);
  }
}

static void
test_bytes (void)
{
  g_autoptr (HrMoments) moments = hr_moments_new (3, 0, HR_PRECISION_FLOAT64);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) per = NULL;
  g_autoptr (GBytes) bad = NULL, good = NULL, unaligned = NULL, empty = NULL;
  float rows[7] = { 0, 1, 2, 3, 4, 5, 6 };
  char raw[1 + 6 * sizeof (float)];
  const float *stats;
  gsize size;

  /* 7 floats are not whole rows of 3 */
  bad = g_bytes_new (rows, sizeof rows);
  g_assert_false (hr_moments_add_bytes (moments, bad, &per, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE);
  g_assert_null (per);
  g_assert_cmpuint (hr_moments_get_n_samples (moments), ==, 0);
  g_clear_error (&error);

  good = g_bytes_new (rows, 6 * sizeof (float));
  g_assert_true (hr_moments_add_bytes (moments, good, &per, &error));
  g_assert_no_error (error);
  stats = g_bytes_get_data (per, &size);
  g_assert_cmpuint (size, ==, 6 * sizeof (float));
  g_assert_cmpfloat_with_epsilon (stats[0], 1.0, 1e-7);               /* mean of 0 1 2 */
  g_assert_cmpfloat_with_epsilon (stats[1], 0.816496580927726, 1e-7); /* std, ddof 0 */
  g_assert_cmpfloat_with_epsilon (stats[2], 2.23606797749979, 1e-6);  /* norm */
  g_assert_cmpfloat_with_epsilon (stats[5], 7.0710678118654755, 1e-6);
  g_clear_pointer (&per, g_bytes_unref);

  /* data not aligned for float32, and no per-sample output asked for */
  memcpy (raw + 1, rows, 6 * sizeof (float));
  unaligned = g_bytes_new_static (raw + 1, 6 * sizeof (float));
  g_assert_true (hr_moments_add_bytes (moments, unaligned, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hr_moments_get_n_samples (moments), ==, 4);
  /* rows 0 1 2 and 3 4 5 twice: mean 1.5 2.5 3.5, variance 2.25 */
  g_assert_cmpfloat_with_epsilon (hr_moments_peek_mean (moments)[1], 2.5, 1e-15);
  g_assert_cmpfloat_with_epsilon (hr_moments_peek_scatter (moments)[0], 4 * 2.25, 1e-13);
  g_assert_cmpfloat_with_epsilon (hr_moments_peek_scatter (moments)[3], 4 * 2.25, 1e-13);

  empty = g_bytes_new (NULL, 0);
  g_assert_true (hr_moments_add_bytes (moments, empty, &per, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (per), ==, 0);
  g_assert_cmpuint (hr_moments_get_n_samples (moments), ==, 4);
}

/* Float32 products on data far outside float32's square-safe range: the per-block power of
 * two keeps the products from overflowing (1e30² > FLT_MAX) or underflowing (1e-30²). */
static void
test_scale (void)
{
  const double scales[] = { 1e30, 1e-30, 1.0 };

  for (guint s = 0; s < G_N_ELEMENTS (scales); s++)
    {
      g_autoptr (HrMoments) f32 = hr_moments_new (5, 0, HR_PRECISION_FLOAT32_PRODUCTS);
      g_autoptr (HrMoments) f64 = hr_moments_new (5, 0, HR_PRECISION_FLOAT64);
      g_autoptr (GRand) rand = g_rand_new_with_seed (42);
      float rows[200 * 5];
      const double *a, *b;
      double trace = 0;

      for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
        rows[i] = (float)(g_rand_double_range (rand, -1, 1) * scales[s]);
      hr_moments_add (f32, rows, 200, NULL);
      hr_moments_add (f64, rows, 200, NULL);
      a = hr_moments_peek_scatter (f32);
      b = hr_moments_peek_scatter (f64);
      for (guint j = 0; j < 5; j++)
        trace += b[j * 5 + j];
      g_assert_cmpfloat (trace, >, 0);
      g_assert_true (isfinite (trace));
      for (guint i = 0; i < 25; i++)
        g_assert_cmpfloat_with_epsilon (
            a[i], b[i], hr_moments_get_error_bound (f32) + hr_moments_get_error_bound (f64));
    }
}

static const char *
precision_nick (HrPrecision precision)
{
  return precision == HR_PRECISION_FLOAT64 ? "float64" : "float32";
}

/* ‖S − S_ref‖_F, S_ref the scatter matrix of the n × d rows summed in long double (two
 * passes: the mean, then the centred products, off by at most about (256 + n/256)·u_ld
 * times the trace); sets *trace to trace(S_ref). */
static double
scatter_error_long_double (HrMoments *moments, const float *x, gsize n, gsize d, double *trace)
{
  const double *s = hr_moments_peek_scatter (moments);
  g_autofree long double *mean = g_new0 (long double, d);
  g_autofree long double *ref = g_new0 (long double, d *d);
  g_autofree long double *block = g_new (long double, d *d);
  g_autofree long double *y = g_new (long double, d);
  long double error_sq = 0, t = 0;

  for (gsize r = 0; r < n; r++)
    for (gsize j = 0; j < d; j++)
      mean[j] += x[r * d + j];
  for (gsize j = 0; j < d; j++)
    mean[j] /= (long double)n;
  /* in blocks of 256 rows, each summed on its own, so that small products are not lost
   * against a large running sum */
  for (gsize first = 0; first < n; first += 256)
    {
      memset (block, 0, d * d * sizeof (long double));
      for (gsize r = first; r < MIN (first + 256, n); r++)
        {
          for (gsize j = 0; j < d; j++)
            y[j] = x[r * d + j] - mean[j];
          for (gsize i = 0; i < d; i++)
            for (gsize j = i; j < d; j++)
              block[i * d + j] += y[i] * y[j];
        }
      for (gsize k = 0; k < d * d; k++)
        ref[k] += block[k];
    }
  for (gsize i = 0; i < d; i++)
    {
      t += ref[i * d + i];
      for (gsize j = 0; j < d; j++)
        {
          long double e = s[i * d + j] - ref[MIN (i, j) * d + MAX (i, j)];

          error_sq += e * e;
        }
    }
  *trace = (double)t;
  return square_root ((double)error_sq);
}

/* The reference's own error, generously: (256 + n/256 + 2)·u_ld·trace, times 4. */
static double
long_double_slack (gsize n, double trace)
{
  return 2.0 * (256.0 + (double)n / 256 + 2) * (double)LDBL_EPSILON * trace;
}

/* Approximately standard normal: the sum of 12 uniforms, minus 6. */
static double
rand_normal (GRand *rand)
{
  double t = -6;

  for (int i = 0; i < 12; i++)
    t += g_rand_double (rand);
  return t;
}

/* A large common offset and a dynamic range of 2²⁴ across the columns, correlated columns,
 * at a few sizes and chunkings, in both precisions: the measured error stays within the
 * bound. */
static void
test_bound_offset (void)
{
  const gsize sizes[] = { 2048, 6161, 60000 };
  const gsize steps[] = { 0, 1000 };
  const HrPrecision precisions[] = { HR_PRECISION_FLOAT64, HR_PRECISION_FLOAT32_PRODUCTS };
  const gsize d = 24;

  if (LDBL_MANT_DIG < 64)
    {
      g_test_skip ("long double is not wider than double here");
      return;
    }
  for (guint a = 0; a < G_N_ELEMENTS (sizes); a++)
    {
      gsize n = sizes[a];
      g_autofree float *x = g_new (float, n *d);
      g_autoptr (GRand) rand = g_rand_new_with_seed (42 + a);

      for (gsize r = 0; r < n; r++)
        {
          double common = rand_normal (rand);

          for (gsize j = 0; j < d; j++)
            {
              double scale = (double)(1 << (j % 24)) / 4096.0;

              x[r * d + j] = (float)(3.0e4 + scale * (rand_normal (rand) + 0.9 * common));
            }
        }
      for (guint p = 0; p < G_N_ELEMENTS (precisions); p++)
        for (guint c = 0; c < G_N_ELEMENTS (steps); c++)
          {
            g_autoptr (HrMoments) moments = hr_moments_new (d, n, precisions[p]);
            gsize step = steps[c] == 0 ? n : steps[c];
            double error, trace, bound;

            for (gsize first = 0; first < n; first += step)
              hr_moments_add (moments, x + first * d, MIN (step, n - first), NULL);
            error = scatter_error_long_double (moments, x, n, d, &trace);
            bound = hr_moments_get_error_bound (moments);
            g_test_message ("N = %" G_GSIZE_FORMAT ", %s, step %" G_GSIZE_FORMAT
                            ": ‖ΔS‖_F = %.3g, bound = %.3g (bound / error %.3g)",
                            n, precision_nick (precisions[p]), step, error, bound, bound / error);
            g_assert_cmpfloat (error, <=, bound + long_double_slack (n, trace));
          }
    }
}

/* A first chunk of two rows ±32 makes S = 2048·11ᵀ (with a small products bound); every
 * later chunk of 2,048 rows ±a along the same direction adds 2048·a² = 3.6·2⁻⁴² to each
 * element: 1.8 ulps of 2048, so S moves by 2 ulps per chunk when the chunk is added at once,
 * but by nothing if it were added in panels of up to 512 rows (0.9·2⁻⁴² or less each,
 * under half an ulp). The bound charges a merge 3·u₆₄·trace(S) = 12·2⁻⁴² against an error
 * matrix of 2-norm 4·0.4·2⁻⁴² (S rounded once per chunk) or 4·3.6·2⁻⁴² (once per panel,
 * as `dsyrk` with β = 1 into S does): only a bound that matches the implementation holds. */
static void
test_bound_lost_panels (void)
{
  const HrPrecision precisions[] = { HR_PRECISION_FLOAT64, HR_PRECISION_FLOAT32_PRODUCTS };
  const gsize d = 4, n_chunks = 300, n = 2 + HR_MOMENTS_CHUNK_ROWS * n_chunks;
  float a = (float)(1.3416407864998738 / 67108864.0); /* √1.8·2⁻²⁶ */
  g_autofree float *x = g_new (float, n *d);

  g_assert_cmpuint (HR_MOMENTS_CHUNK_ROWS, ==, 2048);
  if (LDBL_MANT_DIG < 64)
    {
      g_test_skip ("long double is not wider than double here");
      return;
    }
  for (gsize r = 0; r < n; r++)
    for (gsize j = 0; j < d; j++)
      x[r * d + j] = (r % 2 == 0 ? 1.0f : -1.0f) * (r < 2 ? 32.0f : a);
  for (guint p = 0; p < G_N_ELEMENTS (precisions); p++)
    {
      g_autoptr (HrMoments) moments = hr_moments_new (d, n, precisions[p]);
      double error, trace, bound;

      hr_moments_add (moments, x, 2, NULL);
      hr_moments_add (moments, x + 2 * d, n - 2, NULL);
      error = scatter_error_long_double (moments, x, n, d, &trace);
      bound = hr_moments_get_error_bound (moments);
      g_test_message ("%s: ‖ΔS‖_F = %.3g, bound = %.3g (bound / error %.3g)",
                      precision_nick (precisions[p]), error, bound, bound / error);
      g_assert_cmpfloat (error, <=, bound + long_double_slack (n, trace));
    }
}

int
main (int argc, char *argv[])
{
  g_autoptr (GError) error = NULL;
  g_autofree char *manifest = NULL;
  JsonArray *cases;
  const HrPrecision precisions[] = { HR_PRECISION_FLOAT64, HR_PRECISION_FLOAT32_PRODUCTS };
  const gsize chunks[] = { 0, 1, 17, 256 };
  int status;

  g_test_init (&argc, &argv, NULL);

  manifest = moments_path ("manifest.json");
  manifest_parser = json_parser_new ();
  json_parser_load_from_file (manifest_parser, manifest, &error);
  g_assert_no_error (error);
  cases = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (manifest_parser)), "cases");

  for (guint i = 0; i < json_array_get_length (cases); i++)
    for (guint p = 0; p < G_N_ELEMENTS (precisions); p++)
      for (guint c = 0; c < G_N_ELEMENTS (chunks); c++)
        {
          MomentsCase *mc = g_new0 (MomentsCase, 1);
          g_autofree char *chunking = NULL;
          g_autofree char *path = NULL;

          mc->ref = json_array_get_object_element (cases, i);
          mc->precision = precisions[p];
          mc->chunk = chunks[c];
          chunking = chunks[c] == 0 ? g_strdup ("whole")
                                    : g_strdup_printf ("chunks-%" G_GSIZE_FORMAT, chunks[c]);
          path = g_strdup_printf ("/moments/%s/%s/%s",
                                  json_object_get_string_member (mc->ref, "name"),
                                  precision_nick (precisions[p]), chunking);
          g_test_add_data_func_full (path, mc, test_case, g_free);
        }
  g_test_add_func ("/moments/auto/table", test_auto);
  g_test_add_func ("/moments/empty", test_empty);
  g_test_add_func ("/moments/bytes/shape", test_bytes);
  g_test_add_func ("/moments/float32/scale", test_scale);
  g_test_add_func ("/moments/bound/offset", test_bound_offset);
  g_test_add_func ("/moments/bound/lost-panels", test_bound_lost_panels);

  status = g_test_run ();
  g_object_unref (manifest_parser);
  return status;
}
