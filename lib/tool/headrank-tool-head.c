/* headrank head describe, headrank head presets: the layers of a head, the named
 * architectures */
#include "config.h"

#include "headrank-tool.h"

#include <string.h>

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
    {
      /* the one schema of a head (doc/json.md), as report.json's head */
      text = hr_head_to_json (head, TRUE);
      g_print ("%s\n", text);
    }
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
