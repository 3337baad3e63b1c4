/* headrank: rows of float32 features, read a chunk at a time from anywhere */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-feature-stack.h"
#include "hr-stack-info.h"
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HR_SOURCE_N_SAMPLES_UNKNOWN: (type guint64)
 *
 * The number of samples of a source that does not know it before the end (a generator);
 * such a source is read until a read returns no samples.
 *
 * Since: 0.2
 */
#define HR_SOURCE_N_SAMPLES_UNKNOWN ((guint64)0xffffffffffffffffULL)

#define HR_TYPE_SOURCE (hr_source_get_type ())

HR_AVAILABLE_IN_0_2
G_DECLARE_DERIVABLE_TYPE (HrSource, hr_source, HR, SOURCE, GObject)

/**
 * HrSourceClass:
 * @parent_class: the parent class
 * @read: reads at most @max_samples rows, starting at sample @first, into @buffer
 *   (row-major float32, room for @max_samples × n_features values); sets *@n_read (0 only
 *   at the end). Implementations in C override this one; the default calls @read_bytes
 *   and copies.
 * @read_bytes: the same for bindings: returns the rows read as float32 values in native
 *   byte order (a multiple of n_features values, empty only at the end), or %NULL with an
 *   error. Implementations in Python override `do_read_bytes`.
 * @seek: makes @sample the next sample to read; the default accepts any sample up to
 *   n_samples (reads get their first sample, so random access needs nothing more). A
 *   source that can only go forward (a generator) overrides it to restart or to refuse.
 * @get_preferred_chunk: how many samples to read at a time; the default is about 16 MiB of
 *   rows.
 *
 * The virtual functions of a source. The base class keeps the position, checks
 * cancellation, counts non-finite values and rejects short or misshapen reads, so an
 * implementation only moves rows.
 *
 * Since: 0.2
 */
/**
 * HrSourceClass::read: (skip)
 * @source: a #HrSource
 * @first: the first sample to read
 * @buffer: room for @max_samples rows
 * @max_samples: how many samples to read at most
 * @n_read: (out): the number of samples read
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads rows into a caller's buffer.
 *
 * Returns: %TRUE on success
 */
struct _HrSourceClass
{
  GObjectClass parent_class;

  /*< public >*/
  gboolean (*read) (HrSource *source, guint64 first, float *buffer, gsize max_samples,
                    gsize *n_read, GCancellable *cancellable, GError **error);
  GBytes *(*read_bytes) (HrSource *source, guint64 first, gsize max_samples,
                         GCancellable *cancellable, GError **error);
  gboolean (*seek) (HrSource *source, guint64 sample, GError **error);
  gsize (*get_preferred_chunk) (HrSource *source);

  /*< private >*/
  gpointer padding[8];
};

HR_AVAILABLE_IN_0_2
guint64 hr_source_get_n_samples (HrSource *source);
HR_AVAILABLE_IN_0_2
gsize hr_source_get_n_features (HrSource *source);
HR_AVAILABLE_IN_0_2
HrStackInfo *hr_source_get_info (HrSource *source);
HR_AVAILABLE_IN_0_2
const char *hr_source_get_name (HrSource *source);
HR_AVAILABLE_IN_0_2
guint64 hr_source_get_position (HrSource *source);
HR_AVAILABLE_IN_0_2
gsize hr_source_get_preferred_chunk (HrSource *source);

HR_AVAILABLE_IN_0_2
gboolean hr_source_seek (HrSource *source, guint64 sample, GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_source_rewind (HrSource *source, GError **error);

HR_AVAILABLE_IN_0_2
gboolean hr_source_read_into (HrSource *source, float *buffer, gsize max_samples, gsize *n_read,
                              GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_2
GBytes *hr_source_read_bytes (HrSource *source, gsize max_samples, GCancellable *cancellable,
                              GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_source_read_rows_into (HrSource *source, guint64 first, gsize n_rows, float *dest,
                                   gsize dest_len, gsize *n_read, GCancellable *cancellable,
                                   GError **error);
HR_AVAILABLE_IN_0_2
HrFeatureStack *hr_source_read_chunk (HrSource *source, gsize max_samples,
                                      GCancellable *cancellable, GError **error);

HR_AVAILABLE_IN_0_2
guint64 hr_source_get_n_nonfinite (HrSource *source);
HR_AVAILABLE_IN_0_2
const guint64 *hr_source_get_nonfinite_positions (HrSource *source, gsize *n_positions);

/* For implementations. */
HR_AVAILABLE_IN_0_2
void hr_source_set_shape (HrSource *source, guint64 n_samples, gsize n_features);
HR_AVAILABLE_IN_0_2
void hr_source_set_info (HrSource *source, HrStackInfo *info);

G_END_DECLS
