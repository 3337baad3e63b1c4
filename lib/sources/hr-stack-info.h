/* headrank: where a feature stack came from */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib-object.h>
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_STACK_INFO (hr_stack_info_get_type ())

typedef struct _HrStackInfo HrStackInfo;

HR_AVAILABLE_IN_0_1
GType hr_stack_info_get_type (void) G_GNUC_CONST;

HR_AVAILABLE_IN_0_1
HrStackInfo *hr_stack_info_new_pixels (guint width, guint height, guint depth, guint frames);
HR_AVAILABLE_IN_0_1
HrStackInfo *hr_stack_info_ref (HrStackInfo *info);
HR_AVAILABLE_IN_0_1
void hr_stack_info_unref (HrStackInfo *info);

HR_AVAILABLE_IN_0_1
const char *hr_stack_info_get_path (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
HrStackLayout hr_stack_info_get_layout (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
HrSampleFormat hr_stack_info_get_sample_format (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
const char *hr_stack_info_get_compression (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
guint hr_stack_info_get_n_pages (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
guint hr_stack_info_get_width (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
guint hr_stack_info_get_height (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
guint hr_stack_info_get_depth (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
guint hr_stack_info_get_frames (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
guint hr_stack_info_get_channels (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
gboolean hr_stack_info_is_per_pixel (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
gboolean hr_stack_info_get_tiled (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
gboolean hr_stack_info_get_big_endian (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
gboolean hr_stack_info_get_bigtiff (const HrStackInfo *info);
HR_AVAILABLE_IN_0_1
const char *hr_stack_info_get_metadata_kind (const HrStackInfo *info);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrStackInfo, hr_stack_info_unref)

G_END_DECLS
