/* headrank tests: sources (HrSource, HrMemorySource, HrConcatSource, HrStackReader as a
 * source), and the head, analysis and writer taking them */
#include <glib/gstdio.h>
#include <headrank.h>
#include <math.h>
#include <string.h>

#include "test-util.h"

/* N × D values that are different in every position, reproducibly. */
static float *
make_rows (gsize n, gsize d, guint32 seed)
{
  float *rows = g_new (float, n *d);
  GRand *rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < n * d; i++)
    rows[i] = (float)g_rand_double_range (rand, -1.0, 1.0) * (float)(1 + i % d);
  g_rand_free (rand);
  return rows;
}

static HrSource *
memory_source (const float *rows, gsize n, gsize d)
{
  g_autoptr (GBytes) bytes = g_bytes_new (rows, n * d * sizeof (float));
  g_autoptr (GError) error = NULL;
  HrSource *source = hr_memory_source_new (bytes, n, d, &error);

  g_assert_no_error (error);
  return source;
}

/* Reads a whole source in chunks of @chunk into a new array. */
static float *
read_all (HrSource *source, gsize chunk, gsize *n_read)
{
  gsize n = hr_source_get_n_samples (source), d = hr_source_get_n_features (source), got;
  float *all = g_new (float, (n + 1) * d);
  g_autoptr (GError) error = NULL;

  *n_read = 0;
  g_assert_true (hr_source_rewind (source, &error));
  while (hr_source_read_into (source, all + *n_read * d, MIN (chunk, n + 1 - *n_read), &got, NULL,
                              &error)
         && got > 0)
    *n_read += got;
  g_assert_no_error (error);
  return all;
}

static void
test_memory_read (void)
{
  g_autofree float *rows = make_rows (1000, 7, 1);
  g_autoptr (HrSource) source = memory_source (rows, 1000, 7);
  g_autoptr (HrFeatureStack) chunk = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree float *all = NULL;
  gsize n_read, size;

  g_assert_cmpuint (hr_source_get_n_samples (source), ==, 1000);
  g_assert_cmpuint (hr_source_get_n_features (source), ==, 7);
  g_assert_cmpstr (hr_source_get_name (source), ==, "memory");
  g_assert_cmpint (hr_stack_info_get_sample_format (hr_source_get_info (source)), ==,
                   HR_SAMPLE_FORMAT_FLOAT32);
  all = read_all (source, 333, &n_read);
  g_assert_cmpuint (n_read, ==, 1000);
  g_assert_cmpmem (all, 1000 * 7 * sizeof (float), rows, 1000 * 7 * sizeof (float));
  g_assert_cmpuint (hr_source_get_position (source), ==, 1000);

  /* read_chunk and read_bytes from a position */
  g_assert_true (hr_source_seek (source, 990, &error));
  chunk = hr_source_read_chunk (source, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_feature_stack_get_n_samples (chunk), ==, 10);
  g_assert_cmpmem (hr_feature_stack_peek_data (chunk), 10 * 7 * sizeof (float), rows + 990 * 7,
                   10 * 7 * sizeof (float));
  g_assert_null (hr_source_read_chunk (source, 0, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (hr_source_seek (source, 5, &error));
  bytes = hr_source_read_bytes (source, 3, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (bytes, &size), size, rows + 5 * 7, 3 * 7 * sizeof (float));

  /* past the end */
  g_assert_false (hr_source_seek (source, 1001, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
}

static void
test_memory_shape_errors (void)
{
  g_autoptr (GBytes) bytes = g_bytes_new_static ("0123456789ab", 12);
  g_autoptr (GError) error = NULL;

  g_assert_null (hr_memory_source_new (bytes, 2, 2, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (hr_memory_source_new (bytes, 0, 3, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
}

/* Objects made with g_object_new() and a shape but nothing to read: errors, not crashes. */
static void
test_bare_objects (void)
{
  GType types[] = { HR_TYPE_MEMORY_SOURCE, HR_TYPE_CONCAT_SOURCE, HR_TYPE_STACK_READER };

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr (HrSource) source
          = g_object_new (types[i], "n-samples", (guint64)10, "n-features", (guint64)3, NULL);
      g_autoptr (GError) error = NULL;
      float rows[30];
      gsize got;

      g_assert_false (hr_source_read_into (source, rows, 10, &got, NULL, &error));
      g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
      g_assert_cmpuint (got, ==, 0);
    }
}

static gboolean borrowed_released;

static void
release (gpointer data)
{
  borrowed_released = TRUE;
}

static void
test_memory_borrowed (void)
{
  g_autofree float *rows = make_rows (10, 3, 2);
  HrSource *source = hr_memory_source_new_borrowed (rows, 10, 3, release, NULL);
  g_autoptr (GBytes) data = hr_memory_source_get_data (HR_MEMORY_SOURCE (source));

  /* no copy: the source reads the caller's memory */
  g_assert_true (g_bytes_get_data (data, NULL) == (gconstpointer)rows);
  g_clear_pointer (&data, g_bytes_unref);
  borrowed_released = FALSE;
  g_object_unref (source);
  g_assert_true (borrowed_released);
}

static void
test_nonfinite (void)
{
  g_autofree float *rows = make_rows (100, 4, 3);
  g_autoptr (HrSource) source = NULL;
  g_autofree float *all = NULL;
  const guint64 *positions;
  gsize n_positions, n_read;

  rows[17 * 4 + 2] = NAN;
  rows[80 * 4 + 0] = INFINITY;
  source = memory_source (rows, 100, 4);
  all = read_all (source, 7, &n_read);
  g_assert_cmpuint (hr_source_get_n_nonfinite (source), ==, 2);
  positions = hr_source_get_nonfinite_positions (source, &n_positions);
  g_assert_cmpuint (n_positions, ==, 2);
  g_assert_cmpuint (positions[0], ==, 17 * 4 + 2);
  g_assert_cmpuint (positions[1], ==, 80 * 4 + 0);
}

static void
test_cancelled (void)
{
  g_autofree float *rows = make_rows (10, 3, 4);
  g_autoptr (HrSource) source = memory_source (rows, 10, 3);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  float buffer[30];
  gsize got = 99;

  g_cancellable_cancel (cancellable);
  g_assert_false (hr_source_read_into (source, buffer, 10, &got, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (got, ==, 0);
  g_assert_cmpuint (hr_source_get_position (source), ==, 0);
}

static void
test_concat (void)
{
  g_autofree float *a = make_rows (300, 5, 5), *b = make_rows (1, 5, 6), *c = make_rows (77, 5, 7);
  g_autofree float *all = NULL;
  HrSource *parts[3];
  g_autoptr (HrSource) concat = NULL;
  g_autoptr (GError) error = NULL;
  gsize n_read;

  parts[0] = memory_source (a, 300, 5);
  parts[1] = memory_source (b, 1, 5);
  parts[2] = memory_source (c, 77, 5);
  concat = hr_concat_source_new (parts, 3, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    g_object_unref (parts[i]);

  g_assert_cmpuint (hr_source_get_n_samples (concat), ==, 378);
  g_assert_cmpuint (hr_concat_source_get_n_parts (HR_CONCAT_SOURCE (concat)), ==, 3);
  g_assert_cmpuint (hr_concat_source_get_part_start (HR_CONCAT_SOURCE (concat), 1), ==, 300);
  g_assert_cmpuint (hr_concat_source_get_part_start (HR_CONCAT_SOURCE (concat), 2), ==, 301);
  g_assert_cmpuint (hr_concat_source_get_part_start (HR_CONCAT_SOURCE (concat), 3), ==, 378);
  g_assert_cmpuint (hr_concat_source_find_part (HR_CONCAT_SOURCE (concat), 299), ==, 0);
  g_assert_cmpuint (hr_concat_source_find_part (HR_CONCAT_SOURCE (concat), 300), ==, 1);
  g_assert_cmpuint (hr_concat_source_find_part (HR_CONCAT_SOURCE (concat), 301), ==, 2);
  g_assert_cmpuint (hr_concat_source_find_part (HR_CONCAT_SOURCE (concat), 378), ==, 3);

  /* chunks that straddle the parts, of several sizes */
  for (gsize chunk = 1; chunk < 400; chunk = chunk * 3 + 1)
    {
      g_autofree float *got = read_all (concat, chunk, &n_read);

      g_assert_cmpuint (n_read, ==, 378);
      g_assert_cmpmem (got, 300 * 5 * sizeof (float), a, 300 * 5 * sizeof (float));
      g_assert_cmpmem (got + 300 * 5, 5 * sizeof (float), b, 5 * sizeof (float));
      g_assert_cmpmem (got + 301 * 5, 77 * 5 * sizeof (float), c, 77 * 5 * sizeof (float));
    }
  /* random access */
  g_assert_true (hr_source_seek (concat, 299, &error));
  {
    float rows[3 * 5];
    gsize got;

    g_assert_true (hr_source_read_into (concat, rows, 3, &got, NULL, &error));
    g_assert_cmpuint (got, ==, 3);
    g_assert_cmpmem (rows, 5 * sizeof (float), a + 299 * 5, 5 * sizeof (float));
    g_assert_cmpmem (rows + 10, 5 * sizeof (float), c, 5 * sizeof (float));
  }
}

static void
test_concat_mismatch (void)
{
  g_autofree float *a = make_rows (10, 5, 8), *b = make_rows (10, 4, 9);
  g_autoptr (HrSource) first = memory_source (a, 10, 5), second = memory_source (b, 10, 4);
  HrSource *parts[] = { first, first, second };
  g_autoptr (GError) error = NULL;

  g_object_set (second, "name", "odd-one.tif", NULL);
  g_assert_null (hr_concat_source_new (parts, 3, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INCONSISTENT);
  g_assert_nonnull (strstr (error->message, "odd-one.tif"));
}

/* A source in the style of a binding's: only read_bytes, and an unknown length. */
typedef struct
{
  HrSource parent_instance;
  guint64 n, d;
} TestCounter;
typedef HrSourceClass TestCounterClass;

GType test_counter_get_type (void);
G_DEFINE_TYPE (TestCounter, test_counter, HR_TYPE_SOURCE)

static GBytes *
test_counter_read_bytes (HrSource *source, guint64 first, gsize max_samples,
                         GCancellable *cancellable, GError **error)
{
  TestCounter *self = (TestCounter *)source;
  gsize count = (gsize)MIN ((guint64)max_samples, self->n - MIN (first, self->n));
  float *rows = g_new (float, count * self->d + 1);

  for (gsize i = 0; i < count * self->d; i++)
    rows[i] = (float)(first * self->d + i);
  return g_bytes_new_take (rows, count * self->d * sizeof (float));
}

static void
test_counter_class_init (TestCounterClass *klass)
{
  klass->read_bytes = test_counter_read_bytes;
}

static void
test_counter_init (TestCounter *self)
{
}

static void
test_bytes_subclass (void)
{
  g_autoptr (HrSource) source
      = g_object_new (test_counter_get_type (), "n-samples", HR_SOURCE_N_SAMPLES_UNKNOWN,
                      "n-features", (guint64)3, NULL);
  g_autoptr (HrAnalysis) analysis = NULL;
  g_autoptr (GError) error = NULL;
  float rows[8 * 3];
  gsize got, total = 0;

  ((TestCounter *)source)->n = 20;
  ((TestCounter *)source)->d = 3;
  while (hr_source_read_into (source, rows, 8, &got, NULL, &error) && got > 0)
    {
      g_assert_cmpfloat (rows[0], ==, (float)(total * 3));
      total += got;
    }
  g_assert_no_error (error);
  g_assert_cmpuint (total, ==, 20);

  /* the analysis needs N first: a clear error, not a crash */
  analysis = hr_analysis_new_for_source (source);
  g_assert_false (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED);
}

/* hr_source_read_rows_into: rows straight into the caller's memory, from a memory source,
 * across the parts of a concatenation and from a TIFF file; what it refuses; a source of
 * unknown length that ends early. */
static void
test_read_rows_into (void)
{
  g_autofree float *rows = make_rows (300, 6, 21);
  g_autoptr (HrSource) memory = memory_source (rows, 300, 6);
  g_autoptr (HrSource) a = memory_source (rows, 100, 6), b = memory_source (rows + 600, 200, 6);
  HrSource *parts[] = { a, b };
  g_autoptr (HrSource) concat = NULL, reader = NULL;
  g_autoptr (HrSource) counter
      = g_object_new (test_counter_get_type (), "n-samples", HR_SOURCE_N_SAMPLES_UNKNOWN,
                      "n-features", (guint64)3, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("headrank-rows-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "rows.tif", NULL);
  float dest[300 * 6 + 1];
  gsize got = 99;

  g_assert_no_error (error);
  concat = hr_concat_source_new (parts, 2, &error);
  g_assert_no_error (error);
  g_assert_true (hr_stack_writer_write_source (memory, path, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  g_assert_no_error (error);
  reader = HR_SOURCE (hr_stack_reader_new (path, HR_STACK_LAYOUT_AUTO, NULL, &error));
  g_assert_no_error (error);

  HrSource *sources[] = { memory, concat, reader };
  for (guint s = 0; s < G_N_ELEMENTS (sources); s++)
    {
      /* rows 95 to 154 cross the concatenation's parts */
      dest[60 * 6] = -7.0f;
      g_assert_true (
          hr_source_read_rows_into (sources[s], 95, 60, dest, 60 * 6, &got, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (got, ==, 60);
      g_assert_cmpmem (dest, 60 * 6 * sizeof (float), rows + 95 * 6, 60 * 6 * sizeof (float));
      g_assert_cmpfloat (dest[60 * 6], ==, -7.0f); /* nothing written past the rows */
      g_assert_cmpuint (hr_source_get_position (sources[s]), ==, 155);
      /* backwards, to the end, and the whole source */
      g_assert_true (
          hr_source_read_rows_into (sources[s], 0, 300, dest, 300 * 6 + 1, NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (dest, 300 * 6 * sizeof (float), rows, 300 * 6 * sizeof (float));
      g_assert_true (hr_source_read_rows_into (sources[s], 300, 0, dest, 0, &got, NULL, &error));
      g_assert_cmpuint (got, ==, 0);
    }

  /* too little room, past the end */
  g_assert_false (hr_source_read_rows_into (memory, 0, 10, dest, 59, &got, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_assert_cmpuint (got, ==, 0);
  g_clear_error (&error);
  g_assert_false (hr_source_read_rows_into (memory, 290, 11, dest, 300 * 6, &got, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "290"));
  g_clear_error (&error);

  /* the non-finite values it reads are not counted; those read_into reads are */
  {
    g_autoptr (HrSource) nan_source = NULL;

    rows[7] = NAN;
    nan_source = memory_source (rows, 300, 6);
    g_assert_true (hr_source_read_rows_into (nan_source, 0, 2, dest, 12, NULL, NULL, &error));
    g_assert_no_error (error);
    g_assert_true (isnan (dest[7]));
    g_assert_cmpuint (hr_source_get_n_nonfinite (nan_source), ==, 0);
    g_assert_true (hr_source_seek (nan_source, 0, &error));
    g_assert_true (hr_source_read_into (nan_source, dest, 2, &got, NULL, &error));
    g_assert_cmpuint (hr_source_get_n_nonfinite (nan_source), ==, 1);
  }

  /* unknown length: 20 samples come of the 32 asked for */
  ((TestCounter *)counter)->n = 20;
  ((TestCounter *)counter)->d = 3;
  g_assert_true (hr_source_read_rows_into (counter, 4, 32, dest, 32 * 3, &got, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (got, ==, 16);
  g_assert_cmpfloat (dest[0], ==, 12.0f);
  g_assert_cmpfloat (dest[16 * 3 - 1], ==, 59.0f);

  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* The same matrix from memory, from a TIFF file (written through the writer from the
 * memory source) and from two TIFF files analyses to the same spectrum. */
static void
test_analysis_sources (void)
{
  const gsize n = 4000, d = 24;
  g_autofree float *rows = make_rows (n, d, 10);
  g_autoptr (HrSource) memory = memory_source (rows, n, d);
  g_autoptr (HrSource) first = memory_source (rows, 1500, d);
  g_autoptr (HrSource) second = memory_source (rows + 1500 * d, n - 1500, d);
  g_autofree char *dir = g_dir_make_tmp ("hr-source-XXXXXX", NULL);
  g_autofree char *whole = g_build_filename (dir, "whole.tif", NULL);
  g_autofree char *part1 = g_build_filename (dir, "1.tif", NULL);
  g_autofree char *part2 = g_build_filename (dir, "2.tif", NULL);
  const char *paths[] = { part1, part2, NULL };
  g_autoptr (GError) error = NULL;
  HrSource *sources[3] = { NULL };
  const double *reference = NULL;
  gsize k_ref = 0;

  g_assert_true (hr_stack_writer_write_source (memory, whole, HR_STACK_LAYOUT_AUTO, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (hr_stack_writer_write_source (first, part1, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  g_assert_true (
      hr_stack_writer_write_source (second, part2, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  sources[0] = g_object_ref (memory);
  sources[1] = HR_SOURCE (hr_stack_reader_new (whole, HR_STACK_LAYOUT_AUTO, NULL, &error));
  g_assert_no_error (error);
  sources[2] = hr_concat_source_new_for_paths (paths, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_no_error (error);

  for (guint s = 0; s < 3; s++)
    {
      g_autoptr (HrAnalysis) analysis = hr_analysis_new_for_source (sources[s]);
      HrSpectrum *spectrum;
      const double *eigenvalues;
      gsize k;

      g_assert_true (hr_analysis_run (analysis, NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (hr_analysis_get_source (analysis) == sources[s]);
      /* the deprecated getter still answers: a reader for a TIFF reader, else NULL */
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      g_assert_true ((hr_analysis_get_features (analysis) != NULL) == (s == 1));
      G_GNUC_END_IGNORE_DEPRECATIONS
      spectrum = hr_stage_get_spectrum (hr_analysis_get_stage (analysis, 0));
      eigenvalues = hr_spectrum_get_eigenvalues (spectrum, &k);
      g_assert_cmpuint (k, ==, d);
      if (s == 0)
        {
          reference = g_memdup2 (eigenvalues, k * sizeof (double));
          k_ref = k;
          continue;
        }
      for (gsize i = 0; i < k_ref; i++)
        g_assert_cmpfloat_with_epsilon (eigenvalues[i], reference[i], 1e-12 * reference[0]);
    }
  for (guint s = 0; s < 3; s++)
    g_object_unref (sources[s]);
  g_free ((gpointer)reference);
  g_remove (whole);
  g_remove (part1);
  g_remove (part2);
  g_rmdir (dir);
}

/* The TIFF reader is a source; its old functions and the source's agree. */
static void
test_reader_is_source (void)
{
  const gsize n = 500, d = 6;
  g_autofree float *rows = make_rows (n, d, 11);
  g_autoptr (HrSource) memory = memory_source (rows, n, d);
  g_autofree char *dir = g_dir_make_tmp ("hr-source-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "m.tif", NULL);
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree float *all = NULL;
  guint64 n_samples = 0;
  gsize n_read;

  g_assert_true (hr_stack_writer_write_source (memory, path, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  reader = hr_stack_reader_new (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (HR_IS_SOURCE (reader));
  g_object_get (reader, "n-samples", &n_samples, NULL);
  g_assert_cmpuint (n_samples, ==, n);
  g_assert_cmpstr (hr_source_get_name (HR_SOURCE (reader)), ==, path);
  all = read_all (HR_SOURCE (reader), 64, &n_read);
  g_assert_cmpuint (n_read, ==, n);
  g_assert_cmpmem (all, n * d * sizeof (float), rows, n * d * sizeof (float));
  g_assert_cmpuint (hr_stack_reader_get_position (reader), ==, n);
  g_remove (path);
  g_rmdir (dir);
}

/* A range of another source reads its rows, numbered from 0, in any chunks and from any
 * position; ranges past the end, or of a source of unknown length, are refused. */
static void
test_range (void)
{
  g_autofree float *rows = make_rows (100, 6, 21);
  g_autoptr (HrSource) all = memory_source (rows, 100, 6);
  g_autoptr (HrSource) range = NULL, empty = NULL, counter = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree float *got = NULL;
  float some[5 * 6];
  gsize n = 0;

  g_object_set (all, "name", "all.tif", NULL);
  range = hr_range_source_new (all, 30, 45, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_source_get_n_samples (range), ==, 45);
  g_assert_cmpuint (hr_source_get_n_features (range), ==, 6);
  g_assert_cmpstr (hr_source_get_name (range), ==, "all.tif[30:75]");
  g_assert_true (hr_range_source_get_source (HR_RANGE_SOURCE (range)) == all);
  g_assert_cmpuint (hr_range_source_get_first (HR_RANGE_SOURCE (range)), ==, 30);
  got = read_all (range, 7, &n);
  g_assert_cmpuint (n, ==, 45);
  g_assert_cmpmem (got, 45 * 6 * sizeof (float), rows + 30 * 6, 45 * 6 * sizeof (float));
  /* the underlying source moved elsewhere in between: the range still reads its rows */
  g_assert_true (hr_source_seek (all, 3, &error));
  g_assert_true (
      hr_source_read_rows_into (range, 40, 5, some, G_N_ELEMENTS (some), &n, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 5);
  g_assert_cmpmem (some, sizeof some, rows + 70 * 6, sizeof some);
  g_assert_false (
      hr_source_read_rows_into (range, 41, 5, some, G_N_ELEMENTS (some), &n, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);

  empty = hr_range_source_new (all, 100, 0, &error);
  g_assert_no_error (error);
  g_assert_true (hr_source_read_into (empty, some, 5, &n, NULL, &error));
  g_assert_cmpuint (n, ==, 0);
  g_assert_null (hr_range_source_new (all, 90, 11, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "all.tif"));
  g_clear_error (&error);
  g_assert_null (hr_range_source_new (all, 101, 0, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  counter = g_object_new (test_counter_get_type (), "n-samples", HR_SOURCE_N_SAMPLES_UNKNOWN,
                          "n-features", (guint64)3, NULL);
  g_assert_null (hr_range_source_new (counter, 0, 1, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/source/memory/read", test_memory_read);
  g_test_add_func ("/source/memory/shape-errors", test_memory_shape_errors);
  g_test_add_func ("/source/memory/borrowed", test_memory_borrowed);
  g_test_add_func ("/source/bare-objects", test_bare_objects);
  g_test_add_func ("/source/nonfinite", test_nonfinite);
  g_test_add_func ("/source/cancelled", test_cancelled);
  g_test_add_func ("/source/concat/read", test_concat);
  g_test_add_func ("/source/concat/mismatch", test_concat_mismatch);
  g_test_add_func ("/source/range", test_range);
  g_test_add_func ("/source/subclass/read-bytes", test_bytes_subclass);
  g_test_add_func ("/source/read-rows-into", test_read_rows_into);
  g_test_add_func ("/source/analysis/same-spectrum", test_analysis_sources);
  g_test_add_func ("/source/tiff/reader-is-source", test_reader_is_source);

  return g_test_run ();
}
