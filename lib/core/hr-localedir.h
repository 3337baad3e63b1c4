/* headrank: where the message catalogues are (core layer, private) */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

const char *hr_localedir (void);

G_END_DECLS
