/* headrank: some consecutive rows of another source */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-source.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_RANGE_SOURCE (hr_range_source_get_type ())

HR_AVAILABLE_IN_0_2
G_DECLARE_FINAL_TYPE (HrRangeSource, hr_range_source, HR, RANGE_SOURCE, HrSource)

HR_AVAILABLE_IN_0_2
HrSource *hr_range_source_new (HrSource *source, guint64 first, guint64 n_samples, GError **error);
HR_AVAILABLE_IN_0_2
HrSource *hr_range_source_get_source (HrRangeSource *self);
HR_AVAILABLE_IN_0_2
guint64 hr_range_source_get_first (HrRangeSource *self);

G_END_DECLS
