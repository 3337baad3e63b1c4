/* headrank: an analysis in parts that merge (doc/partial.md) */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-analysis.h"
#include "hr-head.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

HR_AVAILABLE_IN_0_2
void hr_analysis_set_first_sample (HrAnalysis *self, guint64 first_sample);
HR_AVAILABLE_IN_0_2
guint64 hr_analysis_get_first_sample (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
GBytes *hr_analysis_run_part (HrAnalysis *self, HrProgressFunc progress, gpointer progress_data,
                              GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_analysis_write_part (HrAnalysis *self, const char *path, HrProgressFunc progress,
                                 gpointer progress_data, GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_2
HrAnalysis *hr_analysis_new_from_parts (GBytes **parts, guint n_parts, HrHead *head,
                                        GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_2
GBytes *hr_analysis_merge_parts (GBytes **parts, guint n_parts, GCancellable *cancellable,
                                 GError **error);
HR_AVAILABLE_IN_0_2
HrAnalysis *hr_analysis_new_from_part_files (const char *const *paths, HrHead *head,
                                             GCancellable *cancellable, GError **error);

G_END_DECLS
