/* headrank: the command
 *
 *   headrank info [FILE] [--layout auto|matrix|channels|pages] [--json]
 *   headrank project FILE --weights W.safetensors --output OUT.tif [--arch PRESET|SPEC]
 *                    [--prefix P] [--batch-stats [--batch-size N]] [--stage NAME]
 *                    [--per-pixel] [--layout LAYOUT]
 *   headrank head describe W.safetensors [--arch PRESET|SPEC] [--prefix P] [--json]
 *   headrank head presets
 *
 * Exit status: 0 on success, 1 when the input is bad (one line on standard error naming
 * the file and the problem), 2 on bad usage, 128 + the signal's number when stopped by
 * SIGINT, SIGTERM or SIGHUP (130, 143, 129): then the previous output is kept and nothing
 * temporary is left. Exit status 0 means the new output is complete and in place.
 */
#include "config.h"

#include <headrank.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <glob.h>
#include <inttypes.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "headrank-progress.h"
#include "headrank-signals.h"
#include "hr-json-valid.h"
#include "hr-zarr.h"

#define EXIT_USER_ERROR 1
#define EXIT_USAGE 2
#define EXIT_SIGNAL_BASE 128

typedef int (*HrCommandFunc) (int argc, char **argv);

typedef struct
{
  const char *name;
  const char *parameter;
  const char *summary;
  HrCommandFunc run;
} HrCommand;

static int hr_command_info (int argc, char **argv);
static int hr_command_project (int argc, char **argv);
static int hr_command_analyze (int argc, char **argv);
static int hr_command_head_describe (int argc, char **argv);
static int hr_command_head_presets (int argc, char **argv);

/* A name with a space is a command of a group ("head describe"): "headrank head" alone
 * lists the group's commands. */
static const HrCommand commands[] = {
  { "info",
    /* TRANSLATORS: the argument of "headrank info" in the list of commands (FILE: a file name) */
    N_ ("[FILE]"),
    /* TRANSLATORS: summary of "headrank info" in the list of commands */
    N_ ("Describe a feature stack: layout, shape, format, non-finite values"), hr_command_info },
  { "project",
    /* TRANSLATORS: the argument of "headrank project" in the list of commands (a file name) */
    N_ ("FILE"),
    /* TRANSLATORS: summary of "headrank project" in the list of commands; the option names
       stay in English */
    N_ ("Run the head of --weights over a feature stack, write the projections to --output"),
    hr_command_project },
  { "analyze",
    /* TRANSLATORS: the argument of "headrank analyze" in the list of commands (a file name) */
    N_ ("[FILE]"),
    /* TRANSLATORS: summary of "headrank analyze" in the list of commands */
    N_ ("Rank diagnostics of every stage of a projection head: spectra, ranks, statistics, "
        "verdict, report and plots"),
    hr_command_analyze },
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

typedef struct _HrHeadOptions HrHeadOptions;
static void hr_head_options_add (GOptionContext *context, HrHeadOptions *o);

/* The options of "headrank @name": the head's first when @head is given, then @entries;
 * @usage and @description already translated. */
static GOptionContext *
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
static GCancellable *
hr_cancellable_new (void)
{
  GCancellable *cancellable = g_cancellable_new ();

  hr_signals_watch (cancellable);
  return cancellable;
}

/* The exit status of a run stopped by a signal: 128 + its number. */
static int
hr_exit_interrupted (void)
{
  return EXIT_SIGNAL_BASE + (hr_signals_caught () != 0 ? hr_signals_caught () : SIGINT);
}

static int
hr_user_error (const GError *error)
{
  g_printerr ("headrank: %s\n", error->message);
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? hr_exit_interrupted ()
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

/* A bundled data file: installed data first, then the source tree (for a build tree). */
static char *
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

/* Prints the object built in @b, pretty, with a newline. */
static void
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

static void
hr_info_print_json (const HrInfoResult *r)
{
  HrStackInfo *info = r->info;
  g_autoptr (JsonBuilder) b = json_builder_new ();

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

  hr_print_json (b);
}

/* -- info on a zarr store ---------------------------------------------------------------- */

/* What `headrank info` says of the array that takes a role. */
typedef struct
{
  const char *array; /* NULL: no array takes the role */
  guint64 n_rows;
  gsize n_columns;
  guint64 n_nonfinite;
} HrZarrRoleScan;

/* Reads the array of @role whole, a row of chunks at a time, counting non-finite values. */
static gboolean
hr_info_zarr_scan (HrZarrStore *store, HrZarrRole role, HrZarrRoleScan *scan,
                   GCancellable *cancellable, GError **error)
{
  g_autoptr (HrZarrReader) reader = NULL;
  g_autoptr (HrProgress) progress = NULL;
  g_autofree float *rows = NULL;
  gsize chunk;

  memset (scan, 0, sizeof *scan);
  scan->array = hr_zarr_store_get_role_path (store, role, error);
  if (scan->array == NULL)
    return error == NULL || *error == NULL;
  reader = hr_zarr_reader_new (store, scan->array, error);
  if (reader == NULL)
    return FALSE;
  scan->n_rows = hr_zarr_reader_get_n_rows (reader);
  scan->n_columns = hr_zarr_reader_get_n_columns (reader);
  chunk = hr_zarr_reader_get_chunk_rows (reader);
  /* the reader holds a row of chunks of this size already */
  rows = g_try_new (float, MAX (chunk * scan->n_columns, 1));
  if (rows == NULL)
    {
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_TOO_LARGE, "%s: %s",
                   hr_zarr_store_get_path (store), _ ("out of memory"));
      return FALSE;
    }
  progress = hr_progress_new (_ ("Reading"));
  for (guint64 row = 0; row < scan->n_rows; row += chunk)
    {
      gsize take = (gsize)MIN ((guint64)chunk, scan->n_rows - row);

      if (g_cancellable_set_error_if_cancelled (cancellable, error)
          || !hr_zarr_reader_read_rows (reader, row, take, rows, error))
        return FALSE;
      for (gsize k = 0; k < take * scan->n_columns; k++)
        scan->n_nonfinite += !isfinite (rows[k]);
      hr_progress_update (progress, (double)(row + take) / (double)scan->n_rows);
    }
  return TRUE;
}

static void
hr_info_zarr_text (HrZarrStore *store, const HrZarrRoleScan *features,
                   const HrZarrRoleScan *projections)
{
  guint n = hr_zarr_store_get_n_arrays (store);
  int width = 1;
  const HrZarrRoleScan *scans[] = { features, projections };

  for (guint i = 0; i < n; i++)
    width = MAX (width, (int)strlen (hr_zarr_store_get_array_path (store, i)));
  g_print (_ ("Store:          %s\n"), hr_zarr_store_get_path (store));
  /* TRANSLATORS: %s: the store's layout: anndata, xarray, array or group (not translated) */
  g_print (_ ("Layout:         %s\n"), hr_zarr_layout_to_string (hr_zarr_store_get_layout (store)));
  g_print (_ ("Arrays:         %u\n"), n);
  for (guint i = 0; i < n; i++)
    {
      const char *path = hr_zarr_store_get_array_path (store, i);
      const guint64 *shape = hr_zarr_array_get_shape (store, i);
      const char *why = hr_zarr_array_get_unsupported (store, i);
      g_autoptr (GString) dims = g_string_new (NULL);

      for (guint d = 0; d < hr_zarr_array_get_n_dims (store, i); d++)
        g_string_append_printf (dims, "%s%" G_GUINT64_FORMAT, d > 0 ? " × " : "", shape[d]);
      /* pad by characters: "×" is two bytes */
      for (glong pad = 12 - g_utf8_strlen (dims->str, -1); pad > 0; pad--)
        g_string_append_c (dims, ' ');
      g_print ("  %-*s  v%u  %s %-8s %s  %s  %s\n", width, path[0] != '\0' ? path : "/",
               hr_zarr_array_get_format (store, i), dims->str, hr_zarr_array_get_dtype (store, i),
               hr_zarr_array_get_fortran_order (store, i) ? "F" : "C",
               hr_zarr_array_get_codecs (store, i),
               hr_zarr_role_to_string (hr_zarr_array_get_role (store, i)));
      if (why != NULL)
        /* TRANSLATORS: %s: why an array of a zarr store cannot be read as features */
        g_print (_ ("  %*s  not readable: %s\n"), width, "", why);
    }
  for (gsize k = 0; k < G_N_ELEMENTS (scans); k++)
    {
      const HrZarrRoleScan *s = scans[k];
      /* TRANSLATORS: labels of "headrank info" on a zarr store; pad to 16 columns */
      const char *label = k == 0 ? _ ("Features:       ") : _ ("Projections:    ");

      if (s->array == NULL)
        /* TRANSLATORS: no array of the store takes the role */
        g_print ("%s%s\n", label, _ ("none"));
      else
        /* TRANSLATORS: an array of a zarr store, its shape and its count of NaN and Inf */
        g_print (_ ("%s%s, %" PRIu64 " × %zu, %" PRIu64 " non-finite\n"), label,
                 s->array[0] != '\0' ? s->array : "/", s->n_rows, s->n_columns, s->n_nonfinite);
    }
}

static void
hr_info_zarr_json (HrZarrStore *store, const HrZarrRoleScan *features,
                   const HrZarrRoleScan *projections)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  const HrZarrRoleScan *scans[] = { features, projections };
  const char *names[] = { "features", "projections" };

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "store");
  json_builder_add_string_value (b, hr_zarr_store_get_path (store));
  json_builder_set_member_name (b, "layout");
  json_builder_add_string_value (b, hr_zarr_layout_to_string (hr_zarr_store_get_layout (store)));
  json_builder_set_member_name (b, "arrays");
  json_builder_begin_array (b);
  for (guint i = 0; i < hr_zarr_store_get_n_arrays (store); i++)
    {
      HrZarrRole role = hr_zarr_array_get_role (store, i);
      const char *why = hr_zarr_array_get_unsupported (store, i);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, hr_zarr_store_get_array_path (store, i));
      json_builder_set_member_name (b, "zarr_format");
      json_builder_add_int_value (b, hr_zarr_array_get_format (store, i));
      for (int m = 0; m < 2; m++)
        {
          const guint64 *v
              = m == 0 ? hr_zarr_array_get_shape (store, i) : hr_zarr_array_get_chunks (store, i);

          json_builder_set_member_name (b, m == 0 ? "shape" : "chunks");
          json_builder_begin_array (b);
          for (guint d = 0; d < hr_zarr_array_get_n_dims (store, i); d++)
            json_builder_add_int_value (b, (gint64)v[d]);
          json_builder_end_array (b);
        }
      json_builder_set_member_name (b, "dtype");
      json_builder_add_string_value (b, hr_zarr_array_get_dtype (store, i));
      json_builder_set_member_name (b, "order");
      json_builder_add_string_value (b, hr_zarr_array_get_fortran_order (store, i) ? "F" : "C");
      json_builder_set_member_name (b, "codecs");
      json_builder_add_string_value (b, hr_zarr_array_get_codecs (store, i));
      json_builder_set_member_name (b, "role");
      if (role == HR_ZARR_ROLE_NONE)
        json_builder_add_null_value (b);
      else
        json_builder_add_string_value (b, hr_zarr_role_to_string (role));
      json_builder_set_member_name (b, "readable");
      json_builder_add_boolean_value (b, why == NULL);
      /* prose for people, translated: programs read "readable" */
      json_builder_set_member_name (b, "unreadable_reason");
      if (why == NULL)
        json_builder_add_null_value (b);
      else
        json_builder_add_string_value (b, why);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  for (gsize k = 0; k < G_N_ELEMENTS (scans); k++)
    {
      json_builder_set_member_name (b, names[k]);
      if (scans[k]->array == NULL)
        {
          json_builder_add_null_value (b);
          continue;
        }
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "array");
      json_builder_add_string_value (b, scans[k]->array);
      json_builder_set_member_name (b, "samples");
      json_builder_add_int_value (b, (gint64)scans[k]->n_rows);
      json_builder_set_member_name (b, "features");
      json_builder_add_int_value (b, (gint64)scans[k]->n_columns);
      json_builder_set_member_name (b, "nonfinite");
      json_builder_add_int_value (b, (gint64)scans[k]->n_nonfinite);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  hr_print_json (b);
}

/* `headrank info STORE`: the arrays, the role each takes, and the features and projections
 * read whole. */
static int
hr_info_zarr (const char *path, gboolean json, GCancellable *cancellable)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (HrZarrStore) store = hr_zarr_store_open (path, &error);
  HrZarrRoleScan features, projections;

  if (store == NULL)
    return hr_user_error (error);
  if (!hr_info_zarr_scan (store, HR_ZARR_ROLE_FEATURES, &features, cancellable, &error)
      || !hr_info_zarr_scan (store, HR_ZARR_ROLE_PROJECTIONS, &projections, cancellable, &error))
    return hr_user_error (error);
  if (json)
    hr_info_zarr_json (store, &features, &projections);
  else
    hr_info_zarr_text (store, &features, &projections);
  return EXIT_SUCCESS;
}

static int
hr_command_info (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = hr_cancellable_new ();
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

  context = hr_command_context (
      "info", _ ("[FILE] — describe a feature stack"),
      _ ("Without FILE, describes the sample stack that comes with headrank.\n"
         "Reads the whole file (a chunk at a time) to count NaN and infinite values.\n"
         "FILE may be a zarr store (a folder, zarr v2 or v3: AnnData, xarray or one array):\n"
         "then lists its arrays and the role each takes, and reads the features and\n"
         "projections."),
      entries, NULL);
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
      sample = hr_find_data ("sample-features.tif");
      if (sample == NULL)
        {
          g_printerr ("headrank: %s\n",
                      _ ("the bundled sample stack is not installed; give a FILE"));
          return EXIT_USER_ERROR;
        }
      path = sample;
    }

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      if (layout_name != NULL)
        return hr_usage_error (context, _ ("--layout applies to TIFF files, not to zarr stores"));
      return hr_info_zarr (path, json, cancellable);
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
  progress = hr_progress_new (_ ("Reading"));
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

/* NaN without its sign bit, so that printf writes "nan" for every undefined value. */
static double
hr_unsigned_nan (double x)
{
  return isnan (x) ? fabs (x) : x;
}

/* -- head options, shared by project and head describe ------------------------------------ */

/* Whether two paths name the same existing file. */
static gboolean
hr_same_file (const char *a, const char *b)
{
  GStatBuf sa, sb;

  return g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

/* An error of the head or of its run: the message names a file, @path when the library's
 * names none of @path, @other and @more (an architecture spec that cannot be parsed, batches
 * too small for batch statistics). */
static int
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
static int
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
static void
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

/* -- the options of a head (project, analyze) -------------------------------------------- */

struct _HrHeadOptions
{
  char *weights;
  char *arch;
  char *prefix;
  char *activation;
  gboolean batch_stats;
  gint64 batch_size;
  char *layout_name;
  HrStackLayout layout;
};

#define HR_BATCH_SIZE_UNSET G_MININT64
#define HR_HEAD_OPTIONS_INIT                                                                       \
  {                                                                                                \
    NULL, NULL, NULL, NULL, FALSE, HR_BATCH_SIZE_UNSET, NULL, HR_STACK_LAYOUT_AUTO                 \
  }

static void
hr_head_options_clear (HrHeadOptions *o)
{
  g_clear_pointer (&o->weights, g_free);
  g_clear_pointer (&o->arch, g_free);
  g_clear_pointer (&o->prefix, g_free);
  g_clear_pointer (&o->activation, g_free);
  g_clear_pointer (&o->layout_name, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HrHeadOptions, hr_head_options_clear)

/* Adds --weights, --arch, --activation, --prefix, --batch-stats, --batch-size and --layout. */
static void
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

/* Checks them once parsed; a usage error's exit status, or 0. */
static int
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
static HrHead *
hr_head_options_load (const HrHeadOptions *o, GCancellable *cancellable, GError **error)
{
  return hr_head_new_from_file_full (o->weights, o->arch, o->prefix, o->activation, cancellable,
                                     error);
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

static HrNormMode
hr_head_options_mode (const HrHeadOptions *o)
{
  return o->batch_stats ? HR_NORM_MODE_BATCH : HR_NORM_MODE_RUNNING;
}

static gsize
hr_head_options_batch_size (const HrHeadOptions *o)
{
  return o->batch_size > 0 ? (gsize)o->batch_size : 0;
}

/* -- project ----------------------------------------------------------------------------- */

/* Prints a user error (one line) and frees it. */
static int
hr_fail (char *message)
{
  g_printerr ("headrank: %s\n", message);
  g_free (message);
  return EXIT_USER_ERROR;
}

static void
hr_project_progress (double fraction, gpointer user_data)
{
  hr_progress_update (user_data, fraction);
}

static int
hr_command_project (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = hr_cancellable_new ();
  g_autoptr (HrHead) head = NULL;
  g_autoptr (HrStackReader) reader = NULL;
  g_autoptr (HrStackWriter) writer = NULL;
  g_autoptr (HrProgress) progress = NULL;
  g_auto (HrHeadOptions) o = HR_HEAD_OPTIONS_INIT;
  g_autofree char *output = NULL, *stage_name = NULL;
  HrStackInfo *info;
  gboolean per_pixel = FALSE;
  int status;
  const char *path;
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
      _ ("FILE — run a projection head over a feature stack"),
      /* TRANSLATORS: the description at the end of "headrank project --help" */
      _ ("Writes the projections (or, with --stage, the output of one layer) of every sample "
         "of FILE as a float32 TIFF: one page of N rows × P columns, or with --per-pixel a "
         "per-pixel ImageJ stack. The file is read a chunk at a time. Ctrl-C, SIGTERM or "
         "SIGHUP stop the run and leave no output file (an older OUT stays as it was)."),
      entries, &o);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if ((status = hr_head_options_check (context, &o)) != 0)
    return status;
  if (argc != 2)
    return hr_usage_error (context, _ ("project takes one FILE"));
  if (o.weights == NULL)
    return hr_usage_error (context, _ ("project needs the head's weights (--weights)"));
  if (output == NULL)
    return hr_usage_error (context, _ ("project needs an output file (--output)"));
  path = argv[1];

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

  reader = hr_stack_reader_new (path, o.layout, cancellable, &error);
  if (reader == NULL)
    return hr_user_error (error);
  info = hr_stack_reader_get_info (reader);
  if (per_pixel && !hr_stack_info_is_per_pixel (info))
    {
      return hr_fail (g_strdup_printf (
          /* TRANSLATORS: %s: the input file, then its layout (matrix, pages, …) */
          _ ("%s: --per-pixel needs a per-pixel stack (layout channels), this one has layout %s"),
          path, hr_enum_nick (HR_TYPE_STACK_LAYOUT, hr_stack_info_get_layout (info))));
    }
  if (hr_stack_reader_get_n_features (reader) != hr_head_get_in_features (head))
    {
      return hr_fail (g_strdup_printf (
          /* TRANSLATORS: %s: the input file, the weights file; %zu: numbers of features */
          _ ("%s: the stack has %zu features, the head in %s takes %zu"), path,
          hr_stack_reader_get_n_features (reader), o.weights, hr_head_get_in_features (head)));
    }
  if (hr_same_file (output, path) || hr_same_file (output, o.weights))
    {
      return hr_fail (g_strdup_printf (
          /* TRANSLATORS: %s is the output file */
          _ ("%s: the output would replace an input file"), output));
    }

  /* TRANSLATORS: label of the progress bar while the head runs */
  progress = hr_progress_new (_ ("Projecting"));
  /* A signal from here on cancels, and the writer removes its temporary file. */
  writer = hr_stack_writer_new (
      output, per_pixel ? HR_STACK_LAYOUT_CHANNELS : HR_STACK_LAYOUT_MATRIX,
      hr_stack_reader_get_n_samples (reader), width, per_pixel ? info : NULL, &error);
  if (writer == NULL)
    return hr_head_error (error, output, NULL, NULL);

  ok = hr_head_project (head, reader, writer, hr_head_options_mode (&o),
                        hr_head_options_batch_size (&o), stage, hr_project_progress, progress,
                        cancellable, &error);
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
      return hr_head_error (error, path, o.weights, output);
    }
  hr_head_note (head, o.weights);
  return EXIT_SUCCESS;
}

/* -- analyze ----------------------------------------------------------------------------- */

/* The bundled sample of "headrank analyze" without FILE: embeddings of cells and the head
 * VisCy had before its issue 139, whose ReLU inflates rank. */
#define HR_SAMPLE_FEATURES "sample-embeddings.tif"
#define HR_SAMPLE_HEAD "head-viscy-v0.safetensors"
#define HR_SAMPLE_ARCH "viscy-v0"
#define HR_SAMPLE_PAIRS "sample-pairs.csv"

/* "64", or "61-64" when the rank is uncertain (ASCII, so that the column stays aligned). */
static char *
hr_rank_cell (HrSpectrum *sp)
{
  guint low, high;

  hr_spectrum_get_rank_range (sp, &low, &high);
  if (low == high)
    return g_strdup_printf ("%u", hr_spectrum_get_rank (sp));
  return g_strdup_printf ("%u-%u", low, high);
}

/* A stage's name in the tables: a hidden stage with its layer's kind, "2 (gelu)". */
static char *
hr_stage_label (HrStage *stage)
{
  if (hr_stage_get_role (stage) != HR_STAGE_ROLE_HIDDEN)
    return g_strdup (hr_stage_get_name (stage));
  return g_strdup_printf ("%s (%s)", hr_stage_get_name (stage),
                          hr_enum_nick (HR_TYPE_LAYER_KIND, hr_stage_get_layer_kind (stage)));
}

/* The second table: the measures the field compares heads with (doc/analysis.md). */
static void
hr_analysis_print_field_measures (HrAnalysis *analysis)
{
  g_print ("\n");
  /* TRANSLATORS: column headings of the second table of "headrank analyze"; keep each
     within the width of its column: 14, 8, 7, 7, 7, 6, 9 and 8 bytes */
  g_print ("%-14s %8s %7s %7s %7s %6s %9s %8s\n", _ ("stage"), _ ("viscy.er"), _ ("RV.er"),
           _ ("s.rank"), _ ("NESum"), _ ("CKA"), _ ("norm.rank"), _ ("lightly"));
  for (guint i = 0; i < hr_analysis_get_n_stages (analysis); i++)
    {
      HrStage *stage = hr_analysis_get_stage (analysis, i);
      HrSpectrum *sp = hr_stage_get_spectrum (stage);
      HrSpectrum *nsp = hr_stage_get_normalized_spectrum (stage);
      g_autofree char *nrank = nsp != NULL ? hr_rank_cell (nsp) : g_strdup ("-");
      g_autofree char *label = hr_stage_label (stage);

      if (sp == NULL)
        continue;
      /* fabs: an undefined measure prints as "nan", never "-nan" */
      g_print ("%-14s %8.2f %7.2f %7.2f %7.2f %6.3f %9s %8.4f\n", label,
               hr_unsigned_nan (hr_spectrum_get_viscy_effective_rank (sp)),
               hr_unsigned_nan (hr_spectrum_get_roy_vetterli_effective_rank (sp)),
               hr_unsigned_nan (hr_spectrum_get_stable_rank (sp)),
               hr_unsigned_nan (hr_spectrum_get_nesum (sp)),
               hr_unsigned_nan (hr_stage_get_cka (stage)), nrank,
               hr_unsigned_nan (hr_moments_get_lightly_std (hr_stage_get_moments (stage))));
    }
  g_print ("%s\n",
           /* TRANSLATORS: the legend under the second table of "headrank analyze"; keep the
              column names as they are translated above */
           _ ("(viscy.er: VisCy's effective rank, uncentred, no ε; RV.er: Roy–Vetterli "
              "effective rank of the centred matrix; s.rank: stable rank of the uncentred matrix; "
              "NESum: Σλ/λ₁; CKA: "
              "linear CKA with the features; norm.rank: rank of the L2-normalised rows, what "
              "the loss sees; lightly: std of the L2-normalised rows, ≈ 1/√d if healthy)"));
}

static void
hr_analysis_print_text (HrAnalysis *analysis, const char *output)
{
  g_auto (GStrv) verdict = hr_analysis_describe_verdict (analysis);

  /* TRANSLATORS: column headings of the table of "headrank analyze"; keep each within the
     width of its column: 14, 8, 5, 9, 7, 8, 6, 14, 6, 6 and 5 bytes (ASCII keeps them aligned);
     "clip" and "all" are what the stage's activation clips (the legend below) */
  g_print ("%-14s %8s %5s %9s %7s %8s %6s %14s %6s %6s %5s\n", _ ("stage"), _ ("samples"),
           _ ("dim"), _ ("rank"), _ ("m.rank"), _ ("eff.rank"), _ ("PR"), _ ("PCs 90/95/99%"),
           _ ("alpha"), _ ("clip"), _ ("all"));
  for (guint i = 0; i < hr_analysis_get_n_stages (analysis); i++)
    {
      HrStage *stage = hr_analysis_get_stage (analysis, i);
      HrMoments *m = hr_stage_get_moments (stage);
      HrSpectrum *sp = hr_stage_get_spectrum (stage);
      g_autoptr (GBytes) zero = hr_moments_get_zero_fraction (m);
      gsize size, d = hr_stage_get_dimension (stage);
      const double *z = g_bytes_get_data (zero, &size);
      double zmean = 0;
      guint all = hr_moments_get_n_dead (m);

      for (gsize j = 0; j < d; j++)
        zmean += z[j] / d;
      /* an activation's own clipping measure (exact zeros for a ReLU, as for the stages
       * that are not activations); report.json's "clipping" */
      if (hr_stage_get_clipping_measure (stage) != NULL
          && !isnan (hr_stage_get_mean_clipped_fraction (stage)))
        {
          zmean = hr_stage_get_mean_clipped_fraction (stage);
          all = hr_stage_get_n_always_clipped (stage);
        }
      g_autofree char *label = hr_stage_label (stage);

      g_print ("%-14s %8llu %5zu ", label, (unsigned long long)hr_moments_get_n_samples (m), d);
      if (sp != NULL)
        {
          g_autofree char *pcs = g_strdup_printf ("%u/%u/%u", hr_spectrum_get_components (sp, 0.90),
                                                  hr_spectrum_get_components (sp, 0.95),
                                                  hr_spectrum_get_components (sp, 0.99));

          g_autofree char *rank = hr_rank_cell (sp);

          /* fabs: an undefined measure (values all 0) prints as "nan", never "-nan" */
          g_print ("%9s %7u %8.2f %6.2f %14s %6.2f ", rank, hr_spectrum_get_matrix_rank (sp),
                   hr_unsigned_nan (hr_spectrum_get_effective_rank (sp)),
                   hr_unsigned_nan (hr_spectrum_get_participation_ratio (sp)), pcs,
                   hr_unsigned_nan (hr_spectrum_get_alpha (sp, NULL, NULL, NULL)));
        }
      else
        g_print ("%9s %7s %8s %6s %14s %6s ", "-", "-", "-", "-", "-", "-");
      g_print ("%6.3f %5u\n", zmean, all);
    }
  g_print (
      "%s\n",
      /* TRANSLATORS: the legend under the table of "headrank analyze"; keep the column
         names as they are translated above */
      /* xgettext:no-c-format */
      _ ("(rank: number of singular values of the centred matrix above the tolerance of "
         "what the numbers resolve, a range low-high when singular values lie between the "
         "noise floor and the tolerance; m.rank: numpy.linalg.matrix_rank's rule on the uncentred "
         "matrix, for comparison with numpy; eff.rank: RankMe; PR: "
         "participation "
         "ratio; PCs: principal components for 90/95/99 % of the variance; alpha: "
         "eigenspectrum decay; clip: mean fraction per unit of the samples in the region "
         "where the stage's activation clips: exactly 0 after ReLU (zeros) and for stages "
         "that are not activations, below 0 after GELU, SiLU and LeakyReLU, |y| > tanh 2 "
         "≈ 0.964 after Tanh; all: units in that region for every sample, after ReLU the "
         "dead units)"));
  hr_analysis_print_field_measures (analysis);
  if (hr_analysis_get_contrastive (analysis) != NULL)
    {
      HrContrastive *c = hr_analysis_get_contrastive (analysis);

      g_print ("\n");
      /* TRANSLATORS: the contrastive measures of "headrank analyze"; %zu pairs, then the
         alignment, uniformity, NT-Xent loss with its temperature, triplet loss with its
         margin */
      g_print (_ ("Pairs: %zu; alignment %.4f, uniformity %.4f, NT-Xent (τ = %g) %.4f, triplet "
                  "(margin %g) %.4f\n"),
               hr_contrastive_get_n_pairs (c), hr_contrastive_get_alignment (c),
               hr_contrastive_get_uniformity (c), hr_contrastive_get_temperature (c),
               hr_contrastive_get_ntxent (c), hr_contrastive_get_margin (c),
               hr_contrastive_get_triplet (c));
      if (!isnan (hr_analysis_get_lidar (analysis)))
        /* TRANSLATORS: LiDAR, a measure of the pairs (Thilak et al.), stays in English */
        g_print (_ ("LiDAR of the pairs: %.2f\n"), hr_analysis_get_lidar (analysis));
      else if (hr_contrastive_get_n_pairs (c) >= 2)
        {
          /* The library leaves LiDAR out when its five D × D float64 matrices pass the
           * memory limit (hr_analysis_get_lidar()): say so rather than print nothing. */
          HrStage *last = hr_analysis_get_stage (analysis, hr_analysis_get_n_stages (analysis) - 1);
          guint64 d = hr_stage_get_dimension (last);
          guint64 limit = hr_analysis_get_memory_limit (analysis);

          if (d > 0 && d <= G_MAXUINT64 / 40 / d && 40 * d * d > limit)
            {
              g_autofree char *need = g_format_size_full (40 * d * d, G_FORMAT_SIZE_IEC_UNITS);
              g_autofree char *have = g_format_size_full (limit, G_FORMAT_SIZE_IEC_UNITS);

              /* TRANSLATORS: LiDAR stays in English; the sizes are the memory needed by five
                 D × D matrices and the memory limit (--memory-limit) */
              g_print (_ ("LiDAR of the pairs: left out: its five %llu × %llu matrices need %s, "
                          "more than the memory limit of %s (--memory-limit)\n"),
                       (unsigned long long)d, (unsigned long long)d, need, have);
            }
        }
    }
  g_print ("\n");
  for (guint i = 0; verdict[i] != NULL; i++)
    g_print ("%s\n", verdict[i]);
  if (output != NULL)
    /* TRANSLATORS: %s is the output folder */
    g_print (_ ("\nReport, tables and plots written to %s\n"), output);
}

static void
hr_analyze_progress (double fraction, gpointer user_data)
{
  hr_progress_update (user_data, fraction);
}

static gboolean
hr_parse_precision (const char *name, HrPrecision *precision)
{
  GEnumClass *klass = g_type_class_ref (HR_TYPE_PRECISION);
  GEnumValue *value = g_enum_get_value_by_nick (klass, name);

  if (value != NULL)
    *precision = value->value;
  g_type_class_unref (klass);
  return value != NULL;
}

/* The files of "analyze FILE…": the arguments in order, a pattern that names no file
 * (quoted, so the shell left it) replaced by the files it matches, in name order. */
static GStrv
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

/* One file as a TIFF source; several files, a folder or a pattern as one stack. */
static HrSource *
hr_open_inputs (const char *const *paths, HrStackLayout layout, GCancellable *cancellable,
                GError **error)
{
  if (paths[0] != NULL && paths[1] == NULL && !g_file_test (paths[0], G_FILE_TEST_IS_DIR))
    return HR_SOURCE (hr_stack_reader_new (paths[0], layout, cancellable, error));
  return hr_concat_source_new_for_paths (paths, layout, cancellable, error);
}

/* --projections and --positives: a file, or a folder or a quoted pattern read as one
 * stack, as the features are. */
static HrSource *
hr_open_stack (const char *path, HrStackLayout layout, GCancellable *cancellable, GError **error)
{
  char *args[] = { NULL, (char *)path, NULL };
  g_auto (GStrv) paths = NULL;

  if (path == NULL)
    return NULL;
  paths = hr_expand_inputs (2, args, error);
  return paths != NULL ? hr_open_inputs ((const char *const *)paths, layout, cancellable, error)
                       : NULL;
}

/* The sources of "analyze STORE": the features (@features_array, else by the store's
 * layout), and the projections (@projections_array, else by the layout unless a head
 * computes them; none when the layout has none). */
static gboolean
hr_analyze_open_zarr (const char *path, const char *features_array, const char *projections_array,
                      gboolean have_head, HrSource **features, HrSource **projections,
                      GError **error)
{
  g_autoptr (HrZarrStore) store = NULL;

  *features = hr_zarr_source_new (path, features_array, error);
  if (*features == NULL)
    return FALSE;
  if (projections_array == NULL && !have_head)
    {
      store = hr_zarr_store_open (path, error);
      if (store == NULL)
        return FALSE;
      projections_array = hr_zarr_store_get_role_path (store, HR_ZARR_ROLE_PROJECTIONS, error);
      if (projections_array == NULL)
        return error == NULL || *error == NULL;
    }
  if (projections_array != NULL)
    {
      *projections = hr_zarr_source_new (path, projections_array, error);
      if (*projections == NULL)
        return FALSE;
    }
  return TRUE;
}

static int
hr_command_analyze (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = hr_cancellable_new ();
  g_autoptr (HrHead) head = NULL;
  g_autoptr (HrSource) reader = NULL, projections = NULL, positives = NULL;
  g_autofree char *features_array = NULL;
  g_auto (GStrv) inputs = NULL;
  g_autoptr (HrAnalysis) analysis = NULL;
  g_autoptr (HrProgress) progress = NULL;
  g_auto (HrHeadOptions) o = HR_HEAD_OPTIONS_INIT;
  g_autofree char *output = NULL;
  g_autofree char *projections_path = NULL, *pairs = NULL, *positives_path = NULL;
  g_autofree char *precision_name = NULL, *sample = NULL, *sample_head = NULL;
  g_autofree char *sample_pairs = NULL, *nonfinite_name = NULL, *memory_limit_text = NULL;
  HrNonfinitePolicy nonfinite = HR_NONFINITE_POLICY_DROP;
  g_auto (GStrv) stages = NULL;
  HrPrecision precision = HR_PRECISION_AUTO;
  gboolean json = FALSE, linear = FALSE, standardize = FALSE;
  double memory_limit = 0; /* GiB; 0: not given, the default */
  gint64 pair_batch = 256;
  int status;
  double temperature = 0.2, margin = 0.5;
  const char *path;
  gboolean ok;
  GOptionEntry entries[]
      = { { "projections", 'P', 0, G_OPTION_ARG_FILENAME, &projections_path,
            /* TRANSLATORS: description of --projections */
            N_ ("Projections computed elsewhere, sample by sample with FILE, analysed instead "
                "of running a head (with a zarr store FILE: an array of the store; default: "
                "by its layout)"),
            N_ ("FILE") },
          { "features", 0, 0, G_OPTION_ARG_STRING, &features_array,
            /* TRANSLATORS: description of --features; the array names stay in English */
            N_ ("The array of a zarr store FILE that holds the features (default: by the "
                "store's layout: X or obsm/X_backbone of AnnData, features of xarray)"),
            /* TRANSLATORS: placeholder for an array's path inside a zarr store */
            N_ ("ARRAY") },
          { "pairs", 0, 0, G_OPTION_ARG_FILENAME, &pairs,
            /* TRANSLATORS: description of --pairs */
            N_ ("Positive pairs: a CSV file of 0-based sample indices anchor,positive[,negative] "
                "for the contrastive measures"),
            N_ ("PAIRS") },
          { "positives", 0, 0, G_OPTION_ARG_FILENAME, &positives_path,
            /* TRANSLATORS: description of --positives */
            N_ ("Positive pairs as a second stack: sample i is the positive of sample i of "
                "FILE (the same kind of stack as FILE)"),
            N_ ("FILE") },
          { "stage", 's', 0, G_OPTION_ARG_STRING_ARRAY, &stages,
            /* TRANSLATORS: description of --stage; "all" stays in English */
            N_ ("Also compute the spectrum of this layer's output (repeatable; “all” for "
                "every layer)"),
            N_ ("NAME") },
          { "temperature", 0, 0, G_OPTION_ARG_DOUBLE, &temperature,
            /* TRANSLATORS: description of --temperature */
            N_ ("NT-Xent temperature (default 0.2)"), N_ ("TAU") },
          { "margin", 0, 0, G_OPTION_ARG_DOUBLE, &margin,
            /* TRANSLATORS: description of --margin */
            N_ ("Triplet margin (default 0.5)"), N_ ("M") },
          { "pair-batch", 0, 0, G_OPTION_ARG_INT64, &pair_batch,
            /* TRANSLATORS: description of --pair-batch */
            N_ ("Pairs per batch for the in-batch contrastive measures (default 256)"), N_ ("N") },
          { "precision", 0, 0, G_OPTION_ARG_STRING, &precision_name,
            /* TRANSLATORS: description of --precision; the values stay in English */
            N_ ("How covariances are accumulated: auto, float64 or float32-products (default: "
                "auto, which is float64; float32 products raise the rank tolerance to their "
                "error bound, and the verdict says so)"),
            N_ ("PRECISION") },
          { "nonfinite", 0, 0, G_OPTION_ARG_STRING, &nonfinite_name,
            /* TRANSLATORS: description of --nonfinite; the values stay in English */
            N_ ("What to do with samples that hold NaN or infinite values: drop (leave them "
                "out and say how many; the default) or error (stop at the first)"),
            N_ ("POLICY") },
          { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
            /* TRANSLATORS: description of --output of "headrank analyze" */
            N_ ("The folder for the report, tables and plots (default: headrank-report, or "
                "none with --json)"),
            N_ ("DIR") },
          { "standardize", 0, 0, G_OPTION_ARG_NONE, &standardize,
            /* TRANSLATORS: description of --standardize of "headrank analyze" */
            N_ ("Spectra of the standardised samples (the correlation matrix), as "
                "StandardScaler before PCA: for dimensions in different units"),
            NULL },
          { "memory-limit", 0, 0, G_OPTION_ARG_STRING, &memory_limit_text,
            /* TRANSLATORS: description of --memory-limit of "headrank analyze" */
            N_ ("The memory the spectra may take, in GiB (default: half the physical memory); "
                "a larger need stops the run before it starts"),
            N_ ("GIB") },
          { "linear", 0, 0, G_OPTION_ARG_NONE, &linear,
            /* TRANSLATORS: description of --linear of "headrank analyze" */
            N_ ("Draw the explained-variance curves on linear axes (default: logarithmic)"), NULL },
          { "json", 0, 0, G_OPTION_ARG_NONE, &json,
            /* TRANSLATORS: description of --json of "headrank analyze" */
            N_ ("Print the report as JSON on standard output"), NULL },
          G_OPTION_ENTRY_NULL };

  context = hr_command_context (
      "analyze",
      /* TRANSLATORS: the usage line of "headrank analyze" */
      _ ("[FILE…] — rank diagnostics of a projection head"),
      /* TRANSLATORS: the description at the end of "headrank analyze --help" */
      _ ("Runs FILE through the head of --weights in one pass and reports, for the features, "
         "the outputs of the head's activation layers and the projections: the PCA spectrum, "
         "rank (singular values of the centred matrix above the tolerance of what the numbers "
         "resolve: their rounding, the head's and the accumulation's, independent of the "
         "number of samples; a range where singular values lie near it), matrix_rank "
         "(numpy.linalg.matrix_rank's rule on the uncentred matrix, for comparison with "
         "numpy), effective rank (RankMe), "
         "participation ratio, components for 90/95/99 % of the variance, α (power-law decay), "
         "per-sample and per-dimension statistics; a second table of VisCy's effective rank, "
         "Roy–Vetterli's, stable rank, NESum, linear CKA with the features, the rank of the "
         "L2-normalised projections and lightly's std; with pairs, alignment, uniformity, "
         "NT-Xent, triplet loss and LiDAR; and a verdict: does the head reduce rank, does its ReLU "
         "clip, did "
         "it collapse. Without a head, FILE is analysed with the projections of --projections, "
         "or alone. Several FILEs, a folder (its .tif and .tiff files in name order) or a quoted "
         "pattern such as 'fov*.tif' are analysed as one stack, samples numbered across the "
         "files, which must have the same number of features; report.json names each file's "
         "range. --projections and --positives take a folder or a pattern too. Without FILE, "
         "analyses the bundled sample with the bundled head. Writes "
         "report.json, per_sample.csv, per_dimension.csv and plots (PNG and SVG) into the "
         "output folder, which is replaced as a whole: it must be new, empty or hold an "
         "older report. Ctrl-C, SIGTERM or SIGHUP stop the run and leave the older report "
         "as it was."),
      entries, &o);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if ((status = hr_head_options_check (context, &o)) != 0)
    return status;
  if (nonfinite_name != NULL)
    {
      GEnumClass *klass = g_type_class_ref (HR_TYPE_NONFINITE_POLICY);
      GEnumValue *value = g_enum_get_value_by_nick (klass, nonfinite_name);

      if (value != NULL)
        nonfinite = value->value;
      g_type_class_unref (klass);
      if (value == NULL)
        {
          g_autofree char *message = g_strdup_printf (
              /* TRANSLATORS: %s is the value given to --nonfinite; the values stay in English */
              _ ("unknown non-finite policy “%s” (drop or error)"), nonfinite_name);

          return hr_usage_error (context, message);
        }
    }
  if (precision_name != NULL && !hr_parse_precision (precision_name, &precision))
    {
      g_autofree char *message = g_strdup_printf (
          /* TRANSLATORS: %s is the value given to --precision; the values stay in English */
          _ ("unknown precision “%s” (auto, float64 or float32-products)"), precision_name);
      return hr_usage_error (context, message);
    }
  if (o.weights != NULL && projections_path != NULL)
    return hr_usage_error (context, _ ("give either --weights or --projections, not both"));
  if (pairs != NULL && positives_path != NULL)
    return hr_usage_error (context, _ ("give either --pairs or --positives, not both"));
  if (o.batch_stats && projections_path != NULL)
    return hr_usage_error (context,
                           _ ("--batch-stats needs a head (--weights), not --projections"));
  if (pair_batch < 2)
    return hr_usage_error (context, _ ("--pair-batch takes a number of at least 2"));
  if (!(temperature > 0) || !isfinite (temperature))
    return hr_usage_error (context, _ ("--temperature takes a positive number"));
  if (!(margin >= 0) || !isfinite (margin))
    return hr_usage_error (context, _ ("--margin takes a number of at least 0"));
  /* 0 bytes stand for the default in hr_analysis_set_memory_limit(): a given value that
   * rounds to less than a byte is refused, not taken as half the physical memory. */
  if (memory_limit_text != NULL)
    {
      char *end = NULL;

      memory_limit = g_strtod (memory_limit_text, &end);
      if (end == memory_limit_text || *end != '\0' || !isfinite (memory_limit)
          || !(memory_limit * 1073741824.0 >= 1) || memory_limit > 1e9)
        return hr_usage_error (
            context, _ ("--memory-limit takes a number of GiB, more than 0 and at most 1e9"));
    }
  if (output == NULL && !json)
    output = g_strdup ("headrank-report");
  if (output != NULL && g_file_test (output, G_FILE_TEST_EXISTS)
      && !g_file_test (output, G_FILE_TEST_IS_DIR))
    /* TRANSLATORS: %s is the output folder given with --output */
    return hr_fail (g_strdup_printf (_ ("%s exists and is not a folder"), output));

  if (argc >= 2)
    {
      inputs = hr_expand_inputs (argc, argv, &error);
      if (inputs == NULL)
        return hr_user_error (error);
      path = inputs[0];
    }
  else
    {
      sample = hr_find_data (HR_SAMPLE_FEATURES);
      sample_head = hr_find_data (HR_SAMPLE_HEAD);
      sample_pairs = hr_find_data (HR_SAMPLE_PAIRS);
      if (sample == NULL || sample_head == NULL)
        return hr_fail (g_strdup (_ ("the bundled sample is not installed; give a FILE")));
      path = sample;
      if (o.weights == NULL && projections_path == NULL)
        {
          o.weights = g_strdup (sample_head);
          if (o.arch == NULL)
            o.arch = g_strdup (HR_SAMPLE_ARCH);
        }
      if (pairs == NULL && positives_path == NULL && sample_pairs != NULL)
        pairs = g_strdup (sample_pairs);
    }

  if (o.batch_stats && o.weights == NULL)
    return hr_usage_error (context, _ ("--batch-stats needs a head (--weights)"));
  if (o.weights != NULL)
    {
      head = hr_head_options_load (&o, cancellable, &error);
      if (head == NULL)
        return hr_head_open_error (context, error, o.arch, o.activation, o.weights);
      hr_head_note_override (head, o.arch, o.weights);
    }
  if (inputs == NULL)
    inputs = g_strdupv ((char *[]){ (char *)path, NULL });
  if (inputs[1] == NULL && hr_zarr_is_store (inputs[0]))
    {
      /* a zarr store: features and projections are arrays in it */
      if (!hr_analyze_open_zarr (inputs[0], features_array, projections_path, o.weights != NULL,
                                 &reader, &projections, &error))
        return hr_user_error (error);
    }
  else
    {
      if (features_array != NULL)
        return hr_usage_error (context, _ ("--features names an array of a zarr store"));
      reader = hr_open_inputs ((const char *const *)inputs, o.layout, cancellable, &error);
      if (reader == NULL)
        return hr_user_error (error);
      if (projections_path != NULL)
        {
          projections = hr_open_stack (projections_path, o.layout, cancellable, &error);
          if (projections == NULL)
            return hr_user_error (error);
        }
    }
  positives = hr_open_stack (positives_path, o.layout, cancellable, &error);
  if (positives_path != NULL && positives == NULL)
    return hr_user_error (error);
  if (head != NULL && hr_source_get_n_features (reader) != hr_head_get_in_features (head))
    {
      return hr_fail (g_strdup_printf (
          _ ("%s: the stack has %zu features, the head in %s takes %zu"), path,
          hr_source_get_n_features (reader), o.weights, hr_head_get_in_features (head)));
    }

  analysis = hr_analysis_new_for_source (reader);
  hr_analysis_set_head (analysis, head);
  hr_analysis_set_projections_source (analysis, projections);
  hr_analysis_set_positives_source (analysis, positives);
  hr_analysis_set_pairs_file (analysis, pairs);
  hr_analysis_set_norm_mode (analysis, hr_head_options_mode (&o));
  hr_analysis_set_batch_size (analysis, hr_head_options_batch_size (&o));
  hr_analysis_set_precision (analysis, precision);
  hr_analysis_set_nonfinite_policy (analysis, nonfinite);
  hr_analysis_set_spectral_stages (analysis, (const char *const *)stages);
  hr_analysis_set_contrastive_parameters (analysis, (gsize)pair_batch, temperature, margin);
  hr_analysis_set_log_plots (analysis, !linear);
  hr_analysis_set_standardize (analysis, standardize);
  if (memory_limit_text != NULL)
    hr_analysis_set_memory_limit (analysis, (guint64)(memory_limit * 1073741824.0));

  /* TRANSLATORS: label of the progress bar while the analysis runs */
  progress = hr_progress_new (_ ("Analysing"));
  ok = hr_analysis_run (analysis, hr_analyze_progress, progress, cancellable, &error);
  if (ok && output != NULL)
    {
      hr_progress_update (progress, 1.0);
      /* the report is the output: once it is in place, the run is done */
      ok = hr_analysis_write_report (analysis, output, cancellable, &error);
    }
  else if (ok)
    /* standard output is the output: a signal before it is printed stops the run */
    ok = !g_cancellable_set_error_if_cancelled (cancellable, &error);
  hr_progress_update (progress, 1.0);
  g_clear_pointer (&progress, hr_progress_free);
  if (!ok)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_printerr ("headrank: %s\n", _ ("interrupted"));
          return hr_exit_interrupted ();
        }
      return hr_head_error (error, path, o.weights, pairs != NULL ? pairs : output);
    }
  if (json)
    {
      g_autofree char *text = hr_analysis_to_json (analysis, TRUE);
      g_print ("%s\n", text);
    }
  else
    hr_analysis_print_text (analysis, output);
  return EXIT_SUCCESS;
}

/* -- head describe, head presets --------------------------------------------------------- */

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

static int
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

static int
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
