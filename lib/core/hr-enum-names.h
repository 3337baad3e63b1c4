/* headrank: the names of enum and flags values (shared by the library and the command)
 *
 * One place for the words that stand for enum values in specs, options, text and JSON: the
 * value nicks that glib-mkenums registered with each GEnumClass or GFlagsClass (its own
 * derivation from the value's name, or the `nick=` annotation beside it in the header). Nicks
 * are static strings, never translated: they are what programs read.
 */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

const char *hr_enum_nick (GType type, int value);
gboolean hr_enum_from_nick (GType type, const char *nick, int *value);
char **hr_flags_to_keys (GType type, guint flags);

G_END_DECLS
