/* headrank: write a float32 feature stack to TIFF, atomically */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-source.h"
#include "hr-stack-info.h"
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_STACK_WRITER (hr_stack_writer_get_type ())

HR_AVAILABLE_IN_0_1
G_DECLARE_FINAL_TYPE (HrStackWriter, hr_stack_writer, HR, STACK_WRITER, GObject)

HR_AVAILABLE_IN_0_1
HrStackWriter *hr_stack_writer_new (const char *path, HrStackLayout layout, gsize n_samples,
                                    gsize n_features, HrStackInfo *geometry, GError **error);

HR_AVAILABLE_IN_0_1
gboolean hr_stack_writer_append (HrStackWriter *writer, const float *rows, gsize n_rows,
                                 GError **error);
HR_AVAILABLE_IN_0_1
gboolean hr_stack_writer_append_bytes (HrStackWriter *writer, GBytes *rows, GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_stack_writer_append_source (HrStackWriter *writer, HrSource *source,
                                        GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_stack_writer_write_source (HrSource *source, const char *path, HrStackLayout layout,
                                       GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_1
gboolean hr_stack_writer_finish (HrStackWriter *writer, GError **error);
HR_AVAILABLE_IN_0_1
void hr_stack_writer_abort (HrStackWriter *writer);
HR_AVAILABLE_IN_0_1
gsize hr_stack_writer_get_n_samples (HrStackWriter *writer);
HR_AVAILABLE_IN_0_1
gsize hr_stack_writer_get_n_features (HrStackWriter *writer);

G_END_DECLS
