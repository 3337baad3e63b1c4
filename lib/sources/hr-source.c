/* headrank: rows of float32 features, read a chunk at a time from anywhere */
#include "hr-private.h"
#include "hr-source.h"

#include "hr-error.h"
#include "hr-feature-stack.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-types.h"

#include <gio/gio.h>
#include <string.h>

/**
 * HrSource:
 *
 * Rows of float32 features read a chunk at a time: a TIFF file ([class@StackReader]),
 * memory ([class@MemorySource]), several sources one after the other
 * ([class@ConcatSource]), or anything a subclass reads, in C or in Python.
 *
 * The head ([method@Head.project_source]), the analysis ([ctor@Analysis.new_for_source])
 * and the writer ([method@StackWriter.append_source]) take sources. A source has N samples
 * (or [const@SOURCE_N_SAMPLES_UNKNOWN] until its end is reached) of D features, where they
 * came from ([struct@StackInfo]: layout, geometry, the stored sample format) and a name.
 *
 * The base class does what every source needs once: it keeps the position, checks
 * cancellation before each read, rejects reads that return more rows than asked or a
 * partial row, and counts the non-finite values of the rows read (for stored floating
 * point; integers cannot hold them). An implementation moves rows: in C it overrides
 * `read` (into the caller's buffer), in Python `do_read_bytes` (the rows as bytes):
 *
 * ```python
 * class Squares(Headrank.Source):
 *     def __init__(self, array):
 *         super().__init__(n_samples=array.shape[0], n_features=array.shape[1], name="squares")
 *         self.array = numpy.ascontiguousarray(array, numpy.float32)
 *     def do_read_bytes(self, first, max_samples, cancellable):
 *         return GLib.Bytes.new(self.array[first:first + max_samples].tobytes())
 * ```
 *
 * Reading, in C:
 *
 * ```c
 * gsize chunk = hr_source_get_preferred_chunk (source), n;
 * g_autofree float *rows = g_new (float, chunk * hr_source_get_n_features (source));
 *
 * while (hr_source_read_into (source, rows, chunk, &n, cancellable, &error) && n > 0)
 *   process (rows, n);
 * ```
 *
 * Since: 0.2
 */

typedef struct
{
  guint64 n_samples;
  gsize n_features;
  HrStackInfo *info;
  char *name;
  guint64 position;
  HrNonfinite nonfinite;
} HrSourcePrivate;

enum
{
  PROP_0,
  PROP_N_SAMPLES,
  PROP_N_FEATURES,
  PROP_INFO,
  PROP_NAME,
  PROP_POSITION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static gboolean hr_source_read_next (HrSource *source, float *buffer, gsize max_samples,
                                     gsize *n_read, gboolean scan, GCancellable *cancellable,
                                     GError **error);

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (HrSource, hr_source, G_TYPE_OBJECT)

#define PRIV(s) ((HrSourcePrivate *)hr_source_get_instance_private (s))

static void
hr_source_finalize (GObject *object)
{
  HrSourcePrivate *priv = PRIV (HR_SOURCE (object));

  g_clear_pointer (&priv->info, hr_stack_info_unref);
  g_free (priv->name);

  G_OBJECT_CLASS (hr_source_parent_class)->finalize (object);
}

static void
hr_source_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HrSource *self = HR_SOURCE (object);
  HrSourcePrivate *priv = PRIV (self);

  switch (prop_id)
    {
      case PROP_N_SAMPLES:
        g_value_set_uint64 (value, priv->n_samples);
        break;
      case PROP_N_FEATURES:
        g_value_set_uint64 (value, priv->n_features);
        break;
      case PROP_INFO:
        g_value_set_boxed (value, priv->info);
        break;
      case PROP_NAME:
        g_value_set_string (value, priv->name);
        break;
      case PROP_POSITION:
        g_value_set_uint64 (value, priv->position);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_source_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  HrSource *self = HR_SOURCE (object);
  HrSourcePrivate *priv = PRIV (self);

  switch (prop_id)
    {
      case PROP_N_SAMPLES:
        priv->n_samples = g_value_get_uint64 (value);
        break;
      case PROP_N_FEATURES:
        priv->n_features = (gsize)g_value_get_uint64 (value);
        break;
      case PROP_INFO:
        hr_source_set_info (self, g_value_get_boxed (value));
        break;
      case PROP_NAME:
        g_free (priv->name);
        priv->name = g_value_dup_string (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static gboolean
hr_source_real_read (HrSource *source, guint64 first, float *buffer, gsize max_samples,
                     gsize *n_read, GCancellable *cancellable, GError **error)
{
  HrSourceClass *klass = HR_SOURCE_GET_CLASS (source);
  gsize d = PRIV (source)->n_features, size;
  g_autoptr (GBytes) bytes = NULL;
  gconstpointer data;

  *n_read = 0;
  if (klass->read_bytes == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
                   _ ("%s: this source implements neither read nor read_bytes"),
                   G_OBJECT_TYPE_NAME (source));
      return FALSE;
    }
  bytes = klass->read_bytes (source, first, max_samples, cancellable, error);
  if (bytes == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_IO,
                     _ ("%s: reading failed without saying why"), hr_source_get_name (source));
      return FALSE;
    }
  data = g_bytes_get_data (bytes, &size);
  if (d == 0 || size % (d * sizeof (float)) != 0 || size / (d * sizeof (float)) > max_samples)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: a read returned %zu bytes, which is not at most %zu whole rows of "
                      "%zu float32 values"),
                   hr_source_get_name (source), size, max_samples, d);
      return FALSE;
    }
  if (size > 0)
    memcpy (buffer, data, size);
  *n_read = size / (d * sizeof (float));
  return TRUE;
}

static gboolean
hr_source_real_seek (HrSource *source, guint64 sample, GError **error)
{
  return TRUE;
}

static gsize
hr_source_real_get_preferred_chunk (HrSource *source)
{
  HrSourcePrivate *priv = PRIV (source);
  gsize chunk = MAX ((gsize)1, ((gsize)16 << 20) / (MAX (priv->n_features, (gsize)1) * 4));

  if (priv->n_samples != HR_SOURCE_N_SAMPLES_UNKNOWN && priv->n_samples > 0)
    chunk = (gsize)MIN ((guint64)chunk, priv->n_samples);
  return chunk;
}

static void
hr_source_class_init (HrSourceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = hr_source_finalize;
  object_class->get_property = hr_source_get_property;
  object_class->set_property = hr_source_set_property;

  klass->read = hr_source_real_read;
  klass->seek = hr_source_real_seek;
  klass->get_preferred_chunk = hr_source_real_get_preferred_chunk;

  /**
   * HrSource:n-samples:
   *
   * The number of samples N, or [const@SOURCE_N_SAMPLES_UNKNOWN]; set at construction
   * (or by the implementation with hr_source_set_shape()).
   *
   * Since: 0.2
   */
  properties[PROP_N_SAMPLES]
      = g_param_spec_uint64 ("n-samples", NULL, NULL, 0, G_MAXUINT64, 0,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrSource:n-features:
   *
   * The number of features D of each sample.
   *
   * Since: 0.2
   */
  properties[PROP_N_FEATURES]
      = g_param_spec_uint64 ("n-features", NULL, NULL, 0, G_MAXSIZE / sizeof (float), 0,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrSource:info:
   *
   * Where the samples come from: layout, geometry and the stored sample format. A source
   * constructed without one describes an N × D float32 matrix.
   *
   * Since: 0.2
   */
  properties[PROP_INFO]
      = g_param_spec_boxed ("info", NULL, NULL, HR_TYPE_STACK_INFO,
                            G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * HrSource:name:
   *
   * What error messages and reports call the source: a file's path, or a name its
   * creator gave.
   *
   * Since: 0.2
   */
  properties[PROP_NAME]
      = g_param_spec_string ("name", NULL, NULL, NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);

  /**
   * HrSource:position:
   *
   * The index of the next sample to read. It is notified after every read and seek, in
   * the thread that reads: during hr_analysis_run_async(), a worker thread. A handler
   * must therefore be safe to run in any thread (no user interface calls); to follow a
   * run from a main loop, watch #HrAnalysis:progress instead.
   *
   * Since: 0.2
   */
  properties[PROP_POSITION]
      = g_param_spec_uint64 ("position", NULL, NULL, 0, G_MAXUINT64, 0,
                             G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hr_source_init (HrSource *self)
{
}

/**
 * hr_source_get_n_samples:
 * @source: a #HrSource
 *
 * Gets the number of samples N.
 *
 * Returns: the number of samples, or [const@SOURCE_N_SAMPLES_UNKNOWN]
 *
 * Since: 0.2
 */
guint64
hr_source_get_n_samples (HrSource *source)
{
  g_return_val_if_fail (HR_IS_SOURCE (source), 0);
  return PRIV (source)->n_samples;
}

/**
 * hr_source_get_n_features:
 * @source: a #HrSource
 *
 * Gets the number of features D of each sample.
 *
 * Returns: the number of features
 *
 * Since: 0.2
 */
gsize
hr_source_get_n_features (HrSource *source)
{
  g_return_val_if_fail (HR_IS_SOURCE (source), 0);
  return PRIV (source)->n_features;
}

/**
 * hr_source_get_info:
 * @source: a #HrSource
 *
 * Gets where the samples come from.
 *
 * Returns: (transfer none): where the samples come from
 *
 * Since: 0.2
 */
HrStackInfo *
hr_source_get_info (HrSource *source)
{
  HrSourcePrivate *priv;

  g_return_val_if_fail (HR_IS_SOURCE (source), NULL);
  priv = PRIV (source);
  if (priv->info == NULL)
    priv->info = hr_stack_info_new_internal ();
  return priv->info;
}

/**
 * hr_source_get_name:
 * @source: a #HrSource
 *
 * Gets what messages call the source: its name, else the path of its info, else its
 * type's name.
 *
 * Returns: (transfer none): the name
 *
 * Since: 0.2
 */
const char *
hr_source_get_name (HrSource *source)
{
  HrSourcePrivate *priv;

  g_return_val_if_fail (HR_IS_SOURCE (source), NULL);
  priv = PRIV (source);
  if (priv->name != NULL)
    return priv->name;
  if (priv->info != NULL && priv->info->path != NULL)
    return priv->info->path;
  return G_OBJECT_TYPE_NAME (source);
}

/**
 * hr_source_get_position:
 * @source: a #HrSource
 *
 * Gets the index of the next sample to read.
 *
 * Returns: the index of the next sample to read
 *
 * Since: 0.2
 */
guint64
hr_source_get_position (HrSource *source)
{
  g_return_val_if_fail (HR_IS_SOURCE (source), 0);
  return PRIV (source)->position;
}

/**
 * hr_source_get_preferred_chunk:
 * @source: a #HrSource
 *
 * A number of samples to read at a time (about 16 MiB of rows unless the source knows
 * better, such as whole strips of a TIFF file).
 *
 * Returns: the preferred chunk, in samples (at least 1)
 *
 * Since: 0.2
 */
gsize
hr_source_get_preferred_chunk (HrSource *source)
{
  gsize chunk;

  g_return_val_if_fail (HR_IS_SOURCE (source), 1);
  chunk = HR_SOURCE_GET_CLASS (source)->get_preferred_chunk (source);
  return MAX (chunk, (gsize)1);
}

/**
 * hr_source_seek:
 * @source: a #HrSource
 * @sample: the index of the next sample to read, at most the number of samples
 * @error: return location for a #GError
 *
 * Moves to another sample. Non-finite counts keep covering what was read, so a sample
 * read twice is counted twice.
 *
 * Returns: %TRUE, or %FALSE with @error set (%HR_STACK_ERROR_INVALID past the end, or
 *   the source's own error when it cannot go there)
 *
 * Since: 0.2
 */
gboolean
hr_source_seek (HrSource *source, guint64 sample, GError **error)
{
  HrSourcePrivate *priv;

  g_return_val_if_fail (HR_IS_SOURCE (source), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  priv = PRIV (source);

  if (priv->n_samples != HR_SOURCE_N_SAMPLES_UNKNOWN && sample > priv->n_samples)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: cannot seek to sample %llu of %llu"), hr_source_get_name (source),
                   (unsigned long long)sample, (unsigned long long)priv->n_samples);
      return FALSE;
    }
  if (sample != priv->position && !HR_SOURCE_GET_CLASS (source)->seek (source, sample, error))
    return FALSE;
  priv->position = sample;
  g_object_notify_by_pspec (G_OBJECT (source), properties[PROP_POSITION]);
  return TRUE;
}

/**
 * hr_source_rewind:
 * @source: a #HrSource
 * @error: return location for a #GError
 *
 * Goes back to the first sample, as hr_source_seek() to 0 does.
 *
 * Returns: %TRUE, or %FALSE with @error set
 *
 * Since: 0.2
 */
gboolean
hr_source_rewind (HrSource *source, GError **error)
{
  return hr_source_seek (source, 0, error);
}

/**
 * hr_source_read_into: (skip)
 * @source: a #HrSource
 * @buffer: room for @max_samples × n_features float32 values
 * @max_samples: how many samples to read at most
 * @n_read: (out): return location for the number of samples read (0 at the end)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads the next samples into @buffer, row-major, advances, and counts their non-finite
 * values.
 *
 * Returns: %TRUE on success (also at the end, with *@n_read = 0)
 *
 * Since: 0.2
 */
gboolean
hr_source_read_into (HrSource *source, float *buffer, gsize max_samples, gsize *n_read,
                     GCancellable *cancellable, GError **error)
{
  g_return_val_if_fail (HR_IS_SOURCE (source), FALSE);
  g_return_val_if_fail (buffer != NULL || max_samples == 0, FALSE);
  g_return_val_if_fail (n_read != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return hr_source_read_next (source, buffer, max_samples, n_read, TRUE, cancellable, error);
}

/* hr_source_read_into(), counting the non-finite values read when @scan. */
static gboolean
hr_source_read_next (HrSource *source, float *buffer, gsize max_samples, gsize *n_read,
                     gboolean scan, GCancellable *cancellable, GError **error)
{
  HrSourcePrivate *priv = PRIV (source);
  gsize count, got = 0;

  *n_read = 0;
  count = max_samples;
  if (priv->n_samples != HR_SOURCE_N_SAMPLES_UNKNOWN)
    count = (gsize)MIN ((guint64)count, priv->n_samples - MIN (priv->position, priv->n_samples));
  if (count == 0 || priv->n_features == 0)
    return TRUE;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (!HR_SOURCE_GET_CLASS (source)->read (source, priv->position, buffer, count, &got, cancellable,
                                           error))
    return FALSE;
  if (got > count)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: a read returned %zu samples where at most %zu were asked for"),
                   hr_source_get_name (source), got, count);
      return FALSE;
    }
  if (got == 0 && priv->n_samples != HR_SOURCE_N_SAMPLES_UNKNOWN)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TRUNCATED,
                   _ ("%s: ends at sample %llu of %llu"), hr_source_get_name (source),
                   (unsigned long long)priv->position, (unsigned long long)priv->n_samples);
      return FALSE;
    }
  if (scan && (priv->info == NULL || priv->info->sample_format >= HR_SAMPLE_FORMAT_FLOAT16))
    hr_nonfinite_scan (&priv->nonfinite, buffer, got * priv->n_features,
                       priv->position * priv->n_features);
  priv->position += got;
  *n_read = got;
  g_object_notify_by_pspec (G_OBJECT (source), properties[PROP_POSITION]);
  return TRUE;
}

static float *
hr_source_alloc_chunk (HrSource *source, gsize *max_samples, GError **error)
{
  HrSourcePrivate *priv = PRIV (source);
  float *rows;

  if (*max_samples == 0)
    *max_samples = hr_source_get_preferred_chunk (source);
  if (priv->n_samples != HR_SOURCE_N_SAMPLES_UNKNOWN)
    *max_samples = (gsize)MIN ((guint64)*max_samples,
                               priv->n_samples - MIN (priv->position, priv->n_samples));
  if (*max_samples == 0 || priv->n_features == 0)
    return NULL;
  rows = *max_samples <= G_MAXSIZE / sizeof (float) / priv->n_features
             ? g_try_malloc (*max_samples * priv->n_features * sizeof (float))
             : NULL;
  if (rows == NULL)
    g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
                 _ ("%s: not enough memory for %zu samples"), hr_source_get_name (source),
                 *max_samples);
  return rows;
}

/**
 * hr_source_read_bytes:
 * @source: a #HrSource
 * @max_samples: how many samples to read at most (0: the preferred chunk)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads the next samples as float32 bytes in native order (for bindings: in Python,
 * `numpy.frombuffer(b.get_data(), numpy.float32)`), and advances.
 *
 * Returns: (transfer full) (nullable): the rows read (empty at the end), or %NULL with
 *   @error set
 *
 * Since: 0.2
 */
GBytes *
hr_source_read_bytes (HrSource *source, gsize max_samples, GCancellable *cancellable,
                      GError **error)
{
  float *rows;
  gsize got;
  GError *local = NULL;

  g_return_val_if_fail (HR_IS_SOURCE (source), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  rows = hr_source_alloc_chunk (source, &max_samples, &local);
  if (rows == NULL)
    {
      if (local != NULL)
        {
          g_propagate_error (error, local);
          return NULL;
        }
      return g_bytes_new (NULL, 0);
    }
  if (!hr_source_read_into (source, rows, max_samples, &got, cancellable, error))
    {
      g_free (rows);
      return NULL;
    }
  return g_bytes_new_take (rows, got * PRIV (source)->n_features * sizeof (float));
}

/**
 * hr_source_read_rows_into: (skip)
 * @source: a #HrSource
 * @first: the first sample to read
 * @n_rows: how many samples to read
 * @dest: room for @dest_len float32 values, at least @n_rows × n_features
 * @dest_len: the number of float32 values @dest holds
 * @n_read: (out) (optional): return location for the number of samples read
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads samples @first to @first + @n_rows − 1 straight into the caller's memory, row-major,
 * without a buffer of the library's: a seek to @first, then reads into @dest until the rows
 * are there; the position ends after the last sample read.
 *
 * Unlike hr_source_read_into(), it does not count the non-finite values it reads (the
 * caller has the values: numpy.isfinite() tells), so that a stack read into an array costs
 * the read alone, and rows read again and again (the blocks of a lazy view) do not pile up
 * in hr_source_get_n_nonfinite().
 *
 * This is the read for a caller that owns the destination (a numpy array: the Python
 * helper `headrank_numpy.read()` calls it through ctypes, since PyGObject copies the
 * arrays it passes in and cannot hand a numpy buffer to C to write into). A source of
 * unknown length may end early: *@n_read then says how many samples came.
 *
 * Returns: %TRUE when the samples were read; %FALSE with %HR_STACK_ERROR_INVALID when
 *   @dest is too small or the samples run past the end of a source of known length, or
 *   with the source's error
 *
 * Since: 0.2
 */
gboolean
hr_source_read_rows_into (HrSource *source, guint64 first, gsize n_rows, float *dest,
                          gsize dest_len, gsize *n_read, GCancellable *cancellable, GError **error)
{
  HrSourcePrivate *priv;
  gsize got = 0, piece;

  g_return_val_if_fail (HR_IS_SOURCE (source), FALSE);
  g_return_val_if_fail (dest != NULL || dest_len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  priv = PRIV (source);

  if (n_read != NULL)
    *n_read = 0;
  if (priv->n_features > 0 && n_rows > dest_len / priv->n_features)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   /* TRANSLATORS: %s: a source; %zu: samples; %zu: their features; %zu: the
                    * number of values the caller's memory holds */
                   _ ("%s: %zu samples of %zu features do not fit in %zu values"),
                   hr_source_get_name (source), n_rows, priv->n_features, dest_len);
      return FALSE;
    }
  if (priv->n_samples != HR_SOURCE_N_SAMPLES_UNKNOWN
      && (first > priv->n_samples || n_rows > priv->n_samples - first))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   /* TRANSLATORS: %s: a source; samples [first, end) of n */
                   _ ("%s: samples %llu to %llu asked for, the source has %llu"),
                   hr_source_get_name (source), (unsigned long long)first,
                   (unsigned long long)(first + n_rows), (unsigned long long)priv->n_samples);
      return FALSE;
    }
  if (!hr_source_seek (source, first, error))
    return FALSE;
  /* A chunk at a time: a source written in a binding makes one array of each read. */
  piece = hr_source_get_preferred_chunk (source);
  while (got < n_rows)
    {
      gsize n = 0;

      if (!hr_source_read_next (source, dest + got * priv->n_features, MIN (piece, n_rows - got),
                                &n, FALSE, cancellable, error))
        return FALSE;
      if (n == 0)
        break;
      got += n;
    }
  if (n_read != NULL)
    *n_read = got;
  return TRUE;
}

/**
 * hr_source_read_chunk:
 * @source: a #HrSource
 * @max_samples: how many samples to read at most (0: the preferred chunk)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads the next samples as a new stack (whose info is the source's) and advances.
 *
 * Returns: (transfer full) (nullable): the samples, or %NULL at the end (without an
 *   error) or on failure (with @error set)
 *
 * Since: 0.2
 */
HrFeatureStack *
hr_source_read_chunk (HrSource *source, gsize max_samples, GCancellable *cancellable,
                      GError **error)
{
  HrSourcePrivate *priv;
  HrNonfinite nonfinite = { 0 };
  guint64 before;
  float *rows;
  gsize got;

  g_return_val_if_fail (HR_IS_SOURCE (source), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  priv = PRIV (source);

  rows = hr_source_alloc_chunk (source, &max_samples, error);
  if (rows == NULL)
    return NULL;
  before = priv->nonfinite.count;
  if (!hr_source_read_into (source, rows, max_samples, &got, cancellable, error) || got == 0)
    {
      g_free (rows);
      return NULL;
    }
  /* The chunk's own non-finite positions, relative to the chunk. */
  if (priv->nonfinite.count != before)
    hr_nonfinite_scan (&nonfinite, rows, got * priv->n_features, 0);
  return hr_feature_stack_new_take (rows, got, priv->n_features,
                                    hr_stack_info_ref (hr_source_get_info (source)), &nonfinite);
}

/**
 * hr_source_get_n_nonfinite:
 * @source: a #HrSource
 *
 * Counts the non-finite values of the samples read so far.
 *
 * Returns: how many non-finite values the samples read so far hold
 *
 * Since: 0.2
 */
guint64
hr_source_get_n_nonfinite (HrSource *source)
{
  g_return_val_if_fail (HR_IS_SOURCE (source), 0);
  return PRIV (source)->nonfinite.count;
}

/**
 * hr_source_get_nonfinite_positions:
 * @source: a #HrSource
 * @n_positions: (out): return location for the number of positions
 *
 * Where the first non-finite values read so far are (at most
 * %HR_NONFINITE_MAX_POSITIONS), as flat indices `sample × n_features + feature`.
 *
 * Returns: (array length=n_positions) (transfer none): the positions
 *
 * Since: 0.2
 */
const guint64 *
hr_source_get_nonfinite_positions (HrSource *source, gsize *n_positions)
{
  HrSourcePrivate *priv;

  g_return_val_if_fail (HR_IS_SOURCE (source), NULL);
  g_return_val_if_fail (n_positions != NULL, NULL);
  priv = PRIV (source);

  *n_positions = hr_nonfinite_n_positions (&priv->nonfinite);
  return priv->nonfinite.positions;
}

/**
 * hr_source_set_shape:
 * @source: a #HrSource
 * @n_samples: the number of samples, or [const@SOURCE_N_SAMPLES_UNKNOWN]
 * @n_features: the number of features of each sample
 *
 * For implementations that learn their shape after construction (when opening a file):
 * sets N and D.
 *
 * Since: 0.2
 */
void
hr_source_set_shape (HrSource *source, guint64 n_samples, gsize n_features)
{
  HrSourcePrivate *priv;

  g_return_if_fail (HR_IS_SOURCE (source));
  priv = PRIV (source);

  g_object_freeze_notify (G_OBJECT (source));
  if (priv->n_samples != n_samples)
    {
      priv->n_samples = n_samples;
      g_object_notify_by_pspec (G_OBJECT (source), properties[PROP_N_SAMPLES]);
    }
  if (priv->n_features != n_features)
    {
      priv->n_features = n_features;
      g_object_notify_by_pspec (G_OBJECT (source), properties[PROP_N_FEATURES]);
    }
  g_object_thaw_notify (G_OBJECT (source));
}

/**
 * hr_source_set_info:
 * @source: a #HrSource
 * @info: (nullable): where the samples come from
 *
 * For implementations: sets where the samples come from (%NULL: an N × D float32
 * matrix). Non-finite values are counted only when @info's sample format is a floating
 * point one.
 *
 * Since: 0.2
 */
void
hr_source_set_info (HrSource *source, HrStackInfo *info)
{
  HrSourcePrivate *priv;

  g_return_if_fail (HR_IS_SOURCE (source));
  priv = PRIV (source);

  if (info != NULL)
    hr_stack_info_ref (info);
  g_clear_pointer (&priv->info, hr_stack_info_unref);
  priv->info = info;
  g_object_notify_by_pspec (G_OBJECT (source), properties[PROP_INFO]);
}

/* For consumers that need N before the first read (the analysis, the head's passes). */
gboolean
hr_source_check_known_length (HrSource *source, GError **error)
{
  if (hr_source_get_n_samples (source) != HR_SOURCE_N_SAMPLES_UNKNOWN)
    return TRUE;
  g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
               _ ("%s: the number of samples must be known before reading (this source "
                  "learns it only at its end)"),
               hr_source_get_name (source));
  return FALSE;
}
