/* headrank: several sources read as one stack */
#include "hr-private.h"
#include "hr-concat-source.h"

#include "hr-error.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"
#include "hr-stack-reader.h"
#include "hr-types.h"
#include "hr-zarr-source.h"
#include "hr-zarr.h"

#include <gio/gio.h>
#include <string.h>

/**
 * HrConcatSource:
 *
 * Several sources read one after the other as one stack: per-FOV files analysed as one
 * dataset. Samples are numbered across the parts (the first sample of part i is
 * [method@ConcatSource.get_part_start]); every part must have the same number of features
 * D and a known number of samples. The info is the first part's; the stored sample
 * format is the widest of the parts' (so that non-finite values are counted whenever a
 * part can hold them).
 *
 * ```c
 * const char *paths[] = { "fov1.tif", "fov2.tif", NULL };
 * g_autoptr (HrSource) all = hr_concat_source_new_for_paths (paths, HR_STACK_LAYOUT_AUTO,
 *                                                            NULL, &error);
 * ```
 *
 * Since: 0.2
 */

struct _HrConcatSource
{
  HrSource parent_instance;

  GPtrArray *parts;
  guint64 *starts; /* n_parts + 1 */
};

G_DEFINE_FINAL_TYPE (HrConcatSource, hr_concat_source, HR_TYPE_SOURCE)

static void
hr_concat_source_dispose (GObject *object)
{
  HrConcatSource *self = HR_CONCAT_SOURCE (object);

  g_clear_pointer (&self->parts, g_ptr_array_unref);

  G_OBJECT_CLASS (hr_concat_source_parent_class)->dispose (object);
}

static void
hr_concat_source_finalize (GObject *object)
{
  HrConcatSource *self = HR_CONCAT_SOURCE (object);

  g_free (self->starts);

  G_OBJECT_CLASS (hr_concat_source_parent_class)->finalize (object);
}

static gboolean
hr_concat_source_read (HrSource *source, guint64 first, float *buffer, gsize max_samples,
                       gsize *n_read, GCancellable *cancellable, GError **error)
{
  HrConcatSource *self = HR_CONCAT_SOURCE (source);
  gsize d = hr_source_get_n_features (source), done = 0;
  guint i;

  if (self->parts == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                   _ ("%s: a concatenation made without parts"), hr_source_get_name (source));
      return FALSE;
    }
  i = hr_concat_source_find_part (self, first);

  /* The base class has clipped max_samples to the samples left; the parts' own
   * non-finite counts are not looked at (the concatenation counts once). */
  while (done < max_samples && i < self->parts->len)
    {
      HrSource *part = g_ptr_array_index (self->parts, i);
      guint64 local = first + done - self->starts[i];
      gsize want = (gsize)MIN ((guint64)(max_samples - done), self->starts[i + 1] - first - done);
      gsize got = 0;

      if (want == 0)
        {
          i++;
          continue;
        }
      if (hr_source_get_position (part) != local && !hr_source_seek (part, local, error))
        return FALSE;
      if (!hr_source_read_into (part, buffer + done * d, want, &got, cancellable, error))
        return FALSE;
      done += got;
    }
  *n_read = done;
  return TRUE;
}

static gsize
hr_concat_source_get_preferred_chunk (HrSource *source)
{
  HrConcatSource *self = HR_CONCAT_SOURCE (source);
  gsize chunk = 1;

  for (guint i = 0; self->parts != NULL && i < self->parts->len; i++)
    chunk = MAX (chunk, hr_source_get_preferred_chunk (g_ptr_array_index (self->parts, i)));
  return chunk;
}

static void
hr_concat_source_class_init (HrConcatSourceClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = hr_concat_source_dispose;
  G_OBJECT_CLASS (klass)->finalize = hr_concat_source_finalize;
  HR_SOURCE_CLASS (klass)->read = hr_concat_source_read;
  HR_SOURCE_CLASS (klass)->get_preferred_chunk = hr_concat_source_get_preferred_chunk;
}

static void
hr_concat_source_init (HrConcatSource *self)
{
}

/**
 * hr_concat_source_new:
 * @sources: (array length=n_sources) (transfer none): the parts, in order
 * @n_sources: how many, at least 1
 * @error: return location for a #GError
 *
 * Makes one stack of @sources, read one after the other. Each part is read from its
 * current position's point of view: the concatenation seeks them as it needs.
 *
 * Returns: (transfer full): a new #HrConcatSource, or %NULL with %HR_STACK_ERROR_INCONSISTENT
 *   naming the first part whose number of features differs from the first one's, or
 *   %HR_STACK_ERROR_INVALID for a part of unknown length
 *
 * Since: 0.2
 */
HrSource *
hr_concat_source_new (HrSource **sources, guint n_sources, GError **error)
{
  g_autoptr (HrConcatSource) self = NULL;
  g_autoptr (HrStackInfo) info = NULL;
  g_autofree char *name = NULL;
  gsize d;
  guint64 n = 0;
  HrSampleFormat widest;

  g_return_val_if_fail (sources != NULL && n_sources > 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  for (guint i = 0; i < n_sources; i++)
    g_return_val_if_fail (HR_IS_SOURCE (sources[i]), NULL);

  d = hr_source_get_n_features (sources[0]);
  widest = hr_stack_info_get_sample_format (hr_source_get_info (sources[0]));
  for (guint i = 0; i < n_sources; i++)
    {
      guint64 ni = hr_source_get_n_samples (sources[i]);
      HrSampleFormat format = hr_stack_info_get_sample_format (hr_source_get_info (sources[i]));

      if (hr_source_get_n_features (sources[i]) != d)
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INCONSISTENT,
                       _ ("%s: %zu features per sample, but %s has %zu; all parts of a stack "
                          "must have the same number"),
                       hr_source_get_name (sources[i]), hr_source_get_n_features (sources[i]),
                       hr_source_get_name (sources[0]), d);
          return NULL;
        }
      if (ni == HR_SOURCE_N_SAMPLES_UNKNOWN || n + ni < n || n + ni == HR_SOURCE_N_SAMPLES_UNKNOWN)
        {
          g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID,
                       _ ("%s: a part of a stack must know its number of samples"),
                       hr_source_get_name (sources[i]));
          return NULL;
        }
      n += ni;
      /* Floating point formats sort after the integers, wider after narrower. */
      widest = MAX (widest, format);
    }

  name = n_sources == 1
             ? g_strdup (hr_source_get_name (sources[0]))
             : g_strdup_printf ("%s (+%u)", hr_source_get_name (sources[0]), n_sources - 1);
  self = g_object_new (HR_TYPE_CONCAT_SOURCE, "n-samples", n, "n-features", (guint64)d, "name",
                       name, NULL);
  self->parts = g_ptr_array_new_full (n_sources, g_object_unref);
  self->starts = g_new (guint64, n_sources + 1);
  self->starts[0] = 0;
  for (guint i = 0; i < n_sources; i++)
    {
      g_ptr_array_add (self->parts, g_object_ref (sources[i]));
      self->starts[i + 1] = self->starts[i] + hr_source_get_n_samples (sources[i]);
    }
  info = hr_stack_info_new_internal ();
  {
    HrStackInfo *first = hr_source_get_info (sources[0]);

    info->path = g_strdup (first->path);
    info->layout = first->layout;
    info->compression = g_strdup (first->compression);
    info->metadata_kind = g_strdup (first->metadata_kind);
    info->n_pages = first->n_pages;
    info->big_endian = first->big_endian;
    info->bigtiff = first->bigtiff;
    info->tiled = first->tiled;
    info->sample_format = widest;
    /* A per-pixel geometry describes one image, not several. */
    if (n_sources == 1)
      {
        info->per_pixel = first->per_pixel;
        info->width = first->width;
        info->height = first->height;
        info->depth = first->depth;
        info->frames = first->frames;
        info->channels = first->channels;
      }
  }
  hr_source_set_info (HR_SOURCE (self), info);
  return HR_SOURCE (g_steal_pointer (&self));
}

static int
hr_compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* The TIFF files and zarr stores of @dir, sorted by name. */
static gboolean
hr_list_directory (const char *dir, GPtrArray *out, GError **error)
{
  g_autoptr (GDir) handle = NULL;
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  const char *entry;
  GError *local = NULL;

  handle = g_dir_open (dir, 0, &local);
  if (handle == NULL)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_file_error (local->code), "%s: %s", dir,
                   local->message);
      g_error_free (local);
      return FALSE;
    }
  while ((entry = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *lower = g_ascii_strdown (entry, -1);

      g_autofree char *path = NULL;

      if (entry[0] == '.')
        continue;
      path = g_build_filename (dir, entry, NULL);
      if (g_str_has_suffix (lower, ".tif") || g_str_has_suffix (lower, ".tiff")
          || hr_zarr_is_store (path))
        g_ptr_array_add (found, g_steal_pointer (&path));
    }
  if (found->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   /* TRANSLATORS: %s is a folder; "zarr" stays in English */
                   _ ("%s: the folder holds no .tif or .tiff files and no zarr stores"), dir);
      return FALSE;
    }
  g_ptr_array_sort (found, hr_compare_paths);
  for (guint i = 0; i < found->len; i++)
    g_ptr_array_add (out, g_steal_pointer (&found->pdata[i]));
  return TRUE;
}

/**
 * hr_concat_source_new_for_paths:
 * @paths: (array zero-terminated=1) (element-type filename): TIFF files, zarr stores, or
 *   folders whose `.tif` and `.tiff` files and zarr stores are taken in name order
 * @layout: how the files hold their features, or %HR_STACK_LAYOUT_AUTO
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Opens every file as a [class@StackReader] and every zarr store as a [class@ZarrSource]
 * of its features (the array its layout names, as a [class@ZarrSource] opened without an
 * array path), and concatenates them, in the order given. A folder that is itself a zarr store
 * is that store, not a folder of parts.
 *
 * Returns: (transfer full): a new #HrConcatSource, or %NULL with @error set (the error of
 *   the file that failed to open, or the one hr_concat_source_new() gives)
 *
 * Since: 0.2
 */
HrSource *
hr_concat_source_new_for_paths (const char *const *paths, HrStackLayout layout,
                                GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) readers = g_ptr_array_new_with_free_func (g_object_unref);

  g_return_val_if_fail (paths != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  for (gsize i = 0; paths[i] != NULL; i++)
    {
      if (g_file_test (paths[i], G_FILE_TEST_IS_DIR) && !hr_zarr_is_store (paths[i]))
        {
          if (!hr_list_directory (paths[i], files, error))
            return NULL;
        }
      else
        g_ptr_array_add (files, g_strdup (paths[i]));
    }
  if (files->len == 0)
    {
      g_set_error_literal (error, HR_STACK_ERROR, HR_STACK_ERROR_INVALID, _ ("no files to read"));
      return NULL;
    }
  for (guint i = 0; i < files->len; i++)
    {
      HrSource *reader;

      if (hr_zarr_is_store (files->pdata[i]))
        reader = hr_zarr_source_new (files->pdata[i], NULL, error);
      else
        reader = HR_SOURCE (hr_stack_reader_new (files->pdata[i], layout, cancellable, error));
      if (reader == NULL)
        return NULL;
      g_ptr_array_add (readers, reader);
    }
  return hr_concat_source_new ((HrSource **)readers->pdata, readers->len, error);
}

/**
 * hr_concat_source_get_n_parts:
 * @source: a #HrConcatSource
 *
 * Gets the number of parts.
 *
 * Returns: the number of parts
 *
 * Since: 0.2
 */
guint
hr_concat_source_get_n_parts (HrConcatSource *source)
{
  g_return_val_if_fail (HR_IS_CONCAT_SOURCE (source), 0);
  g_return_val_if_fail (source->parts != NULL, 0);
  return source->parts->len;
}

/**
 * hr_concat_source_get_part:
 * @source: a #HrConcatSource
 * @index: a part, less than the number of parts
 *
 * Gets one part.
 *
 * Returns: (transfer none): the part
 *
 * Since: 0.2
 */
HrSource *
hr_concat_source_get_part (HrConcatSource *source, guint index)
{
  g_return_val_if_fail (HR_IS_CONCAT_SOURCE (source), NULL);
  g_return_val_if_fail (source->parts != NULL, NULL);
  g_return_val_if_fail (index < source->parts->len, NULL);
  return g_ptr_array_index (source->parts, index);
}

/**
 * hr_concat_source_get_part_start:
 * @source: a #HrConcatSource
 * @index: a part, at most the number of parts
 *
 * Gets the index, across the parts, of the first sample of part @index (for @index equal
 * to the number of parts, N).
 *
 * Returns: the first sample of the part
 *
 * Since: 0.2
 */
guint64
hr_concat_source_get_part_start (HrConcatSource *source, guint index)
{
  g_return_val_if_fail (HR_IS_CONCAT_SOURCE (source), 0);
  g_return_val_if_fail (source->parts != NULL, 0);
  g_return_val_if_fail (index <= source->parts->len, 0);
  return source->starts[index];
}

/**
 * hr_concat_source_find_part:
 * @source: a #HrConcatSource
 * @sample: a sample index across the parts
 *
 * Finds the part that holds @sample.
 *
 * Returns: the part's index (the number of parts for @sample ≥ N)
 *
 * Since: 0.2
 */
guint
hr_concat_source_find_part (HrConcatSource *source, guint64 sample)
{
  guint lo = 0, hi;

  g_return_val_if_fail (HR_IS_CONCAT_SOURCE (source), 0);
  g_return_val_if_fail (source->parts != NULL, 0);
  hi = source->parts->len;
  /* The last part whose start is ≤ sample, skipping empty parts. */
  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;

      if (source->starts[mid + 1] <= sample)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

/* For messages: the name of the source that holds @sample, and *@sample made relative
 * to it (the part of a concatenation, recursively; any other source is its own). */
const char *
hr_source_locate_sample (HrSource *source, guint64 *sample)
{
  while (HR_IS_CONCAT_SOURCE (source) && HR_CONCAT_SOURCE (source)->parts != NULL)
    {
      HrConcatSource *concat = HR_CONCAT_SOURCE (source);
      guint i = hr_concat_source_find_part (concat, *sample);

      if (i >= concat->parts->len)
        break;
      *sample -= concat->starts[i];
      source = g_ptr_array_index (concat->parts, i);
    }
  return hr_source_get_name (source);
}
