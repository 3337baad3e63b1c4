/* headrank tests: the analysis (lib/analysis/, lib/report/hr-report.c)
 *
 * The numbers of each piece are checked against numpy and PyTorch in their own tests
 * (test-moments, test-spectrum, test-contrastive, test-head) and the whole against numpy in
 * tests/python/test_analysis.py; here the analysis must give exactly what its pieces give
 * when they are fed by hand (the head's forward pass into HrMoments and HrSpectrum), drop
 * non-finite rows, run asynchronously with progress in the caller's context, stop when
 * cancelled, refuse bad input with the right error, and write its report completely.
 */
#include <headrank.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "test-util.h"

#define N 777
#define D 20
#define H 48
#define P 12

typedef struct
{
  char *dir;
  char *features; /* N × D matrix TIFF, rows 5 and 300 hold NaN / Inf */
  float *x;
  HrHead *head; /* D → H → P: linear, bn, relu, linear, bn */
} Fixture;

static float
rnd (GRand *r)
{
  /* a rough normal: sum of uniforms */
  double s = 0;
  for (int i = 0; i < 6; i++)
    s += g_rand_double (r);
  return (float)(s - 3.0);
}

static GBytes *
random_bytes (GRand *r, gsize n, double scale, double offset)
{
  float *v = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    v[i] = (float)(offset + scale * rnd (r));
  return g_bytes_new_take (v, n * sizeof (float));
}

static HrHead *
make_head (GRand *r, gsize in)
{
  g_autoptr (HrHead) head = hr_head_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) w1 = random_bytes (r, H * in, 0.3, 0), b1 = random_bytes (r, H, 0.1, 0);
  g_autoptr (GBytes) g1 = random_bytes (r, H, 0.1, 1), be1 = random_bytes (r, H, 0.1, 0);
  g_autoptr (GBytes) m1 = random_bytes (r, H, 0.1, 0), v1 = random_bytes (r, H, 0.1, 2);
  g_autoptr (GBytes) w2 = random_bytes (r, P * H, 0.3, 0), b2 = random_bytes (r, P, 0.1, 0);
  g_autoptr (GBytes) g2 = random_bytes (r, P, 0.1, 1), be2 = random_bytes (r, P, 0.1, 0);
  g_autoptr (GBytes) m2 = random_bytes (r, P, 0.1, 0), v2 = random_bytes (r, P, 0.1, 2);

  g_assert_true (hr_head_append_linear (head, "0", in, H, w1, b1, &error));
  g_assert_true (hr_head_append_batch_norm (head, "1", H, g1, be1, m1, v1, 1e-5, &error));
  g_assert_true (hr_head_append_activation (head, "2", HR_LAYER_RELU, &error));
  g_assert_true (hr_head_append_linear (head, "3", H, P, w2, b2, &error));
  g_assert_true (hr_head_append_batch_norm (head, "4", P, g2, be2, m2, v2, 1e-5, &error));
  g_assert_no_error (error);
  return g_steal_pointer (&head);
}

static void
write_matrix (const char *path, const float *x, gsize n, gsize d)
{
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (x, n, d);
  g_autoptr (GError) error = NULL;

  g_assert_true (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  g_assert_no_error (error);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  GRand *r = g_rand_new_with_seed (1234);

  f->dir = g_dir_make_tmp ("headrank-analysis-XXXXXX", &error);
  g_assert_no_error (error);
  f->features = g_build_filename (f->dir, "features.tif", NULL);
  f->x = g_new (float, N *D);
  for (gsize i = 0; i < N; i++)
    for (gsize j = 0; j < D; j++)
      /* rank-8 structure plus a little noise and an offset */
      f->x[i * D + j] = (float)(10.0 + (j < 8 ? rnd (r) * (8.0 - j) : 0.01 * rnd (r)));
  f->x[5 * D + 3] = NAN;
  f->x[300 * D + 7] = INFINITY;
  write_matrix (f->features, f->x, N, D);
  f->head = make_head (r, D);
  g_rand_free (r);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  hr_test_remove_tree (f->dir);
  g_free (f->dir);
  g_free (f->features);
  g_free (f->x);
  g_object_unref (f->head);
}

static HrAnalysis *
new_analysis (Fixture *f, HrHead *head)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrStackReader) reader
      = hr_stack_reader_new (f->features, HR_STACK_LAYOUT_AUTO, NULL, &error);
  HrAnalysis *analysis;

  g_assert_no_error (error);
  analysis = hr_analysis_new (reader);
  hr_analysis_set_head (analysis, head);
  return analysis;
}

/* The finite rows of the fixture. */
static HrFeatureStack *
finite_rows (Fixture *f, gsize *n_finite)
{
  g_autofree float *rows = g_new (float, N *D);
  gsize k = 0;

  for (gsize i = 0; i < N; i++)
    {
      gboolean finite = TRUE;

      for (gsize j = 0; j < D; j++)
        finite &= isfinite (f->x[i * D + j]) != 0;
      if (finite)
        memcpy (rows + D * k++, f->x + i * D, D * sizeof (float));
    }
  *n_finite = k;
  return hr_feature_stack_new_copy (rows, k, D);
}

static void
assert_close (double got, double want, double rel)
{
  g_assert_cmpfloat_with_epsilon (got, want, rel * MAX (1e-12, fabs (want)));
}

static void
compare_stage (HrStage *stage, HrFeatureStack *rows)
{
  gsize n = hr_feature_stack_get_n_samples (rows), d = hr_feature_stack_get_n_features (rows);
  g_autoptr (HrMoments) m = hr_moments_new (d, n, HR_PRECISION_FLOAT64);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSpectrum) ref = NULL;
  HrSpectrum *got = hr_stage_get_spectrum (stage);
  gsize n_got, n_ref;
  const double *a, *b;

  hr_moments_add (m, hr_feature_stack_peek_data (rows), n, NULL);
  g_assert_cmpuint (hr_moments_get_n_samples (hr_stage_get_moments (stage)), ==, n);
  ref = hr_spectrum_new (n, d, hr_moments_peek_mean (m), hr_moments_peek_scatter (m), &error);
  g_assert_no_error (error);
  g_assert_nonnull (got);
  a = hr_spectrum_get_eigenvalues (got, &n_got);
  b = hr_spectrum_get_eigenvalues (ref, &n_ref);
  g_assert_cmpuint (n_got, ==, n_ref);
  for (gsize k = 0; k < n_got; k++)
    g_assert_cmpfloat_with_epsilon (a[k], b[k], 1e-6 * b[0]);
  g_assert_cmpuint (hr_spectrum_get_rank (got), ==, hr_spectrum_get_rank (ref));
  g_assert_cmpuint (hr_spectrum_get_matrix_rank (got), ==, hr_spectrum_get_matrix_rank (ref));
  assert_close (hr_spectrum_get_effective_rank (got), hr_spectrum_get_effective_rank (ref), 1e-6);
  assert_close (hr_spectrum_get_participation_ratio (got),
                hr_spectrum_get_participation_ratio (ref), 1e-6);
}

/* The analysis gives what its pieces give by hand, stage by stage. */
static void
test_consistent (Fixture *f, gconstpointer data)
{
  g_autoptr (HrAnalysis) analysis = new_analysis (f, f->head);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) rows = NULL, projections = NULL;
  g_autoptr (GBytes) per_sample = NULL;
  const float *ps;
  gsize n_finite, size;
  HrStage *stage;

  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (hr_analysis_is_done (analysis));
  /* features, the ReLU (its spectrum by default since issue 16), projections */
  g_assert_cmpuint (hr_analysis_get_n_stages (analysis), ==, 3);
  g_assert_cmpstr (hr_stage_get_name (hr_analysis_get_stage (analysis, 1)), ==, "2");
  g_assert_nonnull (hr_stage_get_spectrum (hr_analysis_get_stage (analysis, 1)));
  g_assert_cmpuint (hr_analysis_get_n_dropped (analysis), ==, 2);
  g_assert_cmpuint (hr_analysis_get_n_nonfinite (analysis), ==, 2);

  rows = finite_rows (f, &n_finite);
  g_assert_cmpuint (n_finite, ==, N - 2);
  compare_stage (hr_analysis_find_stage (analysis, "features"), rows);
  projections = hr_head_forward (f->head, rows, HR_NORM_MODE_RUNNING, NULL, &error);
  g_assert_no_error (error);
  compare_stage (hr_analysis_find_stage (analysis, "projections"), projections);

  /* per-sample statistics: NaN for the dropped rows, the row's own numbers otherwise */
  stage = hr_analysis_find_stage (analysis, "features");
  per_sample = hr_stage_get_per_sample (stage, &error);
  g_assert_no_error (error);
  ps = g_bytes_get_data (per_sample, &size);
  g_assert_cmpuint (size, ==, N * HR_PER_SAMPLE_COLUMNS * sizeof (float));
  g_assert_true (isnan (ps[5 * HR_PER_SAMPLE_COLUMNS]));
  g_assert_true (isnan (ps[300 * HR_PER_SAMPLE_COLUMNS + 2]));
  for (gsize i = 0; i < N; i += 97)
    {
      double sum = 0, sum2 = 0, mean;

      if (i == 5 || i == 300)
        continue;
      for (gsize j = 0; j < D; j++)
        sum += f->x[i * D + j];
      mean = sum / D;
      for (gsize j = 0; j < D; j++)
        sum2 += (f->x[i * D + j] - mean) * (f->x[i * D + j] - mean);
      assert_close (ps[i * HR_PER_SAMPLE_COLUMNS], mean, 1e-6);
      assert_close (ps[i * HR_PER_SAMPLE_COLUMNS + 1], sqrt (sum2 / D), 1e-5);
    }
  g_assert_cmpuint (hr_analysis_get_verdict (analysis) & HR_VERDICT_COLLAPSED, ==, 0);

  /* exactly one sentence says what the head does to rank */
  {
    g_auto (GStrv) lines = hr_analysis_describe_verdict (analysis);
    static const char *const openings[]
        = { "The head reduces", "The head inflates", "The head keeps", "The head raises" };
    guint n_rank_lines = 0;

    for (guint i = 0; lines[i] != NULL; i++)
      for (gsize k = 0; k < G_N_ELEMENTS (openings); k++)
        n_rank_lines += g_str_has_prefix (lines[i], openings[k]);
    g_assert_cmpuint (n_rank_lines, ==, 1);
  }
}

/* --stage all: every layer gets a spectrum; unknown names are refused. */
static void
test_stages (Fixture *f, gconstpointer data)
{
  g_autoptr (HrAnalysis) analysis = new_analysis (f, f->head);
  g_autoptr (GError) error = NULL;
  const char *all[] = { "all", NULL }, *bad[] = { "nope", NULL };

  hr_analysis_set_spectral_stages (analysis, all);
  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hr_analysis_get_n_stages (analysis), ==, 6);
  for (guint i = 0; i < 6; i++)
    g_assert_nonnull (hr_stage_get_spectrum (hr_analysis_get_stage (analysis, i)));

  hr_analysis_set_spectral_stages (analysis, bad);
  g_assert_false (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
  g_assert_cmpuint (hr_analysis_get_n_stages (analysis), ==, 0);
}

/* Without a head: the projections of a file, sample by sample. */
static void
test_projections (Fixture *f, gconstpointer data)
{
  g_autoptr (HrAnalysis) analysis = new_analysis (f, NULL);
  g_autoptr (HrAnalysis) headless = new_analysis (f, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) rows = NULL, projections = NULL;
  g_autoptr (HrStackReader) reader = NULL;
  g_autofree char *path = g_build_filename (f->dir, "projections.tif", NULL);
  g_auto (GStrv) verdict = NULL;
  gsize n_finite;

  rows = finite_rows (f, &n_finite);
  projections = hr_head_forward (f->head, rows, HR_NORM_MODE_RUNNING, NULL, &error);
  g_assert_no_error (error);
  /* the projections file has as many samples as the features: pad with the first rows; a
     sample whose features are not finite is left out of the projections too */
  {
    g_autofree float *all = g_new (float, N *P);
    g_autofree float *kept = g_new (float, N *P);
    gsize k = 0;

    memcpy (all, hr_feature_stack_peek_data (projections), n_finite * P * sizeof (float));
    memcpy (all + n_finite * P, all, (N - n_finite) * P * sizeof (float));
    write_matrix (path, all, N, P);
    for (gsize i = 0; i < N; i++)
      {
        gboolean finite = TRUE;

        for (gsize j = 0; j < D; j++)
          finite &= isfinite (f->x[i * D + j]) != 0;
        if (finite)
          memcpy (kept + P * k++, all + P * i, P * sizeof (float));
      }
    g_assert_cmpuint (k, ==, n_finite);
    g_clear_object (&projections);
    projections = hr_feature_stack_new_copy (kept, k, P);
  }
  reader = hr_stack_reader_new (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_no_error (error);
  hr_analysis_set_projections (analysis, reader);
  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hr_analysis_get_n_stages (analysis), ==, 2);
  compare_stage (hr_analysis_find_stage (analysis, "projections"), projections);
  g_assert_cmpuint (hr_analysis_get_n_dropped (analysis), ==, N - n_finite);

  /* a head and projections together are refused */
  hr_analysis_set_head (analysis, f->head);
  g_assert_false (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);

  /* the features alone */
  g_assert_true (hr_analysis_run (headless, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hr_analysis_get_n_stages (headless), ==, 1);
  g_assert_cmpuint (hr_analysis_get_verdict (headless), ==, HR_VERDICT_NONE);
  verdict = hr_analysis_describe_verdict (headless);
  g_assert_nonnull (verdict[0]);
}

/* Pairs from a file and from an aligned stack of positives. */
static void
test_pairs (Fixture *f, gconstpointer data)
{
  g_autoptr (HrAnalysis) analysis = new_analysis (f, f->head);
  g_autoptr (GError) error = NULL;
  g_autofree char *pairs = g_build_filename (f->dir, "pairs.csv", NULL);
  g_autofree char *bad = g_build_filename (f->dir, "bad.csv", NULL);
  GString *text = g_string_new ("anchor,positive\n");
  HrContrastive *c;

  for (guint i = 0; i + 1 < N; i += 2)
    g_string_append_printf (text, "%u,%u\n", i, i + 1);
  g_assert_true (g_file_set_contents (pairs, text->str, -1, NULL));
  g_string_free (text, TRUE);
  hr_analysis_set_pairs_file (analysis, pairs);
  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  c = hr_analysis_get_contrastive (analysis);
  g_assert_nonnull (c);
  /* pairs (4, 5) and (300, 301) hold a dropped row */
  g_assert_cmpuint (hr_analysis_get_n_pairs_skipped (analysis), ==, 2);
  g_assert_cmpuint (hr_contrastive_get_n_pairs (c), ==, N / 2 - 2);
  g_assert_true (isfinite (hr_contrastive_get_ntxent (c)));

  g_assert_true (g_file_set_contents (bad, "0,1\n2,77777\n", -1, NULL));
  hr_analysis_set_pairs_file (analysis, bad);
  g_assert_false (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
  g_clear_error (&error);

  /* the features as their own positives: alignment 0 */
  {
    g_autoptr (HrStackReader) positives
        = hr_stack_reader_new (f->features, HR_STACK_LAYOUT_AUTO, NULL, &error);
    g_assert_no_error (error);
    hr_analysis_set_pairs_file (analysis, NULL);
    hr_analysis_set_positives (analysis, positives);
    g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
    g_assert_no_error (error);
    c = hr_analysis_get_contrastive (analysis);
    g_assert_cmpuint (hr_contrastive_get_n_pairs (c), ==, N - 2);
    g_assert_cmpfloat_with_epsilon (hr_contrastive_get_alignment (c), 0.0, 1e-12);
  }
}

static void
test_errors (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GRand) r = g_rand_new_with_seed (7);
  g_autoptr (HrHead) narrow = make_head (r, D - 1);
  g_autoptr (HrAnalysis) analysis = new_analysis (f, narrow);
  g_autofree char *one = g_build_filename (f->dir, "one.tif", NULL);
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrAnalysis) single = NULL;

  g_assert_false (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE);
  g_clear_error (&error);

  write_matrix (one, f->x, 1, D);
  reader = hr_stack_reader_new (one, HR_STACK_LAYOUT_MATRIX, NULL, &error);
  g_assert_no_error (error);
  single = hr_analysis_new (reader);
  g_assert_false (hr_analysis_run (single, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES);
  g_assert_false (hr_analysis_is_done (single));
}

typedef struct
{
  GMainLoop *loop;
  GAsyncResult *result;
  GThread *thread;
  double last;
  guint n_notifies;
  gboolean wrong_thread, backwards;
  GCancellable *cancel_at_half;
} AsyncState;

static void
on_progress (GObject *object, GParamSpec *pspec, gpointer data)
{
  AsyncState *s = data;
  double p = hr_analysis_get_progress (HR_ANALYSIS (object));

  s->wrong_thread |= g_thread_self () != s->thread;
  s->backwards |= p < s->last;
  s->last = p;
  s->n_notifies++;
  if (s->cancel_at_half != NULL && p >= 0.3)
    g_cancellable_cancel (s->cancel_at_half);
}

static void
on_done (GObject *source, GAsyncResult *result, gpointer data)
{
  AsyncState *s = data;

  s->result = g_object_ref (result);
  g_main_loop_quit (s->loop);
}

/* Runs @analysis asynchronously in a fresh main context; the result for the caller. */
static gboolean
run_async (HrAnalysis *analysis, GCancellable *cancellable, AsyncState *s, GError **error)
{
  GMainContext *context = g_main_context_new ();
  gulong id;
  gboolean ok;

  g_main_context_push_thread_default (context);
  s->loop = g_main_loop_new (context, FALSE);
  s->thread = g_thread_self ();
  id = g_signal_connect (analysis, "notify::progress", G_CALLBACK (on_progress), s);
  hr_analysis_run_async (analysis, cancellable, on_done, s);
  g_main_loop_run (s->loop);
  ok = hr_analysis_run_finish (analysis, s->result, error);
  g_signal_handler_disconnect (analysis, id);
  g_clear_object (&s->result);
  g_main_loop_unref (s->loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  return ok;
}

static void
test_async (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *big = g_build_filename (f->dir, "big.tif", NULL);
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrAnalysis) analysis = NULL;
  AsyncState s = { 0 };
  gsize n = 40000;
  g_autofree float *x = g_new (float, n *D);
  GRand *r = g_rand_new_with_seed (99);

  for (gsize i = 0; i < n * D; i++)
    x[i] = rnd (r);
  g_rand_free (r);
  write_matrix (big, x, n, D);
  reader = hr_stack_reader_new (big, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_no_error (error);
  analysis = hr_analysis_new (reader);
  hr_analysis_set_head (analysis, f->head);

  g_assert_true (run_async (analysis, NULL, &s, &error));
  g_assert_no_error (error);
  g_assert_false (s.wrong_thread);
  g_assert_false (s.backwards);
  g_assert_cmpuint (s.n_notifies, >=, 2);
  g_assert_cmpfloat (hr_analysis_get_progress (analysis), ==, 1.0);
  g_assert_cmpuint (hr_analysis_get_n_stages (analysis), ==, 3);

  /* cancelled from a progress notification: stops with G_IO_ERROR_CANCELLED */
  memset (&s, 0, sizeof s);
  s.cancel_at_half = cancellable;
  g_assert_false (run_async (analysis, cancellable, &s, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpfloat (s.last, <, 1.0);
  g_assert_false (hr_analysis_is_done (analysis));
}

/* Issue 13: error codes that mean what they say. A missing file is what the system says
 * (G_IO_ERROR_NOT_FOUND), whichever file it is; a refusal by the memory limit is not a
 * shape error; a corrupt file is a stack error. */
static void
test_error_codes (Fixture *f, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (f->dir, "no-such-file", NULL);
  g_autofree char *corrupt = g_build_filename (f->dir, "corrupt.tif", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrAnalysis) analysis = NULL;
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrHead) head = NULL;
  /* a little-endian TIFF header whose first directory has one entry and then ends */
  static const guint8 cut[] = { 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0, 1, 3, 0 };

  /* the stack */
  reader = hr_stack_reader_new (missing, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_null (reader);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* the weights */
  head = hr_head_new_from_file (missing, "viscy-v2", NULL, NULL, &error);
  g_assert_null (head);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* the pair file, through the analysis */
  analysis = new_analysis (f, NULL);
  hr_analysis_set_pairs_file (analysis, missing);
  g_assert_false (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_clear_object (&analysis);

  /* the memory limit: refused before allocating, with its own code */
  analysis = new_analysis (f, NULL);
  hr_analysis_set_memory_limit (analysis, 1);
  g_assert_false (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_MEMORY_LIMIT);
  g_assert_nonnull (strstr (error->message, "memory limit"));
  g_clear_error (&error);
  /* and with the default limit the same analysis runs */
  hr_analysis_set_memory_limit (analysis, 0);
  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_no_error (error);

  /* corrupt input: a TIFF cut inside its first directory */
  g_assert_true (g_file_set_contents (corrupt, (const char *)cut, sizeof cut, &error));
  reader = hr_stack_reader_new (corrupt, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_null (reader);
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TRUNCATED);
}

typedef struct
{
  GMainLoop *loop;
  gboolean called;
  GThread *main_thread;
  guint n_position_in_worker, n_position_in_main;
} DropState;

/* A callback that drops the result without hr_analysis_run_finish(). */
static void
on_done_dropped (GObject *source, GAsyncResult *result, gpointer data)
{
  DropState *s = data;

  s->called = TRUE;
  /* already free here, before any finish: done, and not running */
  g_assert_true (hr_analysis_is_done (HR_ANALYSIS (source)));
  g_main_loop_quit (s->loop);
}

static void
on_position (GObject *object, GParamSpec *pspec, gpointer data)
{
  DropState *s = data;

  /* counted atomically: this runs in the worker thread */
  if (g_thread_self () == s->main_thread)
    g_atomic_int_inc ((gint *)&s->n_position_in_main);
  else
    g_atomic_int_inc ((gint *)&s->n_position_in_worker);
}

/* Issue 13: an asynchronous run whose result is dropped without hr_analysis_run_finish()
 * left the analysis "running" for ever: every later run and setter was refused. */
static void
test_async_unfinished (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "unfinished.tif", NULL);
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrAnalysis) analysis = NULL;
  GMainContext *context = g_main_context_new ();
  DropState s = { 0 };
  AsyncState again = { 0 };
  gsize n = 3000;
  g_autofree float *x = g_new (float, n *D);
  GRand *r = g_rand_new_with_seed (7);
  gulong id;

  for (gsize i = 0; i < n * D; i++)
    x[i] = rnd (r);
  g_rand_free (r);
  write_matrix (path, x, n, D);
  reader = hr_stack_reader_new (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_no_error (error);
  analysis = hr_analysis_new (reader);

  g_main_context_push_thread_default (context);
  s.loop = g_main_loop_new (context, FALSE);
  s.main_thread = g_thread_self ();
  id = g_signal_connect (reader, "notify::position", G_CALLBACK (on_position), &s);
  hr_analysis_run_async (analysis, NULL, on_done_dropped, &s);
  g_main_loop_run (s.loop);
  g_signal_handler_disconnect (reader, id);
  /* let the task go: its last references are dropped in this context */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_loop_unref (s.loop);
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  g_assert_true (s.called);
  /* doc/threads.md: the sources are read, and their position notified, in the worker */
  g_assert_cmpuint (s.n_position_in_worker, >, 0);
  g_assert_cmpuint (s.n_position_in_main, ==, 0);

  /* the run is over although no one finished it: results readable, setters and runs work */
  g_assert_true (hr_analysis_is_done (analysis));
  hr_analysis_set_batch_size (analysis, 64);
  g_assert_cmpuint (hr_analysis_get_batch_size (analysis), ==, 64);
  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (run_async (analysis, NULL, &again, &error));
  g_assert_no_error (error);
  g_assert_false (again.wrong_thread);
  g_assert_true (hr_analysis_is_done (analysis));
}

static gboolean
file_exists (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

static void
test_report (Fixture *f, gconstpointer data)
{
  g_autoptr (HrAnalysis) analysis = new_analysis (f, f->head);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *out = g_build_filename (f->dir, "report", NULL);
  g_autofree char *json_path = g_build_filename (out, "report.json", NULL);
  g_autofree char *csv = NULL;
  static const char *const files[] = { "report.json",
                                       "per_sample.csv",
                                       "per_dimension.csv",
                                       "explained_variance.png",
                                       "explained_variance.svg",
                                       "singular_values.png",
                                       "singular_values.svg",
                                       "per_sample.png",
                                       "per_sample.svg",
                                       "zero_fraction.png",
                                       "zero_fraction.svg" };
  JsonArray *stages;
  gchar **lines;
  gsize n_lines = 0;

  /* not before it has run */
  g_assert_false (hr_analysis_write_report (analysis, out, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_true (hr_analysis_write_report (analysis, out, NULL, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    g_assert_true (file_exists (out, files[i]));

  g_assert_true (json_parser_load_from_file (parser, json_path, &error));
  g_assert_no_error (error);
  stages = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                         "stages");
  g_assert_cmpuint (json_array_get_length (stages), ==, 3);
  g_assert_cmpstr (
      json_object_get_string_member (json_array_get_object_element (stages, 2), "name"), ==,
      "projections");
  g_assert_cmpint (
      json_object_get_int_member (json_array_get_object_element (stages, 0), "rank"), ==,
      hr_spectrum_get_rank (hr_stage_get_spectrum (hr_analysis_get_stage (analysis, 0))));

  /* one line per sample and a header; empty fields for the dropped rows */
  {
    g_autofree char *path = g_build_filename (out, "per_sample.csv", NULL);
    g_assert_true (g_file_get_contents (path, &csv, NULL, NULL));
  }
  lines = g_strsplit (csv, "\n", -1);
  n_lines = g_strv_length (lines);
  g_assert_cmpuint (n_lines, ==, N + 2); /* header, N rows, the empty string after the last \n */
  g_assert_true (g_str_has_prefix (lines[6], "5,,,"));
  g_strfreev (lines);

  /* a file where the folder should be */
  {
    g_autofree char *blocked = g_build_filename (f->dir, "blocked", NULL);
    g_assert_true (g_file_set_contents (blocked, "", 0, NULL));
    g_assert_false (hr_analysis_write_report (analysis, blocked, NULL, &error));
    g_assert_nonnull (error);
  }
}

/* More samples than the per-sample figure draws points: it thins them by blocks, keeping
 * each block's minimum and maximum. */
static void
test_report_long (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "long.tif", NULL);
  g_autofree char *out = g_build_filename (f->dir, "long-report", NULL);
  g_autofree char *png = g_build_filename (out, "per_sample.png", NULL);
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrAnalysis) analysis = NULL;
  gsize n = 1100003;
  g_autofree float *x = g_new (float, n * 2);
  g_autofree float *ps = g_new (float, 4 * HR_PER_SAMPLE_COLUMNS);

  for (gsize i = 0; i < n; i++)
    {
      x[2 * i] = (float)(i % 1000);
      x[2 * i + 1] = (float)(i % 7) - 3.0f;
    }
  write_matrix (path, x, n, 2);
  reader = hr_stack_reader_new (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_no_error (error);
  analysis = hr_analysis_new (reader);
  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (hr_analysis_write_report (analysis, out, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (png, G_FILE_TEST_IS_REGULAR));
  /* the last samples read back from the temporary file */
  g_assert_true (
      hr_stage_get_per_sample_into (hr_analysis_get_stage (analysis, 0), n - 4, 4, ps, &error));
  g_assert_no_error (error);
  for (gsize k = 0; k < 4; k++)
    {
      gsize i = n - 4 + k;
      double mean = ((double)(i % 1000) + (double)(i % 7) - 3.0) / 2.0;

      g_assert_cmpfloat_with_epsilon (ps[k * HR_PER_SAMPLE_COLUMNS], mean,
                                      1e-6 * (1 + fabs (mean)));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/analysis/consistent", Fixture, NULL, fixture_setup, test_consistent,
              fixture_teardown);
  g_test_add ("/analysis/stages", Fixture, NULL, fixture_setup, test_stages, fixture_teardown);
  g_test_add ("/analysis/projections", Fixture, NULL, fixture_setup, test_projections,
              fixture_teardown);
  g_test_add ("/analysis/pairs", Fixture, NULL, fixture_setup, test_pairs, fixture_teardown);
  g_test_add ("/analysis/errors", Fixture, NULL, fixture_setup, test_errors, fixture_teardown);
  g_test_add ("/analysis/errors/codes", Fixture, NULL, fixture_setup, test_error_codes,
              fixture_teardown);
  g_test_add ("/analysis/async", Fixture, NULL, fixture_setup, test_async, fixture_teardown);
  g_test_add ("/analysis/async/unfinished", Fixture, NULL, fixture_setup, test_async_unfinished,
              fixture_teardown);
  g_test_add ("/analysis/report", Fixture, NULL, fixture_setup, test_report, fixture_teardown);
  g_test_add ("/analysis/report/long", Fixture, NULL, fixture_setup, test_report_long,
              fixture_teardown);
  return g_test_run ();
}
