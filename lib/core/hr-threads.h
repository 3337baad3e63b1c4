/* headrank: how many threads the library's computations run on */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

HR_AVAILABLE_IN_0_2
guint hr_get_n_threads (void);
HR_AVAILABLE_IN_0_2
void hr_set_n_threads (guint n_threads);

G_END_DECLS
