/* headrank: the version of the library at run time */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

HR_AVAILABLE_IN_0_2
guint hr_get_major_version (void);
HR_AVAILABLE_IN_0_2
guint hr_get_minor_version (void);
HR_AVAILABLE_IN_0_2
guint hr_get_micro_version (void);
HR_AVAILABLE_IN_0_2
const char *hr_check_version (guint required_major, guint required_minor, guint required_micro);

G_END_DECLS
