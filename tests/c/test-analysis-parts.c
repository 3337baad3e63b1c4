/* headrank tests: an analysis in parts (doc/partial.md)
 *
 * A stack of features and projections cut into parts (one of one sample), each analysed
 * with hr_analysis_run_part(), merged with hr_analysis_new_from_parts(): the ranks, the
 * effective ranks and the counts equal those of one hr_analysis_run(), the eigenvalues
 * within 1e-9 relative to the largest, and the per-sample tables equal to the bit in the
 * order of the samples. Parts that disagree, and a part written to a file and cut, are
 * refused with the HR_PART_ERROR code that says why. Parts of row ranges of one source
 * merged by pairs as a tree (hr_analysis_merge_parts(), empty and one-sample parts among
 * them) give the analysis of merging them all at once.
 */
#include <headrank.h>

#include "test-util.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define N 1500
#define D 12
#define P 5

static HrSource *
memory (const float *x, gsize n, gsize d)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = g_bytes_new (x, n * d * sizeof (float));
  HrSource *s = hr_memory_source_new (bytes, n, d, &error);

  g_assert_no_error (error);
  return s;
}

static HrAnalysis *
analysis_of (const float *x, const float *p, gsize first, gsize n, gsize d)
{
  g_autoptr (HrSource) features = memory (x + first * d, n, d);
  g_autoptr (HrSource) projections = p != NULL ? memory (p + first * P, n, P) : NULL;
  HrAnalysis *a = hr_analysis_new_for_source (features);

  hr_analysis_set_projections_source (a, projections);
  return a;
}

static void
make_data (float *x, float *p)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (15);

  for (gsize i = 0; i < N; i++)
    {
      for (gsize j = 0; j < D; j++)
        x[i * D + j] = (float)(g_rand_double_range (rand, -1, 1) * (j + 1) + 10);
      for (gsize k = 0; k < P; k++)
        p[i * P + k] = MAX (0.0f, x[i * D + k] - x[i * D + k + 1] + (float)k);
    }
  x[77 * D + 3] = NAN;
}

static void
compare_analyses (HrAnalysis *single, HrAnalysis *merged, double rel)
{
  g_autoptr (GError) error = NULL;

  g_assert_cmpuint (hr_analysis_get_n_stages (merged), ==, hr_analysis_get_n_stages (single));
  g_assert_cmpuint (hr_analysis_get_n_dropped (merged), ==, hr_analysis_get_n_dropped (single));
  g_assert_cmpuint (hr_analysis_get_verdict (merged), ==, hr_analysis_get_verdict (single));
  for (guint s = 0; s < hr_analysis_get_n_stages (single); s++)
    {
      HrStage *a = hr_analysis_get_stage (single, s), *b = hr_analysis_get_stage (merged, s);
      HrSpectrum *sa = hr_stage_get_spectrum (a), *sb = hr_stage_get_spectrum (b);
      gsize na = 0, nb = 0;
      const double *va = hr_spectrum_get_eigenvalues (sa, &na);
      const double *vb = hr_spectrum_get_eigenvalues (sb, &nb);
      g_autofree float *ta = g_new (float, N *HR_PER_SAMPLE_COLUMNS);
      g_autofree float *tb = g_new (float, N *HR_PER_SAMPLE_COLUMNS);

      g_assert_cmpuint (hr_spectrum_get_rank (sa), ==, hr_spectrum_get_rank (sb));
      g_assert_cmpfloat_with_epsilon (hr_spectrum_get_effective_rank (sa),
                                      hr_spectrum_get_effective_rank (sb), 1e-9);
      g_assert_cmpuint (na, ==, nb);
      for (gsize k = 0; k < na; k++)
        g_assert_cmpfloat (fabs (va[k] - vb[k]), <=, rel * va[0]);
      g_assert_true (hr_stage_get_per_sample_into (a, 0, N, ta, &error));
      g_assert_true (hr_stage_get_per_sample_into (b, 0, N, tb, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (ta, N * HR_PER_SAMPLE_COLUMNS * sizeof (float), tb,
                       N * HR_PER_SAMPLE_COLUMNS * sizeof (float));
    }
}

static void
test_merge (void)
{
  g_autofree float *x = g_new (float, N *D);
  g_autofree float *p = g_new (float, N *P);
  const gsize cuts[] = { 0, 1, 400, 401, 1100, N };
  GBytes *parts[G_N_ELEMENTS (cuts) - 1];
  g_autoptr (HrAnalysis) single = NULL, merged = NULL;
  g_autoptr (GError) error = NULL;

  make_data (x, p);
  single = analysis_of (x, p, 0, N, D);
  g_assert_true (hr_analysis_run (single, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  for (guint i = 0; i + 1 < G_N_ELEMENTS (cuts); i++)
    {
      g_autoptr (HrAnalysis) a = analysis_of (x, p, cuts[i], cuts[i + 1] - cuts[i], D);

      parts[i] = hr_analysis_run_part (a, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (parts[i]);
      g_assert_false (hr_analysis_is_done (a));
    }
  merged = hr_analysis_new_from_parts (parts, G_N_ELEMENTS (parts), NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hr_analysis_is_done (merged));
  g_assert_cmpuint (hr_analysis_get_n_stages (merged), ==, 2);
  g_assert_cmpuint (hr_analysis_get_n_dropped (merged), ==, 1);
  compare_analyses (single, merged, 1e-9);
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
    g_bytes_unref (parts[i]);
}

static void
test_refuse (HrTestFolder *f, gconstpointer unused)
{
  g_autofree float *x = g_new (float, N *D);
  g_autofree float *p = g_new (float, N *P);
  g_autoptr (HrAnalysis) a = NULL, b = NULL, c = NULL, none = NULL;
  g_autoptr (GBytes) pa = NULL, pb = NULL, pc = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "a.part", NULL);
  g_autofree char *cut = g_build_filename (f->dir, "cut.part", NULL);
  g_autofree char *contents = NULL;
  gsize length;

  make_data (x, p);
  a = analysis_of (x, p, 0, 100, D);
  b = analysis_of (x, NULL, 100, 100, D); /* without projections */
  c = analysis_of (x, p, 200, 100, D);
  hr_analysis_set_precision (c, HR_PRECISION_FLOAT32_PRODUCTS);
  pa = hr_analysis_run_part (a, NULL, NULL, NULL, &error);
  pb = hr_analysis_run_part (b, NULL, NULL, NULL, &error);
  pc = hr_analysis_run_part (c, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  {
    GBytes *ab[] = { pa, pb }, *ac[] = { pa, pc };

    none = hr_analysis_new_from_parts (ab, 2, NULL, NULL, &error);
    g_assert_null (none);
    g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH);
    g_clear_error (&error);
    none = hr_analysis_new_from_parts (ac, 2, NULL, NULL, &error);
    g_assert_null (none);
    g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH);
    g_clear_error (&error);
  }
  g_assert_true (hr_analysis_write_part (a, path, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (cut, contents, (gssize)length / 2, NULL));
  {
    const char *paths[] = { path, cut, NULL };

    none = hr_analysis_new_from_part_files (paths, NULL, NULL, &error);
    g_assert_null (none);
    g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_TRUNCATED);
    g_assert_nonnull (strstr (error->message, "cut.part"));
  }
}

static GBytes *
merge2 (GBytes *a, GBytes *b)
{
  g_autoptr (GError) error = NULL;
  GBytes *ab[] = { a, b };
  GBytes *merged = hr_analysis_merge_parts (ab, 2, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (merged);
  return merged;
}

static void
test_merge_tree (void)
{
  g_autofree float *x = g_new (float, N *D);
  g_autofree float *p = g_new (float, N *P);
  const gsize cuts[] = { 0, 0, 1, 400, 401, 1100, N }; /* an empty part, a one-sample part */
  GBytes *parts[G_N_ELEMENTS (cuts) - 1];
  g_autoptr (HrSource) features = NULL, projections = NULL;
  g_autoptr (HrAnalysis) flat = NULL, tree = NULL, none = NULL;
  g_autoptr (GBytes) a = NULL, b = NULL, c = NULL, d = NULL, e = NULL, bad = NULL;
  g_autoptr (GError) error = NULL;

  make_data (x, p);
  features = memory (x, N, D);
  projections = memory (p, N, P);
  for (guint i = 0; i + 1 < G_N_ELEMENTS (cuts); i++)
    {
      g_autoptr (HrSource) fr
          = hr_range_source_new (features, cuts[i], cuts[i + 1] - cuts[i], &error);
      g_autoptr (HrSource) pr
          = hr_range_source_new (projections, cuts[i], cuts[i + 1] - cuts[i], &error);
      g_autoptr (HrAnalysis) an = NULL;

      g_assert_no_error (error);
      an = hr_analysis_new_for_source (fr);
      hr_analysis_set_projections_source (an, pr);
      parts[i] = hr_analysis_run_part (an, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (parts[i]);
    }
  flat = hr_analysis_new_from_parts (parts, G_N_ELEMENTS (parts), NULL, NULL, &error);
  g_assert_no_error (error);
  /* ((0 1) (2 3)) ((4 5)): the merged parts merge again */
  a = merge2 (parts[0], parts[1]);
  b = merge2 (parts[2], parts[3]);
  c = merge2 (a, b);
  d = merge2 (parts[4], parts[5]);
  e = merge2 (c, d);
  tree = hr_analysis_new_from_parts (&e, 1, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_source_get_n_samples (hr_analysis_get_source (tree)), ==, N);
  compare_analyses (flat, tree, 1e-9);
  /* one part of all: the same bytes as merging the parts at once */
  {
    g_autoptr (GBytes) all = hr_analysis_merge_parts (parts, G_N_ELEMENTS (parts), NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (g_bytes_get_size (all), ==, g_bytes_get_size (e));
  }
  /* parts that disagree are refused as by hr_analysis_new_from_parts() */
  {
    g_autoptr (HrAnalysis) alone = analysis_of (x, NULL, 0, 100, D);
    g_autoptr (GBytes) p_alone = hr_analysis_run_part (alone, NULL, NULL, NULL, &error);
    GBytes *mixed[] = { e, p_alone };

    g_assert_no_error (error);
    bad = hr_analysis_merge_parts (mixed, 2, NULL, &error);
    g_assert_null (bad);
    g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH);
    g_clear_error (&error);
  }
  bad = hr_analysis_merge_parts (parts, 0, NULL, &error);
  g_assert_null (bad);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
    g_bytes_unref (parts[i]);
}

/* Many part files (50 of 30 samples) merged one at a time by
 * hr_analysis_new_from_part_files() give the analysis of hr_analysis_new_from_parts() of the
 * same parts to the bit (the same left fold); a damaged or missing 30th file is named in the
 * error. */
#define MANY 50

static void
test_many_files (HrTestFolder *f, gconstpointer unused)
{
  g_autofree float *x = g_new (float, N *D);
  g_autofree float *p = g_new (float, N *P);
  GBytes *parts[MANY];
  char *paths[MANY + 1] = { NULL };
  g_autoptr (HrAnalysis) from_bytes = NULL, from_files = NULL, none = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *kept = NULL;
  gsize kept_length;

  make_data (x, p);
  for (guint i = 0; i < MANY; i++)
    {
      g_autoptr (HrAnalysis) a = analysis_of (x, p, i * (N / MANY), N / MANY, D);
      g_autofree char *name = g_strdup_printf ("part-%02u.part", i + 1);

      paths[i] = g_build_filename (f->dir, name, NULL);
      parts[i] = hr_analysis_run_part (a, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (g_file_set_contents (paths[i], g_bytes_get_data (parts[i], NULL),
                                          (gssize)g_bytes_get_size (parts[i]), NULL));
    }
  from_bytes = hr_analysis_new_from_parts (parts, MANY, NULL, NULL, &error);
  g_assert_no_error (error);
  from_files = hr_analysis_new_from_part_files ((const char *const *)paths, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_source_get_n_samples (hr_analysis_get_source (from_files)), ==, N);
  compare_analyses (from_bytes, from_files, 0.0);
  for (guint s = 0; s < hr_analysis_get_n_stages (from_bytes); s++)
    {
      HrStage *a = hr_analysis_get_stage (from_bytes, s),
              *b = hr_analysis_get_stage (from_files, s);
      gsize na = 0, nb = 0;
      const double *va = hr_spectrum_get_eigenvalues (hr_stage_get_spectrum (a), &na);
      const double *vb = hr_spectrum_get_eigenvalues (hr_stage_get_spectrum (b), &nb);
      double ca = hr_stage_get_cka (a), cb = hr_stage_get_cka (b);

      g_assert_cmpmem (va, na * sizeof (double), vb, nb * sizeof (double));
      g_assert_cmpmem (&ca, sizeof ca, &cb, sizeof cb);
    }

  /* the 30th file damaged, then missing: the error names it */
  g_assert_true (g_file_get_contents (paths[29], &kept, &kept_length, NULL));
  g_assert_true (g_file_set_contents (paths[29], kept + 64, (gssize)kept_length - 64, NULL));
  none = hr_analysis_new_from_part_files ((const char *const *)paths, NULL, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_NOT_PART);
  g_assert_nonnull (strstr (error->message, "part-30.part"));
  g_clear_error (&error);
  g_assert_cmpint (g_remove (paths[29]), ==, 0);
  none = hr_analysis_new_from_part_files ((const char *const *)paths, NULL, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "part-30.part"));
  g_clear_error (&error);
  /* the 30th of other options: the mismatch names the file too */
  {
    g_autoptr (HrAnalysis) other = analysis_of (x, p, 29 * (N / MANY), N / MANY, D);

    hr_analysis_set_precision (other, HR_PRECISION_FLOAT32_PRODUCTS);
    g_assert_true (hr_analysis_write_part (other, paths[29], NULL, NULL, NULL, &error));
    g_assert_no_error (error);
  }
  none = hr_analysis_new_from_part_files ((const char *const *)paths, NULL, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH);
  g_assert_nonnull (strstr (error->message, "part-30.part"));
  g_assert_nonnull (strstr (error->message, "part 30 cannot be merged with part 1"));
  for (guint i = 0; i < MANY; i++)
    {
      g_bytes_unref (parts[i]);
      g_free (paths[i]);
    }
}

/* Features wider than the samples (40 × 60; projections 40 × 5 narrow, then 40 × 50 wide):
 * one pass keeps the wide stages' rows for their Gram matrices and computes CKA from them
 * (the cross-moments and ‖YᵀY‖_F of the kept rows), the parts from the merged scatter
 * matrices: the same CKA within 1e-12 relative. */
static void
test_wide_cka (void)
{
  const gsize n = 40, d = 60, widths[] = { 5, 50 };
  g_autofree float *x = g_new (float, n *d);
  g_autoptr (GRand) rand = g_rand_new_with_seed (96);

  for (gsize i = 0; i < n * d; i++)
    x[i] = (float)g_rand_double_range (rand, -1, 1) + (i % d == 3 ? 5.0f : 0.0f);
  for (guint w = 0; w < G_N_ELEMENTS (widths); w++)
    {
      gsize pw = widths[w];
      g_autofree float *p = g_new (float, n *pw);
      g_autoptr (HrSource) features = memory (x, n, d);
      g_autoptr (HrSource) projections = NULL;
      g_autoptr (HrAnalysis) single = hr_analysis_new_for_source (features);
      g_autoptr (HrAnalysis) merged = NULL;
      g_autoptr (GError) error = NULL;
      GBytes *parts[2];
      double one, two;

      for (gsize i = 0; i < n; i++)
        for (gsize k = 0; k < pw; k++)
          p[i * pw + k] = MAX (0.0f, x[i * d + k] - 0.5f * x[i * d + k + 1])
                          + 0.1f * (float)g_rand_double (rand);
      projections = memory (p, n, pw);
      hr_analysis_set_projections_source (single, projections);
      g_assert_true (hr_analysis_run (single, NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      for (guint i = 0; i < 2; i++)
        {
          g_autoptr (HrSource) fr = hr_range_source_new (features, i * n / 2, n / 2, &error);
          g_autoptr (HrSource) pr = hr_range_source_new (projections, i * n / 2, n / 2, &error);
          g_autoptr (HrAnalysis) a = NULL;

          g_assert_no_error (error);
          a = hr_analysis_new_for_source (fr);
          hr_analysis_set_projections_source (a, pr);
          parts[i] = hr_analysis_run_part (a, NULL, NULL, NULL, &error);
          g_assert_no_error (error);
        }
      merged = hr_analysis_new_from_parts (parts, 2, NULL, NULL, &error);
      g_assert_no_error (error);
      one = hr_stage_get_cka (hr_analysis_get_stage (single, 1));
      two = hr_stage_get_cka (hr_analysis_get_stage (merged, 1));
      g_assert_false (isnan (one));
      g_assert_cmpfloat (one, >, 0.0);
      g_assert_cmpfloat (one, <=, 1.0);
      g_assert_cmpfloat (fabs (one - two), <=, 1e-12 * one);
      g_assert_cmpfloat (hr_stage_get_cka (hr_analysis_get_stage (single, 0)), ==, 1.0);
      g_bytes_unref (parts[0]);
      g_bytes_unref (parts[1]);
    }
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/analysis-parts/merge", test_merge);
  g_test_add_func ("/analysis-parts/merge-tree", test_merge_tree);
  g_test_add_func ("/analysis-parts/wide-cka", test_wide_cka);
  g_test_add ("/analysis-parts/refuse", HrTestFolder, NULL, hr_test_folder_set_up, test_refuse,
              hr_test_folder_tear_down);
  g_test_add ("/analysis-parts/many-files", HrTestFolder, NULL, hr_test_folder_set_up,
              test_many_files, hr_test_folder_tear_down);
  return g_test_run ();
}
