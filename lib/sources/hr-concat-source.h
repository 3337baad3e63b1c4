/* headrank: several sources read as one stack */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-source.h"
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_CONCAT_SOURCE (hr_concat_source_get_type ())

HR_AVAILABLE_IN_0_2
G_DECLARE_FINAL_TYPE (HrConcatSource, hr_concat_source, HR, CONCAT_SOURCE, HrSource)

HR_AVAILABLE_IN_0_2
HrSource *hr_concat_source_new (HrSource **sources, guint n_sources, GError **error);
HR_AVAILABLE_IN_0_2
HrSource *hr_concat_source_new_for_paths (const char *const *paths, HrStackLayout layout,
                                          GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_2
guint hr_concat_source_get_n_parts (HrConcatSource *source);
HR_AVAILABLE_IN_0_2
HrSource *hr_concat_source_get_part (HrConcatSource *source, guint index);
HR_AVAILABLE_IN_0_2
guint64 hr_concat_source_get_part_start (HrConcatSource *source, guint index);
HR_AVAILABLE_IN_0_2
guint hr_concat_source_find_part (HrConcatSource *source, guint64 sample);

G_END_DECLS
