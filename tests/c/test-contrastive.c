/* headrank tests: contrastive measures on positive pairs, and pair files
 *
 * Table-driven over tests/data/contrastive/manifest.json (written by make_contrastive.py
 * there from torch and pytorch-metric-learning in float64): every measure of every case, from
 * raw pointers and from GBytes (aligned and not), must match within 1e-6 relative or 1e-7
 * absolute (manifest "tolerance"). Properties that need no reference: batch sizes of P and
 * more give one batch, alignment and positive cosine do not depend on batching. Bad
 * parameters and bad data must fail with the documented HR_ANALYSIS_ERROR codes. Pair files
 * are written to a temporary directory, read back, and every malformed one must be refused
 * naming its file and line.
 */
#include <headrank.h>

#include "test-util.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

static JsonParser *manifest_parser;
static double tol_abs = 1e-7, tol_rel = 1e-6;
static char *tmp_dir;

static const char *const measure_names[] = {
  "alignment", "uniformity", "ntxent", "triplet", "positive_cosine", "negative_cosine",
};

static char *
data_path (const char *relative)
{
  return g_test_build_filename (G_TEST_DIST, "data", "contrastive", relative, NULL);
}

static GBytes *
load_f32 (const char *relative, gsize n_values)
{
  return hr_test_load_raw ("contrastive", relative, sizeof (float), n_values);
}

static double
measure (HrContrastive *c, guint index)
{
  switch (index)
    {
      case 0:
        return hr_contrastive_get_alignment (c);
      case 1:
        return hr_contrastive_get_uniformity (c);
      case 2:
        return hr_contrastive_get_ntxent (c);
      case 3:
        return hr_contrastive_get_triplet (c);
      case 4:
        return hr_contrastive_get_positive_cosine (c);
      case 5:
        return hr_contrastive_get_negative_cosine (c);
      default:
        g_assert_not_reached ();
    }
}

static void
check_close (const char *what, const char *name, double got, double expected)
{
  double allowed = MAX (tol_abs, tol_rel * fabs (expected));

  if (!(fabs (got - expected) <= allowed))
    g_test_fail_printf ("%s: %s is %.12g, torch gives %.12g (|Δ| = %.3g > %.3g)", what, name, got,
                        expected, fabs (got - expected), allowed);
}

typedef struct
{
  GBytes *anchors;
  GBytes *positives;
  GBytes *negatives; /* NULL: in-batch */
  gsize n_pairs;
  gsize dimension;
  gsize batch_size;
  double temperature;
  double margin;
} Case;

static void
case_load (JsonObject *object, Case *c)
{
  JsonObject *files = json_object_get_object_member (object, "files");

  c->n_pairs = json_object_get_int_member (object, "n_pairs");
  c->dimension = json_object_get_int_member (object, "dimension");
  c->batch_size = json_object_get_int_member (object, "batch_size");
  c->temperature = json_object_get_double_member (object, "temperature");
  c->margin = json_object_get_double_member (object, "margin");
  c->anchors
      = load_f32 (json_object_get_string_member (files, "anchors"), c->n_pairs * c->dimension);
  c->positives
      = load_f32 (json_object_get_string_member (files, "positives"), c->n_pairs * c->dimension);
  c->negatives = json_object_has_member (files, "negatives") ? load_f32 (
                     json_object_get_string_member (files, "negatives"), c->n_pairs * c->dimension)
                                                             : NULL;
}

static void
case_clear (Case *c)
{
  g_clear_pointer (&c->anchors, g_bytes_unref);
  g_clear_pointer (&c->positives, g_bytes_unref);
  g_clear_pointer (&c->negatives, g_bytes_unref);
}

static const float *
floats (GBytes *bytes)
{
  return bytes != NULL ? g_bytes_get_data (bytes, NULL) : NULL;
}

/* The same bytes at an odd address. */
static GBytes *
unaligned_copy (GBytes *bytes)
{
  gsize size;
  const guint8 *data;
  guint8 *buffer;
  g_autoptr (GBytes) whole = NULL;

  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &size);
  buffer = g_malloc (size + 1);
  memcpy (buffer + 1, data, size);
  whole = g_bytes_new_take (buffer, size + 1);
  return g_bytes_new_from_bytes (whole, 1, size);
}

static void
check_against_manifest (const char *what, HrContrastive *result, JsonObject *object, const Case *c)
{
  JsonObject *expected = json_object_get_object_member (object, "expected");

  g_assert_nonnull (result);
  g_assert_cmpuint (hr_contrastive_get_n_pairs (result), ==, c->n_pairs);
  g_assert_cmpuint (hr_contrastive_get_batch_size (result), ==, c->batch_size);
  g_assert_cmpfloat (hr_contrastive_get_temperature (result), ==, c->temperature);
  g_assert_cmpfloat (hr_contrastive_get_margin (result), ==, c->margin);
  g_assert_cmpint (hr_contrastive_has_negatives (result), ==, c->negatives != NULL);
  for (guint i = 0; i < G_N_ELEMENTS (measure_names); i++)
    check_close (what, measure_names[i], measure (result, i),
                 json_object_get_double_member (expected, measure_names[i]));
}

static void
test_measures (gconstpointer data)
{
  JsonObject *object = (JsonObject *)data;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrContrastive) raw = NULL;
  g_autoptr (HrContrastive) from_bytes = NULL;
  g_autoptr (HrContrastive) unaligned = NULL;
  g_autoptr (GBytes) ua = NULL, up = NULL, un = NULL;
  Case c = { 0 };

  case_load (object, &c);

  raw = hr_contrastive_new (floats (c.anchors), floats (c.positives), floats (c.negatives),
                            c.n_pairs, c.dimension, c.batch_size, c.temperature, c.margin, &error);
  g_assert_no_error (error);
  check_against_manifest ("raw", raw, object, &c);

  from_bytes = hr_contrastive_new_from_bytes (c.anchors, c.positives, c.negatives, c.dimension,
                                              c.batch_size, c.temperature, c.margin, &error);
  g_assert_no_error (error);
  check_against_manifest ("bytes", from_bytes, object, &c);

  ua = unaligned_copy (c.anchors);
  up = unaligned_copy (c.positives);
  un = unaligned_copy (c.negatives);
  unaligned = hr_contrastive_new_from_bytes (ua, up, un, c.dimension, c.batch_size, c.temperature,
                                             c.margin, &error);
  g_assert_no_error (error);
  check_against_manifest ("unaligned bytes", unaligned, object, &c);

  case_clear (&c);
}

static JsonObject *
find_case (const char *id)
{
  JsonArray *cases = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (manifest_parser)), "cases");

  for (guint i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *object = json_array_get_object_element (cases, i);

      if (g_strcmp0 (json_object_get_string_member (object, "id"), id) == 0)
        return object;
    }
  g_assert_not_reached ();
}

static HrContrastive *
compute (const Case *c, gsize batch_size)
{
  g_autoptr (GError) error = NULL;
  HrContrastive *result;

  result = hr_contrastive_new_from_bytes (c->anchors, c->positives, c->negatives, c->dimension,
                                          batch_size, c->temperature, c->margin, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  return result;
}

/* Batches of P pairs or more are one batch: the same numbers, bit for bit. */
static void
test_one_batch (void)
{
  Case c = { 0 };
  g_autoptr (HrContrastive) exact = NULL, larger = NULL;

  case_load (find_case ("p10-d32-b64"), &c);
  exact = compute (&c, c.n_pairs);
  larger = compute (&c, 1000);
  for (guint i = 0; i < G_N_ELEMENTS (measure_names); i++)
    g_assert_cmpfloat (measure (exact, i), ==, measure (larger, i));
  case_clear (&c);
}

/* Alignment and positive cosine are means over pairs: batching must not change them, while
 * NT-Xent and uniformity must change with the batch size. */
static void
test_batch_independent (void)
{
  Case c = { 0 };
  g_autoptr (HrContrastive) whole = NULL, small = NULL;

  case_load (find_case ("p257-d32-b64-merged"), &c);
  whole = compute (&c, 1000);
  small = compute (&c, 3);
  g_assert_cmpfloat_with_epsilon (hr_contrastive_get_alignment (whole),
                                  hr_contrastive_get_alignment (small), 1e-12);
  g_assert_cmpfloat_with_epsilon (hr_contrastive_get_positive_cosine (whole),
                                  hr_contrastive_get_positive_cosine (small), 1e-12);
  g_assert_cmpfloat (fabs (hr_contrastive_get_ntxent (whole) - hr_contrastive_get_ntxent (small)),
                     >, 0.1);
  g_assert_cmpfloat (
      fabs (hr_contrastive_get_uniformity (whole) - hr_contrastive_get_uniformity (small)), >,
      0.01);
  case_clear (&c);
}

static void
test_ref (void)
{
  Case c = { 0 };
  HrContrastive *result, *copy;

  case_load (find_case ("p2-d8-b2"), &c);
  result = compute (&c, 2);
  g_assert_true (hr_contrastive_ref (result) == result);
  hr_contrastive_unref (result);
  copy = g_boxed_copy (HR_TYPE_CONTRASTIVE, result);
  g_assert_true (copy == result);
  g_boxed_free (HR_TYPE_CONTRASTIVE, copy);
  g_assert_cmpfloat (hr_contrastive_get_alignment (result), >, 0.0);
  hr_contrastive_unref (result);
  case_clear (&c);
}

/* -- errors -------------------------------------------------------------------------------- */

typedef struct
{
  const char *name;
  gsize n_pairs;
  gsize dimension;
  gsize batch_size;
  double temperature;
  double margin;
  int bad_matrix; /* -1 none; 0, 1, 2: a NaN or infinity in anchors, positives, negatives */
  int code;
} ErrorCase;

static const ErrorCase error_cases[] = {
  { "dimension-0", 4, 0, 2, 0.1, 1.0, -1, HR_ANALYSIS_ERROR_INVALID },
  { "batch-1", 4, 3, 1, 0.1, 1.0, -1, HR_ANALYSIS_ERROR_INVALID },
  { "batch-0", 4, 3, 0, 0.1, 1.0, -1, HR_ANALYSIS_ERROR_INVALID },
  { "temperature-0", 4, 3, 2, 0.0, 1.0, -1, HR_ANALYSIS_ERROR_INVALID },
  { "temperature-negative", 4, 3, 2, -0.5, 1.0, -1, HR_ANALYSIS_ERROR_INVALID },
  { "temperature-nan", 4, 3, 2, NAN, 1.0, -1, HR_ANALYSIS_ERROR_INVALID },
  { "temperature-inf", 4, 3, 2, INFINITY, 1.0, -1, HR_ANALYSIS_ERROR_INVALID },
  { "margin-negative", 4, 3, 2, 0.1, -0.1, -1, HR_ANALYSIS_ERROR_INVALID },
  { "margin-nan", 4, 3, 2, 0.1, NAN, -1, HR_ANALYSIS_ERROR_INVALID },
  { "one-pair", 1, 3, 2, 0.1, 1.0, -1, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES },
  { "no-pairs", 0, 3, 2, 0.1, 1.0, -1, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES },
  { "nan-anchor", 4, 3, 2, 0.1, 1.0, 0, HR_ANALYSIS_ERROR_NUMERIC },
  { "inf-positive", 4, 3, 2, 0.1, 1.0, 1, HR_ANALYSIS_ERROR_NUMERIC },
  { "nan-negative", 4, 3, 2, 0.1, 1.0, 2, HR_ANALYSIS_ERROR_NUMERIC },
};

static void
test_error (gconstpointer data)
{
  const ErrorCase *e = data;
  float matrices[3][12];
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) bytes_error = NULL;
  g_autoptr (HrContrastive) result = NULL;
  g_autoptr (HrContrastive) from_bytes = NULL;
  g_autoptr (GBytes) a = NULL, p = NULL, n = NULL;
  gsize size;

  for (guint m = 0; m < 3; m++)
    for (guint i = 0; i < 12; i++)
      matrices[m][i] = (float)((i * 7 + m * 3) % 11) - 5.0f;
  if (e->bad_matrix >= 0)
    matrices[e->bad_matrix][5] = e->bad_matrix == 1 ? INFINITY : NAN;

  result = hr_contrastive_new (matrices[0], matrices[1], matrices[2], e->n_pairs, e->dimension,
                               e->batch_size, e->temperature, e->margin, &error);
  g_assert_null (result);
  g_assert_error (error, HR_ANALYSIS_ERROR, e->code);

  size = e->n_pairs * e->dimension * sizeof (float);
  a = g_bytes_new (matrices[0], size);
  p = g_bytes_new (matrices[1], size);
  n = g_bytes_new (matrices[2], size);
  from_bytes = hr_contrastive_new_from_bytes (a, p, n, e->dimension, e->batch_size, e->temperature,
                                              e->margin, &bytes_error);
  g_assert_null (from_bytes);
  g_assert_error (bytes_error, HR_ANALYSIS_ERROR, e->code);
}

static void
test_error_shape (void)
{
  float values[24] = { 0 };
  g_autoptr (GBytes) twelve = g_bytes_new (values, 12 * sizeof (float));
  g_autoptr (GBytes) eleven = g_bytes_new (values, 11 * sizeof (float));
  g_autoptr (GBytes) nine = g_bytes_new (values, 9 * sizeof (float));
  struct
  {
    GBytes *a, *p, *n;
  } cases[] = {
    { eleven, eleven, NULL }, /* not a whole number of rows of 3 */
    { twelve, nine, NULL },   /* positives of another size */
    { twelve, twelve, nine }, /* negatives of another size */
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (HrContrastive) result = NULL;

      result = hr_contrastive_new_from_bytes (cases[i].a, cases[i].p, cases[i].n, 3, 2, 0.1, 1.0,
                                              &error);
      g_assert_null (result);
      g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE);
    }
}

/* -- pair files ---------------------------------------------------------------------------- */

#define NO HR_PAIRS_NO_NEGATIVE

typedef struct
{
  const char *name;
  const char *contents;
  guint64 n_samples;
  gsize n_pairs;
  gboolean has_negatives;
  guint64 expected[4][3];
} PairsGood;

static const PairsGood pairs_good[] = {
  { "csv", "0,1\n2,3\n", 4, 2, FALSE, { { 0, 1, NO }, { 2, 3, NO } } },
  { "csv-header", "anchor,positive\n0,1\n3,2\n", 4, 2, FALSE, { { 0, 1, NO }, { 3, 2, NO } } },
  { "csv-spaces-crlf",
    "anchor , positive , negative\r\n 0 , 1 , 2\r\n1,2,0\r\n",
    3,
    2,
    TRUE,
    { { 0, 1, 2 }, { 1, 2, 0 } } },
  { "tabs", "0\t1\t2\n4\t3\t0\n", 5, 2, TRUE, { { 0, 1, 2 }, { 4, 3, 0 } } },
  { "blanks-comments",
    "# pairs\n\n0 1  # first\n  5   4\n#end\n",
    6,
    2,
    FALSE,
    { { 0, 1, NO }, { 5, 4, NO } } },
  { "header-after-comment", "# made by hand\nidx_a idx_p\n7 6\n", 8, 1, FALSE, { { 7, 6, NO } } },
  { "bom-cr",
    "\xEF\xBB\xBF"
    "a,p\r0,1\r1,0",
    2,
    2,
    FALSE,
    { { 0, 1, NO }, { 1, 0, NO } } },
  { "large-index",
    "18446744073709551613,0\n",
    G_MAXUINT64,
    1,
    FALSE,
    { { G_GUINT64_CONSTANT (18446744073709551613), 0, NO } } },
  /* issue 12: "+0" was reported as outside the samples */
  { "plus-sign", "+0,+2\n", 3, 1, FALSE, { { 0, 2, NO } } },
};

typedef struct
{
  const char *name;
  const char *contents; /* NULL: no such file */
  guint64 n_samples;
  const char *message_part; /* beside the file name */
  GQuark (*domain) (void);  /* NULL: HR_ANALYSIS_ERROR_PAIRS */
  int code;
} PairsBad;

static const PairsBad pairs_bad[] = {
  /* a missing file is what GIO says it is, not a parse error */
  { "missing", NULL, 10, "pair file", g_io_error_quark, G_IO_ERROR_NOT_FOUND },
  { "empty", "", 10, "line 0" },
  { "only-header", "anchor,positive\n# nothing\n", 10, "line 2" },
  { "one-column", "0,1\n2\n", 10, "line 2" },
  { "four-columns", "0 1 2 3\n", 10, "line 1" },
  { "mixed-columns", "0,1\n2,3,4\n", 10, "line 2" },
  { "header-mismatch", "a,p,n\n0,1\n", 10, "line 2" },
  { "not-integer", "0,1\n2,x\n", 10, "line 2" },
  { "half-header", "anchor,1\n", 10, "line 1" },
  { "float", "0,1.0\n", 10, "line 1" },
  { "negative", "0,1\n\n-1,2\n", 10, "line 3" },
  { "empty-field", "0,,1\n", 10, "line 1" },
  { "out-of-range", "0,1\n9,10\n", 10, "line 2" },
  { "negative-out-of-range", "0,1,10\n", 10, "line 1" },
  { "no-samples", "0,0\n", 0, "line 1" },
  { "overflow", "0,18446744073709551616\n", G_MAXUINT64, "line 1" },
  { "binary", "0,1\n\xff\xfe,2\n", 10, "line 2" },
  { "plus-out-of-range", "0,1\n+10,2\n", 10, "outside the 10 samples" },
  { "two-signs", "+-1,2\n", 10, "not an integer" },
};

static char *
write_pairs (const char *name, const char *contents)
{
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (tmp_dir, name, NULL);

  if (contents != NULL)
    {
      g_file_set_contents (path, contents, -1, &error);
      g_assert_no_error (error);
    }
  return path;
}

static void
test_pairs_good (gconstpointer data)
{
  const PairsGood *g = data;
  g_autofree char *path = write_pairs (g->name, g->contents);
  g_autoptr (GError) error = NULL;
  g_autofree guint64 *indices = NULL;
  g_autoptr (GBytes) bytes = NULL;
  gsize n_pairs = 0, n_bytes_pairs = 0;
  gboolean has_negatives = !g->has_negatives, bytes_negatives = !g->has_negatives;

  g_assert_true (hr_pairs_read (path, g->n_samples, &indices, &n_pairs, &has_negatives, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_pairs, ==, g->n_pairs);
  g_assert_cmpint (has_negatives, ==, g->has_negatives);
  for (gsize i = 0; i < n_pairs; i++)
    for (guint k = 0; k < 3; k++)
      g_assert_cmpuint (indices[3 * i + k], ==, g->expected[i][k]);

  bytes = hr_pairs_read_bytes (path, g->n_samples, &n_bytes_pairs, &bytes_negatives, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  g_assert_cmpuint (n_bytes_pairs, ==, g->n_pairs);
  g_assert_cmpint (bytes_negatives, ==, g->has_negatives);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), indices,
                   n_pairs * 3 * sizeof (guint64));
}

/* A line without an end would make GDataInputStream grow its buffer until it aborts: a
 * line longer than 65,536 bytes is an error naming the file and the line. */
static void
test_pairs_line_too_long (void)
{
  g_autoptr (GString) contents = g_string_new ("0,1\n2,");
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  guint64 *indices = NULL;
  gsize n_pairs = 0;

  for (guint i = 0; i < 100000; i++)
    g_string_append_c (contents, '3');
  path = write_pairs ("line-too-long", contents->str);
  g_assert_false (hr_pairs_read (path, 10, &indices, &n_pairs, NULL, &error));
  g_assert_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "line 2"));
  g_assert_nonnull (strstr (error->message, "longer than 65536 bytes"));
  g_assert_null (indices);
  g_remove (path);
}

static void
test_pairs_bad (gconstpointer data)
{
  const PairsBad *b = data;
  g_autofree char *path = write_pairs (b->name, b->contents);
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) bytes_error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  guint64 *indices = NULL;
  gsize n_pairs = 0;

  GQuark domain = b->domain != NULL ? b->domain () : HR_ANALYSIS_ERROR;
  int code = b->domain != NULL ? b->code : HR_ANALYSIS_ERROR_PAIRS;

  g_assert_false (hr_pairs_read (path, b->n_samples, &indices, &n_pairs, NULL, &error));
  g_assert_error (error, domain, code);
  g_assert_null (indices);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, b->message_part));
  g_assert_true (g_utf8_validate (error->message, -1, NULL));

  bytes = hr_pairs_read_bytes (path, b->n_samples, NULL, NULL, &bytes_error);
  g_assert_null (bytes);
  g_assert_error (bytes_error, domain, code);
}

/* The file's pairs gather rows of a stack into the matrices HrContrastive takes. */
static void
test_pairs_gather (void)
{
  static const float stack[5][2] = { { 1, 0 }, { 0, 1 }, { 1, 1 }, { -1, 0 }, { 0, -2 } };
  g_autofree char *path = write_pairs ("gather", "a p n\n0 2 3\n1 2 4\n3 4 0\n");
  g_autoptr (GError) error = NULL;
  g_autofree guint64 *indices = NULL;
  g_autoptr (HrContrastive) result = NULL;
  float a[3][2], p[3][2], n[3][2];
  gsize n_pairs;
  gboolean has_negatives;
  double cosine;

  g_assert_true (hr_pairs_read (path, 5, &indices, &n_pairs, &has_negatives, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n_pairs, ==, 3);
  g_assert_true (has_negatives);
  for (gsize i = 0; i < n_pairs; i++)
    {
      memcpy (a[i], stack[indices[3 * i]], sizeof a[i]);
      memcpy (p[i], stack[indices[3 * i + 1]], sizeof p[i]);
      memcpy (n[i], stack[indices[3 * i + 2]], sizeof n[i]);
    }
  result = hr_contrastive_new (&a[0][0], &p[0][0], &n[0][0], n_pairs, 2, 8, 0.5, 1.0, &error);
  g_assert_no_error (error);
  /* cosines of the pairs: 1/√2, 1/√2 and 0 */
  cosine = (2.0 / sqrt (2.0)) / 3.0;
  g_assert_cmpfloat_with_epsilon (hr_contrastive_get_positive_cosine (result), cosine, 1e-12);
  g_assert_true (hr_contrastive_has_negatives (result));
}

static void
add_manifest_tests (void)
{
  g_autofree char *path = data_path ("manifest.json");
  g_autoptr (GError) error = NULL;
  JsonObject *root, *tolerance;
  JsonArray *cases;

  manifest_parser = json_parser_new ();
  json_parser_load_from_file (manifest_parser, path, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (manifest_parser));
  tolerance = json_object_get_object_member (root, "tolerance");
  tol_abs = json_object_get_double_member (tolerance, "abs");
  tol_rel = json_object_get_double_member (tolerance, "rel");
  cases = json_object_get_array_member (root, "cases");
  for (guint i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *object = json_array_get_object_element (cases, i);
      g_autofree char *test_path = g_strdup_printf ("/contrastive/measures/%s",
                                                    json_object_get_string_member (object, "id"));

      g_test_add_data_func (test_path, object, test_measures);
    }
}

int
main (int argc, char *argv[])
{
  g_autoptr (GError) error = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);

  add_manifest_tests ();
  g_test_add_func ("/contrastive/batching/one-batch", test_one_batch);
  g_test_add_func ("/contrastive/batching/pair-means", test_batch_independent);
  g_test_add_func ("/contrastive/ref", test_ref);
  for (guint i = 0; i < G_N_ELEMENTS (error_cases); i++)
    {
      g_autofree char *test_path = g_strdup_printf ("/contrastive/error/%s", error_cases[i].name);
      g_test_add_data_func (test_path, &error_cases[i], test_error);
    }
  g_test_add_func ("/contrastive/error/shape", test_error_shape);

  tmp_dir = g_dir_make_tmp ("headrank-pairs-XXXXXX", &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (pairs_good); i++)
    {
      g_autofree char *test_path = g_strdup_printf ("/pairs/read/%s", pairs_good[i].name);
      g_test_add_data_func (test_path, &pairs_good[i], test_pairs_good);
    }
  for (guint i = 0; i < G_N_ELEMENTS (pairs_bad); i++)
    {
      g_autofree char *test_path = g_strdup_printf ("/pairs/bad/%s", pairs_bad[i].name);
      g_test_add_data_func (test_path, &pairs_bad[i], test_pairs_bad);
    }
  g_test_add_func ("/pairs/gather", test_pairs_gather);
  g_test_add_func ("/pairs/bad/line-too-long", test_pairs_line_too_long);

  status = g_test_run ();

  for (guint i = 0; i < G_N_ELEMENTS (pairs_good); i++)
    {
      g_autofree char *path = g_build_filename (tmp_dir, pairs_good[i].name, NULL);
      g_unlink (path);
    }
  for (guint i = 0; i < G_N_ELEMENTS (pairs_bad); i++)
    {
      g_autofree char *path = g_build_filename (tmp_dir, pairs_bad[i].name, NULL);
      g_unlink (path);
    }
  {
    g_autofree char *path = g_build_filename (tmp_dir, "gather", NULL);
    g_unlink (path);
  }
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  g_object_unref (manifest_parser);
  return status;
}
