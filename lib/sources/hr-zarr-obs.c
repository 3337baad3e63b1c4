/* headrank: AnnData's obs columns in a zarr store (see hr-zarr-obs.h)
 *
 * anndata's on-disk specification: a dataframe is a group with attributes encoding-type
 * "dataframe", "_index" (the name of the index column) and "column-order"; each column is
 * an element of the group with its own encoding-type.
 */
#include "hr-private.h"
#include "hr-zarr-obs.h"

#include "hr-error.h"

#include <inttypes.h>
#include <string.h>

#define HR_OBS "obs"

void
hr_zarr_column_free (HrZarrColumn *column)
{
  if (column == NULL)
    return;
  g_free (column->name);
  g_free (column->encoding);
  g_free (column->ints);
  g_free (column->doubles);
  g_free (column->missing);
  g_clear_pointer (&column->categories, g_ptr_array_unref);
  g_free (column);
}

const char *
hr_zarr_column_get_string (const HrZarrColumn *column, guint64 row)
{
  gint64 code;

  g_return_val_if_fail (column->type == HR_ZARR_COLUMN_STRING && row < column->n_rows, NULL);
  code = column->ints[row];
  return code >= 0 ? column->categories->pdata[code] : NULL;
}

gboolean
hr_zarr_store_has_obs (HrZarrStore *store)
{
  return hr_zarr_store_get_layout (store) == HR_ZARR_LAYOUT_ANNDATA
         && g_strcmp0 (hr_zarr_store_get_string_attribute (store, HR_OBS, "encoding-type"),
                       "dataframe")
                == 0;
}

char **
hr_zarr_obs_get_column_names (HrZarrStore *store)
{
  char **names = hr_zarr_store_get_strv_attribute (store, HR_OBS, "column-order");

  return names != NULL ? names : g_new0 (char *, 1);
}

static gboolean
hr_obs_unsupported (HrZarrStore *store, const char *column, const char *encoding, GError **error)
{
  g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_UNSUPPORTED,
               /* TRANSLATORS: %s: the store; %s: an obs column; %s: anndata's encoding-type,
                  such as "awkward-array" */
               _ ("%s: obs column “%s”: encoding “%s” is not supported"),
               hr_zarr_store_get_path (store), column, encoding);
  return FALSE;
}

static gboolean
hr_obs_corrupt (HrZarrStore *store, const char *column, const char *what, GError **error)
{
  g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_CORRUPT,
               /* TRANSLATORS: %s: the store; %s: an obs column; %s: what is wrong with it */
               _ ("%s: obs column “%s”: %s"), hr_zarr_store_get_path (store), column, what);
  return FALSE;
}

static gboolean
hr_obs_alloc (HrZarrStore *store, const char *column, guint64 n, gsize size, gpointer *out,
              GError **error)
{
  *out = n < G_MAXSIZE / size ? g_try_malloc0 (MAX ((gsize)n * size, 1)) : NULL;
  if (*out == NULL)
    g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY,
                 /* TRANSLATORS: %s: the store; %s: an obs column; then its number of rows */
                 _ ("%s: obs column “%s”: not enough memory for its %" PRIu64 " rows"),
                 hr_zarr_store_get_path (store), column, n);
  return *out != NULL;
}

typedef struct
{
  HrZarrColumn *column;
  GHashTable *codes; /* string (owned by categories) → code + 1 */
  GString *key;
} HrObsStrings;

static gboolean
hr_obs_add_string (guint64 row, const char *value, gsize length, gpointer user_data, GError **error)
{
  HrObsStrings *s = user_data;
  gpointer code;

  (void)error;
  if (row >= s->column->n_rows)
    return TRUE; /* the caller checks the length */
  if (value == NULL)
    {
      s->column->ints[row] = -1;
      return TRUE;
    }
  g_string_overwrite_len (g_string_truncate (s->key, 0), 0, value, (gssize)length);
  code = g_hash_table_lookup (s->codes, s->key->str);
  if (code == NULL)
    {
      char *copy = g_strndup (value, length);

      g_ptr_array_add (s->column->categories, copy);
      code = GSIZE_TO_POINTER ((gsize)s->column->categories->len);
      g_hash_table_insert (s->codes, copy, code);
    }
  s->column->ints[row] = (gint64)GPOINTER_TO_SIZE (code) - 1;
  return TRUE;
}

/* The length of the 1-dimensional array @path, or G_MAXUINT64 when there is none. */
static guint64
hr_obs_array_length (HrZarrStore *store, const char *path)
{
  int i = hr_zarr_store_find_array (store, path);

  if (i < 0 || hr_zarr_array_get_n_dims (store, (guint)i) != 1)
    return G_MAXUINT64;
  return hr_zarr_array_get_shape (store, (guint)i)[0];
}

/* Reads the array @path (numbers or strings) into @column, whose name is for messages. */
static gboolean
hr_obs_read_array (HrZarrStore *store, const char *path, HrZarrColumn *column, GError **error)
{
  int i = hr_zarr_store_find_array (store, path);
  guint64 n = 0;

  if (i < 0)
    {
      g_autofree char *what
          /* TRANSLATORS: %s: a part of an obs column, such as "codes" or "mask" */
          = g_strdup_printf (_ ("its part “%s” is missing"), strrchr (path, '/') + 1);

      return hr_obs_corrupt (store, column->name, what, error);
    }
  column->type = hr_zarr_array_get_column_type (store, (guint)i);
  if (column->type == HR_ZARR_COLUMN_STRING)
    {
      HrObsStrings s = { column, NULL, NULL };
      gboolean ok;

      column->n_rows = hr_obs_array_length (store, path);
      if (column->n_rows == G_MAXUINT64)
        column->n_rows = 0; /* the reader says why */
      if (!hr_obs_alloc (store, column->name, column->n_rows, sizeof (gint64),
                         (gpointer *)&column->ints, error))
        return FALSE;
      column->categories = g_ptr_array_new_with_free_func (g_free);
      s.codes = g_hash_table_new (g_str_hash, g_str_equal);
      s.key = g_string_new (NULL);
      ok = hr_zarr_read_strings (store, path, &n, hr_obs_add_string, &s, error);
      g_hash_table_unref (s.codes);
      g_string_free (s.key, TRUE);
      if (!ok)
        return FALSE;
      for (guint64 r = 0; r < n; r++)
        if (column->ints[r] < 0)
          {
            if (column->missing == NULL
                && !hr_obs_alloc (store, column->name, n, 1, (gpointer *)&column->missing, error))
              return FALSE;
            column->missing[r] = 1;
          }
      return TRUE;
    }
  if (!hr_zarr_read_numbers (store, path, &n, &column->ints, &column->doubles, error))
    return FALSE;
  column->n_rows = n;
  return TRUE;
}

/* A categorical: codes (-1 where missing) into categories of strings or numbers. */
static gboolean
hr_obs_read_categorical (HrZarrStore *store, const char *path, HrZarrColumn *column, GError **error)
{
  g_autofree char *codes_path = g_strconcat (path, "/codes", NULL);
  g_autofree char *categories_path = g_strconcat (path, "/categories", NULL);
  g_autoptr (HrZarrColumn) categories = g_new0 (HrZarrColumn, 1);
  guint64 n_categories;

  categories->name = g_strdup (column->name);
  if (!hr_obs_read_array (store, categories_path, categories, error)
      || !hr_obs_read_array (store, codes_path, column, error))
    return FALSE;
  if (column->type != HR_ZARR_COLUMN_INTEGER)
    return hr_obs_corrupt (store, column->name, _ ("its codes are not integers"), error);
  if (categories->missing != NULL)
    return hr_obs_corrupt (store, column->name, _ ("a category is missing"), error);
  n_categories = categories->n_rows;
  for (guint64 r = 0; r < column->n_rows; r++)
    {
      gint64 code = column->ints[r];

      if (code < -1 || (code >= 0 && (guint64)code >= n_categories))
        {
          g_autofree char *what = g_strdup_printf (
              /* TRANSLATORS: a code of a categorical column, its row, the number of
                 categories */
              _ ("code %" PRId64 " of row %" PRIu64 " is not one of its %" PRIu64 " categories"),
              code, r, n_categories);

          return hr_obs_corrupt (store, column->name, what, error);
        }
      if (code == -1)
        {
          if (column->missing == NULL
              && !hr_obs_alloc (store, column->name, column->n_rows, 1,
                                (gpointer *)&column->missing, error))
            return FALSE;
          column->missing[r] = 1;
        }
    }
  column->type = categories->type;
  if (categories->type == HR_ZARR_COLUMN_STRING)
    {
      /* the codes stay; the categories are the strings (distinct, as pandas keeps them) */
      column->categories = g_ptr_array_new_with_free_func (g_free);
      for (guint64 c = 0; c < n_categories; c++)
        g_ptr_array_add (column->categories, g_strdup (hr_zarr_column_get_string (categories, c)));
      return TRUE;
    }
  /* numbers: the values of the codes (0 where missing) */
  if (categories->type == HR_ZARR_COLUMN_FLOAT)
    {
      if (!hr_obs_alloc (store, column->name, column->n_rows, sizeof (double),
                         (gpointer *)&column->doubles, error))
        return FALSE;
      for (guint64 r = 0; r < column->n_rows; r++)
        column->doubles[r] = column->ints[r] >= 0 ? categories->doubles[column->ints[r]] : 0;
      g_clear_pointer (&column->ints, g_free);
    }
  else
    for (guint64 r = 0; r < column->n_rows; r++)
      column->ints[r] = column->ints[r] >= 0 ? categories->ints[column->ints[r]] : 0;
  return TRUE;
}

/* A nullable array: values and a boolean mask, TRUE where missing. */
static gboolean
hr_obs_read_nullable (HrZarrStore *store, const char *path, HrZarrColumn *column, gboolean strings,
                      GError **error)
{
  g_autofree char *values_path = g_strconcat (path, "/values", NULL);
  g_autofree char *mask_path = g_strconcat (path, "/mask", NULL);
  g_autoptr (HrZarrColumn) mask = g_new0 (HrZarrColumn, 1);

  mask->name = g_strdup (column->name);
  if (!hr_obs_read_array (store, values_path, column, error)
      || !hr_obs_read_array (store, mask_path, mask, error))
    return FALSE;
  if ((column->type == HR_ZARR_COLUMN_STRING) != strings)
    return hr_obs_corrupt (
        store, column->name,
        strings ? _ ("its values are not strings") : _ ("its values are not integers"), error);
  if (mask->type != HR_ZARR_COLUMN_INTEGER)
    return hr_obs_corrupt (store, column->name, _ ("its mask is not boolean"), error);
  if (mask->n_rows != column->n_rows)
    return hr_obs_corrupt (store, column->name, _ ("its mask and its values differ in length"),
                           error);
  for (guint64 r = 0; r < column->n_rows; r++)
    if (mask->ints[r] != 0)
      {
        if (column->missing == NULL
            && !hr_obs_alloc (store, column->name, column->n_rows, 1, (gpointer *)&column->missing,
                              error))
          return FALSE;
        column->missing[r] = 1;
        if (strings)
          column->ints[r] = -1;
      }
  return TRUE;
}

HrZarrColumn *
hr_zarr_obs_read_column (HrZarrStore *store, const char *name, GError **error)
{
  g_autoptr (HrZarrColumn) column = g_new0 (HrZarrColumn, 1);
  g_autofree char *path = NULL;
  const char *encoding;
  gboolean ok;

  if (!hr_zarr_store_has_obs (store))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                   /* TRANSLATORS: %s: the store */
                   _ ("%s: not an AnnData store with an obs table"),
                   hr_zarr_store_get_path (store));
      return NULL;
    }
  if (name == NULL)
    {
      name = hr_zarr_store_get_string_attribute (store, HR_OBS, "_index");
      if (name == NULL)
        name = "_index";
    }
  column->name = g_strdup (name);
  path = g_strconcat (HR_OBS "/", name, NULL);
  if (name[0] == '\0' || strchr (name, '/') != NULL || strcmp (name, ".") == 0
      || strcmp (name, "..") == 0
      || (hr_zarr_store_find_array (store, path) < 0
          && !hr_zarr_store_has_attributes (store, path)))
    {
      g_auto (GStrv) names = hr_zarr_obs_get_column_names (store);
      g_autofree char *list = g_strjoinv (", ", names);

      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                   /* TRANSLATORS: %s: the store; %s: a column; %s: the columns it has */
                   _ ("%s: no obs column “%s” (its columns: %s)"), hr_zarr_store_get_path (store),
                   name, list[0] != '\0' ? list : _ ("none"));
      return NULL;
    }
  encoding = hr_zarr_store_get_string_attribute (store, path, "encoding-type");
  if (hr_zarr_store_find_array (store, path) >= 0)
    {
      if (encoding != NULL && strcmp (encoding, "array") != 0
          && strcmp (encoding, "string-array") != 0)
        return hr_obs_unsupported (store, name, encoding, error), NULL;
      ok = hr_obs_read_array (store, path, column, error);
    }
  else if (g_strcmp0 (encoding, "categorical") == 0)
    ok = hr_obs_read_categorical (store, path, column, error);
  else if (g_strcmp0 (encoding, "nullable-integer") == 0
           || g_strcmp0 (encoding, "nullable-boolean") == 0)
    ok = hr_obs_read_nullable (store, path, column, FALSE, error);
  else if (g_strcmp0 (encoding, "nullable-string-array") == 0)
    ok = hr_obs_read_nullable (store, path, column, TRUE, error);
  else
    return hr_obs_unsupported (store, name, encoding != NULL ? encoding : "?", error), NULL;
  if (!ok)
    return NULL;
  column->encoding = g_strdup (encoding != NULL ? encoding : "array");
  if (column->type == HR_ZARR_COLUMN_OTHER)
    return hr_obs_unsupported (store, name, column->encoding, error), NULL;
  return g_steal_pointer (&column);
}
