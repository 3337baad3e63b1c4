/* headrank head describe, headrank head presets: the layers of a head, the named
 * architectures */
#include "config.h"

#include "headrank-tool.h"

#include <string.h>

/* The architecture of @head as an object: spec, where it came from, the presets it
 * matches, the activation and whether it was assumed. */
static void
hr_json_add_architecture (JsonBuilder *b, HrHead *head)
{
  g_autofree char *spec = hr_head_get_spec (head), *assumption = hr_head_get_assumption (head);
  g_auto (GStrv) presets = hr_head_match_presets (head);
  const char *activation = NULL;
  static const char *const keys[][2] = { { "arch_from", "arch_from" },
                                         { "checkpoint", "source" },
                                         { "viscy_version", "viscy_version" } };

  for (guint i = 0; i < hr_head_get_n_layers (head); i++)
    {
      HrLayerKind kind = hr_head_get_layer_kind (head, i);

      if (kind == HR_LAYER_RELU || kind == HR_LAYER_GELU || kind == HR_LAYER_GELU_TANH
          || kind == HR_LAYER_SILU || kind == HR_LAYER_LEAKY_RELU || kind == HR_LAYER_TANH)
        activation = hr_layer_kind_to_string (kind);
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "spec");
  json_builder_add_string_value (b, spec);
  json_builder_set_member_name (b, "from");
  json_builder_add_string_value (
      b, hr_enum_nick (HR_TYPE_ARCH_SOURCE, hr_head_get_arch_source (head)));
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      json_builder_set_member_name (b, keys[i][0]);
      if (hr_head_get_metadata (head, keys[i][1]) != NULL
          && (i > 0 || hr_head_get_arch_source (head) == HR_ARCH_SOURCE_METADATA))
        json_builder_add_string_value (b, hr_head_get_metadata (head, keys[i][1]));
      else
        json_builder_add_null_value (b);
    }
  json_builder_set_member_name (b, "presets");
  json_builder_begin_array (b);
  for (guint i = 0; presets[i] != NULL; i++)
    json_builder_add_string_value (b, presets[i]);
  json_builder_end_array (b);
  /* the presets match through the assumed activation: they hold only if it does */
  json_builder_set_member_name (b, "presets_assumed");
  json_builder_add_boolean_value (b, presets[0] != NULL && hr_head_get_activation_assumed (head));
  json_builder_set_member_name (b, "activation");
  if (activation != NULL)
    json_builder_add_string_value (b, activation);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "assumed");
  json_builder_add_boolean_value (b, hr_head_get_activation_assumed (head));
  /* in words, translated; null when nothing was assumed */
  json_builder_set_member_name (b, "assumption");
  if (assumption != NULL)
    json_builder_add_string_value (b, assumption);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
}

static void
hr_head_print_json (HrHead *head, const char *path)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "file");
  json_builder_add_string_value (b, path);
  json_builder_set_member_name (b, "source");
  json_builder_add_string_value (b, hr_head_get_source (head));
  json_builder_set_member_name (b, "in");
  json_builder_add_int_value (b, (gint64)hr_head_get_in_features (head));
  json_builder_set_member_name (b, "out");
  json_builder_add_int_value (b, (gint64)hr_head_get_out_features (head));
  json_builder_set_member_name (b, "architecture");
  hr_json_add_architecture (b, head);
  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  for (guint i = 0; i < hr_head_get_n_layers (head); i++)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, hr_head_get_layer_name (head, i));
      json_builder_set_member_name (b, "kind");
      json_builder_add_string_value (
          b, hr_enum_nick (HR_TYPE_LAYER_KIND, hr_head_get_layer_kind (head, i)));
      if (hr_head_get_layer_kind (head, i) == HR_LAYER_LEAKY_RELU)
        {
          json_builder_set_member_name (b, "negative_slope");
          json_builder_add_double_value (b, hr_head_get_layer_negative_slope (head, i));
        }
      json_builder_set_member_name (b, "in");
      json_builder_add_int_value (b, (gint64)hr_head_get_layer_in_features (head, i));
      json_builder_set_member_name (b, "out");
      json_builder_add_int_value (b, (gint64)hr_head_get_layer_out_features (head, i));
      json_builder_set_member_name (b, "bias");
      json_builder_add_boolean_value (b, hr_head_get_layer_has_bias (head, i));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);

  hr_print_json (b);
}

int
hr_command_head_describe (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (HrHead) head = NULL;
  g_autofree char *arch = NULL, *prefix = NULL, *text = NULL, *activation = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[]
      = { { "arch", 'a', 0, G_OPTION_ARG_STRING, &arch,
            N_ ("The architecture: a preset (see “headrank head presets”) or a spec such as "
                "linear:2048,bn,relu,linear:128,bn (default: inferred from the tensors)"),
            N_ ("ARCH") },
          { "activation", 0, 0, G_OPTION_ARG_STRING, &activation,
            N_ ("For an inferred architecture, the activation: relu, gelu, gelu-tanh, silu, "
                "leaky-relu[:SLOPE], tanh or identity (default: the file's metadata, else relu, "
                "said to be assumed)"),
            N_ ("NAME") },
          { "prefix", 'p', 0, G_OPTION_ARG_STRING, &prefix,
            N_ ("The prefix of the head's tensors, such as model.projection. (default: found)"),
            N_ ("PREFIX") },
          { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_ ("Print one JSON object"), NULL },
          G_OPTION_ENTRY_NULL };

  context = hr_command_context (
      "head describe",
      /* TRANSLATORS: the usage line of "headrank head describe" */
      _ ("WEIGHTS — list the layers of a projection head"),
      /* TRANSLATORS: the description at the end of "headrank head describe --help" */
      _ ("Prints the layers that “headrank project” runs, in order, with their names (the "
         "names --stage takes) and shapes, where the architecture came from and which presets "
         "it matches. Without --arch the architecture is the one the file's metadata states "
         "(tools/extract-head.py writes it from the checkpoint), else inferred from the "
         "tensors: an activation where the module indices leave room for one (ReLU, said to "
         "be assumed, unless --activation names it), Dropout in the rest of the room."),
      entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if (argc != 2)
    return hr_usage_error (context, _ ("head describe takes one WEIGHTS file"));
  if (activation != NULL && arch != NULL)
    return hr_usage_error (context, _ ("--activation is for an inferred architecture: give "
                                       "the activation in --arch instead"));

  head = hr_head_new_from_file_full (argv[1], arch, prefix, activation, NULL, &error);
  if (head == NULL)
    return hr_head_open_error (context, error, arch, activation, argv[1]);
  hr_head_note_override (head, arch, argv[1]);
  if (json)
    hr_head_print_json (head, argv[1]);
  else
    {
      text = hr_head_describe (head);
      g_print ("%s", text);
    }
  return EXIT_SUCCESS;
}

int
hr_command_head_presets (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  const char *const *presets = hr_head_list_presets ();
  int width = 0;

  context = hr_command_context (
      "head presets",
      /* TRANSLATORS: the usage line of "headrank head presets" */
      _ ("— list the named architectures"),
      /* TRANSLATORS: the description at the end of "headrank head presets --help" */
      _ ("Prints each preset and its spec, the value --arch takes either way, and what it "
         "is. Presets whose modules are numbered 0, 1, … take Dropout layers in the gaps of "
         "the numbers after an activation."),
      NULL, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if (argc != 1)
    return hr_usage_error (context, _ ("head presets takes no arguments"));

  for (gsize i = 0; presets[i] != NULL; i++)
    width = MAX (width, (int)strlen (presets[i]));
  for (gsize i = 0; presets[i] != NULL; i++)
    g_print ("%-*s  %s\n%-*s  %s\n", width, presets[i], hr_head_get_preset_spec (presets[i]), width,
             "", hr_head_get_preset_description (presets[i]));
  return EXIT_SUCCESS;
}
