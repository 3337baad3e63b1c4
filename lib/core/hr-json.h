/* headrank: typed access to members of parsed JSON and typed members for a JsonBuilder (hr-json.c;
 * its text pre-scan, hr_json_prescan, is declared in hr-private.h) */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonObject *hr_json_object_member (JsonObject *o, const char *name);
JsonArray *hr_json_array_member (JsonObject *o, const char *name);
const char *hr_json_string_member (JsonObject *o, const char *name);
gboolean hr_json_node_int (JsonNode *n, gint64 *value);

/* Members of the object a JsonBuilder is building (with @name NULL, elements of its array):
 * a NULL string and a double that is not finite are written as null. */
void hr_json_add_string (JsonBuilder *b, const char *name, const char *v);
void hr_json_add_int (JsonBuilder *b, const char *name, gint64 v);
void hr_json_add_boolean (JsonBuilder *b, const char *name, gboolean v);
void hr_json_add_double (JsonBuilder *b, const char *name, double v);

G_END_DECLS
