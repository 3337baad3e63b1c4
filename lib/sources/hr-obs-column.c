/* headrank: one column of the obs table of an AnnData store (fov_name, track_id, t, …) */
#include "hr-private.h"
#include "hr-obs-column.h"

#include "hr-error.h"
#include "hr-zarr-obs.h"
#include "hr-zarr.h"

#include <string.h>

/**
 * HrObsColumn:
 *
 * One column of the `obs` table of an AnnData zarr store, as VisCy's prediction writer
 * leaves them (`fov_name`, `track_id`, `t`, `x`, `y`, a condition…): one value per sample,
 * row i belonging to sample i of the store's `X`. Read whole and exactly by the library's
 * own zarr reader (no Python zarr or anndata): numbers as int64 or float64, strings and
 * categoricals as codes into the list of their distinct strings, with anndata's masks of
 * missing values (nullable integers, booleans and strings).
 *
 * The object is immutable and reference-counted.
 *
 * Since: 0.2
 */

struct _HrObsColumn
{
  gatomicrefcount ref_count;
  HrZarrColumn *column;
};

G_DEFINE_BOXED_TYPE (HrObsColumn, hr_obs_column, hr_obs_column_ref, hr_obs_column_unref)

/**
 * hr_obs_column_ref:
 * @self: a #HrObsColumn
 *
 * Takes a reference.
 *
 * Returns: (transfer full): @self
 *
 * Since: 0.2
 */
HrObsColumn *
hr_obs_column_ref (HrObsColumn *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

/**
 * hr_obs_column_unref:
 * @self: (transfer full): a #HrObsColumn
 *
 * Drops a reference; the last one frees the column.
 *
 * Since: 0.2
 */
void
hr_obs_column_unref (HrObsColumn *self)
{
  g_return_if_fail (self != NULL);
  if (g_atomic_ref_count_dec (&self->ref_count))
    {
      hr_zarr_column_free (self->column);
      g_free (self);
    }
}

/**
 * hr_obs_column_list:
 * @path: a zarr store
 * @error: return location for a #GError, or %NULL
 *
 * Lists the columns of the store's obs table, in its order (anndata's `column-order`).
 * A store that is not AnnData, or has no obs table, has none.
 *
 * Returns: (transfer full) (array zero-terminated=1) (nullable): the column names
 *   (perhaps none), or %NULL with the error of opening the store (%G_IO_ERROR when
 *   @path cannot be read, %HR_STACK_ERROR when it is not a zarr store)
 *
 * Since: 0.2
 */
char **
hr_obs_column_list (const char *path, GError **error)
{
  g_autoptr (HrZarrStore) store = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  store = hr_zarr_store_open (path, error);
  if (store == NULL)
    return NULL;
  if (!hr_zarr_store_has_obs (store))
    return g_new0 (char *, 1);
  return hr_zarr_obs_get_column_names (store);
}

/**
 * hr_obs_column_new_from_store: (constructor)
 * @path: an AnnData zarr store
 * @name: (nullable): the column, or %NULL for the obs index
 * @error: return location for a #GError, or %NULL
 *
 * Reads one obs column of the store @path.
 *
 * Errors, in %HR_STACK_ERROR: %HR_STACK_ERROR_LAYOUT when @path is not an AnnData store
 * with an obs table or has no column @name (the message lists those it has),
 * %HR_STACK_ERROR_UNSUPPORTED for an encoding the reader does not know, and the errors of
 * opening and reading the store (as hr_obs_column_list()).
 *
 * Returns: (transfer full) (nullable): the column, or %NULL with @error set
 *
 * Since: 0.2
 */
HrObsColumn *
hr_obs_column_new_from_store (const char *path, const char *name, GError **error)
{
  g_autoptr (HrZarrStore) store = NULL;
  HrZarrColumn *column;
  HrObsColumn *self;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  store = hr_zarr_store_open (path, error);
  if (store == NULL)
    return NULL;
  column = hr_zarr_obs_read_column (store, name, error);
  if (column == NULL)
    return NULL;
  self = g_new0 (HrObsColumn, 1);
  g_atomic_ref_count_init (&self->ref_count);
  self->column = column;
  return self;
}

/**
 * hr_obs_column_get_name:
 * @self: a #HrObsColumn
 *
 * Gets the column's name (for the index, the name anndata gave it, often `_index`).
 *
 * Returns: (transfer none): the name
 *
 * Since: 0.2
 */
const char *
hr_obs_column_get_name (HrObsColumn *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->column->name;
}

/**
 * hr_obs_column_get_encoding:
 * @self: a #HrObsColumn
 *
 * Gets anndata's encoding-type of the column (`array`, `string-array`, `categorical`,
 * `nullable-integer`, …).
 *
 * Returns: (transfer none): the encoding
 *
 * Since: 0.2
 */
const char *
hr_obs_column_get_encoding (HrObsColumn *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->column->encoding;
}

/**
 * hr_obs_column_get_value_type:
 * @self: a #HrObsColumn
 *
 * Gets what the values are (see #HrObsValueType).
 *
 * Returns: the type of the values
 *
 * Since: 0.2
 */
HrObsValueType
hr_obs_column_get_value_type (HrObsColumn *self)
{
  g_return_val_if_fail (self != NULL, HR_OBS_VALUE_INTEGER);
  switch (self->column->type)
    {
      case HR_ZARR_COLUMN_FLOAT:
        return HR_OBS_VALUE_FLOAT;
      case HR_ZARR_COLUMN_STRING:
        return HR_OBS_VALUE_STRING;
      default:
        return HR_OBS_VALUE_INTEGER;
    }
}

/**
 * hr_obs_column_get_n_rows:
 * @self: a #HrObsColumn
 *
 * Gets the number of rows: one per sample of the store.
 *
 * Returns: the number of rows
 *
 * Since: 0.2
 */
guint64
hr_obs_column_get_n_rows (HrObsColumn *self)
{
  g_return_val_if_fail (self != NULL, 0);
  return self->column->n_rows;
}

/**
 * hr_obs_column_get_values:
 * @self: a #HrObsColumn
 *
 * Gets the values in native byte order: int64 for %HR_OBS_VALUE_INTEGER, float64 for
 * %HR_OBS_VALUE_FLOAT, int64 codes into hr_obs_column_get_categories() for
 * %HR_OBS_VALUE_STRING (from Python: `numpy.frombuffer (bytes.get_data (), numpy.int64)`).
 * Where hr_obs_column_get_missing() marks a value missing, the value is meaningless
 * (a string's code is −1).
 *
 * Returns: (transfer full): the values, 8 bytes per row
 *
 * Since: 0.2
 */
GBytes *
hr_obs_column_get_values (HrObsColumn *self)
{
  gsize n;

  g_return_val_if_fail (self != NULL, NULL);
  n = (gsize)self->column->n_rows * 8;
  if (self->column->type == HR_ZARR_COLUMN_FLOAT)
    return g_bytes_new (self->column->doubles, n);
  return g_bytes_new (self->column->ints, n);
}

/**
 * hr_obs_column_get_missing:
 * @self: a #HrObsColumn
 *
 * Gets the mask of missing values: one byte per row, 1 where the value is missing.
 *
 * Returns: (transfer full) (nullable): the mask, or %NULL when no value is missing
 *
 * Since: 0.2
 */
GBytes *
hr_obs_column_get_missing (HrObsColumn *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  if (self->column->missing == NULL)
    return NULL;
  return g_bytes_new (self->column->missing, (gsize)self->column->n_rows);
}

/**
 * hr_obs_column_get_categories:
 * @self: a #HrObsColumn
 *
 * Gets the distinct strings of a %HR_OBS_VALUE_STRING column, indexed by the codes of
 * hr_obs_column_get_values().
 *
 * Returns: (transfer full) (array zero-terminated=1) (nullable): the strings, or %NULL
 *   for a column of numbers
 *
 * Since: 0.2
 */
char **
hr_obs_column_get_categories (HrObsColumn *self)
{
  GPtrArray *c;
  char **out;

  g_return_val_if_fail (self != NULL, NULL);
  c = self->column->categories;
  if (self->column->type != HR_ZARR_COLUMN_STRING || c == NULL)
    return NULL;
  out = g_new0 (char *, c->len + 1);
  for (guint i = 0; i < c->len; i++)
    out[i] = g_strdup (g_ptr_array_index (c, i));
  return out;
}
