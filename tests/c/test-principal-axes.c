/* headrank tests: principal axes (lib/measures/hr-principal-axes.c) and the streamed PCA
 * projection (lib/analysis/hr-pca-projection.c) on cases solved by hand; the comparisons
 * with scikit-learn's PCA are in tests/python/test_principal_axes.py. */
#include <headrank.h>
#include <math.h>
#include <string.h>

/* Four samples (±2, 0), (0, ±1) rotated by @theta and shifted by (5, −3): mean (5, −3),
 * scatter R diag(8, 2) Rᵀ, covariance eigenvalues 8/3 and 2/3, axes the columns of R. */
static void
rotated_cross (double theta, float *rows, double *mean, double *scatter)
{
  const double c = cos (theta), s = sin (theta);
  const double p[4][2] = { { 2, 0 }, { -2, 0 }, { 0, 1 }, { 0, -1 } };

  mean[0] = 5;
  mean[1] = -3;
  for (int i = 0; i < 4; i++)
    {
      rows[2 * i] = (float)(c * p[i][0] - s * p[i][1] + 5);
      rows[2 * i + 1] = (float)(s * p[i][0] + c * p[i][1] - 3);
    }
  scatter[0] = 8 * c * c + 2 * s * s;
  scatter[1] = scatter[2] = (8 - 2) * c * s;
  scatter[3] = 8 * s * s + 2 * c * c;
}

typedef struct
{
  double theta;
  double axis0[2]; /* the first axis, oriented by the convention */
  double axis1[2];
} AxesCase;

/* At 30° both axes come out of LAPACK as they are or negated; at 150° the first axis,
 * (cos θ, sin θ) = (−0.866, 0.5), must be flipped to make its largest component positive. */
static const AxesCase axes_cases[] = {
  { G_PI / 6, { 0.8660254037844387, 0.5 }, { -0.5, 0.8660254037844387 } },
  { 5 * G_PI / 6, { 0.8660254037844387, -0.5 }, { 0.5, 0.8660254037844387 } },
};

static void
test_axes_by_hand (gconstpointer data)
{
  const AxesCase *c = data;
  float rows[8], y[8];
  double mean[2], scatter[4];
  g_autoptr (GError) error = NULL;
  g_autoptr (HrPrincipalAxes) axes = NULL;
  const double *v, *lambda, *ratio;
  gsize n;

  rotated_cross (c->theta, rows, mean, scatter);
  axes = hr_principal_axes_new (4, 2, mean, scatter, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_principal_axes_get_n_axes (axes), ==, 2);
  v = hr_principal_axes_get_components (axes, &n);
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpfloat_with_epsilon (v[0], c->axis0[0], 1e-12);
  g_assert_cmpfloat_with_epsilon (v[1], c->axis0[1], 1e-12);
  g_assert_cmpfloat_with_epsilon (v[2], c->axis1[0], 1e-12);
  g_assert_cmpfloat_with_epsilon (v[3], c->axis1[1], 1e-12);
  lambda = hr_principal_axes_get_explained_variance (axes, &n);
  g_assert_cmpuint (n, ==, 2);
  g_assert_cmpfloat_with_epsilon (lambda[0], 8.0 / 3, 1e-12);
  g_assert_cmpfloat_with_epsilon (lambda[1], 2.0 / 3, 1e-12);
  ratio = hr_principal_axes_get_explained_variance_ratio (axes, NULL);
  g_assert_cmpfloat_with_epsilon (ratio[0], 0.8, 1e-12);
  g_assert_cmpfloat_with_epsilon (ratio[1], 0.2, 1e-12);

  /* the first sample is +2 along (cos θ, sin θ): ±2 on the first axis, 0 on the second */
  hr_principal_axes_project (axes, rows, 4, y);
  g_assert_cmpfloat_with_epsilon (fabs (y[0]), 2.0, 1e-5);
  g_assert_cmpfloat_with_epsilon (y[1], 0.0, 1e-5);
  g_assert_cmpfloat_with_epsilon (y[2], -y[0], 1e-5);
  g_assert_cmpfloat_with_epsilon (fabs (y[5]), 1.0, 1e-5);
  g_assert_cmpfloat_with_epsilon (y[4], 0.0, 1e-5);
}

static void
test_axes_hostile (void)
{
  float rows[8];
  double mean[2], scatter[4], bad[4];
  g_autoptr (GError) error = NULL;
  HrPrincipalAxes *axes;

  rotated_cross (0.3, rows, mean, scatter);
  axes = hr_principal_axes_new (4, 2, mean, scatter, 3, &error); /* k > D */
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
  g_assert_null (axes);
  g_clear_error (&error);
  axes = hr_principal_axes_new (1, 2, mean, scatter, 1, &error); /* N < 2 */
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES);
  g_assert_null (axes);
  g_clear_error (&error);
  axes = hr_principal_axes_new (4, 0, mean, scatter, 0, &error); /* D = 0 */
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE);
  g_assert_null (axes);
  g_clear_error (&error);
  memcpy (bad, scatter, sizeof bad);
  bad[3] = INFINITY;
  axes = hr_principal_axes_new (4, 2, mean, bad, 1, &error);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NUMERIC);
  g_assert_null (axes);
  g_clear_error (&error);

  /* k = 0: all min(N, D) axes */
  axes = hr_principal_axes_new (4, 2, mean, scatter, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_principal_axes_get_n_axes (axes), ==, 2);
  hr_principal_axes_unref (axes);
}

static void
test_projection_stream (void)
{
  static float rows[8 * 1000];
  double mean[2], scatter[4];
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSource) source = NULL;
  g_autoptr (HrPcaProjection) projection = NULL;
  g_autoptr (GBytes) coordinates = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  const float *y;
  gsize size;
  float some[6];

  /* the cross 1,000 times over: the same mean and axes, scatter × 1,000 */
  rotated_cross (5 * G_PI / 6, rows, mean, scatter);
  for (int i = 1; i < 1000; i++)
    memcpy (rows + 8 * i, rows, 8 * sizeof (float));
  rows[8 * 500 + 3] = NAN; /* sample 1,001 is left out and gets NaN */
  source = hr_memory_source_new_borrowed (rows, 4000, 2, NULL, NULL);

  projection = hr_pca_projection_new (source, 3); /* k > D */
  g_assert_false (hr_pca_projection_run (projection, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);
  g_clear_object (&projection);

  projection = hr_pca_projection_new (source, 1);
  g_cancellable_cancel (cancellable);
  g_assert_false (hr_pca_projection_run (projection, NULL, NULL, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (hr_pca_projection_is_done (projection));
  g_assert_null (hr_pca_projection_get_coordinates (projection));

  g_assert_true (hr_pca_projection_run (projection, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hr_pca_projection_get_n_samples (projection), ==, 4000);
  g_assert_cmpuint (hr_pca_projection_get_n_dropped (projection), ==, 1);
  coordinates = hr_pca_projection_get_coordinates (projection);
  y = g_bytes_get_data (coordinates, &size);
  g_assert_cmpuint (size, ==, 4000 * sizeof (float));
  /* the first axis is (0.866, −0.5); sample 0 is +2 along (−0.866, 0.5): −2; the mean
   * moves by the left-out sample, by at most 3 / 3999 */
  g_assert_cmpfloat_with_epsilon (y[0], -2.0, 1e-3);
  g_assert_cmpfloat_with_epsilon (y[1], 2.0, 1e-3);
  g_assert_true (isnan (y[4 * 500 + 1]));
  g_assert_true (hr_pca_projection_get_coordinates_into (projection, 0, 4, some, 6, &error));
  g_assert_cmpfloat (some[0], ==, y[0]);
  g_assert_false (hr_pca_projection_get_coordinates_into (projection, 3998, 4, some, 6, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
}

/* The coordinates of @source's own values on its @k axes (a pass without a head). */
static GBytes *
project_plain (HrSource *source, guint k)
{
  g_autoptr (HrPcaProjection) p = hr_pca_projection_new (source, k);
  g_autoptr (GError) error = NULL;

  g_assert_true (hr_pca_projection_run (p, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  return hr_pca_projection_get_coordinates (p);
}

/* A stage of a head streamed with a NaN row, and the projections of an analysis: equal to
 * the plain pass over that stage's outputs (hr_head_forward_stages()) of the finite rows. */
static void
test_projection_through_a_head (void)
{
  enum
  {
    N = 300,
    D = 3,
    H = 4,
    O = 2,
    BAD = 7
  };
  static float x[N * D], finite[(N - 1) * D];
  const float w1[H * D] = { 0.5f, -1, 0.25f, 1, 0.5f, -0.5f, -0.25f, 0.75f, 1, 0.3f, 0.2f, -0.9f };
  const float b1[H] = { 0.1f, -0.2f, 0.05f, 0 };
  const float w2[O * H] = { 1, -0.5f, 0.25f, 0.5f, -0.75f, 0.5f, 1, 0.25f };
  g_autoptr (GBytes) w1b = g_bytes_new (w1, sizeof w1), b1b = g_bytes_new (b1, sizeof b1);
  g_autoptr (GBytes) w2b = g_bytes_new (w2, sizeof w2);
  g_autoptr (HrHead) head = hr_head_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSource) source = NULL;
  g_autoptr (HrFeatureStack) input = NULL;
  g_autoptr (HrPcaProjection) p = NULL;
  g_autoptr (HrAnalysis) analysis = NULL;
  HrFeatureStack **stages;
  guint n_stages;
  const char *names[] = { "1", "projections" };

  for (int i = 0; i < N * D; i++)
    x[i] = (float)(sin (0.7 * i) * (1 + i % D) + 0.1 * (i % 7));
  x[BAD * D + 1] = NAN;
  for (int i = 0, r = 0; i < N; i++)
    if (i != BAD)
      memcpy (finite + (r++) * D, x + i * D, D * sizeof (float));
  g_assert_true (hr_head_append_linear (head, "0", D, H, w1b, b1b, &error));
  g_assert_true (hr_head_append_activation (head, "1", HR_LAYER_RELU, &error));
  g_assert_true (hr_head_append_linear (head, "2", H, O, w2b, NULL, &error));
  g_assert_no_error (error);
  source = hr_memory_source_new_borrowed (x, N, D, NULL, NULL);
  input = hr_feature_stack_new_copy (finite, N - 1, D);
  stages = hr_head_forward_stages (head, input, HR_NORM_MODE_RUNNING, &n_stages, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_stages, ==, 3);

  analysis = hr_analysis_new_for_source (source);
  hr_analysis_set_head (analysis, head);
  g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_no_error (error);

  for (int s = 0; s < 2; s++)
    {
      HrFeatureStack *stage = stages[s == 0 ? 1 : 2];
      g_autoptr (HrSource) plain = hr_memory_source_new_for_stack (stage);
      g_autoptr (GBytes) want_bytes = project_plain (plain, 2);
      g_autoptr (GBytes) got_bytes = NULL;
      const float *want = g_bytes_get_data (want_bytes, NULL), *got;

      if (s == 0)
        {
          p = hr_pca_projection_new (source, 2);
          g_assert_true (
              hr_pca_projection_set_head (p, head, names[s], HR_NORM_MODE_RUNNING, 0, &error));
        }
      else
        p = hr_pca_projection_new_for_stage (analysis, names[s], 2, &error);
      g_assert_no_error (error);
      g_assert_true (hr_pca_projection_run (p, NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (hr_pca_projection_get_stage (p), ==, names[s]);
      g_assert_cmpuint (hr_pca_projection_get_n_dropped (p), ==, 1);
      got_bytes = hr_pca_projection_get_coordinates (p);
      got = g_bytes_get_data (got_bytes, NULL);
      g_assert_true (isnan (got[BAD * 2]) && isnan (got[BAD * 2 + 1]));
      for (int i = 0, r = 0; i < N; i++)
        {
          if (i == BAD)
            continue;
          g_assert_cmpfloat_with_epsilon (got[i * 2], want[r * 2], 1e-4);
          g_assert_cmpfloat_with_epsilon (got[i * 2 + 1], want[r * 2 + 1], 1e-4);
          r++;
        }
      g_clear_object (&p);
    }
  for (guint i = 0; i < n_stages; i++)
    g_object_unref (stages[i]);
  g_free (stages);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/principal-axes/by-hand/30-degrees", &axes_cases[0], test_axes_by_hand);
  g_test_add_data_func ("/principal-axes/by-hand/150-degrees-flipped", &axes_cases[1],
                        test_axes_by_hand);
  g_test_add_func ("/principal-axes/hostile", test_axes_hostile);
  g_test_add_func ("/pca-projection/stream", test_projection_stream);
  g_test_add_func ("/pca-projection/head", test_projection_through_a_head);
  return g_test_run ();
}
