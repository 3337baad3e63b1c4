/* headrank: zarr stores (v2 and v3), read in C — internal to the library and the command
 *
 * A store is a folder: one array at its root, or groups of arrays (AnnData, xarray). Opening
 * it reads the metadata only (consolidated metadata when the store has it, else every
 * group's and array's own); a reader then decodes a 1- or 2-dimensional array a row of
 * chunks at a time into float32 (memory independent of the number of rows): whole rows of
 * chunks straight into the caller's rows, partial ones through a row it keeps; the chunks
 * of a row on the caller's thread and a pool of (processors - 1, at most 7) workers.
 * Errors are in HR_STACK_ERROR and name the store.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What an array is in the store's layout. */
typedef enum
{
  HR_ZARR_ROLE_NONE,
  HR_ZARR_ROLE_FEATURES,
  HR_ZARR_ROLE_PROJECTIONS,
  HR_ZARR_ROLE_OBS, /* a column of AnnData's obs (or a part of one: codes, categories) */
} HrZarrRole;

/* The layout the store was recognised as. */
typedef enum
{
  HR_ZARR_LAYOUT_ARRAY,   /* one array at the root */
  HR_ZARR_LAYOUT_ANNDATA, /* AnnData: X, obsm/…, obs/… */
  HR_ZARR_LAYOUT_XARRAY,  /* xarray: features and projections variables */
  HR_ZARR_LAYOUT_GROUP,   /* arrays in groups, none of the layouts above */
} HrZarrLayout;

typedef struct _HrZarrStore HrZarrStore;
typedef struct _HrZarrReader HrZarrReader;

/* The largest decoded chunk, and the largest row of chunks, a reader allocates. */
#define HR_ZARR_MAX_BUFFER ((gsize)512 << 20)

HrZarrStore *hr_zarr_store_open (const char *path, GError **error);
HrZarrStore *hr_zarr_store_ref (HrZarrStore *store);
void hr_zarr_store_unref (HrZarrStore *store);
const char *hr_zarr_store_get_path (HrZarrStore *store);
HrZarrLayout hr_zarr_store_get_layout (HrZarrStore *store);
const char *hr_zarr_layout_to_string (HrZarrLayout layout);
const char *hr_zarr_role_to_string (HrZarrRole role);
/* Whether @path is a folder holding zarr metadata (.zgroup, .zarray, .zmetadata, zarr.json). */
gboolean hr_zarr_is_store (const char *path);

/* The arrays, sorted by path ("" is an array at the root). */
guint hr_zarr_store_get_n_arrays (HrZarrStore *store);
const char *hr_zarr_store_get_array_path (HrZarrStore *store, guint i);
int hr_zarr_store_find_array (HrZarrStore *store, const char *path);
guint hr_zarr_array_get_format (HrZarrStore *store, guint i);
guint hr_zarr_array_get_n_dims (HrZarrStore *store, guint i);
const guint64 *hr_zarr_array_get_shape (HrZarrStore *store, guint i);
const guint64 *hr_zarr_array_get_chunks (HrZarrStore *store, guint i);
const char *hr_zarr_array_get_dtype (HrZarrStore *store, guint i);
gboolean hr_zarr_array_get_fortran_order (HrZarrStore *store, guint i);
const char *hr_zarr_array_get_codecs (HrZarrStore *store, guint i);
HrZarrRole hr_zarr_array_get_role (HrZarrStore *store, guint i);
guint hr_zarr_array_get_item_size (HrZarrStore *store, guint i);
gboolean hr_zarr_array_is_float (HrZarrStore *store, guint i);
/* NULL when the array can be read as float32 rows, else why not (a sentence). */
const char *hr_zarr_array_get_unsupported (HrZarrStore *store, guint i);

/* The path of the array that takes @role (features or projections), or NULL with no error
 * when none does; NULL with an error when the store's layout forbids reading it (a sparse
 * X). */
const char *hr_zarr_store_get_role_path (HrZarrStore *store, HrZarrRole role, GError **error);

HrZarrReader *hr_zarr_reader_new (HrZarrStore *store, const char *array_path, GError **error);
void hr_zarr_reader_free (HrZarrReader *reader);
guint64 hr_zarr_reader_get_n_rows (HrZarrReader *reader);
gsize hr_zarr_reader_get_n_columns (HrZarrReader *reader);
/* Rows per chunk: reads of whole chunk rows decode each chunk once. */
gsize hr_zarr_reader_get_chunk_rows (HrZarrReader *reader);
/* Reads rows [@first, @first + @n_rows) into @out (@n_rows × n_columns floats, C order). */
gboolean hr_zarr_reader_read_rows (HrZarrReader *reader, guint64 first, gsize n_rows, float *out,
                                   GError **error);

/* -- columns: 1-dimensional arrays read exactly (AnnData's obs, hr-zarr-obs.c) -- */

typedef enum
{
  HR_ZARR_COLUMN_OTHER,
  HR_ZARR_COLUMN_INTEGER, /* integers and booleans, read as gint64 */
  HR_ZARR_COLUMN_FLOAT,   /* read as double */
  HR_ZARR_COLUMN_STRING,  /* UTF-8 through the vlen-utf8 codec (v3) or filter (v2) */
} HrZarrColumnType;

HrZarrColumnType hr_zarr_array_get_column_type (HrZarrStore *store, guint i);

/* Attributes of a group or an array (.zattrs; v3: "attributes"): whether it has any, a
 * string, a list of strings (NULL when absent or not all strings; free with g_strfreev). */
gboolean hr_zarr_store_has_attributes (HrZarrStore *store, const char *path);
const char *hr_zarr_store_get_string_attribute (HrZarrStore *store, const char *path,
                                                const char *name);
char **hr_zarr_store_get_strv_attribute (HrZarrStore *store, const char *path, const char *name);

/* Reads a 1-dimensional array of numbers whole: integers and booleans into *@ints (an
 * unsigned value beyond G_MAXINT64 is an error), floats into *@doubles; the other stays
 * NULL. Free with g_free(). */
gboolean hr_zarr_read_numbers (HrZarrStore *store, const char *path, guint64 *n_rows, gint64 **ints,
                               double **doubles, GError **error);

/* Called for every row of a string array in order: @value is @length bytes of valid UTF-8
 * without NUL (not NUL-terminated), or NULL for a missing value (a chunk never written
 * whose fill value is null). */
typedef gboolean (*HrZarrStringFunc) (guint64 row, const char *value, gsize length,
                                      gpointer user_data, GError **error);
gboolean hr_zarr_read_strings (HrZarrStore *store, const char *path, guint64 *n_rows,
                               HrZarrStringFunc func, gpointer user_data, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrZarrStore, hr_zarr_store_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrZarrReader, hr_zarr_reader_free)

G_END_DECLS
