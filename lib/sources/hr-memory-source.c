/* headrank: a source over float32 rows in memory */
#include "hr-private.h"
#include "hr-memory-source.h"

#include "hr-error.h"
#include "hr-feature-stack.h"
#include "hr-source.h"
#include "hr-stack-info.h"

#include <gio/gio.h>
#include <string.h>

/**
 * HrMemorySource:
 *
 * A [class@Source] over an N × D float32 matrix in memory, row-major, in native byte
 * order: a #GBytes ([ctor@MemorySource.new]), memory of the caller's
 * ([ctor@MemorySource.new_borrowed]) or a feature stack's
 * ([ctor@MemorySource.new_for_stack]). None of them copies the matrix; reads copy one
 * chunk into the reader's buffer, as reading a file does.
 *
 * From Python, `headrank_numpy.source_from_numpy(array)` makes one over a C-contiguous
 * float32 numpy array without copying it (the source keeps the array alive).
 *
 * Since: 0.2
 */

struct _HrMemorySource
{
  HrSource parent_instance;

  GBytes *bytes;
  const float *data;
};

G_DEFINE_FINAL_TYPE (HrMemorySource, hr_memory_source, HR_TYPE_SOURCE)

static void
hr_memory_source_finalize (GObject *object)
{
  HrMemorySource *self = HR_MEMORY_SOURCE (object);

  g_clear_pointer (&self->bytes, g_bytes_unref);

  G_OBJECT_CLASS (hr_memory_source_parent_class)->finalize (object);
}

static gboolean
hr_memory_source_read (HrSource *source, guint64 first, float *buffer, gsize max_samples,
                       gsize *n_read, GCancellable *cancellable, GError **error)
{
  HrMemorySource *self = HR_MEMORY_SOURCE (source);
  gsize d = hr_source_get_n_features (source);

  /* The base class has clipped max_samples to the samples left; a source made with
   * g_object_new() and no data, or a shape that the data do not hold, reads nothing. */
  if (self->bytes == NULL || d == 0
      || first + max_samples > g_bytes_get_size (self->bytes) / sizeof (float) / d)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: the memory holds fewer samples than the source announces"),
                   hr_source_get_name (source));
      return FALSE;
    }
  memcpy (buffer, self->data + (gsize)first * d, max_samples * d * sizeof (float));
  *n_read = max_samples;
  return TRUE;
}

static void
hr_memory_source_class_init (HrMemorySourceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = hr_memory_source_finalize;
  HR_SOURCE_CLASS (klass)->read = hr_memory_source_read;
}

static void
hr_memory_source_init (HrMemorySource *self)
{
}

static HrSource *
hr_memory_source_new_take_bytes (GBytes *bytes, gsize n_samples, gsize n_features)
{
  HrMemorySource *self = g_object_new (HR_TYPE_MEMORY_SOURCE, "n-samples", (guint64)n_samples,
                                       "n-features", (guint64)n_features, "name", "memory", NULL);

  self->bytes = bytes;
  self->data = g_bytes_get_data (bytes, NULL);
  return HR_SOURCE (self);
}

/**
 * hr_memory_source_new:
 * @data: N × D float32 values, row-major, native byte order
 * @n_samples: the number of samples N, at least 1
 * @n_features: the number of features D, at least 1
 * @error: return location for a #GError
 *
 * Makes a source over @data, which it keeps a reference to (no copy).
 *
 * Returns: (transfer full): a new #HrMemorySource, or %NULL with
 *   %HR_STACK_ERROR_INVALID when @data does not hold N × D float32 values
 *
 * Since: 0.2
 */
HrSource *
hr_memory_source_new (GBytes *data, gsize n_samples, gsize n_features, GError **error)
{
  gsize size;

  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  size = g_bytes_get_size (data);
  if (n_samples == 0 || n_features == 0 || n_samples > G_MAXSIZE / sizeof (float) / n_features
      || size != n_samples * n_features * sizeof (float))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%zu bytes are not %zu × %zu float32 values"), size, n_samples, n_features);
      return NULL;
    }
  if (((guintptr)g_bytes_get_data (data, NULL)) % G_ALIGNOF (float) != 0)
    {
      /* Unaligned bytes (a slice of a larger buffer): one copy, aligned. */
      return hr_memory_source_new_take_bytes (g_bytes_new (g_bytes_get_data (data, NULL), size),
                                              n_samples, n_features);
    }
  return hr_memory_source_new_take_bytes (g_bytes_ref (data), n_samples, n_features);
}

/**
 * hr_memory_source_new_borrowed: (skip)
 * @data: N × D float32 values, row-major, aligned for float
 * @n_samples: the number of samples N, at least 1
 * @n_features: the number of features D, at least 1
 * @destroy: (nullable): called with @user_data when the source no longer needs @data
 * @user_data: data for @destroy
 *
 * Makes a source over memory of the caller's, without copying it; @data must stay
 * valid and unchanged until @destroy is called.
 *
 * Returns: (transfer full): a new #HrMemorySource
 *
 * Since: 0.2
 */
HrSource *
hr_memory_source_new_borrowed (const float *data, gsize n_samples, gsize n_features,
                               GDestroyNotify destroy, gpointer user_data)
{
  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (n_samples > 0 && n_features > 0, NULL);
  g_return_val_if_fail (n_samples <= G_MAXSIZE / sizeof (float) / n_features, NULL);

  return hr_memory_source_new_take_bytes (
      g_bytes_new_with_free_func (data, n_samples * n_features * sizeof (float), destroy,
                                  user_data),
      n_samples, n_features);
}

/**
 * hr_memory_source_new_for_stack:
 * @stack: a #HrFeatureStack
 *
 * Makes a source over the samples of @stack, sharing its memory and its info.
 *
 * Returns: (transfer full): a new #HrMemorySource
 *
 * Since: 0.2
 */
HrSource *
hr_memory_source_new_for_stack (HrFeatureStack *stack)
{
  HrSource *source;

  g_return_val_if_fail (HR_IS_FEATURE_STACK (stack), NULL);

  source = hr_memory_source_new_take_bytes (hr_feature_stack_get_data (stack),
                                            hr_feature_stack_get_n_samples (stack),
                                            hr_feature_stack_get_n_features (stack));
  hr_source_set_info (source, hr_feature_stack_get_info (stack));
  if (hr_stack_info_get_path (hr_feature_stack_get_info (stack)) != NULL)
    g_object_set (source, "name", hr_stack_info_get_path (hr_feature_stack_get_info (stack)), NULL);
  return source;
}

/**
 * hr_memory_source_get_data:
 * @source: a #HrMemorySource
 *
 * Gets the matrix the source reads, without a copy.
 *
 * Returns: (transfer full): the N × D float32 values
 *
 * Since: 0.2
 */
GBytes *
hr_memory_source_get_data (HrMemorySource *source)
{
  g_return_val_if_fail (HR_IS_MEMORY_SOURCE (source), NULL);
  return g_bytes_ref (source->bytes);
}
