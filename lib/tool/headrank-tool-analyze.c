/* headrank analyze: rank diagnostics of every stage of a projection head */
#include "config.h"

#include "headrank-tool.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "headrank-progress.h"
#include "headrank-table.h"
#include "hr-stage-text.h"
#include "hr-zarr.h"

/* NaN without its sign bit, so that printf writes "nan" for every undefined value. */
static double
hr_unsigned_nan (double x)
{
  return isnan (x) ? fabs (x) : x;
}

/* The bundled sample of "headrank analyze" without FILE: embeddings of cells and the head
 * VisCy had before its issue 139, whose ReLU inflates rank. */
#define HR_SAMPLE_FEATURES "sample-embeddings.tif"
#define HR_SAMPLE_HEAD "head-viscy-v0.safetensors"
#define HR_SAMPLE_ARCH "viscy-v0"
#define HR_SAMPLE_PAIRS "sample-pairs.csv"

/* Prints @text wrapped to @width, with a newline. */
static void
hr_print_wrapped (const char *text, guint width)
{
  g_autofree char *wrapped = hr_wrap_text (text, width);

  g_print ("%s\n", wrapped);
}

/* Prints the formatted text wrapped to @width, with a newline. */
static void G_GNUC_PRINTF (2, 3) hr_print_wrapped_printf (guint width, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  hr_print_wrapped (text, width);
}

/* The second table: the measures the field compares heads with (doc/analysis.md). */
static void
hr_analysis_print_field_measures (HrAnalysis *analysis, guint width)
{
  /* TRANSLATORS: column headings of the second table of "headrank analyze"; short words
     keep the table narrow (it is split to fit the terminal, 80 columns for a pipe) */
  const char *headers[] = { _ ("stage"), _ ("viscy.er"), _ ("RV.er"),     _ ("s.rank"),
                            _ ("NESum"), _ ("CKA"),      _ ("norm.rank"), _ ("lightly") };
  g_autoptr (HrTable) table = hr_table_new (G_N_ELEMENTS (headers), headers);

  g_print ("\n");
  for (guint i = 0; i < hr_analysis_get_n_stages (analysis); i++)
    {
      HrStage *stage = hr_analysis_get_stage (analysis, i);
      HrSpectrum *sp = hr_stage_get_spectrum (stage);
      HrSpectrum *nsp = hr_stage_get_normalized_spectrum (stage);
      g_autofree char *nrank = nsp != NULL ? hr_rank_range_text (nsp, "-") : g_strdup ("-");
      g_autofree char *label = hr_stage_label (stage);
      g_autofree char *ver = NULL, *rv = NULL, *sr = NULL, *nesum = NULL, *cka = NULL;
      g_autofree char *lightly = NULL;

      if (sp == NULL)
        continue;
      /* hr_unsigned_nan: an undefined measure prints as "nan", never "-nan" */
      ver = g_strdup_printf ("%.2f", hr_unsigned_nan (hr_spectrum_get_viscy_effective_rank (sp)));
      rv = g_strdup_printf ("%.2f",
                            hr_unsigned_nan (hr_spectrum_get_roy_vetterli_effective_rank (sp)));
      sr = g_strdup_printf ("%.2f", hr_unsigned_nan (hr_spectrum_get_stable_rank (sp)));
      nesum = g_strdup_printf ("%.2f", hr_unsigned_nan (hr_spectrum_get_nesum (sp)));
      cka = g_strdup_printf ("%.3f", hr_unsigned_nan (hr_stage_get_cka (stage)));
      lightly = g_strdup_printf (
          "%.4f", hr_unsigned_nan (hr_moments_get_lightly_std (hr_stage_get_moments (stage))));
      hr_table_add_row (table, (const char *[]){ label, ver, rv, sr, nesum, cka, nrank, lightly });
    }
  hr_table_print (table, width);
  hr_print_wrapped (
      /* TRANSLATORS: the legend under the second table of "headrank analyze"; keep the
         column names as they are translated above */
      _ ("(viscy.er: VisCy's effective rank, uncentred, no ε; RV.er: Roy–Vetterli "
         "effective rank of the centred matrix; s.rank: stable rank of the uncentred matrix; "
         "NESum: Σλ/λ₁; CKA: "
         "linear CKA with the features; norm.rank: rank of the L2-normalised rows, what "
         "the loss sees; lightly: std of the L2-normalised rows, ≈ 1/√d if healthy)"),
      width);
}

int
hr_print_analysis (HrAnalysis *analysis, gboolean json, const char *output, HrBundled bundled)
{
  if (json)
    {
      g_autofree char *text = hr_analysis_to_json (analysis, TRUE);
      g_print ("%s\n", text);
    }
  else
    hr_analysis_print_text (analysis, output, bundled);
  return EXIT_SUCCESS;
}

/* The first line of the text: what was analysed, the input's files and N × D, and the head
 * with where its architecture came from (or the projections, or no head); the bundled
 * sample's files by their names, which say what they are. */
static void
hr_analysis_print_subject (HrAnalysis *analysis, HrBundled bundled, guint width)
{
  HrSource *features = hr_analysis_get_source (analysis);
  HrSource *projections = hr_analysis_get_projections_source (analysis);
  HrHead *head = hr_analysis_get_head (analysis);
  unsigned long long n = hr_source_get_n_samples (features);
  unsigned long long d = hr_source_get_n_features (features);
  guint n_files = HR_IS_CONCAT_SOURCE (features)
                      ? hr_concat_source_get_n_parts (HR_CONCAT_SOURCE (features))
                      : 1;
  g_autofree char *input = NULL, *through = NULL, *with_pairs = NULL;

  if (bundled & HR_BUNDLED_FEATURES)
    /* TRANSLATORS: the start of the first line of "headrank analyze" without FILE: the
       bundled sample's file name, its number of samples and of features */
    input = g_strdup_printf (_ ("Analysis of %s (bundled sample: %llu samples × %llu features)"),
                             HR_SAMPLE_FEATURES, n, d);
  else if (n_files > 1)
    {
      HrConcatSource *concat = HR_CONCAT_SOURCE (features);

      input = g_strdup_printf (
          g_dngettext (GETTEXT_PACKAGE,
                       /* TRANSLATORS: the start of the first line of "headrank analyze" of
                          several files: their number, the first and the last file, the
                          number of samples (of all files) and of features */
                       "Analysis of %u file, %s to %s (%llu samples × %llu features)",
                       "Analysis of %u files, %s to %s (%llu samples × %llu features)", n_files),
          n_files, hr_source_get_name (hr_concat_source_get_part (concat, 0)),
          hr_source_get_name (hr_concat_source_get_part (concat, n_files - 1)), n, d);
    }
  else
    {
      HrSource *one = HR_IS_CONCAT_SOURCE (features)
                          ? hr_concat_source_get_part (HR_CONCAT_SOURCE (features), 0)
                          : features;

      /* TRANSLATORS: the start of the first line of "headrank analyze": the file (a TIFF
         file or a zarr store), its number of samples and of features */
      input = g_strdup_printf (_ ("Analysis of %s (%llu samples × %llu features)"),
                               hr_source_get_name (one), n, d);
    }
  if (head != NULL && (bundled & HR_BUNDLED_HEAD))
    {
      g_auto (GStrv) presets = hr_head_match_presets (head);
      g_autofree char *spec = hr_head_get_spec (head);

      through = presets != NULL && presets[0] != NULL
                    /* TRANSLATORS: the rest of the first line of "headrank analyze" without
                       --weights: the bundled head's file name, then the preset whose
                       architecture it has */
                    ? g_strdup_printf (_ ("through %s (bundled head, preset %s)"), HR_SAMPLE_HEAD,
                                       presets[0])
                    /* TRANSLATORS: the same with an architecture spec (--arch) that is no
                       preset */
                    : g_strdup_printf (_ ("through %s (bundled head, architecture %s)"),
                                       HR_SAMPLE_HEAD, spec);
    }
  else if (head != NULL)
    {
      /* the command's heads come from a file, which their source names; the spec else */
      g_autofree char *spec = hr_head_get_spec (head);
      const char *source = hr_head_get_source (head);

      /* TRANSLATORS: the rest of the first line of "headrank analyze": where the head came
         from, as "headrank head describe" says it in its first line (the weights file, the
         prefix, the architecture: the --arch given, or how it was known) */
      through = g_strdup_printf (_ ("through the head %s"), source != NULL ? source : spec);
    }
  else if (projections != NULL)
    /* TRANSLATORS: the rest of the first line of "headrank analyze" with --projections */
    through = g_strdup_printf (_ ("with the projections of %s"), hr_source_get_name (projections));
  else
    /* TRANSLATORS: the rest of the first line of "headrank analyze" of features alone */
    through = g_strdup (_ ("without a head: the features alone"));
  if (bundled & HR_BUNDLED_PAIRS)
    /* TRANSLATORS: the end of the first line of "headrank analyze" without FILE: the file
       name of the bundled positive pairs, after the head (or "with the projections of …",
       hence no second "with") */
    with_pairs = g_strdup_printf (_ ("; positive pairs from %s (bundled)"), HR_SAMPLE_PAIRS);
  /* TRANSLATORS: the first line of "headrank analyze": what was analysed (“Analysis of
     FILE (N samples × D features)”), then the head (“through the head …”), then the
     bundled pairs or nothing */
  hr_print_wrapped_printf (width, _ ("%s %s%s."), input, through,
                           with_pairs != NULL ? with_pairs : "");
  g_print ("\n");
}

void
hr_analysis_print_text (HrAnalysis *analysis, const char *output, HrBundled bundled)
{
  g_auto (GStrv) verdict = hr_analysis_describe_verdict (analysis);
  guint width = hr_output_width ();
  /* TRANSLATORS: column headings of the table of "headrank analyze"; short words keep the
     table narrow (it is split to fit the terminal, 80 columns for a pipe); "clip" and "all"
     are what the stage's activation clips (the legend below) */
  const char *headers[]
      = { _ ("stage"), _ ("samples"),       _ ("dim"),   _ ("rank"), _ ("m.rank"), _ ("eff.rank"),
          _ ("PR"),    _ ("PCs 90/95/99%"), _ ("alpha"), _ ("clip"), _ ("all") };
  g_autoptr (HrTable) table = hr_table_new (G_N_ELEMENTS (headers), headers);
  gboolean without_spectrum = FALSE;

  hr_analysis_print_subject (analysis, bundled, width);
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
      g_autofree char *label = hr_stage_label (stage);
      g_autofree char *samples = NULL, *dim = NULL, *rank = NULL, *mrank = NULL, *er = NULL;
      g_autofree char *pr = NULL, *pcs = NULL, *alpha = NULL, *clip = NULL, *n_all = NULL;

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
      samples = g_strdup_printf ("%llu", (unsigned long long)hr_moments_get_n_samples (m));
      dim = g_strdup_printf ("%zu", d);
      if (sp != NULL)
        {
          pcs = g_strdup_printf ("%u/%u/%u", hr_spectrum_get_components (sp, 0.90),
                                 hr_spectrum_get_components (sp, 0.95),
                                 hr_spectrum_get_components (sp, 0.99));
          rank = hr_rank_range_text (sp, "-");
          mrank = g_strdup_printf ("%u", hr_spectrum_get_matrix_rank (sp));
          /* hr_unsigned_nan: an undefined measure (values all 0) prints as "nan" */
          er = g_strdup_printf ("%.2f", hr_unsigned_nan (hr_spectrum_get_effective_rank (sp)));
          pr = g_strdup_printf ("%.2f", hr_unsigned_nan (hr_spectrum_get_participation_ratio (sp)));
          alpha = g_strdup_printf ("%.2f",
                                   hr_unsigned_nan (hr_spectrum_get_alpha (sp, NULL, NULL, NULL)));
        }
      else
        without_spectrum = TRUE;
      clip = g_strdup_printf ("%.3f", zmean);
      n_all = g_strdup_printf ("%u", all);
      hr_table_add_row (table,
                        (const char *[]){ label, samples, dim, rank ? rank : "-",
                                          mrank ? mrank : "-", er ? er : "-", pr ? pr : "-",
                                          pcs ? pcs : "-", alpha ? alpha : "-", clip, n_all });
    }
  hr_table_print (table, width);
  hr_print_wrapped (
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
         "dead units)"),
      width);
  if (without_spectrum)
    hr_print_wrapped (
        /* TRANSLATORS: under the legend of "headrank analyze" when a row shows "-";
           "--stage none" stays in English */
        _ ("(-: no spectrum: the activation layers' spectra were left out with --stage none)"),
        width);
  hr_analysis_print_field_measures (analysis, width);
  if (hr_analysis_get_contrastive (analysis) != NULL)
    {
      HrContrastive *c = hr_analysis_get_contrastive (analysis);

      g_print ("\n");
      /* TRANSLATORS: the contrastive measures of "headrank analyze"; %zu pairs, then the
         alignment, uniformity, NT-Xent loss with its temperature, triplet loss with its
         margin */
      hr_print_wrapped_printf (
          width,
          _ ("Pairs: %zu; alignment %.4f, uniformity %.4f, NT-Xent (τ = %g) %.4f, triplet "
             "(margin %g) %.4f\n"),
          hr_contrastive_get_n_pairs (c), hr_contrastive_get_alignment (c),
          hr_contrastive_get_uniformity (c), hr_contrastive_get_temperature (c),
          hr_contrastive_get_ntxent (c), hr_contrastive_get_margin (c),
          hr_contrastive_get_triplet (c));
      if (hr_analysis_get_pairs (analysis) != NULL
          && hr_pairs_get_origin (hr_analysis_get_pairs (analysis)) == HR_PAIRS_ORIGIN_TRACKS)
        {
          HrPairs *pairs = hr_analysis_get_pairs (analysis);
          const char *const *columns = hr_pairs_get_columns (pairs);

          /* TRANSLATORS: where temporal pairs came from: the time step dt (keep "dt"), the
             three columns (fov_name, track_id, t), then the rows without a value in one */
          hr_print_wrapped_printf (
              width,
              _ ("Pairs from tracks: dt = %" PRId64 "; columns %s, %s, %s; %" PRIu64 " of %" PRIu64
                 " rows without a value\n"),
              hr_pairs_get_dt (pairs), columns[0], columns[1], columns[2],
              hr_pairs_get_n_rows_missing (pairs), hr_pairs_get_n_rows (pairs));
        }
      if (!isnan (hr_analysis_get_lidar (analysis)))
        /* TRANSLATORS: LiDAR, a measure of the pairs (Thilak et al.), stays in English */
        hr_print_wrapped_printf (width, _ ("LiDAR of the pairs: %.2f\n"),
                                 hr_analysis_get_lidar (analysis));
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
              hr_print_wrapped_printf (
                  width,
                  _ ("LiDAR of the pairs: left out: its five %llu × %llu matrices need %s, "
                     "more than the memory limit of %s (--memory-limit)\n"),
                  (unsigned long long)d, (unsigned long long)d, need, have);
            }
        }
    }
  g_print ("\n");
  for (guint i = 0; verdict[i] != NULL; i++)
    hr_print_wrapped (verdict[i], width);
  if (output != NULL)
    {
      g_print ("\n");
      /* TRANSLATORS: %s is the output folder */
      hr_print_wrapped_printf (width, _ ("\nReport, tables and plots written to %s\n"), output);
    }
}

/* The share of hr_analysis_run()'s progress that its passes over the samples take (the
 * rest: the spectra); with positives, two passes of 0.47 each (lib/analysis/hr-analysis-pass.c). */
#define HR_ANALYZE_PASS_SHARE 0.95
#define HR_ANALYZE_PASSES_SHARE_POSITIVES 0.94

static void
hr_analyze_progress (double fraction, gpointer user_data)
{
  HrProgress *progress = user_data;

  if (fraction > HR_ANALYZE_PASS_SHARE)
    /* TRANSLATORS: what "headrank analyze" does after its pass over the samples */
    hr_progress_set_phase (progress, _ ("computing the spectra…"));
  else
    hr_progress_update (progress, fraction);
}

/* --stage: every name is a stage of @head (a layer's name) or a generic one (features,
 * projections, all, none); else a usage error whose one line lists the valid names. */
static int
hr_analyze_check_stages (GOptionContext *context, const char *const *stages, HrHead *head)
{
  for (guint i = 0; stages != NULL && stages[i] != NULL; i++)
    {
      g_autoptr (GString) valid = NULL;
      g_autofree char *message = NULL;

      if (strcmp (stages[i], "all") == 0 || strcmp (stages[i], "none") == 0
          || strcmp (stages[i], "features") == 0 || strcmp (stages[i], "projections") == 0
          || (head != NULL && hr_head_find_stage (head, stages[i]) >= 0))
        continue;
      valid = g_string_new ("features");
      for (guint l = 0; head != NULL && l < hr_head_get_n_layers (head); l++)
        g_string_append_printf (valid, ", %s", hr_head_get_layer_name (head, l));
      g_string_append (valid, ", projections, all, none");
      message = head != NULL
                    /* TRANSLATORS: the value of --stage that names no stage, then the valid
                       names, comma-separated (they stay in English) */
                    ? g_strdup_printf (_ ("unknown stage “%s”; the head's stages: %s"), stages[i],
                                       valid->str)
                    /* TRANSLATORS: the value of --stage when there is no head (--projections):
                       then the valid names (they stay in English) */
                    : g_strdup_printf (_ ("unknown stage “%s”; without a head: %s"), stages[i],
                                       valid->str);
      return hr_usage_error (context, message);
    }
  return 0;
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

/* "analyze A.zarr B.zarr" (or a folder of stores) without a head or --projections: the
 * projections of the stores as one stack too, store by store, as "analyze A.zarr" reads a
 * store's projections. NULL without an error when a part is not a zarr store or a store
 * names no projections (then the features are analysed alone, as for such a store). */
static HrSource *
hr_analyze_parts_projections (HrSource *features, GError **error)
{
  g_autoptr (GPtrArray) parts = NULL;
  HrConcatSource *concat;

  if (!HR_IS_CONCAT_SOURCE (features))
    return NULL;
  concat = HR_CONCAT_SOURCE (features);
  parts = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < hr_concat_source_get_n_parts (concat); i++)
    {
      HrSource *part = hr_concat_source_get_part (concat, i);
      HrSource *projections;

      if (!HR_IS_ZARR_SOURCE (part))
        return NULL;
      projections = hr_zarr_source_open_projections (
          hr_zarr_source_get_store (HR_ZARR_SOURCE (part)), error);
      if (projections == NULL)
        return NULL;
      g_ptr_array_add (parts, projections);
    }
  return hr_concat_source_new ((HrSource **)parts->pdata, parts->len, error);
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

int
hr_command_analyze (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = hr_cancellable_new ();
  g_autoptr (HrHead) head = NULL;
  g_autoptr (HrSource) reader = NULL, projections = NULL, positives = NULL;
  g_autoptr (HrPairs) track_pairs = NULL;
  g_autofree char *features_array = NULL;
  g_auto (GStrv) inputs = NULL;
  g_autoptr (HrAnalysis) analysis = NULL;
  g_autoptr (HrProgress) progress = NULL;
  g_auto (HrHeadOptions) o = HR_HEAD_OPTIONS_INIT;
  g_autofree char *output = NULL, *partial = NULL;
  g_autofree char *projections_path = NULL, *pairs = NULL, *positives_path = NULL;
  g_autofree char *precision_name = NULL, *sample = NULL, *sample_head = NULL;
  g_autofree char *sample_pairs = NULL, *nonfinite_name = NULL, *memory_limit_text = NULL;
  g_autofree char *per_sample_name = NULL;
  HrPerSampleFormat per_sample = HR_PER_SAMPLE_FORMAT_CSV;
  HrNonfinitePolicy nonfinite = HR_NONFINITE_POLICY_DROP;
  g_auto (GStrv) stages = NULL;
  HrPrecision precision = HR_PRECISION_AUTO;
  HrBundled bundled = 0;
  gboolean json = FALSE, linear = FALSE, standardize = FALSE;
  double memory_limit = 0; /* GiB; 0: not given, the default */
  gint64 pair_batch = 256;
  gint64 first_sample = G_MININT64; /* not given */
  gboolean pairs_from_tracks = FALSE;
  gint64 dt = G_MININT64; /* not given: HR_PAIRS_DEFAULT_DT */
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
          { "pairs-from-tracks", 0, 0, G_OPTION_ARG_NONE, &pairs_from_tracks,
            /* TRANSLATORS: description of --pairs-from-tracks; the column names stay in
               English */
            N_ ("Positive pairs from the cell tracks of an AnnData store (obs fov_name, "
                "track_id, t): a cell at t and its track at t + dt, as VisCy's time-aware "
                "sampling"),
            NULL },
          { "dt", 0, 0, G_OPTION_ARG_INT64, &dt,
            /* TRANSLATORS: description of --dt */
            N_ ("The time step of --pairs-from-tracks, in frames (default 1)"), N_ ("N") },
          { "positives", 0, 0, G_OPTION_ARG_FILENAME, &positives_path,
            /* TRANSLATORS: description of --positives */
            N_ ("Positive pairs as a second stack: sample i is the positive of sample i of "
                "FILE (the same kind of stack as FILE)"),
            N_ ("FILE") },
          { "stage", 's', 0, G_OPTION_ARG_STRING_ARRAY, &stages,
            /* TRANSLATORS: description of --stage; "all" and "none" stay in English */
            N_ ("Also compute the spectrum of this layer's output (repeatable; “all” for "
                "every layer; activation layers have one unless “none”)"),
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
          hr_option_report_output (&output),
          hr_option_per_sample (&per_sample_name),
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
          hr_option_report_json (&json),
          { "partial", 0, 0, G_OPTION_ARG_FILENAME, &partial,
            /* TRANSLATORS: description of --partial of "headrank analyze"; keep
               "headrank merge" */
            N_ ("Write the state of the pass over FILE to the part PART instead of a report; "
                "“headrank merge” makes the report of several parts"),
            N_ ("PART") },
          { "first-sample", 0, 0, G_OPTION_ARG_INT64, &first_sample,
            /* TRANSLATORS: description of --first-sample of "headrank analyze"; keep
               "--partial" and "--pairs" */
            N_ ("With --partial and --pairs: the number of FILE's first sample in the pair "
                "file, which numbers the samples of all the parts (default 0); the part holds "
                "the pairs whose anchor is one of its samples"),
            N_ ("N") },
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
         "or alone. Several FILEs (TIFF files or zarr stores), a folder (its .tif and .tiff files "
         "and zarr stores in name order) or a quoted "
         "pattern such as 'fov*.tif' are analysed as one stack, samples numbered across the "
         "files, which must have the same number of features; report.json names each file's "
         "range. --projections and --positives take a folder or a pattern too. Without FILE, "
         "analyses the bundled sample with the bundled head. Writes "
         "report.json, per_sample.csv (or per_sample.csv.gz, or none: --per-sample), "
         "per_dimension.csv and plots (PNG and SVG) into the "
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
      int value;

      if (hr_enum_from_nick (HR_TYPE_NONFINITE_POLICY, nonfinite_name, &value))
        nonfinite = value;
      else
        {
          g_autofree char *message = g_strdup_printf (
              /* TRANSLATORS: %s is the value given to --nonfinite; the values stay in English */
              _ ("unknown non-finite policy “%s” (drop or error)"), nonfinite_name);

          return hr_usage_error (context, message);
        }
    }
  if ((status = hr_parse_per_sample (context, per_sample_name, &per_sample)) != 0)
    return status;
  if (precision_name != NULL)
    {
      int value;

      if (!hr_enum_from_nick (HR_TYPE_PRECISION, precision_name, &value))
        {
          g_autofree char *message = g_strdup_printf (
              /* TRANSLATORS: %s is the value given to --precision; the values stay in English */
              _ ("unknown precision “%s” (auto, float64 or float32-products)"), precision_name);
          return hr_usage_error (context, message);
        }
      precision = value;
    }
  if (o.weights != NULL && projections_path != NULL)
    return hr_usage_error (context, _ ("give either --weights or --projections, not both"));
  if (pairs != NULL && positives_path != NULL)
    return hr_usage_error (context, _ ("give either --pairs or --positives, not both"));
  if (pairs_from_tracks && (pairs != NULL || positives_path != NULL))
    return hr_usage_error (context,
                           _ ("give one of --pairs, --positives and --pairs-from-tracks, not two"));
  if (dt != G_MININT64 && !pairs_from_tracks)
    return hr_usage_error (context, _ ("--dt is the time step of --pairs-from-tracks"));
  if (dt != G_MININT64 && dt < 1)
    return hr_usage_error (context, _ ("--dt takes a number of frames of at least 1"));
  if (dt == G_MININT64)
    dt = HR_PAIRS_DEFAULT_DT;
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
  if (partial != NULL && per_sample_name != NULL && per_sample != HR_PER_SAMPLE_FORMAT_NONE)
    return hr_usage_error (context, _ ("--per-sample csv and csv.gz are options of the report: "
                                       "give them to “headrank merge” (--per-sample none leaves "
                                       "the per-sample tables out of the part)"));
  if (first_sample != G_MININT64 && partial == NULL)
    return hr_usage_error (context, _ ("--first-sample is an option of --partial"));
  if (first_sample != G_MININT64 && first_sample < 0)
    return hr_usage_error (context, _ ("--first-sample takes a sample number of at least 0"));
  if (partial != NULL && (output != NULL || json))
    return hr_usage_error (context, _ ("--partial writes a part, not a report: leave out "
                                       "--output and --json"));
  if (output == NULL && !json && partial == NULL)
    output = g_strdup ("headrank-report");
  if ((status = hr_check_output_folder (output)) != 0)
    return status;

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
      bundled |= HR_BUNDLED_FEATURES;
      if (o.weights == NULL && projections_path == NULL)
        {
          o.weights = g_strdup (sample_head);
          if (o.arch == NULL)
            o.arch = g_strdup (HR_SAMPLE_ARCH);
          bundled |= HR_BUNDLED_HEAD;
        }
      if (pairs == NULL && positives_path == NULL && !pairs_from_tracks && sample_pairs != NULL
          && partial == NULL)
        {
          pairs = g_strdup (sample_pairs);
          bundled |= HR_BUNDLED_PAIRS;
        }
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
  if ((status = hr_analyze_check_stages (context, (const char *const *)stages, head)) != 0)
    return status;
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
      else if (o.weights == NULL)
        {
          projections = hr_analyze_parts_projections (reader, &error);
          if (projections == NULL && error != NULL)
            return hr_user_error (error);
        }
    }
  if (pairs_from_tracks)
    {
      /* the cells' tracks are the obs table of the store */
      if (inputs[1] != NULL || !hr_zarr_is_store (inputs[0]))
        return hr_fail (g_strdup_printf (
            /* TRANSLATORS: %s: the input; keep "obs" */
            _ ("%s: --pairs-from-tracks needs one zarr store with an obs table (AnnData, as "
               "VisCy writes)"),
            inputs[0]));
      track_pairs = hr_pairs_new_from_store (inputs[0], dt, &error);
      if (track_pairs == NULL)
        return hr_user_error (error);
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
  if (track_pairs != NULL)
    hr_analysis_set_pairs (analysis, track_pairs);
  hr_analysis_set_norm_mode (analysis, hr_head_options_mode (&o));
  hr_analysis_set_batch_size (analysis, hr_head_options_batch_size (&o));
  hr_analysis_set_precision (analysis, precision);
  hr_analysis_set_nonfinite_policy (analysis, nonfinite);
  hr_analysis_set_spectral_stages (analysis, (const char *const *)stages);
  hr_analysis_set_contrastive_parameters (analysis, (gsize)pair_batch, temperature, margin);
  hr_analysis_set_log_plots (analysis, !linear);
  hr_analysis_set_standardize (analysis, standardize);
  hr_analysis_set_per_sample_format (analysis, per_sample);
  if (first_sample > 0)
    hr_analysis_set_first_sample (analysis, (guint64)first_sample);
  if (memory_limit_text != NULL)
    hr_analysis_set_memory_limit (analysis, (guint64)(memory_limit * 1073741824.0));

  /* TRANSLATORS: label of the progress bar while the analysis runs */
  progress = hr_progress_new (_ ("Analysing"));
  hr_progress_set_items (progress, hr_source_get_n_samples (reader) * (positives != NULL ? 2 : 1),
                         positives != NULL ? HR_ANALYZE_PASSES_SHARE_POSITIVES
                                           : HR_ANALYZE_PASS_SHARE,
                         /* TRANSLATORS: the unit of the rate in the progress bar,
                            "12.3 k samples/s" */
                         _ ("samples"));
  if (partial != NULL)
    {
      ok = hr_analysis_write_part (analysis, partial, hr_analyze_progress, progress, cancellable,
                                   &error);
      output = g_strdup (partial); /* for the messages */
    }
  else
    ok = hr_analysis_run (analysis, hr_analyze_progress, progress, cancellable, &error);
  if (ok && partial != NULL)
    ;
  else if (ok && output != NULL)
    {
      /* TRANSLATORS: what "headrank analyze" does once the analysis is done */
      hr_progress_set_phase (progress, _ ("writing the report, tables and figures…"));
      /* the report is the output: once it is in place, the run is done */
      ok = hr_analysis_write_report (analysis, output, cancellable, &error);
    }
  else if (ok)
    /* standard output is the output: a signal before it is printed stops the run */
    ok = !g_cancellable_set_error_if_cancelled (cancellable, &error);
  g_clear_pointer (&progress, hr_progress_free);
  if (!ok)
    {
      if (hr_interrupted (error, &status))
        return status;
      return hr_head_error (error, path, o.weights, pairs != NULL ? pairs : output);
    }
  if (partial != NULL)
    {
      guint64 n = hr_source_get_n_samples (reader);

      g_print (g_dngettext (GETTEXT_PACKAGE,
                            /* TRANSLATORS: %s is the part file, %llu the number of samples */
                            "Wrote the part %s (%llu sample); merge parts with “headrank merge "
                            "PART… -o DIR”.\n",
                            "Wrote the part %s (%llu samples); merge parts with “headrank merge "
                            "PART… -o DIR”.\n",
                            (gulong)MIN (n, G_MAXULONG)),
               partial, (unsigned long long)n);
      return EXIT_SUCCESS;
    }
  return hr_print_analysis (analysis, json, output, bundled);
}
