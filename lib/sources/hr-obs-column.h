/* headrank: one column of the obs table of an AnnData store (fov_name, track_id, t, …) */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib-object.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HrObsValueType:
 * @HR_OBS_VALUE_INTEGER: integers and booleans: hr_obs_column_get_values() gives int64
 *   values
 * @HR_OBS_VALUE_FLOAT: floating-point numbers: float64 values (NaN is a value)
 * @HR_OBS_VALUE_STRING: strings and categories: int64 codes into
 *   hr_obs_column_get_categories(), −1 where a value is missing
 *
 * What the values of an obs column are.
 *
 * Since: 0.2
 */
typedef enum
{
  HR_OBS_VALUE_INTEGER,
  HR_OBS_VALUE_FLOAT,
  HR_OBS_VALUE_STRING,
} HrObsValueType;

#define HR_TYPE_OBS_COLUMN (hr_obs_column_get_type ())

typedef struct _HrObsColumn HrObsColumn;

HR_AVAILABLE_IN_0_2
GType hr_obs_column_get_type (void) G_GNUC_CONST;

HR_AVAILABLE_IN_0_2
char **hr_obs_column_list (const char *path, GError **error);
HR_AVAILABLE_IN_0_2
HrObsColumn *hr_obs_column_new_from_store (const char *path, const char *name, GError **error);
HR_AVAILABLE_IN_0_2
HrObsColumn *hr_obs_column_ref (HrObsColumn *self);
HR_AVAILABLE_IN_0_2
void hr_obs_column_unref (HrObsColumn *self);

HR_AVAILABLE_IN_0_2
const char *hr_obs_column_get_name (HrObsColumn *self);
HR_AVAILABLE_IN_0_2
const char *hr_obs_column_get_encoding (HrObsColumn *self);
HR_AVAILABLE_IN_0_2
HrObsValueType hr_obs_column_get_value_type (HrObsColumn *self);
HR_AVAILABLE_IN_0_2
guint64 hr_obs_column_get_n_rows (HrObsColumn *self);
HR_AVAILABLE_IN_0_2
GBytes *hr_obs_column_get_values (HrObsColumn *self);
HR_AVAILABLE_IN_0_2
GBytes *hr_obs_column_get_missing (HrObsColumn *self);
HR_AVAILABLE_IN_0_2
char **hr_obs_column_get_categories (HrObsColumn *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrObsColumn, hr_obs_column_unref)

G_END_DECLS
