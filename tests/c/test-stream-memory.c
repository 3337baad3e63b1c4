/* headrank tests: reading (and writing) in chunks keeps memory bounded by the chunk
 *
 * A 50,000 × 1,024 float32 matrix (200 MiB of values) is written to a temporary folder with
 * HrStackWriter, and as compressed strips and tiles with libtiff. Each measurement runs in
 * a fresh subprocess, which resets its peak resident set size (VmHWM), does one thing and
 * reports how much the peak grew:
 *
 * - writing the file with HrStackWriter, 1,024 samples at a time,
 * - reading each file with HrStackReader, 1,024 samples at a time,
 * - reading the uncompressed file whole with hr_feature_stack_new_from_file(): the control,
 *   which must grow by the size of the matrix, or the measurement proves nothing.
 *
 * The peak includes file pages mapped into the process: if the file were memory-mapped and
 * left mapped while it is read, the peak would grow with the file (as it does when libtiff
 * opens the file with mode "r" rather than "rm").
 *
 * zstd-one-strip holds 100 MiB of values as a single compressed strip of about 87 MiB.
 * HrStackReader decodes so large a strip row by row, but libtiff reads the compressed strip
 * whole (TIFFReadScanline fills the whole raw strip; libtiff has no way to read compressed
 * data in pieces), so the bound there is the chunk plus that one compressed strip, as the
 * HrStackReader documentation says.
 */
#include <headrank.h>

#include <stdio.h>
#include <string.h>
#include <tiffio.h>

#include <glib/gstdio.h>

#define N_SAMPLES ((gsize)50000)
#define N_FEATURES ((gsize)1024)
#define CHUNK ((gsize)1024)
#define CHUNK_VALUES (CHUNK * N_FEATURES)
/* What reading or writing in chunks may add to the peak: the 4 MiB chunk, a strip or a
 * row of tiles, libtiff's own buffers, and slack for the allocator. */
#define BOUND_KIB ((gsize)32 * 1024)
/* HrStackReader decodes the next two chunks of a compressed or tiled file on a worker
 * thread while the caller works on the last one (HrStackReader's documentation): two
 * more chunks of rows in memory. */
#define READ_AHEAD_KIB ((gsize)2 * CHUNK_VALUES * sizeof (float) / 1024)

typedef struct
{
  const char *name;
  gsize n_samples;
  gboolean noisy;         /* hardly compressible values */
  guint16 compression;    /* COMPRESSION_NONE: written by HrStackWriter */
  guint32 rows_per_strip; /* strips of this many rows, or */
  guint32 tile;           /* square tiles of this size */
} FileCase;

static const FileCase file_cases[] = {
  { "none-strips", N_SAMPLES, TRUE, COMPRESSION_NONE, 0, 0 }, /* HrStackWriter's strips */
  { "zstd-strips", N_SAMPLES, FALSE, COMPRESSION_ZSTD, 64, 0 },
  { "deflate-tiles", N_SAMPLES, FALSE, COMPRESSION_ADOBE_DEFLATE, 0, 256 },
  /* one strip of 100 MiB of values, about 87 MiB compressed */
  { "zstd-one-strip", N_SAMPLES / 2, TRUE, COMPRESSION_ZSTD, N_SAMPLES / 2, 0 },
};

static char *folder;

/* The matrix: integers below 2²⁴, so exact in float32. Noisy: 24 random-looking bits per
 * value; otherwise every sample different but very compressible, so that the compressed
 * files are small and quick to write. */
static inline float
value_at (gboolean noisy, gsize sample, gsize feature)
{
  guint32 h;

  if (!noisy)
    return (float)(sample * 16 + feature % 16);
  h = (guint32)(sample * N_FEATURES + feature) * 2654435761u;
  h ^= h >> 15;
  h *= 2246822519u;
  h ^= h >> 13;
  return (float)(h & 0xffffffu);
}

static void
fill_rows (gboolean noisy, float *rows, gsize first, gsize n)
{
  for (gsize i = 0; i < n; i++)
    for (gsize j = 0; j < N_FEATURES; j++)
      rows[i * N_FEATURES + j] = value_at (noisy, first + i, j);
}

static gsize
count_wrong (gboolean noisy, const float *rows, gsize first, gsize n)
{
  gsize wrong = 0;

  for (gsize i = 0; i < n; i++)
    for (gsize j = 0; j < N_FEATURES; j++)
      wrong += rows[i * N_FEATURES + j] != value_at (noisy, first + i, j);
  return wrong;
}

static char *
file_path (const FileCase *c)
{
  g_autofree char *name = g_strconcat (c->name, ".tif", NULL);

  return g_build_filename (folder, name, NULL);
}

/* -- measuring --------------------------------------------------------------------------- */

static gsize
status_kib (const char *key)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, key);
  if (line == NULL)
    return 0;
  return (gsize)g_ascii_strtoull (line + strlen (key), NULL, 10);
}

typedef struct
{
  gsize start_kib;
} Peak;

/* Resets the peak RSS to the current RSS where the kernel allows it (Linux ≥ 4.0). */
static void
peak_start (Peak *peak)
{
  FILE *clear_refs = fopen ("/proc/self/clear_refs", "w");

  if (clear_refs != NULL)
    {
      fputs ("5", clear_refs);
      fclose (clear_refs);
    }
  peak->start_kib = status_kib ("VmHWM:");
}

/* Records how much the peak grew in @folder/@what.txt for the parent, and returns it. */
static gsize
peak_report (const Peak *peak, const char *what, const FileCase *c)
{
  gsize growth = status_kib ("VmHWM:") - peak->start_kib;
  g_autofree char *name = g_strconcat (what, ".txt", NULL);
  g_autofree char *path = g_build_filename (folder, name, NULL);
  g_autofree char *file = file_path (c);
  g_autofree char *line = NULL;
  GStatBuf st = { 0 };

  g_stat (file, &st);
  line = g_strdup_printf ("%s: peak RSS grew by %" G_GSIZE_FORMAT " KiB (matrix %" G_GSIZE_FORMAT
                          " KiB, file %" G_GSIZE_FORMAT " KiB; at the end RssAnon %" G_GSIZE_FORMAT
                          " KiB, RssFile %" G_GSIZE_FORMAT " KiB)",
                          what, growth, c->n_samples * N_FEATURES * sizeof (float) / 1024,
                          (gsize)st.st_size / 1024, status_kib ("RssAnon:"),
                          status_kib ("RssFile:"));

  g_file_set_contents (path, line, -1, NULL);
  g_test_message ("%s", line);
  return growth;
}

/* Runs the current test in a subprocess and passes on what it measured. */
static void
run_measured (const char *what)
{
  g_autofree char *name = g_strconcat (what, ".txt", NULL);
  g_autofree char *path = g_build_filename (folder, name, NULL);
  g_autofree char *line = NULL;

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  if (g_file_get_contents (path, &line, NULL, NULL))
    g_test_message ("%s", line);
  g_test_trap_assert_passed ();
}

/* -- writing ----------------------------------------------------------------------------- */

static void
write_with_writer (const FileCase *c)
{
  g_autofree char *path = file_path (c);
  g_autofree float *rows = g_new (float, CHUNK_VALUES);
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (GError) error = NULL;
  Peak peak;

  peak_start (&peak);
  writer
      = hr_stack_writer_new (path, HR_STACK_LAYOUT_MATRIX, c->n_samples, N_FEATURES, NULL, &error);
  g_assert_no_error (error);
  if (writer == NULL)
    return;
  for (gsize first = 0; first < c->n_samples; first += CHUNK)
    {
      gsize n = MIN (CHUNK, c->n_samples - first);

      fill_rows (c->noisy, rows, first, n);
      if (!hr_stack_writer_append (writer, rows, n, &error))
        {
          g_assert_no_error (error);
          return;
        }
    }
  g_assert_true (hr_stack_writer_finish (writer, &error));
  g_assert_no_error (error);
  g_clear_object (&writer);
  g_assert_cmpuint (peak_report (&peak, "write-none-strips", c), <, BOUND_KIB);
}

/* The compressed files are written with libtiff (headrank writes uncompressed files). */
static void
write_with_libtiff (const FileCase *c)
{
  g_autofree char *path = file_path (c);
  g_autofree float *rows = NULL;
  GStatBuf st;
  TIFF *tif;
  gboolean ok;

  if (!TIFFIsCODECConfigured (c->compression))
    {
      g_test_skip_printf ("libtiff cannot write compression %u", (guint)c->compression);
      return;
    }
  tif = TIFFOpen (path, "w8");
  g_assert_nonnull (tif);
  if (tif == NULL)
    return;
  ok = TIFFSetField (tif, TIFFTAG_IMAGEWIDTH, (guint32)N_FEATURES)
       && TIFFSetField (tif, TIFFTAG_IMAGELENGTH, (guint32)c->n_samples)
       && TIFFSetField (tif, TIFFTAG_SAMPLESPERPIXEL, (guint16)1)
       && TIFFSetField (tif, TIFFTAG_BITSPERSAMPLE, (guint16)32)
       && TIFFSetField (tif, TIFFTAG_SAMPLEFORMAT, (guint16)SAMPLEFORMAT_IEEEFP)
       && TIFFSetField (tif, TIFFTAG_PHOTOMETRIC, (guint16)PHOTOMETRIC_MINISBLACK)
       && TIFFSetField (tif, TIFFTAG_PLANARCONFIG, (guint16)PLANARCONFIG_CONTIG)
       && TIFFSetField (tif, TIFFTAG_COMPRESSION, c->compression);
  if (ok && c->compression == COMPRESSION_ZSTD)
    ok = TIFFSetField (tif, TIFFTAG_ZSTD_LEVEL, 1);
  if (ok && c->compression == COMPRESSION_ADOBE_DEFLATE)
    ok = TIFFSetField (tif, TIFFTAG_ZIPQUALITY, 1);
  if (ok && c->tile > 0)
    ok = TIFFSetField (tif, TIFFTAG_TILEWIDTH, c->tile)
         && TIFFSetField (tif, TIFFTAG_TILELENGTH, c->tile);
  else if (ok)
    ok = TIFFSetField (tif, TIFFTAG_ROWSPERSTRIP, c->rows_per_strip);
  g_assert_true (ok);

  if (ok && c->tile > 0)
    {
      gsize band_values = (gsize)c->tile * N_FEATURES;
      g_autofree float *tile = g_new (float, (gsize)c->tile * c->tile);

      rows = g_new (float, band_values);
      for (gsize y0 = 0; ok && y0 < c->n_samples; y0 += c->tile)
        {
          gsize n = MIN ((gsize)c->tile, c->n_samples - y0);

          memset (rows, 0, band_values * sizeof (float));
          fill_rows (c->noisy, rows, y0, n);
          for (gsize x0 = 0; ok && x0 < N_FEATURES; x0 += c->tile)
            {
              for (gsize r = 0; r < c->tile; r++)
                memcpy (tile + r * c->tile, rows + r * N_FEATURES + x0, c->tile * sizeof (float));
              ok = TIFFWriteTile (tif, tile, (guint32)x0, (guint32)y0, 0, 0) >= 0;
            }
        }
    }
  else if (ok)
    {
      /* scanline by scanline: libtiff buffers and compresses one strip at a time */
      rows = g_new (float, CHUNK_VALUES);
      for (gsize first = 0; ok && first < c->n_samples; first += CHUNK)
        {
          gsize n = MIN (CHUNK, c->n_samples - first);

          fill_rows (c->noisy, rows, first, n);
          for (gsize i = 0; ok && i < n; i++)
            ok = TIFFWriteScanline (tif, rows + i * N_FEATURES, (guint32)(first + i), 0) >= 0;
        }
    }
  g_assert_true (ok);
  ok = TIFFWriteDirectory (tif);
  g_assert_true (ok);
  TIFFClose (tif);
  if (g_stat (path, &st) == 0)
    g_test_message ("%s: %" G_GUINT64_FORMAT " KiB", c->name, (guint64)st.st_size / 1024);
}

static void
test_write (gconstpointer data)
{
  const FileCase *c = data;

  if (c->compression != COMPRESSION_NONE)
    {
      write_with_libtiff (c);
      return;
    }
  if (g_test_subprocess ())
    {
      write_with_writer (c);
      return;
    }
  run_measured ("write-none-strips");
}

/* -- reading ----------------------------------------------------------------------------- */

static gboolean
check_written (const FileCase *c)
{
  g_autofree char *path = file_path (c);

  if (g_test_subprocess () || g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  g_test_skip_printf ("%s was not written", path);
  return FALSE;
}

static void
read_in_chunks (const FileCase *c)
{
  g_autofree char *path = file_path (c);
  g_autofree char *what = g_strconcat ("reader-", c->name, NULL);
  g_autofree float *rows = g_new (float, CHUNK_VALUES);
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (GError) error = NULL;
  gsize total = 0, got = 0, wrong = 0;
  Peak peak;

  /* the buffer is the caller's: touch it before measuring */
  memset (rows, 0, CHUNK * N_FEATURES * sizeof (float));
  peak_start (&peak);
  reader = hr_stack_reader_new (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_no_error (error);
  if (reader == NULL)
    return;
  g_assert_cmpuint (hr_stack_reader_get_n_samples (reader), ==, c->n_samples);
  g_assert_cmpuint (hr_stack_reader_get_n_features (reader), ==, N_FEATURES);
  do
    {
      if (!hr_stack_reader_read_into (reader, rows, CHUNK, &got, NULL, &error))
        {
          g_assert_no_error (error);
          return;
        }
      wrong += count_wrong (c->noisy, rows, total, got);
      total += got;
    }
  while (got > 0);
  g_assert_cmpuint (total, ==, c->n_samples);
  g_assert_cmpuint (wrong, ==, 0);
  g_clear_object (&reader);
  {
    /* One compressed strip as large as the file is read whole by libtiff. */
    GStatBuf st;
    gsize bound = BOUND_KIB;

    g_assert_cmpint (g_stat (path, &st), ==, 0);
    if (c->rows_per_strip == c->n_samples && c->compression != COMPRESSION_NONE)
      bound += (gsize)st.st_size / 1024;
    if (c->compression != COMPRESSION_NONE || c->tile != 0)
      bound += READ_AHEAD_KIB;
    g_assert_cmpuint (peak_report (&peak, what, c), <, bound);
  }
}

static void
test_reader (gconstpointer data)
{
  const FileCase *c = data;
  g_autofree char *what = g_strconcat ("reader-", c->name, NULL);

  if (!check_written (c))
    return;
  if (g_test_subprocess ())
    {
      read_in_chunks (c);
      return;
    }
  run_measured (what);
}

/* The control: reading the whole matrix must show up in the peak. */
static void
test_whole (gconstpointer data)
{
  const FileCase *c = data;
  g_autofree char *path = file_path (c);
  g_autoptr (HrFeatureStack) stack = NULL;
  g_autoptr (GError) error = NULL;
  Peak peak;

  if (!check_written (c))
    return;
  if (!g_test_subprocess ())
    {
      run_measured ("whole-none-strips");
      return;
    }
  peak_start (&peak);
  stack = hr_feature_stack_new_from_file (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_no_error (error);
  if (stack == NULL)
    return;
  g_assert_cmpuint (count_wrong (c->noisy, hr_feature_stack_peek_data (stack), 0, c->n_samples), ==,
                    0);
  g_assert_cmpuint (peak_report (&peak, "whole-none-strips", c), >=,
                    c->n_samples * N_FEATURES * sizeof (float) / 1024);
}

/* -- main -------------------------------------------------------------------------------- */

static void
remove_folder (void)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (folder, name, NULL);
      g_unlink (path);
    }
  g_rmdir (folder);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();

  /* The parent makes the folder; its subprocesses find it in the environment. */
  if (g_test_subprocess ())
    folder = g_strdup (g_getenv ("HEADRANK_TEST_STREAM_DIR"));
  else
    {
      folder = g_dir_make_tmp ("headrank-stream-XXXXXX", &error);
      g_assert_no_error (error);
      if (folder != NULL)
        g_setenv ("HEADRANK_TEST_STREAM_DIR", folder, TRUE);
    }
  if (folder == NULL)
    return 1;

  for (guint i = 0; i < G_N_ELEMENTS (file_cases); i++)
    {
      const FileCase *c = &file_cases[i];
      g_autofree char *write = g_strconcat ("/stream/write/", c->name, NULL);
      g_autofree char *read = g_strconcat ("/stream/reader/", c->name, NULL);

      g_test_add_data_func (write, c, test_write);
      g_test_add_data_func (read, c, test_reader);
    }
  g_test_add_data_func ("/stream/whole/none-strips", &file_cases[0], test_whole);

  status = g_test_run ();

  if (!g_test_subprocess ())
    remove_folder ();
  g_free (folder);
  return status;
}
