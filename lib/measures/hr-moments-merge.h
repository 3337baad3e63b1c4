/* headrank: moments that serialise to bytes and merge (doc/partial.md) */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-moments.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

HR_AVAILABLE_IN_0_2
GBytes *hr_moments_to_bytes (HrMoments *self);
HR_AVAILABLE_IN_0_2
HrMoments *hr_moments_new_from_bytes (GBytes *bytes, GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_moments_save (HrMoments *self, const char *path, GCancellable *cancellable,
                          GError **error);
HR_AVAILABLE_IN_0_2
HrMoments *hr_moments_new_from_file (const char *path, GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_moments_add_moments (HrMoments *self, HrMoments *other, GError **error);

G_END_DECLS
