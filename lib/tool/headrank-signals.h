/* headrank command: SIGINT, SIGTERM and SIGHUP as cancellation */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

void hr_signals_watch (GCancellable *cancellable);
int hr_signals_caught (void);

G_END_DECLS
