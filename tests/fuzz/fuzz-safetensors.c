/* headrank fuzz target: safetensors bytes through HrTensorFile and HrHead
 *
 * Built as a libFuzzer target (-Dfuzzing=true, clang) or, with fuzz-main.c, as a plain
 * program that replays a corpus (the fuzz test suite).
 *
 * Each input is written to one private temporary file (reused for the whole process) and
 * opened with hr_tensor_file_new(). When it opens, every tensor is described and read as
 * float32, its `__metadata__` map is listed (sorted, UTF-8, each key found), and a head is
 * built from it three ways (architecture from the metadata's `arch` or inferred, the
 * viscy-v2 preset, and the spec "linear,bn,relu,linear,bn"); every head that builds is run on a
 * small deterministic stack in both norm modes. Besides crashes and sanitizer reports, the
 * target aborts when the library breaks its contract:
 *  - a failure without an error, a success with one, an error outside HR_TENSOR_ERROR
 *    (or, for heads, HR_HEAD_ERROR), with an unknown code or an empty message, or a
 *    tensor error that does not name the file;
 *  - a GLib warning or critical (g_return_if_fail and friends);
 *  - a description that does not hold together: names not sorted or not found, a shape
 *    whose product is not the number of elements, float32 bytes of another size, a read
 *    of a float tensor that is refused with a code other than NON_FINITE (or IO for lack
 *    of memory), read_float_into disagreeing with read_float;
 *  - a head whose layers do not chain, that refuses to run on finite input of its width
 *    (except batch statistics of a single sample, refused as PyTorch refuses them), or
 *    whose output has the wrong shape;
 *  - non-finite output from finite input when the weights are small enough that no
 *    float32 overflow is possible (|value| ≤ FUZZ_SAFE_WEIGHT; see fuzz_output_bound).
 *    Larger finite weights can overflow float32 legitimately (a BatchNorm weight of 1e38
 *    over √eps does); with HR_FUZZ_STRICT_FINITE=1 in the environment those abort too.
 */
#include <headrank.h>

#define FUZZ_TARGET "fuzz-safetensors"
#include "fuzz-input.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Heads with more weight values than this are built but not run. */
#define FUZZ_MAX_WEIGHT_VALUES ((gsize)16 << 20)
/* Heads wider than this at the input are not run. */
#define FUZZ_MAX_IN_FEATURES ((gsize)4096)
#define FUZZ_MAX_SAMPLES ((gsize)8)
/* With every value of the file at most this large, no float32 overflow is possible in a
 * head of a few layers (the bound is computed per head, below). */
#define FUZZ_SAFE_WEIGHT 1e4
/* The eps of every BatchNorm and LayerNorm built here: none of the architectures used
 * gives one, so they all have PyTorch's default. */
#define FUZZ_EPS 1e-5

static const char *fuzz_path; /* what the library opens */
static gboolean fuzz_strict_finite;
static gboolean fuzz_verbose; /* FUZZ_VERBOSE set: say what each head did */
static volatile float fuzz_sink;

/* -- set-up ------------------------------------------------------------------------------ */

static void
fuzz_init (void)
{
  /* Warnings and criticals (a failed precondition inside the library) are bugs. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  fuzz_strict_finite = g_strcmp0 (g_getenv ("HR_FUZZ_STRICT_FINITE"), "1") == 0;
  fuzz_verbose = g_getenv ("FUZZ_VERBOSE") != NULL;

  fuzz_path = fuzz_input_open (".safetensors");
}

/* -- checks ------------------------------------------------------------------------------ */

/* A tensor error: ours, a known code, a message that names the file. */
static void
check_tensor_error (const GError *error, const char *what)
{
  if (error == NULL)
    FUZZ_FAIL ("%s failed without an error", what);
  if (error->domain != HR_TENSOR_ERROR)
    FUZZ_FAIL ("%s: error outside HR_TENSOR_ERROR: %s %d: %s", what,
               g_quark_to_string (error->domain), error->code,
               error->message ? error->message : "(null)");
  if (error->code < HR_TENSOR_ERROR_IO || error->code > HR_TENSOR_ERROR_NO_MEMORY)
    FUZZ_FAIL ("%s: unknown HrTensorError code %d: %s", what, error->code,
               error->message ? error->message : "(null)");
  if (error->message == NULL || error->message[0] == '\0')
    FUZZ_FAIL ("%s: error %d without a message", what, error->code);
  if (strstr (error->message, fuzz_path) == NULL)
    FUZZ_FAIL ("%s: error %d does not name the file %s: %s", what, error->code, fuzz_path,
               error->message);
}

/* A head error: ours or a tensor error, a known code, a message. */
static void
check_head_error (const GError *error, const char *arch)
{
  if (error == NULL)
    FUZZ_FAIL ("hr_head_new_from_tensors (%s) failed without an error", arch);
  if (error->domain == HR_TENSOR_ERROR)
    {
      check_tensor_error (error, "hr_head_new_from_tensors");
      return;
    }
  if (error->domain != HR_HEAD_ERROR)
    FUZZ_FAIL ("hr_head_new_from_tensors (%s): error outside HR_HEAD_ERROR and "
               "HR_TENSOR_ERROR: %s %d: %s",
               arch, g_quark_to_string (error->domain), error->code,
               error->message ? error->message : "(null)");
  if (error->code < HR_HEAD_ERROR_SPEC || error->code > HR_HEAD_ERROR_NO_MEMORY)
    FUZZ_FAIL ("hr_head_new_from_tensors (%s): unknown HrHeadError code %d: %s", arch, error->code,
               error->message ? error->message : "(null)");
  if (error->message == NULL || error->message[0] == '\0')
    FUZZ_FAIL ("hr_head_new_from_tensors (%s): error %d without a message", arch, error->code);
}

/* -- tensors ----------------------------------------------------------------------------- */

static gboolean
is_float_dtype (const char *dtype)
{
  return strcmp (dtype, "F32") == 0 || strcmp (dtype, "F16") == 0 || strcmp (dtype, "BF16") == 0
         || strcmp (dtype, "F64") == 0;
}

/* Describes and reads every tensor; returns the largest magnitude of the values read (0
 * when none was), or +Inf when a float tensor could not be read. */
static double
fuzz_tensors (HrTensorFile *file)
{
  g_auto (GStrv) names = hr_tensor_file_get_names (file);
  g_auto (GStrv) keys = hr_tensor_file_get_metadata_keys (file);
  guint n_tensors = hr_tensor_file_get_n_tensors (file);
  double max_abs = 0;

  FUZZ_CHECK (g_strcmp0 (hr_tensor_file_get_path (file), fuzz_path) == 0, "path %s",
              hr_tensor_file_get_path (file));
  FUZZ_CHECK (names != NULL && g_strv_length (names) == n_tensors, "%u names for %u tensors",
              names != NULL ? g_strv_length (names) : 0, n_tensors);
  FUZZ_CHECK (keys != NULL, "no metadata keys");
  for (guint i = 0; keys[i] != NULL; i++)
    {
      const char *value = hr_tensor_file_get_metadata (file, keys[i]);

      FUZZ_CHECK (i == 0 || strcmp (keys[i - 1], keys[i]) < 0, "metadata keys not sorted");
      FUZZ_CHECK (value != NULL, "metadata %s", keys[i]);
      /* JSON strings: valid UTF-8 on the way out (they go into messages and reports) */
      FUZZ_CHECK (g_utf8_validate (keys[i], -1, NULL) && g_utf8_validate (value, -1, NULL),
                  "metadata %s is not UTF-8", keys[i]);
    }

  for (guint i = 0; i < n_tensors; i++)
    {
      const char *name = names[i];
      const char *dtype;
      const gint64 *shape;
      gsize n_dims = G_MAXSIZE, n_elements;
      guint64 product = 1;
      gboolean overflow = FALSE;
      g_autoptr (GError) error = NULL;
      g_autoptr (GBytes) bytes = NULL;

      FUZZ_CHECK (i == 0 || strcmp (names[i - 1], name) < 0,
                  "names not sorted or repeated: "
                  "“%s” after “%s”",
                  name, names[i - 1]);
      FUZZ_CHECK (hr_tensor_file_has_tensor (file, name), "listed tensor “%s” not found", name);
      dtype = hr_tensor_file_get_dtype (file, name);
      FUZZ_CHECK (dtype != NULL && dtype[0] != '\0', "tensor “%s” has no dtype", name);
      shape = hr_tensor_file_get_shape (file, name, &n_dims);
      FUZZ_CHECK (shape != NULL && n_dims != G_MAXSIZE, "tensor “%s” has no shape", name);
      n_elements = hr_tensor_file_get_n_elements (file, name);
      for (gsize k = 0; k < n_dims; k++)
        {
          FUZZ_CHECK (shape[k] >= 0, "tensor “%s”: dimension %zu is %" G_GINT64_FORMAT, name, k,
                      shape[k]);
          overflow |= !g_uint64_checked_mul (&product, product, (guint64)shape[k]);
        }
      FUZZ_CHECK (!overflow && product == n_elements,
                  "tensor “%s”: shape product %" G_GUINT64_FORMAT " (overflow %d), %zu elements",
                  name, product, overflow, n_elements);

      bytes = hr_tensor_file_read_float (file, name, &error);
      if (bytes == NULL)
        {
          check_tensor_error (error, "hr_tensor_file_read_float");
          if (is_float_dtype (dtype))
            FUZZ_CHECK (
                error->code == HR_TENSOR_ERROR_NON_FINITE || error->code == HR_TENSOR_ERROR_IO,
                "float tensor “%s” (%s) refused: %d %s", name, dtype, error->code, error->message);
          else
            FUZZ_CHECK (error->code == HR_TENSOR_ERROR_DTYPE, "%s tensor “%s” refused with %d: %s",
                        dtype, name, error->code, error->message);
          if (is_float_dtype (dtype))
            max_abs = INFINITY;
          continue;
        }
      FUZZ_CHECK (error == NULL, "success with an error set");
      FUZZ_CHECK (is_float_dtype (dtype), "%s tensor “%s” read as floats", dtype, name);
      FUZZ_CHECK (g_bytes_get_size (bytes) == n_elements * sizeof (float),
                  "tensor “%s”: %zu bytes for %zu elements", name, g_bytes_get_size (bytes),
                  n_elements);
      {
        gsize size;
        const float *values = g_bytes_get_data (bytes, &size);
        g_autofree float *copy = g_new (float, n_elements + 1);
        g_autoptr (GError) into_error = NULL;
        float sum = 0;

        for (gsize k = 0; k < n_elements; k++)
          {
            FUZZ_CHECK (isfinite (values[k]), "tensor “%s”: value %zu is %g", name, k,
                        (double)values[k]);
            max_abs = MAX (max_abs, fabs ((double)values[k]));
            sum += values[k];
          }
        fuzz_sink = sum;
        FUZZ_CHECK (hr_tensor_file_read_float_into (file, name, copy, n_elements, &into_error),
                    "read_float_into “%s”: %s", name, into_error ? into_error->message : "?");
        FUZZ_CHECK (n_elements == 0 || memcmp (copy, values, size) == 0,
                    "read_float_into “%s” differs from read_float", name);
        FUZZ_CHECK (!hr_tensor_file_read_float_into (file, name, copy, n_elements + 1, &into_error),
                    "read_float_into “%s” with a wrong count succeeded", name);
        check_tensor_error (into_error, "hr_tensor_file_read_float_into");
        FUZZ_CHECK (into_error->code == HR_TENSOR_ERROR_SHAPE, "wrong count: error %d",
                    into_error->code);
      }
    }

  /* A name the file does not have. */
  {
    g_autoptr (GError) error = NULL;
    const char *absent = "fuzz.no-such-tensor\x01";

    if (!hr_tensor_file_has_tensor (file, absent))
      {
        gsize n_dims = 1;

        FUZZ_CHECK (hr_tensor_file_read_float (file, absent, &error) == NULL, "absent tensor");
        check_tensor_error (error, "hr_tensor_file_read_float (absent)");
        FUZZ_CHECK (error->code == HR_TENSOR_ERROR_MISSING, "absent tensor: error %d", error->code);
        FUZZ_CHECK (hr_tensor_file_get_dtype (file, absent) == NULL
                        && hr_tensor_file_get_shape (file, absent, &n_dims) == NULL && n_dims == 0
                        && hr_tensor_file_get_n_elements (file, absent) == 0,
                    "absent tensor described");
      }
  }
  return max_abs;
}

/* -- heads ------------------------------------------------------------------------------- */

/* An upper bound of |output| of every layer for inputs in [-1, 1] and parameters of at
 * most @w in magnitude, with a margin for float32 rounding; +Inf when some intermediate
 * value (a folded weight, a partial sum) might overflow float32. */
static double
fuzz_output_bound (HrHead *head, double w)
{
  const double limit = FLT_MAX / 64;
  const double inv_sqrt_eps = 1 / sqrt (FUZZ_EPS);
  double b = 1;

  for (guint i = 0; i < hr_head_get_n_layers (head); i++)
    {
      double in = (double)hr_head_get_layer_in_features (head, i);

      switch (hr_head_get_layer_kind (head, i))
        {
          case HR_LAYER_LINEAR:
            b = in * w * b + w;
            break;
          case HR_LAYER_BATCH_NORM:
            /* |x − mean| ≤ 2b (batch) or b + w (running); s ≤ w / √eps; the folded weight
             * s·W ≤ w² / √eps */
            if (w * w * inv_sqrt_eps > limit)
              return INFINITY;
            b = (2 * b + w) * w * inv_sqrt_eps + w;
            break;
          case HR_LAYER_LAYER_NORM:
            /* |x − mean| / √(var + eps) ≤ √d */
            b = (sqrt (in) + 1) * w + w;
            break;
          case HR_LAYER_L2_NORMALIZE:
            b = 1;
            break;
          default: /* ReLU, GELU, SiLU: |f(x)| ≤ |x| */
            break;
        }
      if (!(b * 4 < limit))
        return INFINITY;
    }
  return b * 4;
}

static void
fuzz_check_output (HrFeatureStack *out, gsize n, gsize d_out, gboolean must_be_finite,
                   const char *arch, HrNormMode mode)
{
  const float *values;
  float sum = 0;

  FUZZ_CHECK (
      hr_feature_stack_get_n_samples (out) == n && hr_feature_stack_get_n_features (out) == d_out,
      "%s: output %zu x %zu, expected %zu x %zu", arch, hr_feature_stack_get_n_samples (out),
      hr_feature_stack_get_n_features (out), n, d_out);
  values = hr_feature_stack_peek_data (out);
  FUZZ_CHECK (values != NULL, "no output data");
  for (gsize k = 0; k < n * d_out; k++)
    {
      /* a non-finite output is refused (refused_nonfinite()), never returned */
      if (!isfinite (values[k]))
        FUZZ_FAIL ("head (%s, %s mode) returns %g at sample %zu, feature %zu from finite input "
                   "(%s weights)",
                   arch, mode == HR_NORM_MODE_RUNNING ? "running" : "batch", (double)values[k],
                   k / d_out, k % d_out, must_be_finite ? "small" : "large");
      sum += values[k];
    }
  fuzz_sink = sum;
}

/* Batch statistics of a single sample are refused, as PyTorch refuses them; nothing else
 * (but overflow, refused_nonfinite()) may stop a head from running on finite input of its
 * width. */
static gboolean
refused_batch (const GError *error, HrNormMode mode, gsize n, gboolean has_batch_norm)
{
  return error != NULL && mode == HR_NORM_MODE_BATCH && n < 2 && has_batch_norm
         && g_error_matches (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SHAPE) && error->message != NULL
         && error->message[0] != '\0';
}

/* A layer whose outputs overflow is refused, naming it (issue 10 §5); only a head whose
 * weights may overflow float32 (not @must_be_finite) may be refused so. */
static gboolean
refused_nonfinite (const GError *error, gboolean must_be_finite)
{
  return error != NULL && !must_be_finite
         && g_error_matches (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE)
         && error->message != NULL && strstr (error->message, "layer ") != NULL;
}

static void
fuzz_head (HrTensorFile *file, const char *arch, double max_abs, guint salt)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrHead) head = NULL;
  g_autofree char *description = NULL;
  g_autofree float *input = NULL;
  g_autoptr (HrFeatureStack) stack = NULL;
  const char *label = arch != NULL ? arch : "inferred";
  gsize d_in, d_out, n, weights = 0;
  guint n_layers;
  double bound;
  gboolean must_be_finite, has_batch_norm = FALSE;
  guint32 state;

  head = hr_head_new_from_tensors (file, arch, NULL, &error);
  if (head == NULL)
    {
      check_head_error (error, label);
      if (fuzz_verbose)
        fprintf (stderr, "  head %s: %s\n", label, error->message);
      return;
    }
  FUZZ_CHECK (error == NULL, "success with an error set");

  n_layers = hr_head_get_n_layers (head);
  FUZZ_CHECK (n_layers > 0, "%s: a head without layers", label);
  d_in = hr_head_get_in_features (head);
  d_out = hr_head_get_out_features (head);
  FUZZ_CHECK (d_in > 0 && d_out > 0, "%s: widths %zu → %zu", label, d_in, d_out);
  FUZZ_CHECK (d_in == hr_head_get_layer_in_features (head, 0), "%s: input width", label);
  FUZZ_CHECK (d_out == hr_head_get_layer_out_features (head, n_layers - 1), "%s: output width",
              label);
  for (guint i = 0; i < n_layers; i++)
    {
      gsize in = hr_head_get_layer_in_features (head, i);
      gsize out = hr_head_get_layer_out_features (head, i);
      const char *name = hr_head_get_layer_name (head, i);
      HrLayerKind kind = hr_head_get_layer_kind (head, i);
      gsize product;

      GEnumClass *kinds = g_type_class_ref (HR_TYPE_LAYER_KIND);
      gboolean known_kind = g_enum_get_value (kinds, (gint)kind) != NULL;

      g_type_class_unref (kinds);
      /* any kind the enum defines (the heads gained kinds after L2_NORMALIZE) */
      FUZZ_CHECK (known_kind, "%s: layer %u kind %d", label, i, (int)kind);
      FUZZ_CHECK (name != NULL && name[0] != '\0', "%s: layer %u has no name", label, i);
      FUZZ_CHECK (in > 0 && out > 0, "%s: layer %u is %zu → %zu", label, i, in, out);
      FUZZ_CHECK (i == 0 || in == hr_head_get_layer_out_features (head, i - 1),
                  "%s: layer %u takes %zu, the one before gives %zu", label, i, in,
                  hr_head_get_layer_out_features (head, i - 1));
      FUZZ_CHECK (kind == HR_LAYER_LINEAR || in == out, "%s: layer %u (kind %d) is %zu → %zu",
                  label, i, (int)kind, in, out);
      FUZZ_CHECK (hr_head_find_stage (head, name) >= 0, "%s: stage %s not found", label, name);
      has_batch_norm |= kind == HR_LAYER_BATCH_NORM;
      if (kind == HR_LAYER_LINEAR)
        weights = g_size_checked_mul (&product, in, out) && weights + product >= weights
                      ? weights + product
                      : G_MAXSIZE;
      else
        weights = weights + in >= weights ? weights + in : G_MAXSIZE;
    }
  FUZZ_CHECK (hr_head_find_stage (head, "projections") == (int)n_layers - 1, "projections stage");
  FUZZ_CHECK (hr_head_get_source (head) != NULL, "%s: no source", label);
  description = hr_head_describe (head);
  FUZZ_CHECK (description != NULL && description[0] != '\0', "%s: no description", label);

  if (fuzz_verbose)
    fprintf (stderr, "  head %s: %u layers, %zu → %zu, %zu weights, max |value| %g\n", label,
             n_layers, d_in, d_out, weights, max_abs);
  if (weights > FUZZ_MAX_WEIGHT_VALUES || d_in > FUZZ_MAX_IN_FEATURES)
    return;

  /* 1 … 8 samples of deterministic noise in [-1, 1] (one sample: batch mode is refused). */
  n = 1 + salt % FUZZ_MAX_SAMPLES;
  input = g_new (float, n *d_in);
  state = 2166136261u ^ salt;
  for (gsize k = 0; k < n * d_in; k++)
    {
      state = state * 1664525u + 1013904223u;
      input[k] = (float)((double)(state >> 8) / (double)(1u << 23) - 1.0);
    }
  stack = hr_feature_stack_new_copy (input, n, d_in);

  bound = fuzz_output_bound (head, max_abs);
  must_be_finite = fuzz_strict_finite || (max_abs <= FUZZ_SAFE_WEIGHT && isfinite (bound));

  for (int m = 0; m < 2; m++)
    {
      HrNormMode mode = m == 0 ? HR_NORM_MODE_RUNNING : HR_NORM_MODE_BATCH;
      g_autoptr (GError) run_error = NULL;
      g_autoptr (HrFeatureStack) out = hr_head_forward (head, stack, mode, NULL, &run_error);

      if (out == NULL
          && (refused_batch (run_error, mode, n, has_batch_norm)
              || refused_nonfinite (run_error, must_be_finite)))
        continue;
      if (out == NULL)
        FUZZ_FAIL ("%s: forward (mode %d) on %zu x %zu failed: %s", label, (int)mode, n, d_in,
                   run_error != NULL ? run_error->message : "(no error)");
      FUZZ_CHECK (!(mode == HR_NORM_MODE_BATCH && n < 2 && has_batch_norm),
                  "%s: batch statistics of one sample accepted", label);
      FUZZ_CHECK (run_error == NULL, "success with an error set");
      fuzz_check_output (out, n, d_out, must_be_finite, label, mode);
    }

  /* Every stage once, in the mode the salt picks. */
  {
    HrNormMode mode = (salt >> 3) & 1 ? HR_NORM_MODE_BATCH : HR_NORM_MODE_RUNNING;
    g_autoptr (GError) stage_error = NULL;
    guint n_stages = 0;
    HrFeatureStack **stages
        = hr_head_forward_stages (head, stack, mode, &n_stages, NULL, &stage_error);

    if (stages == NULL
        && (refused_batch (stage_error, mode, n, has_batch_norm)
            || refused_nonfinite (stage_error, must_be_finite)))
      return;
    if (stages == NULL)
      FUZZ_FAIL ("%s: forward_stages failed: %s", label,
                 stage_error != NULL ? stage_error->message : "(no error)");
    FUZZ_CHECK (n_stages == n_layers, "%u stages for %u layers", n_stages, n_layers);
    for (guint i = 0; i < n_stages; i++)
      {
        fuzz_check_output (stages[i], n, hr_head_get_layer_out_features (head, i), must_be_finite,
                           label, mode);
        g_object_unref (stages[i]);
      }
    g_free (stages);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const archs[] = { NULL, "viscy-v2", "linear,bn,relu,linear,bn" };
  g_autoptr (GError) error = NULL;
  g_autoptr (HrTensorFile) file = NULL;
  guint salt = 0;
  double max_abs;

  if (fuzz_path == NULL)
    fuzz_init ();
  fuzz_input_write (data, size);

  for (size_t i = 0; i < size; i += 61)
    salt = salt * 31 + data[i];
  salt += (guint)size;

  file = hr_tensor_file_new (fuzz_path, NULL, &error);
  if (file == NULL)
    {
      check_tensor_error (error, "hr_tensor_file_new");
      return 0;
    }
  FUZZ_CHECK (error == NULL, "success with an error set");

  max_abs = fuzz_tensors (file);
  for (gsize i = 0; i < G_N_ELEMENTS (archs); i++)
    fuzz_head (file, archs[i], max_abs, salt + (guint)i);
  return 0;
}
