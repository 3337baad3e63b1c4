/* headrank tests: projection heads, run as PyTorch runs them
 *
 * Table-driven over tests/data/heads/manifest.json (written by make_heads.py there): every
 * head is loaded from its safetensors file with the manifest's architecture and prefix,
 * with the prefix found, and (where the state dict tells the layers apart) with both
 * inferred; its layers are checked; every stage is compared with torch's output in eval
 * mode, in training mode with the whole input as one batch and with batches of 64; the
 * projections are streamed from a matrix TIFF to a matrix TIFF in each mode; heads are
 * built by hand with hr_head_append_*() from their raw parameters; and every bad head
 * must fail with the manifest's domain and code and a message naming the file.
 *
 * Elementwise tolerance: |got − ref| ≤ abs + rel·|ref| (manifest "tolerance").
 */
#include <headrank.h>

#include "test-util.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

static JsonParser *manifest_parser;
static double tol_abs = 1e-5, tol_rel = 1e-4;

static char *
heads_path (const char *relative)
{
  return g_test_build_filename (G_TEST_DIST, "data", "heads", relative, NULL);
}

static int
enum_from_nick (GType type, const char *nick)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *value = g_enum_get_value_by_nick (klass, nick);
  int result = value != NULL ? value->value : -1;

  g_type_class_unref (klass);
  g_assert_cmpint (result, >=, 0);
  return result;
}

static const char *
enum_nick (GType type, int value)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);
  const char *nick = v != NULL ? v->value_nick : "(invalid)";

  g_type_class_unref (klass);
  return nick;
}

static GBytes *
load_f32 (const char *relative, gsize n_values)
{
  return hr_test_load_raw ("heads", relative, sizeof (float), n_values);
}

static gsize
shape_product (JsonArray *shape)
{
  gsize n = 1;

  for (guint i = 0; i < json_array_get_length (shape); i++)
    n *= json_array_get_int_element (shape, i);
  return n;
}

/* Compares @got (n × d) with @ref elementwise; on a difference beyond the tolerance, fails
 * the test naming the worst element. */
static gboolean
compare (const char *what, const float *got, const float *ref, gsize n, gsize d)
{
  gsize worst = 0, n_bad = 0;
  double worst_excess = -G_MAXDOUBLE;

  for (gsize i = 0; i < n * d; i++)
    {
      double delta = fabs ((double)got[i] - (double)ref[i]);
      double allowed = tol_abs + tol_rel * fabs ((double)ref[i]);
      double excess = isnan (delta) ? G_MAXDOUBLE : delta - allowed;

      if (excess > 0)
        n_bad++;
      if (excess > worst_excess)
        {
          worst_excess = excess;
          worst = i;
        }
    }
  if (n_bad == 0)
    return TRUE;
  g_test_fail_printf ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " values beyond "
                      "%g + %g·|ref|; worst at sample %" G_GSIZE_FORMAT ", feature %" G_GSIZE_FORMAT
                      ": got %.9g, expected %.9g (|Δ| = %.3g)",
                      what, n_bad, n * d, tol_abs, tol_rel, worst / d, worst % d,
                      (double)got[worst], (double)ref[worst],
                      fabs ((double)got[worst] - (double)ref[worst]));
  return FALSE;
}

static gboolean
compare_stack (const char *what, HrFeatureStack *got, GBytes *ref, gsize n, gsize d)
{
  g_assert_cmpuint (hr_feature_stack_get_n_samples (got), ==, n);
  g_assert_cmpuint (hr_feature_stack_get_n_features (got), ==, d);
  g_assert_cmpuint (g_bytes_get_size (ref), ==, n * d * sizeof (float));
  return compare (what, hr_feature_stack_peek_data (got), g_bytes_get_data (ref, NULL), n, d);
}

/* -- manifest access ---------------------------------------------------------------------- */

typedef struct
{
  JsonObject *head;
  JsonObject *mode; /* NULL for tests that are not per mode */
  char *mode_id;
} HeadCase;

static void
head_case_free (gpointer data)
{
  HeadCase *c = data;

  g_free (c->mode_id);
  g_free (c);
}

static HrNormMode
mode_of (JsonObject *mode)
{
  return strcmp (hr_test_object_string (mode, "mode"), "running") == 0 ? HR_NORM_MODE_RUNNING
                                                                       : HR_NORM_MODE_BATCH;
}

/* The batch size a mode uses for @head (0: the whole input). */
static gsize
batch_size_of (JsonObject *head, JsonObject *mode)
{
  if (strcmp (hr_test_object_string (mode, "id"), "batch64") == 0)
    return json_object_get_int_member (head, "batch_size_small");
  return json_object_get_int_member (mode, "batch_size");
}

static HrFeatureStack *
load_input (JsonObject *head)
{
  gsize n = json_object_get_int_member (head, "n"), d = json_object_get_int_member (head, "d");
  g_autoptr (GBytes) bytes = load_f32 (hr_test_object_string (head, "input"), n * d);
  g_autoptr (GError) error = NULL;
  HrFeatureStack *stack = hr_feature_stack_new_from_bytes (bytes, n, d, &error);

  g_assert_no_error (error);
  return stack;
}

static GBytes *
load_stage_ref (JsonObject *head, guint stage, const char *mode_id, gsize *n, gsize *d)
{
  JsonObject *s
      = json_array_get_object_element (json_object_get_array_member (head, "stages"), stage);
  JsonArray *shape = json_object_get_array_member (s, "shape");
  JsonObject *files = json_object_get_object_member (s, "files");

  *n = json_array_get_int_element (shape, 0);
  *d = json_array_get_int_element (shape, 1);
  return load_f32 (json_object_get_string_member (files, mode_id), *n * *d);
}

static HrHead *
load_head (JsonObject *head, const char *arch, const char *prefix)
{
  g_autofree char *path = heads_path (hr_test_object_string (head, "weights"));
  g_autoptr (GError) error = NULL;
  HrHead *h = hr_head_new_from_file (path, arch, prefix, NULL, &error);

  g_assert_no_error (error);
  g_assert_true (HR_IS_HEAD (h));
  return h;
}

/* The head's layers are the manifest's (names where the state dict fixes them). */
static void
check_layers (const char *what, HrHead *h, JsonObject *head)
{
  JsonArray *layers = json_object_get_array_member (head, "layers");
  guint n = json_array_get_length (layers);

  g_assert_cmpuint (hr_head_get_n_layers (h), ==, n);
  for (guint i = 0; i < n; i++)
    {
      JsonObject *l = json_array_get_object_element (layers, i);
      const char *name = hr_test_object_string (l, "name");
      int kind = enum_from_nick (HR_TYPE_LAYER_KIND, hr_test_object_string (l, "kind"));

      if ((int)hr_head_get_layer_kind (h, i) != kind)
        g_test_fail_printf ("%s: layer %u is %s, expected %s", what, i,
                            enum_nick (HR_TYPE_LAYER_KIND, hr_head_get_layer_kind (h, i)),
                            hr_test_object_string (l, "kind"));
      g_assert_nonnull (hr_head_get_layer_name (h, i));
      if (name != NULL && g_strcmp0 (hr_head_get_layer_name (h, i), name) != 0)
        g_test_fail_printf ("%s: layer %u is named “%s”, expected “%s”", what, i,
                            hr_head_get_layer_name (h, i), name);
      g_assert_cmpuint (hr_head_get_layer_in_features (h, i), ==,
                        json_object_get_int_member (l, "in"));
      g_assert_cmpuint (hr_head_get_layer_out_features (h, i), ==,
                        json_object_get_int_member (l, "out"));
      if (kind == HR_LAYER_LINEAR)
        g_assert_cmpint (hr_head_get_layer_has_bias (h, i), ==,
                         json_object_get_boolean_member (l, "bias"));
      g_assert_cmpint (hr_head_find_stage (h, hr_head_get_layer_name (h, i)), ==, (int)i);
    }
  g_assert_cmpuint (hr_head_get_in_features (h), ==, json_object_get_int_member (head, "d"));
  g_assert_cmpuint (
      hr_head_get_out_features (h), ==,
      json_object_get_int_member (json_array_get_object_element (layers, n - 1), "out"));
  g_assert_cmpint (hr_head_find_stage (h, "projections"), ==, (int)n - 1);
  g_assert_cmpint (hr_head_find_stage (h, "no-such-stage"), ==, -1);
}

/* -- loading ------------------------------------------------------------------------------ */

static void
test_load (gconstpointer data)
{
  const HeadCase *c = data;
  JsonObject *head = c->head;
  const char *arch = hr_test_object_string (head, "arch");
  const char *prefix = hr_test_object_string (head, "prefix");
  g_autofree char *path = heads_path (hr_test_object_string (head, "weights"));
  g_autofree char *base = g_path_get_basename (path);
  g_autoptr (HrHead) h = load_head (head, arch, prefix);
  g_autoptr (HrHead) found = load_head (head, arch, NULL);
  g_autoptr (HrTensorFile) tf = NULL;
  g_autoptr (HrHead) from_tensors = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *description = NULL;
  const char *source;

  check_layers ("given arch and prefix", h, head);
  check_layers ("prefix found", found, head);

  source = hr_head_get_source (h);
  g_assert_nonnull (source);
  if (strstr (source, base) == NULL)
    g_test_fail_printf ("source “%s” does not name the file %s", source, base);
  description = hr_head_describe (h);
  g_assert_nonnull (description);
  g_assert_cmpuint (strlen (description), >, 0);

  tf = hr_tensor_file_new (path, NULL, &error);
  g_assert_no_error (error);
  from_tensors = hr_head_new_from_tensors (tf, arch, prefix, &error);
  g_assert_no_error (error);
  check_layers ("from tensors", from_tensors, head);

  if (json_object_get_boolean_member (head, "inferable"))
    {
      g_autoptr (HrHead) inferred = load_head (head, NULL, NULL);
      g_autoptr (HrHead) inferred_prefix = load_head (head, NULL, prefix);

      check_layers ("inferred", inferred, head);
      check_layers ("inferred with the prefix given", inferred_prefix, head);
      /* never inferred in silence: what was assumed is said, and how to state it */
      for (guint k = 0; k < 2; k++)
        {
          HrHead *x = k == 0 ? inferred : inferred_prefix;
          g_autofree char *assumption = hr_head_get_assumption (x);
          g_autofree char *text = hr_head_describe (x);

          g_assert_cmpint (hr_head_get_arch_source (x), ==, HR_ARCH_SOURCE_INFERRED);
          g_assert_nonnull (assumption);
          g_assert_nonnull (strstr (assumption, "--arch"));
          g_assert_nonnull (strstr (text, assumption));
          g_assert_nonnull (strstr (hr_head_get_source (x), "inferred"));
        }
      g_assert_cmpint (hr_head_get_arch_source (h), ==, HR_ARCH_SOURCE_GIVEN);
      {
        g_autofree char *none = hr_head_get_assumption (h);
        g_assert_null (none);
      }
    }
}

/* -- forward ------------------------------------------------------------------------------ */

/* The stages of @h on @input in @mode, the input cut into batches of @batch_size samples
 * (0: one batch), each run with hr_head_forward_stages() and the outputs put together. */
static float **
forward_in_batches (HrHead *h, HrFeatureStack *input, HrNormMode mode, gsize batch_size,
                    guint *n_stages)
{
  gsize n = hr_feature_stack_get_n_samples (input), d = hr_feature_stack_get_n_features (input);
  const float *x = hr_feature_stack_peek_data (input);
  guint L = hr_head_get_n_layers (h);
  float **out = g_new0 (float *, L);

  if (batch_size == 0)
    batch_size = n;
  for (guint s = 0; s < L; s++)
    out[s] = g_new (float, n *hr_head_get_layer_out_features (h, s));
  for (gsize start = 0; start < n; start += batch_size)
    {
      gsize m = MIN (batch_size, n - start);
      g_autoptr (HrFeatureStack) part = hr_feature_stack_new_copy (x + start * d, m, d);
      g_autoptr (GError) error = NULL;
      HrFeatureStack **stages;
      guint got = 0;

      stages = hr_head_forward_stages (h, part, mode, &got, NULL, &error);
      g_assert_no_error (error);
      g_assert_nonnull (stages);
      g_assert_cmpuint (got, ==, L);
      for (guint s = 0; s < L; s++)
        {
          gsize w = hr_head_get_layer_out_features (h, s);

          g_assert_cmpuint (hr_feature_stack_get_n_samples (stages[s]), ==, m);
          g_assert_cmpuint (hr_feature_stack_get_n_features (stages[s]), ==, w);
          memcpy (out[s] + start * w, hr_feature_stack_peek_data (stages[s]),
                  m * w * sizeof (float));
          g_object_unref (stages[s]);
        }
      g_free (stages);
    }
  *n_stages = L;
  return out;
}

static void
free_stages (float **stages, guint n)
{
  for (guint i = 0; i < n; i++)
    g_free (stages[i]);
  g_free (stages);
}

static void
test_forward (gconstpointer data)
{
  const HeadCase *c = data;
  JsonObject *head = c->head;
  JsonArray *stages = json_object_get_array_member (head, "stages");
  HrNormMode mode = mode_of (c->mode);
  gsize batch_size = batch_size_of (head, c->mode);
  gsize n_in = json_object_get_int_member (head, "n");
  g_autoptr (HrHead) h = load_head (head, hr_test_object_string (head, "arch"),
                                    hr_test_object_string (head, "prefix"));
  g_autoptr (HrFeatureStack) input = load_input (head);
  g_autoptr (GError) error = NULL;
  float **got;
  guint n_stages, last;
  gsize n, d;

  got = forward_in_batches (h, input, mode, batch_size, &n_stages);
  g_assert_cmpuint (n_stages, ==, json_array_get_length (stages));
  last = n_stages - 1;
  for (guint s = 0; s < n_stages; s++)
    {
      g_autoptr (GBytes) ref = load_stage_ref (head, s, c->mode_id, &n, &d);
      g_autofree char *what = g_strdup_printf (
          "%s, %s, stage %u (%s “%s”)", hr_test_object_string (head, "id"), c->mode_id, s,
          enum_nick (HR_TYPE_LAYER_KIND, hr_head_get_layer_kind (h, s)),
          hr_head_get_layer_name (h, s));

      g_assert_cmpuint (n, ==, n_in);
      compare (what, got[s], g_bytes_get_data (ref, NULL), n, d);
    }
  free_stages (got, n_stages);

  /* hr_head_forward gives the last stage (the whole input as one batch) */
  if (batch_size == 0)
    {
      g_autoptr (GBytes) ref = load_stage_ref (head, last, c->mode_id, &n, &d);
      g_autoptr (HrFeatureStack) out = hr_head_forward (h, input, mode, NULL, &error);
      g_autofree char *what = g_strdup_printf ("%s, %s, hr_head_forward",
                                               hr_test_object_string (head, "id"), c->mode_id);

      g_assert_no_error (error);
      compare_stack (what, out, ref, n, d);

      /* the same from the matrix TIFF */
      {
        g_autofree char *tif = heads_path (hr_test_object_string (head, "input_tif"));
        g_autoptr (HrFeatureStack) from_tif
            = hr_feature_stack_new_from_file (tif, HR_STACK_LAYOUT_MATRIX, NULL, &error);
        g_autoptr (HrFeatureStack) out2 = NULL;
        g_autofree char *what2 = g_strdup_printf ("%s, %s, hr_head_forward on the TIFF",
                                                  hr_test_object_string (head, "id"), c->mode_id);

        g_assert_no_error (error);
        out2 = hr_head_forward (h, from_tif, mode, NULL, &error);
        g_assert_no_error (error);
        compare_stack (what2, out2, ref, n, d);
      }

      if (json_object_get_boolean_member (head, "inferable"))
        {
          g_autoptr (HrHead) inferred = load_head (head, NULL, NULL);
          g_autoptr (HrFeatureStack) out3 = hr_head_forward (inferred, input, mode, NULL, &error);
          g_autofree char *what3 = g_strdup_printf ("%s, %s, inferred head",
                                                    hr_test_object_string (head, "id"), c->mode_id);

          g_assert_no_error (error);
          compare_stack (what3, out3, ref, n, d);
        }
    }
}

/* -- project ------------------------------------------------------------------------------ */

typedef struct
{
  double last;
  guint calls;
  gboolean backwards;
} Progress;

static void
on_progress (double fraction, gpointer user_data)
{
  Progress *p = user_data;

  if (fraction < p->last - 1e-12 || fraction < 0 || fraction > 1 + 1e-12)
    p->backwards = TRUE;
  p->last = fraction;
  p->calls++;
}

static void
project_and_compare (JsonObject *head, const char *mode_id, HrNormMode mode, gsize batch_size,
                     int stage, const char *dir)
{
  g_autoptr (HrHead) h = load_head (head, hr_test_object_string (head, "arch"),
                                    hr_test_object_string (head, "prefix"));
  g_autofree char *tif = heads_path (hr_test_object_string (head, "input_tif"));
  guint index = stage < 0 ? hr_head_get_n_layers (h) - 1 : (guint)stage;
  g_autofree char *out_name = g_strdup_printf (
      "%s-%s-%d-%zu.tif", hr_test_object_string (head, "id"), mode_id, stage, batch_size);
  g_autofree char *out_path = g_build_filename (dir, out_name, NULL);
  g_autofree char *what
      = g_strdup_printf ("%s, %s, hr_head_project stage %d, batch_size %zu",
                         hr_test_object_string (head, "id"), mode_id, stage, batch_size);
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (HrFeatureStack) back = NULL;
  g_autoptr (GBytes) ref = NULL;
  g_autoptr (GError) error = NULL;
  Progress progress = { 0 };
  gsize n, d;
  gboolean ok;

  ref = load_stage_ref (head, index, mode_id, &n, &d);
  reader = hr_stack_reader_new (tif, HR_STACK_LAYOUT_MATRIX, NULL, &error);
  g_assert_no_error (error);
  writer = hr_stack_writer_new (out_path, HR_STACK_LAYOUT_MATRIX, n, d, NULL, &error);
  g_assert_no_error (error);
  ok = hr_head_project (h, reader, writer, mode, batch_size, stage, on_progress, &progress, NULL,
                        &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_false (progress.backwards);
  g_assert_cmpuint (progress.calls, >, 0);
  g_assert_cmpfloat_with_epsilon (progress.last, 1.0, 1e-9);

  back = hr_feature_stack_new_from_file (out_path, HR_STACK_LAYOUT_MATRIX, NULL, &error);
  g_assert_no_error (error);
  compare_stack (what, back, ref, n, d);
  g_remove (out_path);
}

static void
test_project (gconstpointer data)
{
  const HeadCase *c = data;
  HrNormMode mode = mode_of (c->mode);
  gsize batch_size = batch_size_of (c->head, c->mode);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("headrank-head-XXXXXX", &error);

  g_assert_no_error (error);
  /* the projections (-1), and every stage: in eval mode a BatchNorm is folded into the
   * Linear before it, which must not leak into the Linear's own output */
  project_and_compare (c->head, c->mode_id, mode, batch_size, -1, dir);
  for (guint s = 0; s < json_array_get_length (json_object_get_array_member (c->head, "stages"));
       s++)
    project_and_compare (c->head, c->mode_id, mode, batch_size, s, dir);
  /* eval mode does not depend on how the stack is cut */
  if (mode == HR_NORM_MODE_RUNNING)
    {
      project_and_compare (c->head, c->mode_id, mode, 7, -1, dir);
      project_and_compare (c->head, c->mode_id, mode, 1, -1, dir);
    }
  g_rmdir (dir);
}

/* -- built by hand ------------------------------------------------------------------------ */

static GBytes *
raw_param (JsonObject *head, const char *layer, const char *param)
{
  JsonObject *raw = json_object_get_object_member (head, "raw");
  g_autofree char *key = g_strdup_printf ("%s.%s", layer, param);
  JsonObject *entry;

  if (!json_object_has_member (raw, key))
    return NULL;
  entry = json_object_get_object_member (raw, key);
  return load_f32 (hr_test_object_string (entry, "file"),
                   shape_product (json_object_get_array_member (entry, "shape")));
}

static HrHead *
build_by_hand (JsonObject *head)
{
  JsonArray *layers = json_object_get_array_member (head, "layers");
  HrHead *h = hr_head_new ();

  g_assert_cmpuint (hr_head_get_n_layers (h), ==, 0);
  for (guint i = 0; i < json_array_get_length (layers); i++)
    {
      JsonObject *l = json_array_get_object_element (layers, i);
      const char *name = hr_test_object_string (l, "name");
      HrLayerKind kind = enum_from_nick (HR_TYPE_LAYER_KIND, hr_test_object_string (l, "kind"));
      gsize in = json_object_get_int_member (l, "in"), out = json_object_get_int_member (l, "out");
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) weight = NULL, bias = NULL, mean = NULL, var = NULL;
      gboolean ok;

      switch (kind)
        {
          case HR_LAYER_LINEAR:
            weight = raw_param (head, name, "weight");
            bias = raw_param (head, name, "bias");
            ok = hr_head_append_linear (h, name, in, out, weight, bias, &error);
            break;
          case HR_LAYER_BATCH_NORM:
            weight = raw_param (head, name, "weight");
            bias = raw_param (head, name, "bias");
            mean = raw_param (head, name, "running_mean");
            var = raw_param (head, name, "running_var");
            ok = hr_head_append_batch_norm (h, name, in, weight, bias, mean, var, 1e-5, &error);
            break;
          case HR_LAYER_LAYER_NORM:
            weight = raw_param (head, name, "weight");
            bias = raw_param (head, name, "bias");
            ok = hr_head_append_layer_norm (h, name, in, weight, bias, 1e-5, &error);
            break;
          default:
            ok = hr_head_append_activation (h, name, kind, &error);
            break;
        }
      g_assert_no_error (error);
      g_assert_true (ok);
      g_assert_cmpuint (hr_head_get_n_layers (h), ==, i + 1);
    }
  return h;
}

static void
test_append (gconstpointer data)
{
  const HeadCase *c = data;
  JsonObject *head = c->head;
  g_autoptr (HrHead) h = build_by_hand (head);
  g_autoptr (HrFeatureStack) input = load_input (head);
  JsonArray *modes = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (manifest_parser)), "modes");

  check_layers ("built by hand", h, head);
  for (guint m = 0; m < json_array_get_length (modes); m++)
    {
      JsonObject *mode = json_array_get_object_element (modes, m);
      const char *mode_id = hr_test_object_string (mode, "id");
      guint n_stages;
      float **got
          = forward_in_batches (h, input, mode_of (mode), batch_size_of (head, mode), &n_stages);

      for (guint s = 0; s < n_stages; s++)
        {
          gsize n, d;
          g_autoptr (GBytes) ref = load_stage_ref (head, s, mode_id, &n, &d);
          g_autofree char *what = g_strdup_printf ("%s built by hand, %s, stage %u",
                                                   hr_test_object_string (head, "id"), mode_id, s);

          compare (what, got[s], g_bytes_get_data (ref, NULL), n, d);
        }
      free_stages (got, n_stages);
    }
}

/* Appending what does not fit. */
static void
test_append_errors (void)
{
  g_autoptr (HrHead) h = hr_head_new ();
  g_autoptr (GError) error = NULL;
  float w[6] = { 1, 2, 3, 4, 5, 6 }, b[3] = { 0, 0, 0 }, nanw[6] = { 1, 2, NAN, 4, 5, 6 };
  float ones[3] = { 1, 1, 1 }, zeros[3] = { 0, 0, 0 }, negvar[3] = { 1, -1, 1 };
  g_autoptr (GBytes) weight = g_bytes_new (w, sizeof w);
  g_autoptr (GBytes) bias = g_bytes_new (b, sizeof b);
  g_autoptr (GBytes) nan_weight = g_bytes_new (nanw, sizeof nanw);
  g_autoptr (GBytes) short_weight = g_bytes_new (w, 5 * sizeof (float));
  g_autoptr (GBytes) one3 = g_bytes_new (ones, sizeof ones);
  g_autoptr (GBytes) zero3 = g_bytes_new (zeros, sizeof zeros);
  g_autoptr (GBytes) neg3 = g_bytes_new (negvar, sizeof negvar);

  /* an activation cannot come first: its width is unknown */
  g_assert_false (hr_head_append_activation (h, NULL, HR_LAYER_RELU, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC);
  g_clear_error (&error);
  g_assert_cmpuint (hr_head_get_n_layers (h), ==, 0);

  /* a weight of the wrong size */
  g_assert_false (hr_head_append_linear (h, "0", 2, 3, short_weight, bias, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS);
  g_clear_error (&error);
  /* NaN in a weight */
  g_assert_false (hr_head_append_linear (h, "0", 2, 3, nan_weight, bias, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE);
  g_clear_error (&error);
  g_assert_cmpuint (hr_head_get_n_layers (h), ==, 0);

  g_assert_true (hr_head_append_linear (h, "0", 2, 3, weight, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (hr_head_get_layer_has_bias (h, 0));
  g_assert_cmpuint (hr_head_get_in_features (h), ==, 2);
  g_assert_cmpuint (hr_head_get_out_features (h), ==, 3);

  /* a Linear taking 2 features after one giving 3 */
  g_assert_false (hr_head_append_linear (h, "1", 2, 3, weight, bias, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE);
  g_clear_error (&error);
  /* a BatchNorm of 2 features after 3 */
  g_assert_false (hr_head_append_batch_norm (h, "1", 2, NULL, NULL, zero3, one3, 1e-5, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE);
  g_clear_error (&error);
  /* a BatchNorm without running statistics */
  g_assert_false (hr_head_append_batch_norm (h, "1", 3, one3, zero3, NULL, NULL, 1e-5, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS);
  g_clear_error (&error);
  /* a negative running variance */
  g_assert_false (hr_head_append_batch_norm (h, "1", 3, one3, zero3, zero3, neg3, 1e-5, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS);
  g_clear_error (&error);
  /* a Linear is no activation */
  g_assert_false (hr_head_append_activation (h, NULL, HR_LAYER_LINEAR, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC);
  g_clear_error (&error);
  g_assert_cmpuint (hr_head_get_n_layers (h), ==, 1);

  g_assert_true (hr_head_append_batch_norm (h, "1", 3, one3, zero3, zero3, one3, 1e-5, &error));
  g_assert_no_error (error);
  g_assert_true (hr_head_append_activation (h, NULL, HR_LAYER_RELU, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (hr_head_get_layer_name (h, 2), ==, "2");
  g_assert_cmpuint (hr_head_get_layer_in_features (h, 2), ==, 3);
  g_assert_true (hr_head_append_activation (h, NULL, HR_LAYER_L2_NORMALIZE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (hr_head_get_n_layers (h), ==, 4);
  g_assert_cmpuint (hr_head_get_out_features (h), ==, 3);
}

/* -- bad heads ---------------------------------------------------------------------------- */

static void
test_bad (gconstpointer data)
{
  JsonObject *entry = (JsonObject *)data;
  const char *file = hr_test_object_string (entry, "file");
  const char *domain = hr_test_object_string (entry, "domain");
  /* "head", "tensor", or "gio" for what the system reports (a missing file) */
  GQuark quark = strcmp (domain, "head") == 0  ? HR_HEAD_ERROR
                 : strcmp (domain, "gio") == 0 ? G_IO_ERROR
                                               : HR_TENSOR_ERROR;
  GType type = strcmp (domain, "head") == 0  ? HR_TYPE_HEAD_ERROR
               : strcmp (domain, "gio") == 0 ? G_TYPE_IO_ERROR_ENUM
                                             : HR_TYPE_TENSOR_ERROR;
  int code = enum_from_nick (type, hr_test_object_string (entry, "code"));
  g_autofree char *path = heads_path (file);
  g_autofree char *base = g_path_get_basename (path);
  g_autoptr (GError) error = NULL;
  g_autoptr (HrHead) h = NULL;

  g_test_message ("%s", hr_test_object_string (entry, "why"));
  h = hr_head_new_from_file (path, hr_test_object_string (entry, "arch"),
                             hr_test_object_string (entry, "prefix"), NULL, &error);
  g_assert_null (h);
  g_assert_nonnull (error);
  if (error->domain != quark || error->code != code)
    g_test_fail_printf (
        "%s (arch %s, prefix %s): got %s %s (“%s”), expected %s %s", file,
        hr_test_object_string (entry, "arch"), hr_test_object_string (entry, "prefix"),
        g_quark_to_string (error->domain),
        error->domain == HR_HEAD_ERROR     ? enum_nick (HR_TYPE_HEAD_ERROR, error->code)
        : error->domain == HR_TENSOR_ERROR ? enum_nick (HR_TYPE_TENSOR_ERROR, error->code)
        : error->domain == G_IO_ERROR      ? enum_nick (G_TYPE_IO_ERROR_ENUM, error->code)
                                           : "?",
        error->message, g_quark_to_string (quark), hr_test_object_string (entry, "code"));
  else if (json_object_get_boolean_member (entry, "names_file")
           && strstr (error->message, base) == NULL)
    g_test_fail_printf ("message “%s” does not name the file %s", error->message, base);
  else
    {
      JsonArray *contains = json_object_get_array_member (entry, "message_contains");

      for (guint i = 0; i < json_array_get_length (contains); i++)
        if (strstr (error->message, json_array_get_string_element (contains, i)) == NULL)
          g_test_fail_printf ("message “%s” does not contain “%s”", error->message,
                              json_array_get_string_element (contains, i));
    }
}

/* -- what an inferred architecture assumes ------------------------------------------------ */

/* hr_head_get_assumption() says each thing the tensors leave open that the head relies on,
 * and only those: the activation (or that it was given), a LayerNorm that could be another
 * norm, Dropout in a gap of numbered modules that could be a norm without parameters, and
 * the norm layers' eps. The files are VisCy's heads of tests/data/viscy. */
static void
test_assumptions (void)
{
  static const struct
  {
    const char *file;
    gboolean assumed, layer_norm, dropout, eps;
  } cases[] = {
    { "mlp-bn-gelu-dropout.safetensors", TRUE, FALSE, TRUE, TRUE },
    { "mlp-ln-gelu.safetensors", TRUE, TRUE, FALSE, TRUE },
    { "v2-viscy041.safetensors", TRUE, FALSE, FALSE, TRUE },
    { "v0-viscy021.safetensors", TRUE, FALSE, FALSE, FALSE },
    /* the architecture stated in the file's metadata: nothing assumed */
    { "mlp-ln-relu.safetensors", FALSE, FALSE, FALSE, FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path
          = g_test_build_filename (G_TEST_DIST, "data", "viscy", cases[i].file, NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (HrHead) h = hr_head_new_from_file (path, NULL, NULL, NULL, &error);
      g_autofree char *said = NULL;

      g_assert_no_error (error);
      said = hr_head_get_assumption (h);
      g_test_message ("%s: %s", cases[i].file, said != NULL ? said : "(nothing)");
      g_assert_cmpint (said != NULL, ==, cases[i].assumed);
      if (said == NULL)
        continue;
      g_assert_nonnull (strstr (said, "assumed to be relu"));
      g_assert_cmpint (strstr (said, "taken for LayerNorm") != NULL, ==, cases[i].layer_norm);
      g_assert_cmpint (strstr (said, "taken for Dropout") != NULL, ==, cases[i].dropout);
      g_assert_cmpint (strstr (said, "1e-5") != NULL, ==, cases[i].eps);
    }
}

/* -- the VisCy family (tests/data/viscy, made by make_viscy_heads.py with VisCy's classes) -- */

static JsonParser *viscy_parser;

/* One head of tests/data/viscy: read as a user reads it (the file's metadata, else inferred
 * with the manifest's activation), its spec is the module classes', and its projections
 * match PyTorch's with hr_head_forward() in eval mode, with batch statistics, and in batches
 * of 16. Inferred without the activation, the head says it was assumed. (The project and
 * CLI paths are in tests/python/test_viscy_heads.py and tests/cli/test_head_cli.py.) */
static void
test_viscy (gconstpointer data)
{
  JsonObject *root = json_node_get_object (json_parser_get_root (viscy_parser));
  JsonObject *head = (JsonObject *)data;
  JsonObject *in = json_object_has_member (head, "input") ? head : root;
  gsize n = json_object_get_int_member (in, "n"), d = json_object_get_int_member (in, "d");
  gsize out = json_object_get_int_member (head, "out");
  g_autofree char *weights = g_test_build_filename (G_TEST_DIST, "data", "viscy",
                                                    hr_test_object_string (head, "weights"), NULL);
  const char *activation = hr_test_object_string (head, "activation");
  gboolean inferred = strcmp (hr_test_object_string (head, "source"), "inferred") == 0;
  g_autoptr (GBytes) x
      = hr_test_load_raw ("viscy", hr_test_object_string (in, "input"), sizeof (float), n * d);
  const char *arch = hr_test_object_string (head, "arch");
  g_autoptr (GError) error = NULL;
  g_autoptr (HrHead) h = NULL, assumed = NULL;
  g_autoptr (HrFeatureStack) input = NULL;
  g_autofree char *spec = NULL;

  /* what the checkpoint could not tell: the activation, or the architecture (V0's L2) */
  h = hr_head_new_from_file_full (weights, arch, NULL, inferred && arch == NULL ? activation : NULL,
                                  NULL, &error);
  g_assert_no_error (error);
  spec = hr_head_get_spec (h);
  g_assert_cmpstr (spec, ==, hr_test_object_string (head, "spec"));
  g_assert_cmpint (hr_head_get_arch_source (h), ==,
                   arch != NULL ? HR_ARCH_SOURCE_GIVEN
                   : inferred   ? HR_ARCH_SOURCE_INFERRED
                                : HR_ARCH_SOURCE_METADATA);
  g_assert_false (hr_head_get_activation_assumed (h));
  if (inferred)
    {
      g_autofree char *assumption = NULL;

      assumed = hr_head_new_from_file (weights, NULL, NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (hr_head_get_activation_assumed (assumed));
      assumption = hr_head_get_assumption (assumed);
      g_assert_nonnull (strstr (assumption, "--activation"));
    }

  input = hr_feature_stack_new_from_bytes (x, n, d, &error);
  g_assert_no_error (error);
  for (guint m = 0; m < 3; m++)
    {
      static const char *const modes[] = { "running", "batch", "batch16" };
      JsonObject *refs = json_object_get_object_member (head, "refs");
      g_autoptr (GBytes) ref = hr_test_load_raw (
          "viscy", json_object_get_string_member (refs, modes[m]), sizeof (float), n * out);
      HrNormMode mode = m == 0 ? HR_NORM_MODE_RUNNING : HR_NORM_MODE_BATCH;
      gsize batch = m == 2 ? 16 : 0;
      g_autofree char *what
          = g_strdup_printf ("%s, %s", hr_test_object_string (head, "id"), modes[m]);
      g_autofree float *got = g_new (float, n *out);

      for (gsize first = 0; first<n; first += batch> 0 ? batch : n)
        {
          gsize rows = batch > 0 ? MIN (batch, n - first) : n;
          g_autoptr (HrFeatureStack) part = hr_feature_stack_new_copy (
              (const float *)g_bytes_get_data (x, NULL) + first * d, rows, d);
          g_autoptr (HrFeatureStack) y = hr_head_forward (h, part, mode, NULL, &error);

          g_assert_no_error (error);
          memcpy (got + first * out, hr_feature_stack_peek_data (y), rows * out * sizeof (float));
        }
      compare (what, got, g_bytes_get_data (ref, NULL), n, out);
    }
}

static void
add_viscy_tests (void)
{
  g_autofree char *path
      = g_test_build_filename (G_TEST_DIST, "data", "viscy", "manifest.json", NULL);
  g_autoptr (GError) error = NULL;
  JsonArray *heads;

  viscy_parser = json_parser_new ();
  json_parser_load_from_file (viscy_parser, path, &error);
  g_assert_no_error (error);
  heads = json_object_get_array_member (json_node_get_object (json_parser_get_root (viscy_parser)),
                                        "heads");
  for (guint i = 0; i < json_array_get_length (heads); i++)
    {
      JsonObject *head = json_array_get_object_element (heads, i);
      g_autofree char *name
          = g_strdup_printf ("/head/viscy/%s", hr_test_object_string (head, "id"));

      g_test_add_data_func (name, head, test_viscy);
    }
}

static void
test_new_layers (void)
{
  /* the layers without parameters, on known values, against their formulas in float64 */
  static const float x[] = { -3.0f, -1.0f, -0.25f, 0.0f, 0.5f, 2.5f };
  g_autoptr (GError) error = NULL;
  g_autoptr (HrFeatureStack) input = hr_feature_stack_new_copy (x, 1, G_N_ELEMENTS (x));
  const HrLayerKind kinds[] = { HR_LAYER_GELU_TANH, HR_LAYER_LEAKY_RELU, HR_LAYER_TANH,
                                HR_LAYER_IDENTITY, HR_LAYER_DROPOUT };

  for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_autoptr (HrHead) h = hr_head_new ();
      float eye[G_N_ELEMENTS (x) * G_N_ELEMENTS (x)] = { 0 };
      g_autoptr (GBytes) w = NULL;
      g_autoptr (HrFeatureStack) y = NULL;
      const float *out;

      for (gsize i = 0; i < G_N_ELEMENTS (x); i++)
        eye[i * G_N_ELEMENTS (x) + i] = 1.0f;
      w = g_bytes_new (eye, sizeof eye);
      g_assert_true (
          hr_head_append_linear (h, NULL, G_N_ELEMENTS (x), G_N_ELEMENTS (x), w, NULL, &error));
      if (kinds[k] == HR_LAYER_LEAKY_RELU)
        g_assert_true (hr_head_append_leaky_relu (h, NULL, 0.2, &error));
      else
        g_assert_true (hr_head_append_activation (h, NULL, kinds[k], &error));
      g_assert_no_error (error);
      g_assert_cmpint (hr_head_get_layer_kind (h, 1), ==, kinds[k]);
      y = hr_head_forward (h, input, HR_NORM_MODE_RUNNING, NULL, &error);
      g_assert_no_error (error);
      out = hr_feature_stack_peek_data (y);
      for (gsize i = 0; i < G_N_ELEMENTS (x); i++)
        {
          double v = x[i], e;

          switch (kinds[k])
            {
              case HR_LAYER_GELU_TANH:
                e = 0.5 * v * (1 + tanh (sqrt (2 / G_PI) * (v + 0.044715 * v * v * v)));
                break;
              case HR_LAYER_LEAKY_RELU:
                e = v > 0 ? v : 0.2 * v;
                break;
              case HR_LAYER_TANH:
                e = tanh (v);
                break;
              default:
                e = v;
                break;
            }
          g_assert_cmpfloat_with_epsilon (out[i], e, 1e-6);
        }
    }
  /* a bad slope; a name from the vocabulary */
  {
    g_autoptr (HrHead) h = hr_head_new ();
    float one = 1.0f;
    g_autoptr (GBytes) w = g_bytes_new (&one, sizeof one);

    g_assert_true (hr_head_append_linear (h, NULL, 1, 1, w, NULL, &error));
    g_assert_false (hr_head_append_leaky_relu (h, NULL, NAN, &error));
    g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC);
  }
  g_assert_cmpstr (hr_layer_kind_to_string (HR_LAYER_BATCH_NORM), ==, "bn");
  g_assert_cmpstr (hr_layer_kind_to_string (HR_LAYER_LAYER_NORM), ==, "ln");
  g_assert_cmpstr (hr_layer_kind_to_string (HR_LAYER_L2_NORMALIZE), ==, "l2");
  for (int k = HR_LAYER_LINEAR; k <= HR_LAYER_DROPOUT; k++)
    g_assert_cmpstr (hr_layer_kind_to_string (k), ==, enum_nick (HR_TYPE_LAYER_KIND, k));
}

/* -- presets and other errors ------------------------------------------------------------- */

static void
test_presets (void)
{
  const char *const expected[]
      = { "viscy-v0",          "issue139",          "viscy-v2",          "viscy-resnet3d",
          "viscy-mlp-ln",      "viscy-mlp-bn-relu", "viscy-mlp-bn-gelu", "viscy-mlp-bn-silu",
          "viscy-mlp-ln-relu", "viscy-mlp-ln-gelu", "viscy-mlp-ln-silu", "viscy-cross-modal" };
  const char *const *presets = hr_head_list_presets ();

  g_assert_nonnull (presets);
  g_assert_cmpuint (g_strv_length ((char **)presets), ==, G_N_ELEMENTS (expected));
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      const char *spec = hr_head_get_preset_spec (expected[i]);

      g_assert_true (g_strv_contains (presets, expected[i]));
      g_assert_nonnull (spec);
      g_assert_cmpuint (strlen (spec), >, 0);
      g_assert_nonnull (hr_head_get_preset_description (expected[i]));
    }
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_cmpstr (presets[i], ==, expected[i]);
  g_assert_nonnull (strstr (hr_head_get_preset_spec ("viscy-mlp-bn-gelu"), "gelu"));
  g_assert_nonnull (strstr (hr_head_get_preset_spec ("viscy-cross-modal"), "ln"));
  g_assert_true (g_str_has_suffix (hr_head_get_preset_spec ("viscy-cross-modal"), ",l2"));
  g_assert_null (hr_head_get_preset_description ("no-such-preset"));
  g_assert_nonnull (strstr (hr_head_get_preset_spec ("viscy-v0"), "l2"));
  g_assert_null (strstr (hr_head_get_preset_spec ("viscy-v2"), "l2"));
  g_assert_nonnull (strstr (hr_head_get_preset_spec ("viscy-mlp-ln"), "ln"));
  g_assert_null (hr_head_get_preset_spec ("no-such-preset"));
}

static JsonObject *
find_head (const char *id)
{
  JsonArray *heads = json_object_get_array_member (
      json_node_get_object (json_parser_get_root (manifest_parser)), "heads");

  for (guint i = 0; i < json_array_get_length (heads); i++)
    {
      JsonObject *h = json_array_get_object_element (heads, i);

      if (strcmp (hr_test_object_string (h, "id"), id) == 0)
        return h;
    }
  g_assert_not_reached ();
}

static void
test_input_errors (void)
{
  JsonObject *head = find_head ("viscy-v2-lightning");
  g_autoptr (HrHead) h = load_head (head, "viscy-v2", NULL);
  g_autoptr (HrFeatureStack) input = load_input (head);
  gsize n = json_object_get_int_member (head, "n"), d = json_object_get_int_member (head, "d");
  g_autofree float *x = g_memdup2 (hr_feature_stack_peek_data (input), n * d * sizeof (float));
  g_autoptr (HrFeatureStack) narrow = hr_feature_stack_new_copy (x, n, d - 1);
  g_autoptr (HrFeatureStack) with_nan = NULL;
  g_autoptr (HrFeatureStack) out = NULL;
  g_autoptr (GError) error = NULL;
  HrFeatureStack **stages;
  guint n_stages = 99;

  for (int m = HR_NORM_MODE_RUNNING; m <= HR_NORM_MODE_BATCH; m++)
    {
      out = hr_head_forward (h, narrow, m, NULL, &error);
      g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE);
      g_assert_null (out);
      g_clear_error (&error);
      stages = hr_head_forward_stages (h, narrow, m, &n_stages, NULL, &error);
      g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE);
      g_assert_null (stages);
      g_assert_cmpuint (n_stages, ==, 0);
      g_clear_error (&error);
    }

  x[5 * d + 7] = NAN;
  with_nan = hr_feature_stack_new_copy (x, n, d);
  for (int m = HR_NORM_MODE_RUNNING; m <= HR_NORM_MODE_BATCH; m++)
    {
      out = hr_head_forward (h, with_nan, m, NULL, &error);
      g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE);
      g_assert_null (out);
      g_clear_error (&error);
      stages = hr_head_forward_stages (h, with_nan, m, &n_stages, NULL, &error);
      g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE);
      g_assert_null (stages);
      g_clear_error (&error);
    }

  /* a cancelled forward */
  {
    g_autoptr (GCancellable) cancellable = g_cancellable_new ();

    g_cancellable_cancel (cancellable);
    stages
        = hr_head_forward_stages (h, input, HR_NORM_MODE_RUNNING, &n_stages, cancellable, &error);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_null (stages);
    g_clear_error (&error);
  }
}

/* hr_head_project with a stack of the wrong width fails and leaves no file behind. */
static void
test_project_errors (void)
{
  JsonObject *v2 = find_head ("viscy-v2-lightning");
  JsonObject *big = find_head ("viscy-v2-768-f16");
  g_autoptr (HrHead) h = load_head (v2, "viscy-v2", NULL);
  g_autofree char *tif = heads_path (hr_test_object_string (big, "input_tif"));
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("headrank-head-XXXXXX", &error);
  g_autofree char *out_path = g_build_filename (dir, "out.tif", NULL);
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (GDir) listing = NULL;

  g_assert_no_error (error);
  reader = hr_stack_reader_new (tif, HR_STACK_LAYOUT_MATRIX, NULL, &error);
  g_assert_no_error (error);
  writer = hr_stack_writer_new (out_path, HR_STACK_LAYOUT_MATRIX,
                                hr_stack_reader_get_n_samples (reader), 16, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (
      hr_head_project (h, reader, writer, HR_NORM_MODE_BATCH, 0, -1, NULL, NULL, NULL, &error));
  g_assert_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE);
  g_clear_error (&error);
  g_clear_object (&writer);

  /* a writer whose width is not the stage's: 15 or 100 features for 16 projections, 16 for
   * the 40 of stage 2 */
  {
    g_autofree char *tif48 = heads_path (hr_test_object_string (v2, "input_tif"));
    const struct
    {
      int stage;
      gsize width;
    } wrong[] = { { -1, 15 }, { -1, 100 }, { 2, 16 } };

    for (gsize i = 0; i < G_N_ELEMENTS (wrong); i++)
      {
        g_autoptr (HrStackReader) r
            = hr_stack_reader_new (tif48, HR_STACK_LAYOUT_MATRIX, NULL, &error);
        g_autoptr (HrStackWriter) w = NULL;
        gboolean ok;

        g_assert_no_error (error);
        w = hr_stack_writer_new (out_path, HR_STACK_LAYOUT_MATRIX,
                                 hr_stack_reader_get_n_samples (r), wrong[i].width, NULL, &error);
        g_assert_no_error (error);
        ok = hr_head_project (h, r, w, HR_NORM_MODE_RUNNING, 0, wrong[i].stage, NULL, NULL, NULL,
                              &error);
        if (ok || error == NULL || error->domain != HR_HEAD_ERROR
            || error->code != HR_HEAD_ERROR_SHAPE)
          g_test_fail_printf ("hr_head_project, stage %d into a writer of %zu features: %s "
                              "(expected HR_HEAD_ERROR_SHAPE)",
                              wrong[i].stage, wrong[i].width,
                              ok              ? "succeeded"
                              : error != NULL ? error->message
                                              : "no error");
        g_clear_error (&error);
        g_clear_object (&w);
        g_remove (out_path);
      }
  }

  listing = g_dir_open (dir, 0, &error);
  g_assert_no_error (error);
  g_assert_null (g_dir_read_name (listing));
  g_rmdir (dir);
}

/* With the whole stack as the batch, hr_head_project computes each BatchNorm's statistics
 * in passes over chunks of the reader; a stack larger than one preferred chunk (about
 * 16 MiB) must give what hr_head_forward gives on the stack in memory. */
static void
test_project_whole_batch_chunks (void)
{
  JsonObject *head = find_head ("viscy-v2-lightning");
  g_autoptr (HrHead) h = load_head (head, "viscy-v2", NULL);
  const gsize n = 100003, d = 48;
  g_autofree float *x = g_new (float, n *d);
  g_autoptr (GRand) rand = g_rand_new_with_seed (139);
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("headrank-head-XXXXXX", &error);
  g_autofree char *in_path = g_build_filename (dir, "in.tif", NULL);
  g_autofree char *out_path = g_build_filename (dir, "out.tif", NULL);
  g_autoptr (HrStackWriter) in_writer = NULL;
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrFeatureStack) input = NULL;
  g_autoptr (HrFeatureStack) expected = NULL;
  g_autoptr (HrFeatureStack) back = NULL;

  g_assert_no_error (error);
  /* features with a per-feature offset, so that a wrong mean shows */
  for (gsize i = 0; i < n * d; i++)
    x[i] = (float)(g_rand_double_range (rand, -1.0, 1.0) * (1.0 + (i % d) * 0.05)
                   + 0.1 * (double)(i % d) - 2.0);
  input = hr_feature_stack_new_copy (x, n, d);
  in_writer = hr_stack_writer_new (in_path, HR_STACK_LAYOUT_MATRIX, n, d, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (hr_stack_writer_append (in_writer, x, n, &error));
  g_assert_true (hr_stack_writer_finish (in_writer, &error));
  g_assert_no_error (error);

  reader = hr_stack_reader_new (in_path, HR_STACK_LAYOUT_MATRIX, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_stack_reader_get_preferred_chunk (reader), <, n);
  writer = hr_stack_writer_new (out_path, HR_STACK_LAYOUT_MATRIX, n, 16, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (
      hr_head_project (h, reader, writer, HR_NORM_MODE_BATCH, 0, -1, NULL, NULL, NULL, &error));
  g_assert_no_error (error);

  expected = hr_head_forward (h, input, HR_NORM_MODE_BATCH, NULL, &error);
  g_assert_no_error (error);
  back = hr_feature_stack_new_from_file (out_path, HR_STACK_LAYOUT_MATRIX, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (hr_feature_stack_get_n_samples (back), ==, n);
  compare ("project (whole stack, several chunks) vs forward", hr_feature_stack_peek_data (back),
           hr_feature_stack_peek_data (expected), n, 16);
  g_remove (in_path);
  g_remove (out_path);
  g_rmdir (dir);
}

/* -- main --------------------------------------------------------------------------------- */

static char *
test_name (const char *text)
{
  char *name = g_strdup (text);

  g_strdelimit (name, "/:,", '_');
  return name;
}

int
main (int argc, char **argv)
{
  g_autofree char *manifest_path = NULL;
  g_autoptr (GError) error = NULL;
  JsonObject *root, *tolerance;
  JsonArray *heads, *modes, *bad;

  g_test_init (&argc, &argv, NULL);

  manifest_parser = json_parser_new ();
  manifest_path = heads_path ("manifest.json");
  json_parser_load_from_file (manifest_parser, manifest_path, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (manifest_parser));
  tolerance = json_object_get_object_member (root, "tolerance");
  tol_abs = json_object_get_double_member (tolerance, "abs");
  tol_rel = json_object_get_double_member (tolerance, "rel");
  heads = json_object_get_array_member (root, "heads");
  modes = json_object_get_array_member (root, "modes");
  bad = json_object_get_array_member (root, "bad");

  g_test_add_func ("/head/presets", test_presets);
  g_test_add_func ("/head/layers/activations", test_new_layers);
  g_test_add_func ("/head/assumptions", test_assumptions);
  add_viscy_tests ();
  g_test_add_func ("/head/append/errors", test_append_errors);
  g_test_add_func ("/head/errors/input", test_input_errors);
  g_test_add_func ("/head/errors/project", test_project_errors);
  g_test_add_func ("/head/project/whole-batch-chunks", test_project_whole_batch_chunks);

  for (guint i = 0; i < json_array_get_length (heads); i++)
    {
      JsonObject *head = json_array_get_object_element (heads, i);
      const char *id = hr_test_object_string (head, "id");
      HeadCase *c = g_new0 (HeadCase, 1);
      g_autofree char *path = g_strdup_printf ("/head/load/%s", id);

      c->head = head;
      g_test_add_data_func_full (path, c, test_load, head_case_free);
      if (json_object_has_member (head, "raw"))
        {
          g_autofree char *p = g_strdup_printf ("/head/append/%s", id);

          c = g_new0 (HeadCase, 1);
          c->head = head;
          g_test_add_data_func_full (p, c, test_append, head_case_free);
        }
      for (guint m = 0; m < json_array_get_length (modes); m++)
        {
          JsonObject *mode = json_array_get_object_element (modes, m);
          g_autofree char *pf
              = g_strdup_printf ("/head/forward/%s/%s", id, hr_test_object_string (mode, "id"));
          g_autofree char *pp
              = g_strdup_printf ("/head/project/%s/%s", id, hr_test_object_string (mode, "id"));

          c = g_new0 (HeadCase, 1);
          c->head = head;
          c->mode = mode;
          c->mode_id = g_strdup (hr_test_object_string (mode, "id"));
          g_test_add_data_func_full (pf, c, test_forward, head_case_free);
          c = g_new0 (HeadCase, 1);
          c->head = head;
          c->mode = mode;
          c->mode_id = g_strdup (hr_test_object_string (mode, "id"));
          g_test_add_data_func_full (pp, c, test_project, head_case_free);
        }
    }

  for (guint i = 0; i < json_array_get_length (bad); i++)
    {
      JsonObject *entry = json_array_get_object_element (bad, i);
      g_autofree char *base = g_path_get_basename (hr_test_object_string (entry, "file"));
      g_autofree char *arch
          = test_name (hr_test_object_string (entry, "arch") ? hr_test_object_string (entry, "arch")
                                                             : "inferred");
      g_autofree char *path = g_strdup_printf ("/head/bad/%02u-%s-%s", i, base, arch);

      g_test_add_data_func (path, entry, test_bad);
    }

  {
    int status = g_test_run ();

    g_object_unref (manifest_parser);
    g_clear_object (&viscy_parser);
    return status;
  }
}
