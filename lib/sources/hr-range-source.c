/* headrank: some consecutive rows of another source */
#include "hr-private.h"
#include "hr-range-source.h"

#include "hr-error.h"
#include "hr-source.h"
#include "hr-stack-info.h"

#include <gio/gio.h>

/**
 * HrRangeSource:
 *
 * Samples @first to @first + @n_samples − 1 of another [class@Source], read as a stack of
 * their own: one partition of a store or a file, analysed by one worker
 * ([method@Analysis.run_part]) while others take the other rows. The rows are read from
 * the underlying source as they are asked for, never copied ahead; the info is that of
 * the underlying source.
 *
 * ```c
 * // the second half of a store, as its own source
 * guint64 n = hr_source_get_n_samples (store);
 * g_autoptr (HrSource) half = hr_range_source_new (store, n / 2, n - n / 2, &error);
 * ```
 *
 * Since: 0.2
 */

struct _HrRangeSource
{
  HrSource parent_instance;

  HrSource *source;
  guint64 first;
};

G_DEFINE_FINAL_TYPE (HrRangeSource, hr_range_source, HR_TYPE_SOURCE)

static void
hr_range_source_dispose (GObject *object)
{
  HrRangeSource *self = HR_RANGE_SOURCE (object);

  g_clear_object (&self->source);

  G_OBJECT_CLASS (hr_range_source_parent_class)->dispose (object);
}

static gboolean
hr_range_source_read (HrSource *source, guint64 first, float *buffer, gsize max_samples,
                      gsize *n_read, GCancellable *cancellable, GError **error)
{
  HrRangeSource *self = HR_RANGE_SOURCE (source);
  gsize d = hr_source_get_n_features (source);

  if (self->source == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: a range made without a source"), hr_source_get_name (source));
      return FALSE;
    }
  /* The base class has clipped max_samples to the samples of the range; the underlying
   * source's own non-finite counts are not looked at (the range counts its rows). */
  return hr_source_read_rows_into (self->source, self->first + first, max_samples, buffer,
                                   max_samples * d, n_read, cancellable, error);
}

static gsize
hr_range_source_get_preferred_chunk (HrSource *source)
{
  HrRangeSource *self = HR_RANGE_SOURCE (source);

  return self->source != NULL ? hr_source_get_preferred_chunk (self->source) : 1;
}

static void
hr_range_source_class_init (HrRangeSourceClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = hr_range_source_dispose;
  HR_SOURCE_CLASS (klass)->read = hr_range_source_read;
  HR_SOURCE_CLASS (klass)->get_preferred_chunk = hr_range_source_get_preferred_chunk;
}

static void
hr_range_source_init (HrRangeSource *self)
{
}

/**
 * hr_range_source_new:
 * @source: the source whose rows are read
 * @first: the first sample of the range
 * @n_samples: how many samples the range holds (0 is allowed: an empty partition)
 * @error: return location for a #GError
 *
 * Makes a source of samples @first to @first + @n_samples − 1 of @source, numbered from 0.
 * The range keeps a reference to @source and seeks it as it reads: do not read @source
 * (nor another range of it) from another thread at the same time; open the store once per
 * thread or process instead. It is named after @source with the range in brackets, as
 * `store.zarr[1000:2000]` (the end excluded).
 *
 * Returns: (transfer full) (type HrRangeSource): a new #HrRangeSource, or %NULL with
 *   %HR_STACK_ERROR_INVALID when @source does not know its number of samples or the range
 *   runs past its end
 *
 * Since: 0.2
 */
HrSource *
hr_range_source_new (HrSource *source, guint64 first, guint64 n_samples, GError **error)
{
  HrRangeSource *self;
  guint64 total;
  g_autofree char *name = NULL;

  g_return_val_if_fail (HR_IS_SOURCE (source), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  total = hr_source_get_n_samples (source);
  if (total == HR_SOURCE_N_SAMPLES_UNKNOWN)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: a range needs a source that knows its number of samples"),
                   hr_source_get_name (source));
      return NULL;
    }
  if (first > total || n_samples > total - first)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   /* TRANSLATORS: %s: a source; samples [first, end) of n */
                   _ ("%s: samples %llu to %llu asked for, the source has %llu"),
                   hr_source_get_name (source), (unsigned long long)first,
                   (unsigned long long)(first + n_samples), (unsigned long long)total);
      return NULL;
    }
  name = g_strdup_printf ("%s[%llu:%llu]", hr_source_get_name (source), (unsigned long long)first,
                          (unsigned long long)(first + n_samples));
  self = g_object_new (HR_TYPE_RANGE_SOURCE, "n-samples", n_samples, "n-features",
                       (guint64)hr_source_get_n_features (source), "name", name, "info",
                       hr_source_get_info (source), NULL);
  self->source = g_object_ref (source);
  self->first = first;
  return HR_SOURCE (self);
}

/**
 * hr_range_source_get_source:
 * @self: a #HrRangeSource
 *
 * Gets the source whose rows the range reads.
 *
 * Returns: (transfer none): the underlying source
 *
 * Since: 0.2
 */
HrSource *
hr_range_source_get_source (HrRangeSource *self)
{
  g_return_val_if_fail (HR_IS_RANGE_SOURCE (self), NULL);
  return self->source;
}

/**
 * hr_range_source_get_first:
 * @self: a #HrRangeSource
 *
 * Gets the sample of the underlying source that is sample 0 of the range.
 *
 * Returns: the first sample of the range in the underlying source
 *
 * Since: 0.2
 */
guint64
hr_range_source_get_first (HrRangeSource *self)
{
  g_return_val_if_fail (HR_IS_RANGE_SOURCE (self), 0);
  return self->first;
}
