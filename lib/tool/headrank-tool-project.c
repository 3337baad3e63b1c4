/* headrank project: a head run over a feature stack, its projections written to a file */
#include "config.h"

#include "headrank-tool.h"

#include <glib/gstdio.h>
#include <signal.h>

#include "headrank-progress.h"

/* Whether two paths name the same existing file. */
static gboolean
hr_same_file (const char *a, const char *b)
{
  GStatBuf sa, sb;

  return g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

/* "0, 1, 2, 3, 4, projections": the names --stage takes. */
static char *
hr_stage_names (HrHead *head)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < hr_head_get_n_layers (head); i++)
    g_string_append_printf (s, "%s, ", hr_head_get_layer_name (head, i));
  g_string_append (s, "projections");
  return g_string_free (s, FALSE);
}

/* Says on standard error what was assumed about @head (after a success: an error stays one
 * line). */
static void
hr_head_note (HrHead *head, const char *weights)
{
  g_autofree char *assumption = hr_head_get_assumption (head);

  if (assumption != NULL)
    /* TRANSLATORS: %s is the file, then sentences saying what was assumed about its head */
    g_printerr (_ ("headrank: note: %s: %s\n"), weights, assumption);
}

static void
hr_project_progress (double fraction, gpointer user_data)
{
  hr_progress_update (user_data, fraction);
}

/* Whether @source reads the file @path (one of its parts, for several files). */
static gboolean
hr_reads_file (HrSource *source, const char *path)
{
  if (HR_IS_CONCAT_SOURCE (source))
    {
      HrConcatSource *concat = HR_CONCAT_SOURCE (source);

      for (guint i = 0; i < hr_concat_source_get_n_parts (concat); i++)
        if (hr_same_file (path, hr_source_get_name (hr_concat_source_get_part (concat, i))))
          return TRUE;
      return FALSE;
    }
  return hr_same_file (path, hr_source_get_name (source));
}

int
hr_command_project (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = hr_cancellable_new ();
  g_autoptr (HrHead) head = NULL;
  g_autoptr (HrSource) source = NULL;
  g_auto (GStrv) inputs = NULL;
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (HrProgress) progress = NULL;
  g_auto (HrHeadOptions) o = HR_HEAD_OPTIONS_INIT;
  g_autofree char *output = NULL, *stage_name = NULL;
  HrStackInfo *info;
  gboolean per_pixel = FALSE;
  int status;
  const char *name;
  int stage = -1;
  gsize width;
  gboolean ok;
  GOptionEntry entries[]
      = { { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
            /* TRANSLATORS: description of --output */
            N_ ("The TIFF file to write, float32 (required)"),
            /* TRANSLATORS: placeholder for the value of --output */
            N_ ("OUT") },
          { "stage", 's', 0, G_OPTION_ARG_STRING, &stage_name,
            /* TRANSLATORS: description of --stage; "projections" stays in English */
            N_ ("Write the output of this layer (a name from “headrank head describe”) instead of "
                "the projections"),
            /* TRANSLATORS: placeholder for the value of --stage */
            N_ ("NAME") },
          { "per-pixel", 0, 0, G_OPTION_ARG_NONE, &per_pixel,
            /* TRANSLATORS: description of --per-pixel */
            N_ ("Write a per-pixel ImageJ stack with the input's geometry (the input must be "
                "per pixel)"),
            NULL },
          G_OPTION_ENTRY_NULL };

  context = hr_command_context (
      "project",
      /* TRANSLATORS: the usage line of "headrank project" */
      _ ("FILE… — run a projection head over a feature stack"),
      /* TRANSLATORS: the description at the end of "headrank project --help" */
      _ ("Writes the projections (or, with --stage, the output of one layer) of every sample "
         "of FILE as a float32 TIFF: one page of N rows × P columns, or with --per-pixel a "
         "per-pixel ImageJ stack. The file is read a chunk at a time. FILE may be a zarr store: "
         "its features, as analyze reads them. Several FILEs, a folder (its .tif and .tiff "
         "files and zarr stores in name order) or a quoted pattern such as 'fov*.tif' are "
         "read as one stack, as analyze reads them: OUT holds the projections of all their "
         "samples, in that order (numbered across the files, as analyze numbers them). "
         "Ctrl-C, SIGTERM or SIGHUP stop the run and leave no output file (an older OUT stays "
         "as it was)."),
      entries, &o);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if ((status = hr_head_options_check (context, &o)) != 0)
    return status;
  if (argc < 2)
    return hr_usage_error (context, _ ("project needs a FILE"));
  if (o.weights == NULL)
    return hr_usage_error (context, _ ("project needs the head's weights (--weights)"));
  if (output == NULL)
    return hr_usage_error (context, _ ("project needs an output file (--output)"));
  inputs = hr_expand_inputs (argc, argv, &error);
  if (inputs == NULL)
    return hr_user_error (error);

  head = hr_head_options_load (&o, cancellable, &error);
  if (head == NULL)
    return hr_head_open_error (context, error, o.arch, o.activation, o.weights);
  hr_head_note_override (head, o.arch, o.weights);
  if (stage_name != NULL && (stage = hr_head_find_stage (head, stage_name)) < 0)
    {
      g_autofree char *names = hr_stage_names (head);

      return hr_fail (g_strdup_printf (
          /* TRANSLATORS: %s: the weights file, the stage asked for, the list of stage names */
          _ ("%s: the head has no stage “%s” (stages: %s)"), o.weights, stage_name, names));
    }
  width = hr_head_get_layer_out_features (head, stage >= 0 ? (guint)stage
                                                           : hr_head_get_n_layers (head) - 1);

  source = hr_open_inputs ((const char *const *)inputs, o.layout, cancellable, &error);
  if (source == NULL)
    return hr_user_error (error);
  if (per_pixel && HR_IS_CONCAT_SOURCE (source))
    return hr_usage_error (context,
                           _ ("--per-pixel takes one FILE (the geometry it writes is one file's)"));
  name = hr_source_get_name (source);
  info = hr_source_get_info (source);
  if (per_pixel && !hr_stack_info_is_per_pixel (info))
    {
      return hr_fail (g_strdup_printf (
          /* TRANSLATORS: %s: the input file, then its layout (matrix, pages, …) */
          _ ("%s: --per-pixel needs a per-pixel stack (layout channels), this one has layout %s"),
          name, hr_enum_nick (HR_TYPE_STACK_LAYOUT, hr_stack_info_get_layout (info))));
    }
  if (hr_source_get_n_features (source) != hr_head_get_in_features (head))
    {
      return hr_fail (g_strdup_printf (
          /* TRANSLATORS: %s: the input file, the weights file; %zu: numbers of features */
          _ ("%s: the stack has %zu features, the head in %s takes %zu"), name,
          hr_source_get_n_features (source), o.weights, hr_head_get_in_features (head)));
    }
  if (hr_reads_file (source, output) || hr_same_file (output, o.weights))
    {
      return hr_fail (g_strdup_printf (
          /* TRANSLATORS: %s is the output file */
          _ ("%s: the output would replace an input file"), output));
    }

  /* TRANSLATORS: label of the progress bar while the head runs */
  progress = hr_progress_new (_ ("Projecting"));
  hr_progress_set_items (progress, hr_source_get_n_samples (source), 1.0, _ ("samples"));
  /* A signal from here on cancels, and the writer removes its temporary file. */
  writer = hr_stack_writer_new (
      output, per_pixel ? HR_STACK_LAYOUT_CHANNELS : HR_STACK_LAYOUT_MATRIX,
      hr_source_get_n_samples (source), width, per_pixel ? info : NULL, &error);
  if (writer == NULL)
    return hr_head_error (error, output, NULL, NULL);

  ok = hr_head_project_source (head, source, writer, hr_head_options_mode (&o),
                               hr_head_options_batch_size (&o), stage, hr_project_progress,
                               progress, cancellable, &error);
  g_clear_pointer (&progress, hr_progress_free);
  if (!ok)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *message = g_strdup_printf (
              /* TRANSLATORS: after Ctrl-C (or SIGTERM, SIGHUP); %s is the output file, which
                 was not written */
              _ ("interrupted, %s was not written"), output);

          g_printerr ("headrank: %s\n", message);
          return hr_exit_interrupted ();
        }
      return hr_head_error (error, name, o.weights, output);
    }
  hr_head_note (head, o.weights);
  return EXIT_SUCCESS;
}
