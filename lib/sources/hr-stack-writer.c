/* headrank: write a float32 feature stack to TIFF, atomically */
#include "hr-private.h"
#include "hr-stack-writer.h"

#include "hr-error.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-types.h"

#include <gio/gio.h>

/**
 * HrStackWriter:
 *
 * Writes a float32 feature stack to a TIFF file as its rows arrive, so that a stack larger
 * than memory (the projections of a large stack, say) can be written a chunk at a time.
 *
 * The number of samples is given up front. The data go to a temporary file in the target
 * folder (`.NAME.headrank-XXXXXX`); hr_stack_writer_finish() syncs it and renames it into
 * place once every sample has been written. A writer dropped before that (or after any
 * error) removes the temporary file: no half-written file is ever left under the target
 * name, and an older file there stays as it was.
 *
 * A target that exists must be a regular file: devices (`/dev/null`), FIFOs, sockets and
 * links to them are refused. A symbolic link is followed: the file it points to is
 * replaced and the link stays. While it writes, the writer holds a lock on the target
 * (`.NAME.headrank-lock` beside it, removed when the writer is done), so a second writer
 * of the same file fails at once; the first writer after a process that was killed
 * removes the temporary file it left.
 *
 * Layouts: %HR_STACK_LAYOUT_MATRIX writes one N × D page; %HR_STACK_LAYOUT_CHANNELS writes
 * a per-pixel stack as D pages of Y × X per Z slice and T frame, with ImageJ hyperstack
 * metadata (`channels=`, `slices=`, `frames=`), which Fiji, napari and tifffile open with
 * the right axes.
 */

struct _HrStackWriter
{
  GObject parent_instance;

  HrTiffSink *sink;
  gsize n_samples;
  gsize n_features;
};

G_DEFINE_FINAL_TYPE (HrStackWriter, hr_stack_writer, G_TYPE_OBJECT)

static void
hr_stack_writer_finalize (GObject *object)
{
  HrStackWriter *self = HR_STACK_WRITER (object);

  g_clear_pointer (&self->sink, hr_tiff_sink_free);

  G_OBJECT_CLASS (hr_stack_writer_parent_class)->finalize (object);
}

static void
hr_stack_writer_class_init (HrStackWriterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = hr_stack_writer_finalize;
}

static void
hr_stack_writer_init (HrStackWriter *self)
{
}

/**
 * hr_stack_writer_new:
 * @path: (type filename): the file to write
 * @layout: %HR_STACK_LAYOUT_MATRIX or %HR_STACK_LAYOUT_CHANNELS
 * @n_samples: the number of samples N that will be appended
 * @n_features: the number of features D of each sample
 * @geometry: (nullable): for %HR_STACK_LAYOUT_CHANNELS, the per-pixel geometry (from
 *   hr_stack_info_new_pixels() or a per-pixel stack's info) whose pixels are the
 *   @n_samples samples; ignored for the matrix layout
 * @error: return location for a #GError
 *
 * Starts writing a stack.
 *
 * Returns: (transfer full): a new #HrStackWriter, or %NULL with @error set
 *   (%G_IO_ERROR_NOT_REGULAR_FILE when @path exists and is not a regular file,
 *   %G_IO_ERROR_BUSY when another writer is writing it, the %G_IO_ERROR code of `errno`
 *   when its folder is missing or cannot be written)
 */
HrStackWriter *
hr_stack_writer_new (const char *path, HrStackLayout layout, gsize n_samples, gsize n_features,
                     HrStackInfo *geometry, GError **error)
{
  HrTiffSink *sink;
  HrStackWriter *self;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  sink = hr_tiff_sink_new (path, layout, n_samples, n_features, geometry, error);
  if (sink == NULL)
    return NULL;
  self = g_object_new (HR_TYPE_STACK_WRITER, NULL);
  self->sink = sink;
  self->n_samples = n_samples;
  self->n_features = n_features;
  return self;
}

/**
 * hr_stack_writer_append: (skip)
 * @writer: a #HrStackWriter
 * @rows: (array): @n_rows × n_features float32 values, row-major
 * @n_rows: the number of samples in @rows
 * @error: return location for a #GError
 *
 * Appends samples. On error the writer is done: drop it, and the temporary file goes.
 *
 * Returns: %TRUE on success
 */
gboolean
hr_stack_writer_append (HrStackWriter *writer, const float *rows, gsize n_rows, GError **error)
{
  g_return_val_if_fail (HR_IS_STACK_WRITER (writer), FALSE);
  g_return_val_if_fail (rows != NULL || n_rows == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (writer->sink == NULL)
    {
      g_set_error_literal (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                           _ ("the writer is finished or was aborted"));
      return FALSE;
    }
  if (!hr_tiff_sink_append (writer->sink, rows, n_rows, error))
    {
      hr_stack_writer_abort (writer);
      return FALSE;
    }
  return TRUE;
}

/**
 * hr_stack_writer_append_bytes:
 * @writer: a #HrStackWriter
 * @rows: whole rows of float32 values, row-major, native byte order
 * @error: return location for a #GError
 *
 * Appends samples given as bytes (for bindings: `GLib.Bytes(array.tobytes())`).
 *
 * Returns: %TRUE on success; %FALSE with %HR_STACK_ERROR_INVALID when @rows is not a whole
 *   number of rows
 */
gboolean
hr_stack_writer_append_bytes (HrStackWriter *writer, GBytes *rows, GError **error)
{
  gsize size, row_bytes;
  gconstpointer data;
  g_autofree float *aligned = NULL;

  g_return_val_if_fail (HR_IS_STACK_WRITER (writer), FALSE);
  g_return_val_if_fail (rows != NULL, FALSE);

  if (writer->sink == NULL)
    return hr_stack_writer_append (writer, NULL, 0, error);
  data = g_bytes_get_data (rows, &size);
  row_bytes = writer->n_features * sizeof (float);
  if (size % row_bytes != 0)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%zu bytes are not whole rows of %zu float32 values"), size,
                   row_bytes / sizeof (float));
      return FALSE;
    }
  if (((guintptr)data) % G_ALIGNOF (float) != 0)
    data = aligned = g_memdup2 (data, size);
  return hr_stack_writer_append (writer, data, size / row_bytes, error);
}

/**
 * hr_stack_writer_finish:
 * @writer: a #HrStackWriter
 * @error: return location for a #GError
 *
 * Completes the file and renames it into place.
 *
 * Returns: %TRUE on success; %FALSE (and no file) when fewer samples than announced were
 *   appended or writing failed
 */
gboolean
hr_stack_writer_finish (HrStackWriter *writer, GError **error)
{
  gboolean ok;

  g_return_val_if_fail (HR_IS_STACK_WRITER (writer), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (writer->sink == NULL)
    {
      g_set_error_literal (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                           _ ("the writer is finished or was aborted"));
      return FALSE;
    }
  ok = hr_tiff_sink_commit (writer->sink, error);
  g_clear_pointer (&writer->sink, hr_tiff_sink_free);
  return ok;
}

/**
 * hr_stack_writer_abort:
 * @writer: a #HrStackWriter
 *
 * Stops writing and removes the temporary file; the target file is left as it was.
 */
void
hr_stack_writer_abort (HrStackWriter *writer)
{
  g_return_if_fail (HR_IS_STACK_WRITER (writer));
  g_clear_pointer (&writer->sink, hr_tiff_sink_free);
}

/**
 * hr_stack_writer_get_n_samples:
 * @writer: a #HrStackWriter
 *
 * Gets the number of samples the file will hold.
 *
 * Returns: the number of samples the file will hold
 */
gsize
hr_stack_writer_get_n_samples (HrStackWriter *writer)
{
  g_return_val_if_fail (HR_IS_STACK_WRITER (writer), 0);
  return writer->n_samples;
}

/**
 * hr_stack_writer_get_n_features:
 * @writer: a #HrStackWriter
 *
 * Gets the number of features of each sample.
 *
 * Returns: the number of features of each sample
 */
gsize
hr_stack_writer_get_n_features (HrStackWriter *writer)
{
  g_return_val_if_fail (HR_IS_STACK_WRITER (writer), 0);
  return writer->n_features;
}

/**
 * hr_stack_writer_append_source:
 * @writer: a #HrStackWriter
 * @source: rows to append: the samples of @source from its position to its end
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Appends what is left of @source, a chunk at a time (memory is bounded by the source's
 * preferred chunk). On failure the writer is aborted, so no output file is left.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.2
 */
gboolean
hr_stack_writer_append_source (HrStackWriter *writer, HrSource *source, GCancellable *cancellable,
                               GError **error)
{
  g_autofree float *rows = NULL;
  gsize chunk, got;

  g_return_val_if_fail (HR_IS_STACK_WRITER (writer), FALSE);
  g_return_val_if_fail (HR_IS_SOURCE (source), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (hr_source_get_n_features (source) != writer->n_features)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: %zu features per sample, but the file being written takes %zu"),
                   hr_source_get_name (source), hr_source_get_n_features (source),
                   writer->n_features);
      hr_stack_writer_abort (writer);
      return FALSE;
    }
  chunk = hr_source_get_preferred_chunk (source);
  rows = g_try_new (float, chunk * writer->n_features);
  if (rows == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
                   _ ("%s: not enough memory for %zu samples"), hr_source_get_name (source), chunk);
      hr_stack_writer_abort (writer);
      return FALSE;
    }
  do
    {
      if (!hr_source_read_into (source, rows, chunk, &got, cancellable, error)
          || (got > 0 && !hr_stack_writer_append (writer, rows, got, error)))
        {
          hr_stack_writer_abort (writer);
          return FALSE;
        }
    }
  while (got > 0);
  return TRUE;
}

/**
 * hr_stack_writer_write_source:
 * @source: a source whose number of samples is known
 * @path: (type filename): the TIFF file to write
 * @layout: %HR_STACK_LAYOUT_MATRIX, %HR_STACK_LAYOUT_CHANNELS (for a source whose info
 *   has a per-pixel geometry) or %HR_STACK_LAYOUT_AUTO (channels for such a source, a
 *   matrix otherwise)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Writes the whole of @source (from its first sample) as a float32 TIFF file,
 * atomically: from a zarr store, memory or several files to one file.
 *
 * Returns: %TRUE on success; on failure no file is left
 *
 * Since: 0.2
 */
gboolean
hr_stack_writer_write_source (HrSource *source, const char *path, HrStackLayout layout,
                              GCancellable *cancellable, GError **error)
{
  g_autoptr (HrStackWriter) writer = NULL;
  HrStackInfo *info;

  g_return_val_if_fail (HR_IS_SOURCE (source), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!hr_source_check_known_length (source, error) || !hr_source_rewind (source, error))
    return FALSE;
  info = hr_source_get_info (source);
  if (layout == HR_STACK_LAYOUT_AUTO)
    layout = info->per_pixel ? HR_STACK_LAYOUT_CHANNELS : HR_STACK_LAYOUT_MATRIX;
  writer = hr_stack_writer_new (path, layout, (gsize)hr_source_get_n_samples (source),
                                hr_source_get_n_features (source), info->per_pixel ? info : NULL,
                                error);
  if (writer == NULL)
    return FALSE;
  return hr_stack_writer_append_source (writer, source, cancellable, error)
         && hr_stack_writer_finish (writer, error);
}
