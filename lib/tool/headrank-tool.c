/* headrank: the command
 *
 *   headrank info [FILE…] [--layout auto|matrix|channels|pages] [--json]
 *   headrank project FILE… --weights W.safetensors --output OUT.tif [--arch PRESET|SPEC]
 *                    [--prefix P] [--batch-stats [--batch-size N]] [--stage NAME]
 *                    [--per-pixel] [--layout LAYOUT]
 *   headrank head describe W.safetensors [--arch PRESET|SPEC] [--prefix P] [--json]
 *   headrank head presets
 *   headrank compare REPORT… [--json] [--output DIR]
 *   headrank merge PART… [--output DIR] [--json] [--weights W [--arch …]]
 *
 * One file per command (headrank-tool-info.c, -project.c, -analyze.c, -head.c), as GIO's
 * gio tool; this one holds the list of commands, the dispatch and the helpers they share
 * (headrank-tool.h).
 *
 * Exit status: 0 on success, 1 when the input is bad (one line on standard error naming
 * the file and the problem), 2 on bad usage, 128 + the signal's number when stopped by
 * SIGINT, SIGTERM or SIGHUP (130, 143, 129): then the previous output is kept and nothing
 * temporary is left. Exit status 0 means the new output is complete and in place.
 */
#include "config.h"

#include "headrank-tool.h"

#include <cblas.h>
#include <glob.h>
#include <locale.h>
#include <signal.h>
#include <string.h>

#include "headrank-signals.h"
#include "hr-json-valid.h"
#include "hr-localedir.h"
#include "hr-zarr.h"

typedef int (*HrCommandFunc) (int argc, char **argv);

typedef struct
{
  const char *name;
  const char *parameter;
  const char *summary;
  HrCommandFunc run;
} HrCommand;

/* A name with a space is a command of a group ("head describe"): "headrank head" alone
 * lists the group's commands. */
static const HrCommand commands[] = {
  { "info",
    /* TRANSLATORS: the arguments of "headrank info" in the list of commands (FILE: a file name;
       "…": one or more, a folder or a glob) */
    N_ ("[FILE…]"),
    /* TRANSLATORS: summary of "headrank info" in the list of commands */
    N_ ("Describe a feature stack: layout, shape, format, non-finite values"), hr_command_info },
  { "project",
    /* TRANSLATORS: the arguments of "headrank project" in the list of commands (file names) */
    N_ ("FILE…"),
    /* TRANSLATORS: summary of "headrank project" in the list of commands; the option names
       stay in English */
    N_ ("Run the head of --weights over a feature stack, write the projections to --output"),
    hr_command_project },
  { "analyze",
    /* TRANSLATORS: the arguments of "headrank analyze" in the list of commands (file names) */
    N_ ("[FILE…]"),
    /* TRANSLATORS: summary of "headrank analyze" in the list of commands */
    N_ ("Rank diagnostics of every stage of a projection head: spectra, ranks, statistics, "
        "verdict, report and plots"),
    hr_command_analyze },
  { "merge",
    /* TRANSLATORS: the arguments of "headrank merge" in the list of commands (PART: a part
       file written by "headrank analyze --partial") */
    N_ ("PART…"),
    /* TRANSLATORS: summary of "headrank merge" in the list of commands */
    N_ ("Merge the parts of analyze --partial into the report of all their samples"),
    hr_command_merge },
  { "compare",
    /* TRANSLATORS: the argument of "headrank compare" in the list of commands (REPORT: a
       report folder) */
    N_ ("REPORT…"),
    /* TRANSLATORS: summary of "headrank compare" in the list of commands */
    N_ ("Compare reports of analyze side by side: ranks of features and projections, table, "
        "JSON, CSV and figures"),
    hr_command_compare },
  { "head describe",
    /* TRANSLATORS: the argument of "headrank head describe" (WEIGHTS: a safetensors file) */
    N_ ("WEIGHTS"),
    /* TRANSLATORS: summary of "headrank head describe" in the list of commands */
    N_ ("List the layers of a projection head, with their shapes"), hr_command_head_describe },
  { "head presets", NULL,
    /* TRANSLATORS: summary of "headrank head presets" in the list of commands */
    N_ ("List the named architectures and their specs"), hr_command_head_presets },
};

/* -- helpers ----------------------------------------------------------------------------- */

int
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

/* The options of "headrank @name": the head's first when @head is given, then @entries;
 * @usage and @description already translated. */
GOptionContext *
hr_command_context (const char *name, const char *usage, const char *description,
                    const GOptionEntry *entries, HrHeadOptions *head)
{
  GOptionContext *context = g_option_context_new (usage);
  g_autofree char *prgname = g_strconcat ("headrank ", name, NULL);

  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (head != NULL)
    hr_head_options_add (context, head);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_description (context, description);
  g_set_prgname (prgname);
  return context;
}

/* A cancellable that SIGINT, SIGTERM and SIGHUP cancel (one per process). */
GCancellable *
hr_cancellable_new (void)
{
  GCancellable *cancellable = g_cancellable_new ();

  hr_signals_watch (cancellable);
  return cancellable;
}

/* The exit status of a run stopped by a signal: 128 + its number. */
int
hr_exit_interrupted (void)
{
  return EXIT_SIGNAL_BASE + (hr_signals_caught () != 0 ? hr_signals_caught () : SIGINT);
}

int
hr_user_error (const GError *error)
{
  g_printerr ("headrank: %s\n", error->message);
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? hr_exit_interrupted ()
                                                                   : EXIT_USER_ERROR;
}

gboolean
hr_interrupted (const GError *error, int *status)
{
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return FALSE;
  g_printerr ("headrank: %s\n", _ ("interrupted"));
  *status = hr_exit_interrupted ();
  return TRUE;
}

int
hr_parse_per_sample (GOptionContext *context, const char *name, HrPerSampleFormat *format)
{
  if (name == NULL)
    return 0;
  if (strcmp (name, "csv") == 0)
    *format = HR_PER_SAMPLE_FORMAT_CSV;
  else if (strcmp (name, "csv.gz") == 0)
    *format = HR_PER_SAMPLE_FORMAT_CSV_GZIP;
  else if (strcmp (name, "none") == 0)
    *format = HR_PER_SAMPLE_FORMAT_NONE;
  else
    {
      g_autofree char *message = g_strdup_printf (
          /* TRANSLATORS: %s is the value given to --per-sample; the values stay in English */
          _ ("unknown per-sample table “%s” (csv, csv.gz or none)"), name);

      return hr_usage_error (context, message);
    }
  return 0;
}

int
hr_check_output_folder (const char *output)
{
  if (output != NULL && g_file_test (output, G_FILE_TEST_EXISTS)
      && !g_file_test (output, G_FILE_TEST_IS_DIR))
    /* TRANSLATORS: %s is the output folder given with --output */
    return hr_fail (g_strdup_printf (_ ("%s exists and is not a folder"), output));
  return 0;
}

gboolean
hr_parse_layout (const char *name, HrStackLayout *layout)
{
  int value;

  if (!hr_enum_from_nick (HR_TYPE_STACK_LAYOUT, name, &value))
    return FALSE;
  *layout = value;
  return TRUE;
}

/* A bundled data file: installed data first, then the source tree (for a build tree). */
char *
hr_find_data (const char *name)
{
  const char *env = g_getenv ("HEADRANK_DATADIR");
  const char *dirs[] = { env, HR_DATADIR, HR_SOURCE_DATADIR };

  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    {
      g_autofree char *path = NULL;

      if (dirs[i] == NULL || *dirs[i] == '\0')
        continue;
      path = g_build_filename (dirs[i], name, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&path);
    }
  return NULL;
}

/* The files of "info FILE…", "project FILE…" and "analyze FILE…": the arguments in order, a
 * pattern that names no file (quoted, so the shell left it) replaced by the files it
 * matches, in name order. */
GStrv
hr_expand_inputs (int argc, char **argv, GError **error)
{
  g_autoptr (GStrvBuilder) files = g_strv_builder_new ();

  for (int i = 1; i < argc; i++)
    {
      glob_t matches = { 0 };
      int status;

      if (g_file_test (argv[i], G_FILE_TEST_EXISTS) || strpbrk (argv[i], "*?[") == NULL)
        {
          g_strv_builder_add (files, argv[i]);
          continue;
        }
      status = glob (argv[i], 0, NULL, &matches);
      if (status != 0)
        {
          globfree (&matches);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                       /* TRANSLATORS: %s is a file name pattern such as fov*.tif */
                       _ ("no file matches %s"), argv[i]);
          return NULL;
        }
      for (size_t k = 0; k < matches.gl_pathc; k++)
        g_strv_builder_add (files, matches.gl_pathv[k]);
      globfree (&matches);
    }
  return g_strv_builder_end (files);
}

/* One file as a TIFF source, one zarr store as the features of its layout; several files
 * or stores, a folder or a pattern as one stack. */
HrSource *
hr_open_inputs (const char *const *paths, HrStackLayout layout, GCancellable *cancellable,
                GError **error)
{
  if (paths[0] != NULL && paths[1] == NULL && hr_zarr_is_store (paths[0]))
    return hr_zarr_source_new (paths[0], NULL, error);
  if (paths[0] != NULL && paths[1] == NULL && !g_file_test (paths[0], G_FILE_TEST_IS_DIR))
    return HR_SOURCE (hr_stack_reader_new (paths[0], layout, cancellable, error));
  return hr_concat_source_new_for_paths (paths, layout, cancellable, error);
}

/* Prints the object built in @b, pretty, with a newline. */
void
hr_print_json (JsonBuilder *b)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = NULL;

  hr_json_make_valid (root);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  g_print ("%s\n", text);
}

/* -- head options, shared by project and head describe ------------------------------------ */

/* An error of the head or of its run: the message names a file, @path when the library's
 * names none of @path, @other and @more (an architecture spec that cannot be parsed, batches
 * too small for batch statistics). */
int
hr_head_error (const GError *error, const char *path, const char *other, const char *more)
{
  /* the library names files as g_filename_display_name() shows them (valid UTF-8) */
  g_autofree char *shown = g_filename_display_name (path);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || strstr (error->message, path) != NULL || strstr (error->message, shown) != NULL
      || (other != NULL && strstr (error->message, other) != NULL)
      || (more != NULL && strstr (error->message, more) != NULL))
    return hr_user_error (error);
  g_printerr ("headrank: %s: %s\n", shown, error->message);
  return EXIT_USER_ERROR;
}

/* An error of hr_head_new_from_file_full(): an --arch that cannot be parsed, or an
 * --activation it refuses (not an activation, or for a file that states its architecture),
 * is a usage error (exit 2), anything else as hr_head_error(). Without --arch, the
 * library's only spec errors are the activation's. */
int
hr_head_open_error (GOptionContext *context, const GError *error, const char *arch,
                    const char *activation, const char *path)
{
  if (arch != NULL && g_error_matches (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC))
    {
      /* TRANSLATORS: "--arch “linear:x”: what is wrong with it"; --arch stays in English */
      g_autofree char *message = g_strdup_printf (_ ("--arch “%s”: %s"), arch, error->message);

      return hr_usage_error (context, message);
    }
  if (activation != NULL && g_error_matches (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC))
    {
      /* TRANSLATORS: "--activation “foo”: what is wrong with it"; --activation stays in
         English */
      g_autofree char *message
          = g_strdup_printf (_ ("--activation “%s”: %s"), activation, error->message);

      return hr_usage_error (context, message);
    }
  return hr_head_error (error, path, NULL, NULL);
}

/* --arch wins over the architecture the file's metadata states (for the same prefix); when
 * the two differ, says so on standard error, naming both, rather than override in silence. */
void
hr_head_note_override (HrHead *head, const char *arch, const char *path)
{
  const char *stated = hr_head_get_metadata (head, "arch");
  const char *stated_prefix = hr_head_get_metadata (head, "prefix");
  g_autoptr (HrHead) as_stated = NULL;
  g_autofree char *given_spec = NULL, *stated_spec = NULL, *shown = NULL;

  if (arch == NULL || stated == NULL
      || (stated_prefix != NULL && g_strcmp0 (stated_prefix, hr_head_get_prefix (head)) != 0))
    return;
  given_spec = hr_head_get_spec (head);
  /* the head as the file states it; one the tensors do not fit differs too */
  as_stated = hr_head_new_from_file_full (path, NULL, hr_head_get_prefix (head), NULL, NULL, NULL);
  if (as_stated != NULL)
    {
      stated_spec = hr_head_get_spec (as_stated);
      if (strcmp (stated_spec, given_spec) == 0)
        return;
    }
  shown = g_filename_display_name (path);
  /* TRANSLATORS: a note on standard error: the --arch given and its spec, the file, and the
     architecture its metadata states; --arch stays in English */
  g_printerr (_ ("headrank: note: --arch %s (%s) overrides the architecture %s states (%s)\n"),
              arch, given_spec, shown, stated_spec != NULL ? stated_spec : stated);
}

/* -- the options of a head (project, analyze) -------------------------------------------- */

void
hr_head_options_clear (HrHeadOptions *o)
{
  g_clear_pointer (&o->weights, g_free);
  g_clear_pointer (&o->arch, g_free);
  g_clear_pointer (&o->prefix, g_free);
  g_clear_pointer (&o->activation, g_free);
  g_clear_pointer (&o->layout_name, g_free);
}

/* Adds --weights, --arch, --activation, --prefix, --batch-stats, --batch-size and --layout. */
void
hr_head_options_add (GOptionContext *context, HrHeadOptions *o)
{
  GOptionEntry entries[]
      = { { "weights", 'w', 0, G_OPTION_ARG_FILENAME, &o->weights,
            /* TRANSLATORS: description of --weights */
            N_ ("The head's weights: a safetensors file of a PyTorch state dict"),
            /* TRANSLATORS: placeholder for the value of --weights */
            N_ ("WEIGHTS") },
          { "arch", 'a', 0, G_OPTION_ARG_STRING, &o->arch,
            /* TRANSLATORS: description of --arch; keep the example spec as it is */
            N_ ("The architecture: a preset (see “headrank head presets”) or a spec such as "
                "linear:2048,bn,relu,linear:128,bn (default: inferred from the tensors)"),
            /* TRANSLATORS: placeholder for the value of --arch */
            N_ ("ARCH") },
          { "activation", 0, 0, G_OPTION_ARG_STRING, &o->activation,
            /* TRANSLATORS: description of --activation; keep the names */
            N_ ("For an inferred architecture, the activation: relu, gelu, gelu-tanh, silu, "
                "leaky-relu[:SLOPE], tanh or identity (default: the file's metadata, else relu, "
                "said to be assumed)"),
            /* TRANSLATORS: placeholder for the value of --activation */
            N_ ("NAME") },
          { "prefix", 'p', 0, G_OPTION_ARG_STRING, &o->prefix,
            /* TRANSLATORS: description of --prefix */
            N_ ("The prefix of the head's tensors, such as model.projection. (default: found)"),
            /* TRANSLATORS: placeholder for the value of --prefix */
            N_ ("PREFIX") },
          { "batch-stats", 0, 0, G_OPTION_ARG_NONE, &o->batch_stats,
            /* TRANSLATORS: description of --batch-stats */
            N_ ("Normalise BatchNorm layers by the statistics of the batch (training mode) instead "
                "of their running statistics"),
            NULL },
          { "batch-size", 'b', 0, G_OPTION_ARG_INT64, &o->batch_size,
            /* TRANSLATORS: description of --batch-size */
            N_ ("With --batch-stats, the number of samples per batch (default: the whole stack)"),
            /* TRANSLATORS: placeholder for the value of --batch-size */
            N_ ("N") },
          { "layout", 'l', 0, G_OPTION_ARG_STRING, &o->layout_name,
            N_ ("How the file holds its features: auto, matrix, channels or pages (default: auto)"),
            N_ ("LAYOUT") },
          G_OPTION_ENTRY_NULL };

  /* the context keeps a copy of the entries */
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
}

/* -- the options of a report (analyze and merge) ----------------------------------------- */

GOptionEntry
hr_option_report_output (char **output)
{
  return (GOptionEntry){ "output", 'o', 0, G_OPTION_ARG_FILENAME, output,
                         /* TRANSLATORS: description of --output of "headrank analyze" and
                            "headrank merge" */
                         N_ ("The folder for the report, tables and plots (default: "
                             "headrank-report, or none with --json)"),
                         /* TRANSLATORS: placeholder for the value of --output */
                         N_ ("DIR") };
}

GOptionEntry
hr_option_per_sample (char **name)
{
  return (GOptionEntry){ "per-sample", 0, 0, G_OPTION_ARG_STRING, name,
                         /* TRANSLATORS: description of --per-sample of "headrank analyze"
                            and "headrank merge"; the values and file names stay in English */
                         N_ ("The per-sample table of the report: csv (per_sample.csv, the "
                             "default), csv.gz (per_sample.csv.gz, compressed with gzip; "
                             "pandas reads it directly) or none"),
                         /* TRANSLATORS: placeholder for the value of --per-sample */
                         N_ ("FORMAT") };
}

GOptionEntry
hr_option_report_json (gboolean *json)
{
  return (GOptionEntry){ "json", 0, 0, G_OPTION_ARG_NONE, json,
                         /* TRANSLATORS: description of --json of "headrank analyze" and
                            "headrank merge" */
                         N_ ("Print the report as JSON on standard output"), NULL };
}

/* Checks them once parsed; a usage error's exit status, or 0. */
int
hr_head_options_check (GOptionContext *context, HrHeadOptions *o)
{
  if (o->layout_name != NULL && !hr_parse_layout (o->layout_name, &o->layout))
    {
      g_autofree char *message = g_strdup_printf (
          _ ("unknown layout “%s” (auto, matrix, channels or pages)"), o->layout_name);
      return hr_usage_error (context, message);
    }
  if (o->batch_size != HR_BATCH_SIZE_UNSET && o->batch_size <= 0)
    return hr_usage_error (context, _ ("--batch-size takes a positive number"));
  if (o->batch_size != HR_BATCH_SIZE_UNSET && !o->batch_stats)
    return hr_usage_error (context, _ ("--batch-size needs --batch-stats"));
  if (o->activation != NULL && o->arch != NULL)
    return hr_usage_error (context, _ ("--activation is for an inferred architecture: give "
                                       "the activation in --arch instead"));
  return 0;
}

/* Reads the head of @o. */
HrHead *
hr_head_options_load (const HrHeadOptions *o, GCancellable *cancellable, GError **error)
{
  return hr_head_new_from_file_full (o->weights, o->arch, o->prefix, o->activation, cancellable,
                                     error);
}

HrNormMode
hr_head_options_mode (const HrHeadOptions *o)
{
  return o->batch_stats ? HR_NORM_MODE_BATCH : HR_NORM_MODE_RUNNING;
}

gsize
hr_head_options_batch_size (const HrHeadOptions *o)
{
  return o->batch_size > 0 ? (gsize)o->batch_size : 0;
}

/* Prints a user error (one line) and frees it. */
int
hr_fail (char *message)
{
  g_printerr ("headrank: %s\n", message);
  g_free (message);
  return EXIT_USER_ERROR;
}

/* -- main -------------------------------------------------------------------------------- */

/* The list of commands whose name starts with @group (NULL: all), one a line, aligned. */
static char *
hr_commands_summary (const char *group)
{
  GString *s = g_string_new (_ ("Commands:"));
  g_autoptr (GPtrArray) calls = g_ptr_array_new_with_free_func (g_free);
  glong width = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      const char *parameter = commands[i].parameter != NULL ? _ (commands[i].parameter) : "";
      char *call
          = g_strdup_printf ("%s%s%s", commands[i].name, *parameter != '\0' ? " " : "", parameter);

      g_ptr_array_add (calls, call);
      width = MAX (width, g_utf8_strlen (call, -1));
    }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      const char *call = g_ptr_array_index (calls, i);

      if (group != NULL
          && !(g_str_has_prefix (commands[i].name, group)
               && commands[i].name[strlen (group)] == ' '))
        continue;
      g_string_append_printf (s, "\n  %s%*s %s", call, (int)(width - g_utf8_strlen (call, -1)), "",
                              _ (commands[i].summary));
    }
  g_string_append_c (s, '\n');
  g_string_append (s, _ ("Run “headrank COMMAND --help” for the options of a command."));
  return g_string_free (s, FALSE);
}

/* "headrank head" without one of its commands: the list of them. */
static int
hr_command_group (const char *group, int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *summary = hr_commands_summary (group);
  g_autofree char *prgname = g_strconcat ("headrank ", group, NULL);
  g_autofree char *parameter = NULL;

  g_set_prgname (prgname);
  /* TRANSLATORS: the usage line of "headrank head"; COMMAND is one of its commands */
  parameter = g_strdup (_ ("COMMAND [ARGS…]"));
  context = g_option_context_new (parameter);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_summary (context, summary);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if (argc < 2)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);
      g_printerr ("%s", help);
      return EXIT_USAGE;
    }
  return hr_usage_error (context, _ ("a command comes before its options"));
}

static int
hr_dispatch (int argc, char **argv)
{
  const char *name = argv[1];
  gsize len = strlen (name);
  gboolean is_group = FALSE;

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      if (strcmp (name, commands[i].name) == 0)
        return commands[i].run (argc - 1, argv + 1);
      if (strncmp (name, commands[i].name, len) == 0 && commands[i].name[len] == ' ')
        is_group = TRUE;
    }
  if (!is_group)
    {
      g_autofree char *message = g_strdup_printf (_ ("unknown command “%s”"), name);
      return hr_usage_error (NULL, message);
    }
  if (argc >= 3 && argv[2][0] != '-')
    {
      g_autofree char *full = g_strconcat (name, " ", argv[2], NULL);
      g_autofree char *message = NULL;

      for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
        if (strcmp (full, commands[i].name) == 0)
          return commands[i].run (argc - 2, argv + 2);
      message = g_strdup_printf (_ ("unknown command “%s”"), full);
      return hr_usage_error (NULL, message);
    }
  return hr_command_group (name, argc - 1, argv + 1);
}

#if HAVE_BLAS_THREAD_SHUTDOWN
/* OpenBLAS's, exported by its pthreads build, declared in no header */
extern int blas_thread_shutdown_ (void);
#endif

/* OpenBLAS starts its threads when it is loaded, and each spins in sched_yield() for 2^28
 * cycles (about 0.1 s) before it sleeps: beside an analysis that starts at once, on two
 * cores, that took 2.5 % of a 60,000 × 768 run (doc/threads.md). The command runs its
 * computations on the library's own threads (hr_set_n_threads(), as many as OpenBLAS
 * would use), so it makes OpenBLAS single-threaded and stops its threads before anything
 * else, while it is the only thread of the process (stopping them is unsafe while another
 * thread is inside OpenBLAS, which is why the library does not do it for its hosts).
 * OpenBLAS calls outside those computations (the report's principal axes) then run
 * single-threaded. */
static void
hr_take_blas_threads (void)
{
  int n = openblas_get_num_threads ();

  if (n <= 1)
    return;
  hr_set_n_threads ((guint)n);
  openblas_set_num_threads (1);
#if HAVE_BLAS_THREAD_SHUTDOWN
  blas_thread_shutdown_ ();
#endif
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *summary = NULL;
  gboolean version = FALSE;
  GOptionEntry entries[]
      = { { "version", 0, 0, G_OPTION_ARG_NONE, &version, N_ ("Print the version and exit"), NULL },
          G_OPTION_ENTRY_NULL };

  setlocale (LC_ALL, "");
  /* installed, the build tree's when run from it, or HEADRANK_LOCALEDIR (hr-localedir.c) */
  bindtextdomain (GETTEXT_PACKAGE, hr_localedir ());
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  g_set_prgname ("headrank");
  hr_take_blas_threads ();

  /* Options before the command belong to headrank itself; the rest to the command. */
  if (argc >= 2 && argv[1][0] != '-')
    return hr_dispatch (argc, argv);

  context = g_option_context_new (_ ("COMMAND [ARGS…] — projection-head rank diagnostics"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  summary = hr_commands_summary (NULL);
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
