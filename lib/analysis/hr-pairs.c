/* headrank: positive pairs, from a file, from memory or from cell tracks
 *
 * Temporal pairs follow VisCy's TripletDataset (viscy-data, triplet.py): a track is keyed
 * by its FOV and its track id (VisCy's global_track_id, fov_name + "_" + track_id); an
 * anchor is a cell whose track has a cell at t + dt, and its positive is that cell. A track
 * that divides continues in daughters with other track ids (parent_track_id points back):
 * no pair crosses a division, as in VisCy. See doc/sources.md, "Temporal pairs".
 */
#include "hr-private.h"
#include "hr-pairs.h"

#include "hr-analysis-internal.h"

#include "hr-contrastive.h"
#include "hr-error.h"
#include "hr-zarr-obs.h"
#include "hr-zarr.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/**
 * HrPairs:
 *
 * Positive pairs of sample indices for the contrastive measures: an anchor, its positive
 * and optionally a negative per pair, with where they came from (an array, a pair file, or
 * cell tracks with their time step). An opaque, immutable, reference-counted value; give
 * it to an analysis with hr_analysis_set_pairs().
 *
 * Since: 0.2
 */
struct _HrPairs
{
  gatomicrefcount ref_count;
  guint64 *indices; /* n_pairs × 3: anchor, positive, negative (HR_PAIRS_NO_NEGATIVE) */
  gsize n_pairs;
  gboolean has_negatives;
  HrPairsOrigin origin;
  char *path;
  gint64 dt;
  char **columns;
  guint64 n_rows, n_rows_missing;
};

G_DEFINE_BOXED_TYPE (HrPairs, hr_pairs, hr_pairs_ref, hr_pairs_unref)

static HrPairs *
hr_pairs_new_take (guint64 *indices, gsize n_pairs, gboolean has_negatives, HrPairsOrigin origin)
{
  HrPairs *pairs = g_new0 (HrPairs, 1);

  g_atomic_ref_count_init (&pairs->ref_count);
  pairs->indices = indices;
  pairs->n_pairs = n_pairs;
  pairs->has_negatives = has_negatives;
  pairs->origin = origin;
  return pairs;
}

/**
 * hr_pairs_ref:
 * @pairs: a #HrPairs
 *
 * Acquires a reference on @pairs.
 *
 * Returns: (transfer full): @pairs
 *
 * Since: 0.2
 */
HrPairs *
hr_pairs_ref (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, NULL);
  g_atomic_ref_count_inc (&pairs->ref_count);
  return pairs;
}

/**
 * hr_pairs_unref:
 * @pairs: (transfer full): a #HrPairs
 *
 * Releases a reference on @pairs; the last one frees it.
 *
 * Since: 0.2
 */
void
hr_pairs_unref (HrPairs *pairs)
{
  g_return_if_fail (pairs != NULL);
  if (!g_atomic_ref_count_dec (&pairs->ref_count))
    return;
  g_free (pairs->indices);
  g_free (pairs->path);
  g_strfreev (pairs->columns);
  g_free (pairs);
}

/**
 * hr_pairs_new_from_bytes:
 * @indices: n × @n_columns #guint64 sample indices in native byte order, row-major:
 *   anchor, positive and, with three columns, a negative (%HR_PAIRS_NO_NEGATIVE for none)
 * @n_columns: 2 or 3
 * @error: return location for a #GError
 *
 * Makes pairs from indices in memory (from Python: `GLib.Bytes.new (a.astype
 * (numpy.uint64).tobytes ())` of an n × 2 or n × 3 array). The indices are checked against
 * the number of samples when the analysis runs (hr_pairs_check()).
 *
 * Returns: (transfer full): the pairs, or %NULL with %HR_ANALYSIS_ERROR_PAIRS when @indices
 *   is empty or not a whole number of rows
 *
 * Since: 0.2
 */
HrPairs *
hr_pairs_new_from_bytes (GBytes *indices, guint n_columns, GError **error)
{
  gsize size = 0, n;
  const guint64 *data;
  guint64 *copy;

  g_return_val_if_fail (indices != NULL, NULL);
  g_return_val_if_fail (n_columns == 2 || n_columns == 3, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  data = g_bytes_get_data (indices, &size);
  if (size == 0 || size % (n_columns * sizeof (guint64)) != 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                   /* TRANSLATORS: a number of bytes, then 2 or 3 */
                   _ ("%zu bytes of pair indices are not rows of %u 64-bit indices"), size,
                   n_columns);
      return NULL;
    }
  n = size / (n_columns * sizeof (guint64));
  copy = n <= G_MAXSIZE / (3 * sizeof (guint64)) ? g_try_new (guint64, n * 3) : NULL;
  if (copy == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for %zu pairs"), n);
      return NULL;
    }
  for (gsize i = 0; i < n; i++)
    {
      guint64 row[3];

      /* the bytes need not be aligned */
      memcpy (row, (const guint8 *)data + i * n_columns * sizeof (guint64),
              n_columns * sizeof (guint64));
      copy[3 * i] = row[0];
      copy[3 * i + 1] = row[1];
      copy[3 * i + 2] = n_columns == 3 ? row[2] : HR_PAIRS_NO_NEGATIVE;
    }
  return hr_pairs_new_take (copy, n, n_columns == 3, HR_PAIRS_ORIGIN_MEMORY);
}

/**
 * hr_pairs_new_from_file:
 * @path: (type filename): a pair file
 * @n_samples: the number of samples the indices refer to; every index must be smaller
 * @error: return location for a #GError
 *
 * Reads a pair file as hr_pairs_read() does.
 *
 * Returns: (transfer full): the pairs, or %NULL with @error set as by hr_pairs_read()
 *
 * Since: 0.2
 */
HrPairs *
hr_pairs_new_from_file (const char *path, guint64 n_samples, GError **error)
{
  guint64 *indices = NULL;
  gsize n = 0;
  gboolean negatives = FALSE;
  HrPairs *pairs;

  g_return_val_if_fail (path != NULL, NULL);
  if (!hr_pairs_read (path, n_samples, &indices, &n, &negatives, error))
    return NULL;
  pairs = hr_pairs_new_take (indices, n, negatives, HR_PAIRS_ORIGIN_FILE);
  pairs->path = g_strdup (path);
  return pairs;
}

HrPairs *
hr_pairs_new_described (HrPairsOrigin origin, const char *path, gint64 dt,
                        const char *const *columns, guint64 n_rows, guint64 n_rows_missing,
                        gboolean has_negatives)
{
  HrPairs *pairs = hr_pairs_new_take (NULL, 0, has_negatives, origin);

  pairs->path = g_strdup (path);
  pairs->dt = dt;
  pairs->columns = g_strdupv ((char **)columns);
  pairs->n_rows = n_rows;
  pairs->n_rows_missing = n_rows_missing;
  return pairs;
}

/* -- temporal pairs from tracks ------------------------------------------------------------ */

typedef struct
{
  gint64 fov, track, t;
  guint64 row;
} HrTrackCell;

static int
hr_track_cell_compare (const void *pa, const void *pb)
{
  const HrTrackCell *a = pa, *b = pb;

  if (a->fov != b->fov)
    return a->fov < b->fov ? -1 : 1;
  if (a->track != b->track)
    return a->track < b->track ? -1 : 1;
  if (a->t != b->t)
    return a->t < b->t ? -1 : 1;
  return a->row < b->row ? -1 : a->row > b->row;
}

/* Builds the pairs of rows (fov, track, t) → (fov, track, t + dt); rows whose fov is
 * negative take no part. @fov_names (nullable) names the FOV codes in messages, @source
 * the table. */
static HrPairs *
hr_pairs_build (const gint64 *fov, const gint64 *track, const gint64 *t, gsize n_rows, gint64 dt,
                GPtrArray *fov_names, const char *source, GError **error)
{
  g_autofree HrTrackCell *cells = NULL;
  g_autofree guint64 *positive = NULL;
  g_autofree guint64 *indices = NULL;
  gsize n_cells = 0, n_pairs = 0, k = 0;
  HrPairs *pairs;

  if (dt < 1)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   /* TRANSLATORS: the time step of temporal pairs; keep "dt" */
                   _ ("the time step dt of temporal pairs must be at least 1, not %" PRId64), dt);
      return NULL;
    }
  for (gsize r = 0; r < n_rows; r++)
    n_cells += fov[r] >= 0;
  if (n_rows < G_MAXSIZE / sizeof (HrTrackCell))
    {
      cells = g_try_new (HrTrackCell, MAX (n_cells, 1));
      positive = g_try_new (guint64, MAX (n_rows, 1));
    }
  if (cells == NULL || positive == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   /* TRANSLATORS: %s: the table of tracks (a store, or "arrays"); then rows */
                   _ ("%s: not enough memory for the tracks of %zu cells"), source, n_rows);
      return NULL;
    }
  for (gsize r = 0; r < n_rows; r++)
    {
      positive[r] = G_MAXUINT64;
      if (fov[r] >= 0)
        cells[k++] = (HrTrackCell){ fov[r], track[r], t[r], r };
    }
  qsort (cells, n_cells, sizeof *cells, hr_track_cell_compare);

  for (gsize g0 = 0, g1; g0 < n_cells; g0 = g1)
    {
      gsize j = g0;

      for (g1 = g0 + 1;
           g1 < n_cells && cells[g1].fov == cells[g0].fov && cells[g1].track == cells[g0].track;
           g1++)
        if (cells[g1].t == cells[g1 - 1].t)
          {
            const HrTrackCell *c = &cells[g1];
            g_autofree char *fov_text = fov_names != NULL && (guint64)c->fov < fov_names->len
                                            ? g_strdup (fov_names->pdata[c->fov])
                                            : g_strdup_printf ("%" PRId64, c->fov);

            g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                         /* TRANSLATORS: %s: the table; two rows; %s: a FOV name; a track id; a
                            time point */
                         _ ("%s: rows %" PRIu64 " and %" PRIu64 " are both FOV “%s”, track %" PRId64
                            " at t = %" PRId64 ": a cell appears twice"),
                         source, cells[g1 - 1].row, c->row, fov_text, c->track, c->t);
            return NULL;
          }
      for (gsize i = g0; i < g1; i++)
        {
          gint64 target;

          if (cells[i].t > G_MAXINT64 - dt)
            break;
          target = cells[i].t + dt;
          while (j < g1 && cells[j].t < target)
            j++;
          if (j < g1 && cells[j].t == target)
            {
              positive[cells[i].row] = cells[j].row;
              n_pairs++;
            }
        }
    }
  if (n_pairs == 0)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                   /* TRANSLATORS: %s: the table; then the time step */
                   _ ("%s: no pairs: no track has a cell at t and at t + %" PRId64), source, dt);
      return NULL;
    }
  indices = g_try_new (guint64, n_pairs * 3);
  if (indices == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for %zu pairs"), n_pairs);
      return NULL;
    }
  k = 0;
  for (gsize r = 0; r < n_rows; r++)
    if (positive[r] != G_MAXUINT64)
      {
        indices[3 * k] = r;
        indices[3 * k + 1] = positive[r];
        indices[3 * k + 2] = HR_PAIRS_NO_NEGATIVE;
        k++;
      }
  pairs = hr_pairs_new_take (g_steal_pointer (&indices), n_pairs, FALSE, HR_PAIRS_ORIGIN_TRACKS);
  pairs->dt = dt;
  pairs->n_rows = n_rows;
  pairs->n_rows_missing = n_rows - n_cells;
  return pairs;
}

/**
 * hr_pairs_new_from_tracks: (skip)
 * @fov: (array length=n_rows): the field of view of every row, as a code (a negative code:
 *   the row takes no part, as pandas' code of a missing category)
 * @track: (array length=n_rows): the track id of every row
 * @t: (array length=n_rows): the time point of every row
 * @n_rows: the number of rows (cells); sample i of the stack is row i
 * @dt: the time step, at least 1 (%HR_PAIRS_DEFAULT_DT)
 * @error: return location for a #GError
 *
 * Builds temporal positive pairs as VisCy's time-aware sampling does: a cell (fov, track,
 * t) is an anchor when the same fov and track have a cell at t + @dt, and that cell is its
 * positive. The pairs come in the order of their anchors' rows. The FOV is a code: from
 * pandas, `column.factorize ()[0]` or a categorical's codes. Bindings use
 * hr_pairs_new_from_tracks_bytes(), which checks that the three columns have one length.
 *
 * Returns: (transfer full): the pairs, or %NULL with @error set:
 *   %HR_ANALYSIS_ERROR_INVALID for @dt below 1; %HR_ANALYSIS_ERROR_PAIRS for two rows of
 *   the same fov, track and t (naming them), or when no pair is found;
 *   %HR_ANALYSIS_ERROR_NO_MEMORY when the rows do not fit in memory
 *
 * Since: 0.2
 */
HrPairs *
hr_pairs_new_from_tracks (const gint64 *fov, const gint64 *track, const gint64 *t, gsize n_rows,
                          gint64 dt, GError **error)
{
  HrPairs *pairs;

  g_return_val_if_fail (n_rows == 0 || (fov != NULL && track != NULL && t != NULL), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  /* TRANSLATORS: what the tracks of hr_pairs_new_from_tracks() are, in messages */
  pairs = hr_pairs_build (fov, track, t, n_rows, dt, NULL, _ ("tracks"), error);
  if (pairs != NULL)
    pairs->columns = g_strdupv ((char *[]){ "fov", "track", "t", NULL });
  return pairs;
}

/**
 * hr_pairs_new_from_tracks_bytes:
 * @fov: #gint64 FOV codes in native byte order, one per row (negative: the row takes no
 *   part)
 * @track: #gint64 track ids, one per row
 * @t: #gint64 time points, one per row
 * @dt: the time step, at least 1
 * @error: return location for a #GError
 *
 * Builds temporal pairs as hr_pairs_new_from_tracks() does, from bytes (for bindings:
 * `GLib.Bytes.new (numpy.ascontiguousarray (a, numpy.int64).tobytes ())`).
 *
 * Returns: (transfer full): the pairs, or %NULL with @error set as by
 *   hr_pairs_new_from_tracks(), or %HR_ANALYSIS_ERROR_SHAPE when the three are not whole
 *   #gint64 arrays of one length
 *
 * Since: 0.2
 */
HrPairs *
hr_pairs_new_from_tracks_bytes (GBytes *fov, GBytes *track, GBytes *t, gint64 dt, GError **error)
{
  GBytes *in[3] = { fov, track, t };
  gint64 *columns[3] = { NULL, NULL, NULL };
  gsize sizes[3];
  HrPairs *pairs = NULL;

  g_return_val_if_fail (fov != NULL && track != NULL && t != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  for (int c = 0; c < 3; c++)
    sizes[c] = g_bytes_get_size (in[c]);
  if (sizes[0] % sizeof (gint64) != 0 || sizes[1] != sizes[0] || sizes[2] != sizes[0])
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   /* TRANSLATORS: three sizes in bytes */
                   _ ("the fov, track and t columns (%zu, %zu and %zu bytes) are not 64-bit "
                      "integers of one length"),
                   sizes[0], sizes[1], sizes[2]);
      return NULL;
    }
  /* copied: GBytes need not be aligned for gint64 */
  for (int c = 0; c < 3; c++)
    {
      columns[c] = g_try_malloc (MAX (sizes[c], 1));
      if (columns[c] == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("%s: not enough memory for the tracks of %zu cells"), _ ("tracks"),
                       sizes[0] / sizeof (gint64));
          goto out;
        }
      memcpy (columns[c], g_bytes_get_data (in[c], NULL), sizes[c]);
    }
  pairs = hr_pairs_new_from_tracks (columns[0], columns[1], columns[2], sizes[0] / sizeof (gint64),
                                    dt, error);
out:
  for (int c = 0; c < 3; c++)
    g_free (columns[c]);
  return pairs;
}

/* An integer column's values, from integers or from floats that are whole numbers; missing
 * rows (NaN too) set in @missing. */
static gint64 *
hr_pairs_integer_column (HrZarrStore *store, HrZarrColumn *column, guint8 *missing, GError **error)
{
  gint64 *values;

  if (column->type == HR_ZARR_COLUMN_INTEGER)
    {
      for (guint64 r = 0; r < column->n_rows; r++)
        if (column->missing != NULL && column->missing[r])
          missing[r] = 1;
      return g_steal_pointer (&column->ints);
    }
  if (column->type != HR_ZARR_COLUMN_FLOAT)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                   /* TRANSLATORS: %s: the store; %s: an obs column such as "t" */
                   _ ("%s: obs column “%s” holds strings; it must hold integers"),
                   hr_zarr_store_get_path (store), column->name);
      return NULL;
    }
  values = g_try_new (gint64, MAX (column->n_rows, 1));
  if (values == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("%s: not enough memory for the tracks of %zu cells"),
                   hr_zarr_store_get_path (store), (gsize)column->n_rows);
      return NULL;
    }
  for (guint64 r = 0; r < column->n_rows; r++)
    {
      double v = column->doubles[r];

      values[r] = 0;
      if (isnan (v) || (column->missing != NULL && column->missing[r]))
        missing[r] = 1;
      else if (v != floor (v) || fabs (v) >= 0x1p63)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                       /* TRANSLATORS: %s: the store; %s: an obs column; a value and its row */
                       _ ("%s: obs column “%s”: value %g of row %" PRIu64 " is not an integer"),
                       hr_zarr_store_get_path (store), column->name, v, r);
          g_free (values);
          return NULL;
        }
      else
        values[r] = (gint64)v;
    }
  return values;
}

/**
 * hr_pairs_new_from_store:
 * @path: (type filename): an AnnData zarr store (v2 or v3), as VisCy's `viscy predict`
 *   writes
 * @dt: the time step, at least 1 (%HR_PAIRS_DEFAULT_DT)
 * @error: return location for a #GError
 *
 * Builds temporal positive pairs from the obs columns `fov_name`, `track_id` and `t` of
 * the store, as hr_pairs_new_from_tracks() does: sample i is obs row i. The columns may be
 * stored as anndata writes them (categorical, string or nullable string arrays for the
 * FOV; integer, nullable integer or whole float arrays for the track and the time); a row
 * with a missing value takes no part (hr_pairs_get_n_rows_missing()).
 *
 * Returns: (transfer full): the pairs, or %NULL with @error set: %HR_STACK_ERROR for a
 *   path that is not a zarr store, a store without obs, a missing column (named) or a
 *   column that cannot be read; %HR_ANALYSIS_ERROR_PAIRS for columns of other lengths than
 *   the store's samples, a fractional time or track id, a cell that appears twice, or no
 *   pairs; %HR_ANALYSIS_ERROR_INVALID for @dt below 1; `NO_MEMORY` of either domain when
 *   the columns do not fit in memory
 *
 * Since: 0.2
 */
HrPairs *
hr_pairs_new_from_store (const char *path, gint64 dt, GError **error)
{
  static const char *const names[] = { "fov_name", "track_id", "t" };
  g_autoptr (HrZarrStore) store = NULL;
  g_autoptr (HrZarrColumn) fov = NULL;
  g_autoptr (HrZarrColumn) track = NULL;
  g_autoptr (HrZarrColumn) t = NULL;
  g_autofree guint8 *missing = NULL;
  g_autofree gint64 *fov_codes = NULL;
  g_autofree gint64 *tracks = NULL;
  g_autofree gint64 *times = NULL;
  HrZarrColumn *columns[3];
  const char *features;
  guint64 n;
  HrPairs *pairs;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  store = hr_zarr_store_open (path, error);
  if (store == NULL)
    return NULL;
  if (!hr_zarr_store_has_obs (store))
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_LAYOUT,
                   /* TRANSLATORS: %s: the store; keep "obs" (AnnData's table of cells) */
                   _ ("%s: no obs table: pairs from tracks need an AnnData store with the "
                      "columns fov_name, track_id and t"),
                   path);
      return NULL;
    }
  if ((fov = hr_zarr_obs_read_column (store, names[0], error)) == NULL
      || (track = hr_zarr_obs_read_column (store, names[1], error)) == NULL
      || (t = hr_zarr_obs_read_column (store, names[2], error)) == NULL)
    return NULL;
  columns[0] = fov;
  columns[1] = track;
  columns[2] = t;
  n = fov->n_rows;
  features = hr_zarr_store_get_role_path (store, HR_ZARR_ROLE_FEATURES, NULL);
  for (int c = 0; c < 3; c++)
    {
      guint64 want = n;
      int fi = features != NULL ? hr_zarr_store_find_array (store, features) : -1;

      if (fi >= 0)
        want = hr_zarr_array_get_shape (store, (guint)fi)[0];
      if (columns[c]->n_rows != want)
        {
          g_set_error (
              error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
              /* TRANSLATORS: %s: the store; %s: an obs column; two numbers of rows */
              _ ("%s: obs column “%s” has %" PRIu64 " rows, the store %" PRIu64 " samples"), path,
              names[c], columns[c]->n_rows, want);
          return NULL;
        }
    }
  if (fov->type != HR_ZARR_COLUMN_STRING)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                   /* TRANSLATORS: %s: the store; keep "fov_name" */
                   _ ("%s: obs column “fov_name” holds numbers; it must hold the FOV names"), path);
      return NULL;
    }
  if (n > G_MAXSIZE / sizeof (HrTrackCell) || (missing = g_try_malloc0 (MAX ((gsize)n, 1))) == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("%s: not enough memory for the tracks of %zu cells"), path, (gsize)n);
      return NULL;
    }
  if ((tracks = hr_pairs_integer_column (store, track, missing, error)) == NULL
      || (times = hr_pairs_integer_column (store, t, missing, error)) == NULL)
    return NULL;
  fov_codes = g_steal_pointer (&fov->ints);
  for (guint64 r = 0; r < n; r++)
    if (missing[r])
      fov_codes[r] = -1;
  pairs = hr_pairs_build (fov_codes, tracks, times, (gsize)n, dt, fov->categories, path, error);
  if (pairs == NULL)
    return NULL;
  pairs->path = g_strdup (path);
  pairs->columns = g_strdupv ((char **)names);
  return pairs;
}

/* -- accessors ------------------------------------------------------------------------------ */

/**
 * hr_pairs_get_n_pairs:
 * @pairs: a #HrPairs
 *
 * Counts the pairs.
 *
 * Returns: the number of pairs
 *
 * Since: 0.2
 */
gsize
hr_pairs_get_n_pairs (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, 0);
  return pairs->n_pairs;
}

/**
 * hr_pairs_peek_indices: (skip)
 * @pairs: a #HrPairs
 * @n_pairs: (out) (optional): return location for the number of pairs
 *
 * The indices, owned by @pairs.
 *
 * Returns: n_pairs × 3 indices, row-major: anchor, positive, negative
 *   (%HR_PAIRS_NO_NEGATIVE for none)
 *
 * Since: 0.2
 */
const guint64 *
hr_pairs_peek_indices (HrPairs *pairs, gsize *n_pairs)
{
  g_return_val_if_fail (pairs != NULL, NULL);
  if (n_pairs != NULL)
    *n_pairs = pairs->n_pairs;
  return pairs->indices;
}

/**
 * hr_pairs_get_bytes:
 * @pairs: a #HrPairs
 *
 * The indices, for bindings (read with `numpy.frombuffer (b.get_data (),
 * numpy.uint64).reshape (-1, 3)`).
 *
 * Returns: (transfer full): n_pairs × 3 #guint64 in native byte order, row-major: anchor,
 *   positive, negative (%HR_PAIRS_NO_NEGATIVE for none)
 *
 * Since: 0.2
 */
GBytes *
hr_pairs_get_bytes (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, NULL);
  return g_bytes_new (pairs->indices, pairs->n_pairs * 3 * sizeof (guint64));
}

/**
 * hr_pairs_has_negatives:
 * @pairs: a #HrPairs
 *
 * Whether the pairs come with explicit negatives.
 *
 * Returns: %TRUE when the pairs have a negative column
 *
 * Since: 0.2
 */
gboolean
hr_pairs_has_negatives (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, FALSE);
  return pairs->has_negatives;
}

/**
 * hr_pairs_get_origin:
 * @pairs: a #HrPairs
 *
 * Where the pairs came from.
 *
 * Returns: the origin of the pairs
 *
 * Since: 0.2
 */
HrPairsOrigin
hr_pairs_get_origin (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, HR_PAIRS_ORIGIN_MEMORY);
  return pairs->origin;
}

/**
 * hr_pairs_get_path:
 * @pairs: a #HrPairs
 *
 * The pair file, or the store the tracks were read from.
 *
 * Returns: (nullable) (type filename): the file or store, or %NULL for pairs from memory
 *
 * Since: 0.2
 */
const char *
hr_pairs_get_path (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, NULL);
  return pairs->path;
}

/**
 * hr_pairs_get_dt:
 * @pairs: a #HrPairs
 *
 * The time step of temporal pairs.
 *
 * Returns: dt for pairs from tracks, 0 for others
 *
 * Since: 0.2
 */
gint64
hr_pairs_get_dt (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, 0);
  return pairs->dt;
}

/**
 * hr_pairs_get_columns:
 * @pairs: a #HrPairs
 *
 * The columns the tracks were read from: the FOV, the track id and the time (`fov_name`,
 * `track_id`, `t` for a store).
 *
 * Returns: (nullable) (array zero-terminated=1) (transfer none): the three column names,
 *   or %NULL for pairs not from tracks
 *
 * Since: 0.2
 */
const char *const *
hr_pairs_get_columns (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, NULL);
  return (const char *const *)pairs->columns;
}

/**
 * hr_pairs_get_n_rows:
 * @pairs: a #HrPairs
 *
 * The number of rows (cells) of the tracks.
 *
 * Returns: the rows of the tracks, 0 for pairs not from tracks
 *
 * Since: 0.2
 */
guint64
hr_pairs_get_n_rows (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, 0);
  return pairs->n_rows;
}

/**
 * hr_pairs_get_n_rows_missing:
 * @pairs: a #HrPairs
 *
 * The rows of the tracks that took no part because their FOV, track or time is missing.
 *
 * Returns: the rows with a missing value, 0 for pairs not from tracks
 *
 * Since: 0.2
 */
guint64
hr_pairs_get_n_rows_missing (HrPairs *pairs)
{
  g_return_val_if_fail (pairs != NULL, 0);
  return pairs->n_rows_missing;
}

/**
 * hr_pairs_check:
 * @pairs: a #HrPairs
 * @n_samples: the number of samples of the stack the pairs index
 * @error: return location for a #GError
 *
 * Checks that every index of @pairs is below @n_samples (the analysis does before it runs).
 *
 * Returns: %TRUE, or %FALSE with %HR_ANALYSIS_ERROR_PAIRS naming the first pair that is not
 *
 * Since: 0.2
 */
gboolean
hr_pairs_check (HrPairs *pairs, guint64 n_samples, GError **error)
{
  g_return_val_if_fail (pairs != NULL, FALSE);
  for (gsize i = 0; i < pairs->n_pairs; i++)
    for (int c = 0; c < 3; c++)
      {
        guint64 s = pairs->indices[3 * i + c];

        if (s != HR_PAIRS_NO_NEGATIVE && s >= n_samples)
          {
            g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                         /* TRANSLATORS: a pair's number, an index, the number of samples */
                         _ ("pair %zu: index %" PRIu64 " is not below the %" PRIu64 " samples"), i,
                         s, n_samples);
            return FALSE;
          }
      }
  return TRUE;
}
