/* headrank command: a progress bar on a terminal */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _HrProgress HrProgress;

HrProgress *hr_progress_new (const char *label);
/* The bar shows a rate of @n_items @unit per second (translated, plural: "samples"), the
 * items being done over the fractions 0 to @share (the rest of the work is not per item). */
void hr_progress_set_items (HrProgress *progress, guint64 n_items, double share, const char *unit);
void hr_progress_update (HrProgress *progress, double fraction);
/* What the run does now that the bar cannot measure ("writing the report…"): shown, drawn
 * at once, in place of the bar, on a terminal. */
void hr_progress_set_phase (HrProgress *progress, const char *phase);
void hr_progress_free (HrProgress *progress);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrProgress, hr_progress_free)

G_END_DECLS
