/* headrank: positive pairs, from a file, from memory or from cell tracks */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib-object.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HrPairsOrigin:
 * @HR_PAIRS_ORIGIN_MEMORY: indices given by the caller (hr_pairs_new_from_bytes())
 * @HR_PAIRS_ORIGIN_FILE: a pair file (hr_pairs_new_from_file())
 * @HR_PAIRS_ORIGIN_TRACKS: cell tracks, a cell at t and the same track at t + dt
 *   (hr_pairs_new_from_tracks(), hr_pairs_new_from_store())
 *
 * Where a set of positive pairs came from.
 *
 * Since: 0.2
 */
typedef enum
{
  HR_PAIRS_ORIGIN_MEMORY,
  HR_PAIRS_ORIGIN_FILE,
  HR_PAIRS_ORIGIN_TRACKS,
} HrPairsOrigin;

/**
 * HR_PAIRS_DEFAULT_DT:
 *
 * The time step of temporal pairs by default: the next frame, as VisCy's
 * `time_interval=1`.
 *
 * Since: 0.2
 */
#define HR_PAIRS_DEFAULT_DT 1

#define HR_TYPE_PAIRS (hr_pairs_get_type ())

typedef struct _HrPairs HrPairs;

HR_AVAILABLE_IN_0_2
GType hr_pairs_get_type (void) G_GNUC_CONST;

HR_AVAILABLE_IN_0_2
HrPairs *hr_pairs_new_from_bytes (GBytes *indices, guint n_columns, GError **error);
HR_AVAILABLE_IN_0_2
HrPairs *hr_pairs_new_from_file (const char *path, guint64 n_samples, GError **error);
HR_AVAILABLE_IN_0_2
HrPairs *hr_pairs_new_from_tracks (const gint64 *fov, const gint64 *track, const gint64 *t,
                                   gsize n_rows, gint64 dt, GError **error);
HR_AVAILABLE_IN_0_2
HrPairs *hr_pairs_new_from_tracks_bytes (GBytes *fov, GBytes *track, GBytes *t, gint64 dt,
                                         GError **error);
HR_AVAILABLE_IN_0_2
HrPairs *hr_pairs_new_from_store (const char *path, gint64 dt, GError **error);
HR_AVAILABLE_IN_0_2
HrPairs *hr_pairs_ref (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
void hr_pairs_unref (HrPairs *pairs);

HR_AVAILABLE_IN_0_2
gsize hr_pairs_get_n_pairs (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
const guint64 *hr_pairs_peek_indices (HrPairs *pairs, gsize *n_pairs);
HR_AVAILABLE_IN_0_2
GBytes *hr_pairs_get_bytes (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
gboolean hr_pairs_has_negatives (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
HrPairsOrigin hr_pairs_get_origin (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
const char *hr_pairs_get_path (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
gint64 hr_pairs_get_dt (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
const char *const *hr_pairs_get_columns (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
guint64 hr_pairs_get_n_rows (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
guint64 hr_pairs_get_n_rows_missing (HrPairs *pairs);
HR_AVAILABLE_IN_0_2
gboolean hr_pairs_check (HrPairs *pairs, guint64 n_samples, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrPairs, hr_pairs_unref)

G_END_DECLS
