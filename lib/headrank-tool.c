/* headrank: the command
 *
 *   headrank info [FILE] [--layout auto|matrix|channels|pages] [--json]
 *
 * Exit status: 0 on success, 1 when the input is bad (one line on standard error naming
 * the file and the problem), 2 on bad usage, 130 when interrupted.
 */
#include "config.h"

#include <headrank.h>

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "headrank-progress.h"

#define EXIT_USER_ERROR 1
#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

typedef int (*HrCommandFunc) (int argc, char **argv);

typedef struct
{
  const char *name;
  const char *parameter;
  const char *summary;
  HrCommandFunc run;
} HrCommand;

static int hr_command_info (int argc, char **argv);

static const HrCommand commands[] = {
  { "info",
    /* TRANSLATORS: the argument of "headrank info" in the list of commands (FILE: a file name) */
    N_ ("[FILE]"),
    /* TRANSLATORS: summary of "headrank info" in the list of commands */
    N_ ("Describe a feature stack: layout, shape, format, non-finite values"), hr_command_info },
};

/* -- helpers ----------------------------------------------------------------------------- */

static int
hr_usage_error (GOptionContext *context, const char *message)
{
  g_printerr ("headrank: %s\n", message);
  if (context != NULL)
    {
      /* TRANSLATORS: %s is the command, "headrank" or "headrank info" */
      g_printerr (_ ("Try “%s --help” for more information.\n"), g_get_prgname ());
    }
  return EXIT_USAGE;
}

static int
hr_user_error (const GError *error)
{
  g_printerr ("headrank: %s\n", error->message);
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? EXIT_INTERRUPTED
                                                                   : EXIT_USER_ERROR;
}

static gboolean
hr_parse_layout (const char *name, HrStackLayout *layout)
{
  GEnumClass *klass = g_type_class_ref (HR_TYPE_STACK_LAYOUT);
  GEnumValue *value = g_enum_get_value_by_nick (klass, name);

  if (value != NULL)
    *layout = value->value;
  g_type_class_unref (klass);
  return value != NULL;
}

static const char *
hr_enum_nick (GType type, int value)
{
  GEnumClass *klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);
  const char *nick = v != NULL ? v->value_nick : "?";

  g_type_class_unref (klass);
  return nick;
}

/* The bundled sample: installed data first, then the source tree (for a build tree). */
static char *
hr_find_sample (void)
{
  const char *env = g_getenv ("HEADRANK_DATADIR");
  const char *dirs[] = { env, HR_DATADIR, HR_SOURCE_DATADIR };

  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *path = NULL;

      if (dirs[i] == NULL || *dirs[i] == '\0')
        continue;
      path = g_build_filename (dirs[i], "sample-features.tif", NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&path);
    }
  return NULL;
}

/* -- info -------------------------------------------------------------------------------- */

typedef struct
{
  HrStackInfo *info;
  const char *path;
  gsize n_samples;
  gsize n_features;
  guint64 n_nonfinite;
  const guint64 *positions;
  gsize n_positions;
} HrInfoResult;

static void
hr_info_print_text (const HrInfoResult *r)
{
  HrStackInfo *info = r->info;
  /* TRANSLATORS: how the pixels are stored, the first value after "Storage:" */
  const char *storage = hr_stack_info_get_tiled (info) ? _ ("tiles") : _ ("strips");
  const char *order = hr_stack_info_get_big_endian (info) ? _ ("big-endian") : _ ("little-endian");
  const char *kind = hr_stack_info_get_bigtiff (info) ? _ ("BigTIFF") : _ ("classic TIFF");

  /* TRANSLATORS: labels of "headrank info"; keep the values aligned (pad to 16 columns) */
  g_print (_ ("File:           %s\n"), r->path);
  g_print (_ ("Layout:         %s\n"),
           hr_enum_nick (HR_TYPE_STACK_LAYOUT, hr_stack_info_get_layout (info)));
  g_print (_ ("Samples:        %zu\n"), r->n_samples);
  g_print (_ ("Features:       %zu\n"), r->n_features);
  g_print (_ ("Sample format:  %s\n"),
           hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, hr_stack_info_get_sample_format (info)));
  g_print (_ ("Compression:    %s\n"), hr_stack_info_get_compression (info));
  g_print (_ ("Pages:          %u\n"), hr_stack_info_get_n_pages (info));
  g_print (_ ("Storage:        %s, %s, %s\n"), storage, order, kind);
  g_print (_ ("Metadata:       %s\n"), hr_stack_info_get_metadata_kind (info));
  if (hr_stack_info_is_per_pixel (info))
    /* TRANSLATORS: per-pixel geometry: width X, height Y, Z slices, T frames, C channels */
    g_print (_ ("Geometry:       X %u, Y %u, Z %u, T %u, C %u (per pixel)\n"),
             hr_stack_info_get_width (info), hr_stack_info_get_height (info),
             hr_stack_info_get_depth (info), hr_stack_info_get_frames (info),
             hr_stack_info_get_channels (info));
  else
    /* TRANSLATORS: size of one TIFF page, width × height */
    g_print (_ ("Geometry:       pages of %u × %u\n"), hr_stack_info_get_width (info),
             hr_stack_info_get_height (info));
  g_print (_ ("Non-finite:     %llu\n"), (unsigned long long)r->n_nonfinite);
  if (r->n_positions > 0)
    {
      GString *where = g_string_new (NULL);

      for (gsize i = 0; i < r->n_positions; i++)
        g_string_append_printf (where, "%s(%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT ")",
                                i > 0 ? " " : "", r->positions[i] / r->n_features,
                                r->positions[i] % r->n_features);
      if (r->n_nonfinite > r->n_positions)
        g_string_append (where, " …");
      /* TRANSLATORS: (sample, feature) positions of the first NaN or Inf values */
      g_print (_ ("  first at (sample, feature): %s\n"), where->str);
      g_string_free (where, TRUE);
    }
}

static void
hr_info_print_json (const HrInfoResult *r)
{
  HrStackInfo *info = r->info;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "file");
  json_builder_add_string_value (b, r->path);
  json_builder_set_member_name (b, "layout");
  json_builder_add_string_value (
      b, hr_enum_nick (HR_TYPE_STACK_LAYOUT, hr_stack_info_get_layout (info)));
  json_builder_set_member_name (b, "samples");
  json_builder_add_int_value (b, (gint64)r->n_samples);
  json_builder_set_member_name (b, "features");
  json_builder_add_int_value (b, (gint64)r->n_features);
  json_builder_set_member_name (b, "sample_format");
  json_builder_add_string_value (
      b, hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, hr_stack_info_get_sample_format (info)));
  json_builder_set_member_name (b, "compression");
  json_builder_add_string_value (b, hr_stack_info_get_compression (info));
  json_builder_set_member_name (b, "pages");
  json_builder_add_int_value (b, hr_stack_info_get_n_pages (info));
  json_builder_set_member_name (b, "tiled");
  json_builder_add_boolean_value (b, hr_stack_info_get_tiled (info));
  json_builder_set_member_name (b, "byte_order");
  json_builder_add_string_value (b, hr_stack_info_get_big_endian (info) ? "big" : "little");
  json_builder_set_member_name (b, "bigtiff");
  json_builder_add_boolean_value (b, hr_stack_info_get_bigtiff (info));
  json_builder_set_member_name (b, "metadata");
  json_builder_add_string_value (b, hr_stack_info_get_metadata_kind (info));
  json_builder_set_member_name (b, "per_pixel");
  json_builder_add_boolean_value (b, hr_stack_info_is_per_pixel (info));
  json_builder_set_member_name (b, "geometry");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "width");
  json_builder_add_int_value (b, hr_stack_info_get_width (info));
  json_builder_set_member_name (b, "height");
  json_builder_add_int_value (b, hr_stack_info_get_height (info));
  json_builder_set_member_name (b, "depth");
  json_builder_add_int_value (b, hr_stack_info_get_depth (info));
  json_builder_set_member_name (b, "frames");
  json_builder_add_int_value (b, hr_stack_info_get_frames (info));
  json_builder_set_member_name (b, "channels");
  json_builder_add_int_value (b, hr_stack_info_get_channels (info));
  json_builder_end_object (b);
  json_builder_set_member_name (b, "nonfinite");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "count");
  json_builder_add_int_value (b, (gint64)r->n_nonfinite);
  json_builder_set_member_name (b, "positions");
  json_builder_begin_array (b);
  for (gsize i = 0; i < r->n_positions; i++)
    {
      json_builder_begin_array (b);
      json_builder_add_int_value (b, (gint64)(r->positions[i] / r->n_features));
      json_builder_add_int_value (b, (gint64)(r->positions[i] % r->n_features));
      json_builder_end_array (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  g_print ("%s\n", text);
}

static int
hr_command_info (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrProgress) progress = NULL;
  g_autofree char *layout_name = NULL;
  g_autofree char *sample = NULL;
  g_autofree float *rows = NULL;
  HrStackLayout layout = HR_STACK_LAYOUT_AUTO;
  gboolean json = FALSE;
  const char *path;
  gsize chunk, n_read, n_samples;
  HrInfoResult result = { 0 };
  GOptionEntry entries[]
      = { { "layout", 'l', 0, G_OPTION_ARG_STRING, &layout_name,
            /* TRANSLATORS: description of --layout; the layout names stay in English */
            N_ ("How the file holds its features: auto, matrix, channels or pages (default: auto)"),
            /* TRANSLATORS: placeholder for the value of --layout */
            N_ ("LAYOUT") },
          { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_ ("Print one JSON object"), NULL },
          G_OPTION_ENTRY_NULL };

  context = g_option_context_new (_ ("[FILE] — describe a feature stack"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (
      context, _ ("Without FILE, describes the sample stack that comes with headrank.\n"
                  "Reads the whole file (a chunk at a time) to count NaN and infinite values."));
  g_set_prgname ("headrank info");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if (layout_name != NULL && !hr_parse_layout (layout_name, &layout))
    {
      g_autofree char *message = g_strdup_printf (
          _ ("unknown layout “%s” (auto, matrix, channels or pages)"), layout_name);
      return hr_usage_error (context, message);
    }
  if (argc > 2)
    return hr_usage_error (context, _ ("info takes one FILE"));
  if (argc == 2)
    path = argv[1];
  else
    {
      sample = hr_find_sample ();
      if (sample == NULL)
        {
          g_printerr ("headrank: %s\n",
                      _ ("the bundled sample stack is not installed; give a FILE"));
          return EXIT_USER_ERROR;
        }
      path = sample;
    }

  reader = hr_stack_reader_new (path, layout, cancellable, &error);
  if (reader == NULL)
    return hr_user_error (error);

  n_samples = hr_stack_reader_get_n_samples (reader);
  chunk = hr_stack_reader_get_preferred_chunk (reader);
  rows = g_try_new (float, chunk *hr_stack_reader_get_n_features (reader));
  if (rows == NULL)
    {
      g_printerr ("headrank: %s: %s\n", path, _ ("out of memory"));
      return EXIT_USER_ERROR;
    }
  /* TRANSLATORS: label of the progress bar while the file is read */
  progress = hr_progress_new (_ ("Reading"), cancellable);
  do
    {
      if (!hr_stack_reader_read_into (reader, rows, chunk, &n_read, cancellable, &error))
        return hr_user_error (error);
      hr_progress_update (progress, (double)hr_stack_reader_get_position (reader) / n_samples);
    }
  while (n_read > 0);
  g_clear_pointer (&progress, hr_progress_free);

  result.path = path;
  result.info = hr_stack_reader_get_info (reader);
  result.n_samples = n_samples;
  result.n_features = hr_stack_reader_get_n_features (reader);
  result.n_nonfinite = hr_stack_reader_get_n_nonfinite (reader);
  result.positions = hr_stack_reader_get_nonfinite_positions (reader, &result.n_positions);
  if (json)
    hr_info_print_json (&result);
  else
    hr_info_print_text (&result);
  return EXIT_SUCCESS;
}

/* -- main -------------------------------------------------------------------------------- */

static char *
hr_commands_summary (void)
{
  GString *s = g_string_new (_ ("Commands:"));

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_autofree char *call
          = g_strdup_printf ("%s %s", commands[i].name, _ (commands[i].parameter));
      g_string_append_printf (s, "\n  %-14s %s", call, _ (commands[i].summary));
    }
  g_string_append_c (s, '\n');
  g_string_append (s, _ ("Run “headrank COMMAND --help” for the options of a command."));
  return g_string_free (s, FALSE);
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *summary = NULL;
  const char *localedir = g_getenv ("HEADRANK_LOCALEDIR");
  gboolean version = FALSE;
  GOptionEntry entries[]
      = { { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_ ("Print the version and exit"), NULL },
          G_OPTION_ENTRY_NULL };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE,
                  localedir != NULL && *localedir != '\0' ? localedir : HR_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("headrank");

  /* Options before the command belong to headrank itself; the rest to the command. */
  if (argc >= 2 && argv[1][0] != '-')
    {
      for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
        if (strcmp (argv[1], commands[i].name) == 0)
          return commands[i].run (argc - 1, argv + 1);
      {
        g_autofree char *message = g_strdup_printf (_ ("unknown command “%s”"), argv[1]);
        return hr_usage_error (NULL, message);
      }
    }

  context = g_option_context_new (_ ("COMMAND [ARGS…] — projection-head rank diagnostics"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  summary = hr_commands_summary ();
  g_option_context_set_summary (context, summary);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if (version)
    {
      g_print ("headrank %s\n", PACKAGE_VERSION);
      return EXIT_SUCCESS;
    }
  if (argc < 2)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);
      g_printerr ("%s", help);
      return EXIT_USAGE;
    }
  return hr_usage_error (context, _ ("a command comes before its options"));
}
