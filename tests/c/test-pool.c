/* The pass's thread pool and the BLAS products split over it (lib/core/hr-pool.c, private:
 * compiled into this test): every part of a job runs exactly once, a split product equals
 * the one BLAS call within its rounding bound (and is reported when it is not bit for bit),
 * OpenBLAS is single-threaded exactly while a pool for it lives, and an analysis run with
 * the pool (OpenBLAS at 3 threads) agrees with one run without (at 1 thread). */
#include <headrank.h>

#include "hr-pool.h"
#include "test-util.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

typedef struct
{
  gint *count;
} CountJob;

static void
count_part (guint part, gpointer data)
{
  CountJob *job = data;

  g_atomic_int_inc (&job->count[part]);
}

/* Every part once, for pools of 1 (none) to 4 threads and any number of parts, over many
 * jobs in a row (the wake-ups between jobs). */
static void
test_pool_parts (void)
{
  static const guint n_parts[] = { 0, 1, 2, 3, 7, 64 };

  for (guint threads = 1; threads <= 4; threads++)
    {
      g_autoptr (HrPool) pool = hr_pool_new (threads);

      g_assert_cmpuint (hr_pool_get_n_threads (pool), ==, threads);
      g_assert_true ((pool == NULL) == (threads == 1));
      for (guint k = 0; k < G_N_ELEMENTS (n_parts); k++)
        for (guint rep = 0; rep < 50; rep++)
          {
            g_autofree gint *count = g_new0 (gint, MAX (n_parts[k], 1));
            CountJob job = { count };

            hr_pool_run (pool, n_parts[k], count_part, &job);
            for (guint p = 0; p < n_parts[k]; p++)
              g_assert_cmpint (count[p], ==, 1);
          }
    }
}

typedef struct
{
  gint *count;
  gulong late_us; /* how long part 1 takes */
} LateJob;

static void
late_part (guint part, gpointer data)
{
  LateJob *job = data;

  if (part == 1 && job->late_us > 0)
    g_usleep (job->late_us);
  g_atomic_int_inc (&job->count[part]);
}

/* The waits of hr_pool_run(): a thread waiting for the next job and the caller waiting for
 * the end of one spin for a while, then sleep. Jobs that follow each other at once, after
 * less and after more than the spin, with a part that ends at once, soon or late, each
 * run every part once; and hr_pool_get_n_parts() gives HR_POOL_PARTS_PER_THREAD a thread. */
static void
test_pool_waits (void)
{
  static const gulong gaps_us[] = { 0, 20, 1000 };

  g_assert_cmpuint (hr_pool_get_n_parts (NULL), ==, 1);
  for (guint threads = 2; threads <= 3; threads++)
    {
      g_autoptr (HrPool) pool = hr_pool_new (threads);

      g_assert_cmpuint (hr_pool_get_n_parts (pool), ==, threads * HR_POOL_PARTS_PER_THREAD);
      for (guint g = 0; g < G_N_ELEMENTS (gaps_us); g++)
        for (guint l = 0; l < G_N_ELEMENTS (gaps_us); l++)
          for (guint rep = 0; rep < 5; rep++)
            {
              guint n_parts = hr_pool_get_n_parts (pool);
              g_autofree gint *count = g_new0 (gint, n_parts);
              LateJob job = { count, gaps_us[l] };

              if (gaps_us[g] > 0)
                g_usleep (gaps_us[g]);
              hr_pool_run (pool, n_parts, late_part, &job);
              for (guint p = 0; p < n_parts; p++)
                g_assert_cmpint (count[p], ==, 1);
            }
    }
}

static void
count_range (gsize first, gsize end, guint part, gpointer data)
{
  CountJob *job = data;

  /* rows [first, end) of part @part: the split's */
  for (gsize r = first; r < end; r++)
    g_atomic_int_add (&job->count[r], (gint)part + 1);
}

/* hr_pool_run_ranges(): every row once, with the part hr_pool_split() gives it. */
static void
test_pool_ranges (void)
{
  for (guint threads = 1; threads <= 3; threads++)
    {
      g_autoptr (HrPool) pool = hr_pool_new (threads);

      for (gsize n = 0; n < 30; n++)
        for (guint parts = 1; parts <= 4; parts++)
          {
            g_autofree gint *count = g_new0 (gint, MAX (n, 1));
            CountJob job = { count };

            hr_pool_run_ranges (pool, n, parts, count_range, &job);
            for (guint part = 0; part < parts; part++)
              {
                gsize first, end;

                hr_pool_split (n, parts, part, &first, &end);
                for (gsize r = first; r < end; r++)
                  g_assert_cmpint (count[r], ==, (gint)part + 1);
              }
          }
    }
}

static void
test_pool_split (void)
{
  for (gsize n = 0; n < 40; n++)
    for (guint parts = 1; parts <= 5; parts++)
      {
        gsize next = 0;

        for (guint p = 0; p < parts; p++)
          {
            gsize first, end;

            hr_pool_split (n, parts, p, &first, &end);
            g_assert_cmpuint (first, ==, next);
            g_assert_cmpuint (end - first, <=, n / parts + 1);
            g_assert_cmpuint (end - first, >=, n / parts);
            next = end;
          }
        g_assert_cmpuint (next, ==, n);
      }
}

typedef struct
{
  gint *rows; /* how often each row was reported done */
} RowsSeen;

static void
rows_done (gsize first, gsize end, gpointer data)
{
  RowsSeen *seen = data;

  for (gsize i = first; i < end; i++)
    g_atomic_int_inc (&seen->rows[i]);
}

/* P = YᵀY split over threads (by bands of P's rows, or by Y's rows from 256 rows a thread on)
 * equals one `dsyrk` with β = 0: within γ_n·(|Y|ᵀ|Y|)_ij per element (any order of the n
 * products), and bit for bit where the kernels sum in the same order (printed, not asserted:
 * BLAS does not promise it); every row reported done once. */
static void
test_pool_dsyrk (void)
{
  static const gsize dims[] = { 1, 5, 8, 17, 100, 333 };
  static const gsize rows[] = { 1, 3, 64, 300, 1100 };
  GRand *r = g_rand_new_with_seed (16);
  guint exact = 0, total = 0;

  openblas_set_num_threads (1);
  for (guint threads = 1; threads <= 4; threads++)
    {
      g_autoptr (HrPool) pool = hr_pool_new (threads);

      for (guint a = 0; a < G_N_ELEMENTS (dims); a++)
        for (guint b = 0; b < G_N_ELEMENTS (rows); b++)
          {
            gsize d = dims[a], n = rows[b];
            g_autofree double *y = g_new (double, n *d), *ay = g_new (double, n *d);
            g_autofree double *p = g_new (double, d *d), *q = g_new (double, d *d);
            g_autofree double *bound = g_new (double, d *d);
            g_autofree gint *seen_rows = g_new0 (gint, d);
            RowsSeen seen = { seen_rows };
            double gamma = (n + 2) * DBL_EPSILON / 2 / (1 - (n + 2) * DBL_EPSILON / 2);

            for (gsize k = 0; k < n * d; k++)
              {
                y[k] = g_rand_double_range (r, -1, 1) * (1 + k % 7);
                ay[k] = fabs (y[k]);
              }
            /* the lower triangle stays as it was: NaN */
            for (gsize k = 0; k < d * d; k++)
              p[k] = q[k] = NAN;
            cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0, y, (int)d, 0.0,
                         p, (int)d);
            cblas_dsyrk (CblasRowMajor, CblasUpper, CblasTrans, (int)d, (int)n, 1.0, ay, (int)d,
                         0.0, bound, (int)d);
            hr_pool_dsyrk (pool, d, n, y, q, rows_done, &seen);
            for (gsize i = 0; i < d; i++)
              {
                g_assert_cmpint (seen_rows[i], ==, 1);
                for (gsize j = 0; j < i; j++)
                  g_assert_true (isnan (q[i * d + j]));
                for (gsize j = i; j < d; j++)
                  {
                    /* both are off the exact sum by at most γ_n·bound */
                    g_assert_cmpfloat (fabs (p[i * d + j] - q[i * d + j]), <=,
                                       2 * gamma * bound[i * d + j] * (1 + 4 * DBL_EPSILON));
                    exact += p[i * d + j] == q[i * d + j];
                    total++;
                  }
              }
          }
    }
  openblas_set_num_threads (2);
  g_test_message ("split dsyrk: %u of %u elements equal to one dsyrk's bit for bit", exact, total);
  g_rand_free (r);
}

/* hr_pool_add_partials(): every element of the upper triangle gets the partials added one
 * after the other in their order, bit for bit what a loop in one thread makes whatever the
 * bands; the lower triangle untouched; every row reported done once. */
static void
test_pool_add_partials (void)
{
  static const gsize dims[] = { 1, 7, 8, 33, 200 };
  GRand *r = g_rand_new_with_seed (17);

  for (guint threads = 1; threads <= 4; threads++)
    {
      g_autoptr (HrPool) pool = hr_pool_new (threads);

      for (guint a = 0; a < G_N_ELEMENTS (dims); a++)
        for (guint n_partials = 0; n_partials <= 3; n_partials++)
          {
            gsize d = dims[a];
            g_autofree double *partials = g_new (double, MAX (n_partials, 1) * d * d);
            g_autofree double *p = g_new (double, d *d), *q = g_new (double, d *d);
            g_autofree gint *seen_rows = g_new0 (gint, d);
            RowsSeen seen = { seen_rows };

            for (gsize k = 0; k < n_partials * d * d; k++)
              partials[k]
                  = g_rand_double_range (r, -1, 1) * ldexp (1.0, g_rand_int_range (r, -30, 30));
            for (gsize k = 0; k < d * d; k++)
              p[k] = q[k] = g_rand_double_range (r, -1, 1);
            for (gsize i = 0; i < d; i++)
              for (gsize j = i; j < d; j++)
                for (guint t = 0; t < n_partials; t++)
                  p[i * d + j] += partials[t * d * d + i * d + j];
            hr_pool_add_partials (pool, d, partials, n_partials, q, rows_done, &seen);
            for (gsize i = 0; i < d; i++)
              g_assert_cmpint (seen_rows[i], ==, 1);
            g_assert_cmpmem (p, d * d * sizeof (double), q, d * d * sizeof (double));
          }
    }
  g_rand_free (r);
}

/* OpenBLAS runs single-threaded exactly while a pool for it lives, the count it had restored
 * when the last such pool ends; no pool when it has one thread. */
static void
test_pool_blas_threads (void)
{
  HrPool *a, *b;

  openblas_set_num_threads (1);
  g_assert_null (hr_pool_new_for_blas ());
  g_assert_cmpint (openblas_get_num_threads (), ==, 1);

  openblas_set_num_threads (3);
  a = hr_pool_new_for_blas ();
  g_assert_nonnull (a);
  g_assert_cmpuint (hr_pool_get_n_threads (a), ==, 3);
  g_assert_cmpint (openblas_get_num_threads (), ==, 1);
  b = hr_pool_new_for_blas (); /* a second pass at the same time */
  g_assert_cmpuint (hr_pool_get_n_threads (b), ==, 3);
  hr_pool_free (a);
  g_assert_cmpint (openblas_get_num_threads (), ==, 1);
  hr_pool_free (b);
  g_assert_cmpint (openblas_get_num_threads (), ==, 3);
  openblas_set_num_threads (2);
}

/* hr_set_n_threads(): the pools' size whatever OpenBLAS's number; OpenBLAS's number set to
 * 1 and back only when it was not 1 already (setting it would start OpenBLAS's threads
 * again after the command stopped them); 0 follows OpenBLAS again. */
static void
test_pool_n_threads (void)
{
  HrPool *a;

  openblas_set_num_threads (2);
  g_assert_cmpuint (hr_get_n_threads (), ==, 2);

  hr_set_n_threads (3);
  g_assert_cmpuint (hr_get_n_threads (), ==, 3);
  for (int blas = 1; blas <= 2; blas++)
    {
      openblas_set_num_threads (blas);
      g_assert_cmpuint (hr_pool_get_n_threads_for_blas (), ==, 3);
      a = hr_pool_new_for_blas ();
      g_assert_cmpuint (hr_pool_get_n_threads (a), ==, 3);
      g_assert_cmpint (openblas_get_num_threads (), ==, 1);
      hr_pool_free (a);
      g_assert_cmpint (openblas_get_num_threads (), ==, blas);
    }

  /* one thread: no pool, OpenBLAS left as it is */
  hr_set_n_threads (1);
  g_assert_cmpuint (hr_get_n_threads (), ==, 1);
  g_assert_null (hr_pool_new_for_blas ());
  g_assert_cmpint (openblas_get_num_threads (), ==, 2);

  hr_set_n_threads (0);
  g_assert_cmpuint (hr_get_n_threads (), ==, 2);
  openblas_set_num_threads (1);
  g_assert_cmpuint (hr_get_n_threads (), ==, 1);
  g_assert_null (hr_pool_new_for_blas ());
  openblas_set_num_threads (2);
}

/* -- an analysis with and without the pool -------------------------------------------------- */

#define N 5000
#define D 96
#define H 80
#define P 16

static GBytes *
random_bytes (GRand *r, gsize n, double scale, double offset)
{
  float *v = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    v[i] = (float)(offset + scale * g_rand_double_range (r, -1, 1));
  return g_bytes_new_take (v, n * sizeof (float));
}

static HrHead *
make_head (GRand *r)
{
  g_autoptr (HrHead) head = hr_head_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) w1 = random_bytes (r, H * D, 0.3, 0), b1 = random_bytes (r, H, 0.1, 0);
  g_autoptr (GBytes) g1 = random_bytes (r, H, 0.1, 1), be1 = random_bytes (r, H, 0.1, 0);
  g_autoptr (GBytes) m1 = random_bytes (r, H, 0.1, 0), v1 = random_bytes (r, H, 0.1, 2);
  g_autoptr (GBytes) w2 = random_bytes (r, P * H, 0.3, 0), b2 = random_bytes (r, P, 0.1, 0);

  g_assert_true (hr_head_append_linear (head, "0", D, H, w1, b1, &error));
  g_assert_true (hr_head_append_batch_norm (head, "1", H, g1, be1, m1, v1, 1e-5, &error));
  g_assert_true (hr_head_append_activation (head, "2", HR_LAYER_RELU, &error));
  g_assert_true (hr_head_append_linear (head, "3", H, P, w2, b2, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&head);
}

static HrAnalysis *
run_analysis (GBytes *x, HrHead *head, int blas_threads, HrPrecision precision,
              GCancellable *cancellable, GError **error)
{
  g_autoptr (HrSource) source = hr_memory_source_new (x, N, D, NULL);
  HrAnalysis *analysis = hr_analysis_new_for_source (source);
  const char *stages[] = { "all", NULL };

  hr_analysis_set_head (analysis, head);
  hr_analysis_set_spectral_stages (analysis, stages);
  hr_analysis_set_precision (analysis, precision);
  openblas_set_num_threads (blas_threads);
  if (!hr_analysis_run (analysis, NULL, NULL, cancellable, error))
    g_clear_object (&analysis);
  /* the pass gave OpenBLAS its threads back */
  g_assert_cmpint (openblas_get_num_threads (), ==, blas_threads);
  openblas_set_num_threads (2);
  return analysis;
}

/* The same scatter matrices within their error bounds (the features', whose values are
 * the same; the head's layers within float32 rounding of their inputs' magnitudes), the same
 * counts, CKA, ranks; with float64 products and with float32 products (whose blocks the
 * pool splits over its threads). */
static void
test_pool_analysis (gconstpointer data)
{
  HrPrecision precision = GPOINTER_TO_INT (data);
  GRand *r = g_rand_new_with_seed (1616);
  g_autoptr (HrHead) head = make_head (r);
  g_autofree float *v = g_new (float, N *D);
  g_autoptr (GBytes) x = NULL;
  g_autoptr (HrAnalysis) one = NULL, three = NULL;
  g_autoptr (GError) error = NULL;

  for (gsize i = 0; i < N; i++)
    for (gsize j = 0; j < D; j++)
      v[i * D + j] = (float)(3.0 + g_rand_double_range (r, -1, 1) * (j < 10 ? 10.0 - j : 0.01));
  v[17 * D + 4] = NAN; /* a dropped row */
  x = g_bytes_new (v, N * D * sizeof (float));
  one = run_analysis (x, head, 1, precision, NULL, &error);
  g_assert_no_error (error);
  three = run_analysis (x, head, 3, precision, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (hr_analysis_get_n_stages (one), ==, hr_analysis_get_n_stages (three));
  for (guint s = 0; s < hr_analysis_get_n_stages (one); s++)
    {
      HrStage *a = hr_analysis_get_stage (one, s), *b = hr_analysis_get_stage (three, s);
      HrMoments *ma = hr_stage_get_moments (a), *mb = hr_stage_get_moments (b);
      gsize d = hr_stage_get_dimension (a);
      const double *sa = hr_moments_peek_scatter (ma), *sb = hr_moments_peek_scatter (mb);
      double trace = 0, diff = 0, bound;

      g_assert_cmpstr (hr_stage_get_name (a), ==, hr_stage_get_name (b));
      g_assert_cmpuint (hr_moments_get_n_samples (ma), ==, hr_moments_get_n_samples (mb));
      g_assert_cmpuint (hr_moments_get_n_dropped (ma), ==, hr_moments_get_n_dropped (mb));
      g_assert_cmpuint (hr_moments_get_n_dead (ma), ==, hr_moments_get_n_dead (mb));
      if (sa == NULL)
        continue;
      for (gsize i = 0; i < d; i++)
        {
          trace += sa[i * d + i];
          for (gsize j = 0; j < d; j++)
            diff = MAX (diff, fabs (sa[i * d + j] - sb[i * d + j]));
        }
      /* the features: the moments' own bounds; a layer of the head: its values may differ
       * in float32 rounding, 2⁻²³ of the magnitudes summed over the k ≤ D inputs */
      bound = hr_moments_get_error_bound (ma) + hr_moments_get_error_bound (mb);
      if (hr_stage_get_layer (a) >= 0)
        bound += 4 * (D + 1) * FLT_EPSILON * trace;
      g_test_message ("stage %s: max |ΔS| %.3g, bound %.3g (trace %.3g)", hr_stage_get_name (a),
                      diff, bound, trace);
      g_assert_cmpfloat (diff, <=, bound);
      g_assert_cmpuint (hr_spectrum_get_rank (hr_stage_get_spectrum (a)), ==,
                        hr_spectrum_get_rank (hr_stage_get_spectrum (b)));
      if (hr_stage_get_layer (a) >= 0)
        g_assert_cmpfloat_with_epsilon (hr_stage_get_cka (a), hr_stage_get_cka (b), 1e-5);
    }
  g_rand_free (r);
}

/* A features-only analysis wider than 256 solves its spectrum's two eigenvalue problems on
 * two threads at once when OpenBLAS has two (the pool's spare thread), in turn with one:
 * the same eigenvalues, centred and uncentred (the mean is far from 0, so a mix-up shows),
 * within the rounding of the two passes' scatter matrices. */
static void
test_pool_two_eigenproblems (void)
{
  enum
  {
    ROWS = 3000,
    WIDTH = 300
  };
  GRand *r = g_rand_new_with_seed (2616);
  g_autofree float *v = g_new (float, ROWS *WIDTH);
  g_autoptr (GBytes) x = NULL;
  HrSpectrum *spectra[2];
  HrAnalysis *analyses[2];

  for (gsize i = 0; i < ROWS * WIDTH; i++)
    v[i] = (float)(5.0 + g_rand_double_range (r, -1, 1) * (1 + i % WIDTH % 7));
  x = g_bytes_new (v, sizeof (float) * ROWS * WIDTH);
  for (int t = 0; t < 2; t++)
    {
      g_autoptr (HrSource) source = hr_memory_source_new (x, ROWS, WIDTH, NULL);
      g_autoptr (GError) error = NULL;

      analyses[t] = hr_analysis_new_for_source (source);
      openblas_set_num_threads (t + 1);
      g_assert_true (hr_analysis_run (analyses[t], NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpint (openblas_get_num_threads (), ==, t + 1);
      spectra[t] = hr_stage_get_spectrum (hr_analysis_get_stage (analyses[t], 0));
    }
  openblas_set_num_threads (2);
  {
    gsize k = hr_spectrum_get_n_components (spectra[0]);
    const double *w0 = hr_spectrum_get_eigenvalues (spectra[0], NULL);
    const double *w1 = hr_spectrum_get_eigenvalues (spectra[1], NULL);
    const double *u0 = hr_spectrum_get_uncentred_singular_values (spectra[0], NULL);
    const double *u1 = hr_spectrum_get_uncentred_singular_values (spectra[1], NULL);

    g_assert_cmpuint (k, ==, WIDTH);
    g_assert_cmpuint (hr_spectrum_get_rank (spectra[0]), ==, hr_spectrum_get_rank (spectra[1]));
    g_assert_cmpfloat (u0[0], >, 10 * sqrt (w0[0] * (ROWS - 1))); /* the mean dominates */
    for (gsize i = 0; i < k; i++)
      {
        g_assert_cmpfloat_with_epsilon (w0[i], w1[i], 1e-9 * w0[0]);
        g_assert_cmpfloat_with_epsilon (u0[i], u1[i], 1e-9 * u0[0]);
      }
  }
  g_object_unref (analyses[0]);
  g_object_unref (analyses[1]);
  g_rand_free (r);
}

static void
cancel_at (double fraction, gpointer data)
{
  if (fraction > 0.2)
    g_cancellable_cancel (data);
}

/* Cancelled during the pass with the pool: the cancellation error, and OpenBLAS has its
 * threads back. */
static void
test_pool_cancel (void)
{
  GRand *r = g_rand_new_with_seed (7);
  g_autoptr (HrHead) head = make_head (r);
  g_autoptr (GBytes) x = random_bytes (r, N * D, 1.0, 0.5);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (HrSource) source = hr_memory_source_new (x, N, D, NULL);
  g_autoptr (HrAnalysis) analysis = hr_analysis_new_for_source (source);
  g_autoptr (GError) error = NULL;

  hr_analysis_set_head (analysis, head);
  openblas_set_num_threads (3);
  g_assert_false (hr_analysis_run (analysis, cancel_at, cancellable, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (openblas_get_num_threads (), ==, 3);
  openblas_set_num_threads (2);
  g_rand_free (r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pool/parts", test_pool_parts);
  g_test_add_func ("/pool/waits", test_pool_waits);
  g_test_add_func ("/pool/split", test_pool_split);
  g_test_add_func ("/pool/ranges", test_pool_ranges);
  g_test_add_func ("/pool/dsyrk", test_pool_dsyrk);
  g_test_add_func ("/pool/add-partials", test_pool_add_partials);
  g_test_add_func ("/pool/blas-threads", test_pool_blas_threads);
  g_test_add_func ("/pool/n-threads", test_pool_n_threads);
  g_test_add_data_func ("/pool/analysis/float64", GINT_TO_POINTER (HR_PRECISION_FLOAT64),
                        test_pool_analysis);
  g_test_add_data_func ("/pool/analysis/float32", GINT_TO_POINTER (HR_PRECISION_FLOAT32_PRODUCTS),
                        test_pool_analysis);
  g_test_add_func ("/pool/cancel", test_pool_cancel);
  g_test_add_func ("/pool/two-eigenproblems", test_pool_two_eigenproblems);
  return g_test_run ();
}
