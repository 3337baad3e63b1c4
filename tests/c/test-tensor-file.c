/* headrank tests: reading tensors from safetensors files
 *
 * Table-driven over tests/data/weights/manifest.json (written by make_weights.py): every
 * good file is opened, its names, metadata, dtypes and shapes checked, and every
 * floating-point tensor compared bit for bit with torch's own float32 conversion; every
 * bad file must fail, when opened or when the named tensor is read, with the code the
 * manifest gives and a message naming the file and the tensor. Then the conversions are
 * checked exhaustively (all 65536 F16 and BF16 values), and every byte of a header is
 * mutated to make sure no lie crashes the reader.
 */
#include <headrank.h>

#include "test-util.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>
#include <unistd.h>

static JsonParser *manifest_parser;

static char *
weights_path (const char *file)
{
  return g_test_build_filename (G_TEST_DIST, "data", "weights", file, NULL);
}

static int
tensor_error_from_nick (const char *code)
{
  GEnumClass *klass = g_type_class_ref (HR_TYPE_TENSOR_ERROR);
  g_autofree char *nick = g_ascii_strdown (code, -1);
  GEnumValue *value;
  int result;

  g_strdelimit (nick, "_", '-');
  value = g_enum_get_value_by_nick (klass, nick);
  result = value != NULL ? value->value : -1;
  g_type_class_unref (klass);
  return result;
}

/* The error names the file (by its base name at least) and, if any, the tensor. */
static void
assert_message_names (const GError *error, const char *path, const char *tensor)
{
  g_autofree char *base = g_path_get_basename (path);

  if (strstr (error->message, base) == NULL)
    g_error ("message “%s” does not name the file %s", error->message, base);
  if (tensor != NULL)
    {
      g_autofree char *quoted = g_strdup_printf ("“%s”", tensor);

      if (strstr (error->message, quoted) == NULL)
        g_error ("message “%s” does not name the tensor %s", error->message, quoted);
    }
}

static GBytes *
load_reference (const char *relative)
{
  g_autofree char *path = weights_path (relative);
  g_autoptr (GError) error = NULL;
  char *contents;
  gsize length;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (length % 4, ==, 0);
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (gsize i = 0; i < length; i += 4)
    {
      guint32 v;

      memcpy (&v, contents + i, 4);
      v = GUINT32_SWAP_LE_BE (v);
      memcpy (contents + i, &v, 4);
    }
#endif
  return g_bytes_new_take (contents, length);
}

/* -- good files -------------------------------------------------------------------------- */

static void
check_tensor (HrTensorFile *file, JsonObject *t)
{
  const char *name = hr_test_object_string (t, "name");
  const char *reference = hr_test_object_string (t, "reference");
  JsonArray *shape = json_object_get_array_member (t, "shape");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) values = NULL;
  const gint64 *dims;
  gsize n_dims, n_elements = (gsize)json_object_get_int_member (t, "n_elements");

  g_assert_true (hr_tensor_file_has_tensor (file, name));
  g_assert_cmpstr (hr_tensor_file_get_dtype (file, name), ==, hr_test_object_string (t, "dtype"));
  dims = hr_tensor_file_get_shape (file, name, &n_dims);
  g_assert_nonnull (dims);
  g_assert_cmpuint (n_dims, ==, json_array_get_length (shape));
  for (gsize i = 0; i < n_dims; i++)
    g_assert_cmpint (dims[i], ==, json_array_get_int_element (shape, i));
  g_assert_cmpuint (hr_tensor_file_get_n_elements (file, name), ==, n_elements);

  values = hr_tensor_file_read_float (file, name, &error);
  if (reference == NULL)
    {
      /* integers, booleans, 8- and 4-bit floats, complex: listed, not read as floats */
      g_assert_error (error, HR_TENSOR_ERROR, HR_TENSOR_ERROR_DTYPE);
      assert_message_names (error, hr_tensor_file_get_path (file), name);
      g_assert_nonnull (strstr (error->message, hr_tensor_file_get_dtype (file, name)));
      g_assert_null (values);
      return;
    }
  else
    {
      g_autoptr (GBytes) expected = load_reference (reference);
      const float *got = g_bytes_get_data (values, NULL);
      const float *want = g_bytes_get_data (expected, NULL);
      g_autofree float *into = g_new (float, MAX (n_elements, 1));

      g_assert_no_error (error);
      g_assert_cmpuint (g_bytes_get_size (values), ==, n_elements * sizeof (float));
      g_assert_cmpuint (g_bytes_get_size (expected), ==, n_elements * sizeof (float));
      /* exact: bit for bit, so that -0.0 and 0.0 differ */
      for (gsize i = 0; i < n_elements; i++)
        if (memcmp (got + i, want + i, sizeof (float)) != 0)
          g_error ("%s[%" G_GSIZE_FORMAT "]: read %.9g, torch gives %.9g", name, i, got[i],
                   want[i]);

      g_assert_true (hr_tensor_file_read_float_into (file, name, into, n_elements, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (into, n_elements * sizeof (float), want, n_elements * sizeof (float));
    }
}

static void
test_good (gconstpointer data)
{
  JsonObject *entry = (JsonObject *)data;
  g_autofree char *path = weights_path (hr_test_object_string (entry, "file"));
  g_autoptr (GError) error = NULL;
  g_autoptr (HrTensorFile) file = NULL;
  g_auto (GStrv) names = NULL;
  g_auto (GStrv) keys = NULL;
  JsonArray *expected_names = json_object_get_array_member (entry, "names");
  JsonArray *tensors = json_object_get_array_member (entry, "tensors");
  JsonObject *metadata = json_object_get_object_member (entry, "metadata");
  g_autoptr (GList) metadata_keys = NULL;
  guint n_tensors = 0;

  g_test_message ("%s", hr_test_object_string (entry, "why"));
  file = hr_tensor_file_new (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (file);

  g_assert_cmpstr (hr_tensor_file_get_path (file), ==, path);
  g_object_get (file, "n-tensors", &n_tensors, NULL);
  g_assert_cmpuint (n_tensors, ==, json_object_get_int_member (entry, "n_tensors"));
  g_assert_cmpuint (hr_tensor_file_get_n_tensors (file), ==, n_tensors);

  /* names: sorted, without __metadata__, as the manifest (Python's sorted()) has them */
  names = hr_tensor_file_get_names (file);
  g_assert_cmpuint (g_strv_length (names), ==, json_array_get_length (expected_names));
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_assert_cmpstr (names[i], ==, json_array_get_string_element (expected_names, i));
      if (i > 0)
        g_assert_cmpint (strcmp (names[i - 1], names[i]), <, 0);
    }
  g_assert_false (hr_tensor_file_has_tensor (file, "__metadata__"));

  /* metadata */
  metadata_keys = g_list_sort (json_object_get_members (metadata), (GCompareFunc)strcmp);
  keys = hr_tensor_file_get_metadata_keys (file);
  g_assert_cmpuint (g_strv_length (keys), ==, g_list_length (metadata_keys));
  for (GList *l = metadata_keys; l != NULL; l = l->next)
    {
      g_assert_cmpstr (keys[g_list_position (metadata_keys, l)], ==, l->data);
      g_assert_cmpstr (hr_tensor_file_get_metadata (file, l->data), ==,
                       json_object_get_string_member (metadata, l->data));
    }
  g_assert_null (hr_tensor_file_get_metadata (file, "no-such-key"));

  for (guint i = 0; i < json_array_get_length (tensors); i++)
    check_tensor (file, json_array_get_object_element (tensors, i));
}

/* -- bad files --------------------------------------------------------------------------- */

static void
test_bad (gconstpointer data)
{
  JsonObject *entry = (JsonObject *)data;
  g_autofree char *path = weights_path (hr_test_object_string (entry, "file"));
  const char *stage = hr_test_object_string (entry, "stage");
  const char *tensor = hr_test_object_string (entry, "tensor");
  int code = tensor_error_from_nick (hr_test_object_string (entry, "code"));
  JsonArray *contains = json_object_get_array_member (entry, "message_contains");
  g_autoptr (GError) error = NULL;
  g_autoptr (HrTensorFile) file = NULL;

  g_test_message ("%s", hr_test_object_string (entry, "why"));
  g_assert_cmpint (code, >=, 0);

  file = hr_tensor_file_new (path, NULL, &error);
  if (g_strcmp0 (stage, "read") == 0)
    {
      g_autoptr (GBytes) values = NULL;
      gsize n;
      g_autofree float *into = NULL;

      g_assert_no_error (error);
      g_assert_nonnull (file);
      values = hr_tensor_file_read_float (file, tensor, &error);
      g_assert_null (values);
      g_assert_error (error, HR_TENSOR_ERROR, code);
      assert_message_names (error, path, tensor);

      /* the C variant fails the same way */
      n = hr_tensor_file_get_n_elements (file, tensor);
      into = g_new (float, n);
      g_clear_error (&error);
      g_assert_false (hr_tensor_file_read_float_into (file, tensor, into, n, &error));
      g_assert_error (error, HR_TENSOR_ERROR, code);
    }
  else
    {
      g_assert_null (file);
      g_assert_error (error, HR_TENSOR_ERROR, code);
      assert_message_names (error, path, tensor);
    }
  g_test_message ("%s", error->message);
  for (guint i = 0; contains != NULL && i < json_array_get_length (contains); i++)
    {
      const char *want = json_array_get_string_element (contains, i);

      if (strstr (error->message, want) == NULL)
        g_error ("message “%s” does not contain “%s”", error->message, want);
    }
}

/* -- the rest of the API ----------------------------------------------------------------- */

static HrTensorFile *
open_fixture (const char *name)
{
  g_autofree char *path = weights_path (name);
  g_autoptr (GError) error = NULL;
  HrTensorFile *file = hr_tensor_file_new (path, NULL, &error);

  g_assert_no_error (error);
  return file;
}

static void
test_batchnorm_counter (void)
{
  g_autoptr (HrTensorFile) file = open_fixture ("viscy-v2-f16.safetensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) values = NULL;
  const char *names[] = { "projection.1.num_batches_tracked", "projection.4.num_batches_tracked" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      gsize n_dims = 99;

      g_assert_true (hr_tensor_file_has_tensor (file, names[i]));
      g_assert_cmpstr (hr_tensor_file_get_dtype (file, names[i]), ==, "I64");
      g_assert_nonnull (hr_tensor_file_get_shape (file, names[i], &n_dims));
      g_assert_cmpuint (n_dims, ==, 0);
      g_assert_cmpuint (hr_tensor_file_get_n_elements (file, names[i]), ==, 1);
      values = hr_tensor_file_read_float (file, names[i], &error);
      g_assert_null (values);
      g_assert_error (error, HR_TENSOR_ERROR, HR_TENSOR_ERROR_DTYPE);
      assert_message_names (error, "viscy-v2-f16.safetensors", names[i]);
      g_clear_error (&error);
    }
}

static void
test_missing_tensor (void)
{
  g_autoptr (HrTensorFile) file = open_fixture ("viscy-v2-f32.safetensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) values = NULL;
  gsize n_dims = 99;
  float x;

  g_assert_false (hr_tensor_file_has_tensor (file, "projection.2.weight"));
  g_assert_null (hr_tensor_file_get_dtype (file, "projection.2.weight"));
  g_assert_null (hr_tensor_file_get_shape (file, "projection.2.weight", &n_dims));
  g_assert_cmpuint (n_dims, ==, 0);
  g_assert_cmpuint (hr_tensor_file_get_n_elements (file, "projection.2.weight"), ==, 0);

  values = hr_tensor_file_read_float (file, "projection.2.weight", &error);
  g_assert_null (values);
  g_assert_error (error, HR_TENSOR_ERROR, HR_TENSOR_ERROR_MISSING);
  assert_message_names (error, "viscy-v2-f32.safetensors", "projection.2.weight");
  g_clear_error (&error);
  g_assert_false (hr_tensor_file_read_float_into (file, "__metadata__", &x, 1, &error));
  g_assert_error (error, HR_TENSOR_ERROR, HR_TENSOR_ERROR_MISSING);
}

static void
test_read_into_wrong_size (void)
{
  g_autoptr (HrTensorFile) file = open_fixture ("viscy-v2-bf16.safetensors");
  g_autoptr (GError) error = NULL;
  float dest[8 * 24 + 1];

  /* projection.3.weight is [8, 24] */
  g_assert_false (
      hr_tensor_file_read_float_into (file, "projection.3.weight", dest, 8 * 24 + 1, &error));
  g_assert_error (error, HR_TENSOR_ERROR, HR_TENSOR_ERROR_SHAPE);
  assert_message_names (error, "viscy-v2-bf16.safetensors", "projection.3.weight");
  g_assert_nonnull (strstr (error->message, "[8, 24]"));
  g_clear_error (&error);
  g_assert_true (
      hr_tensor_file_read_float_into (file, "projection.3.weight", dest, 8 * 24, &error));
  g_assert_no_error (error);
}

static void
test_scalar_and_empty (void)
{
  g_autoptr (HrTensorFile) file = open_fixture ("mixed-dtypes.safetensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) scalar = NULL;
  g_autoptr (GBytes) empty = NULL;
  const gint64 *shape;
  gsize n_dims;

  shape = hr_tensor_file_get_shape (file, "encoder.scale", &n_dims);
  g_assert_nonnull (shape);
  g_assert_cmpuint (n_dims, ==, 0);
  g_assert_cmpuint (hr_tensor_file_get_n_elements (file, "encoder.scale"), ==, 1);
  scalar = hr_tensor_file_read_float (file, "encoder.scale", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (scalar), ==, sizeof (float));
  g_assert_cmpfloat (*(const float *)g_bytes_get_data (scalar, NULL), ==, 0.125f);

  shape = hr_tensor_file_get_shape (file, "encoder.empty", &n_dims);
  g_assert_cmpuint (n_dims, ==, 2);
  g_assert_cmpint (shape[0], ==, 0);
  g_assert_cmpint (shape[1], ==, 4);
  g_assert_cmpuint (hr_tensor_file_get_n_elements (file, "encoder.empty"), ==, 0);
  empty = hr_tensor_file_read_float (file, "encoder.empty", &error);
  g_assert_no_error (error);
  g_assert_nonnull (empty);
  g_assert_cmpuint (g_bytes_get_size (empty), ==, 0);
  g_assert_true (hr_tensor_file_read_float_into (file, "encoder.empty_f16", NULL, 0, &error));
  g_assert_no_error (error);
}

static void
test_nonexistent (void)
{
  g_autofree char *path = weights_path ("no-such-file.safetensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (HrTensorFile) file = hr_tensor_file_new (path, NULL, &error);

  g_assert_null (file);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  assert_message_names (error, path, NULL);
}

static void
test_directory (void)
{
  g_autofree char *path = weights_path ("ref");
  g_autoptr (GError) error = NULL;
  g_autoptr (HrTensorFile) file = hr_tensor_file_new (path, NULL, &error);

  g_assert_null (file);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY);
  assert_message_names (error, path, NULL);
}

static void
test_cancelled (void)
{
  g_autofree char *path = weights_path ("viscy-v2-f32.safetensors");
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (HrTensorFile) file = NULL;

  g_cancellable_cancel (cancellable);
  file = hr_tensor_file_new (path, cancellable, &error);
  g_assert_null (file);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* The file is read when it is opened, not mapped: truncating or rewriting it afterwards
 * (another program saving weights) changes nothing for the open file. With a mapping,
 * reading the tensor after the truncation died of SIGBUS. */
static void
test_file_rewritten_while_open (void)
{
  g_autofree char *fixture = weights_path ("viscy-v2-f32.safetensors");
  g_autofree char *contents = NULL;
  g_autofree char *dir = g_dir_make_tmp ("hr-tensor-XXXXXX", NULL);
  g_autofree char *copy = g_build_filename (dir, "w.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrTensorFile) file = NULL;
  g_autoptr (GBytes) before = NULL, after = NULL;
  gsize length;

  g_assert_true (g_file_get_contents (fixture, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (copy, contents, (gssize)length, NULL));
  file = hr_tensor_file_new (copy, NULL, &error);
  g_assert_no_error (error);
  before = hr_tensor_file_read_float (file, "projection.3.weight", &error);
  g_assert_no_error (error);

  /* cut in place (the same inode, as a truncating writer does), then other bytes */
  g_assert_cmpint (truncate (copy, 16), ==, 0);
  after = hr_tensor_file_read_float (file, "projection.3.weight", &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (before, after));
  g_clear_pointer (&after, g_bytes_unref);
  memset (contents, 0x7f, length);
  g_assert_true (g_file_set_contents (copy, contents, (gssize)length, NULL));
  after = hr_tensor_file_read_float (file, "projection.3.weight", &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (before, after));

  g_assert_cmpint (g_remove (copy), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_outlives_file (void)
{
  HrTensorFile *file = open_fixture ("viscy-v2-f32.safetensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) values = hr_tensor_file_read_float (file, "projection.0.weight", &error);
  float first;

  g_assert_no_error (error);
  first = *(const float *)g_bytes_get_data (values, NULL);
  g_object_unref (file);
  g_assert_cmpfloat (*(const float *)g_bytes_get_data (values, NULL), ==, first);
  g_assert_cmpuint (g_bytes_get_size (values), ==, 24 * 32 * sizeof (float));
}

static void
test_error_quark (void)
{
  g_assert_cmpstr (g_quark_to_string (HR_TENSOR_ERROR), ==, "hr-tensor-error-quark");
}

/* -- exhaustive conversions -------------------------------------------------------------- */

/* Writes a file with one tensor of @dtype holding @data (@size bytes, little-endian). */
static char *
write_one_tensor (const char *dir, const char *dtype, gsize n_elements, const void *data,
                  gsize size)
{
  g_autofree char *header = g_strdup_printf ("{\"x\":{\"dtype\":\"%s\",\"shape\":[%" G_GSIZE_FORMAT
                                             "],\"data_offsets\":[0,%" G_GSIZE_FORMAT "]}}",
                                             dtype, n_elements, size);
  g_autoptr (GByteArray) bytes = g_byte_array_new ();
  guint64 length = GUINT64_TO_LE (strlen (header));
  char *path = g_build_filename (dir, dtype, NULL);
  g_autoptr (GError) error = NULL;

  g_byte_array_append (bytes, (const guint8 *)&length, 8);
  g_byte_array_append (bytes, (const guint8 *)header, strlen (header));
  g_byte_array_append (bytes, data, size);
  g_file_set_contents (path, (const char *)bytes->data, bytes->len, &error);
  g_assert_no_error (error);
  return path;
}

static void
test_all_halves (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("headrank-tensor-XXXXXX", &error);
  g_autofree guint16 *halves = g_new (guint16, 65536);
  g_autofree float *f16 = g_new (float, 65536);
  g_autofree float *bf16 = g_new (float, 65536);
  g_autofree char *path16 = NULL;
  g_autofree char *pathbf = NULL;
  g_autoptr (HrTensorFile) file16 = NULL;
  g_autoptr (HrTensorFile) filebf = NULL;
  gsize n_finite16 = 0;

  g_assert_no_error (error);
  for (guint i = 0; i < 65536; i++)
    halves[i] = GUINT16_TO_LE ((guint16)i);
  path16 = write_one_tensor (dir, "F16", 65536, halves, 65536 * 2);
  pathbf = write_one_tensor (dir, "BF16", 65536, halves, 65536 * 2);
  file16 = hr_tensor_file_new (path16, NULL, &error);
  g_assert_no_error (error);
  filebf = hr_tensor_file_new (pathbf, NULL, &error);
  g_assert_no_error (error);

  /* NaN and Inf are among the values: the read fails, but the values are converted */
  g_assert_false (hr_tensor_file_read_float_into (file16, "x", f16, 65536, &error));
  g_assert_error (error, HR_TENSOR_ERROR, HR_TENSOR_ERROR_NON_FINITE);
  /* the first non-finite half is 0x7c00, +Inf; there are 2 × 1023 NaNs and 2 infinities */
  g_assert_nonnull (strstr (error->message, "flat index 31744"));
  g_assert_nonnull (strstr (error->message, "2048 of 65536"));
  g_clear_error (&error);
  g_assert_false (hr_tensor_file_read_float_into (filebf, "x", bf16, 65536, &error));
  g_assert_error (error, HR_TENSOR_ERROR, HR_TENSOR_ERROR_NON_FINITE);
  g_assert_nonnull (strstr (error->message, "flat index 32640")); /* 0x7f80 */
  g_clear_error (&error);

  for (guint i = 0; i < 65536; i++)
    {
      int sign = (i & 0x8000) ? -1 : 1;
      int exponent = (i >> 10) & 0x1f;
      int mantissa = i & 0x3ff;
      guint32 bits = (guint32)i << 16, got_bits;

      /* F16 from its definition */
      if (exponent == 0x1f)
        {
          if (mantissa == 0)
            g_assert_cmpfloat (f16[i], ==, sign * INFINITY);
          else
            g_assert_true (isnan (f16[i]));
        }
      else
        {
          double want
              = exponent == 0 ? ldexp (mantissa, -24) : ldexp (1024 + mantissa, exponent - 25);

          g_assert_cmpfloat ((double)f16[i], ==, sign * want);
          g_assert_cmpint (signbit (f16[i]) != 0, ==, sign < 0);
          n_finite16++;
        }

      /* BF16: the top half of a float32, NaN payloads and all */
      memcpy (&got_bits, &bf16[i], 4);
      g_assert_cmphex (got_bits, ==, bits);
    }
  g_assert_cmpuint (n_finite16, ==, 65536 - 2048);

  g_unlink (path16);
  g_unlink (pathbf);
  g_rmdir (dir);
}

/* -- lies everywhere --------------------------------------------------------------------- */

/* Opens @path; if it opens, reads every tensor. Any failure must be a GError of ours. */
static void
open_and_read_all (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrTensorFile) file = hr_tensor_file_new (path, NULL, &error);
  g_auto (GStrv) names = NULL;

  if (file == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (error->domain == HR_TENSOR_ERROR);
      g_assert_nonnull (strstr (error->message, "mutant"));
      return;
    }
  g_assert_no_error (error);
  names = hr_tensor_file_get_names (file);
  for (guint i = 0; names[i] != NULL; i++)
    {
      g_autoptr (GBytes) values = hr_tensor_file_read_float (file, names[i], &error);
      gsize n_dims;

      g_assert_nonnull (hr_tensor_file_get_shape (file, names[i], &n_dims));
      if (values == NULL)
        {
          g_assert_true (error->domain == HR_TENSOR_ERROR);
          g_clear_error (&error);
        }
      else
        g_assert_cmpuint (g_bytes_get_size (values), ==,
                          hr_tensor_file_get_n_elements (file, names[i]) * sizeof (float));
    }
}

static void
test_mutations (void)
{
  g_autofree char *source = weights_path ("viscy-v2-f32.safetensors");
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("headrank-tensor-XXXXXX", &error);
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  const guint8 replacements[] = { 0x00, '0', '9', '[', ']', '{', '}', '"', ',', ':', '-', 0xff };
  guint64 header_length;
  gsize length;

  g_assert_no_error (error);
  path = g_build_filename (dir, "mutant.safetensors", NULL);
  g_file_get_contents (source, &contents, &length, &error);
  g_assert_no_error (error);
  memcpy (&header_length, contents, 8);
  header_length = GUINT64_FROM_LE (header_length);

  /* every byte of the length and the header, replaced by a handful of values */
  for (gsize at = 0; at < 8 + header_length; at++)
    for (gsize r = 0; r < G_N_ELEMENTS (replacements); r++)
      {
        char saved = contents[at];

        if ((guint8)saved == replacements[r])
          continue;
        contents[at] = (char)replacements[r];
        g_file_set_contents_full (path, contents, length, G_FILE_SET_CONTENTS_NONE, 0644, &error);
        g_assert_no_error (error);
        open_and_read_all (path);
        contents[at] = saved;
      }

  /* every length of the file, cut */
  for (gsize cut = 0; cut < length; cut += (cut < 8 + header_length ? 1 : 7))
    {
      g_file_set_contents_full (path, contents, cut, G_FILE_SET_CONTENTS_NONE, 0644, &error);
      g_assert_no_error (error);
      open_and_read_all (path);
    }

  g_unlink (path);
  g_rmdir (dir);
}

/* -- main -------------------------------------------------------------------------------- */

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *manifest = NULL;
  JsonObject *root;
  JsonArray *files, *bad;

  g_test_init (&argc, &argv, NULL);

  manifest = weights_path ("manifest.json");
  manifest_parser = json_parser_new ();
  if (!json_parser_load_from_file (manifest_parser, manifest, &error))
    g_error ("%s: %s", manifest, error->message);
  root = json_node_get_object (json_parser_get_root (manifest_parser));
  files = json_object_get_array_member (root, "files");
  bad = json_object_get_array_member (root, "bad");

  for (guint i = 0; i < json_array_get_length (files); i++)
    {
      JsonObject *entry = json_array_get_object_element (files, i);
      g_autofree char *test_path
          = g_strconcat ("/tensor-file/good/", hr_test_object_string (entry, "file"), NULL);

      g_test_add_data_func (test_path, entry, test_good);
    }
  for (guint i = 0; i < json_array_get_length (bad); i++)
    {
      JsonObject *entry = json_array_get_object_element (bad, i);
      g_autofree char *test_path = g_strconcat (
          "/tensor-file/bad/", hr_test_object_string (entry, "file") + strlen ("bad/"), NULL);

      g_test_add_data_func (test_path, entry, test_bad);
    }
  g_test_add_func ("/tensor-file/batchnorm-counter", test_batchnorm_counter);
  g_test_add_func ("/tensor-file/missing-tensor", test_missing_tensor);
  g_test_add_func ("/tensor-file/read-into/wrong-size", test_read_into_wrong_size);
  g_test_add_func ("/tensor-file/scalar-and-empty", test_scalar_and_empty);
  g_test_add_func ("/tensor-file/error/nonexistent", test_nonexistent);
  g_test_add_func ("/tensor-file/error/directory", test_directory);
  g_test_add_func ("/tensor-file/error/cancelled", test_cancelled);
  g_test_add_func ("/tensor-file/error/quark", test_error_quark);
  g_test_add_func ("/tensor-file/bytes-outlive-file", test_outlives_file);
  g_test_add_func ("/tensor-file/file-rewritten-while-open", test_file_rewritten_while_open);
  g_test_add_func ("/tensor-file/convert/all-halves", test_all_halves);
  g_test_add_func ("/tensor-file/mutations", test_mutations);

  {
    int status = g_test_run ();

    g_object_unref (manifest_parser);
    return status;
  }
}
