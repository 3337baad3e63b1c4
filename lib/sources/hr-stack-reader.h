/* headrank: read a feature stack from TIFF a chunk of samples at a time */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-feature-stack.h"
#include "hr-source.h"
#include "hr-stack-info.h"
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_STACK_READER (hr_stack_reader_get_type ())

HR_AVAILABLE_IN_0_1
G_DECLARE_FINAL_TYPE (HrStackReader, hr_stack_reader, HR, STACK_READER, HrSource)

HR_AVAILABLE_IN_0_1
HrStackReader *hr_stack_reader_new (const char *path, HrStackLayout layout,
                                    GCancellable *cancellable, GError **error);

HR_AVAILABLE_IN_0_1
const char *hr_stack_reader_get_path (HrStackReader *reader);
HR_AVAILABLE_IN_0_1
gsize hr_stack_reader_get_n_samples (HrStackReader *reader);
HR_AVAILABLE_IN_0_1
gsize hr_stack_reader_get_n_features (HrStackReader *reader);
HR_AVAILABLE_IN_0_1
HrStackInfo *hr_stack_reader_get_info (HrStackReader *reader);
HR_AVAILABLE_IN_0_1
gsize hr_stack_reader_get_position (HrStackReader *reader);
HR_AVAILABLE_IN_0_1
gsize hr_stack_reader_get_preferred_chunk (HrStackReader *reader);
HR_AVAILABLE_IN_0_1
gboolean hr_stack_reader_seek (HrStackReader *reader, gsize sample, GError **error);

HR_AVAILABLE_IN_0_1
gboolean hr_stack_reader_read_into (HrStackReader *reader, float *buffer, gsize max_samples,
                                    gsize *n_read, GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_1
HrFeatureStack *hr_stack_reader_read_chunk (HrStackReader *reader, gsize max_samples,
                                            GCancellable *cancellable, GError **error);

HR_AVAILABLE_IN_0_1
guint64 hr_stack_reader_get_n_nonfinite (HrStackReader *reader);
HR_AVAILABLE_IN_0_1
const guint64 *hr_stack_reader_get_nonfinite_positions (HrStackReader *reader, gsize *n_positions);

G_END_DECLS
