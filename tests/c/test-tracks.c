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
    {
      g_autofree char *path
          = g_test_build_filename (G_TEST_DIST, "data", "tracks", "expected.json", NULL);
      g_autoptr (GError) error = NULL;

      parser = json_parser_new ();
      json_parser_load_from_file (parser, path, &error);
      g_assert_no_error (error);
    }
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
  return g_test_run ();
}
