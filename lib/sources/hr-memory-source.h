/* headrank: a source over float32 rows in memory */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-feature-stack.h"
#include "hr-source.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_MEMORY_SOURCE (hr_memory_source_get_type ())

HR_AVAILABLE_IN_0_2
G_DECLARE_FINAL_TYPE (HrMemorySource, hr_memory_source, HR, MEMORY_SOURCE, HrSource)

HR_AVAILABLE_IN_0_2
HrSource *hr_memory_source_new (GBytes *data, gsize n_samples, gsize n_features, GError **error);
HR_AVAILABLE_IN_0_2
HrSource *hr_memory_source_new_borrowed (const float *data, gsize n_samples, gsize n_features,
                                         GDestroyNotify destroy, gpointer user_data);
HR_AVAILABLE_IN_0_2
HrSource *hr_memory_source_new_for_stack (HrFeatureStack *stack);
HR_AVAILABLE_IN_0_2
GBytes *hr_memory_source_get_data (HrMemorySource *source);

G_END_DECLS
