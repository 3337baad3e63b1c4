/* headrank: AnnData's obs columns in a zarr store, read in C — internal to the library and
 * the command
 *
 * An AnnData store keeps its obs table as a group `obs` (encoding-type "dataframe") of one
 * element per column, each as anndata writes it: an array ("array", "string-array"), a
 * categorical (codes and categories), or a nullable array (values and mask:
 * "nullable-integer", "nullable-boolean", "nullable-string-array"). A column reads whole,
 * numbers exactly (gint64 or double), strings as codes into a list of the distinct strings;
 * any other encoding is refused by name. Errors are in HR_STACK_ERROR and name the store.
 */
#pragma once

#include "hr-zarr.h"

G_BEGIN_DECLS

typedef struct
{
  char *name;     /* the column's name in obs */
  char *encoding; /* anndata's encoding-type of the element ("array", "categorical", …) */
  HrZarrColumnType type;
  guint64 n_rows;
  gint64 *ints;          /* INTEGER values; STRING: codes into categories, -1 where missing */
  double *doubles;       /* FLOAT values (NaN is a value: a float column has no mask) */
  guint8 *missing;       /* 1 where a value is missing (a mask, or -1 codes), or NULL */
  GPtrArray *categories; /* STRING: the distinct strings, by code */
} HrZarrColumn;

/* Whether the store is AnnData with an obs dataframe. */
gboolean hr_zarr_store_has_obs (HrZarrStore *store);
/* The names of the obs columns ("column-order"), then NULL; free with g_strfreev. */
char **hr_zarr_obs_get_column_names (HrZarrStore *store);
/* Reads the obs column @name, or the obs index when @name is NULL. */
HrZarrColumn *hr_zarr_obs_read_column (HrZarrStore *store, const char *name, GError **error);
void hr_zarr_column_free (HrZarrColumn *column);
/* The string of row @row of a STRING column, or NULL where missing. */
const char *hr_zarr_column_get_string (const HrZarrColumn *column, guint64 row);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrZarrColumn, hr_zarr_column_free)

G_END_DECLS
