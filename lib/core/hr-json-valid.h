/* headrank: JSON that is valid UTF-8 whatever the names in it (shared by the library and the
 * command) */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

void hr_json_make_valid (JsonNode *node);

G_END_DECLS
