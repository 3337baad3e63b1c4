/* headrank tests: reading feature stacks from TIFF
 *
 * Table-driven over the fixtures in tests/data: every good file of tests/data/tiff/manifest.json
 * is read whole (layout auto and the layout of the manifest) and in chunks, and compared bit
 * for bit with its reference matrix; every file of tests/data/bad/manifest.json must fail with
 * the error the manifest names (or, for "ok", read with the non-finite values it lists).
 */
#include <headrank.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

/* -- the manifests ----------------------------------------------------------------------- */

typedef struct
{
  char *file;      /* relative to data/tiff */
  char *path;      /* absolute */
  char *reference; /* absolute */
  char *variant;
  char *compression;
  char *writer;
  char *metadata_kind; /* as the library names it: "imagej", "ome", "tifffile", "none" */
  HrStackLayout layout;
  HrSampleFormat format;
  guint predictor;
  gboolean tiled;
  gboolean big_endian;
  gboolean bigtiff;
  gsize n, d;
  guint width, height, depth, frames, channels, pages;
  /* Whether HR_STACK_LAYOUT_AUTO can decide the layout: not for a stack of several 2-D
   * pages without metadata (pages-map), which could as well be channel planes. */
  gboolean auto_decides;
} GoodCase;

typedef struct
{
  char *file; /* basename, in data/bad */
  char *path;
  char *why;
  char *reference; /* absolute, or NULL */
  HrStackLayout layout;
  gboolean expect_ok;
  HrStackError code; /* when !expect_ok */
  gsize n, d;
  guint64 n_nonfinite;
  GArray *positions; /* guint64 flat indices, for expect_ok */
} BadCase;

static GPtrArray *good_cases;
static GPtrArray *bad_cases;
static GHashTable *references; /* absolute path -> GBytes of native float32 */

static void
good_case_free (gpointer data)
{
  GoodCase *c = data;

  g_free (c->file);
  g_free (c->path);
  g_free (c->reference);
  g_free (c->variant);
  g_free (c->compression);
  g_free (c->writer);
  g_free (c->metadata_kind);
  g_free (c);
}

static void
bad_case_free (gpointer data)
{
  BadCase *c = data;

  g_free (c->file);
  g_free (c->path);
  g_free (c->why);
  g_free (c->reference);
  g_clear_pointer (&c->positions, g_array_unref);
  g_free (c);
}

static int
enum_value_from_nick (GType type, const char *nick)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *value = nick != NULL ? g_enum_get_value_by_nick (klass, nick) : NULL;
  int result = value != NULL ? value->value : -1;

  g_type_class_unref (klass);
  return result;
}

static const char *
enum_nick (GType type, int value)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);
  const char *nick = v != NULL ? v->value_nick : "?";

  g_type_class_unref (klass);
  return nick; /* static strings of a static type */
}

/* Members every entry must have; a missing one makes the whole manifest unusable. */
static const char *
member_string (JsonObject *object, const char *name, GString *problems)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_string_append_printf (problems, "missing string \"%s\"; ", name);
      return NULL;
    }
  return json_node_get_string (node);
}

static gint64
member_int (JsonObject *object, const char *name, GString *problems)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_string_append_printf (problems, "missing integer \"%s\"; ", name);
      return 0;
    }
  return json_node_get_int (node);
}

static gboolean
member_bool (JsonObject *object, const char *name, GString *problems)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    {
      g_string_append_printf (problems, "missing boolean \"%s\"; ", name);
      return FALSE;
    }
  return json_node_get_boolean (node);
}

static JsonArray *
load_manifest (const char *path, JsonParser *parser, GString *problems)
{
  g_autoptr (GError) error = NULL;
  JsonNode *root;

  if (!json_parser_load_from_file (parser, path, &error))
    {
      g_string_append_printf (problems, "%s: %s; ", path, error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_ARRAY (root))
    {
      g_string_append_printf (problems, "%s: not a JSON array; ", path);
      return NULL;
    }
  return json_node_get_array (root);
}

static void
load_good_manifest (GString *problems)
{
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "data", "tiff", "manifest.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *entries = load_manifest (path, parser, problems);

  if (entries == NULL)
    return;
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *o = json_array_get_object_element (entries, i);
      GoodCase *c;
      const char *layout, *dtype, *metadata, *byteorder;
      gsize before = problems->len;

      if (o == NULL)
        {
          g_string_append_printf (problems, "%s: entry %u is not an object; ", path, i);
          continue;
        }
      c = g_new0 (GoodCase, 1);
      c->file = g_strdup (member_string (o, "file", problems));
      c->variant = g_strdup (member_string (o, "variant", problems));
      c->compression = g_strdup (member_string (o, "compression", problems));
      c->writer = g_strdup (member_string (o, "writer", problems));
      layout = member_string (o, "layout", problems);
      dtype = member_string (o, "dtype", problems);
      metadata = member_string (o, "metadata", problems);
      byteorder = member_string (o, "byteorder", problems);
      c->predictor = (guint)member_int (o, "predictor", problems);
      c->tiled = member_bool (o, "tiled", problems);
      c->bigtiff = member_bool (o, "bigtiff", problems);
      c->n = (gsize)member_int (o, "n", problems);
      c->d = (gsize)member_int (o, "d", problems);
      c->width = (guint)member_int (o, "width", problems);
      c->height = (guint)member_int (o, "height", problems);
      c->depth = (guint)member_int (o, "depth", problems);
      c->frames = (guint)member_int (o, "frames", problems);
      c->channels = (guint)member_int (o, "channels", problems);
      c->pages = (guint)member_int (o, "pages", problems);
      if (member_string (o, "reference", problems) != NULL)
        c->reference = g_test_build_filename (G_TEST_DIST, "data", "tiff",
                                              member_string (o, "reference", problems), NULL);
      if (problems->len != before)
        {
          g_string_append_printf (problems, "(%s entry %u); ", path, i);
          good_case_free (c);
          continue;
        }
      c->path = g_test_build_filename (G_TEST_DIST, "data", "tiff", c->file, NULL);
      c->layout = enum_value_from_nick (HR_TYPE_STACK_LAYOUT, layout);
      c->format = enum_value_from_nick (HR_TYPE_SAMPLE_FORMAT, dtype);
      c->big_endian = g_strcmp0 (byteorder, "big") == 0;
      c->metadata_kind
          = g_strdup (g_strcmp0 (metadata, "tifffile-json") == 0 ? "tifffile" : metadata);
      c->auto_decides = g_strcmp0 (c->variant, "pages-map") != 0;
      if ((int)c->layout <= HR_STACK_LAYOUT_AUTO || (int)c->format < 0)
        {
          g_string_append_printf (problems, "%s: unknown layout \"%s\" or dtype \"%s\"; ", c->file,
                                  layout, dtype);
          good_case_free (c);
          continue;
        }
      g_ptr_array_add (good_cases, c);
    }
}

static void
load_bad_manifest (GString *problems)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "bad", "manifest.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *entries = load_manifest (path, parser, problems);

  if (entries == NULL)
    return;
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *o = json_array_get_object_element (entries, i);
      BadCase *c;
      const char *expect, *layout = "auto";
      gsize before = problems->len;

      if (o == NULL)
        {
          g_string_append_printf (problems, "%s: entry %u is not an object; ", path, i);
          continue;
        }
      c = g_new0 (BadCase, 1);
      c->file = g_strdup (member_string (o, "file", problems));
      c->why = g_strdup (member_string (o, "why", problems));
      expect = member_string (o, "expect", problems);
      if (json_object_has_member (o, "layout_arg"))
        layout = member_string (o, "layout_arg", problems);
      c->expect_ok = g_strcmp0 (expect, "ok") == 0;
      if (c->expect_ok)
        {
          JsonArray *positions;

          c->n = (gsize)member_int (o, "n", problems);
          c->d = (gsize)member_int (o, "d", problems);
          c->positions = g_array_new (FALSE, FALSE, sizeof (guint64));
          positions = json_object_has_member (o, "nonfinite_positions")
                          ? json_object_get_array_member (o, "nonfinite_positions")
                          : NULL;
          if (positions == NULL)
            g_string_append (problems, "missing array \"nonfinite_positions\"; ");
          for (guint k = 0; positions != NULL && k < json_array_get_length (positions); k++)
            {
              JsonArray *rc = json_array_get_array_element (positions, k);
              guint64 flat;

              if (rc == NULL || json_array_get_length (rc) != 2)
                {
                  g_string_append (problems, "a non-finite position is not [row, col]; ");
                  break;
                }
              flat = (guint64)json_array_get_int_element (rc, 0) * c->d
                     + (guint64)json_array_get_int_element (rc, 1);
              g_array_append_val (c->positions, flat);
            }
          /* "nonfinite" is the count; the positions list it when it is short */
          c->n_nonfinite = json_object_has_member (o, "nonfinite")
                               ? (guint64)member_int (o, "nonfinite", problems)
                               : c->positions->len;
          if (json_object_has_member (o, "reference"))
            c->reference = g_test_build_filename (G_TEST_DIST, "data", "bad",
                                                  member_string (o, "reference", problems), NULL);
        }
      else
        c->code = enum_value_from_nick (HR_TYPE_STACK_ERROR, expect);
      c->layout = enum_value_from_nick (HR_TYPE_STACK_LAYOUT, layout);
      if (problems->len == before && ((int)c->layout < 0 || (int)c->code < 0))
        g_string_append_printf (problems, "unknown expect \"%s\" or layout_arg \"%s\"; ", expect,
                                layout);
      if (problems->len != before)
        {
          g_string_append_printf (problems, "(%s entry %u); ", path, i);
          bad_case_free (c);
          continue;
        }
      c->path = g_test_build_filename (G_TEST_DIST, "data", "bad", c->file, NULL);
      g_ptr_array_add (bad_cases, c);
    }
}

/* The reference matrix of @path: raw little-endian float32, as native floats. */
static const float *
get_reference (const char *path, gsize n, gsize d)
{
  GBytes *bytes = g_hash_table_lookup (references, path);

  if (bytes == NULL)
    {
      g_autoptr (GError) error = NULL;
      char *contents = NULL;
      gsize length = 0;

      if (!g_file_get_contents (path, &contents, &length, &error))
        {
          g_test_fail_printf ("cannot read the reference: %s", error->message);
          return NULL;
        }
#if G_BYTE_ORDER == G_BIG_ENDIAN
      for (gsize i = 0; i + 4 <= length; i += 4)
        {
          guint32 v;
          memcpy (&v, contents + i, 4);
          v = GUINT32_FROM_LE (v);
          memcpy (contents + i, &v, 4);
        }
#endif
      bytes = g_bytes_new_take (contents, length);
      g_hash_table_insert (references, g_strdup (path), bytes);
    }
  if (g_bytes_get_size (bytes) != n * d * sizeof (float))
    {
      g_test_fail_printf ("%s holds %" G_GSIZE_FORMAT " bytes, not %" G_GSIZE_FORMAT
                          " × %" G_GSIZE_FORMAT " float32 values",
                          path, g_bytes_get_size (bytes), n, d);
      return NULL;
    }
  return g_bytes_get_data (bytes, NULL);
}

/* -- checks ------------------------------------------------------------------------------ */

/* Fails the test unless @got and @want hold the same bits, naming the first difference. */
static void
check_identical (const float *got, const float *want, gsize n, gsize d, const char *what)
{
  gsize n_differ = 0, first = 0;

  if (memcmp (got, want, n * d * sizeof (float)) == 0)
    return;
  for (gsize i = 0; i < n * d; i++)
    {
      if (memcmp (got + i, want + i, sizeof (float)) != 0)
        {
          if (n_differ == 0)
            first = i;
          n_differ++;
        }
    }
  {
    guint32 got_bits, want_bits;

    memcpy (&got_bits, got + first, sizeof got_bits);
    memcpy (&want_bits, want + first, sizeof want_bits);
    g_test_fail_printf ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " values differ; first at "
                        "sample %" G_GSIZE_FORMAT ", feature %" G_GSIZE_FORMAT
                        ": got %.9g (0x%08x), expected %.9g (0x%08x)",
                        what, n_differ, n * d, first / d, first % d, (double)got[first], got_bits,
                        (double)want[first], want_bits);
  }
}

static void
check_info (const GoodCase *c, const HrStackInfo *info)
{
  g_assert_nonnull (info);
  if (info == NULL)
    return;
  g_assert_cmpstr (hr_stack_info_get_path (info), ==, c->path);
  g_assert_cmpstr (enum_nick (HR_TYPE_STACK_LAYOUT, hr_stack_info_get_layout (info)), ==,
                   enum_nick (HR_TYPE_STACK_LAYOUT, c->layout));
  g_assert_cmpstr (enum_nick (HR_TYPE_SAMPLE_FORMAT, hr_stack_info_get_sample_format (info)), ==,
                   enum_nick (HR_TYPE_SAMPLE_FORMAT, c->format));
  g_assert_cmpstr (hr_stack_info_get_compression (info), ==, c->compression);
  g_assert_cmpstr (hr_stack_info_get_metadata_kind (info), ==, c->metadata_kind);
  g_assert_cmpint (hr_stack_info_get_tiled (info), ==, c->tiled);
  g_assert_cmpint (hr_stack_info_get_big_endian (info), ==, c->big_endian);
  g_assert_cmpint (hr_stack_info_get_bigtiff (info), ==, c->bigtiff);
  g_assert_cmpuint (hr_stack_info_get_n_pages (info), ==, c->pages);
  g_assert_cmpint (hr_stack_info_is_per_pixel (info), ==, c->layout == HR_STACK_LAYOUT_CHANNELS);
  g_assert_cmpuint (hr_stack_info_get_width (info), ==, c->width);
  g_assert_cmpuint (hr_stack_info_get_height (info), ==, c->height);
  g_assert_cmpuint (hr_stack_info_get_depth (info), ==, c->depth);
  g_assert_cmpuint (hr_stack_info_get_frames (info), ==, c->frames);
  g_assert_cmpuint (hr_stack_info_get_channels (info), ==, c->channels);
}

static void
check_message_names_file (const GError *error, const char *path)
{
  g_autofree char *base = g_path_get_basename (path);

  if (error != NULL && strstr (error->message, base) == NULL)
    g_test_fail_printf ("the message \"%s\" does not name the file %s", error->message, base);
}

static void
check_stack (const GoodCase *c, HrStackLayout asked)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  const float *want;
  g_autofree char *what = NULL;
  gsize n_positions = 99;
  HrStackLayout layout = HR_STACK_LAYOUT_AUTO;
  guint64 n_samples = 0;

  stack = hr_feature_stack_new_from_file (c->path, asked, NULL, &error);
  if (asked == HR_STACK_LAYOUT_AUTO && !c->auto_decides)
    {
      g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT);
      g_assert_null (stack);
      check_message_names_file (error, c->path);
      return;
    }
  g_assert_no_error (error);
  if (stack == NULL)
    return;
  g_assert_cmpuint (hr_feature_stack_get_n_samples (stack), ==, c->n);
  g_assert_cmpuint (hr_feature_stack_get_n_features (stack), ==, c->d);
  check_info (c, hr_feature_stack_get_info (stack));
  g_object_get (stack, "layout", &layout, "n-samples", &n_samples, NULL);
  g_assert_cmpint (layout, ==, c->layout);
  g_assert_cmpuint (n_samples, ==, c->n);
  g_assert_cmpuint (hr_feature_stack_get_n_nonfinite (stack), ==, 0);
  hr_feature_stack_get_nonfinite_positions (stack, &n_positions);
  g_assert_cmpuint (n_positions, ==, 0);
  if (hr_feature_stack_get_n_samples (stack) != c->n
      || hr_feature_stack_get_n_features (stack) != c->d)
    return;

  want = get_reference (c->reference, c->n, c->d);
  if (want == NULL)
    return;
  what = g_strdup_printf ("%s read with layout %s", c->file,
                          enum_nick (HR_TYPE_STACK_LAYOUT, asked));
  check_identical (hr_feature_stack_peek_data (stack), want, c->n, c->d, what);
}

static void
test_read_good (gconstpointer data)
{
  const GoodCase *c = data;

  check_stack (c, HR_STACK_LAYOUT_AUTO);
  check_stack (c, c->layout);
}

/* Reads @reader from where it is into @out (room for all samples), at most @limit samples,
 * in chunks whose sizes cycle through @chunks. */
static gboolean
read_all_into (HrStackReader *reader, float *out, const gsize *chunks, guint n_chunks, gsize limit,
               gsize *n_total)
{
  g_autoptr (GError) error = NULL;
  gsize d = hr_stack_reader_get_n_features (reader);
  gsize position = hr_stack_reader_get_position (reader);
  gsize got = 0;

  *n_total = 0;
  for (guint k = 0; *n_total < limit; k = (k + 1) % n_chunks)
    {
      gsize want = MIN (chunks[k], limit - *n_total);

      if (!hr_stack_reader_read_into (reader, out + (position + *n_total) * d, want, &got, NULL,
                                      &error))
        {
          g_assert_no_error (error);
          return FALSE;
        }
      g_assert_cmpuint (got, <=, want);
      *n_total += got;
      g_assert_cmpuint (hr_stack_reader_get_position (reader), ==, position + *n_total);
      if (got == 0)
        break;
    }
  return TRUE;
}

static void
test_read_chunks (gconstpointer data)
{
  const GoodCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrStackReader) reader = NULL;
  g_autofree float *out = NULL;
  const float *want;
  const gsize mixed[] = { 1, 7, 64, 130, 7 };
  gsize preferred, total, n_positions = 99;

  reader = hr_stack_reader_new (c->path, c->layout, NULL, &error);
  g_assert_no_error (error);
  if (reader == NULL)
    return;
  g_assert_cmpstr (hr_stack_reader_get_path (reader), ==, c->path);
  g_assert_cmpuint (hr_stack_reader_get_n_samples (reader), ==, c->n);
  g_assert_cmpuint (hr_stack_reader_get_n_features (reader), ==, c->d);
  g_assert_cmpuint (hr_stack_reader_get_position (reader), ==, 0);
  check_info (c, hr_stack_reader_get_info (reader));
  if (hr_stack_reader_get_n_samples (reader) != c->n
      || hr_stack_reader_get_n_features (reader) != c->d)
    return;
  want = get_reference (c->reference, c->n, c->d);
  if (want == NULL)
    return;

  preferred = hr_stack_reader_get_preferred_chunk (reader);
  g_assert_cmpuint (preferred, >=, 1);
  g_assert_cmpuint (preferred, <=, c->n);
  out = g_new (float, c->n * c->d);

  /* the preferred chunk */
  if (!read_all_into (reader, out, &preferred, 1, G_MAXSIZE, &total))
    return;
  g_assert_cmpuint (total, ==, c->n);
  check_identical (out, want, c->n, c->d, "in preferred chunks");

  /* Again, in odd chunks (1 and 7 samples among others) that start and end inside strips,
   * tiles and planes: read_into up to the middle, read_chunk from there. Chunks of 1 or 7
   * throughout would be slow: in a file of channel pages or sample pages, every chunk makes
   * libtiff switch pages and decode a strip again, and LZMA decoders are slow to start. */
  memset (out, 0xff, c->n * c->d * sizeof (float));
  if (!hr_stack_reader_seek (reader, 0, &error))
    {
      g_assert_no_error (error);
      return;
    }
  if (!read_all_into (reader, out, mixed, G_N_ELEMENTS (mixed), c->n / 2, &total))
    return;
  g_assert_cmpuint (total, ==, c->n / 2);
  for (gsize position = c->n / 2; position < c->n;)
    {
      g_autoptr (HrFeatureStack) chunk = hr_stack_reader_read_chunk (reader, 37, NULL, &error);
      gsize rows;

      g_assert_no_error (error);
      g_assert_nonnull (chunk);
      if (chunk == NULL)
        return;
      rows = hr_feature_stack_get_n_samples (chunk);
      g_assert_cmpuint (rows, ==, MIN ((gsize)37, c->n - position));
      g_assert_cmpuint (hr_feature_stack_get_n_features (chunk), ==, c->d);
      if (rows == 0 || rows > c->n - position)
        return;
      check_info (c, hr_feature_stack_get_info (chunk));
      memcpy (out + position * c->d, hr_feature_stack_peek_data (chunk),
              rows * c->d * sizeof (float));
      position += rows;
    }
  check_identical (out, want, c->n, c->d, "in chunks of 1, 7, 64, 130, 7, … then 37");
  {
    g_autoptr (HrFeatureStack) end = hr_stack_reader_read_chunk (reader, 0, NULL, &error);

    g_assert_no_error (error);
    g_assert_null (end);
  }

  g_assert_false (hr_stack_reader_seek (reader, c->n + 1, &error));
  g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  g_assert_cmpuint (hr_stack_reader_get_n_nonfinite (reader), ==, 0);
  hr_stack_reader_get_nonfinite_positions (reader, &n_positions);
  g_assert_cmpuint (n_positions, ==, 0);
}

/* -- bad files --------------------------------------------------------------------------- */

static void
check_nonfinite (const BadCase *c, guint64 count, const guint64 *positions, gsize n_positions,
                 const char *who)
{
  gsize expected = MIN (c->positions->len, (gsize)HR_NONFINITE_MAX_POSITIONS);

  if (count != c->n_nonfinite)
    g_test_fail_printf ("%s: %s counts %" G_GUINT64_FORMAT
                        " non-finite values, expected %" G_GUINT64_FORMAT,
                        c->file, who, count, c->n_nonfinite);
  if (n_positions != expected)
    {
      g_test_fail_printf ("%s: %s lists %" G_GSIZE_FORMAT " positions, expected %" G_GSIZE_FORMAT,
                          c->file, who, n_positions, expected);
      return;
    }
  for (gsize i = 0; i < n_positions; i++)
    if (positions[i] != g_array_index (c->positions, guint64, i))
      g_test_fail_printf ("%s: %s: non-finite position %" G_GSIZE_FORMAT " is %" G_GUINT64_FORMAT
                          " (sample %" G_GUINT64_FORMAT ", feature %" G_GUINT64_FORMAT
                          "), expected %" G_GUINT64_FORMAT,
                          c->file, who, i, positions[i], positions[i] / c->d, positions[i] % c->d,
                          g_array_index (c->positions, guint64, i));
}

static void
check_bad_ok (const BadCase *c)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  g_autoptr (HrStackReader) reader = NULL;
  g_autofree float *out = NULL;
  const guint64 *positions;
  const gsize three = 3;
  gsize n_positions, total;
  guint64 n_in_chunks = 0;
  GArray *all;

  stack = hr_feature_stack_new_from_file (c->path, c->layout, NULL, &error);
  g_assert_no_error (error);
  if (stack == NULL)
    return;
  g_assert_cmpuint (hr_feature_stack_get_n_samples (stack), ==, c->n);
  g_assert_cmpuint (hr_feature_stack_get_n_features (stack), ==, c->d);
  if (hr_feature_stack_get_n_samples (stack) != c->n
      || hr_feature_stack_get_n_features (stack) != c->d)
    return;
  positions = hr_feature_stack_get_nonfinite_positions (stack, &n_positions);
  check_nonfinite (c, hr_feature_stack_get_n_nonfinite (stack), positions, n_positions,
                   "HrFeatureStack");
  if (c->reference != NULL)
    {
      const float *want = get_reference (c->reference, c->n, c->d);

      if (want != NULL)
        check_identical (hr_feature_stack_peek_data (stack), want, c->n, c->d, c->file);
    }

  /* The reader counts the same, in chunks that split the non-finite values apart. */
  reader = hr_stack_reader_new (c->path, c->layout, NULL, &error);
  g_assert_no_error (error);
  if (reader == NULL)
    return;
  out = g_new (float, c->n * c->d);
  if (!read_all_into (reader, out, &three, 1, G_MAXSIZE, &total))
    return;
  g_assert_cmpuint (total, ==, c->n);
  positions = hr_stack_reader_get_nonfinite_positions (reader, &n_positions);
  check_nonfinite (c, hr_stack_reader_get_n_nonfinite (reader), positions, n_positions,
                   "HrStackReader");

  /* Chunks from read_chunk count their own non-finite values, at positions in the chunk. */
  if (!hr_stack_reader_seek (reader, 0, &error))
    {
      g_assert_no_error (error);
      return;
    }
  all = g_array_new (FALSE, FALSE, sizeof (guint64));
  for (gsize first = 0; first < c->n;)
    {
      g_autoptr (HrFeatureStack) chunk = hr_stack_reader_read_chunk (reader, 3, NULL, &error);

      g_assert_no_error (error);
      if (chunk == NULL)
        break;
      positions = hr_feature_stack_get_nonfinite_positions (chunk, &n_positions);
      for (gsize i = 0; i < n_positions; i++)
        {
          guint64 flat = positions[i] + first * c->d;
          g_array_append_val (all, flat);
        }
      n_in_chunks += hr_feature_stack_get_n_nonfinite (chunk);
      first += hr_feature_stack_get_n_samples (chunk);
    }
  if (c->n_nonfinite <= HR_NONFINITE_MAX_POSITIONS)
    check_nonfinite (c, n_in_chunks, (const guint64 *)(void *)all->data, all->len, "read_chunk");
  g_array_unref (all);
}

static void
test_read_bad (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  g_autoptr (HrStackReader) reader = NULL;

  g_test_message ("%s: %s", c->file, c->why);
  if (c->expect_ok)
    {
      check_bad_ok (c);
      return;
    }

  stack = hr_feature_stack_new_from_file (c->path, c->layout, NULL, &error);
  g_assert_null (stack);
  g_assert_error (error, HR_STACK_ERROR, (int)c->code);
  if (error != NULL && !g_error_matches (error, HR_STACK_ERROR, c->code))
    g_test_message ("got %s: %s",
                    error->domain == HR_STACK_ERROR ? enum_nick (HR_TYPE_STACK_ERROR, error->code)
                                                    : g_quark_to_string (error->domain),
                    error->message);
  check_message_names_file (error, c->path);
  g_clear_error (&error);

  /* The reader checks everything but the whole-file allocation when it opens. */
  reader = hr_stack_reader_new (c->path, c->layout, NULL, &error);
  if (c->code == HR_STACK_ERROR_TOO_LARGE && reader != NULL)
    return; /* a huge file may be read in chunks; it is not read here */
  g_assert_null (reader);
  g_assert_error (error, HR_STACK_ERROR, (int)c->code);
  check_message_names_file (error, c->path);
}

/* libtiff has process-wide error and warning handlers that print to stderr: none of the
 * bad files may reach them (nor make the library print anything itself), and neither may
 * the tags of the good files (tifffile's and ImageJ's private tags, for instance). */
static void
test_read_silent (void)
{
  if (g_test_subprocess ())
    {
      for (guint i = 0; i < bad_cases->len; i++)
        {
          const BadCase *c = g_ptr_array_index (bad_cases, i);
          g_autoptr (HrFeatureStack) stack = NULL;
          g_autoptr (HrStackReader) reader = NULL;

          stack = hr_feature_stack_new_from_file (c->path, c->layout, NULL, NULL);
          reader = hr_stack_reader_new (c->path, c->layout, NULL, NULL);
        }
      for (guint i = 0; i < good_cases->len; i++)
        {
          const GoodCase *c = g_ptr_array_index (good_cases, i);
          g_autoptr (HrStackReader) reader = hr_stack_reader_new (c->path, c->layout, NULL, NULL);
        }
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr_unmatched ("*?*");
}

/* -- other errors ------------------------------------------------------------------------ */

static void
test_read_nonexistent (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "no-such-file.tif", NULL);
  g_autoptr (HrFeatureStack) stack
      = hr_feature_stack_new_from_file (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_autoptr (HrStackReader) reader = NULL;

  g_assert_null (stack);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  check_message_names_file (error, path);
  g_clear_error (&error);

  reader = hr_stack_reader_new (path, HR_STACK_LAYOUT_MATRIX, NULL, &error);
  g_assert_null (reader);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  check_message_names_file (error, path);
}

static void
test_read_directory (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", "tiff", NULL);
  g_autoptr (HrFeatureStack) stack
      = hr_feature_stack_new_from_file (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_autoptr (HrStackReader) reader = NULL;

  g_assert_null (stack);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
  check_message_names_file (error, path);
  g_clear_error (&error);

  reader = hr_stack_reader_new (path, HR_STACK_LAYOUT_AUTO, NULL, &error);
  g_assert_null (reader);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
}

static const GoodCase *
find_good_case (const char *variant, const char *dtype, const char *compression)
{
  HrSampleFormat format = enum_value_from_nick (HR_TYPE_SAMPLE_FORMAT, dtype);

  for (guint i = 0; i < good_cases->len; i++)
    {
      const GoodCase *c = g_ptr_array_index (good_cases, i);

      if (g_str_equal (c->variant, variant) && c->format == format
          && g_str_equal (c->compression, compression))
        return c;
    }
  g_test_skip_printf ("no %s %s %s fixture", variant, dtype, compression);
  return NULL;
}

static void
test_read_cancelled (void)
{
  const GoodCase *c = find_good_case ("matrix", "float32", "deflate");
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  g_autoptr (HrStackReader) reader = NULL;
  float row[64];
  gsize got = 99;

  if (c == NULL)
    return;
  g_assert_cmpuint (c->d, <=, G_N_ELEMENTS (row));

  /* an open reader, cancelled before reading */
  reader = hr_stack_reader_new (c->path, HR_STACK_LAYOUT_AUTO, cancellable, &error);
  g_assert_no_error (error);
  if (reader == NULL)
    return;
  g_cancellable_cancel (cancellable);
  g_assert_false (hr_stack_reader_read_into (reader, row, 1, &got, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (got, ==, 0);
  g_assert_cmpuint (hr_stack_reader_get_position (reader), ==, 0);
  g_clear_error (&error);
  g_assert_null (hr_stack_reader_read_chunk (reader, 1, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  stack = hr_feature_stack_new_from_file (c->path, HR_STACK_LAYOUT_AUTO, cancellable, &error);
  g_assert_null (stack);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);

  g_clear_object (&reader);
  reader = hr_stack_reader_new (c->path, HR_STACK_LAYOUT_AUTO, cancellable, &error);
  g_assert_null (reader);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* -- stacks made in memory --------------------------------------------------------------- */

static float *
make_values (gsize n_values)
{
  float *values = g_new (float, n_values);

  for (gsize i = 0; i < n_values; i++)
    values[i] = (float)i * 0.25f - 3.0f;
  return values;
}

static void
check_memory_info (HrFeatureStack *stack)
{
  HrStackInfo *info = hr_feature_stack_get_info (stack);

  g_assert_nonnull (info);
  if (info == NULL)
    return;
  g_assert_null (hr_stack_info_get_path (info));
  g_assert_null (hr_stack_info_get_compression (info));
  g_assert_cmpint (hr_stack_info_get_layout (info), ==, HR_STACK_LAYOUT_MATRIX);
  g_assert_cmpint (hr_stack_info_get_sample_format (info), ==, HR_SAMPLE_FORMAT_FLOAT32);
  g_assert_cmpuint (hr_stack_info_get_n_pages (info), ==, 0);
  g_assert_false (hr_stack_info_is_per_pixel (info));
}

static void
test_bytes_wrong_size (void)
{
  g_autofree float *values = make_values (12);
  g_autoptr (GBytes) bytes = g_bytes_new (values, 12 * sizeof (float));
  g_autoptr (GBytes) odd = g_bytes_new (values, 12 * sizeof (float) - 1);
  const gsize shapes[][2]
      = { { 3, 5 }, { 5, 3 }, { 13, 1 }, { 0, 12 }, { 12, 0 }, { 0, 0 }, { G_MAXSIZE / 2, 4 } };

  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (HrFeatureStack) stack
          = hr_feature_stack_new_from_bytes (bytes, shapes[i][0], shapes[i][1], &error);

      g_assert_null (stack);
      g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
    }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_from_bytes (odd, 1, 3, &error);

    g_assert_null (stack);
    g_assert_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID);
  }
}

static void
test_bytes_shared (void)
{
  g_autofree float *values = make_values (12);
  g_autoptr (GBytes) bytes = g_bytes_new (values, 12 * sizeof (float));
  g_autoptr (GBytes) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_from_bytes (bytes, 4, 3, &error);
  gsize size = 0;

  g_assert_no_error (error);
  if (stack == NULL)
    return;
  g_assert_cmpuint (hr_feature_stack_get_n_samples (stack), ==, 4);
  g_assert_cmpuint (hr_feature_stack_get_n_features (stack), ==, 3);
  /* aligned bytes are not copied, on the way in or out */
  g_assert_true (hr_feature_stack_peek_data (stack) == g_bytes_get_data (bytes, NULL));
  out = hr_feature_stack_get_data (stack);
  g_assert_true (g_bytes_get_data (out, &size) == g_bytes_get_data (bytes, NULL));
  g_assert_cmpuint (size, ==, 12 * sizeof (float));
  check_identical (hr_feature_stack_peek_data (stack), values, 4, 3, "new_from_bytes");
  check_memory_info (stack);
  g_assert_cmpuint (hr_feature_stack_get_n_nonfinite (stack), ==, 0);
}

static void
test_bytes_unaligned (void)
{
  g_autofree float *values = make_values (6);
  g_autofree guint8 *storage = g_malloc (6 * sizeof (float) + 1);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  const float *data;

  memcpy (storage + 1, values, 6 * sizeof (float));
  bytes = g_bytes_new_static (storage + 1, 6 * sizeof (float));
  stack = hr_feature_stack_new_from_bytes (bytes, 2, 3, &error);
  g_assert_no_error (error);
  if (stack == NULL)
    return;
  data = hr_feature_stack_peek_data (stack);
  g_assert_cmpuint (((guintptr)data) % G_ALIGNOF (float), ==, 0);
  check_identical (data, values, 2, 3, "unaligned bytes");
}

static void
test_bytes_nonfinite (void)
{
  float values[6] = { 1.0f, 0.0f, 2.0f, 3.0f, 4.0f, 0.0f };
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  const guint64 *positions;
  gsize n_positions = 0;

  values[1] = g_test_rand_bit () ? NAN : -INFINITY;
  values[5] = INFINITY;
  bytes = g_bytes_new (values, sizeof values);
  stack = hr_feature_stack_new_from_bytes (bytes, 2, 3, &error);
  g_assert_no_error (error);
  if (stack == NULL)
    return;
  g_assert_cmpuint (hr_feature_stack_get_n_nonfinite (stack), ==, 2);
  positions = hr_feature_stack_get_nonfinite_positions (stack, &n_positions);
  g_assert_cmpuint (n_positions, ==, 2);
  if (n_positions == 2)
    {
      g_assert_cmpuint (positions[0], ==, 1);
      g_assert_cmpuint (positions[1], ==, 5);
    }
}

static void
test_copy (void)
{
  g_autofree float *values = make_values (20);
  g_autoptr (HrFeatureStack) stack = hr_feature_stack_new_copy (values, 4, 5);
  g_autofree float *expected = g_memdup2 (values, 20 * sizeof (float));

  g_assert_nonnull (stack);
  if (stack == NULL)
    return;
  g_assert_true (hr_feature_stack_peek_data (stack) != values);
  values[7] = 1234.5f; /* the stack owns its copy */
  check_identical (hr_feature_stack_peek_data (stack), expected, 4, 5, "new_copy");
  check_memory_info (stack);
}

typedef struct
{
  guint calls;
  const float *data;
} DestroyCount;

static void
count_destroy (gpointer user_data)
{
  DestroyCount *count = user_data;

  count->calls++;
}

static void
test_borrowed (void)
{
  g_autofree float *values = make_values (15);
  DestroyCount count = { 0, NULL };
  HrFeatureStack *stack = hr_feature_stack_new_borrowed (values, 5, 3, count_destroy, &count);
  GBytes *bytes;
  gsize n_features = 0;

  g_assert_nonnull (stack);
  if (stack == NULL)
    return;
  g_assert_true (hr_feature_stack_peek_data (stack) == values);
  g_assert_true (hr_feature_stack_get_row (stack, 3, &n_features) == values + 9);
  g_assert_cmpuint (n_features, ==, 3);
  check_memory_info (stack);

  /* the data outlive the stack while a GBytes from it lives */
  bytes = hr_feature_stack_get_data (stack);
  g_assert_true (g_bytes_get_data (bytes, NULL) == values);
  g_object_unref (stack);
  g_assert_cmpuint (count.calls, ==, 0);
  g_bytes_unref (bytes);
  g_assert_cmpuint (count.calls, ==, 1);

  /* and without one, dropping the stack releases them, once */
  stack = hr_feature_stack_new_borrowed (values, 15, 1, count_destroy, &count);
  g_assert_cmpuint (count.calls, ==, 1);
  g_object_unref (stack);
  g_assert_cmpuint (count.calls, ==, 2);

  /* NULL destroy: nothing to call */
  stack = hr_feature_stack_new_borrowed (values, 1, 15, NULL, NULL);
  g_assert_cmpuint (hr_feature_stack_get_n_features (stack), ==, 15);
  g_object_unref (stack);
}

static void
test_get_row (void)
{
  const GoodCase *c = find_good_case ("matrix", "float64", "lzw");
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  const float *want;

  if (c == NULL)
    return;
  stack = hr_feature_stack_new_from_file (c->path, HR_STACK_LAYOUT_MATRIX, NULL, &error);
  g_assert_no_error (error);
  if (stack == NULL)
    return;
  want = get_reference (c->reference, c->n, c->d);
  if (want == NULL)
    return;
  for (gsize i = 0; i < c->n; i++)
    {
      gsize n_features = 0;
      const float *row = hr_feature_stack_get_row (stack, i, &n_features);

      g_assert_cmpuint (n_features, ==, c->d);
      g_assert_true (row == hr_feature_stack_peek_data (stack) + i * c->d);
      check_identical (row, want + i * c->d, 1, c->d, "get_row");
    }
  g_assert_nonnull (hr_feature_stack_get_row (stack, c->n - 1, NULL));
}

/* -- main -------------------------------------------------------------------------------- */

static void
test_manifests (gconstpointer data)
{
  const char *problems = data;

  if (problems[0] != '\0')
    g_test_fail_printf ("the fixture manifests are not usable: %s", problems);
  g_assert_cmpuint (good_cases->len, >, 0);
  g_assert_cmpuint (bad_cases->len, >, 0);
}

static char *
good_case_test_suffix (const GoodCase *c)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "%s/%s/%s", c->variant, enum_nick (HR_TYPE_SAMPLE_FORMAT, c->format),
                          c->compression);
  if (c->predictor > 1)
    g_string_append_printf (s, "-p%u", c->predictor);
  g_string_append_printf (s, "/%s/%s", c->tiled ? "tiles" : "strips",
                          c->big_endian ? "big" : "little");
  if (c->bigtiff)
    g_string_append (s, "/bigtiff");
  g_string_append_printf (s, "/%s", c->writer);
  return g_string_free (s, FALSE);
}

int
main (int argc, char **argv)
{
  g_autoptr (GString) problems = g_string_new (NULL);
  int status;

  g_test_init (&argc, &argv, NULL);
  g_test_set_nonfatal_assertions ();

  good_cases = g_ptr_array_new_with_free_func (good_case_free);
  bad_cases = g_ptr_array_new_with_free_func (bad_case_free);
  references
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
  load_good_manifest (problems);
  load_bad_manifest (problems);

  g_test_add_data_func ("/stack/read/manifests", problems->str, test_manifests);
  for (guint i = 0; i < good_cases->len; i++)
    {
      const GoodCase *c = g_ptr_array_index (good_cases, i);
      g_autofree char *suffix = good_case_test_suffix (c);
      g_autofree char *whole = g_strconcat ("/stack/read/", suffix, NULL);
      g_autofree char *chunks = g_strconcat ("/stack/reader/", suffix, NULL);

      g_test_add_data_func (whole, c, test_read_good);
      g_test_add_data_func (chunks, c, test_read_chunks);
    }
  for (guint i = 0; i < bad_cases->len; i++)
    {
      const BadCase *c = g_ptr_array_index (bad_cases, i);
      g_autofree char *name = g_strndup (c->file, strcspn (c->file, "."));
      g_autofree char *test_path = g_strconcat ("/stack/bad/", name, NULL);

      g_test_add_data_func (test_path, c, test_read_bad);
    }
  g_test_add_func ("/stack/libtiff-prints-nothing", test_read_silent);
  g_test_add_func ("/stack/error/nonexistent", test_read_nonexistent);
  g_test_add_func ("/stack/error/directory", test_read_directory);
  g_test_add_func ("/stack/error/cancelled", test_read_cancelled);
  g_test_add_func ("/stack/memory/bytes/wrong-size", test_bytes_wrong_size);
  g_test_add_func ("/stack/memory/bytes/shared", test_bytes_shared);
  g_test_add_func ("/stack/memory/bytes/unaligned", test_bytes_unaligned);
  g_test_add_func ("/stack/memory/bytes/nonfinite", test_bytes_nonfinite);
  g_test_add_func ("/stack/memory/copy", test_copy);
  g_test_add_func ("/stack/memory/borrowed", test_borrowed);
  g_test_add_func ("/stack/row", test_get_row);

  status = g_test_run ();

  g_hash_table_unref (references);
  g_ptr_array_unref (bad_cases);
  g_ptr_array_unref (good_cases);
  return status;
}
