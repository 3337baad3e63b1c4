/* headrank fuzz target: zarr stores (metadata JSON and chunks) through lib/sources/hr-zarr.c
 *
 * Built as a libFuzzer target (-Dfuzzing=true, clang) or, with fuzz-main.c, as a plain
 * program that replays a corpus (the fuzz test suite).
 *
 * An input is a store packed as files: each file starts with a line "@@ PATH" (PATH inside
 * the store, made of letters, digits, ".", "_", "-" and "/", at most 6 levels) and runs up
 * to the next "\n@@ " or the end (tests/fuzz/pack-zarr.py packs a store so). The files are
 * written into a private folder (in /dev/shm when it exists), emptied for every run, and the
 * folder is opened with hr_zarr_store_open(). When it opens, every array is described and
 * every readable one is read: its first rows in pieces of 1, 3 and 64, and its last rows.
 * Besides crashes and sanitizer reports, the target aborts when the reader breaks its
 * contract:
 *  - a failure without an error, a success with one, an error outside HR_STACK_ERROR
 *    (and G_IO_ERROR, what the system says of a file) or with an unknown code, an error
 *    that does not name the store;
 *  - a GLib warning or critical;
 *  - a listing that does not hold together: paths not sorted, find_array not finding a
 *    listed path, a readable array of 0 or more than 2 dimensions, a reader whose shape is
 *    not the array's;
 *  - reads that disagree: the same rows read in pieces of different sizes must be equal
 *    bit for bit (NaN payloads included).
 * An AnnData store's obs columns (hr-zarr-obs.c) are read too, every 1-dimensional array
 * as a column of numbers or strings, and temporal pairs built from the store
 * (hr_pairs_new_from_store); a column must hold together: codes within its categories,
 * strings valid UTF-8 given in row order, pairs of rows inside the table and in anchor
 * order.
 */
#include <headrank.h>

#define FUZZ_TARGET "fuzz-zarr"
#include "fuzz-input.h"

#include "hr-zarr.h"
#include "hr-zarr-obs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define FUZZ_MAX_ROWS 64
#define FUZZ_MAX_VALUES ((gsize)1 << 20)
#define FUZZ_MAX_FILES 256

static char *fuzz_dir;

static void
fuzz_remove_tree (const char *path, gboolean keep_top)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        fuzz_remove_tree (child, FALSE);
      else
        g_unlink (child);
    }
  if (!keep_top)
    g_rmdir (path);
}

static void
fuzz_cleanup (void)
{
  if (fuzz_dir != NULL)
    fuzz_remove_tree (fuzz_dir, FALSE);
}

static void
fuzz_init (void)
{
  char *dir = g_strdup ("/dev/shm/headrank-fuzz-zarr-XXXXXX");

  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  if (g_mkdtemp (dir) == NULL)
    {
      g_free (dir);
      dir = g_build_filename (g_get_tmp_dir (), "headrank-fuzz-zarr-XXXXXX", NULL);
      if (g_mkdtemp (dir) == NULL)
        FUZZ_FAIL ("cannot create a temporary folder: %s", g_strerror (errno));
    }
  fuzz_dir = dir;
  atexit (fuzz_cleanup);
}

/* Whether @path is a file name the packer may use: no "..", no absolute paths. */
static gboolean
fuzz_path_ok (const char *path, gsize length)
{
  guint levels = 0;

  if (length == 0 || length > 200 || path[0] == '/')
    return FALSE;
  for (gsize i = 0; i < length; i++)
    {
      char c = path[i];

      if (!g_ascii_isalnum (c) && strchr ("._-/", c) == NULL)
        return FALSE;
      if (c == '/')
        {
          if (i + 1 == length || path[i + 1] == '/' || ++levels > 6)
            return FALSE;
        }
      if (c == '.' && i + 1 < length && path[i + 1] == '.'
          && (i == 0 || path[i - 1] == '/'))
        return FALSE;
    }
  return TRUE;
}

/* The first "\n@@ " in [@p, @end), or NULL: a search that does not stop at NUL bytes, as
 * g_strstr_len() does (chunks are binary: with it, a store unpacked up to its first NUL). */
static const char *
fuzz_next_file (const char *p, const char *end)
{
  for (; end - p >= 4; p++)
    {
      p = memchr (p, '\n', (size_t)(end - p - 3));
      if (p == NULL)
        return NULL;
      if (memcmp (p, "\n@@ ", 4) == 0)
        return p;
    }
  return NULL;
}

/* Unpacks the input into fuzz_dir. */
static void
fuzz_unpack (const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  const char *end = text + size;
  const char *p = text;
  guint n_files = 0;

  fuzz_remove_tree (fuzz_dir, TRUE);
  if (size < 3 || memcmp (p, "@@ ", 3) != 0)
    return;
  while (p != NULL && p < end && n_files++ < FUZZ_MAX_FILES)
    {
      const char *name = p + 3;
      const char *newline = memchr (name, '\n', (size_t)(end - name));
      const char *content, *next;
      g_autofree char *path = NULL;
      g_autofree char *file = NULL;
      g_autofree char *parent = NULL;

      if (newline == NULL)
        return;
      content = newline + 1;
      next = fuzz_next_file (content, end);
      if (fuzz_path_ok (name, (gsize)(newline - name)))
        {
          path = g_strndup (name, (gsize)(newline - name));
          file = g_build_filename (fuzz_dir, path, NULL);
          parent = g_path_get_dirname (file);
          g_mkdir_with_parents (parent, 0700);
          g_file_set_contents (file, content, (next != NULL ? next : end) - content, NULL);
        }
      p = next != NULL ? next + 1 : NULL;
    }
}

static void
check_error (const GError *error, const char *what)
{
  if (error == NULL)
    FUZZ_FAIL ("%s failed without an error", what);
  /* G_IO_ERROR: what the system says of a file in the store (a folder where a chunk
   * should be) */
  if (error->domain != HR_STACK_ERROR && error->domain != G_IO_ERROR)
    FUZZ_FAIL ("%s: error outside HR_STACK_ERROR and G_IO_ERROR: %s %d: %s", what,
               g_quark_to_string (error->domain), error->code, error->message);
  if (error->domain == HR_STACK_ERROR
      && (error->code < HR_STACK_ERROR_IO || error->code > HR_STACK_ERROR_NO_MEMORY))
    FUZZ_FAIL ("%s: unknown code %d: %s", what, error->code, error->message);
  if (error->message == NULL || strstr (error->message, fuzz_dir) == NULL)
    FUZZ_FAIL ("%s: error %d does not name the store: %s", what, error->code,
               error->message != NULL ? error->message : "(null)");
}

/* Reads rows [0, n) in pieces of @step; FALSE (error checked) when a read fails. */
static gboolean
fuzz_read (HrZarrReader *reader, guint64 first, gsize n, gsize step, float *out)
{
  gsize d = hr_zarr_reader_get_n_columns (reader);

  for (gsize row = 0; row < n; row += step)
    {
      g_autoptr (GError) error = NULL;
      gsize take = MIN (step, n - row);

      if (!hr_zarr_reader_read_rows (reader, first + row, take, out + row * d, &error))
        {
          check_error (error, "hr_zarr_reader_read_rows");
          return FALSE;
        }
      FUZZ_CHECK (error == NULL, "success with an error set");
    }
  return TRUE;
}

static void
fuzz_array (HrZarrStore *store, guint i)
{
  const char *path = hr_zarr_store_get_array_path (store, i);
  guint n_dims = hr_zarr_array_get_n_dims (store, i);
  const guint64 *shape = hr_zarr_array_get_shape (store, i);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrReader) reader = NULL;
  g_autofree float *a = NULL;
  g_autofree float *b = NULL;
  guint64 n_rows;
  gsize d, n;

  FUZZ_CHECK (hr_zarr_store_find_array (store, path) == (int)i, "array %s not found", path);
  FUZZ_CHECK (hr_zarr_array_get_dtype (store, i) != NULL, "no dtype");
  FUZZ_CHECK (hr_zarr_array_get_codecs (store, i) != NULL, "no codecs");
  FUZZ_CHECK (hr_zarr_array_get_format (store, i) == 2 || hr_zarr_array_get_format (store, i) == 3,
              "format %u", hr_zarr_array_get_format (store, i));
  (void)hr_zarr_array_get_chunks (store, i);
  (void)hr_zarr_array_get_fortran_order (store, i);
  (void)hr_zarr_role_to_string (hr_zarr_array_get_role (store, i));

  reader = hr_zarr_reader_new (store, path, &error);
  if (reader == NULL)
    {
      check_error (error, "hr_zarr_reader_new");
      return;
    }
  FUZZ_CHECK (hr_zarr_array_get_unsupported (store, i) == NULL, "reader of an unsupported array");
  FUZZ_CHECK (n_dims == 1 || n_dims == 2, "reader of %u dimensions", n_dims);
  n_rows = hr_zarr_reader_get_n_rows (reader);
  d = hr_zarr_reader_get_n_columns (reader);
  FUZZ_CHECK (n_rows == shape[0] && d == (n_dims == 2 ? shape[1] : 1), "reader shape");
  FUZZ_CHECK (hr_zarr_reader_get_chunk_rows (reader) > 0, "no chunk rows");
  if (d == 0 || d > FUZZ_MAX_VALUES)
    return;
  n = (gsize)MIN (n_rows, (guint64)MIN (FUZZ_MAX_ROWS, FUZZ_MAX_VALUES / d));
  a = g_new (float, n *d + 1);
  b = g_new (float, n *d + 1);
  if (!fuzz_read (reader, 0, n, 1, a))
    return;
  FUZZ_CHECK (fuzz_read (reader, 0, n, 64, b), "rows read one at a time, not 64 at a time");
  FUZZ_CHECK (memcmp (a, b, n * d * sizeof (float)) == 0, "reads of 1 and 64 rows differ");
  FUZZ_CHECK (fuzz_read (reader, 0, n, 3, b), "rows read one at a time, not 3 at a time");
  FUZZ_CHECK (memcmp (a, b, n * d * sizeof (float)) == 0, "reads of 1 and 3 rows differ");
  /* the last rows */
  (void)fuzz_read (reader, n_rows - n, n, 7, b);
}

typedef struct
{
  guint64 next_row;
} FuzzStrings;

static gboolean
fuzz_string (guint64 row, const char *value, gsize length, gpointer user_data, GError **error)
{
  FuzzStrings *s = user_data;

  FUZZ_CHECK (row == s->next_row, "string of row %" G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT,
              row, s->next_row);
  FUZZ_CHECK (value == NULL || g_utf8_validate_len (value, length, NULL), "string not UTF-8");
  s->next_row++;
  return TRUE;
}

/* Every 1-dimensional array read whole as a column (numbers exactly, or strings). */
static void
fuzz_column_array (HrZarrStore *store, guint i)
{
  const char *path = hr_zarr_store_get_array_path (store, i);
  g_autoptr (GError) error = NULL;
  g_autofree gint64 *ints = NULL;
  g_autofree double *doubles = NULL;
  guint64 n = 0;
  gboolean ok;

  if (hr_zarr_array_get_n_dims (store, i) != 1
      || hr_zarr_array_get_shape (store, i)[0] > FUZZ_MAX_VALUES)
    return;
  if (hr_zarr_array_get_column_type (store, i) == HR_ZARR_COLUMN_STRING)
    {
      FuzzStrings s = { 0 };

      ok = hr_zarr_read_strings (store, path, &n, fuzz_string, &s, &error);
      FUZZ_CHECK (!ok || s.next_row == n, "%" G_GUINT64_FORMAT " strings of %" G_GUINT64_FORMAT,
                  s.next_row, n);
    }
  else
    {
      ok = hr_zarr_read_numbers (store, path, &n, &ints, &doubles, &error);
      FUZZ_CHECK (!ok || (ints == NULL) != (doubles == NULL), "numbers as both or neither");
    }
  if (!ok)
    check_error (error, "reading a column");
  else
    FUZZ_CHECK (error == NULL && n == hr_zarr_array_get_shape (store, i)[0], "column length");
}

static void
fuzz_obs_column (HrZarrStore *store, const char *name)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrColumn) column = hr_zarr_obs_read_column (store, name, &error);

  if (column == NULL)
    {
      check_error (error, "hr_zarr_obs_read_column");
      return;
    }
  FUZZ_CHECK (error == NULL, "success with an error set");
  FUZZ_CHECK (column->encoding != NULL && column->type != HR_ZARR_COLUMN_OTHER, "column type");
  for (guint64 r = 0; r < column->n_rows; r++)
    if (column->type == HR_ZARR_COLUMN_STRING)
      {
        const char *v = hr_zarr_column_get_string (column, r);

        FUZZ_CHECK ((v == NULL) == (column->ints[r] < 0), "code of row %" G_GUINT64_FORMAT, r);
        FUZZ_CHECK (v == NULL || g_utf8_validate (v, -1, NULL), "category not UTF-8");
        FUZZ_CHECK (v != NULL || (column->missing != NULL && column->missing[r]), "missing");
      }
    else
      FUZZ_CHECK ((column->type == HR_ZARR_COLUMN_FLOAT) == (column->doubles != NULL)
                      && (column->type == HR_ZARR_COLUMN_INTEGER) == (column->ints != NULL),
                  "numbers of a column");
}

static void
fuzz_obs (HrZarrStore *store)
{
  g_auto (GStrv) names = hr_zarr_obs_get_column_names (store);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrPairs) pairs = NULL;

  /* columns are read whole (memory and time in their rows, as they should be): long ones
   * are left out, as fuzz_column_array leaves them out */
  for (guint i = 0; i < hr_zarr_store_get_n_arrays (store); i++)
    if (g_str_has_prefix (hr_zarr_store_get_array_path (store, i), "obs/")
        && hr_zarr_array_get_n_dims (store, i) > 0
        && hr_zarr_array_get_shape (store, i)[0] > FUZZ_MAX_VALUES)
      return;
  for (guint k = 0; names[k] != NULL && k < 16; k++)
    fuzz_obs_column (store, names[k]);
  fuzz_obs_column (store, NULL);
  pairs = hr_pairs_new_from_store (fuzz_dir, 1, &error);
  if (pairs == NULL)
    {
      FUZZ_CHECK (error != NULL, "pairs failed without an error");
      if (error->domain != HR_ANALYSIS_ERROR)
        check_error (error, "hr_pairs_new_from_store");
      return;
    }
  for (gsize k = 0; k < hr_pairs_get_n_pairs (pairs); k++)
    {
      const guint64 *p = hr_pairs_peek_indices (pairs, NULL) + 3 * k;

      FUZZ_CHECK (p[0] < hr_pairs_get_n_rows (pairs) && p[1] < hr_pairs_get_n_rows (pairs)
                      && p[0] != p[1] && (k == 0 || p[0] > p[-3]),
                  "pair %zu", k);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = NULL;

  if (fuzz_dir == NULL)
    fuzz_init ();
  fuzz_unpack (data, size);

  store = hr_zarr_store_open (fuzz_dir, &error);
  if (store == NULL)
    {
      check_error (error, "hr_zarr_store_open");
      return 0;
    }
  FUZZ_CHECK (error == NULL, "success with an error set");
  FUZZ_CHECK (g_strcmp0 (hr_zarr_store_get_path (store), fuzz_dir) == 0, "path");
  (void)hr_zarr_layout_to_string (hr_zarr_store_get_layout (store));
  for (HrZarrRole role = HR_ZARR_ROLE_FEATURES; role <= HR_ZARR_ROLE_PROJECTIONS; role++)
    {
      g_autoptr (GError) role_error = NULL;
      const char *path = hr_zarr_store_get_role_path (store, role, &role_error);

      if (role_error != NULL)
        check_error (role_error, "hr_zarr_store_get_role_path");
      FUZZ_CHECK (path == NULL || hr_zarr_store_find_array (store, path) >= 0, "role path %s",
                  path);
    }
  for (guint i = 0; i < hr_zarr_store_get_n_arrays (store); i++)
    {
      FUZZ_CHECK (i == 0
                      || strcmp (hr_zarr_store_get_array_path (store, i - 1),
                                 hr_zarr_store_get_array_path (store, i))
                             < 0,
                  "arrays not sorted");
      fuzz_array (store, i);
      fuzz_column_array (store, i);
    }
  if (hr_zarr_store_has_obs (store))
    fuzz_obs (store);
  return 0;
}
