/* headrank command: a progress bar on a terminal */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _HrProgress HrProgress;

HrProgress *hr_progress_new (const char *label);
void hr_progress_update (HrProgress *progress, double fraction);
void hr_progress_free (HrProgress *progress);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrProgress, hr_progress_free)

G_END_DECLS
