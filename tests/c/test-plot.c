/* headrank tests: cairo figures (lib/report/hr-plot*.c)
 *
 * Every kind of figure is written as PNG and SVG into a temporary folder; the PNG is read
 * back with cairo and checked for its size, for ink, and for the palette colour of its data
 * (a pixel within ±6 per channel of the colour: line centres are drawn opaque). Writing is
 * atomic: a missing folder, a bad extension and an overwrite leave no stray files.
 *
 * With HR_PLOT_EXAMPLES_DIR set, the realistic figures are also written there, to be looked
 * at: HR_PLOT_EXAMPLES_DIR=/tmp/hr/plots meson test -C <build> plot
 */
#include "hr-plot.h"
#include "hr-plot-private.h"

#include <cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "test-util.h"

/* Each test in a temporary folder of its own, f->dir. */
typedef HrTestFolder Fixture;

static guint
count_files (const char *dir_path)
{
  GDir *dir = g_dir_open (dir_path, 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  g_dir_close (dir);
  return n;
}

/* -- data --------------------------------------------------------------------------------- */

static double
normal (GRand *rand)
{
  double u1 = g_rand_double_range (rand, 1e-12, 1), u2 = g_rand_double (rand);

  return sqrt (-2 * log (u1)) * cos (2 * G_PI * u2);
}

/* An explained-variance-ratio spectrum: a power law k^-alpha over @rank components, then a
 * floor of @floor_ratio (numerical noise of a collapsed head), normalised to sum 1. */
static double *
spectrum (gsize n, double alpha, gsize rank, double floor_ratio)
{
  double *evr = g_new (double, n), sum = 0;

  for (gsize k = 0; k < n; k++)
    {
      evr[k] = k < rank ? pow (k + 1.0, -alpha) : floor_ratio * pow (k + 1.0, -0.3);
      sum += evr[k];
    }
  for (gsize k = 0; k < n; k++)
    evr[k] /= sum;
  return evr;
}

static double *
cumulative (const double *v, gsize n)
{
  double *c = g_new (double, n), sum = 0;

  for (gsize k = 0; k < n; k++)
    c[k] = sum += v[k];
  return c;
}

/* -- checks ------------------------------------------------------------------------------- */

typedef struct
{
  const char *name; /* file name without extension */
  HrFigure *(*build) (void);
  int colors[4]; /* palette colours that must appear; -1 ends */
} Example;

/* Reads a PNG back: its size, ink, and each palette colour of @colors. */
static void
check_png (const char *path, HrFigure *fig, const int *colors)
{
  cairo_surface_t *surface = cairo_image_surface_create_from_png (path);
  guint width, height;
  const guint8 *data;
  int stride;
  gsize n_ink = 0;

  g_assert_cmpint (cairo_surface_status (surface), ==, CAIRO_STATUS_SUCCESS);
  hr_figure_get_size (fig, &width, &height);
  g_assert_cmpint (cairo_image_surface_get_width (surface), ==, 2 * width);
  g_assert_cmpint (cairo_image_surface_get_height (surface), ==, 2 * height);
  data = cairo_image_surface_get_data (surface);
  stride = cairo_image_surface_get_stride (surface);
  for (int y = 0; y < cairo_image_surface_get_height (surface); y++)
    for (int x = 0; x < cairo_image_surface_get_width (surface); x++)
      if ((*(const guint32 *)(data + y * stride + 4 * x) & 0xffffff) != 0xffffff)
        n_ink++;
  /* Not all white, not all ink either. */
  g_assert_cmpuint (n_ink, >, 1000);
  g_assert_cmpuint (n_ink, <, (gsize)width * height * 4 / 2);

  for (guint c = 0; c < 4 && colors[c] >= 0; c++)
    {
      guint8 r, g, b;
      gsize n_found = 0;

      hr_plot_palette_rgb (colors[c], &r, &g, &b);
      for (int y = 0; y < cairo_image_surface_get_height (surface); y++)
        for (int x = 0; x < cairo_image_surface_get_width (surface); x++)
          {
            guint32 px = *(const guint32 *)(data + y * stride + 4 * x);
            int pr = (px >> 16) & 0xff, pg = (px >> 8) & 0xff, pb = px & 0xff;

            if (ABS (pr - r) <= 6 && ABS (pg - g) <= 6 && ABS (pb - b) <= 6)
              n_found++;
          }
      if (n_found < 20)
        g_test_fail_printf ("%s: palette colour %d (#%02x%02x%02x) found in %zu pixels", path,
                            colors[c], r, g, b, n_found);
    }
  cairo_surface_destroy (surface);
}

static void
check_svg (const char *path, HrFigure *fig)
{
  g_autofree char *width_attr = NULL;
  guint width;

  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  gsize length;

  g_file_get_contents (path, &text, &length, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (text, "<?xml"));
  g_assert_nonnull (strstr (text, "<svg"));
  hr_figure_get_size (fig, &width, NULL);
  width_attr = g_strdup_printf ("width=\"%upx\"", width);
  g_assert_nonnull (strstr (text, width_attr));
  g_assert_nonnull (strstr (text, "</svg>"));
  g_assert_true (g_utf8_validate (text, length, NULL));
}

static void
write_example (HrFigure *fig, const char *dir, const char *name, const int *colors)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *png = g_strconcat (dir, G_DIR_SEPARATOR_S, name, ".png", NULL);
  g_autofree char *svg = g_strconcat (dir, G_DIR_SEPARATOR_S, name, ".svg", NULL);
  gint64 t0 = g_get_monotonic_time ();

  g_assert_true (hr_figure_write (fig, png, &error));
  g_assert_no_error (error);
  g_test_message ("%s.png written in %.1f ms", name, (g_get_monotonic_time () - t0) / 1e3);
  t0 = g_get_monotonic_time ();
  g_assert_true (hr_figure_write (fig, svg, &error));
  g_assert_no_error (error);
  g_test_message ("%s.svg written in %.1f ms", name, (g_get_monotonic_time () - t0) / 1e3);
  check_png (png, fig, colors);
  check_svg (svg, fig);
}

/* -- the figures -------------------------------------------------------------------------- */

#define N_FEATURES 768

static HrFigure *
build_lines (void)
{
  HrFigure *fig = hr_figure_new ("Training loss", 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  double x[60], train[60], val[60], lr[60];

  for (int i = 0; i < 60; i++)
    {
      x[i] = i;
      train[i] = 2.5 * exp (-i / 12.0) + 0.35 + 0.03 * sin (i * 1.7);
      val[i] = 2.6 * exp (-i / 14.0) + 0.48 + 0.004 * i;
      lr[i] = 1.2 * (0.5 + 0.5 * cos (G_PI * i / 60));
    }
  hr_axes_set_labels (ax, "epoch", "NT-Xent loss");
  hr_axes_add_line (ax, "training", x, train, 60, -1, FALSE, FALSE);
  hr_axes_add_line (ax, "validation", x, val, 60, -1, FALSE, TRUE);
  hr_axes_add_line (ax, "learning rate × 10³", x, lr, 60, -1, TRUE, FALSE);
  return fig;
}

/* Explained-variance ratio of three stages of a head, on a log y axis. */
static HrFigure *
build_explained_variance (void)
{
  HrFigure *fig = hr_figure_new ("Explained variance by stage", 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  g_autofree double *backbone = spectrum (N_FEATURES, 1.1, N_FEATURES, 0);
  g_autofree double *hidden = spectrum (512, 1.4, 512, 0);
  g_autofree double *projection = spectrum (128, 0.9, 23, 1e-8);

  hr_axes_set_labels (ax, "principal component k", "explained variance ratio");
  hr_axes_set_log_y (ax, TRUE);
  hr_axes_add_line (ax, "backbone (768)", NULL, backbone, N_FEATURES, -1, FALSE, FALSE);
  hr_axes_add_line (ax, "hidden (512)", NULL, hidden, 512, -1, FALSE, FALSE);
  hr_axes_add_line (ax, "projection (128)", NULL, projection, 128, -1, FALSE, FALSE);
  hr_axes_add_hline (ax, 1e-6, "rank tolerance", 6, TRUE);
  return fig;
}

static HrFigure *
build_cumulative (void)
{
  HrFigure *fig = hr_figure_new ("Cumulative explained variance", 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  g_autofree double *backbone = spectrum (N_FEATURES, 1.1, N_FEATURES, 0);
  g_autofree double *projection = spectrum (128, 0.9, 23, 1e-8);
  g_autofree double *cb = cumulative (backbone, N_FEATURES);
  g_autofree double *cp = cumulative (projection, 128);
  g_autofree char *k90_label = NULL;
  gsize k90 = 0;

  while (cp[k90] < 0.9)
    k90++;
  k90_label = g_strdup_printf ("projection: 90 %% at k = %zu", k90 + 1);
  hr_axes_set_labels (ax, "number of components", "cumulative explained variance");
  hr_axes_set_log_x (ax, TRUE);
  hr_axes_set_y_range (ax, 0, 1.02);
  hr_axes_add_line (ax, "backbone", NULL, cb, N_FEATURES, -1, FALSE, FALSE);
  hr_axes_add_line (ax, "projection", NULL, cp, 128, -1, FALSE, FALSE);
  hr_axes_add_hline (ax, 0.9, "90 %", 6, TRUE);
  hr_axes_add_vline (ax, k90 + 1.0, k90_label, 1, TRUE);
  return fig;
}

/* Singular values on log-log axes, labelled in German with σ, λ and ≥. */
static HrFigure *
build_singular_values (void)
{
  HrFigure *fig = hr_figure_new ("Singulärwerte der Projektion", 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  double x[128], s_train[128], s_init[128];

  for (int k = 0; k < 128; k++)
    {
      x[k] = k + 1;
      s_init[k] = 4.0 * pow (k + 1.0, -0.25);
      s_train[k]
          = k < 40 ? 30.0 * pow (k + 1.0, -0.8) : 30.0 * pow (40, -0.8) * exp (-(k - 40) / 6.0);
    }
  hr_axes_set_labels (ax, "Index k", "Singulärwert σₖ");
  hr_axes_set_log_x (ax, TRUE);
  hr_axes_set_log_y (ax, TRUE);
  hr_axes_add_line (ax, "nach dem Training", x, s_train, 128, -1, FALSE, FALSE);
  hr_axes_add_line (ax, "Initialisierung", x, s_init, 128, -1, TRUE, FALSE);
  hr_axes_add_hline (ax, 1e-3 * 30, "σ ≥ 10⁻³·σ₁ (λ-Schwelle)", 6, TRUE);
  return fig;
}

/* Per-sample mean and standard deviation of 100,000 samples, from float triples (mean, std,
 * zero fraction) as the per-sample statistics come. */
static HrFigure *
build_per_sample (void)
{
  HrFigure *fig = hr_figure_new ("Per-sample statistics of the projection", 2, 1);
  HrAxes *top = hr_figure_get_axes (fig, 0, 0), *bottom = hr_figure_get_axes (fig, 1, 0);
  GRand *rand = g_rand_new_with_seed (42);
  gsize n = 100000;
  g_autofree float *stats = g_new (float, 3 * n);

  for (gsize i = 0; i < n; i++)
    {
      double drift = i < 60000 ? 0 : 0.15 * (i - 60000) / 40000.0;

      stats[3 * i] = (float)(0.02 + drift + 0.05 * normal (rand));
      stats[3 * i + 1] = (float)(0.9 + 0.25 * drift + 0.04 * normal (rand));
      stats[3 * i + 2] = (float)g_rand_double (rand);
    }
  stats[3 * 5000] = NAN; /* a gap */
  hr_axes_set_title (top, "mean over features");
  hr_axes_set_labels (top, NULL, "mean");
  hr_axes_add_line_float (top, "batch 0–99,999", stats, n, 3, -1, FALSE);
  hr_axes_add_hline (top, 0, NULL, 6, TRUE);
  hr_axes_set_title (bottom, "standard deviation over features");
  hr_axes_set_labels (bottom, "sample", "std (ddof = 0)");
  hr_axes_add_line_float (bottom, "batch 0–99,999", stats + 1, n, 3, 1, FALSE);
  g_rand_free (rand);
  return fig;
}

static HrFigure *
build_histogram (void)
{
  HrFigure *fig = hr_figure_new ("Fraction of zeros after ReLU", 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  GRand *rand = g_rand_new_with_seed (7);
  gsize n = 20000;
  g_autofree double *hidden = g_new (double, n);
  g_autofree double *dead = g_new (double, n);

  for (gsize i = 0; i < n; i++)
    {
      hidden[i] = CLAMP (0.5 + 0.06 * normal (rand), 0, 1);
      dead[i] = CLAMP (0.82 + 0.04 * normal (rand), 0, 1);
    }
  hr_axes_set_labels (ax, "fraction of features that are zero", "samples");
  hr_axes_add_histogram (ax, "hidden layer 1", hidden, n, 0, 1, 100, -1);
  hr_axes_add_histogram (ax, "hidden layer 2", dead, n, 0, 1, 100, -1);
  hr_axes_add_vline (ax, 0.5, "half", 6, TRUE);
  g_rand_free (rand);
  return fig;
}

/* 2 million points: drawn as a min–max envelope. */
static HrFigure *
build_envelope (void)
{
  HrFigure *fig = hr_figure_new ("Cosine similarity of positive pairs, 2,000,000 pairs", 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  GRand *rand = g_rand_new_with_seed (3);
  gsize n = 2000000;
  g_autofree double *y = g_new (double, n);

  for (gsize i = 0; i < n; i++)
    y[i] = 0.7 + 0.2 * sin (i * 3e-6) + 0.05 * normal (rand);
  hr_axes_set_labels (ax, "pair", "cos(z₁, z₂)");
  hr_axes_add_line (ax, "positive pairs", NULL, y, n, -1, FALSE, FALSE);
  g_rand_free (rand);
  return fig;
}

/* Data everywhere: the legend goes outside on the right. A narrow log axis (less than a
 * decade) labels its minor ticks. */
static HrFigure *
build_crowded (void)
{
  HrFigure *fig = hr_figure_new ("Per-feature variance, five seeds", 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  GRand *rand = g_rand_new_with_seed (11);
  double y[300];

  hr_axes_set_labels (ax, "feature", "variance");
  hr_axes_set_log_y (ax, TRUE);
  for (int seed = 0; seed < 5; seed++)
    {
      g_autofree char *label = g_strdup_printf ("seed %d", seed);

      for (int i = 0; i < 300; i++)
        y[i] = exp (g_rand_double_range (rand, log (0.15), log (1.5)));
      hr_axes_add_line (ax, label, NULL, y, 300, -1, FALSE, FALSE);
    }
  g_rand_free (rand);
  return fig;
}

/* Panels that have little or nothing to draw. */
static HrFigure *
build_degenerate (void)
{
  HrFigure *fig = hr_figure_new ("Degenerate data", 2, 2);
  double nan_inf[] = { 1, 2, NAN, 4, INFINITY, 3, -INFINITY, 2 };
  double all_nan[] = { NAN, NAN, NAN };
  double constant[] = { 5, 5, 5, 5 };
  double one = 0.25;
  double signs[] = { -1, 0, 1e-3, 1e-1, 10 };
  HrAxes *ax;

  ax = hr_figure_get_axes (fig, 0, 0);
  hr_axes_set_title (ax, "NaN and ±Inf are gaps");
  hr_axes_add_line (ax, "with gaps", NULL, nan_inf, G_N_ELEMENTS (nan_inf), -1, FALSE, TRUE);
  hr_axes_add_line (ax, "all NaN", NULL, all_nan, G_N_ELEMENTS (all_nan), -1, FALSE, FALSE);
  ax = hr_figure_get_axes (fig, 0, 1);
  hr_axes_set_title (ax, "empty series");
  hr_axes_add_line (ax, "empty", NULL, NULL, 0, -1, FALSE, FALSE);
  hr_axes_add_histogram (ax, NULL, NULL, 0, 0, 1, 10, -1);
  ax = hr_figure_get_axes (fig, 1, 0);
  hr_axes_set_title (ax, "constant and single point");
  hr_axes_add_line (ax, "constant", NULL, constant, 4, -1, FALSE, FALSE);
  hr_axes_add_line (ax, "one point", &one, constant, 1, -1, FALSE, FALSE);
  hr_axes_add_note (ax, "a note");
  ax = hr_figure_get_axes (fig, 1, 1);
  hr_axes_set_title (ax, "log y skips values ≤ 0");
  hr_axes_set_log_y (ax, TRUE);
  hr_axes_add_line (ax, "mixed signs", NULL, signs, G_N_ELEMENTS (signs), -1, FALSE, TRUE);
  return fig;
}

static const Example examples[] = {
  { "lines", build_lines, { 0, 1, 2, -1 } },
  { "explained-variance", build_explained_variance, { 0, 1, 2, -1 } },
  { "cumulative", build_cumulative, { 0, 1, -1 } },
  { "singular-values", build_singular_values, { 0, 1, -1 } },
  { "per-sample", build_per_sample, { 0, 1, -1 } },
  { "histogram", build_histogram, { 0, 1, -1 } },
  { "envelope", build_envelope, { 0, -1 } },
  { "crowded", build_crowded, { 0, 1, 2, 3 } },
  { "degenerate", build_degenerate, { 0, 1, -1 } },
};

static void
test_example (Fixture *f, gconstpointer data)
{
  const Example *ex = data;
  const char *examples_dir = g_getenv ("HR_PLOT_EXAMPLES_DIR");
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (HrFigure) fig = ex->build ();

  g_test_message ("%s: data made in %.1f ms", ex->name, (g_get_monotonic_time () - t0) / 1e3);
  write_example (fig, f->dir, ex->name, ex->colors);
  g_assert_cmpuint (count_files (f->dir), ==, 2);
  if (examples_dir != NULL && *examples_dir != '\0')
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *png = g_strconcat (examples_dir, G_DIR_SEPARATOR_S, ex->name, ".png", NULL);

      g_mkdir_with_parents (examples_dir, 0755);
      g_assert_true (hr_figure_write (fig, png, &error));
      g_assert_no_error (error);
    }
}

/* The longest horizontal run of pixels of palette colour @color in the PNG @path. */
static int
longest_run (const char *path, int color)
{
  cairo_surface_t *surface = cairo_image_surface_create_from_png (path);
  const guint8 *data = cairo_image_surface_get_data (surface);
  int stride = cairo_image_surface_get_stride (surface);
  int best = 0;
  guint8 r, g, b;

  g_assert_cmpint (cairo_surface_status (surface), ==, CAIRO_STATUS_SUCCESS);
  hr_plot_palette_rgb (color, &r, &g, &b);
  for (int y = 0; y < cairo_image_surface_get_height (surface); y++)
    {
      int run = 0;

      for (int x = 0; x < cairo_image_surface_get_width (surface); x++)
        {
          guint32 px = *(const guint32 *)(data + y * stride + 4 * x);
          int pr = (px >> 16) & 0xff, pg = (px >> 8) & 0xff, pb = px & 0xff;

          run = ABS (pr - r) <= 6 && ABS (pg - g) <= 6 && ABS (pb - b) <= 6 ? run + 1 : 0;
          best = MAX (best, run);
        }
    }
  cairo_surface_destroy (surface);
  return best;
}

/* A series of points alone (each between gaps, as `headrank compare` draws one point per
 * report) shows a point in the legend, not a line the plot does not have; a series with
 * segments keeps its line (the control). */
static void
test_legend_points (Fixture *f, gconstpointer data)
{
  double x_points[] = { 1, 1.5, 2, 2.5, 3 };
  double y_points[] = { 5, NAN, 7, NAN, 6 };
  double x_line[] = { 1, 2, 3 };
  double y_line[] = { 5, 9, 6 };
  struct
  {
    const double *x, *y;
    gsize n;
    gboolean line;
  } cases[] = { { x_points, y_points, 5, FALSE }, { x_line, y_line, 3, TRUE } };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (HrFigure) fig = hr_figure_new ("legend", 1, 1);
      HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
      g_autoptr (GError) error = NULL;
      g_autofree char *png = g_strdup_printf ("%s/legend-%u.png", f->dir, i);
      int run;

      hr_axes_add_line (ax, "rank", cases[i].x, cases[i].y, cases[i].n, 0, FALSE, TRUE);
      hr_axes_add_line (ax, "other", x_line, y_line, 3, 1, FALSE, FALSE);
      g_assert_true (hr_figure_write (fig, png, &error));
      g_assert_no_error (error);
      /* the PNG is drawn at twice the figure's size: the legend's line is 2 × 24 px long,
       * a marker 2 × 6 px wide */
      run = longest_run (png, 0);
      if (cases[i].line)
        g_assert_cmpint (run, >=, (int)(2 * LEGEND_HANDLE) - 4);
      else
        g_assert_cmpint (run, <=, (int)(4 * MARKER_RADIUS) + 4);
    }
}

/* -- writing ------------------------------------------------------------------------------ */

static void
test_write_missing_dir (Fixture *f, gconstpointer data)
{
  g_autoptr (HrFigure) fig = build_lines ();
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = g_build_filename (f->dir, "missing", NULL);
  g_autofree char *path = g_build_filename (missing, "figure.png", NULL);

  g_assert_false (hr_figure_write (fig, path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_files (f->dir), ==, 0);
}

static void
test_write_bad_extension (Fixture *f, gconstpointer data)
{
  g_autoptr (HrFigure) fig = build_lines ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "figure.pdf", NULL);

  g_assert_false (hr_figure_write (fig, path, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_cmpuint (count_files (f->dir), ==, 0);
}

/* A folder we may not write into: the old file stays, no temporary file is left. */
static void
test_write_read_only_dir (Fixture *f, gconstpointer data)
{
  g_autoptr (HrFigure) fig = build_lines ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "figure.svg", NULL);
  g_autofree char *contents = NULL;

  if (geteuid () == 0)
    {
      g_test_skip ("root writes into read-only folders");
      return;
    }
  g_file_set_contents (path, "old", -1, &error);
  g_assert_no_error (error);
  g_chmod (f->dir, 0555);
  g_assert_false (hr_figure_write (fig, path, &error));
  g_chmod (f->dir, 0755);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_file_get_contents (path, &contents, NULL, NULL);
  g_assert_cmpstr (contents, ==, "old");
  g_assert_cmpuint (count_files (f->dir), ==, 1);
}

static void
test_write_overwrite (Fixture *f, gconstpointer data)
{
  g_autoptr (HrFigure) fig = build_lines ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->dir, "figure.PNG", NULL);
  g_autofree char *contents = NULL;
  gsize length;
  static const int colors[] = { 0, 1, 2, -1 };

  g_file_set_contents (path, "not a png", -1, &error);
  g_assert_no_error (error);
  g_assert_true (hr_figure_write (fig, path, &error));
  g_assert_no_error (error);
  g_assert_true (hr_figure_write (fig, path, &error));
  g_assert_no_error (error);
  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (length, >, 8);
  g_assert_cmpmem (contents, 8, "\x89PNG\r\n\x1a\n", 8);
  check_png (path, fig, colors);
  g_assert_cmpuint (count_files (f->dir), ==, 1);
}

/* The palette wraps around and starts with Okabe-Ito blue and vermillion. */
static void
test_palette (void)
{
  guint8 r, g, b, r8, g8, b8;

  hr_plot_palette_rgb (0, &r, &g, &b);
  hr_plot_palette_rgb (HR_PLOT_N_COLORS, &r8, &g8, &b8);
  g_assert_cmpuint (r, ==, r8);
  g_assert_cmpuint (g, ==, g8);
  g_assert_cmpuint (b, ==, b8);
  /* Okabe-Ito blue, then vermillion. */
  g_assert_cmpuint (((guint)r << 16) | ((guint)g << 8) | b, ==, 0x0072b2);
  hr_plot_palette_rgb (1, &r, &g, &b);
  g_assert_cmpuint (((guint)r << 16) | ((guint)g << 8) | b, ==, 0xd55e00);
}

/* An axis of numbered items (reports 1 and 2 of headrank compare, with the axis margins):
 * whole-number ticks only, labelled without decimals; without the flag, the same range has
 * ticks between them. */
static void
test_integer_ticks (void)
{
  g_autofree char *offset = NULL;
  g_autoptr (GArray) ticks = hr_linear_ticks (0.95, 2.05, 10, TRUE, &offset);
  g_autoptr (GArray) fractional = NULL;
  gboolean any_fraction = FALSE;

  g_assert_null (offset);
  g_assert_cmpuint (ticks->len, ==, 2);
  g_assert_cmpfloat (g_array_index (ticks, HrTick, 0).value, ==, 1.0);
  g_assert_cmpfloat (g_array_index (ticks, HrTick, 1).value, ==, 2.0);
  g_assert_cmpstr (g_array_index (ticks, HrTick, 0).label, ==, "1");
  g_assert_cmpstr (g_array_index (ticks, HrTick, 1).label, ==, "2");
  fractional = hr_linear_ticks (0.95, 2.05, 10, FALSE, &offset);
  for (guint i = 0; i < fractional->len; i++)
    any_fraction |= floor (g_array_index (fractional, HrTick, i).value)
                    != g_array_index (fractional, HrTick, i).value;
  g_assert_true (any_fraction);
  /* a wide range keeps its 1-2-5 steps */
  g_clear_pointer (&ticks, g_array_unref);
  ticks = hr_linear_ticks (0.5, 40.5, 5, TRUE, &offset);
  g_assert_cmpfloat (
      g_array_index (ticks, HrTick, 1).value - g_array_index (ticks, HrTick, 0).value, ==, 10.0);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (examples); i++)
    {
      g_autofree char *path = g_strdup_printf ("/plot/figure/%s", examples[i].name);

      g_test_add (path, Fixture, &examples[i], hr_test_folder_set_up, test_example,
                  hr_test_folder_tear_down);
    }
  g_test_add ("/plot/write/missing-dir", Fixture, NULL, hr_test_folder_set_up,
              test_write_missing_dir, hr_test_folder_tear_down);
  g_test_add ("/plot/write/bad-extension", Fixture, NULL, hr_test_folder_set_up,
              test_write_bad_extension, hr_test_folder_tear_down);
  g_test_add ("/plot/write/read-only-dir", Fixture, NULL, hr_test_folder_set_up,
              test_write_read_only_dir, hr_test_folder_tear_down);
  g_test_add ("/plot/write/overwrite", Fixture, NULL, hr_test_folder_set_up, test_write_overwrite,
              hr_test_folder_tear_down);
  g_test_add ("/plot/legend/points", Fixture, NULL, hr_test_folder_set_up, test_legend_points,
              hr_test_folder_tear_down);
  g_test_add_func ("/plot/palette", test_palette);
  g_test_add_func ("/plot/ticks/integer", test_integer_ticks);
  status = g_test_run ();
  /* cairo's and fontconfig's caches, so that LeakSanitizer sees only our own memory. */
  cairo_debug_reset_static_data ();
  FcFini ();
  return status;
}
