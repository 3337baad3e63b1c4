/* headrank: read a feature stack from TIFF a chunk of samples at a time */
#include "hr-private.h"
#include "hr-stack-reader.h"

#include "hr-enum-types.h"
#include "hr-error.h"
#include "hr-feature-stack.h"
#include "hr-read-ahead.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-types.h"

#include <gio/gio.h>

/**
 * HrStackReader:
 *
 * The TIFF [class@Source]: reads a feature stack from a TIFF file (every layout, sample
 * format and codec [ctor@FeatureStack.new_from_file] reads) a chunk of samples at a time;
 * position, non-finite counts and reads are those of [class@Source], and the
 * `hr_stack_reader_*` functions below are kept as synonyms of the `hr_source_*` ones. Stacks
 * larger than memory can be processed: memory stays bounded by the chunk (plus one
 * decoded strip or row of tiles, at most 64 MiB), whatever the size of the file. One
 * exception: a file stored as a single large compressed strip costs that compressed strip
 * too, since libtiff reads compressed data a whole strip at a time.
 *
 * A file whose strips or tiles are decoded (compressed, tiled) is decoded ahead on a
 * thread of the reader's own while the caller computes: after a read that continues the
 * one before it, the next chunks of the same size (at most 2, and 32 MiB together, which
 * the memory bound above does not count).
 * The results are those of reading without it, errors included, which arrive from the
 * read that reaches them (see the "Threads" page).
 *
 * ```c
 * g_autoptr (HrStackReader) reader = hr_stack_reader_new (path, HR_STACK_LAYOUT_AUTO, NULL,
 * &error); gsize chunk = hr_stack_reader_get_preferred_chunk (reader), n; g_autofree float *rows =
 * g_new (float, chunk * hr_stack_reader_get_n_features (reader));
 *
 * while (hr_stack_reader_read_into (reader, rows, chunk, &n, NULL, &error) && n > 0)
 *   process (rows, n);
 * ```
 */

struct _HrStackReader
{
  HrSource parent_instance;

  char *path;
  HrStackLayout layout;
  HrTiffSource *source;
  HrReadAhead *ahead; /* for files whose strips are decoded: the next chunks, decoded on a
                         worker while the caller computes */
};

enum
{
  PROP_0,
  PROP_PATH,
  PROP_LAYOUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void hr_stack_reader_initable_iface_init (GInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (HrStackReader, hr_stack_reader, HR_TYPE_SOURCE,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      hr_stack_reader_initable_iface_init))

static void
hr_stack_reader_finalize (GObject *object)
{
  HrStackReader *self = HR_STACK_READER (object);

  g_clear_pointer (&self->ahead, hr_read_ahead_free); /* before the file it reads */
  g_clear_pointer (&self->source, hr_tiff_source_free);
  g_free (self->path);

  G_OBJECT_CLASS (hr_stack_reader_parent_class)->finalize (object);
}

static void
hr_stack_reader_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HrStackReader *self = HR_STACK_READER (object);

  switch (prop_id)
    {
      case PROP_PATH:
        g_value_set_string (value, self->path);
        break;
      case PROP_LAYOUT:
        g_value_set_enum (value, self->source != NULL
                                     ? hr_tiff_source_get_info (self->source)->layout
                                     : self->layout);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_stack_reader_set_property (GObject *object, guint prop_id, const GValue *value,
                              GParamSpec *pspec)
{
  HrStackReader *self = HR_STACK_READER (object);

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

static gboolean
hr_stack_reader_read (HrSource *source, guint64 first, float *buffer, gsize max_samples,
                      gsize *n_read, GCancellable *cancellable, GError **error)
{
  HrStackReader *self = HR_STACK_READER (source);

  /* The base class has clipped max_samples to the samples left. */
  *n_read = 0;
  if (self->source == NULL)
    {
      g_set_error_literal (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                           _ ("a stack reader needs a file to read"));
      return FALSE;
    }
  if (self->ahead != NULL
          ? !hr_read_ahead_read (self->ahead, first, max_samples, buffer, cancellable, error)
          : !hr_tiff_source_read (self->source, (gsize)first, max_samples, buffer, cancellable,
                                  error))
    return FALSE;
  *n_read = max_samples;
  return TRUE;
}

static gboolean
hr_stack_reader_read_tiff (gpointer data, guint64 first, gsize n, float *out,
                           GCancellable *cancellable, GError **error)
{
  return hr_tiff_source_read (data, (gsize)first, n, out, cancellable, error);
}

static gsize
hr_stack_reader_get_preferred_chunk_vfunc (HrSource *source)
{
  HrStackReader *self = HR_STACK_READER (source);

  return self->source != NULL ? hr_tiff_source_get_preferred_chunk (self->source) : 1;
}

static void
hr_stack_reader_class_init (HrStackReaderClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  HrSourceClass *source_class = HR_SOURCE_CLASS (klass);

  object_class->finalize = hr_stack_reader_finalize;
  object_class->get_property = hr_stack_reader_get_property;
  object_class->set_property = hr_stack_reader_set_property;

  source_class->read = hr_stack_reader_read;
  source_class->get_preferred_chunk = hr_stack_reader_get_preferred_chunk_vfunc;

  /**
   * HrStackReader:path: (type filename)
   *
   * The TIFF file being read.
   */
  properties[PROP_PATH]
      = g_param_spec_string ("path", NULL, NULL, NULL,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrStackReader:layout:
   *
   * The layout asked for; once open, the layout the file is read with.
   */
  properties[PROP_LAYOUT]
      = g_param_spec_enum ("layout", NULL, NULL, HR_TYPE_STACK_LAYOUT, HR_STACK_LAYOUT_AUTO,
                           G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hr_stack_reader_init (HrStackReader *self)
{
}

static gboolean
hr_stack_reader_initable_init (GInitable *initable, GCancellable *cancellable, GError **error)
{
  HrStackReader *self = HR_STACK_READER (initable);

  if (self->source != NULL)
    return TRUE;
  if (self->path == NULL)
    {
      g_set_error_literal (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                           _ ("a stack reader needs a file to read"));
      return FALSE;
    }
  self->source = hr_tiff_source_open (self->path, self->layout, cancellable, error);
  if (self->source == NULL)
    return FALSE;
  hr_source_set_shape (HR_SOURCE (self), hr_tiff_source_get_n_samples (self->source),
                       hr_tiff_source_get_n_features (self->source));
  hr_source_set_info (HR_SOURCE (self), hr_tiff_source_get_info (self->source));
  g_object_set (self, "name", self->path, NULL);
  if (hr_tiff_source_decodes (self->source))
    self->ahead = hr_read_ahead_new (hr_stack_reader_read_tiff, self->source,
                                     hr_tiff_source_get_n_samples (self->source),
                                     hr_tiff_source_get_n_features (self->source));
  return TRUE;
}

static void
hr_stack_reader_initable_iface_init (GInitableIface *iface)
{
  iface->init = hr_stack_reader_initable_init;
}

/**
 * hr_stack_reader_new:
 * @path: (type filename): a TIFF file
 * @layout: how the file holds its features, or %HR_STACK_LAYOUT_AUTO
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Opens a feature stack for reading in chunks. Opening reads every page's description
 * and checks it (shapes, formats, strips and tiles inside the file), but no pixel data.
 *
 * Returns: (transfer full): a new #HrStackReader, or %NULL with @error set (in the
 *   %HR_STACK_ERROR domain, naming the file)
 */
HrStackReader *
hr_stack_reader_new (const char *path, HrStackLayout layout, GCancellable *cancellable,
                     GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_initable_new (HR_TYPE_STACK_READER, cancellable, error, "path", path, "layout", layout,
                         NULL);
}

/**
 * hr_stack_reader_get_path:
 * @reader: a #HrStackReader
 *
 * Gets the file being read.
 *
 * Returns: (type filename): the file being read
 */
const char *
hr_stack_reader_get_path (HrStackReader *reader)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), NULL);
  return reader->path;
}

/**
 * hr_stack_reader_get_n_samples:
 * @reader: a #HrStackReader
 *
 * Gets the number of samples N in the file.
 *
 * Returns: the number of samples N in the file
 *
 * The same as hr_source_get_n_samples(), which every [class@Source] has.
 */
gsize
hr_stack_reader_get_n_samples (HrStackReader *reader)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), 0);
  return (gsize)hr_source_get_n_samples (HR_SOURCE (reader));
}

/**
 * hr_stack_reader_get_n_features:
 * @reader: a #HrStackReader
 *
 * Gets the number of features D of each sample.
 *
 * Returns: the number of features D of each sample
 *
 * The same as hr_source_get_n_features(), which every [class@Source] has.
 */
gsize
hr_stack_reader_get_n_features (HrStackReader *reader)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), 0);
  return hr_source_get_n_features (HR_SOURCE (reader));
}

/**
 * hr_stack_reader_get_info:
 * @reader: a #HrStackReader
 *
 * Gets where the samples come from.
 *
 * Returns: (transfer none) (nullable): where the samples come from (%NULL only on a reader
 *   that failed to open)
 *
 * The same as hr_source_get_info(), which every [class@Source] has.
 */
HrStackInfo *
hr_stack_reader_get_info (HrStackReader *reader)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), NULL);
  return reader->source != NULL ? hr_source_get_info (HR_SOURCE (reader)) : NULL;
}

/**
 * hr_stack_reader_get_position:
 * @reader: a #HrStackReader
 *
 * Gets the index of the next sample to be read.
 *
 * Returns: the index of the next sample to be read
 *
 * The same as hr_source_get_position(), which every [class@Source] has.
 */
gsize
hr_stack_reader_get_position (HrStackReader *reader)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), 0);
  return (gsize)hr_source_get_position (HR_SOURCE (reader));
}

/**
 * hr_stack_reader_get_preferred_chunk:
 * @reader: a #HrStackReader
 *
 * A number of samples to read at a time: about 16 MiB of float32 rows, rounded to whole
 * strips or rows of tiles of the file where possible, so that nothing is decoded twice.
 *
 * Returns: the preferred chunk size, in samples (at least 1, at most N)
 *
 * The same as hr_source_get_preferred_chunk(), which every [class@Source] has.
 */
gsize
hr_stack_reader_get_preferred_chunk (HrStackReader *reader)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), 1);
  g_return_val_if_fail (reader->source != NULL, 1);
  return hr_source_get_preferred_chunk (HR_SOURCE (reader));
}

/**
 * hr_stack_reader_seek:
 * @reader: a #HrStackReader
 * @sample: the index of the next sample to read, at most the number of samples
 * @error: return location for a #GError
 *
 * Moves to another sample. Non-finite counts keep covering what was read, so after a
 * backward seek a sample read twice is counted twice.
 *
 * Returns: %TRUE, or %FALSE with %HR_STACK_ERROR_INVALID if @sample is past the end
 *
 * The same as hr_source_seek(), which every [class@Source] has.
 */
gboolean
hr_stack_reader_seek (HrStackReader *reader, gsize sample, GError **error)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), FALSE);
  g_return_val_if_fail (reader->source != NULL, FALSE);
  return hr_source_seek (HR_SOURCE (reader), sample, error);
}

/**
 * hr_stack_reader_read_into: (skip)
 * @reader: a #HrStackReader
 * @buffer: room for @max_samples × n_features float32 values
 * @max_samples: how many samples to read at most
 * @n_read: (out): return location for the number of samples read (0 at the end)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads the next samples into @buffer, row-major, and advances.
 *
 * Returns: %TRUE on success (also at the end, with *@n_read = 0)
 *
 * The same as hr_source_read_into(), which every [class@Source] has.
 */
gboolean
hr_stack_reader_read_into (HrStackReader *reader, float *buffer, gsize max_samples, gsize *n_read,
                           GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), FALSE);
  g_return_val_if_fail (reader->source != NULL, FALSE);
  return hr_source_read_into (HR_SOURCE (reader), buffer, max_samples, n_read, cancellable, error);
}

/**
 * hr_stack_reader_read_chunk:
 * @reader: a #HrStackReader
 * @max_samples: how many samples to read at most (0: the preferred chunk)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads the next samples as a new stack (whose info is the file's) and advances.
 *
 * Returns: (transfer full) (nullable): the samples, or %NULL at the end (without an
 *   error) or on failure (with @error set)
 *
 * The same as hr_source_read_chunk(), which every [class@Source] has.
 */
HrFeatureStack *
hr_stack_reader_read_chunk (HrStackReader *reader, gsize max_samples, GCancellable *cancellable,
                            GError **error)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), NULL);
  g_return_val_if_fail (reader->source != NULL, NULL);
  return hr_source_read_chunk (HR_SOURCE (reader), max_samples, cancellable, error);
}

/**
 * hr_stack_reader_get_n_nonfinite:
 * @reader: a #HrStackReader
 *
 * Counts the non-finite values of the samples read so far.
 *
 * Returns: how many non-finite values the samples read so far hold
 *
 * The same as hr_source_get_n_nonfinite(), which every [class@Source] has.
 */
guint64
hr_stack_reader_get_n_nonfinite (HrStackReader *reader)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), 0);
  return hr_source_get_n_nonfinite (HR_SOURCE (reader));
}

/**
 * hr_stack_reader_get_nonfinite_positions:
 * @reader: a #HrStackReader
 * @n_positions: (out): return location for the number of positions
 *
 * Where the first non-finite values read so far are (at most
 * %HR_NONFINITE_MAX_POSITIONS), as flat indices `sample × n_features + feature`.
 *
 * Returns: (array length=n_positions) (transfer none): the positions
 *
 * The same as hr_source_get_nonfinite_positions(), which every [class@Source] has.
 */
const guint64 *
hr_stack_reader_get_nonfinite_positions (HrStackReader *reader, gsize *n_positions)
{
  g_return_val_if_fail (HR_IS_STACK_READER (reader), NULL);
  return hr_source_get_nonfinite_positions (HR_SOURCE (reader), n_positions);
}
