/* headrank: a head as JSON, one schema for `headrank head describe --json`, report.json's
 * `head` and hr_head_to_json() (doc/json.md describes it)
 *
 * Machine fields hold stable words: paths, numbers, and enum nicks (hr-enum-names.h), the
 * same in every language. Prose for people, translated, has fields of its own
 * (`description`, `architecture.assumption`).
 */
#include "hr-private.h"

#include "hr-enum-names.h"
#include "hr-enum-types.h"
#include "hr-head-json.h"
#include "hr-head-private.h"
#include "hr-head.h"
#include "hr-json-valid.h"
#include "hr-json.h"

/* "architecture": the spec, where it came from, what the file's metadata says of it, the
 * presets it matches, the activation and whether it was assumed (with the sentence). */
static void
hr_head_json_architecture (JsonBuilder *b, HrHead *head)
{
  g_autofree char *spec = hr_head_get_spec (head), *assumption = hr_head_get_assumption (head);
  g_auto (GStrv) presets = hr_head_match_presets (head);
  HrArchSource from = hr_head_get_arch_source (head);
  const char *activation = NULL;

  for (guint i = 0; i < hr_head_get_n_layers (head); i++)
    if (hr_layer_kind_is_activation (hr_head_get_layer_kind (head, i)))
      activation = hr_enum_nick (HR_TYPE_LAYER_KIND, hr_head_get_layer_kind (head, i));
  json_builder_set_member_name (b, "architecture");
  json_builder_begin_object (b);
  hr_json_add_string (b, "spec", spec);
  hr_json_add_string (b, "from", hr_enum_nick (HR_TYPE_ARCH_SOURCE, from));
  /* what the architecture in the metadata was derived from: only where it was used */
  hr_json_add_string (b, "arch_from",
                      from == HR_ARCH_SOURCE_METADATA ? hr_head_get_metadata (head, "arch_from")
                                                      : NULL);
  hr_json_add_string (b, "checkpoint", hr_head_get_metadata (head, "source"));
  hr_json_add_string (b, "viscy_version", hr_head_get_metadata (head, "viscy_version"));
  json_builder_set_member_name (b, "presets");
  json_builder_begin_array (b);
  for (guint i = 0; presets[i] != NULL; i++)
    json_builder_add_string_value (b, presets[i]);
  json_builder_end_array (b);
  /* the presets match through the assumed activation: they hold only if it does */
  hr_json_add_boolean (b, "presets_assumed",
                       presets[0] != NULL && hr_head_get_activation_assumed (head));
  hr_json_add_string (b, "activation", activation);
  hr_json_add_boolean (b, "assumed", hr_head_get_activation_assumed (head));
  /* prose, translated; null when nothing was assumed */
  hr_json_add_string (b, "assumption", assumption);
  json_builder_end_object (b);
}

/*
 * hr_head_json_add_members:
 * @b: a builder inside an object
 * @head: a head
 *
 * Adds the members of the head schema (doc/json.md) to the object being built: `file`,
 * `prefix`, `in_features`, `out_features`, `architecture`, `layers` and `description`.
 */
void
hr_head_json_add_members (JsonBuilder *b, HrHead *head)
{
  hr_json_add_string (b, "file", hr_head_get_file (head));
  hr_json_add_string (b, "prefix", hr_head_get_prefix (head));
  hr_json_add_int (b, "in_features", (gint64)hr_head_get_in_features (head));
  hr_json_add_int (b, "out_features", (gint64)hr_head_get_out_features (head));
  hr_head_json_architecture (b, head);
  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  for (guint i = 0; i < hr_head_get_n_layers (head); i++)
    {
      HrLayerKind kind = hr_head_get_layer_kind (head, i);

      json_builder_begin_object (b);
      hr_json_add_string (b, "name", hr_head_get_layer_name (head, i));
      hr_json_add_string (b, "kind", hr_enum_nick (HR_TYPE_LAYER_KIND, kind));
      hr_json_add_int (b, "in_features", (gint64)hr_head_get_layer_in_features (head, i));
      hr_json_add_int (b, "out_features", (gint64)hr_head_get_layer_out_features (head, i));
      hr_json_add_boolean (b, "bias", hr_head_get_layer_has_bias (head, i));
      if (kind == HR_LAYER_LEAKY_RELU)
        {
          json_builder_set_member_name (b, "negative_slope");
          json_builder_add_double_value (b, hr_head_get_layer_negative_slope (head, i));
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  /* where the head came from, in words: prose, translated */
  hr_json_add_string (b, "description", hr_head_get_source (head));
}

/**
 * hr_head_to_json:
 * @head: a #HrHead
 * @pretty: whether to indent the output
 *
 * The head as one JSON object, the schema that `headrank head describe --json` prints and
 * report.json's `head` holds (documented in the manual's JSON page): the weights `file`
 * and tensor `prefix`, `in_features` and `out_features`, the `architecture` (spec, where it
 * came from, matching presets, activation and whether it was assumed) and the `layers`
 * with their `name`, `kind`, `in_features`, `out_features` and `bias`. Every field but
 * the prose of `description` and `architecture.assumption` (translated) is the same in
 * every language; numbers are written with a '.' whatever the locale.
 *
 * Returns: (transfer full): the JSON text, valid UTF-8
 *
 * Since: 0.2
 */
char *
hr_head_to_json (HrHead *head, gboolean pretty)
{
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonGenerator) gen = NULL;
  g_autoptr (JsonNode) root = NULL;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);
  b = json_builder_new ();
  json_builder_begin_object (b);
  hr_head_json_add_members (b, head);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  hr_json_make_valid (root);
  gen = json_generator_new ();
  json_generator_set_pretty (gen, pretty);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}
