/* headrank info: the layout, shape, format and non-finite values of a feature stack, or the
 * arrays of a zarr store and the role each takes */
#include "config.h"

#include "headrank-tool.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "headrank-progress.h"
#include "hr-json.h"
#include "hr-zarr.h"

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

static void hr_info_print_nonfinite (const HrInfoResult *r);

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
  hr_info_print_nonfinite (r);
}

/* The non-finite line of the text, and where the first are. */
static void
hr_info_print_nonfinite (const HrInfoResult *r)
{
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

/* "nonfinite": its count and the (sample, feature) of the first. */
static void
hr_info_json_nonfinite (JsonBuilder *b, const HrInfoResult *r)
{
  json_builder_set_member_name (b, "nonfinite");
  json_builder_begin_object (b);
  hr_json_add_int (b, "count", (gint64)r->n_nonfinite);
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
}

static void
hr_info_print_json (const HrInfoResult *r)
{
  HrStackInfo *info = r->info;
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  hr_json_add_string (b, "file", r->path);
  hr_json_add_string (b, "layout",
                      hr_enum_nick (HR_TYPE_STACK_LAYOUT, hr_stack_info_get_layout (info)));
  hr_json_add_int (b, "samples", (gint64)r->n_samples);
  hr_json_add_int (b, "features", (gint64)r->n_features);
  hr_json_add_string (b, "sample_format",
                      hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, hr_stack_info_get_sample_format (info)));
  hr_json_add_string (b, "compression", hr_stack_info_get_compression (info));
  hr_json_add_int (b, "pages", hr_stack_info_get_n_pages (info));
  hr_json_add_boolean (b, "tiled", hr_stack_info_get_tiled (info));
  hr_json_add_string (b, "byte_order", hr_stack_info_get_big_endian (info) ? "big" : "little");
  hr_json_add_boolean (b, "bigtiff", hr_stack_info_get_bigtiff (info));
  hr_json_add_string (b, "metadata", hr_stack_info_get_metadata_kind (info));
  hr_json_add_boolean (b, "per_pixel", hr_stack_info_is_per_pixel (info));
  json_builder_set_member_name (b, "geometry");
  json_builder_begin_object (b);
  hr_json_add_int (b, "width", hr_stack_info_get_width (info));
  hr_json_add_int (b, "height", hr_stack_info_get_height (info));
  hr_json_add_int (b, "depth", hr_stack_info_get_depth (info));
  hr_json_add_int (b, "frames", hr_stack_info_get_frames (info));
  hr_json_add_int (b, "channels", hr_stack_info_get_channels (info));
  json_builder_end_object (b);
  hr_info_json_nonfinite (b, r);
  json_builder_end_object (b);

  hr_print_json (b);
}

/* The stack of several files: each part (its file, samples numbered across the files, how
 * it is stored, its non-finite values), then the whole. */
static void
hr_info_print_parts_text (HrConcatSource *concat, const HrInfoResult *r)
{
  guint n = hr_concat_source_get_n_parts (concat);

  /* TRANSLATORS: label of "headrank info" over several files (pad to 16 columns like the
     others); %u: the number of files */
  g_print (_ ("Files:          %u, read as one stack\n"), n);
  for (guint i = 0; i < n; i++)
    {
      HrSource *part = hr_concat_source_get_part (concat, i);
      HrStackInfo *info = hr_source_get_info (part);
      guint64 first = hr_concat_source_get_part_start (concat, i);
      guint64 count = hr_concat_source_get_part_start (concat, i + 1) - first;

      /* TRANSLATORS: one file of several in "headrank info": the range of its samples
         (numbered across the files), their count, the file, its layout, sample format and
         compression, and its NaN and infinite values */
      g_print (_ ("  samples %" PRIu64 "–%" PRIu64 " (%" PRIu64 "): %s; %s, %s, compression %s; "
                  "%" PRIu64 " non-finite\n"),
               first, count > 0 ? first + count - 1 : first, count, hr_source_get_name (part),
               hr_enum_nick (HR_TYPE_STACK_LAYOUT, hr_stack_info_get_layout (info)),
               hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, hr_stack_info_get_sample_format (info)),
               hr_stack_info_get_compression (info), hr_source_get_n_nonfinite (part));
    }
  g_print (_ ("Samples:        %zu\n"), r->n_samples);
  g_print (_ ("Features:       %zu\n"), r->n_features);
  g_print (_ ("Sample format:  %s\n"),
           hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, hr_stack_info_get_sample_format (r->info)));
  hr_info_print_nonfinite (r);
}

static void
hr_info_print_parts_json (HrConcatSource *concat, const HrInfoResult *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint n = hr_concat_source_get_n_parts (concat);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "parts");
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    {
      HrSource *part = hr_concat_source_get_part (concat, i);
      HrStackInfo *info = hr_source_get_info (part);
      guint64 first = hr_concat_source_get_part_start (concat, i);

      json_builder_begin_object (b);
      hr_json_add_string (b, "file", hr_source_get_name (part));
      hr_json_add_int (b, "first_sample", (gint64)first);
      hr_json_add_int (b, "samples",
                       (gint64)(hr_concat_source_get_part_start (concat, i + 1) - first));
      hr_json_add_string (b, "layout",
                          hr_enum_nick (HR_TYPE_STACK_LAYOUT, hr_stack_info_get_layout (info)));
      hr_json_add_string (
          b, "sample_format",
          hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, hr_stack_info_get_sample_format (info)));
      hr_json_add_string (b, "compression", hr_stack_info_get_compression (info));
      hr_json_add_int (b, "nonfinite", (gint64)hr_source_get_n_nonfinite (part));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  hr_json_add_int (b, "samples", (gint64)r->n_samples);
  hr_json_add_int (b, "features", (gint64)r->n_features);
  hr_json_add_string (
      b, "sample_format",
      hr_enum_nick (HR_TYPE_SAMPLE_FORMAT, hr_stack_info_get_sample_format (r->info)));
  hr_info_json_nonfinite (b, r);
  json_builder_end_object (b);

  hr_print_json (b);
}

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
      g_set_error (error, HR_STACK_ERROR, HR_STACK_ERROR_NO_MEMORY, "%s: %s",
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
  hr_json_add_string (b, "store", hr_zarr_store_get_path (store));
  hr_json_add_string (b, "layout", hr_zarr_layout_to_string (hr_zarr_store_get_layout (store)));
  json_builder_set_member_name (b, "arrays");
  json_builder_begin_array (b);
  for (guint i = 0; i < hr_zarr_store_get_n_arrays (store); i++)
    {
      HrZarrRole role = hr_zarr_array_get_role (store, i);
      const char *why = hr_zarr_array_get_unsupported (store, i);

      json_builder_begin_object (b);
      hr_json_add_string (b, "path", hr_zarr_store_get_array_path (store, i));
      hr_json_add_int (b, "zarr_format", hr_zarr_array_get_format (store, i));
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
      hr_json_add_string (b, "dtype", hr_zarr_array_get_dtype (store, i));
      hr_json_add_string (b, "order", hr_zarr_array_get_fortran_order (store, i) ? "F" : "C");
      hr_json_add_string (b, "codecs", hr_zarr_array_get_codecs (store, i));
      json_builder_set_member_name (b, "role");
      if (role == HR_ZARR_ROLE_NONE)
        json_builder_add_null_value (b);
      else
        json_builder_add_string_value (b, hr_zarr_role_to_string (role));
      hr_json_add_boolean (b, "readable", why == NULL);
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
      hr_json_add_string (b, "array", scans[k]->array);
      hr_json_add_int (b, "samples", (gint64)scans[k]->n_rows);
      hr_json_add_int (b, "features", (gint64)scans[k]->n_columns);
      hr_json_add_int (b, "nonfinite", (gint64)scans[k]->n_nonfinite);
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

/* Whether @dir holds a .tif or .tiff file or a zarr store (that a concatenation would
 * read). */
static gboolean
hr_folder_has_parts (const char *dir)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *entry;

  while (handle != NULL && (entry = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *lower = g_ascii_strdown (entry, -1);
      g_autofree char *child = g_build_filename (dir, entry, NULL);

      if (entry[0] != '.'
          && (g_str_has_suffix (lower, ".tif") || g_str_has_suffix (lower, ".tiff")
              || hr_zarr_is_store (child)))
        return TRUE;
    }
  return FALSE;
}

int
hr_command_info (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = hr_cancellable_new ();
  g_autoptr (HrSource) source = NULL;
  g_auto (GStrv) inputs = NULL;
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
      "info", _ ("[FILE…] — describe a feature stack"),
      _ ("Without FILE, describes the sample stack that comes with headrank.\n"
         "Reads the whole file (a chunk at a time) to count NaN and infinite values.\n"
         "Several FILEs (TIFF files or zarr stores), a folder of .tif and .tiff files and\n"
         "zarr stores (in name order) or a quoted\n"
         "pattern such as 'fov*.tif' are read as one stack, as analyze reads them: lists\n"
         "each file with the range of its samples (numbered across the files), then the\n"
         "total; the files must have the same number of features.\n"
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
  if (argc >= 2)
    {
      inputs = hr_expand_inputs (argc, argv, &error);
      if (inputs == NULL)
        return hr_user_error (error);
    }
  else
    {
      sample = hr_find_data ("sample-features.tif");
      if (sample == NULL)
        {
          g_printerr ("headrank: %s\n",
                      _ ("the bundled sample stack is not installed; give a FILE"));
          return EXIT_USER_ERROR;
        }
      inputs = g_strdupv ((char *[]){ sample, NULL });
    }
  path = inputs[0];

  /* One folder: a zarr store; else its TIFF files as one stack (a folder of neither is
   * refused as not a store). */
  if (inputs[1] == NULL && g_file_test (path, G_FILE_TEST_IS_DIR)
      && (hr_zarr_is_store (path) || !hr_folder_has_parts (path)))
    {
      if (layout_name != NULL)
        return hr_usage_error (context, _ ("--layout applies to TIFF files, not to zarr stores"));
      return hr_info_zarr (path, json, cancellable);
    }

  source = hr_open_inputs ((const char *const *)inputs, layout, cancellable, &error);
  if (source == NULL)
    return hr_user_error (error);

  n_samples = hr_source_get_n_samples (source);
  chunk = hr_source_get_preferred_chunk (source);
  rows = g_try_new (float, chunk *hr_source_get_n_features (source));
  if (rows == NULL)
    {
      g_printerr ("headrank: %s: %s\n", path, _ ("out of memory"));
      return EXIT_USER_ERROR;
    }
  /* TRANSLATORS: label of the progress bar while the file is read */
  progress = hr_progress_new (_ ("Reading"));
  do
    {
      if (!hr_source_read_into (source, rows, chunk, &n_read, cancellable, &error))
        return hr_user_error (error);
      hr_progress_update (progress, (double)hr_source_get_position (source) / n_samples);
    }
  while (n_read > 0);
  g_clear_pointer (&progress, hr_progress_free);

  result.path = path;
  result.info = hr_source_get_info (source);
  result.n_samples = n_samples;
  result.n_features = hr_source_get_n_features (source);
  result.n_nonfinite = hr_source_get_n_nonfinite (source);
  result.positions = hr_source_get_nonfinite_positions (source, &result.n_positions);
  if (HR_IS_CONCAT_SOURCE (source) && json)
    hr_info_print_parts_json (HR_CONCAT_SOURCE (source), &result);
  else if (HR_IS_CONCAT_SOURCE (source))
    hr_info_print_parts_text (HR_CONCAT_SOURCE (source), &result);
  else if (json)
    hr_info_print_json (&result);
  else
    hr_info_print_text (&result);
  return EXIT_SUCCESS;
}
