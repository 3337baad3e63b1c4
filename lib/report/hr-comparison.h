/* headrank: runs side by side: the comparison of reports of "headrank analyze" */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-analysis.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_COMPARISON (hr_comparison_get_type ())
HR_AVAILABLE_IN_0_2
G_DECLARE_FINAL_TYPE (HrComparison, hr_comparison, HR, COMPARISON, GObject)

HR_AVAILABLE_IN_0_2
HrComparison *hr_comparison_new_from_reports (const char *const *paths, GError **error);
HR_AVAILABLE_IN_0_2
HrComparison *hr_comparison_new_from_analyses (HrAnalysis **analyses, guint n_analyses,
                                               const char **labels, GError **error);
HR_AVAILABLE_IN_0_2
guint hr_comparison_get_n_reports (HrComparison *self);
HR_AVAILABLE_IN_0_2
const char *const *hr_comparison_get_warnings (HrComparison *self);
HR_AVAILABLE_IN_0_2
char *hr_comparison_to_json (HrComparison *self, gboolean pretty);
HR_AVAILABLE_IN_0_2
char *hr_comparison_to_csv (HrComparison *self);
HR_AVAILABLE_IN_0_2
gboolean hr_comparison_write (HrComparison *self, const char *directory, GCancellable *cancellable,
                              GError **error);

G_END_DECLS
