/* headrank: typed access to members of parsed JSON (hr-json.c; its text pre-scan,
 * hr_json_prescan, is declared in hr-private.h) */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonObject *hr_json_object_member (JsonObject *o, const char *name);
JsonArray *hr_json_array_member (JsonObject *o, const char *name);
const char *hr_json_string_member (JsonObject *o, const char *name);
gboolean hr_json_node_int (JsonNode *n, gint64 *value);

G_END_DECLS
