/* headrank: an N×D float32 feature matrix and where it came from */
#include "hr-private.h"
#include "hr-feature-stack.h"

#include "hr-enum-types.h"
#include "hr-error.h"
#include "hr-memory-source.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-stack-reader.h"
#include "hr-stack-writer.h"
#include "hr-types.h"

#include <gio/gio.h>
#include <string.h>

/**
 * HrFeatureStack:
 *
 * An immutable N×D matrix of float32 values in row-major order: N samples (rows) of D
 * features (columns), and an #HrStackInfo saying where it came from.
 *
 * Stacks are read from TIFF files with hr_feature_stack_new_from_file(), which reads the
 * whole file into memory; use #HrStackReader to go through a larger file a chunk at a time.
 * Bindings hand matrices in and out as #GBytes (hr_feature_stack_new_from_bytes(),
 * hr_feature_stack_get_data()): from Python,
 *
 * ```python
 * s = Headrank.FeatureStack.new_from_file(path, Headrank.StackLayout.AUTO, None)
 * x = numpy.frombuffer(s.get_data().get_data(), numpy.float32)
 * x = x.reshape(s.get_n_samples(), s.get_n_features())
 * ```
 *
 * Non-finite values (NaN, ±Inf, and float64 values too large for float32) are never
 * passed on silently: the stack counts them and remembers where the first
 * %HR_NONFINITE_MAX_POSITIONS are.
 */

struct _HrFeatureStack
{
  GObject parent_instance;

  char *path;
  HrStackLayout layout;

  GBytes *bytes;
  const float *data;
  gsize n_samples;
  gsize n_features;
  HrStackInfo *info;
  HrNonfinite nonfinite;
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_LAYOUT,
  PROP_N_SAMPLES,
  PROP_N_FEATURES,
  PROP_INFO,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void hr_feature_stack_initable_iface_init (GInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HrFeatureStack, hr_feature_stack, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      hr_feature_stack_initable_iface_init))

static void
hr_feature_stack_finalize (GObject *object)
{
  HrFeatureStack *self = HR_FEATURE_STACK (object);

  g_clear_pointer (&self->bytes, g_bytes_unref);
  g_clear_pointer (&self->info, hr_stack_info_unref);
  g_free (self->path);

  G_OBJECT_CLASS (hr_feature_stack_parent_class)->finalize (object);
}

static void
hr_feature_stack_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HrFeatureStack *self = HR_FEATURE_STACK (object);

  switch (prop_id)
    {
      case PROP_PATH:
        g_value_set_string (value, self->path);
        break;
      case PROP_LAYOUT:
        g_value_set_enum (value, self->info != NULL ? self->info->layout : self->layout);
        break;
      case PROP_N_SAMPLES:
        g_value_set_uint64 (value, self->n_samples);
        break;
      case PROP_N_FEATURES:
        g_value_set_uint64 (value, self->n_features);
        break;
      case PROP_INFO:
        g_value_set_boxed (value, self->info);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_feature_stack_set_property (GObject *object, guint prop_id, const GValue *value,
                               GParamSpec *pspec)
{
  HrFeatureStack *self = HR_FEATURE_STACK (object);

  switch (prop_id)
    {
      case PROP_PATH:
        self->path = g_value_dup_string (value);
        break;
      case PROP_LAYOUT:
        self->layout = g_value_get_enum (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_feature_stack_class_init (HrFeatureStackClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hr_feature_stack_finalize;
  object_class->get_property = hr_feature_stack_get_property;
  object_class->set_property = hr_feature_stack_set_property;

  /**
   * HrFeatureStack:path: (type filename)
   *
   * The TIFF file to read, for stacks made with hr_feature_stack_new_from_file().
   */
  properties[PROP_PATH]
      = g_param_spec_string ("path", NULL, NULL, NULL,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrFeatureStack:layout:
   *
   * The layout asked for when reading; once read, the layout the file was read with.
   */
  properties[PROP_LAYOUT]
      = g_param_spec_enum ("layout", NULL, NULL, HR_TYPE_STACK_LAYOUT, HR_STACK_LAYOUT_AUTO,
                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrFeatureStack:n-samples:
   *
   * The number of samples N (rows).
   */
  properties[PROP_N_SAMPLES] = g_param_spec_uint64 ("n-samples", NULL, NULL, 0, G_MAXUINT64, 0,
                                                    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * HrFeatureStack:n-features:
   *
   * The number of features D (columns).
   */
  properties[PROP_N_FEATURES] = g_param_spec_uint64 ("n-features", NULL, NULL, 0, G_MAXUINT64, 0,
                                                     G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * HrFeatureStack:info:
   *
   * Where the stack came from.
   */
  properties[PROP_INFO] = g_param_spec_boxed ("info", NULL, NULL, HR_TYPE_STACK_INFO,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hr_feature_stack_init (HrFeatureStack *self)
{
}

static gboolean
hr_feature_stack_initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
  HrFeatureStack *self = HR_FEATURE_STACK (initable);
  g_autoptr (HrTiffSource) src = NULL;
  gsize chunk, n, d;
  float *data;
  gboolean floats;

  if (self->bytes != NULL)
    return TRUE; /* made in memory */
  if (self->path == NULL)
    {
      g_set_error_literal (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                           _ ("a feature stack needs a file to read"));
      return FALSE;
    }

  src = hr_tiff_source_open (self->path, self->layout, cancellable, error);
  if (src == NULL || !hr_tiff_source_check_whole_read (src, error))
    return FALSE;

  n = hr_tiff_source_get_n_samples (src);
  d = hr_tiff_source_get_n_features (src);
  data = g_try_malloc (n * d * sizeof (float));
  if (data == NULL)
    {
      g_set_error (
          error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
          _ ("%s: not enough memory for %zu × %zu values; read it in chunks with HrStackReader"),
          self->path, n, d);
      return FALSE;
    }

  chunk = hr_tiff_source_get_preferred_chunk (src);
  floats = hr_tiff_source_get_info (src)->sample_format >= HR_SAMPLE_FORMAT_FLOAT16;
  for (gsize first = 0; first < n; first += chunk)
    {
      gsize count = MIN (chunk, n - first);

      if (!hr_tiff_source_read (src, first, count, data + first * d, cancellable, error))
        {
          g_free (data);
          return FALSE;
        }
      if (floats)
        hr_nonfinite_scan (&self->nonfinite, data + first * d, count * d, first * d);
    }

  self->bytes = g_bytes_new_take (data, n * d * sizeof (float));
  self->data = data;
  self->n_samples = n;
  self->n_features = d;
  self->info = hr_stack_info_ref (hr_tiff_source_get_info (src));
  return TRUE;
}

static void
hr_feature_stack_initable_iface_init (GInitableIface *iface)
{
  iface->init = hr_feature_stack_initable_init;
}

/**
 * hr_feature_stack_new_from_file:
 * @path: (type filename): a TIFF file
 * @layout: how the file holds its features, or %HR_STACK_LAYOUT_AUTO
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads a whole feature stack from a TIFF file into memory, converting its values to
 * float32. See #HrStackLayout for the layouts and #HrSampleFormat for the conversion.
 *
 * Errors are in the %HR_STACK_ERROR domain (or %G_IO_ERROR_CANCELLED) and name the file.
 *
 * Returns: (transfer full): a new #HrFeatureStack, or %NULL with @error set
 */
HrFeatureStack *
hr_feature_stack_new_from_file (const char *path, HrStackLayout layout, GCancellable *cancellable,
                                GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_initable_new (HR_TYPE_FEATURE_STACK, cancellable, error, "path", path, "layout", layout,
                         NULL);
}

static HrFeatureStack *
hr_feature_stack_new_with_bytes (GBytes *bytes, gsize n_samples, gsize n_features)
{
  HrFeatureStack *self
      = g_object_new (HR_TYPE_FEATURE_STACK, "layout", HR_STACK_LAYOUT_MATRIX, NULL);

  self->bytes = bytes;
  self->data = g_bytes_get_data (bytes, NULL);
  self->n_samples = n_samples;
  self->n_features = n_features;
  self->info = hr_stack_info_new_internal ();
  hr_nonfinite_scan (&self->nonfinite, self->data, n_samples * n_features, 0);
  return self;
}

/**
 * hr_feature_stack_new_from_bytes:
 * @data: @n_samples × @n_features float32 values, row-major, in native byte order
 * @n_samples: number of samples N (rows), at least 1
 * @n_features: number of features D (columns), at least 1
 * @error: return location for a #GError
 *
 * Makes a stack over @data without copying it (unless @data is not aligned for float32, in
 * which case it is copied once). This is the constructor for bindings: from Python,
 * `Headrank.FeatureStack.new_from_bytes(GLib.Bytes(array.astype(numpy.float32).tobytes()),
 * n, d)`.
 *
 * Returns: (transfer full): a new #HrFeatureStack, or %NULL with %HR_STACK_ERROR_INVALID when
 *   the size of @data is not @n_samples × @n_features × 4 bytes
 */
HrFeatureStack *
hr_feature_stack_new_from_bytes (GBytes *data, gsize n_samples, gsize n_features, GError **error)
{
  gsize size, expected;
  gconstpointer bytes;

  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  bytes = g_bytes_get_data (data, &size);
  if (n_samples == 0 || n_features == 0 || !g_size_checked_mul (&expected, n_samples, n_features)
      || !g_size_checked_mul (&expected, expected, sizeof (float)) || expected != size)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%zu bytes are not %zu × %zu float32 values"), size, n_samples, n_features);
      return NULL;
    }
  if (((guintptr)bytes) % G_ALIGNOF (float) != 0)
    return hr_feature_stack_new_with_bytes (g_bytes_new (bytes, size), n_samples, n_features);
  return hr_feature_stack_new_with_bytes (g_bytes_ref (data), n_samples, n_features);
}

/**
 * hr_feature_stack_new_borrowed: (skip)
 * @data: (array) (transfer none): @n_samples × @n_features float32 values, row-major, aligned
 *   for float
 * @n_samples: number of samples N, at least 1
 * @n_features: number of features D, at least 1
 * @destroy: (nullable): called with @user_data when the stack no longer needs @data
 * @user_data: (closure): data for @destroy
 *
 * Makes a stack over memory that the caller owns, without copying: @data must stay valid
 * and unchanged until @destroy is called (if @destroy is %NULL, for the lifetime of the
 * stack and of every #GBytes obtained from it). For C callers; bindings use
 * hr_feature_stack_new_from_bytes().
 *
 * Returns: (transfer full): a new #HrFeatureStack
 */
HrFeatureStack *
hr_feature_stack_new_borrowed (const float *data, gsize n_samples, gsize n_features,
                               GDestroyNotify destroy, gpointer user_data)
{
  gsize size = 0;
  gboolean fits;

  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (n_samples > 0 && n_features > 0, NULL);
  /* computed outside the check: under G_DISABLE_CHECKS the check is compiled out */
  fits = g_size_checked_mul (&size, n_samples, n_features)
         && g_size_checked_mul (&size, size, sizeof (float));
  g_return_val_if_fail (fits, NULL);

  return hr_feature_stack_new_with_bytes (
      g_bytes_new_with_free_func (data, size, destroy, user_data), n_samples, n_features);
}

/**
 * hr_feature_stack_new_copy: (skip)
 * @data: (array): @n_samples × @n_features float32 values, row-major
 * @n_samples: number of samples N, at least 1
 * @n_features: number of features D, at least 1
 *
 * Makes a stack from a copy of @data. For C callers; bindings use
 * hr_feature_stack_new_from_bytes().
 *
 * Returns: (transfer full): a new #HrFeatureStack
 */
HrFeatureStack *
hr_feature_stack_new_copy (const float *data, gsize n_samples, gsize n_features)
{
  gsize size = 0;
  gboolean fits;

  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (n_samples > 0 && n_features > 0, NULL);
  /* computed outside the check: under G_DISABLE_CHECKS the check is compiled out */
  fits = g_size_checked_mul (&size, n_samples, n_features)
         && g_size_checked_mul (&size, size, sizeof (float));
  g_return_val_if_fail (fits, NULL);

  return hr_feature_stack_new_with_bytes (g_bytes_new (data, size), n_samples, n_features);
}

HrFeatureStack *
hr_feature_stack_new_take (float *data, gsize n_samples, gsize n_features, HrStackInfo *info,
                           const HrNonfinite *nonfinite)
{
  HrFeatureStack *self = g_object_new (HR_TYPE_FEATURE_STACK, NULL);

  self->bytes = g_bytes_new_take (data, n_samples * n_features * sizeof (float));
  self->data = data;
  self->n_samples = n_samples;
  self->n_features = n_features;
  self->info = info;
  if (nonfinite != NULL)
    self->nonfinite = *nonfinite;
  return self;
}

/**
 * hr_feature_stack_get_n_samples:
 * @stack: a #HrFeatureStack
 *
 * Gets the number of samples N.
 *
 * Returns: the number of samples N (rows)
 */
gsize
hr_feature_stack_get_n_samples (HrFeatureStack *stack)
{
  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), 0);
  return stack->n_samples;
}

/**
 * hr_feature_stack_get_n_features:
 * @stack: a #HrFeatureStack
 *
 * Gets the number of features D.
 *
 * Returns: the number of features D (columns)
 */
gsize
hr_feature_stack_get_n_features (HrFeatureStack *stack)
{
  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), 0);
  return stack->n_features;
}

/**
 * hr_feature_stack_get_data:
 * @stack: a #HrFeatureStack
 *
 * The matrix as bytes: N × D float32 values, row-major, native byte order. No copy is
 * made: the #GBytes shares the stack's storage.
 *
 * Returns: (transfer full): the data
 */
GBytes *
hr_feature_stack_get_data (HrFeatureStack *stack)
{
  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), NULL);
  return g_bytes_ref (stack->bytes);
}

/**
 * hr_feature_stack_peek_data: (skip)
 * @stack: a #HrFeatureStack
 *
 * Borrows the stack's values without a copy, for C callers (bindings use
 * hr_feature_stack_get_data()).
 *
 * Returns: (transfer none): the N × D float32 values, row-major, valid while @stack lives
 */
const float *
hr_feature_stack_peek_data (HrFeatureStack *stack)
{
  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), NULL);
  return stack->data;
}

/**
 * hr_feature_stack_get_row:
 * @stack: a #HrFeatureStack
 * @index: a sample index, less than the number of samples
 * @n_features: (out) (optional): return location for the row's length
 *
 * Gets the features of sample @index.
 *
 * Returns: (array length=n_features) (transfer none): the features of sample @index
 */
const float *
hr_feature_stack_get_row (HrFeatureStack *stack, gsize index, gsize *n_features)
{
  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), NULL);
  g_return_val_if_fail (index < stack->n_samples, NULL);

  if (n_features != NULL)
    *n_features = stack->n_features;
  return stack->data + index * stack->n_features;
}

/**
 * hr_feature_stack_get_info:
 * @stack: a #HrFeatureStack
 *
 * Gets where the stack came from.
 *
 * Returns: (transfer none): where the stack came from
 */
HrStackInfo *
hr_feature_stack_get_info (HrFeatureStack *stack)
{
  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), NULL);
  return stack->info;
}

/**
 * hr_feature_stack_set_info:
 * @stack: a #HrFeatureStack
 * @info: a per-pixel geometry from hr_stack_info_new_pixels() whose width × height × depth
 *   × frames is the number of samples, or another stack's info with the same number of
 *   samples
 *
 * Attaches a description of where the samples came from, so that per-sample results can
 * be shown, and the stack written, as images (for instance projections computed from a
 * per-pixel stack).
 */
void
hr_feature_stack_set_info (HrFeatureStack *stack, HrStackInfo *info)
{
  g_return_if_fail (HR_IS_FEATURE_STACK (stack));
  g_return_if_fail (info != NULL);
  g_return_if_fail (!info->per_pixel
                    || (guint64)info->width * info->height * info->depth * info->frames
                           == stack->n_samples);

  hr_stack_info_ref (info);
  g_clear_pointer (&stack->info, hr_stack_info_unref);
  stack->info = info;
  g_object_notify_by_pspec (G_OBJECT (stack), properties[PROP_INFO]);
}

/**
 * hr_feature_stack_get_n_nonfinite:
 * @stack: a #HrFeatureStack
 *
 * Counts the NaN and infinite values of the stack.
 *
 * Returns: how many values are NaN or infinite (including float64 values that overflow
 *   float32)
 */
guint64
hr_feature_stack_get_n_nonfinite (HrFeatureStack *stack)
{
  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), 0);
  return stack->nonfinite.count;
}

/**
 * hr_feature_stack_get_nonfinite_positions:
 * @stack: a #HrFeatureStack
 * @n_positions: (out): return location for the number of positions
 *
 * Where the first non-finite values are (at most %HR_NONFINITE_MAX_POSITIONS of them), as
 * flat indices `sample × n_features + feature`, in increasing order.
 *
 * Returns: (array length=n_positions) (transfer none): the positions
 */
const guint64 *
hr_feature_stack_get_nonfinite_positions (HrFeatureStack *stack, gsize *n_positions)
{
  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), NULL);
  g_return_val_if_fail (n_positions != NULL, NULL);

  *n_positions = hr_nonfinite_n_positions (&stack->nonfinite);
  return stack->nonfinite.positions;
}

/**
 * hr_feature_stack_write:
 * @stack: a #HrFeatureStack
 * @path: (type filename): the file to write
 * @layout: %HR_STACK_LAYOUT_MATRIX for one N × D page, %HR_STACK_LAYOUT_CHANNELS for a
 *   per-pixel stack (C pages of Y × X with ImageJ hyperstack metadata; needs a per-pixel
 *   #HrStackInfo), or %HR_STACK_LAYOUT_AUTO for channels when the stack is per-pixel and
 *   matrix otherwise
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Writes the stack as a float32 TIFF that tifffile, Fiji and napari open with the right
 * axes. The file is written beside @path under a temporary name and renamed into place
 * when complete: on any error, @path is left as it was.
 *
 * Returns: %TRUE on success
 */
gboolean
hr_feature_stack_write (HrFeatureStack *stack, const char *path, HrStackLayout layout,
                        GCancellable *cancellable, GError **error)
{
  g_autoptr (HrSource) source = NULL;

  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* One chunk loop for every source: the writer's. */
  source = hr_memory_source_new_for_stack (stack);
  return hr_stack_writer_write_source (source, path, layout, cancellable, error);
}
