/* headrank: an N×D float32 feature matrix and where it came from */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-stack-info.h"
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HR_NONFINITE_MAX_POSITIONS:
 *
 * How many positions of non-finite values a stack or a reader remembers (the first ones,
 * in sample order); the count covers all of them.
 */
#define HR_NONFINITE_MAX_POSITIONS 16

#define HR_TYPE_FEATURE_STACK (hr_feature_stack_get_type ())

HR_AVAILABLE_IN_0_1
G_DECLARE_FINAL_TYPE (HrFeatureStack, hr_feature_stack, HR, FEATURE_STACK, GObject)

HR_AVAILABLE_IN_0_1
HrFeatureStack *hr_feature_stack_new_from_file (const char *path, HrStackLayout layout,
                                                GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_1
HrFeatureStack *hr_feature_stack_new_from_bytes (GBytes *data, gsize n_samples, gsize n_features,
                                                 GError **error);
HR_AVAILABLE_IN_0_1
HrFeatureStack *hr_feature_stack_new_borrowed (const float *data, gsize n_samples, gsize n_features,
                                               GDestroyNotify destroy, gpointer user_data);
HR_AVAILABLE_IN_0_1
HrFeatureStack *hr_feature_stack_new_copy (const float *data, gsize n_samples, gsize n_features);

HR_AVAILABLE_IN_0_1
gsize hr_feature_stack_get_n_samples (HrFeatureStack *stack);
HR_AVAILABLE_IN_0_1
gsize hr_feature_stack_get_n_features (HrFeatureStack *stack);
HR_AVAILABLE_IN_0_1
GBytes *hr_feature_stack_get_data (HrFeatureStack *stack);
HR_AVAILABLE_IN_0_1
const float *hr_feature_stack_peek_data (HrFeatureStack *stack);
HR_AVAILABLE_IN_0_1
const float *hr_feature_stack_get_row (HrFeatureStack *stack, gsize index, gsize *n_features);
HR_AVAILABLE_IN_0_1
HrStackInfo *hr_feature_stack_get_info (HrFeatureStack *stack);
HR_AVAILABLE_IN_0_1
void hr_feature_stack_set_info (HrFeatureStack *stack, HrStackInfo *info);
HR_AVAILABLE_IN_0_1
guint64 hr_feature_stack_get_n_nonfinite (HrFeatureStack *stack);
HR_AVAILABLE_IN_0_1
const guint64 *hr_feature_stack_get_nonfinite_positions (HrFeatureStack *stack, gsize *n_positions);

HR_AVAILABLE_IN_0_1
gboolean hr_feature_stack_write (HrFeatureStack *stack, const char *path, HrStackLayout layout,
                                 GCancellable *cancellable, GError **error);

G_END_DECLS
