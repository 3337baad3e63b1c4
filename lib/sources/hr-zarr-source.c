/* headrank: a source over an array of a zarr store */
#include "hr-private.h"
#include "hr-zarr-source.h"

#include "hr-error.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-types.h"
#include "hr-zarr.h"

#include <gio/gio.h>
#include <string.h>

/**
 * HrZarrSource:
 *
 * A [class@Source] over a 1- or 2-dimensional array of a zarr store (zarr v2 or v3): rows
 * are samples, columns features (a 1-dimensional array is one feature). The array is
 * decoded a row of chunks at a time (its memory does not grow with the number of
 * samples): a read of whole rows of chunks (the preferred chunk is) straight into the
 * caller's buffer, the chunks of a row by as many threads as there are processors (at
 * most 8; the calling thread is one of them). Values of every number type are read as
 * float32, as numpy's `astype(float32)` makes them.
 *
 * Without an array path, the source reads the features that VisCy's layouts name: in an
 * AnnData store `obsm/X_backbone` when it exists (VisCy's `embedding_key="projections"`
 * puts the projections in `X`), else `X`; in an xarray store the `features` variable; a
 * store of one array, that array.
 *
 * Codecs: blosc (every compressor and shuffle of c-blosc), zstd, gzip, zlib, bytes,
 * transpose, crc32c and sharding; an array with any other codec or filter is refused with
 * %HR_STACK_ERROR_UNSUPPORTED naming it, and so is AnnData's sparse `X`.
 *
 * Since: 0.2
 */

struct _HrZarrSource
{
  HrSource parent_instance;

  HrZarrStore *store;
  HrZarrReader *reader;
  char *array;
};

G_DEFINE_FINAL_TYPE (HrZarrSource, hr_zarr_source, HR_TYPE_SOURCE)

static void
hr_zarr_source_finalize (GObject *object)
{
  HrZarrSource *self = HR_ZARR_SOURCE (object);

  g_clear_pointer (&self->reader, hr_zarr_reader_free);
  g_clear_pointer (&self->store, hr_zarr_store_unref);
  g_free (self->array);

  G_OBJECT_CLASS (hr_zarr_source_parent_class)->finalize (object);
}

static gboolean
hr_zarr_source_read (HrSource *source, guint64 first, float *buffer, gsize max_samples,
                     gsize *n_read, GCancellable *cancellable, GError **error)
{
  HrZarrSource *self = HR_ZARR_SOURCE (source);

  /* The base class has clipped max_samples to the samples left. */
  if (!hr_zarr_reader_read_rows (self->reader, first, max_samples, buffer, error))
    return FALSE;
  *n_read = max_samples;
  return TRUE;
}

/* Whole rows of chunks, about 16 MiB of rows. */
static gsize
hr_zarr_source_get_preferred_chunk (HrSource *source)
{
  HrZarrSource *self = HR_ZARR_SOURCE (source);
  gsize rows = hr_zarr_reader_get_chunk_rows (self->reader);
  gsize row_bytes = hr_zarr_reader_get_n_columns (self->reader) * sizeof (float) * rows;
  gsize k = row_bytes > 0 ? MAX ((gsize)1, ((gsize)16 << 20) / row_bytes) : 1;

  return rows * k;
}

static void
hr_zarr_source_class_init (HrZarrSourceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = hr_zarr_source_finalize;
  HR_SOURCE_CLASS (klass)->read = hr_zarr_source_read;
  HR_SOURCE_CLASS (klass)->get_preferred_chunk = hr_zarr_source_get_preferred_chunk;
}

static void
hr_zarr_source_init (HrZarrSource *self)
{
}

static HrSource *hr_zarr_source_new_in_store (HrZarrStore *store, const char *path,
                                              const char *array, GError **error);

/**
 * hr_zarr_source_new:
 * @path: the folder of a zarr store
 * @array: (nullable): the path of an array inside the store (`X`, `obsm/X_backbone`,
 *   `features`, …), or %NULL for the features of the store's layout
 * @error: return location for a #GError
 *
 * Opens the store's metadata (consolidated when it has them) and the array.
 *
 * Returns: (transfer full): a new #HrZarrSource, or %NULL with an %HR_STACK_ERROR: not a
 *   store (%HR_STACK_ERROR_UNSUPPORTED), invalid metadata (%HR_STACK_ERROR_CORRUPT), no such
 *   array or no features in the layout, or an array without rows or columns
 *   (%HR_STACK_ERROR_LAYOUT), a codec, data type or sparse matrix headrank does not read
 *   (%HR_STACK_ERROR_UNSUPPORTED), chunks too large (%HR_STACK_ERROR_TOO_LARGE)
 *
 * Since: 0.2
 */
HrSource *
hr_zarr_source_new (const char *path, const char *array, GError **error)
{
  g_autoptr (HrZarrStore) store = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  store = hr_zarr_store_open (path, error);
  if (store == NULL)
    return NULL;
  return hr_zarr_source_new_in_store (store, path, array, error);
}

/* hr_zarr_source_new() on a store already open. */
static HrSource *
hr_zarr_source_new_in_store (HrZarrStore *store, const char *path, const char *array,
                             GError **error)
{
  g_autoptr (HrZarrReader) reader = NULL;
  g_autoptr (HrStackInfo) info = NULL;
  g_autofree char *name = NULL;
  HrZarrSource *self;
  int index;

  if (array == NULL)
    {
      g_autoptr (GError) local = NULL;

      array = hr_zarr_store_get_role_path (store, HR_ZARR_ROLE_FEATURES, &local);
      if (array == NULL && local != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return NULL;
        }
      if (array == NULL)
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                       /* TRANSLATORS: %s: a zarr store; the option name stays in English */
                       _ ("%s: no array of the store holds features (name one with --features)"),
                       path);
          return NULL;
        }
    }
  reader = hr_zarr_reader_new (store, array, error);
  if (reader == NULL)
    return NULL;
  if (hr_zarr_reader_get_n_rows (reader) == 0 || hr_zarr_reader_get_n_columns (reader) == 0)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                   /* TRANSLATORS: %s: a zarr store; %s: an array in it */
                   _ ("%s: array “%s” has no samples or no features"), path, array);
      return NULL;
    }

  name = array[0] != '\0' ? g_build_filename (path, array, NULL) : g_strdup (path);
  self = g_object_new (HR_TYPE_ZARR_SOURCE, "n-samples", hr_zarr_reader_get_n_rows (reader),
                       "n-features", (guint64)hr_zarr_reader_get_n_columns (reader), "name", name,
                       NULL);
  info = hr_stack_info_new_internal ();
  info->path = g_strdup (name);
  index = hr_zarr_store_find_array (store, array);
  info->compression = g_strdup (hr_zarr_array_get_codecs (store, (guint)index));
  info->metadata_kind
      = g_strdup_printf ("zarr v%u", hr_zarr_array_get_format (store, (guint)index));
  info->sample_format = hr_zarr_array_get_item_size (store, (guint)index) == 2
                                && hr_zarr_array_is_float (store, (guint)index)
                            ? HR_SAMPLE_FORMAT_FLOAT16
                        : hr_zarr_array_get_item_size (store, (guint)index) == 8
                                && hr_zarr_array_is_float (store, (guint)index)
                            ? HR_SAMPLE_FORMAT_FLOAT64
                            : HR_SAMPLE_FORMAT_FLOAT32;
  info->width = (guint)MIN (hr_zarr_reader_get_n_columns (reader), G_MAXUINT);
  info->height = (guint)MIN (hr_zarr_reader_get_n_rows (reader), G_MAXUINT);
  info->n_pages = 1;
  hr_source_set_info (HR_SOURCE (self), info);
  self->array = g_strdup (array);
  self->reader = g_steal_pointer (&reader);
  self->store = hr_zarr_store_ref (store);
  return HR_SOURCE (self);
}

/**
 * hr_zarr_source_get_store:
 * @source: a #HrZarrSource
 *
 * The store the source reads from.
 *
 * Returns: the folder of the store, as given
 *
 * Since: 0.2
 */
const char *
hr_zarr_source_get_store (HrZarrSource *source)
{
  g_return_val_if_fail (HR_IS_ZARR_SOURCE (source), NULL);
  return hr_zarr_store_get_path (source->store);
}

/**
 * hr_zarr_source_get_array:
 * @source: a #HrZarrSource
 *
 * The array the source reads: the one given, or the one the store's layout names.
 *
 * Returns: the path of the array inside the store (empty for an array at the root)
 *
 * Since: 0.2
 */
const char *
hr_zarr_source_get_array (HrZarrSource *source)
{
  g_return_val_if_fail (HR_IS_ZARR_SOURCE (source), NULL);
  return source->array;
}

/**
 * hr_zarr_source_open_projections:
 * @path: the folder of a zarr store
 * @error: return location for a #GError
 *
 * Opens the projections of the store as its layout names them: in an AnnData store
 * `obsm/X_projections`, or `X` when the features are in `obsm/X_backbone` (VisCy's
 * `embedding_key="projections"`); in an xarray store the `projections` variable.
 *
 * Returns: (transfer full) (nullable): a new #HrZarrSource; %NULL without an error when the
 *   layout names no projections; %NULL with an error as hr_zarr_source_new() sets them
 *
 * Since: 0.2
 */
HrSource *
hr_zarr_source_open_projections (const char *path, GError **error)
{
  g_autoptr (HrZarrStore) store = NULL;
  const char *array;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  store = hr_zarr_store_open (path, error);
  if (store == NULL)
    return NULL;
  array = hr_zarr_store_get_role_path (store, HR_ZARR_ROLE_PROJECTIONS, NULL);
  return array != NULL ? hr_zarr_source_new_in_store (store, path, array, error) : NULL;
}

/**
 * hr_zarr_source_get_layout:
 * @source: a #HrZarrSource
 *
 * The layout the store was recognised as, which decides the arrays that hold features and
 * projections: `anndata`, `xarray`, `array` (one array at the store's root) or `group`
 * (arrays in groups, none of these layouts). The names are not translated.
 *
 * Returns: the name of the store's layout
 *
 * Since: 0.2
 */
const char *
hr_zarr_source_get_layout (HrZarrSource *source)
{
  g_return_val_if_fail (HR_IS_ZARR_SOURCE (source), NULL);
  return hr_zarr_layout_to_string (hr_zarr_store_get_layout (source->store));
}
