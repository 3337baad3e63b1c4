/* headrank tests: the zarr reader (lib/sources/hr-zarr.c), against stores written by zarr-python,
 * anndata and xarray (tests/data/zarr, make_stores.py there).
 *
 * Every array of tests/data/zarr/manifest.json is read whole, in reads of several sizes
 * that start and end inside chunks, and compared bit for bit with numpy's astype(float32)
 * of the same array; the stores of the manifest's "refused" list are refused with an error
 * that names the codec or encoding. Then metadata and chunks made bad on purpose.
 */
#include "hr-zarr.h"

#include <headrank.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "test-util.h"

static char *
store_path (const char *store)
{
  return g_test_build_filename (G_TEST_DIST, "data", "zarr", "stores", store, NULL);
}

static JsonObject *
load_manifest (void)
{
  static JsonParser *parser;

  if (parser == NULL)
    parser = hr_test_parse_json ("zarr", "manifest.json");
  return json_node_get_object (json_parser_get_root (parser));
}

static void
assert_same_floats (const float *got, const float *want, gsize n, const char *name)
{
  for (gsize k = 0; k < n; k++)
    if (!(got[k] == want[k] || (isnan (got[k]) && isnan (want[k]))))
      g_error ("%s: value %zu is %.9g, zarr-python gives %.9g", name, k, (double)got[k],
               (double)want[k]);
}

/* One array of the manifest, read in pieces of @step rows. */
static void
test_array (gconstpointer data)
{
  JsonObject *entry = (JsonObject *)data;
  const char *name = hr_test_object_string (entry, "name");
  g_autofree char *path = store_path (hr_test_object_string (entry, "store"));
  JsonArray *shape = json_object_get_array_member (entry, "shape");
  gsize n = (gsize)json_array_get_int_element (shape, 0);
  gsize d = json_array_get_length (shape) > 1 ? (gsize)json_array_get_int_element (shape, 1) : 1;
  g_autofree char *relative = g_strdup_printf ("%s.f32", name);
  g_autoptr (GBytes) expected = hr_test_load_raw ("zarr/expected", relative, 4, n * d);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = hr_zarr_store_open (path, &error);
  g_autoptr (HrZarrReader) reader = NULL;
  const gsize steps[] = { 1, 3, 7, 1000 };

  g_assert_no_error (error);
  reader = hr_zarr_reader_new (store, hr_test_object_string (entry, "array"), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_zarr_reader_get_n_rows (reader), ==, n);
  g_assert_cmpuint (hr_zarr_reader_get_n_columns (reader), ==, d);

  for (gsize s = 0; s < G_N_ELEMENTS (steps); s++)
    {
      g_autofree float *out = g_new0 (float, n *d + 1);

      for (gsize row = 0; row < n; row += steps[s])
        {
          gsize take = MIN (steps[s], n - row);

          g_assert_true (hr_zarr_reader_read_rows (reader, row, take, out + row * d, &error));
          g_assert_no_error (error);
        }
      assert_same_floats (out, g_bytes_get_data (expected, NULL), n * d, name);
    }

  /* backwards, one row at a time: the cache of one row of chunks is refilled */
  {
    g_autofree float *row = g_new (float, d);
    const float *want = g_bytes_get_data (expected, NULL);

    for (gsize r = n; r-- > 0;)
      {
        g_assert_true (hr_zarr_reader_read_rows (reader, r, 1, row, &error));
        assert_same_floats (row, want + r * d, d, name);
      }
  }
  g_assert_false (hr_zarr_reader_read_rows (reader, n, 1, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
}

/* A store the reader refuses, naming what it lacks. */
static void
test_refused (gconstpointer data)
{
  JsonObject *entry = (JsonObject *)data;
  g_autofree char *path = store_path (hr_test_object_string (entry, "store"));
  const char *word = hr_test_object_string (entry, "word");
  const char *array = hr_test_object_string (entry, "array");
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = hr_zarr_store_open (path, &error);
  g_autoptr (HrZarrReader) reader = NULL;

  g_assert_no_error (error);
  if (hr_zarr_store_find_array (store, array) >= 0)
    reader = hr_zarr_reader_new (store, array, &error);
  else
    g_assert_null (hr_zarr_store_get_role_path (store, HR_ZARR_ROLE_FEATURES, &error));
  g_assert_null (reader);
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, word));
  g_assert_nonnull (strstr (error->message, path));
}

typedef struct
{
  const char *store;
  HrZarrLayout layout;
  const char *features;
  const char *projections;
} RoleCase;

static const RoleCase role_cases[] = {
  { "anndata-v2.zarr", HR_ZARR_LAYOUT_ANNDATA, "X", "obsm/X_projections" },
  { "anndata-v3.zarr", HR_ZARR_LAYOUT_ANNDATA, "X", "obsm/X_projections" },
  { "anndata-v2-projections.zarr", HR_ZARR_LAYOUT_ANNDATA, "obsm/X_backbone", "X" },
  { "anndata-v3-projections.zarr", HR_ZARR_LAYOUT_ANNDATA, "obsm/X_backbone", "X" },
  { "xarray.zarr", HR_ZARR_LAYOUT_XARRAY, "features", "projections" },
  { "v2-blosc-lz4-shuffle.zarr", HR_ZARR_LAYOUT_ARRAY, "", NULL },
  { "v3-default-f4.zarr", HR_ZARR_LAYOUT_ARRAY, "", NULL },
  { "v2-consolidated.zarr", HR_ZARR_LAYOUT_GROUP, NULL, NULL },
  { "v3-consolidated.zarr", HR_ZARR_LAYOUT_GROUP, NULL, NULL },
};

static void
test_roles (gconstpointer data)
{
  const RoleCase *c = data;
  g_autofree char *path = store_path (c->store);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = hr_zarr_store_open (path, &error);
  gboolean any_obs = FALSE;

  g_assert_no_error (error);
  g_assert_cmpint (hr_zarr_store_get_layout (store), ==, c->layout);
  g_assert_cmpstr (hr_zarr_store_get_role_path (store, HR_ZARR_ROLE_FEATURES, &error), ==,
                   c->features);
  g_assert_no_error (error);
  g_assert_cmpstr (hr_zarr_store_get_role_path (store, HR_ZARR_ROLE_PROJECTIONS, &error), ==,
                   c->projections);
  g_assert_no_error (error);
  for (guint i = 0; i < hr_zarr_store_get_n_arrays (store); i++)
    {
      const char *p = hr_zarr_store_get_array_path (store, i);

      g_assert_true (i == 0 || strcmp (hr_zarr_store_get_array_path (store, i - 1), p) < 0);
      if (hr_zarr_array_get_role (store, i) == HR_ZARR_ROLE_OBS)
        {
          g_assert_true (g_str_has_prefix (p, "obs/"));
          any_obs = TRUE;
        }
    }
  g_assert_true (any_obs == (c->layout == HR_ZARR_LAYOUT_ANNDATA));
  if (c->layout == HR_ZARR_LAYOUT_ANNDATA)
    {
      /* AnnData's categorical column: codes and categories; a string column (values and mask):
         its strings are not numbers */
      int codes = hr_zarr_store_find_array (store, "obs/fov_name/codes");
      int label = hr_zarr_store_find_array (store, "obs/label/values");

      g_assert_cmpint (codes, >=, 0);
      g_assert_null (hr_zarr_array_get_unsupported (store, (guint)codes));
      g_assert_cmpint (label, >=, 0);
      g_assert_nonnull (hr_zarr_array_get_unsupported (store, (guint)label));
    }
}

/* -- stores made bad on purpose ------------------------------------------------------------ */

static char *
make_store (const char *file, const char *content, gssize length)
{
  g_autoptr (GError) error = NULL;
  char *dir = g_dir_make_tmp ("hr-zarr-XXXXXX", &error);
  g_autofree char *path = NULL;

  g_assert_no_error (error);
  path = g_build_filename (dir, file, NULL);
  g_file_set_contents (path, content, length, &error);
  g_assert_no_error (error);
  return dir;
}

/* 100,000 nested arrays in an object: a clean error, not json-glib's recursion. */
static void
test_deep_json (void)
{
  gsize depth = 100000;
  g_autofree char *text = g_malloc (2 * depth + 8);
  g_autofree char *dir = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = NULL;

  /* {"a": [[[…]]]} */
  memcpy (text, "{\"a\":", 5);
  memset (text + 5, '[', depth);
  memset (text + 5 + depth, ']', depth);
  memcpy (text + 5 + 2 * depth, "}", 2);
  dir = make_store ("zarr.json", text, -1);
  store = hr_zarr_store_open (dir, &error);
  g_assert_null (store);
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "nested"));
  g_assert_nonnull (strstr (error->message, dir));
  hr_test_remove_tree (dir);
}

/* Metadata that is not strict JSON, or not one object: "not JSON", never json-glib's partial
 * parse (it stops after the first value, and at a NUL byte). */
static void
test_not_json (void)
{
  static const struct
  {
    const char *text;
    gsize length;
  } cases[] = {
    { "{\"zarr_format\": 3}{}", sizeof ("{\"zarr_format\": 3}{}") - 1 },
    { "{\"zarr_format\": 3, /* a comment */ \"node_type\": \"group\"}",
      sizeof ("{\"zarr_format\": 3, /* a comment */ \"node_type\": \"group\"}") - 1 },
    { "{\"zarr_format\": 3, \"node_type\": \"gro\0up\"}",
      sizeof ("{\"zarr_format\": 3, \"node_type\": \"gro\0up\"}") - 1 },
    { "{\"zarr_format\": 3}\0{", sizeof ("{\"zarr_format\": 3}\0{") - 1 },
    { "{'zarr_format': 3}", sizeof ("{'zarr_format': 3}") - 1 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = make_store ("zarr.json", cases[i].text, (gssize)cases[i].length);
      g_autoptr (GError) error = NULL;
      g_autoptr (HrZarrStore) store = hr_zarr_store_open (dir, &error);

      g_test_message ("case %zu", i);
      g_assert_null (store);
      g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT);
      g_assert_nonnull (strstr (error->message, "is not JSON"));
      g_assert_nonnull (strstr (error->message, dir));
      hr_test_remove_tree (dir);
    }
}

typedef struct
{
  const char *name;
  const char *zarray;
  const char *chunk; /* the content of chunk "0.0", or NULL */
  gsize chunk_size;
  int open_code; /* -1: opens */
  int read_code; /* -1: reads */
} BadCase;

#define ZARRAY(shape, chunks, dtype, compressor)                                                   \
  "{\"zarr_format\": 2, \"shape\": " shape ", \"chunks\": " chunks ", \"dtype\": \"" dtype         \
  "\", \"compressor\": " compressor ", \"fill_value\": 0, \"order\": \"C\", \"filters\": null}"

static const BadCase bad_cases[] = {
  { "not-json", "{\"zarr_format\": 2, ", NULL, 0, HR_STACK_ERROR_CORRUPT, -1 },
  { "no-shape", "{\"zarr_format\": 2, \"chunks\": [1], \"dtype\": \"<f4\"}", NULL, 0,
    HR_STACK_ERROR_CORRUPT, -1 },
  { "zero-chunk", ZARRAY ("[4, 2]", "[0, 2]", "<f4", "null"), NULL, 0, HR_STACK_ERROR_CORRUPT, -1 },
  { "negative-shape", ZARRAY ("[-4, 2]", "[1, 2]", "<f4", "null"), NULL, 0, HR_STACK_ERROR_CORRUPT,
    -1 },
  { "string-dtype", ZARRAY ("[4, 2]", "[4, 2]", "|O", "null"), NULL, 0, -1,
    HR_STACK_ERROR_UNSUPPORTED },
  { "3d", ZARRAY ("[4, 2, 2]", "[4, 2, 2]", "<f4", "null"), NULL, 0, -1,
    HR_STACK_ERROR_UNSUPPORTED },
  { "huge-chunk", ZARRAY ("[4, 2]", "[4000000000, 2000000000]", "<f4", "null"), NULL, 0, -1,
    HR_STACK_ERROR_TOO_LARGE },
  { "short-raw", ZARRAY ("[4, 2]", "[4, 2]", "<f4", "null"), "abc", 3, -1, HR_STACK_ERROR_CORRUPT },
  { "bad-zstd", ZARRAY ("[4, 2]", "[4, 2]", "<f4", "{\"id\": \"zstd\"}"), "\x28\xb5\x2f\xfd junk",
    9, -1, HR_STACK_ERROR_CORRUPT },
  { "bad-blosc", ZARRAY ("[4, 2]", "[4, 2]", "<f4", "{\"id\": \"blosc\"}"),
    "\x02\x01\x21\x04\x20\x00\x00\x00\x20\x00\x00\x00\xff\xff\x00\x00", 16, -1,
    HR_STACK_ERROR_CORRUPT },
  { "bad-gzip", ZARRAY ("[4, 2]", "[4, 2]", "<f4", "{\"id\": \"gzip\"}"), "\x1f\x8b\x08\x00zz", 6,
    -1, HR_STACK_ERROR_CORRUPT },
  { "two-objects", ZARRAY ("[4, 2]", "[4, 2]", "<f4", "null") "{}", NULL, 0, HR_STACK_ERROR_CORRUPT,
    -1 },
  { "scalar-first", "2{}", NULL, 0, HR_STACK_ERROR_CORRUPT, -1 },
  { "lz4-alone", ZARRAY ("[4, 2]", "[4, 2]", "<f4", "{\"id\": \"lz4\"}"), NULL, 0, -1,
    HR_STACK_ERROR_UNSUPPORTED },
};

static void
test_bad (gconstpointer data)
{
  const BadCase *c = data;
  g_autofree char *dir = make_store (".zarray", c->zarray, -1);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = NULL;
  g_autoptr (HrZarrReader) reader = NULL;

  if (c->chunk != NULL)
    {
      g_autofree char *chunk = g_build_filename (dir, "0.0", NULL);

      g_file_set_contents (chunk, c->chunk, (gssize)c->chunk_size, &error);
      g_assert_no_error (error);
    }
  store = hr_zarr_store_open (dir, &error);
  if (c->open_code >= 0)
    {
      g_assert_null (store);
      g_assert_error (error, HR_STACK_ERROR, c->open_code);
    }
  else
    {
      float out[8];

      g_assert_no_error (error);
      reader = hr_zarr_reader_new (store, "", &error);
      if (reader != NULL)
        g_assert_false (hr_zarr_reader_read_rows (reader, 0, 4, out, &error));
      g_assert_error (error, HR_STACK_ERROR, c->read_code);
    }
  g_assert_nonnull (strstr (error->message, dir));
  hr_test_remove_tree (dir);
}

/* A store of 2,000,000 rows whose chunks were never written reads as its fill value, with a
 * reader whose buffers hold one row of chunks (the row count never enters them). */
static void
test_missing_chunks_many_rows (void)
{
  g_autofree char *dir = make_store (".zarray",
                                     "{\"zarr_format\": 2, \"shape\": [2000000, 3], \"chunks\": "
                                     "[1000, 3], \"dtype\": \"<f8\", \"compressor\": null, "
                                     "\"fill_value\": \"-Infinity\", \"order\": \"F\", "
                                     "\"filters\": null}",
                                     -1);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = hr_zarr_store_open (dir, &error);
  g_autoptr (HrZarrReader) reader = NULL;
  float out[4096 * 3];

  g_assert_no_error (error);
  reader = hr_zarr_reader_new (store, "", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_zarr_reader_get_chunk_rows (reader), ==, 1000);
  for (guint64 row = 0; row < 2000000; row += 4096)
    {
      gsize take = (gsize)MIN (4096, 2000000 - row);

      g_assert_true (hr_zarr_reader_read_rows (reader, row, take, out, &error));
      for (gsize k = 0; k < take * 3; k++)
        g_assert_true (isinf (out[k]) && out[k] < 0);
    }
  hr_test_remove_tree (dir);
}

/* A row of 64 chunks, decoded by as many threads as there are processors: the values land
 * in their columns, and with two bad chunks the error names the first, every time. */
static void
test_row_of_many_chunks (void)
{
  g_autofree char *dir = make_store (".zarray",
                                     "{\"zarr_format\": 2, \"shape\": [4, 64], \"chunks\": "
                                     "[4, 1], \"dtype\": \"<f4\", \"compressor\": null, "
                                     "\"fill_value\": 0, \"order\": \"C\", \"filters\": null}",
                                     -1);
  g_autoptr (GError) error = NULL;
  float out[4 * 64];

  for (guint j = 0; j < 64; j++)
    {
      g_autofree char *name = g_strdup_printf ("0.%u", j);
      g_autofree char *file = g_build_filename (dir, name, NULL);
      float chunk[4];

      for (guint i = 0; i < 4; i++)
        chunk[i] = (float)(i * 64 + j);
      g_assert_true (G_BYTE_ORDER == G_LITTLE_ENDIAN);
      g_file_set_contents (file, (const char *)chunk, sizeof chunk, &error);
      g_assert_no_error (error);
    }
  {
    g_autoptr (HrZarrStore) store = hr_zarr_store_open (dir, &error);
    g_autoptr (HrZarrReader) reader = hr_zarr_reader_new (store, "", &error);

    g_assert_no_error (error);
    g_assert_true (hr_zarr_reader_read_rows (reader, 0, 4, out, &error));
    g_assert_no_error (error);
    for (guint k = 0; k < 4 * 64; k++)
      g_assert_cmpfloat (out[k], ==, (float)k);
  }

  for (guint j = 17; j <= 40; j += 23)
    {
      g_autofree char *name = g_strdup_printf ("0.%u", j);
      g_autofree char *file = g_build_filename (dir, name, NULL);

      g_file_set_contents (file, "abc", 3, &error);
      g_assert_no_error (error);
    }
  for (guint attempt = 0; attempt < 50; attempt++)
    {
      g_autoptr (HrZarrStore) store = hr_zarr_store_open (dir, &error);
      g_autoptr (HrZarrReader) reader = hr_zarr_reader_new (store, "", &error);
      g_autofree char *first = g_build_filename (dir, "0.17", NULL);

      g_assert_no_error (error);
      /* whole rows (straight into out) and one row (through the reader's cache) */
      g_assert_false (hr_zarr_reader_read_rows (reader, 0, attempt % 2 == 0 ? 4 : 1, out, &error));
      g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT);
      g_assert_nonnull (strstr (error->message, first));
      g_clear_error (&error);
    }
  hr_test_remove_tree (dir);
}

static void
test_not_a_store (void)
{
  g_autofree char *dir = g_dir_make_tmp ("hr-zarr-XXXXXX", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (hr_zarr_is_store (dir));
  g_assert_null (hr_zarr_store_open (dir, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED);
  g_rmdir (dir);
}

/* -- HrZarrSource ---------------------------------------------------------------------------- */

typedef struct
{
  const char *store;
  const char *array;    /* given to the source, NULL: by layout */
  const char *expected; /* the manifest's name of what it reads */
  guint64 nonfinite;
} SourceCase;

static const SourceCase source_cases[] = {
  { "anndata-v3-projections.zarr", NULL, "anndata-v3-projections-backbone", 0 },
  { "anndata-v2.zarr", NULL, "anndata-v2-X", 0 },
  { "anndata-v2.zarr", "obsm/X_projections", "anndata-v2-proj", 0 },
  { "xarray.zarr", NULL, "xarray-features", 0 },
  { "v2-fill-nan-missing.zarr", NULL, "v2-fill-nan-missing", 8 * 6 },
  { "v3-sharding-inner.zarr", NULL, "v3-sharding-inner", 0 },
  { "v2-raw-i1-u2-1d.zarr", NULL, "v2-raw-i1-u2-1d", 0 },
};

static void
test_source (gconstpointer data)
{
  const SourceCase *c = data;
  g_autofree char *path = store_path (c->store);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrSource) source = hr_zarr_source_new (path, c->array, &error);
  g_autoptr (GBytes) expected = NULL;
  g_autofree char *relative = g_strdup_printf ("%s.f32", c->expected);
  g_autofree float *out = NULL;
  gsize n, d, got = 0, n_read;

  g_assert_no_error (error);
  n = (gsize)hr_source_get_n_samples (source);
  d = hr_source_get_n_features (source);
  expected = hr_test_load_raw ("zarr/expected", relative, 4, n * d);
  g_assert_true (g_str_has_prefix (hr_source_get_name (source), path));
  g_assert_cmpstr (hr_zarr_source_get_store (HR_ZARR_SOURCE (source)), ==, path);
  if (c->array != NULL)
    g_assert_cmpstr (hr_zarr_source_get_array (HR_ZARR_SOURCE (source)), ==, c->array);
  g_assert_cmpuint (hr_source_get_preferred_chunk (source), >, 0);
  out = g_new (float, n *d);
  /* reads of 5 rows: they start and end inside chunks */
  do
    {
      g_assert_true (
          hr_source_read_into (source, out + got * d, MIN (5, n - got), &n_read, NULL, &error));
      g_assert_no_error (error);
      got += n_read;
    }
  while (n_read > 0 && got < n);
  g_assert_cmpuint (got, ==, n);
  assert_same_floats (out, g_bytes_get_data (expected, NULL), n * d, c->expected);
  g_assert_cmpuint (hr_source_get_n_nonfinite (source), ==, c->nonfinite);
}

static void
test_source_errors (void)
{
  g_autofree char *sparse = store_path ("anndata-sparse.zarr");
  g_autofree char *group = store_path ("v3-consolidated.zarr");
  g_autofree char *lzma = store_path ("v2-lzma.zarr");
  g_autoptr (GError) error = NULL;

  g_assert_null (hr_zarr_source_new (sparse, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_null (hr_zarr_source_new (group, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT);
  g_assert_nonnull (strstr (error->message, group));
  g_clear_error (&error);
  g_assert_null (hr_zarr_source_new (group, "inner/missing", &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT);
  g_clear_error (&error);
  g_assert_null (hr_zarr_source_new (lzma, NULL, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "lzma"));
}

/* The projections each VisCy layout names, and the layout's name; none in a store of one
 * array (NULL without an error); the store's errors. */
static void
test_source_projections (void)
{
  static const struct
  {
    const char *store, *layout, *features, *projections;
  } cases[] = {
    { "anndata-v2.zarr", "anndata", "X", "obsm/X_projections" },
    { "anndata-v3-projections.zarr", "anndata", "obsm/X_backbone", "X" },
    { "xarray.zarr", "xarray", "features", "projections" },
    { "viscy-projections.zarr", "anndata", "obsm/X_backbone", "X" },
    { "viscy-features.zarr", "anndata", "X", "obsm/X_projections" },
    { "v3-default-f4.zarr", "array", "", NULL },
  };
  g_autofree char *sparse = store_path ("anndata-sparse.zarr");
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = store_path (cases[i].store);
      g_autoptr (HrSource) features = hr_zarr_source_new (path, NULL, &error);
      g_autoptr (HrSource) projections = NULL;

      g_assert_no_error (error);
      g_assert_cmpstr (hr_zarr_source_get_layout (HR_ZARR_SOURCE (features)), ==, cases[i].layout);
      g_assert_cmpstr (hr_zarr_source_get_array (HR_ZARR_SOURCE (features)), ==, cases[i].features);
      projections = hr_zarr_source_open_projections (path, &error);
      g_assert_no_error (error);
      if (cases[i].projections == NULL)
        {
          g_assert_null (projections);
          continue;
        }
      g_assert_cmpstr (hr_zarr_source_get_array (HR_ZARR_SOURCE (projections)), ==,
                       cases[i].projections);
      g_assert_cmpuint (hr_source_get_n_samples (projections), ==,
                        hr_source_get_n_samples (features));
    }
  /* the projections of a store with a sparse X read (they are dense) */
  {
    g_autoptr (HrSource) none = hr_zarr_source_open_projections (sparse, &error);

    g_assert_no_error (error);
    g_assert_null (none);
  }
  g_assert_null (hr_zarr_source_open_projections ("/nonexistent/store.zarr", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
}

int
main (int argc, char **argv)
{
  JsonObject *manifest;
  JsonArray *list;

  g_test_init (&argc, &argv, NULL);
  manifest = load_manifest ();
  list = json_object_get_array_member (manifest, "arrays");
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *entry = json_array_get_object_element (list, i);
      g_autofree char *name
          = g_strdup_printf ("/zarr/read/%s", json_object_get_string_member (entry, "name"));

      g_test_add_data_func (name, entry, test_array);
    }
  list = json_object_get_array_member (manifest, "refused");
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonObject *entry = json_array_get_object_element (list, i);
      g_autofree char *name
          = g_strdup_printf ("/zarr/refused/%s", json_object_get_string_member (entry, "store"));

      g_test_add_data_func (name, entry, test_refused);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (role_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/zarr/roles/%s", role_cases[i].store);

      g_test_add_data_func (name, &role_cases[i], test_roles);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/zarr/bad/%s", bad_cases[i].name);

      g_test_add_data_func (name, &bad_cases[i], test_bad);
    }
  g_test_add_func ("/zarr/bad/deep-json", test_deep_json);
  g_test_add_func ("/zarr/bad/not-strict-json", test_not_json);
  g_test_add_func ("/zarr/missing-chunks-many-rows", test_missing_chunks_many_rows);
  g_test_add_func ("/zarr/not-a-store", test_not_a_store);
  g_test_add_func ("/zarr/row-of-many-chunks", test_row_of_many_chunks);
  for (gsize i = 0; i < G_N_ELEMENTS (source_cases); i++)
    {
      g_autofree char *name
          = g_strdup_printf ("/zarr/source/%s/%s", source_cases[i].store,
                             source_cases[i].array != NULL ? source_cases[i].array : "layout");

      g_test_add_data_func (name, &source_cases[i], test_source);
    }
  g_test_add_func ("/zarr/source/errors", test_source_errors);
  g_test_add_func ("/zarr/source/projections", test_source_projections);
  return g_test_run ();
}
