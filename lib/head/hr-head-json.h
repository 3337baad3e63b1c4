/* headrank: a head as JSON, one schema for every output (doc/json.md) (internal) */
#pragma once

#include <json-glib/json-glib.h>

#include "hr-head.h"

G_BEGIN_DECLS

void hr_head_json_add_members (JsonBuilder *b, HrHead *head);

G_END_DECLS
