/* headrank tests: AnnData's obs columns read in C (lib/hr-zarr-obs.c) and temporal pairs
 * from tracks (lib/hr-pairs.c).
 *
 * The stores of tests/data/tracks were written by anndata (zarr v2 and v3: categorical,
 * plain string and nullable string FOV names, nullable integer times, whole float times)
 * and by VisCy's own EmbeddingWriter; expected.json holds the columns as anndata reads
 * them back and the pairs that VisCy's TripletDataset logic gives, computed with pandas
 * (make_tracks.py). Then pairs from arrays against a brute-force search, edge cases, and
 * stores made bad on purpose.
 */
#include "hr-zarr-obs.h"

#include <headrank.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "test-util.h"

static char *
store_path (const char *name)
{
  g_autofree char *file = g_strconcat (name, ".zarr", NULL);

  return g_test_build_filename (G_TEST_DIST, "data", "tracks", "stores", file, NULL);
}

static JsonObject *
load_expected (void)
{
  static JsonParser *parser;

  if (parser == NULL)
    parser = hr_test_parse_json ("tracks", "expected.json");
  return json_node_get_object (json_parser_get_root (parser));
}

/* A column read in C against anndata's values (null where missing). */
static void
assert_column (const HrZarrColumn *column, JsonArray *want, const char *store)
{
  g_assert_cmpuint (column->n_rows, ==, json_array_get_length (want));
  for (guint r = 0; r < json_array_get_length (want); r++)
    {
      JsonNode *w = json_array_get_element (want, r);
      gboolean missing = column->missing != NULL && column->missing[r];

      if (JSON_NODE_HOLDS_NULL (w))
        {
          if (column->type == HR_ZARR_COLUMN_FLOAT && column->missing == NULL)
            g_assert_true (isnan (column->doubles[r]));
          else if (!missing)
            g_error ("%s: %s row %u should be missing", store, column->name, r);
          continue;
        }
      g_assert_false (missing);
      switch (column->type)
        {
          case HR_ZARR_COLUMN_STRING:
            g_assert_cmpstr (hr_zarr_column_get_string (column, r), ==, json_node_get_string (w));
            break;
          case HR_ZARR_COLUMN_INTEGER:
            g_assert_cmpint (column->ints[r], ==, json_node_get_int (w));
            break;
          case HR_ZARR_COLUMN_FLOAT:
            g_assert_cmpfloat (column->doubles[r], ==, json_node_get_double (w));
            break;
          case HR_ZARR_COLUMN_OTHER:
          default:
            g_assert_not_reached ();
        }
    }
}

static void
assert_pairs (HrPairs *pairs, JsonArray *want)
{
  gsize n = 0;
  const guint64 *got = hr_pairs_peek_indices (pairs, &n);

  g_assert_cmpuint (n, ==, json_array_get_length (want));
  for (gsize i = 0; i < n; i++)
    {
      JsonArray *p = json_array_get_array_element (want, (guint)i);

      g_assert_cmpuint (got[3 * i], ==, (guint64)json_array_get_int_element (p, 0));
      g_assert_cmpuint (got[3 * i + 1], ==, (guint64)json_array_get_int_element (p, 1));
      g_assert_cmpuint (got[3 * i + 2], ==, HR_PAIRS_NO_NEGATIVE);
    }
}

/* One store of expected.json: its columns, its index and its pairs for dt = 1, 2, 3. */
static void
test_store (gconstpointer data)
{
  const char *name = data;
  JsonObject *entry = json_object_get_object_member (load_expected (), name);
  JsonObject *columns = json_object_get_object_member (entry, "columns");
  JsonObject *pairs_by_dt = json_object_get_object_member (entry, "pairs");
  g_autofree char *path = store_path (name);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = hr_zarr_store_open (path, &error);
  g_autoptr (HrZarrColumn) index = NULL;
  g_autoptr (GList) names = json_object_get_members (columns);
  guint64 missing = 0;

  g_assert_no_error (error);
  g_assert_true (hr_zarr_store_has_obs (store));
  for (GList *l = names; l != NULL; l = l->next)
    {
      g_autoptr (HrZarrColumn) column = hr_zarr_obs_read_column (store, l->data, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (column->encoding, ==,
                       json_object_get_string_member (
                           json_object_get_object_member (entry, "encodings"), l->data));
      assert_column (column, json_object_get_array_member (columns, l->data), path);
    }
  index = hr_zarr_obs_read_column (store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (index->type, ==, HR_ZARR_COLUMN_STRING);
  assert_column (index, json_object_get_array_member (entry, "index"), path);

  /* the rows the pairs leave out: a FOV, track or time missing */
  for (guint r = 0; r < json_object_get_int_member (entry, "rows"); r++)
    {
      gboolean any = FALSE;

      for (GList *l = names; l != NULL; l = l->next)
        any |= json_array_get_null_element (json_object_get_array_member (columns, l->data), r);
      missing += any;
    }
  for (gint64 dt = 1; dt <= 3; dt++)
    {
      g_autofree char *key = g_strdup_printf ("%" G_GINT64_FORMAT, dt);
      g_autoptr (HrPairs) pairs = hr_pairs_new_from_store (path, dt, &error);

      g_assert_no_error (error);
      assert_pairs (pairs, json_object_get_array_member (pairs_by_dt, key));
      g_assert_cmpint (hr_pairs_get_origin (pairs), ==, HR_PAIRS_ORIGIN_TRACKS);
      g_assert_cmpint (hr_pairs_get_dt (pairs), ==, dt);
      g_assert_cmpstr (hr_pairs_get_path (pairs), ==, path);
      g_assert_cmpstr (hr_pairs_get_columns (pairs)[2], ==, "t");
      g_assert_cmpuint (hr_pairs_get_n_rows (pairs), ==,
                        (guint64)json_object_get_int_member (entry, "rows"));
      g_assert_cmpuint (hr_pairs_get_n_rows_missing (pairs), ==, missing);
      g_assert_false (hr_pairs_has_negatives (pairs));
    }
}

/* A store the pair builder refuses, with a message holding the word expected.json gives. */
static void
test_refused (gconstpointer data)
{
  const char *name = data;
  JsonObject *entry = json_object_get_object_member (load_expected (), name);
  g_autofree char *path = store_path (name);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrPairs) pairs = hr_pairs_new_from_store (path, 1, &error);

  g_assert_null (pairs);
  g_assert_nonnull (error);
  g_assert_true (error->domain == HR_STACK_ERROR || error->domain == HR_ANALYSIS_ERROR);
  if (strstr (error->message, json_object_get_string_member (entry, "error")) == NULL
      || strstr (error->message, path) == NULL)
    g_error ("%s: the message “%s” does not name “%s” and the store", name, error->message,
             json_object_get_string_member (entry, "error"));
}

static void
test_not_a_store (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "data", "tracks", "expected.json", NULL);
  g_autoptr (HrPairs) pairs = hr_pairs_new_from_store (path, 1, &error);

  g_assert_null (pairs);
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  pairs = hr_pairs_new_from_store ("/nonexistent/emb.zarr", 1, &error);
  g_assert_null (pairs);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "/nonexistent/emb.zarr"));
}

/* -- pairs from arrays ----------------------------------------------------------------------- */

/* The pairs by brute force: for every row, the row of its fov and track at t + dt. */
static GArray *
brute_force (const gint64 *fov, const gint64 *track, const gint64 *t, gsize n, gint64 dt)
{
  GArray *pairs = g_array_new (FALSE, FALSE, sizeof (guint64));

  for (gsize a = 0; a < n; a++)
    for (gsize p = 0; p < n && fov[a] >= 0; p++)
      if (fov[p] == fov[a] && track[p] == track[a] && t[p] == t[a] + dt)
        {
          guint64 pair[2] = { a, p };

          g_array_append_vals (pairs, pair, 2);
        }
  return pairs;
}

static void
test_arrays_random (void)
{
  for (guint round = 0; round < 50; round++)
    {
      gsize n = (gsize)g_test_rand_int_range (1, 400);
      g_autofree gint64 *fov = g_new (gint64, n);
      g_autofree gint64 *track = g_new (gint64, n);
      g_autofree gint64 *t = g_new (gint64, n);
      GHashTable *seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      gint64 dt = g_test_rand_int_range (1, 4);
      g_autoptr (GArray) want = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (HrPairs) pairs = NULL;
      gsize i = 0;

      /* distinct (fov, track, t), in random order; some rows without a FOV */
      while (i < n)
        {
          char *key;

          fov[i] = g_test_rand_int_range (-1, 3);
          track[i] = g_test_rand_int_range (-2, 6);
          t[i] = g_test_rand_int_range (-3, 40);
          key = g_strdup_printf ("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT,
                                 fov[i] < 0 ? -1 : fov[i], track[i], t[i]);
          if (fov[i] >= 0 && g_hash_table_contains (seen, key))
            {
              g_free (key);
              continue;
            }
          g_hash_table_add (seen, key);
          i++;
        }
      g_hash_table_unref (seen);
      want = brute_force (fov, track, t, n, dt);
      pairs = hr_pairs_new_from_tracks (fov, track, t, n, dt, &error);
      if (want->len == 0)
        {
          g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
          continue;
        }
      g_assert_no_error (error);
      g_assert_cmpuint (hr_pairs_get_n_pairs (pairs), ==, want->len / 2);
      for (gsize k = 0; k < want->len / 2; k++)
        {
          const guint64 *got = hr_pairs_peek_indices (pairs, NULL) + 3 * k;

          g_assert_cmpuint (got[0], ==, g_array_index (want, guint64, 2 * k));
          g_assert_cmpuint (got[1], ==, g_array_index (want, guint64, 2 * k + 1));
        }
    }
}

static void
test_arrays_edges (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrPairs) pairs = NULL;
  /* a track at the top of gint64's times: t + dt would overflow, no pair and no wrap */
  const gint64 fov[] = { 0, 0, 0, 0, 1 };
  const gint64 track[] = { 5, 5, 5, 5, 5 };
  const gint64 t[] = { G_MAXINT64, G_MAXINT64 - 1, G_MININT64, G_MININT64 + 1, 0 };
  const gint64 dup_fov[] = { 0, 1, 0 };
  const gint64 dup_t[] = { 3, 3, 3 };

  pairs = hr_pairs_new_from_tracks (fov, track, t, 5, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_pairs_get_n_pairs (pairs), ==, 2);
  g_assert_cmpuint (hr_pairs_peek_indices (pairs, NULL)[0], ==, 1);
  g_assert_cmpuint (hr_pairs_peek_indices (pairs, NULL)[1], ==, 0);
  g_assert_cmpuint (hr_pairs_peek_indices (pairs, NULL)[3], ==, 2);
  g_assert_cmpuint (hr_pairs_peek_indices (pairs, NULL)[4], ==, 3);
  g_clear_pointer (&pairs, hr_pairs_unref);

  pairs = hr_pairs_new_from_tracks (fov, track, t, 5, 0, &error);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID);
  g_clear_error (&error);
  pairs = hr_pairs_new_from_tracks (fov, track, t, 5, G_MAXINT64, &error);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
  g_clear_error (&error);
  pairs = hr_pairs_new_from_tracks (NULL, NULL, NULL, 0, 1, &error);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
  g_clear_error (&error);

  /* rows 0 and 2 are one cell; row 1 is another FOV */
  pairs = hr_pairs_new_from_tracks (dup_fov, track, dup_t, 3, 1, &error);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
  g_assert_nonnull (strstr (error->message, "rows 0 and 2"));
  g_assert_nonnull (strstr (error->message, "twice"));
  g_clear_error (&error);
}

static void
test_arrays_bytes (void)
{
  const gint64 fov[] = { 0, 0, 0 }, track[] = { 1, 1, 1 }, t[] = { 2, 0, 1 };
  g_autoptr (GBytes) bf = g_bytes_new (fov, sizeof fov);
  g_autoptr (GBytes) bk = g_bytes_new (track, sizeof track);
  g_autoptr (GBytes) bt = g_bytes_new (t, sizeof t);
  g_autoptr (GBytes) short_t = g_bytes_new (t, sizeof t - 8);
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrPairs) pairs = hr_pairs_new_from_tracks_bytes (bf, bk, bt, 1, &error);
  const guint64 *got;
  const guint64 two[] = { 4, 5, 6, 7 };
  g_autoptr (GBytes) b2 = g_bytes_new (two, sizeof two);
  g_autoptr (GBytes) b3 = g_bytes_new (two, 3 * sizeof (guint64));

  g_assert_no_error (error);
  out = hr_pairs_get_bytes (pairs);
  g_assert_cmpuint (g_bytes_get_size (out), ==, 2 * 3 * sizeof (guint64));
  got = g_bytes_get_data (out, NULL);
  /* t = 0 (row 1) → t = 1 (row 2), t = 1 (row 2) → t = 2 (row 0); in anchor-row order */
  g_assert_cmpuint (got[0], ==, 1);
  g_assert_cmpuint (got[1], ==, 2);
  g_assert_cmpuint (got[3], ==, 2);
  g_assert_cmpuint (got[4], ==, 0);
  g_clear_pointer (&pairs, hr_pairs_unref);

  pairs = hr_pairs_new_from_tracks_bytes (bf, bk, short_t, 1, &error);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE);
  g_clear_error (&error);

  pairs = hr_pairs_new_from_bytes (b2, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_pairs_get_n_pairs (pairs), ==, 2);
  g_assert_cmpint (hr_pairs_get_origin (pairs), ==, HR_PAIRS_ORIGIN_MEMORY);
  g_assert_null (hr_pairs_get_columns (pairs));
  g_assert_true (hr_pairs_check (pairs, 8, &error));
  g_assert_false (hr_pairs_check (pairs, 7, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
  g_clear_error (&error);
  g_clear_pointer (&pairs, hr_pairs_unref);
  pairs = hr_pairs_new_from_bytes (b3, 2, &error);
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
  g_clear_error (&error);
  pairs = hr_pairs_new_from_bytes (b3, 3, &error);
  g_assert_no_error (error);
  g_assert_true (hr_pairs_has_negatives (pairs));
  g_assert_cmpuint (hr_pairs_peek_indices (pairs, NULL)[2], ==, 6);
}

/* A million cells: 50,000 tracks of 20 frames in 7 FOVs, rows shuffled; every cell but the
 * last dt of its track has a pair. */
static void
test_arrays_million (void)
{
  const gsize n_tracks = 50000, length = 20, n = n_tracks * length;
  g_autofree gint64 *fov = g_new (gint64, n);
  g_autofree gint64 *track = g_new (gint64, n);
  g_autofree gint64 *t = g_new (gint64, n);
  g_autofree guint64 *order = g_new (guint64, n);
  g_autoptr (GError) error = NULL;
  GRand *rand = g_rand_new_with_seed (13);

  for (gsize i = 0; i < n; i++)
    order[i] = i;
  for (gsize i = n - 1; i > 0; i--)
    {
      gsize j = (gsize)g_rand_int_range (rand, 0, (gint32)(i + 1));
      guint64 tmp = order[i];

      order[i] = order[j];
      order[j] = tmp;
    }
  for (gsize i = 0; i < n; i++)
    {
      guint64 cell = order[i];

      track[i] = (gint64)(cell / length) / 7;
      fov[i] = (gint64)(cell / length) % 7;
      t[i] = (gint64)(cell % length) * 3 + 100; /* a time step of 3 between frames */
    }
  g_rand_free (rand);
  for (gint64 dt = 3; dt <= 6; dt += 3)
    {
      g_autoptr (HrPairs) pairs = hr_pairs_new_from_tracks (fov, track, t, n, dt, &error);
      const guint64 *p;

      g_assert_no_error (error);
      g_assert_cmpuint (hr_pairs_get_n_pairs (pairs), ==, n_tracks * (length - (gsize)dt / 3));
      p = hr_pairs_peek_indices (pairs, NULL);
      for (gsize k = 0; k < hr_pairs_get_n_pairs (pairs); k++)
        {
          guint64 a = p[3 * k], b = p[3 * k + 1];

          g_assert_true (k == 0 || a > p[3 * (k - 1)]);
          g_assert_cmpint (fov[a], ==, fov[b]);
          g_assert_cmpint (track[a], ==, track[b]);
          g_assert_cmpint (t[b], ==, t[a] + dt);
        }
    }
}

/* -- obs made bad on purpose ------------------------------------------------------------------ */

#define ROOT_ATTRS "{\"encoding-type\": \"anndata\", \"encoding-version\": \"0.1.0\"}"
#define OBS_ATTRS                                                                                  \
  "{\"encoding-type\": \"dataframe\", \"_index\": \"_index\", \"column-order\": [\"c\"]}"
#define STRINGS_V2(n, chunks, compressor, fill)                                                    \
  "{\"zarr_format\": 2, \"shape\": [" n "], \"chunks\": [" chunks "], \"dtype\": \"|O\", "         \
  "\"compressor\": " compressor ", \"fill_value\": " fill ", \"order\": \"C\", \"filters\": "      \
  "[{\"id\": \"vlen-utf8\"}]}"
#define NUMBERS_V2(n, dtype)                                                                       \
  "{\"zarr_format\": 2, \"shape\": [" n "], \"chunks\": [" n "], \"dtype\": \"" dtype "\", "       \
  "\"compressor\": null, \"fill_value\": 0, \"order\": \"C\", \"filters\": null}"

typedef struct
{
  const char *path;
  const char *content;
  gsize length; /* 0: strlen */
} StoreFile;

/* A v2 AnnData store of @files besides the root's and obs's metadata. */
static char *
make_store (const StoreFile *files, gsize n_files)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("hr-tracks-XXXXXX", &error);
  const StoreFile base[] = { { ".zgroup", "{\"zarr_format\": 2}", 0 },
                             { ".zattrs", ROOT_ATTRS, 0 },
                             { "obs/.zgroup", "{\"zarr_format\": 2}", 0 },
                             { "obs/.zattrs", OBS_ATTRS, 0 } };

  g_assert_no_error (error);
  for (gsize k = 0; k < G_N_ELEMENTS (base) + n_files; k++)
    {
      const StoreFile *f = k < G_N_ELEMENTS (base) ? &base[k] : &files[k - G_N_ELEMENTS (base)];
      g_autofree char *path = g_build_filename (dir, f->path, NULL);
      g_autofree char *parent = g_path_get_dirname (path);

      g_assert_cmpint (g_mkdir_with_parents (parent, 0700), ==, 0);
      g_file_set_contents (path, f->content, f->length != 0 ? (gssize)f->length : -1, &error);
      g_assert_no_error (error);
    }
  return dir;
}

/* vlen-utf8 bytes of @strings: the count, then each length and its bytes. */
static GByteArray *
vlen (const char *const *strings, guint32 count)
{
  GByteArray *b = g_byte_array_new ();
  guint32 le = GUINT32_TO_LE (count);

  g_byte_array_append (b, (const guint8 *)&le, 4);
  for (guint k = 0; strings[k] != NULL; k++)
    {
      le = GUINT32_TO_LE ((guint32)strlen (strings[k]));
      g_byte_array_append (b, (const guint8 *)&le, 4);
      g_byte_array_append (b, (const guint8 *)strings[k], (guint)strlen (strings[k]));
    }
  return b;
}

typedef struct
{
  const char *name;
  StoreFile files[6];
  int code; /* -1: reads */
  const char *word;
} ObsCase;

/* "x" (1), then 3 strings counted as 1; a length past the end; a byte that is not UTF-8; a NUL */
#define V(s) s, sizeof s - 1
static const ObsCase obs_cases[] = {
  { "count",
    { { "obs/c/.zarray", STRINGS_V2 ("3", "3", "null", "\"\"") },
      { "obs/c/0", V ("\x01\0\0\0\x01\0\0\0a") } },
    HR_STACK_ERROR_CORRUPT,
    "vlen-utf8" },
  { "length-past-end",
    { { "obs/c/.zarray", STRINGS_V2 ("1", "1", "null", "\"\"") },
      { "obs/c/0", V ("\x01\0\0\0\xff\0\0\0a") } },
    HR_STACK_ERROR_CORRUPT,
    "vlen-utf8" },
  { "trailing-bytes",
    { { "obs/c/.zarray", STRINGS_V2 ("1", "1", "null", "\"\"") },
      { "obs/c/0", V ("\x01\0\0\0\x01\0\0\0ab") } },
    HR_STACK_ERROR_CORRUPT,
    "vlen-utf8" },
  { "not-utf8",
    { { "obs/c/.zarray", STRINGS_V2 ("1", "1", "null", "\"\"") },
      { "obs/c/0", V ("\x01\0\0\0\x02\0\0\0\xc3\x28") } },
    HR_STACK_ERROR_CORRUPT,
    "UTF-8" },
  { "nul",
    { { "obs/c/.zarray", STRINGS_V2 ("1", "1", "null", "\"\"") },
      { "obs/c/0", V ("\x01\0\0\0\x02\0\0\0a\0") } },
    HR_STACK_ERROR_CORRUPT,
    "UTF-8" },
  { "short-header",
    { { "obs/c/.zarray", STRINGS_V2 ("1", "1", "null", "\"\"") }, { "obs/c/0", V ("\x01\0") } },
    HR_STACK_ERROR_CORRUPT,
    "vlen-utf8" },
  { "bad-blosc",
    { { "obs/c/.zarray", STRINGS_V2 ("1", "1", "{\"id\": \"blosc\", \"cname\": \"lz4\"}", "\"\"") },
      { "obs/c/0", V ("\x02\x01\x33\x01\xff\xff\xff\x7f\x20\0\0\0\x20\0\0\0garbage garbage") } },
    HR_STACK_ERROR_CORRUPT,
    "blosc" },
  { "object-without-vlen",
    { { "obs/c/.zarray",
        "{\"zarr_format\": 2, \"shape\": [1], \"chunks\": [1], \"dtype\": \"|O\", "
        "\"compressor\": null, \"fill_value\": null, \"order\": \"C\", \"filters\": null}" } },
    HR_STACK_ERROR_UNSUPPORTED,
    "vlen-utf8" },
  { "other-filter",
    { { "obs/c/.zarray",
        "{\"zarr_format\": 2, \"shape\": [1], \"chunks\": [1], \"dtype\": \"|O\", "
        "\"compressor\": null, \"fill_value\": null, \"order\": \"C\", \"filters\": [{\"id\": "
        "\"pickle\"}]}" } },
    HR_STACK_ERROR_UNSUPPORTED,
    "pickle" },
  { "encoding",
    { { "obs/c/.zgroup", "{\"zarr_format\": 2}" },
      { "obs/c/.zattrs", "{\"encoding-type\": \"awkward-array\"}" } },
    HR_STACK_ERROR_UNSUPPORTED,
    "awkward-array" },
  { "array-encoding",
    { { "obs/c/.zarray", NUMBERS_V2 ("2", "<i8") },
      { "obs/c/.zattrs", "{\"encoding-type\": \"csr_matrix\"}" } },
    HR_STACK_ERROR_UNSUPPORTED,
    "csr_matrix" },
  { "code-out-of-range",
    { { "obs/c/.zgroup", "{\"zarr_format\": 2}" },
      { "obs/c/.zattrs", "{\"encoding-type\": \"categorical\"}" },
      { "obs/c/codes/.zarray", NUMBERS_V2 ("2", "|i1") },
      { "obs/c/codes/0", V ("\x00\x02") },
      { "obs/c/categories/.zarray", STRINGS_V2 ("2", "2", "null", "\"\"") },
      { "obs/c/categories/0", V ("\x02\0\0\0\x01\0\0\0a\x01\0\0\0b") } },
    HR_STACK_ERROR_CORRUPT,
    "code 2 of row 1" },
  { "codes-missing",
    { { "obs/c/.zgroup", "{\"zarr_format\": 2}" },
      { "obs/c/.zattrs", "{\"encoding-type\": \"categorical\"}" },
      { "obs/c/categories/.zarray", STRINGS_V2 ("2", "2", "null", "\"\"") },
      { "obs/c/categories/0", V ("\x02\0\0\0\x01\0\0\0a\x01\0\0\0b") } },
    HR_STACK_ERROR_CORRUPT,
    "codes" },
  { "mask-missing",
    { { "obs/c/.zgroup", "{\"zarr_format\": 2}" },
      { "obs/c/.zattrs", "{\"encoding-type\": \"nullable-string-array\"}" },
      { "obs/c/values/.zarray", STRINGS_V2 ("1", "1", "null", "\"\"") },
      { "obs/c/values/0", V ("\x01\0\0\0\x01\0\0\0a") } },
    HR_STACK_ERROR_CORRUPT,
    "mask" },
  { "mask-length",
    { { "obs/c/.zgroup", "{\"zarr_format\": 2}" },
      { "obs/c/.zattrs", "{\"encoding-type\": \"nullable-integer\"}" },
      { "obs/c/values/.zarray", NUMBERS_V2 ("2", "<i8") },
      { "obs/c/mask/.zarray", NUMBERS_V2 ("3", "|b1") } },
    HR_STACK_ERROR_CORRUPT,
    "mask" },
  { "uint64-beyond",
    { { "obs/c/.zarray", NUMBERS_V2 ("1", "<u8") },
      { "obs/c/0", V ("\xff\xff\xff\xff\xff\xff\xff\xff") } },
    HR_STACK_ERROR_UNSUPPORTED,
    "18446744073709551615" },
  { "two-dimensions",
    { { "obs/c/.zarray",
        "{\"zarr_format\": 2, \"shape\": [2, 2], \"chunks\": [2, 2], \"dtype\": \"<i8\", "
        "\"compressor\": null, \"fill_value\": 0, \"order\": \"C\", \"filters\": null}" } },
    HR_STACK_ERROR_UNSUPPORTED,
    "2 dimensions" },
  { "no-column", { { "obs/d/.zarray", NUMBERS_V2 ("1", "<i8") } }, HR_STACK_ERROR_LAYOUT, "“c”" },
  /* a string chunk never written: the fill value, "" or (null) missing */
  { "fill-empty", { { "obs/c/.zarray", STRINGS_V2 ("3", "2", "null", "\"\"") } }, -1, "" },
  { "fill-null", { { "obs/c/.zarray", STRINGS_V2 ("3", "2", "null", "null") } }, -1, NULL },
};

static void
test_obs_bad (gconstpointer data)
{
  const ObsCase *c = data;
  gsize n = 0;
  g_autofree char *dir = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = NULL;
  g_autoptr (HrZarrColumn) column = NULL;

  while (n < G_N_ELEMENTS (c->files) && c->files[n].path != NULL)
    n++;
  dir = make_store (c->files, n);
  store = hr_zarr_store_open (dir, &error);
  g_assert_no_error (error);
  column = hr_zarr_obs_read_column (store, "c", &error);
  if (c->code >= 0)
    {
      g_assert_null (column);
      g_assert_error (error, HR_STACK_ERROR, c->code);
      if (strstr (error->message, c->word) == NULL || strstr (error->message, dir) == NULL)
        g_error ("%s: “%s” does not name “%s” and the store", c->name, error->message, c->word);
    }
  else
    {
      g_assert_no_error (error);
      g_assert_cmpuint (column->n_rows, ==, 3);
      for (guint r = 0; r < 3; r++)
        g_assert_cmpstr (hr_zarr_column_get_string (column, r), ==, c->word);
      g_assert_true ((column->missing != NULL) == (c->word == NULL));
    }
  hr_test_remove_tree (dir);
}

/* Strings compressed with gzip, zlib and zstd (a frame without its size, decoded as a
 * stream), 100,000 of them in two chunks: buffers that grow while they decode. */
static void
test_obs_compressed (void)
{
  const guint n = 100000, chunk = 60000;
  const char *names[] = { "gzip", "zlib", "zstd" };

  for (guint k = 0; k < G_N_ELEMENTS (names); k++)
    {
      g_autofree char *zarray = g_strdup_printf (
          "{\"zarr_format\": 2, \"shape\": [%u], \"chunks\": [%u], \"dtype\": \"|O\", "
          "\"compressor\": {\"id\": \"%s\"}, \"fill_value\": \"\", \"order\": \"C\", "
          "\"filters\": [{\"id\": \"vlen-utf8\"}]}",
          n, chunk, names[k]);
      GByteArray *encoded[2];
      StoreFile files[3] = { { "obs/c/.zarray", zarray, 0 } };
      g_autofree char *dir = NULL;
      g_autoptr (GError) error = NULL;
      g_autoptr (HrZarrStore) store = NULL;
      g_autoptr (HrZarrColumn) column = NULL;

      for (guint part = 0; part < 2; part++)
        {
          g_autoptr (GPtrArray) strings = g_ptr_array_new_with_free_func (g_free);
          g_autoptr (GByteArray) raw = NULL;

          /* a whole chunk, past the array's end too, as zarr writes it */
          for (guint i = part * chunk; i < (part + 1) * chunk; i++)
            g_ptr_array_add (strings,
                             i < n ? g_strdup_printf ("FOV/%u/é", i % 977) : g_strdup (""));
          g_ptr_array_add (strings, NULL);
          raw = vlen ((const char *const *)strings->pdata, chunk);
          encoded[part] = g_byte_array_new ();
          if (k < 2)
            {
              z_stream zs = { 0 };

              g_byte_array_set_size (encoded[part], (guint)compressBound (raw->len) + 64);
              g_assert_cmpint (deflateInit2 (&zs, 6, Z_DEFLATED,
                                             k == 0 ? 16 + MAX_WBITS : MAX_WBITS, 8,
                                             Z_DEFAULT_STRATEGY),
                               ==, Z_OK);
              zs.next_in = raw->data;
              zs.avail_in = raw->len;
              zs.next_out = encoded[part]->data;
              zs.avail_out = encoded[part]->len;
              g_assert_cmpint (deflate (&zs, Z_FINISH), ==, Z_STREAM_END);
              g_byte_array_set_size (encoded[part], (guint)zs.total_out);
              deflateEnd (&zs);
            }
          else
            {
              ZSTD_CStream *cs = ZSTD_createCStream ();
              ZSTD_inBuffer in = { raw->data, raw->len, 0 };
              ZSTD_outBuffer out;

              g_byte_array_set_size (encoded[part], (guint)ZSTD_compressBound (raw->len));
              out = (ZSTD_outBuffer){ encoded[part]->data, encoded[part]->len, 0 };
              ZSTD_initCStream (cs, 3);
              while (in.pos < in.size)
                g_assert_false (ZSTD_isError (ZSTD_compressStream (cs, &out, &in)));
              g_assert_cmpuint (ZSTD_endStream (cs, &out), ==, 0);
              ZSTD_freeCStream (cs);
              g_byte_array_set_size (encoded[part], (guint)out.pos);
            }
          files[1 + part] = (StoreFile){ part == 0 ? "obs/c/0" : "obs/c/1",
                                         (const char *)encoded[part]->data, encoded[part]->len };
        }
      dir = make_store (files, 3);
      store = hr_zarr_store_open (dir, &error);
      g_assert_no_error (error);
      column = hr_zarr_obs_read_column (store, "c", &error);
      g_assert_no_error (error);
      g_assert_cmpuint (column->n_rows, ==, n);
      g_assert_cmpuint (column->categories->len, ==, 977);
      for (guint i = 0; i < n; i += 997)
        {
          g_autofree char *want = g_strdup_printf ("FOV/%u/é", i % 977);

          g_assert_cmpstr (hr_zarr_column_get_string (column, i), ==, want);
        }
      g_assert_null (column->missing);
      hr_test_remove_tree (dir);
      g_byte_array_unref (encoded[0]);
      g_byte_array_unref (encoded[1]);
    }
}

/* A categorical of numbers (codes into integer categories) and a nullable boolean. */
static void
test_obs_numbers (void)
{
  const StoreFile files[] = {
    { "obs/c/.zgroup", "{\"zarr_format\": 2}", 0 },
    { "obs/c/.zattrs", "{\"encoding-type\": \"categorical\", \"ordered\": false}", 0 },
    { "obs/c/codes/.zarray", NUMBERS_V2 ("4", "|i1"), 0 },
    { "obs/c/codes/0", "\x01\xff\x00\x01", 4 },
    { "obs/c/categories/.zarray", NUMBERS_V2 ("2", ">i2"), 0 },
    { "obs/c/categories/0", "\x01\x2c\xff\xfe", 4 }, /* 300, -2, big-endian */
    { "obs/b/.zgroup", "{\"zarr_format\": 2}", 0 },
    { "obs/b/.zattrs", "{\"encoding-type\": \"nullable-boolean\"}", 0 },
    { "obs/b/values/.zarray", NUMBERS_V2 ("3", "|b1"), 0 },
    { "obs/b/values/0", "\x01\x00\x01", 3 },
    { "obs/b/mask/.zarray", NUMBERS_V2 ("3", "|b1"), 0 },
    { "obs/b/mask/0", "\x00\x00\x01", 3 },
  };
  g_autofree char *dir = make_store (files, G_N_ELEMENTS (files));
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = hr_zarr_store_open (dir, &error);
  g_autoptr (HrZarrColumn) c = NULL;
  g_autoptr (HrZarrColumn) b = NULL;

  g_assert_no_error (error);
  c = hr_zarr_obs_read_column (store, "c", &error);
  g_assert_no_error (error);
  g_assert_cmpint (c->type, ==, HR_ZARR_COLUMN_INTEGER);
  g_assert_cmpstr (c->encoding, ==, "categorical");
  g_assert_cmpint (c->ints[0], ==, -2);
  g_assert_true (c->missing != NULL && c->missing[1] && !c->missing[0]);
  g_assert_cmpint (c->ints[2], ==, 300);
  g_assert_cmpint (c->ints[3], ==, -2);
  b = hr_zarr_obs_read_column (store, "b", &error);
  g_assert_no_error (error);
  g_assert_cmpint (b->type, ==, HR_ZARR_COLUMN_INTEGER);
  g_assert_cmpint (b->ints[0], ==, 1);
  g_assert_cmpint (b->ints[1], ==, 0);
  g_assert_true (b->missing != NULL && !b->missing[0] && !b->missing[1] && b->missing[2]);
  hr_test_remove_tree (dir);
}

int
main (int argc, char **argv)
{
  g_autoptr (GList) names = NULL;

  g_test_init (&argc, &argv, NULL);
  names = json_object_get_members (load_expected ());
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonObject *entry = json_object_get_object_member (load_expected (), l->data);
      g_autofree char *path = g_strdup_printf (
          "/tracks/%s/%s", json_object_has_member (entry, "error") ? "refused" : "store",
          (const char *)l->data);

      g_test_add_data_func (path, l->data,
                            json_object_has_member (entry, "error") ? test_refused : test_store);
    }
  g_test_add_func ("/tracks/not-a-store", test_not_a_store);
  g_test_add_func ("/tracks/arrays/random", test_arrays_random);
  g_test_add_func ("/tracks/arrays/edges", test_arrays_edges);
  g_test_add_func ("/tracks/arrays/bytes", test_arrays_bytes);
  g_test_add_func ("/tracks/arrays/million", test_arrays_million);
  for (gsize k = 0; k < G_N_ELEMENTS (obs_cases); k++)
    {
      g_autofree char *path = g_strdup_printf ("/tracks/obs/bad/%s", obs_cases[k].name);

      g_test_add_data_func (path, &obs_cases[k], test_obs_bad);
    }
  g_test_add_func ("/tracks/obs/compressed", test_obs_compressed);
  g_test_add_func ("/tracks/obs/numbers", test_obs_numbers);
  return g_test_run ();
}
