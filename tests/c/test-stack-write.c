/* headrank tests: writing feature stacks to TIFF
 *
 * Write-then-read round trips (matrix and per-pixel channels, whole stacks and many small
 * appends) compared bit for bit, and the atomic-write promise: a failed, aborted or dropped
 * write leaves nothing behind, and an existing file is replaced only by a complete one.
 * Every test works in its own temporary folder.
 */
#include <headrank.h>

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "test-util.h"

/* Each test in a temporary folder of its own, f->dir. */
typedef HrTestFolder Folder;

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *)a, *(char *const *)b);
}

/* Asserts that @dir holds exactly the files named in the NULL-terminated @expected: no
 * temporary file left behind, no target written. */
static void
check_folder (const char *dir_path, const char *const *expected)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, &error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *listing = NULL;
  const char *name;
  guint n_expected = expected != NULL ? g_strv_length ((char **)expected) : 0;
  gboolean same;

  g_assert_no_error (error);
  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_strings);
  same = names->len == n_expected;
  for (guint i = 0; same && i < n_expected; i++)
    same = g_str_equal (g_ptr_array_index (names, i), expected[i]);
  g_ptr_array_add (names, NULL);
  listing = g_strjoinv (", ", (char **)names->pdata);
  if (!same)
    g_test_fail_printf ("the folder holds [%s], expected %u file(s)%s%s", listing, n_expected,
                        n_expected > 0 ? " starting with " : "", n_expected > 0 ? expected[0] : "");
}

static void
check_folder_empty (const char *dir_path)
{
  check_folder (dir_path, NULL);
}

/* Fails the test unless @got and @want hold the same bits, naming the first difference. */
static void
check_identical (const float *got, const float *want, gsize n, gsize d, const char *what)
{
  gsize n_differ = 0, first = 0;
  guint32 got_bits, want_bits;

  if (memcmp (got, want, n * d * sizeof (float)) == 0)
    return;
  for (gsize i = 0; i < n * d; i++)
    if (memcmp (got + i, want + i, sizeof (float)) != 0 && n_differ++ == 0)
      first = i;
  memcpy (&got_bits, got + first, sizeof got_bits);
  memcpy (&want_bits, want + first, sizeof want_bits);
  g_test_fail_printf ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " values differ; first at "
                      "sample %" G_GSIZE_FORMAT ", feature %" G_GSIZE_FORMAT
                      ": got %.9g (0x%08x), expected %.9g (0x%08x)",
                      what, n_differ, n * d, first / d, first % d, (double)got[first], got_bits,
                      (double)want[first], want_bits);
}

/* Random finite float32 values of every magnitude (random bits, so subnormals, both zeros
 * and huge values all occur), with the extreme values planted at the start. */
static float *
random_values (gsize n_values)
{
  static const guint32 special[] = {
    0x00000000u, 0x80000000u, /* ±0 */
    0x00000001u, 0x80000001u, /* smallest subnormals */
    0x007fffffu, 0x807fffffu, /* largest subnormals */
    0x00800000u,              /* FLT_MIN */
    0x7f7fffffu, 0xff7fffffu, /* ±FLT_MAX */
    0x3f800000u, 0xbf800000u, /* ±1 */
    0x3dcccccdu,              /* 0.1f */
  };
  float *values = g_new (float, MAX (n_values, 1));

  for (gsize i = 0; i < n_values; i++)
    {
      guint32 bits = (guint32)g_test_rand_int ();

      if (i < G_N_ELEMENTS (special))
        bits = special[i];
      else if ((bits & 0x7f800000u) == 0x7f800000u)
        bits &= ~0x40000000u; /* not NaN or ±Inf */
      memcpy (values + i, &bits, sizeof bits);
    }
  return values;
}

static HrFeatureStack *
read_back (const char *path, HrStackLayout layout, gsize n, gsize d)
{
  g_autoptr (GError) error = NULL;
  HrFeatureStack *stack = hr_feature_stack_new_from_file (path, layout, NULL, &error);

  g_assert_no_error (error);
  if (stack == NULL)
    return NULL;
  g_assert_cmpuint (hr_feature_stack_get_n_samples (stack), ==, n);
  g_assert_cmpuint (hr_feature_stack_get_n_features (stack), ==, d);
  if (hr_feature_stack_get_n_samples (stack) != n || hr_feature_stack_get_n_features (stack) != d)
    g_clear_object (&stack);
  return stack;
}

/* Reads @path with a reader in chunks of @chunk and compares with @want. */
static void
check_reader (const char *path, HrStackLayout layout, const float *want, gsize n, gsize d,
              gsize chunk)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrStackReader) reader = hr_stack_reader_new (path, layout, NULL, &error);
  g_autofree float *out = NULL;
  gsize total = 0, got = 0;

  g_assert_no_error (error);
  if (reader == NULL)
    return;
  g_assert_cmpuint (hr_stack_reader_get_n_samples (reader), ==, n);
  g_assert_cmpuint (hr_stack_reader_get_n_features (reader), ==, d);
  if (hr_stack_reader_get_n_samples (reader) != n || hr_stack_reader_get_n_features (reader) != d)
    return;
  if (chunk == 0)
    chunk = hr_stack_reader_get_preferred_chunk (reader);
  out = g_new (float, MAX (n * d, 1));
  do
    {
      if (!hr_stack_reader_read_into (reader, out + total * d, chunk, &got, NULL, &error))
        {
          g_assert_no_error (error);
          return;
        }
      total += got;
    }
  while (got > 0);
  g_assert_cmpuint (total, ==, n);
  check_identical (out, want, n, d, "read back in chunks");
}

static void
check_matrix_info (HrStackInfo *info, const char *path, gsize n, gsize d)
{
  g_assert_nonnull (info);
  if (info == NULL)
    return;
  g_assert_cmpstr (hr_stack_info_get_path (info), ==, path);
  g_assert_cmpint (hr_stack_info_get_layout (info), ==, HR_STACK_LAYOUT_MATRIX);
  g_assert_cmpint (hr_stack_info_get_sample_format (info), ==, HR_SAMPLE_FORMAT_FLOAT32);
  g_assert_cmpstr (hr_stack_info_get_compression (info), ==, "none");
  g_assert_cmpuint (hr_stack_info_get_n_pages (info), ==, 1);
  g_assert_cmpuint (hr_stack_info_get_width (info), ==, d);
  g_assert_cmpuint (hr_stack_info_get_height (info), ==, n);
  g_assert_false (hr_stack_info_is_per_pixel (info));
  g_assert_cmpint (hr_stack_info_get_big_endian (info), ==, G_BYTE_ORDER == G_BIG_ENDIAN);
  g_assert_false (hr_stack_info_get_bigtiff (info));
}

/* Appends @values (@n × @d) to @writer in pieces whose sizes cycle through @pieces. */
static gboolean
append_in_pieces (HrStackWriter *writer, const float *values, gsize n, gsize d, const gsize *pieces,
                  guint n_pieces)
{
  g_autoptr (GError) error = NULL;
  gsize done = 0;

  for (guint k = 0; done < n; k = (k + 1) % n_pieces)
    {
      gsize count = MIN (pieces[k], n - done);
      gboolean ok;

      if (k % 3 == 2)
        {
          /* every third piece as bytes, as bindings hand them in */
          g_autoptr (GBytes) bytes = g_bytes_new (values + done * d, count * d * sizeof (float));
          ok = hr_stack_writer_append_bytes (writer, bytes, &error);
        }
      else
        ok = hr_stack_writer_append (writer, values + done * d, count, &error);
      g_assert_no_error (error);
      if (!ok)
        return FALSE;
      done += count;
    }
  return TRUE;
}

/* -- matrix round trips ------------------------------------------------------------------ */

typedef struct
{
  const char *name;
  gsize n, d;
} MatrixCase;

static const MatrixCase matrix_cases[] = {
  { "1x1", 1, 1 },         { "1x1000", 1, 1000 },   { "1000x1", 1000, 1 }, { "37x35", 37, 35 },
  { "333x7", 333, 7 },     { "65537x3", 65537, 3 }, /* several strips, the last one short */
  { "5x70001", 5, 70001 },                          /* rows longer than a strip */
  { "257x256", 257, 256 },
};

static void
test_matrix_round_trip (Folder *f, gconstpointer data)
{
  const MatrixCase *c = data;
  g_autofree float *values = random_values (c->n * c->d);
  g_autofree char *path = g_build_filename (f->dir, "matrix.tif", NULL);
  g_autofree char *path2 = g_build_filename (f->dir, "matrix-appended.tif", NULL);
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (values, c->n, c->d);
  g_autoptr (HrFeatureStack) back = NULL;
  g_autoptr (HrFeatureStack) back2 = NULL;
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (GError) error = NULL;
  const char *const both[] = { "matrix-appended.tif", "matrix.tif", NULL };
  const gsize pieces[] = { 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 4096 };

  /* the whole stack at once */
  g_assert_true (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  g_assert_no_error (error);
  back = read_back (path, HR_STACK_LAYOUT_AUTO, c->n, c->d);
  if (back == NULL)
    return;
  check_matrix_info (hr_feature_stack_get_info (back), path, c->n, c->d);
  g_assert_cmpstr (hr_stack_info_get_metadata_kind (hr_feature_stack_get_info (back)), ==, "none");
  check_identical (hr_feature_stack_peek_data (back), values, c->n, c->d, "written whole");
  g_assert_cmpuint (hr_feature_stack_get_n_nonfinite (back), ==, 0);

  /* row by row and in uneven pieces */
  writer = hr_stack_writer_new (path2, HR_STACK_LAYOUT_MATRIX, c->n, c->d, NULL, &error);
  g_assert_no_error (error);
  if (writer == NULL)
    return;
  if (!append_in_pieces (writer, values, c->n, c->d, pieces, G_N_ELEMENTS (pieces)))
    return;
  g_assert_true (hr_stack_writer_finish (writer, &error));
  g_assert_no_error (error);
  check_folder (f->dir, both);
  back2 = read_back (path2, HR_STACK_LAYOUT_MATRIX, c->n, c->d);
  if (back2 == NULL)
    return;
  check_identical (hr_feature_stack_peek_data (back2), values, c->n, c->d, "appended");
  check_reader (path2, HR_STACK_LAYOUT_AUTO, values, c->n, c->d, 0);
  check_reader (path2, HR_STACK_LAYOUT_MATRIX, values, c->n, c->d, 5);
}

/* NaN payloads and infinities are written as they are, and counted when read back. */
static void
test_matrix_nonfinite (Folder *f, gconstpointer data)
{
  const gsize n = 9, d = 11;
  g_autofree float *values = random_values (n * d);
  g_autofree char *path = g_build_filename (f->dir, "nonfinite.tif", NULL);
  g_autoptr (HrFeatureStack) stack = NULL;
  g_autoptr (HrFeatureStack) back = NULL;
  g_autoptr (GError) error = NULL;
  const guint32 nan_payload = 0x7fc01234u, negative_nan = 0xffa00001u;
  const guint64 where[] = { 3, 20, 57, 98 };
  const guint64 *positions;
  gsize n_positions = 0;

  memcpy (values + where[0], &nan_payload, sizeof nan_payload);
  values[where[1]] = INFINITY;
  values[where[2]] = -INFINITY;
  memcpy (values + where[3], &negative_nan, sizeof negative_nan);
  stack = hr_feature_stack_new_copy (values, n, d);
  g_assert_cmpuint (hr_feature_stack_get_n_nonfinite (stack), ==, 4);

  g_assert_true (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_AUTO, NULL, &error));
  g_assert_no_error (error);
  back = read_back (path, HR_STACK_LAYOUT_AUTO, n, d);
  if (back == NULL)
    return;
  check_identical (hr_feature_stack_peek_data (back), values, n, d, "non-finite values");
  g_assert_cmpuint (hr_feature_stack_get_n_nonfinite (back), ==, 4);
  positions = hr_feature_stack_get_nonfinite_positions (back, &n_positions);
  g_assert_cmpuint (n_positions, ==, 4);
  for (gsize i = 0; i < MIN (n_positions, G_N_ELEMENTS (where)); i++)
    g_assert_cmpuint (positions[i], ==, where[i]);
}

/* -- per-pixel (channels) round trips ---------------------------------------------------- */

typedef struct
{
  const char *name;
  guint width, height, depth, frames, channels;
} PixelCase;

static const PixelCase pixel_cases[] = {
  { "1x1/c2", 1, 1, 1, 1, 2 },
  { "5x4/c3", 5, 4, 1, 1, 3 },
  { "21x19/c5", 21, 19, 1, 1, 5 },
  { "7x5/z3/c2", 7, 5, 3, 1, 2 },
  { "7x5/t2/c3", 7, 5, 1, 2, 3 },
  { "11x9/z3/t2/c4", 11, 9, 3, 2, 4 },
  { "300x200/c8", 300, 200, 1, 1, 8 },
  { "3x30000/c2", 3, 30000, 1, 1, 2 },    /* several strips per page */
  { "70000x2/z2/c2", 70000, 2, 2, 1, 2 }, /* rows longer than a strip */
};

static void
check_pixel_info (HrStackInfo *info, const PixelCase *c)
{
  g_assert_nonnull (info);
  if (info == NULL)
    return;
  g_assert_cmpint (hr_stack_info_get_layout (info), ==, HR_STACK_LAYOUT_CHANNELS);
  g_assert_true (hr_stack_info_is_per_pixel (info));
  g_assert_cmpint (hr_stack_info_get_sample_format (info), ==, HR_SAMPLE_FORMAT_FLOAT32);
  g_assert_cmpstr (hr_stack_info_get_metadata_kind (info), ==, "imagej");
  g_assert_cmpuint (hr_stack_info_get_width (info), ==, c->width);
  g_assert_cmpuint (hr_stack_info_get_height (info), ==, c->height);
  g_assert_cmpuint (hr_stack_info_get_depth (info), ==, c->depth);
  g_assert_cmpuint (hr_stack_info_get_frames (info), ==, c->frames);
  g_assert_cmpuint (hr_stack_info_get_channels (info), ==, c->channels);
  g_assert_cmpuint (hr_stack_info_get_n_pages (info), ==, c->channels * c->depth * c->frames);
}

static void
test_pixels_round_trip (Folder *f, gconstpointer data)
{
  const PixelCase *c = data;
  gsize n = (gsize)c->width * c->height * c->depth * c->frames, d = c->channels;
  g_autofree float *values = random_values (n * d);
  g_autofree char *path = g_build_filename (f->dir, "pixels.tif", NULL);
  g_autofree char *path2 = g_build_filename (f->dir, "pixels-appended.tif", NULL);
  g_autoptr (HrStackInfo) geometry
      = hr_stack_info_new_pixels (c->width, c->height, c->depth, c->frames);
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (values, n, d);
  g_autoptr (HrFeatureStack) back = NULL;
  g_autoptr (HrFeatureStack) back2 = NULL;
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (GError) error = NULL;
  const gsize pieces[] = { 1, 7, 50, 2, 999 };

  g_assert_true (hr_stack_info_is_per_pixel (geometry));
  hr_feature_stack_set_info (stack, geometry);
  g_assert_true (hr_feature_stack_get_info (stack) == geometry);

  /* AUTO writes a per-pixel stack as channels, and AUTO reads it back as such */
  g_assert_true (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_AUTO, NULL, &error));
  g_assert_no_error (error);
  back = read_back (path, HR_STACK_LAYOUT_AUTO, n, d);
  if (back == NULL)
    return;
  check_pixel_info (hr_feature_stack_get_info (back), c);
  check_identical (hr_feature_stack_peek_data (back), values, n, d, "written whole");

  /* in small appends across strips, pages and planes */
  writer = hr_stack_writer_new (path2, HR_STACK_LAYOUT_CHANNELS, n, d, geometry, &error);
  g_assert_no_error (error);
  if (writer == NULL)
    return;
  if (!append_in_pieces (writer, values, n, d, pieces, G_N_ELEMENTS (pieces)))
    return;
  g_assert_true (hr_stack_writer_finish (writer, &error));
  g_assert_no_error (error);
  back2 = read_back (path2, HR_STACK_LAYOUT_CHANNELS, n, d);
  if (back2 == NULL)
    return;
  check_pixel_info (hr_feature_stack_get_info (back2), c);
  check_identical (hr_feature_stack_peek_data (back2), values, n, d, "appended");
  check_reader (path2, HR_STACK_LAYOUT_AUTO, values, n, d, 13);
}

/* One feature per pixel: written as one page per Z slice and T frame, with ImageJ metadata
 * saying channels=1. Read back with the channels layout, or with AUTO when @data is set:
 * the file's own metadata should let AUTO find the per-pixel stack that was written rather
 * than a matrix (one page) or an ambiguity (several pages). */
static void
test_pixels_one_channel (Folder *f, gconstpointer data)
{
  const gboolean with_auto = data != NULL;
  const PixelCase cases[] = {
    { "5x4/z2/c1", 5, 4, 2, 1, 1 },
    { "5x4/c1", 5, 4, 1, 1, 1 },
  };

  for (guint k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      const PixelCase *c = &cases[k];
      gsize n = (gsize)c->width * c->height * c->depth * c->frames;
      g_autofree float *values = random_values (n);
      g_autofree char *path = g_strdup_printf ("%s/one-channel-%u.tif", f->dir, k);
      g_autoptr (HrStackInfo) geometry
          = hr_stack_info_new_pixels (c->width, c->height, c->depth, c->frames);
      g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (values, n, 1);
      g_autoptr (HrFeatureStack) back = NULL;
      g_autoptr (GError) error = NULL;

      hr_feature_stack_set_info (stack, geometry);
      g_assert_true (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_AUTO, NULL, &error));
      g_assert_no_error (error);

      back = hr_feature_stack_new_from_file (
          path, with_auto ? HR_STACK_LAYOUT_AUTO : HR_STACK_LAYOUT_CHANNELS, NULL, &error);
      g_assert_no_error (error);
      if (back == NULL)
        continue;
      check_pixel_info (hr_feature_stack_get_info (back), c);
      g_assert_cmpuint (hr_feature_stack_get_n_samples (back), ==, n);
      g_assert_cmpuint (hr_feature_stack_get_n_features (back), ==, 1);
      if (hr_feature_stack_get_n_samples (back) == n && hr_feature_stack_get_n_features (back) == 1)
        check_identical (hr_feature_stack_peek_data (back), values, n, 1, c->name);
    }
}

/* A per-pixel stack read from a file is written back with its geometry. */
static void
test_pixels_rewrite_fixture (Folder *f, gconstpointer data)
{
  const char *fixtures[] = {
    "channels-pages-tzcyx/float32-none-strips-le.tif",
    "channels-pages-tzcyx/uint16-zstd-p2-tiles-be.tif",
    "channels-contig/uint16-zstd-p2-tiles-le.tif",
  };

  for (guint k = 0; k < G_N_ELEMENTS (fixtures); k++)
    {
      g_autofree char *source
          = g_test_build_filename (G_TEST_DIST, "data", "tiff", fixtures[k], NULL);
      g_autofree char *path = g_strdup_printf ("%s/rewritten-%u.tif", f->dir, k);
      g_autoptr (GError) error = NULL;
      g_autoptr (HrFeatureStack) stack = NULL;
      g_autoptr (HrFeatureStack) back = NULL;
      HrStackInfo *a, *b;

      stack = hr_feature_stack_new_from_file (source, HR_STACK_LAYOUT_AUTO, NULL, &error);
      g_assert_no_error (error);
      if (stack == NULL)
        continue;
      g_assert_true (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_AUTO, NULL, &error));
      g_assert_no_error (error);
      back = read_back (path, HR_STACK_LAYOUT_AUTO, hr_feature_stack_get_n_samples (stack),
                        hr_feature_stack_get_n_features (stack));
      if (back == NULL)
        continue;
      a = hr_feature_stack_get_info (stack);
      b = hr_feature_stack_get_info (back);
      g_assert_cmpint (hr_stack_info_get_layout (b), ==, HR_STACK_LAYOUT_CHANNELS);
      g_assert_cmpuint (hr_stack_info_get_width (b), ==, hr_stack_info_get_width (a));
      g_assert_cmpuint (hr_stack_info_get_height (b), ==, hr_stack_info_get_height (a));
      g_assert_cmpuint (hr_stack_info_get_depth (b), ==, hr_stack_info_get_depth (a));
      g_assert_cmpuint (hr_stack_info_get_frames (b), ==, hr_stack_info_get_frames (a));
      g_assert_cmpuint (hr_stack_info_get_channels (b), ==, hr_stack_info_get_channels (a));
      check_identical (hr_feature_stack_peek_data (back), hr_feature_stack_peek_data (stack),
                       hr_feature_stack_get_n_samples (stack),
                       hr_feature_stack_get_n_features (stack), fixtures[k]);
    }
}

/* -- atomic writing ---------------------------------------------------------------------- */

static void
test_writer_short (Folder *f, gconstpointer data)
{
  g_autofree float *values = random_values (10 * 4);
  g_autofree char *path = g_build_filename (f->dir, "short.tif", NULL);
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (GError) error = NULL;

  writer = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 10, 4, NULL, &error);
  g_assert_no_error (error);
  if (writer == NULL)
    return;
  g_assert_true (hr_stack_writer_append (writer, values, 9, &error));
  g_assert_no_error (error);
  g_assert_false (hr_stack_writer_finish (writer, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  check_folder_empty (f->dir);

  /* the writer is done */
  g_assert_false (hr_stack_writer_append (writer, values, 1, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (hr_stack_writer_finish (writer, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  check_folder_empty (f->dir);

  /* a per-pixel stack one plane short */
  {
    g_autoptr (HrStackInfo) geometry = hr_stack_info_new_pixels (5, 2, 1, 1);
    g_autoptr (HrStackWriter) pixels
        = hr_stack_writer_new (path, HR_STACK_LAYOUT_CHANNELS, 10, 4, geometry, &error);

    g_assert_no_error (error);
    if (pixels == NULL)
      return;
    g_assert_true (hr_stack_writer_append (pixels, values, 9, &error));
    g_assert_false (hr_stack_writer_finish (pixels, &error));
    g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
    check_folder_empty (f->dir);
  }
}

static void
test_writer_abort (Folder *f, gconstpointer data)
{
  g_autofree float *values = random_values (100 * 3);
  g_autofree char *path = g_build_filename (f->dir, "aborted.tif", NULL);
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (GError) error = NULL;

  writer = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 100, 3, NULL, &error);
  g_assert_no_error (error);
  if (writer == NULL)
    return;
  g_assert_true (hr_stack_writer_append (writer, values, 50, &error));
  hr_stack_writer_abort (writer);
  check_folder_empty (f->dir);
  hr_stack_writer_abort (writer); /* twice is harmless */

  g_assert_false (hr_stack_writer_append (writer, values + 150, 50, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (hr_stack_writer_finish (writer, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  check_folder_empty (f->dir);
}

static void
test_writer_dropped (Folder *f, gconstpointer data)
{
  g_autofree float *values = random_values (100 * 3);
  g_autofree char *path = g_build_filename (f->dir, "dropped.tif", NULL);
  g_autoptr (GError) error = NULL;
  HrStackWriter *writer;

  writer = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 100, 3, NULL, &error);
  g_assert_no_error (error);
  if (writer == NULL)
    return;
  g_assert_true (hr_stack_writer_append (writer, values, 100, &error));
  g_object_unref (writer); /* complete, but never finished */
  check_folder_empty (f->dir);
}

static void
test_writer_too_many (Folder *f, gconstpointer data)
{
  g_autofree float *values = random_values (12 * 3);
  g_autofree char *path = g_build_filename (f->dir, "too-many.tif", NULL);
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (HrStackWriter) writer2 = NULL;
  g_autoptr (GError) error = NULL;

  writer = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 10, 3, NULL, &error);
  g_assert_no_error (error);
  if (writer == NULL)
    return;
  g_assert_false (hr_stack_writer_append (writer, values, 11, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  check_folder_empty (f->dir);
  g_assert_false (hr_stack_writer_finish (writer, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  check_folder_empty (f->dir);

  /* the same, over two appends */
  writer2 = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 10, 3, NULL, &error);
  g_assert_no_error (error);
  if (writer2 == NULL)
    return;
  g_assert_true (hr_stack_writer_append (writer2, values, 6, &error));
  g_assert_false (hr_stack_writer_append (writer2, values + 18, 6, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_false (hr_stack_writer_finish (writer2, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  check_folder_empty (f->dir);
}

static void
test_writer_append_bytes (Folder *f, gconstpointer data)
{
  g_autofree float *values = random_values (6 * 5);
  g_autofree guint8 *unaligned = g_malloc (6 * 5 * sizeof (float) + 1);
  g_autofree char *path = g_build_filename (f->dir, "bytes.tif", NULL);
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (HrFeatureStack) back = NULL;
  g_autoptr (GBytes) partial = NULL;
  g_autoptr (GBytes) first = NULL;
  g_autoptr (GBytes) rest = NULL;
  g_autoptr (GError) error = NULL;

  memcpy (unaligned + 1, values, 6 * 5 * sizeof (float));
  writer = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 6, 5, NULL, &error);
  g_assert_no_error (error);
  if (writer == NULL)
    return;
  partial = g_bytes_new (values, 5 * sizeof (float) + 2);
  g_assert_false (hr_stack_writer_append_bytes (writer, partial, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_clear_error (&error);

  /* rows at an odd address are fine */
  first = g_bytes_new_static (unaligned + 1, 2 * 5 * sizeof (float));
  rest = g_bytes_new_static (unaligned + 1 + 2 * 5 * sizeof (float), 4 * 5 * sizeof (float));
  g_assert_true (hr_stack_writer_append_bytes (writer, first, &error));
  g_assert_no_error (error);
  g_assert_true (hr_stack_writer_append_bytes (writer, rest, &error));
  g_assert_no_error (error);
  g_assert_true (hr_stack_writer_append (writer, NULL, 0, &error));
  g_assert_no_error (error);
  g_assert_true (hr_stack_writer_finish (writer, &error));
  g_assert_no_error (error);
  back = read_back (path, HR_STACK_LAYOUT_MATRIX, 6, 5);
  if (back != NULL)
    check_identical (hr_feature_stack_peek_data (back), values, 6, 5, "appended as bytes");
}

static void
test_write_no_folder (Folder *f, gconstpointer data)
{
  g_autofree float *values = random_values (4);
  g_autofree char *path = g_build_filename (f->dir, "no-such-folder", "out.tif", NULL);
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (values, 2, 2);
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (GError) error = NULL;

  writer = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 2, 2, NULL, &error);
  g_assert_null (writer);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  if (error != NULL && strstr (error->message, "out.tif") == NULL)
    g_test_fail_printf ("the message \"%s\" does not name the file", error->message);
  g_clear_error (&error);

  g_assert_false (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  check_folder_empty (f->dir);
}

static void
test_write_read_only_folder (Folder *f, gconstpointer data)
{
  g_autofree float *values = random_values (4);
  g_autofree char *path = g_build_filename (f->dir, "out.tif", NULL);
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (values, 2, 2);
  g_autoptr (GError) error = NULL;

  if (geteuid () == 0)
    {
      g_test_skip ("root may write into a read-only folder");
      return;
    }
  g_assert_cmpint (g_chmod (f->dir, 0555), ==, 0);
  g_assert_false (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_chmod (f->dir, 0755);
  check_folder_empty (f->dir);
}

static void
check_contents (const char *path, const char *expected)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *contents = NULL;

  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, expected);
}

static void
test_write_replaces_only_on_success (Folder *f, gconstpointer data)
{
  const char *garbage = "not a TIFF: the previous results\n";
  const char *const only_target[] = { "target.tif", NULL };
  g_autofree float *values = random_values (20 * 3);
  g_autofree char *path = g_build_filename (f->dir, "target.tif", NULL);
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (values, 20, 3);
  g_autoptr (HrFeatureStack) back = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  GStatBuf st;
  mode_t mask;

  g_assert_true (g_file_set_contents (path, garbage, -1, &error));
  g_assert_no_error (error);

  /* a short writer */
  {
    g_autoptr (HrStackWriter) writer
        = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 20, 3, NULL, &error);
    g_assert_no_error (error);
    if (writer == NULL)
      return;
    g_assert_true (hr_stack_writer_append (writer, values, 19, &error));
    g_assert_false (hr_stack_writer_finish (writer, &error));
    g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
    g_clear_error (&error);
  }
  check_contents (path, garbage);
  check_folder (f->dir, only_target);

  /* an aborted one, and one appending too much */
  {
    g_autoptr (HrStackWriter) writer
        = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 10, 3, NULL, &error);
    g_assert_no_error (error);
    if (writer == NULL)
      return;
    g_assert_true (hr_stack_writer_append (writer, values, 10, &error));
    hr_stack_writer_abort (writer);
  }
  {
    g_autoptr (HrStackWriter) writer
        = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, 10, 3, NULL, &error);
    g_assert_no_error (error);
    if (writer == NULL)
      return;
    g_assert_false (hr_stack_writer_append (writer, values, 20, &error));
    g_clear_error (&error);
  }
  check_contents (path, garbage);
  check_folder (f->dir, only_target);

  /* a cancelled write, and one in a layout that cannot be written */
  g_cancellable_cancel (cancellable);
  g_assert_false (
      hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_MATRIX, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_assert_false (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_PAGES, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT);
  g_clear_error (&error);
  g_assert_false (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_CHANNELS, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT);
  g_clear_error (&error);
  check_contents (path, garbage);
  check_folder (f->dir, only_target);

  /* a complete write replaces the file, with the permissions of a new file */
  g_assert_true (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_MATRIX, NULL, &error));
  g_assert_no_error (error);
  check_folder (f->dir, only_target);
  back = read_back (path, HR_STACK_LAYOUT_AUTO, 20, 3);
  if (back != NULL)
    check_identical (hr_feature_stack_peek_data (back), values, 20, 3, "replaced");
  mask = umask (0);
  umask (mask);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 0777, ==, 0666 & ~mask);
}

static void
test_writer_invalid (Folder *f, gconstpointer data)
{
  g_autofree char *path = g_build_filename (f->dir, "invalid.tif", NULL);
  g_autoptr (HrStackInfo) geometry = hr_stack_info_new_pixels (4, 3, 1, 1);
  struct
  {
    HrStackLayout layout;
    gsize n, d;
    HrStackInfo *geometry;
    HrStackError code;
  } cases[] = {
    { HR_STACK_LAYOUT_MATRIX, 0, 3, NULL, HR_STACK_ERROR_INVALID },
    { HR_STACK_LAYOUT_MATRIX, 3, 0, NULL, HR_STACK_ERROR_INVALID },
    { HR_STACK_LAYOUT_MATRIX, (gsize)G_MAXUINT32 + 1, 1, NULL, HR_STACK_ERROR_INVALID },
    { HR_STACK_LAYOUT_CHANNELS, 12, 2, NULL, HR_STACK_ERROR_LAYOUT },
    { HR_STACK_LAYOUT_CHANNELS, 13, 2, geometry, HR_STACK_ERROR_LAYOUT },
    { HR_STACK_LAYOUT_PAGES, 12, 2, NULL, HR_STACK_ERROR_LAYOUT },
    { HR_STACK_LAYOUT_AUTO, 12, 2, NULL, HR_STACK_ERROR_LAYOUT },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (HrStackWriter) writer = hr_stack_writer_new (
          path, cases[i].layout, cases[i].n, cases[i].d, cases[i].geometry, &error);

      g_assert_null (writer);
      g_assert_error (error, HR_STACK_ERROR, (int)cases[i].code);
    }
  check_folder_empty (f->dir);
}

static void
test_write_auto_layout (Folder *f, gconstpointer data)
{
  g_autofree float *values = random_values (12 * 2);
  g_autofree char *path = g_build_filename (f->dir, "auto.tif", NULL);
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (values, 12, 2);
  g_autoptr (HrFeatureStack) back = NULL;
  g_autoptr (GError) error = NULL;

  /* a stack made in memory has no geometry: a matrix */
  g_assert_true (hr_feature_stack_write (stack, path, HR_STACK_LAYOUT_AUTO, NULL, &error));
  g_assert_no_error (error);
  back = read_back (path, HR_STACK_LAYOUT_AUTO, 12, 2);
  if (back != NULL)
    check_matrix_info (hr_feature_stack_get_info (back), path, 12, 2);
}

/* -- main -------------------------------------------------------------------------------- */

#define ADD_FOLDER_TEST(path, data, func)                                                          \
  g_test_add (path, Folder, data, hr_test_folder_set_up, func, hr_test_folder_tear_down)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();

  for (guint i = 0; i < G_N_ELEMENTS (matrix_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/stack/write/matrix/", matrix_cases[i].name, NULL);
      ADD_FOLDER_TEST (path, &matrix_cases[i], test_matrix_round_trip);
    }
  ADD_FOLDER_TEST ("/stack/write/matrix/nonfinite", NULL, test_matrix_nonfinite);
  ADD_FOLDER_TEST ("/stack/write/matrix/auto", NULL, test_write_auto_layout);
  for (guint i = 0; i < G_N_ELEMENTS (pixel_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/stack/write/channels/", pixel_cases[i].name, NULL);
      ADD_FOLDER_TEST (path, &pixel_cases[i], test_pixels_round_trip);
    }
  ADD_FOLDER_TEST ("/stack/write/channels/one-channel", NULL, test_pixels_one_channel);
  ADD_FOLDER_TEST ("/stack/write/channels/one-channel/auto", "auto", test_pixels_one_channel);
  ADD_FOLDER_TEST ("/stack/write/channels/from-file", NULL, test_pixels_rewrite_fixture);
  ADD_FOLDER_TEST ("/stack/writer/short", NULL, test_writer_short);
  ADD_FOLDER_TEST ("/stack/writer/abort", NULL, test_writer_abort);
  ADD_FOLDER_TEST ("/stack/writer/dropped", NULL, test_writer_dropped);
  ADD_FOLDER_TEST ("/stack/writer/too-many", NULL, test_writer_too_many);
  ADD_FOLDER_TEST ("/stack/writer/append-bytes", NULL, test_writer_append_bytes);
  ADD_FOLDER_TEST ("/stack/writer/invalid", NULL, test_writer_invalid);
  ADD_FOLDER_TEST ("/stack/write/error/no-folder", NULL, test_write_no_folder);
  ADD_FOLDER_TEST ("/stack/write/error/read-only-folder", NULL, test_write_read_only_folder);
  ADD_FOLDER_TEST ("/stack/write/replaces-only-on-success", NULL,
                   test_write_replaces_only_on_success);

  return g_test_run ();
}
