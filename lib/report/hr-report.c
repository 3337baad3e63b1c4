/* headrank: the analysis' report: JSON, CSV tables, figures and per-pixel maps */
#include "hr-private.h"

#include "hr-analysis-private.h"
#include "hr-analysis.h"
#include "hr-concat-source.h"
#include "hr-contrastive.h"
#include "hr-enum-names.h"
#include "hr-enum-types.h"
#include "hr-error.h"
#include "hr-head-json.h"
#include "hr-head-private.h"
#include "hr-stage-text.h"
#include "hr-head.h"
#include "hr-json-valid.h"
#include "hr-json.h"
#include "hr-measures-private.h"
#include "hr-moments.h"
#include "hr-output.h"
#include "hr-plot.h"
#include "hr-report-private.h"
#include "hr-source.h"
#include "hr-spectrum.h"
#include "hr-stack-info.h"
#include "hr-stack-writer.h"
#include "hr-types.h"
#include "hr-version.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cairo.h>
#include <cblas.h>
#include <gio/gio.h>
#include <gio/gunixoutputstream.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <tiffio.h>

#define HR_READ_ROWS 8192 /* per-sample rows read back at a time */
/* zlib's level for per_sample.csv.gz: 1, the fastest; see doc/analysis.md for its measured
 * size and time against level 6 */
#define HR_PER_SAMPLE_GZIP_LEVEL 1

/* The per-sample table's file name in the report (NULL: none) and the word report.json and
 * the command use for @format. */
static const char *
hr_per_sample_file (HrPerSampleFormat format)
{
  return format == HR_PER_SAMPLE_FORMAT_CSV        ? "per_sample.csv"
         : format == HR_PER_SAMPLE_FORMAT_CSV_GZIP ? "per_sample.csv.gz"
                                                   : NULL;
}

static const char *
hr_per_sample_word (HrPerSampleFormat format)
{
  return format == HR_PER_SAMPLE_FORMAT_CSV        ? "csv"
         : format == HR_PER_SAMPLE_FORMAT_CSV_GZIP ? "csv.gz"
                                                   : "none";
}

/* The per-sample table the report writes: none when the analysis holds no per-sample
 * statistics (merged from parts without them), whatever HrAnalysis:per-sample-format says. */
static HrPerSampleFormat
hr_report_per_sample_format (HrAnalysis *self)
{
  return hr_analysis_has_per_sample (self) ? hr_analysis_get_per_sample_format (self)
                                           : HR_PER_SAMPLE_FORMAT_NONE;
}

/* Whether a BatchNorm or LayerNorm precedes the head's activations or output. */
static gboolean
hr_head_has_normalisation (HrHead *head)
{
  for (guint i = 0; i < hr_head_get_n_layers (head); i++)
    {
      HrLayerKind kind = hr_head_get_layer_kind (head, i);

      if (kind == HR_LAYER_BATCH_NORM || kind == HR_LAYER_LAYER_NORM)
        return TRUE;
    }
  return FALSE;
}

/* -- summaries of the per-sample statistics ---------------------------------------------- */

typedef struct
{
  guint64 n;
  double mean, m2, min, max; /* Welford */
} HrSummary;

static void
hr_summary_add (HrSummary *s, double x)
{
  double delta;

  if (!isfinite (x))
    return;
  if (s->n == 0)
    s->min = s->max = x;
  s->min = MIN (s->min, x);
  s->max = MAX (s->max, x);
  s->n++;
  delta = x - s->mean;
  s->mean += delta / s->n;
  s->m2 += delta * (x - s->mean);
}

/* Streams the per-sample statistics of @stage, @func per block of rows. */
typedef gboolean (*HrBlockFunc) (const float *values, guint64 first, gsize n, gpointer data,
                                 GError **error);

static gboolean
hr_stage_foreach_block (HrStage *stage, HrBlockFunc func, gpointer data, GError **error)
{
  guint64 n = hr_stage_get_n_samples (stage);
  g_autofree float *block = g_new (float, HR_READ_ROWS *HR_PER_SAMPLE_COLUMNS);

  for (guint64 first = 0; first < n; first += HR_READ_ROWS)
    {
      gsize count = (gsize)MIN ((guint64)HR_READ_ROWS, n - first);

      if (!hr_stage_get_per_sample_into (stage, first, count, block, error)
          || !func (block, first, count, data, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
hr_summarise_block (const float *values, guint64 first, gsize n, gpointer data, GError **error)
{
  HrSummary *s = data;

  for (gsize r = 0; r < n; r++)
    for (int c = 0; c < HR_PER_SAMPLE_COLUMNS; c++)
      hr_summary_add (&s[c], values[r * HR_PER_SAMPLE_COLUMNS + c]);
  return TRUE;
}

/* -- JSON ------------------------------------------------------------------------------- */

static void
hr_json_array (JsonBuilder *b, const char *name, const double *v, gsize n)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (gsize i = 0; i < n; i++)
    hr_json_add_double (b, NULL, v[i]);
  json_builder_end_array (b);
}

static void
hr_json_summary (JsonBuilder *b, const char *name, const HrSummary *s)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  hr_json_add_double (b, "mean", s->n > 0 ? s->mean : NAN);
  hr_json_add_double (b, "std", s->n > 0 ? sqrt (s->m2 / s->n) : NAN);
  hr_json_add_double (b, "min", s->n > 0 ? s->min : NAN);
  hr_json_add_double (b, "max", s->n > 0 ? s->max : NAN);
  json_builder_end_object (b);
}

/* The rank's range and the parts of its tolerance (doc/analysis.md, "The rank tolerance"). */
static void
hr_json_rank_uncertainty (JsonBuilder *b, HrSpectrum *sp)
{
  guint low, high;

  hr_spectrum_get_rank_range (sp, &low, &high);
  json_builder_set_member_name (b, "rank_range");
  json_builder_begin_array (b);
  json_builder_add_int_value (b, low);
  json_builder_add_int_value (b, high);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "rank_tolerance_parts");
  json_builder_begin_object (b);
  hr_json_add_double (b, "value_error", hr_spectrum_get_value_error (sp));
  hr_json_add_double (b, "scatter_error", hr_spectrum_get_scatter_error (sp));
  hr_json_add_double (b, "eigensolver_error", hr_spectrum_get_eigensolver_error (sp));
  hr_json_add_double (b, "noise_floor", hr_spectrum_get_noise_floor (sp));
  json_builder_set_member_name (b, "accumulation_dominates");
  json_builder_add_boolean_value (b, hr_spectrum_is_tolerance_raised (sp));
  json_builder_end_object (b);
  hr_json_add_string (b, "matrix_rank_rule", "numpy.linalg.matrix_rank, for comparison with numpy");
}

/* The measures the field compares heads with (doc/analysis.md). */
static void
hr_json_field_measures (JsonBuilder *b, HrSpectrum *sp)
{
  hr_json_add_double (b, "viscy_effective_rank", hr_spectrum_get_viscy_effective_rank (sp));
  hr_json_add_double (b, "roy_vetterli_effective_rank",
                      hr_spectrum_get_roy_vetterli_effective_rank (sp));
  hr_json_add_double (b, "stable_rank", hr_spectrum_get_stable_rank (sp));
  hr_json_add_double (b, "nesum", hr_spectrum_get_nesum (sp));
}

static void
hr_json_spectrum (JsonBuilder *b, HrSpectrum *sp, const char *centring)
{
  gsize n;
  const double *v;
  guint first = 0, last = 0;
  double r2 = NAN, alpha;

  hr_json_add_string (b, "centring", centring);
  v = hr_spectrum_get_eigenvalues (sp, &n);
  hr_json_array (b, "eigenvalues", v, n);
  v = hr_spectrum_get_explained_variance_ratio (sp, &n);
  hr_json_array (b, "explained_variance_ratio", v, n);
  v = hr_spectrum_get_cumulative_explained_variance (sp, &n);
  hr_json_array (b, "cumulative_explained_variance", v, n);
  v = hr_spectrum_get_singular_values (sp, &n);
  hr_json_array (b, "singular_values", v, n);
  v = hr_spectrum_get_uncentred_singular_values (sp, &n);
  hr_json_array (b, "uncentred_singular_values", v, n);
  hr_json_add_int (b, "rank", hr_spectrum_get_rank (sp));
  hr_json_add_double (b, "rank_tolerance", hr_spectrum_get_tolerance (sp));
  hr_json_rank_uncertainty (b, sp);
  hr_json_add_int (b, "matrix_rank", hr_spectrum_get_matrix_rank (sp));
  hr_json_add_double (b, "matrix_rank_tolerance", hr_spectrum_get_uncentred_tolerance (sp));
  hr_json_add_double (b, "effective_rank", hr_spectrum_get_effective_rank (sp));
  hr_json_add_double (b, "participation_ratio", hr_spectrum_get_participation_ratio (sp));
  json_builder_set_member_name (b, "components");
  json_builder_begin_object (b);
  hr_json_add_int (b, "90", hr_spectrum_get_components (sp, 0.90));
  hr_json_add_int (b, "95", hr_spectrum_get_components (sp, 0.95));
  hr_json_add_int (b, "99", hr_spectrum_get_components (sp, 0.99));
  json_builder_end_object (b);
  alpha = hr_spectrum_get_alpha (sp, &first, &last, &r2);
  hr_json_add_double (b, "alpha", alpha);
  json_builder_set_member_name (b, "alpha_fit");
  json_builder_begin_object (b);
  hr_json_add_int (b, "first", first);
  hr_json_add_int (b, "last", last);
  hr_json_add_double (b, "r_squared", r2);
  json_builder_end_object (b);
  hr_json_field_measures (b, sp);
}

/* How the stage's spectrum was computed, its CKA with the features, and the spectrum of
 * its normalised rows (doc/analysis.md). */
static void
hr_json_stage_measures (JsonBuilder *b, HrStage *stage)
{
  HrSpectrum *nsp = hr_stage_get_normalized_spectrum (stage);

  if (hr_stage_get_spectrum (stage) != NULL)
    hr_json_add_string (b, "spectrum_from",
                        hr_stage_spectrum_is_from_rows (stage) ? "gram" : "scatter");
  hr_json_add_double (b, "cka_with_features", hr_stage_get_cka (stage));
  hr_json_add_double (b, "lightly_std", hr_moments_get_lightly_std (hr_stage_get_moments (stage)));
  json_builder_set_member_name (b, "normalized");
  if (nsp == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_object (b);
  hr_json_spectrum (b, nsp, "rows L2-normalised (torch.nn.functional.normalize), then centred");
  json_builder_end_object (b);
}

/* "clipping": for an activation stage, what its activation clips or saturates (see
 * hr_stage_get_clipping_measure()): the measure, its definition, the per-unit fractions'
 * mean and maximum, and the units clipped for every sample; null for other stages. */
static void
hr_json_clipping (JsonBuilder *b, HrStage *stage)
{
  const char *measure = hr_stage_get_clipping_measure (stage);
  g_autoptr (GBytes) fraction = hr_stage_get_clipped_fraction (stage);
  const double *f;
  double fmax = 0;
  gsize size;

  json_builder_set_member_name (b, "clipping");
  if (measure == NULL || fraction == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  f = g_bytes_get_data (fraction, &size);
  for (gsize j = 0; j < size / sizeof (double); j++)
    fmax = MAX (fmax, f[j]);
  json_builder_begin_object (b);
  hr_json_add_string (b, "measure", measure);
  hr_json_add_string (b, "definition",
                      measure[0] == 'z' ? "output == 0 (ReLU: the unit is off)"
                      : measure[0] == 'n'
                          ? "output < 0 (input < 0: GELU and SiLU nearly flat, "
                            "LeakyReLU scaled by its negative slope)"
                          : "|output| > tanh(2) = 0.964 (|input| > 2: slope < 0.071)");
  hr_json_add_double (b, "fraction_mean", hr_stage_get_mean_clipped_fraction (stage));
  hr_json_add_double (b, "fraction_max", fmax);
  hr_json_add_int (b, "units_always", hr_stage_get_n_always_clipped (stage));
  json_builder_end_object (b);
}

static gboolean
hr_json_stage (JsonBuilder *b, HrAnalysis *analysis, HrStage *stage, GError **error)
{
  HrMoments *m = hr_stage_get_moments (stage);
  HrSpectrum *sp = hr_stage_get_spectrum (stage);
  gsize d = hr_stage_get_dimension (stage), size;
  HrSummary summary[HR_PER_SAMPLE_COLUMNS] = { { 0 } };
  g_autoptr (GBytes) zero = hr_moments_get_zero_fraction (m);
  g_autoptr (GBytes) std = hr_moments_get_std (m);
  const double *z = g_bytes_get_data (zero, &size), *s = g_bytes_get_data (std, &size);
  double zmax = 0, smean = 0;

  if (hr_analysis_has_per_sample (analysis)
      && !hr_stage_foreach_block (stage, hr_summarise_block, summary, error))
    return FALSE;
  for (gsize j = 0; j < d; j++)
    {
      zmax = MAX (zmax, z[j]);
      smean += s[j] / d;
    }

  json_builder_begin_object (b);
  hr_json_add_string (b, "name", hr_stage_get_name (stage));
  hr_json_add_string (b, "role", hr_enum_nick (HR_TYPE_STAGE_ROLE, hr_stage_get_role (stage)));
  json_builder_set_member_name (b, "layer");
  if (hr_stage_get_layer (stage) >= 0)
    json_builder_add_int_value (b, hr_stage_get_layer (stage));
  else
    json_builder_add_null_value (b);
  hr_json_add_string (b, "layer_kind",
                      hr_stage_get_layer (stage) >= 0
                          ? hr_enum_nick (HR_TYPE_LAYER_KIND, hr_stage_get_layer_kind (stage))
                          : NULL);
  hr_json_add_int (b, "samples", (gint64)hr_moments_get_n_samples (m));
  hr_json_add_int (b, "dimension", (gint64)d);
  /* behind a head the rows are dropped before any stage sees them */
  hr_json_add_int (b, "dropped_samples",
                   (gint64)(hr_stage_get_n_samples (stage) - hr_moments_get_n_samples (m)));
  hr_json_add_int (b, "nonfinite_values",
                   (gint64)(hr_stage_get_n_nonfinite_of_input (stage)
                            + (hr_stage_get_role (stage) == HR_STAGE_ROLE_FEATURES
                                       && hr_analysis_get_head (analysis) != NULL
                                   ? hr_analysis_get_n_nonfinite (analysis)
                                   : 0)));
  hr_json_add_string (b, "precision",
                      hr_enum_nick (HR_TYPE_PRECISION, hr_moments_get_precision (m)));
  hr_json_add_double (b, "scatter_error_bound", hr_moments_get_error_bound (m));
  json_builder_set_member_name (b, "has_spectrum");
  json_builder_add_boolean_value (b, sp != NULL);
  if (sp != NULL)
    hr_json_spectrum (b, sp,
                      hr_analysis_get_standardize (analysis)
                          ? "standardized: centred, each dimension divided by its std (ddof 0)"
                          : "centred on the sample mean");
  hr_json_stage_measures (b, stage);

  json_builder_set_member_name (b, "statistics");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "per_sample");
  if (!hr_analysis_has_per_sample (analysis))
    json_builder_add_null_value (b); /* merged from parts without per-sample tables */
  else
    {
      json_builder_begin_object (b);
      hr_json_add_string (b, "convention", "across dimensions, std with ddof 0");
      hr_json_summary (b, "mean", &summary[0]);
      hr_json_summary (b, "std", &summary[1]);
      hr_json_summary (b, "norm", &summary[2]);
      hr_json_summary (b, "zero_fraction", &summary[3]);
      json_builder_end_object (b);
    }
  json_builder_set_member_name (b, "per_dimension");
  json_builder_begin_object (b);
  hr_json_add_double (b, "std_mean", smean);
  hr_json_add_double (b, "zero_fraction_mean", hr_moments_get_mean_zero_fraction (m));
  hr_json_add_double (b, "zero_fraction_max", zmax);
  hr_json_add_int (b, "dead_units", hr_moments_get_n_dead (m));
  json_builder_end_object (b);
  hr_json_clipping (b, stage);
  hr_json_add_double (b, "simsiam_std", hr_moments_get_simsiam_std (m));
  hr_json_add_double (b, "simsiam_std_healthy", 1.0 / sqrt ((double)d));
  json_builder_end_object (b);
  json_builder_end_object (b);
  return TRUE;
}

static void
hr_json_software (JsonBuilder *b)
{
  g_autofree char *glib
      = g_strdup_printf ("%u.%u.%u", glib_major_version, glib_minor_version, glib_micro_version);
  g_autofree char *tiff = g_strdup (TIFFGetVersion ());
  char *eol = strchr (tiff, '\n');

  if (eol != NULL)
    *eol = '\0';
  json_builder_set_member_name (b, "software");
  json_builder_begin_object (b);
  hr_json_add_string (b, "headrank", HR_VERSION_S);
  hr_json_add_string (b, "glib", glib);
  hr_json_add_string (b, "json_glib", JSON_VERSION_S);
  hr_json_add_string (b, "libtiff", tiff);
  hr_json_add_string (b, "openblas", openblas_get_config ());
  hr_json_add_string (b, "cairo", cairo_version_string ());
  json_builder_end_object (b);
}

/* "head": the head schema (hr-head-json.c, doc/json.md), then how the analysis ran it */
static void
hr_json_head (JsonBuilder *b, HrAnalysis *self)
{
  HrHead *head = hr_analysis_get_head (self);

  json_builder_set_member_name (b, "head");
  if (head == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_object (b);
  hr_head_json_add_members (b, head);
  hr_json_add_string (b, "norm_mode",
                      hr_enum_nick (HR_TYPE_NORM_MODE, hr_analysis_get_norm_mode (self)));
  hr_json_add_int (b, "batch_size", (gint64)hr_analysis_get_batch_size (self));
  json_builder_end_object (b);
}

/* Where the pairs came from: a pair file, indices from memory, cell tracks (with dt and
 * the columns), or positives aligned with the features. */
static void
hr_json_pairs_source (JsonBuilder *b, HrAnalysis *self)
{
  HrPairs *pairs = hr_analysis_get_pairs (self);
  const char *const *columns;

  json_builder_set_member_name (b, "pairs_source");
  json_builder_begin_object (b);
  if (pairs == NULL)
    {
      HrSource *positives = hr_analysis_get_positives_source (self);

      hr_json_add_string (b, "origin", "positives");
      hr_json_add_string (b, "path", positives != NULL ? hr_source_get_name (positives) : NULL);
      json_builder_end_object (b);
      return;
    }
  hr_json_add_string (b, "origin",
                      hr_enum_nick (HR_TYPE_PAIRS_ORIGIN, hr_pairs_get_origin (pairs)));
  hr_json_add_string (b, "path", hr_pairs_get_path (pairs));
  if (hr_pairs_get_origin (pairs) == HR_PAIRS_ORIGIN_TRACKS)
    {
      hr_json_add_int (b, "dt", hr_pairs_get_dt (pairs));
      json_builder_set_member_name (b, "columns");
      json_builder_begin_array (b);
      columns = hr_pairs_get_columns (pairs);
      for (guint i = 0; columns != NULL && columns[i] != NULL; i++)
        json_builder_add_string_value (b, columns[i]);
      json_builder_end_array (b);
      hr_json_add_int (b, "rows", (gint64)hr_pairs_get_n_rows (pairs));
      hr_json_add_int (b, "rows_missing", (gint64)hr_pairs_get_n_rows_missing (pairs));
    }
  json_builder_end_object (b);
}

static void
hr_json_contrastive (JsonBuilder *b, HrAnalysis *self)
{
  HrContrastive *c = hr_analysis_get_contrastive (self);

  json_builder_set_member_name (b, "contrastive");
  if (c == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_object (b);
  hr_json_add_int (b, "pairs", (gint64)hr_contrastive_get_n_pairs (c));
  hr_json_add_int (b, "pairs_skipped", (gint64)hr_analysis_get_n_pairs_skipped (self));
  hr_json_pairs_source (b, self);
  hr_json_add_int (b, "batch_size", (gint64)hr_contrastive_get_batch_size (c));
  hr_json_add_double (b, "temperature", hr_contrastive_get_temperature (c));
  hr_json_add_double (b, "margin", hr_contrastive_get_margin (c));
  json_builder_set_member_name (b, "explicit_negatives");
  json_builder_add_boolean_value (b, hr_contrastive_has_negatives (c));
  hr_json_add_double (b, "alignment", hr_contrastive_get_alignment (c));
  hr_json_add_double (b, "uniformity", hr_contrastive_get_uniformity (c));
  hr_json_add_double (b, "ntxent", hr_contrastive_get_ntxent (c));
  hr_json_add_double (b, "triplet", hr_contrastive_get_triplet (c));
  hr_json_add_double (b, "positive_cosine", hr_contrastive_get_positive_cosine (c));
  hr_json_add_double (b, "negative_cosine", hr_contrastive_get_negative_cosine (c));
  hr_json_add_double (b, "lidar", hr_analysis_get_lidar (self));
  json_builder_end_object (b);
}

/* For features read from several files: each part's name and the range of samples it
 * holds, numbered across the parts ([first_sample, first_sample + samples)). */
static void
hr_json_parts (JsonBuilder *b, HrSource *features)
{
  HrConcatSource *concat;

  if (!HR_IS_CONCAT_SOURCE (features))
    return;
  concat = HR_CONCAT_SOURCE (features);
  json_builder_set_member_name (b, "parts");
  json_builder_begin_array (b);
  for (guint i = 0; i < hr_concat_source_get_n_parts (concat); i++)
    {
      guint64 first = hr_concat_source_get_part_start (concat, i);

      json_builder_begin_object (b);
      hr_json_add_string (b, "features",
                          hr_source_get_name (hr_concat_source_get_part (concat, i)));
      hr_json_add_int (b, "first_sample", (gint64)first);
      hr_json_add_int (b, "samples",
                       (gint64)(hr_concat_source_get_part_start (concat, i + 1) - first));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static JsonNode *
hr_analysis_build_json (HrAnalysis *self, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  HrSource *features = hr_analysis_get_source (self);
  HrSource *projections = hr_analysis_get_projections_source (self);
  g_auto (GStrv) flags = hr_flags_to_keys (HR_TYPE_VERDICT_FLAGS, hr_analysis_get_verdict (self));
  g_auto (GStrv) lines = NULL;

  json_builder_begin_object (b);
  hr_json_add_int (b, "report_format", HR_REPORT_FORMAT);
  hr_json_software (b);
  json_builder_set_member_name (b, "input");
  json_builder_begin_object (b);
  hr_json_add_string (b, "features", hr_source_get_name (features));
  hr_json_parts (b, features);
  hr_json_add_int (b, "samples", (gint64)hr_source_get_n_samples (features));
  hr_json_add_int (b, "features_dimension", (gint64)hr_source_get_n_features (features));
  hr_json_add_string (b, "layout",
                      hr_enum_nick (HR_TYPE_STACK_LAYOUT,
                                    hr_stack_info_get_layout (hr_source_get_info (features))));
  hr_json_add_string (b, "projections",
                      projections != NULL ? hr_source_get_name (projections) : NULL);
  hr_json_add_int (b, "dropped_samples", (gint64)hr_analysis_get_n_dropped (self));
  hr_json_add_int (b, "nonfinite_values", (gint64)hr_analysis_get_n_nonfinite (self));
  json_builder_set_member_name (b, "standardized");
  json_builder_add_boolean_value (b, hr_analysis_get_standardize (self));
  json_builder_end_object (b);
  /* what the report writes of its per-sample table (HrAnalysis:per-sample-format) */
  json_builder_set_member_name (b, "outputs");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "per_sample");
  json_builder_begin_object (b);
  hr_json_add_string (b, "format", hr_per_sample_word (hr_report_per_sample_format (self)));
  hr_json_add_string (b, "file", hr_per_sample_file (hr_report_per_sample_format (self)));
  hr_json_add_int (b, "rows", (gint64)hr_source_get_n_samples (features));
  /* false: merged from parts made without per-sample tables (--per-sample none) */
  json_builder_set_member_name (b, "statistics_held");
  json_builder_add_boolean_value (b, hr_analysis_has_per_sample (self));
  json_builder_end_object (b);
  json_builder_end_object (b);
  hr_json_head (b, self);

  json_builder_set_member_name (b, "stages");
  json_builder_begin_array (b);
  for (guint i = 0; i < hr_analysis_get_n_stages (self); i++)
    if (!hr_json_stage (b, self, hr_analysis_get_stage (self, i), error))
      return NULL;
  json_builder_end_array (b);
  hr_json_contrastive (b, self);

  json_builder_set_member_name (b, "verdict");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "flags");
  json_builder_begin_array (b);
  /* stable identifiers, whatever the language */
  for (gsize i = 0; flags[i] != NULL; i++)
    json_builder_add_string_value (b, flags[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "summary");
  json_builder_begin_array (b);
  lines = hr_analysis_describe_verdict (self);
  for (guint i = 0; lines[i] != NULL; i++)
    json_builder_add_string_value (b, lines[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/**
 * hr_analysis_to_json:
 * @self: a #HrAnalysis that has run
 * @pretty: whether to indent the output
 *
 * The report as `report.json` holds it: what was run (files, head, mode, software versions),
 * which per-sample table the report writes (`outputs`), then for every stage its size, its spectrum
 * and rank measures (for stages that have one), its statistics, then the contrastive measures and
 * the verdict. Non-finite numbers are written as `null`.
 *
 * Returns: (transfer full) (nullable): the JSON text, or %NULL if the analysis has not run
 */
char *
hr_analysis_to_json (HrAnalysis *self, gboolean pretty)
{
  g_autoptr (JsonGenerator) gen = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GError) error = NULL;

  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  if (!hr_analysis_is_done (self))
    return NULL;
  root = hr_analysis_build_json (self, &error);
  if (root == NULL)
    {
      g_warning ("%s", error->message);
      return NULL;
    }
  hr_json_make_valid (root);
  gen = json_generator_new ();
  json_generator_set_pretty (gen, pretty);
  json_generator_set_root (gen, root);
  return json_generator_to_data (gen, NULL);
}

/* -- the verdict in words ---------------------------------------------------------------- */

/* An effective rank in words: "21.9", or "undefined" when it is NaN (every value 0). */
static char *
hr_effective_rank_text (double e)
{
  if (isnan (e))
    /* TRANSLATORS: an effective rank that has no value: every singular value is 0 */
    return g_strdup (_ ("undefined"));
  return g_strdup_printf ("%.1f", e);
}

/* RankMe of the centred singular values: the effective rank the features would have
 * without their common offset (the same formula as hr_spectrum_get_effective_rank(), on the
 * other values). NaN when every value is 0. */
static double
hr_centred_effective_rank (HrSpectrum *sp)
{
  gsize n = 0;
  const double *sigma = hr_spectrum_get_singular_values (sp, &n);
  double sum = 0.0, entropy = 0.0;

  for (gsize k = 0; k < n; k++)
    sum += sigma[k];
  if (!(sum > 0.0))
    return NAN;
  for (gsize k = 0; k < n; k++)
    {
      double p = sigma[k] / sum + 1e-7;
      entropy -= p * log (p);
    }
  return exp (entropy);
}

/**
 * hr_analysis_describe_verdict:
 * @self: a #HrAnalysis that has run
 *
 * The verdict in plain words, one sentence per line, translated: does the head reduce rank,
 * does a ReLU clip, are there dead units, did the projections collapse.
 *
 * Returns: (transfer full) (array zero-terminated=1): the sentences
 */
char **
hr_analysis_describe_verdict (HrAnalysis *self)
{
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  HrStage *features, *projections;
  HrVerdictFlags v;

  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  if (!hr_analysis_is_done (self))
    {
      g_ptr_array_add (lines, g_strdup (_ ("The analysis has not run.")));
      g_ptr_array_add (lines, NULL);
      return (char **)g_ptr_array_steal (lines, NULL);
    }
  v = hr_analysis_get_verdict (self);
  features = hr_analysis_find_stage (self, "features");
  projections = hr_analysis_find_stage (self, "projections");

  if (projections == NULL || hr_stage_get_spectrum (projections) == NULL)
    g_ptr_array_add (lines, g_strdup (_ ("No head and no projections were given: only the "
                                         "features were analysed.")));
  else
    {
      HrSpectrum *f = hr_stage_get_spectrum (features), *p = hr_stage_get_spectrum (projections);
      g_autofree char *rf = hr_rank_range_text (f, "–"), *rp = hr_rank_range_text (p, "–");
      double ef = hr_spectrum_get_effective_rank (f), ep = hr_spectrum_get_effective_rank (p);
      g_autofree char *sef = hr_effective_rank_text (ef), *sep = hr_effective_rank_text (ep);

      if ((v & HR_VERDICT_REDUCES_RANK) && (v & HR_VERDICT_COLLAPSED))
        /* not "as a healthy head does": the collapse sentence follows */
        g_ptr_array_add (
            lines, g_strdup_printf (
                       /* TRANSLATORS: the verdict; %s are ranks and effective ranks ("21.9",
                          or "undefined") */
                       _ ("The head reduces rank: the projections have rank %s and effective rank "
                          "%s, the features rank %s and effective rank %s."),
                       rp, sep, rf, sef));
      else if (v & HR_VERDICT_REDUCES_RANK)
        g_ptr_array_add (
            lines,
            g_strdup_printf (
                /* TRANSLATORS: the verdict; %s are ranks ("32" or a range "30–32"), %.1f
                   effective ranks */
                _ ("The head reduces rank, as a healthy projection head does: the projections "
                   "have rank %s and effective rank %.1f, the features rank %s and effective "
                   "rank %.1f."),
                rp, ep, rf, ef));
      else if (v & HR_VERDICT_INFLATES_RANK)
        g_ptr_array_add (
            lines, g_strdup_printf (
                       /* TRANSLATORS: the verdict; %s are ranks and effective ranks ("21.9",
                          or "undefined") */
                       _ ("The head inflates rank: the projections have rank %s and effective rank "
                          "%s, the features rank %s and effective rank %s."),
                       rp, sep, rf, sef));
      else if (v & HR_VERDICT_INFLATES_EFFECTIVE_RANK)
        {
          g_ptr_array_add (
              lines,
              g_strdup_printf (
                  /* TRANSLATORS: the verdict; %.1f are effective ranks, %s ranks */
                  _ ("The head keeps rank (%s in the features, %s in the projections) and raises "
                     "the effective rank (RankMe, on the uncentred values) from %.1f to %.1f."),
                  rf, rp, ef, ep));
          /* The offset note only where it is true: the features' centred values have an
             effective rank higher than their uncentred ones by more than the verdict's margin. */
          if (hr_centred_effective_rank (f) > ef * 1.01)
            g_ptr_array_add (
                lines,
                g_strdup_printf (
                    /* TRANSLATORS: %.1f are effective ranks */
                    _ ("A large common offset of the features lowers their effective rank: without "
                       "it (centred), it is %.1f, not %.1f; see their spectrum."),
                    hr_centred_effective_rank (f), ef));
        }
      else if (v & HR_VERDICT_REDUCES_EFFECTIVE_RANK)
        g_ptr_array_add (
            lines,
            g_strdup_printf (
                /* TRANSLATORS: the verdict; %s are ranks, %.1f effective ranks */
                _ ("The head keeps rank (%s in the features, %s in the projections) and lowers "
                   "the effective rank from %.1f to %.1f."),
                rf, rp, ef, ep));
      else
        g_ptr_array_add (
            lines,
            g_strdup_printf (
                /* TRANSLATORS: the verdict; %s are ranks and effective ranks ("21.9", or
                   "undefined") */
                _ ("The head keeps rank: the projections have rank %s and effective rank %s, "
                   "the features rank %s and effective rank %s."),
                rp, sep, rf, sef));
      if (v & HR_VERDICT_USES_ALL_DIMENSIONS)
        g_ptr_array_add (
            lines,
            g_strdup_printf (
                /* TRANSLATORS: %zu is the projections' dimension, %s the features' rank */
                _ ("The head maps the features (rank %s) into %zu dimensions and uses all of "
                   "them."),
                rf, hr_stage_get_dimension (projections)));
      if ((v & HR_VERDICT_INFLATES_RANK) && hr_analysis_get_head (self) != NULL
          && !hr_head_has_normalisation (hr_analysis_get_head (self)))
        g_ptr_array_add (lines, g_strdup (_ ("The head has no normalisation layer: VisCy issue 139 "
                                             "found rank inflated by such a head, whose ReLU "
                                             "clipped its activations.")));
    }

  if (hr_analysis_get_head (self) != NULL)
    {
      char *assumption = hr_head_get_assumption (hr_analysis_get_head (self));

      if (assumption != NULL)
        g_ptr_array_add (lines, assumption);
    }

  for (guint i = 0; i < hr_analysis_get_n_stages (self); i++)
    {
      HrStage *stage = hr_analysis_get_stage (self, i);
      HrSpectrum *sp = hr_stage_get_spectrum (stage);

      /* the float64 bound (γ_b of b = 2,048 rows) may also exceed the values' rounding, by a
       * small factor: only float32 products are worth a word */
      if (sp != NULL && hr_spectrum_is_tolerance_raised (sp)
          && hr_moments_get_precision (hr_stage_get_moments (stage))
                 == HR_PRECISION_FLOAT32_PRODUCTS)
        g_ptr_array_add (
            lines,
            g_strdup_printf (
                /* TRANSLATORS: %s is a stage name, %.3g are singular values; "--precision
                   float64" is an option, left untranslated */
                _ ("Stage %s: the error bound of the float32 products raised the rank tolerance "
                   "to %.3g, above the %.3g that the values resolve; its rank counts only what "
                   "float32 products can see (--precision float64 sees more)."),
                hr_stage_get_name (stage), hr_spectrum_get_tolerance (sp),
                sqrt (pow (hr_spectrum_get_value_error (sp), 2)
                      + hr_spectrum_get_eigensolver_error (sp))));
    }
  for (guint i = 0; i < hr_analysis_get_n_stages (self); i++)
    {
      HrStage *stage = hr_analysis_get_stage (self, i);
      HrMoments *m = hr_stage_get_moments (stage);
      gsize d = hr_stage_get_dimension (stage);
      guint dead = hr_moments_get_n_dead (m), always;
      const char *measure, *kind;
      double zmean;

      if (hr_stage_get_layer (stage) < 0 || hr_moments_get_n_samples (m) == 0)
        continue;
      zmean = hr_stage_get_mean_clipped_fraction (stage);
      measure = hr_stage_get_clipping_measure (stage);
      always = hr_stage_get_n_always_clipped (stage);
      kind = hr_layer_kind_to_string (hr_stage_get_layer_kind (stage));
      if (measure != NULL && measure[0] == 'z' && zmean > 0.5)
        g_ptr_array_add (lines,
                         g_strdup_printf (
                             /* TRANSLATORS: %s is a layer name, %.0f%% a percentage, %zu a
                                number of units */
                             _ ("Layer %s (ReLU) clips most activations: %.0f%% of its outputs "
                                "are zero (mean over its %zu units)."),
                             hr_stage_get_name (stage), 100.0 * zmean, d));
      else if (measure != NULL && measure[0] == 'n' && zmean > 0.5)
        g_ptr_array_add (lines,
                         g_strdup_printf (
                             /* TRANSLATORS: %s are a layer name and its activation (gelu, silu,
                                leaky-relu), %.0f%% a percentage, %zu a number of units */
                             _ ("Layer %s (%s) damps most activations: %.0f%% of its outputs are "
                                "below zero, where its inputs were (mean over its %zu units)."),
                             hr_stage_get_name (stage), kind, 100.0 * zmean, d));
      else if (measure != NULL && zmean > 0.5)
        g_ptr_array_add (lines,
                         g_strdup_printf (
                             /* TRANSLATORS: %s is a layer name, %.0f%% a percentage, %zu a number
                                of units */
                             _ ("Layer %s (tanh) saturates most activations: %.0f%% of its outputs "
                                "are beyond ±0.964 (inputs beyond ±2; mean over its %zu units)."),
                             hr_stage_get_name (stage), 100.0 * zmean, d));
      if (measure != NULL && measure[0] != 'z' && always > 0)
        g_ptr_array_add (
            lines,
            g_strdup_printf (
                /* TRANSLATORS: %s are a layer name and its activation; the measure is
                   "negative" or "saturated" */
                g_dngettext (GETTEXT_PACKAGE,
                             "Layer %s (%s) has %u unit in its clipping region (%s) for every "
                             "sample.",
                             "Layer %s (%s) has %u units in their clipping region (%s) for every "
                             "sample.",
                             always),
                hr_stage_get_name (stage), kind, always, measure));
      if (dead > 0
          && ((hr_stage_is_activation (stage) && measure != NULL && measure[0] == 'z')
              || hr_stage_get_role (stage) == HR_STAGE_ROLE_PROJECTIONS))
        g_ptr_array_add (
            lines,
            g_strdup_printf (
                /* TRANSLATORS: %s is a stage name */
                g_dngettext (GETTEXT_PACKAGE, "Stage %s has %u dead unit: zero for every sample.",
                             "Stage %s has %u dead units: zero for every sample.", dead),
                hr_stage_get_name (stage), dead));
    }
  if (v & HR_VERDICT_COLLAPSED)
    {
      gsize d = hr_stage_get_dimension (projections);
      double std = hr_moments_get_simsiam_std (hr_stage_get_moments (projections));

      /* say the reason that holds: the SimSiam measure below a tenth of 1/√d, else the rank */
      if (std < 0.1 / sqrt (d))
        g_ptr_array_add (
            lines,
            g_strdup_printf (
                /* TRANSLATORS: %.3g are standard deviations, %zu the dimension */
                _ ("The projections look collapsed: the standard deviation of the L2-normalised "
                   "projections is %.3g, where a healthy head gives about %.3g (1/√%zu)."),
                std, 1.0 / sqrt (d), d));
      else
        {
          g_autofree char *rank = hr_rank_range_text (hr_stage_get_spectrum (projections), "–");

          g_ptr_array_add (lines,
                           g_strdup_printf (
                               /* TRANSLATORS: %s is a rank ("1" or a range "0–1"), %zu the
                                  dimension */
                               _ ("The projections look collapsed: they have rank %s of %zu "
                                  "dimensions, the samples lie on one line or at one point."),
                               rank, d));
        }
    }
  if (hr_analysis_get_n_dropped (self) > 0)
    {
      guint64 n_values = hr_analysis_get_n_nonfinite (self);
      g_autofree char *values = g_strdup_printf (
          /* TRANSLATORS: a number of NaN or infinite values, in the sentence below */
          g_dngettext (GETTEXT_PACKAGE, "%llu value", "%llu values", n_values),
          (unsigned long long)n_values);

      g_ptr_array_add (
          lines,
          g_strdup_printf (
              /* TRANSLATORS: %llu samples, of %llu, and %s a number of values ("4 values");
                 “drop” is the value of --nonfinite, left untranslated */
              g_dngettext (GETTEXT_PACKAGE,
                           "%llu sample of %llu held NaN or infinite values (%s) and was "
                           "left out (non-finite policy “drop”, the default).",
                           "%llu samples of %llu held NaN or infinite values (%s) and "
                           "were left out (non-finite policy “drop”, the default).",
                           hr_analysis_get_n_dropped (self)),
              (unsigned long long)hr_analysis_get_n_dropped (self),
              (unsigned long long)hr_source_get_n_samples (hr_analysis_get_source (self)), values));
    }
  g_ptr_array_add (lines, NULL);
  return (char **)g_ptr_array_steal (lines, NULL);
}

/* -- files of the report ----------------------------------------------------------------- */

/* A file of the report's folder, written whole (HrOutputFile); its name is a checkpoint
 * once it is in place. */
typedef struct
{
  HrOutputFile *file;
  FILE *fp;
} HrReportFile;

static gboolean
hr_report_file_open (HrReportFile *f, const char *path, GError **error)
{
  f->file = hr_output_file_begin (path, HR_OUTPUT_FILE_NONE, error);
  if (f->file != NULL)
    f->fp = hr_output_file_get_stream (f->file, error);
  if (f->fp == NULL)
    g_clear_pointer (&f->file, hr_output_file_free);
  return f->fp != NULL;
}

/* Not committed: removes the temporary file. */
static void
hr_report_file_abort (HrReportFile *f)
{
  g_clear_pointer (&f->file, hr_output_file_free);
  f->fp = NULL;
}

static gboolean
hr_report_file_commit (HrReportFile *f, const char *path, GError **error)
{
  gboolean ok = hr_output_file_commit (f->file, NULL, error);

  hr_report_file_abort (f);
  if (ok)
    {
      g_autofree char *name = g_path_get_basename (path);
      hr_output_checkpoint (name);
    }
  return ok;
}

/* A number for a CSV file, independent of the locale; empty for NaN. */
static void
hr_csv_number (FILE *fp, double v, const char *format)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  fputc (',', fp);
  if (isfinite (v))
    fputs (g_ascii_formatd (buf, sizeof buf, format, v), fp);
  else if (!isnan (v))
    fputs (v > 0 ? "inf" : "-inf", fp);
}

/* A text field for a CSV file, as RFC 4180 says: in double quotes (doubled inside) when it
 * holds a comma, a quote or a line break; valid UTF-8 (U+FFFD for invalid bytes). */
static void
hr_csv_text (FILE *fp, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);

  if (strpbrk (valid, ",\"\r\n") == NULL)
    {
      fputs (valid, fp);
      return;
    }
  fputc ('"', fp);
  for (const char *p = valid; *p != '\0'; p++)
    {
      if (*p == '"')
        fputc ('"', fp);
      fputc (*p, fp);
    }
  fputc ('"', fp);
}

static gboolean
hr_write_text (const char *path, const char *text, GError **error)
{
  HrReportFile f = { 0 };

  if (!hr_report_file_open (&f, path, error))
    return FALSE;
  fputs (text, f.fp);
  return hr_report_file_commit (&f, path, error);
}

/* A number for a CSV row in @out, independent of the locale; empty for NaN. */
static void
hr_csv_append_number (GString *out, double v, const char *format)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_c (out, ',');
  if (isfinite (v))
    g_string_append (out, g_ascii_formatd (buf, sizeof buf, format, v));
}

/* A column name of per_sample.csv: the stage's name and @what, quoted as RFC 4180 says. */
static void
hr_csv_append_column (GString *out, const char *stage, const char *what)
{
  g_autofree char *name = g_strconcat (stage, what, NULL);
  g_autofree char *valid = g_utf8_make_valid (name, -1);

  g_string_append_c (out, ',');
  if (strpbrk (valid, ",\"\r\n") == NULL)
    {
      g_string_append (out, valid);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = valid; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

/* per_sample.csv (or per_sample.csv.gz through GIO's gzip compressor): sample, then mean,
 * std, norm (and zero fraction for activations) of each stage. Written whole
 * (HrOutputFile) through a GOutputStream over its temporary file. */
static gboolean
hr_write_per_sample (HrAnalysis *self, const char *path, HrPerSampleFormat format,
                     GCancellable *cancellable, GError **error)
{
  g_autoptr (HrOutputFile) file = NULL;
  g_autoptr (GOutputStream) base = NULL, out = NULL;
  g_autoptr (GString) text = g_string_sized_new (1 << 20);
  guint n_stages = hr_analysis_get_n_stages (self);
  guint64 n = hr_stage_get_n_samples (hr_analysis_get_stage (self, 0));
  g_autofree float *block = g_new (float, (gsize)n_stages *HR_READ_ROWS *HR_PER_SAMPLE_COLUMNS);
  gboolean ok = TRUE;

  file = hr_output_file_begin (path, HR_OUTPUT_FILE_NONE, error);
  if (file == NULL)
    return FALSE;
  base = g_unix_output_stream_new (hr_output_file_get_fd (file), FALSE);
  if (format == HR_PER_SAMPLE_FORMAT_CSV_GZIP)
    {
      g_autoptr (GZlibCompressor) gzip
          = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, HR_PER_SAMPLE_GZIP_LEVEL);

      out = g_converter_output_stream_new (base, G_CONVERTER (gzip));
    }
  else
    out = g_object_ref (base);

  g_string_append (text, "sample");
  for (guint s = 0; s < n_stages; s++)
    {
      HrStage *stage = hr_analysis_get_stage (self, s);
      const char *name = hr_stage_get_name (stage);

      hr_csv_append_column (text, name, "_mean");
      hr_csv_append_column (text, name, "_std");
      hr_csv_append_column (text, name, "_norm");
      if (hr_stage_is_activation (stage))
        hr_csv_append_column (text, name, "_zero_fraction");
    }
  g_string_append_c (text, '\n');
  for (guint64 first = 0; ok && first < n; first += HR_READ_ROWS)
    {
      gsize count = (gsize)MIN ((guint64)HR_READ_ROWS, n - first);

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      for (guint s = 0; s < n_stages; s++)
        if (!hr_stage_get_per_sample_into (hr_analysis_get_stage (self, s), first, count,
                                           block + (gsize)s * HR_READ_ROWS * HR_PER_SAMPLE_COLUMNS,
                                           error))
          return FALSE;
      for (gsize r = 0; r < count; r++)
        {
          g_string_append_printf (text, "%" G_GUINT64_FORMAT, first + r);
          for (guint s = 0; s < n_stages; s++)
            {
              HrStage *stage = hr_analysis_get_stage (self, s);
              const float *v = block + ((gsize)s * HR_READ_ROWS + r) * HR_PER_SAMPLE_COLUMNS;
              int columns = hr_stage_is_activation (stage) ? 4 : 3;

              for (int c = 0; c < columns; c++)
                hr_csv_append_number (text, v[c], "%.9g");
            }
          g_string_append_c (text, '\n');
        }
      ok = g_output_stream_write_all (out, text->str, text->len, NULL, cancellable, error);
      g_string_truncate (text, 0);
    }
  if (ok && n == 0)
    ok = g_output_stream_write_all (out, text->str, text->len, NULL, cancellable, error);
  /* closing the converter writes the end of the gzip stream; the file stays open */
  if (!ok || !g_output_stream_close (out, cancellable, error))
    {
      g_autofree char *shown = g_filename_display_name (path);

      g_prefix_error (error, "%s: ", shown);
      return FALSE;
    }
  if (!hr_output_file_commit (file, NULL, error))
    return FALSE;
  {
    g_autofree char *name = g_path_get_basename (path);
    hr_output_checkpoint (name);
  }
  return TRUE;
}

/* per_dimension.csv: one row per stage and dimension. */
static gboolean
hr_write_per_dimension (HrAnalysis *self, const char *path, GError **error)
{
  HrReportFile f = { 0 };

  if (!hr_report_file_open (&f, path, error))
    return FALSE;
  fputs ("stage,dimension,mean,std,zero_fraction,dead\n", f.fp);
  for (guint s = 0; s < hr_analysis_get_n_stages (self); s++)
    {
      HrStage *stage = hr_analysis_get_stage (self, s);
      HrMoments *m = hr_stage_get_moments (stage);
      g_autoptr (GBytes) mean = hr_moments_get_mean (m);
      g_autoptr (GBytes) std = hr_moments_get_std (m);
      g_autoptr (GBytes) zero = hr_moments_get_zero_fraction (m);
      gsize size;
      const double *mu = g_bytes_get_data (mean, &size), *sd = g_bytes_get_data (std, &size),
                   *z = g_bytes_get_data (zero, &size);
      gboolean any = hr_moments_get_n_samples (m) > 0;

      for (gsize j = 0; j < hr_stage_get_dimension (stage); j++)
        {
          hr_csv_text (f.fp, hr_stage_get_name (stage));
          fprintf (f.fp, ",%zu", j);
          hr_csv_number (f.fp, any ? mu[j] : NAN, "%.17g");
          hr_csv_number (f.fp, any ? sd[j] : NAN, "%.17g");
          hr_csv_number (f.fp, any ? z[j] : NAN, "%.17g");
          fprintf (f.fp, ",%d\n", any && z[j] == 1.0);
        }
    }
  return hr_report_file_commit (&f, path, error);
}

/* -- figures ----------------------------------------------------------------------------- */

/* @name.png and @name.svg in @directory, each written whole and then a checkpoint (the
 * report's and the comparison's figures). */
gboolean
hr_report_write_figure (HrFigure *fig, const char *directory, const char *name, GError **error)
{
  static const char *const extensions[] = { "png", "svg" };

  for (gsize i = 0; i < G_N_ELEMENTS (extensions); i++)
    {
      g_autofree char *file = g_strdup_printf ("%s.%s", name, extensions[i]);
      g_autofree char *path = g_build_filename (directory, file, NULL);

      if (!hr_figure_write (fig, path, error))
        return FALSE;
      hr_output_checkpoint (file);
    }
  return TRUE;
}

static gboolean
hr_plot_explained_variance (HrAnalysis *self, const char *directory, GError **error)
{
  g_autoptr (HrFigure) fig = hr_figure_new (_ ("PCA explained variance of each stage"), 1, 2);
  HrAxes *per = hr_figure_get_axes (fig, 0, 0), *cum = hr_figure_get_axes (fig, 0, 1);
  double lowest = INFINITY;
  gboolean log = hr_analysis_get_log_plots (self);
  int color = 0;

  hr_figure_set_size (fig, 1200, 520);
  hr_axes_set_title (per, _ ("Per component"));
  hr_axes_set_labels (per, _ ("principal component"), _ ("explained variance ratio"));
  hr_axes_set_log_y (per, log);
  hr_axes_set_log_x (per, log);
  hr_axes_set_title (cum, _ ("Cumulative"));
  hr_axes_set_labels (cum, _ ("principal component"), _ ("cumulative explained variance"));
  hr_axes_set_log_x (cum, log);
  hr_axes_set_y_range (cum, 0.0, 1.0);
  for (guint s = 0; s < hr_analysis_get_n_stages (self); s++)
    {
      HrStage *stage = hr_analysis_get_stage (self, s);
      HrSpectrum *sp = hr_stage_get_spectrum (stage);
      g_autofree char *label = NULL, *name = NULL;
      const double *v;
      gsize n;
      guint rank;

      if (sp == NULL)
        continue;
      name = hr_stage_label (stage);
      rank = hr_spectrum_get_rank (sp);
      /* TRANSLATORS: legend entry: stage name, its rank and effective rank */
      label = g_strdup_printf (_ ("%s (rank %u, eff. rank %.1f)"), name, rank,
                               hr_spectrum_get_effective_rank (sp));
      v = hr_spectrum_get_explained_variance_ratio (sp, &n);
      /* below the rank tolerance there is only rounding: keep it out of the way */
      if (rank > 0 && rank <= n && v[rank - 1] > 0)
        lowest = MIN (lowest, v[rank - 1]);
      hr_axes_add_line (per, label, NULL, v, n, color, FALSE, n <= 40);
      v = hr_spectrum_get_cumulative_explained_variance (sp, &n);
      hr_axes_add_line (cum, name, NULL, v, n, color, FALSE, n <= 40);
      color++;
    }
  if (log && isfinite (lowest))
    hr_axes_set_y_range (per, pow (10.0, floor (log10 (lowest)) - 1.0), NAN);
  hr_axes_add_hline (cum, 0.95, _ ("95 %"), 6, TRUE);
  return hr_report_write_figure (fig, directory, "explained_variance", error);
}

static gboolean
hr_plot_singular_values (HrAnalysis *self, const char *directory, GError **error)
{
  guint n_spectra = 0, k = 0;
  g_autoptr (HrFigure) fig = NULL;

  for (guint s = 0; s < hr_analysis_get_n_stages (self); s++)
    n_spectra += hr_stage_get_spectrum (hr_analysis_get_stage (self, s)) != NULL;
  fig = hr_figure_new (_ ("Singular values of each stage"), n_spectra, 1);
  hr_figure_set_size (fig, 800, 60 + 320 * n_spectra);
  for (guint s = 0; s < hr_analysis_get_n_stages (self); s++)
    {
      HrStage *stage = hr_analysis_get_stage (self, s);
      HrSpectrum *sp = hr_stage_get_spectrum (stage);
      HrAxes *ax;
      g_autofree char *title = NULL;
      const double *v;
      gsize n;
      guint low, high;

      if (sp == NULL)
        continue;
      ax = hr_figure_get_axes (fig, k++, 0);
      g_autofree char *name = hr_stage_label (stage);

      /* TRANSLATORS: panel title: stage name and its dimension */
      title = g_strdup_printf (_ ("%s: %zu dimensions"), name, hr_stage_get_dimension (stage));
      hr_axes_set_title (ax, title);
      hr_axes_set_labels (ax, _ ("index"), _ ("singular value"));
      hr_axes_set_log_y (ax, TRUE);
      v = hr_spectrum_get_singular_values (sp, &n);
      hr_axes_add_line (ax, _ ("centred"), NULL, v, n, 0, FALSE, n <= 40);
      v = hr_spectrum_get_uncentred_singular_values (sp, &n);
      hr_axes_add_line (ax, _ ("uncentred"), NULL, v, n, 1, TRUE, FALSE);
      hr_axes_add_hline (ax, hr_spectrum_get_tolerance (sp), _ ("rank tolerance"), 6, TRUE);
      /* between the noise floor and the tolerance a value may be signal or rounding */
      if (hr_spectrum_get_noise_floor (sp) > 0
          && hr_spectrum_get_noise_floor (sp) < hr_spectrum_get_tolerance (sp))
        hr_axes_add_hline (ax, hr_spectrum_get_noise_floor (sp), _ ("noise floor"), 2, TRUE);
      hr_axes_add_vline (ax, hr_spectrum_get_rank (sp), _ ("rank"), 3, TRUE);
      /* a rank that is a range (values between the noise floor and the tolerance): its
         upper end too, so that the plot shows the range the table and report.json give */
      hr_spectrum_get_rank_range (sp, &low, &high);
      if (high > low)
        hr_axes_add_vline (ax, high, _ ("rank: upper end of its range"), 4, TRUE);
    }
  return hr_report_write_figure (fig, directory, "singular_values", error);
}

/* Per-sample values, thinned to at most HR_PLOT_POINTS points by keeping the minimum and
 * maximum of each block, so that the envelope survives. */
#define HR_PLOT_POINTS 1000000

/* From this many samples on, the figure adds the distribution of the per-sample values
 * (a histogram of every sample): the line over the samples is then drawn as an envelope,
 * which shows the extremes but not where most samples lie. */
#define HR_PLOT_DENSITY_FROM 5000
#define HR_PLOT_DENSITY_BINS 200

typedef struct
{
  double *x, *y[2];
  gsize n;
  guint64 block;
  double lo[2], hi[2]; /* of the finite values; lo > hi when there is none */
} HrThinned;

typedef struct
{
  double lo[2], hi[2];
  guint64 *counts[2]; /* HR_PLOT_DENSITY_BINS each */
} HrDensity;

static gboolean
hr_density_block (const float *values, guint64 first, gsize n, gpointer data, GError **error)
{
  HrDensity *d = data;

  for (gsize r = 0; r < n; r++)
    for (int c = 0; c < 2; c++)
      {
        double v = values[r * HR_PER_SAMPLE_COLUMNS + c];
        gint64 bin;

        if (!(v >= d->lo[c] && v <= d->hi[c]))
          continue;
        bin = (gint64)((v - d->lo[c]) / (d->hi[c] - d->lo[c]) * HR_PLOT_DENSITY_BINS);
        d->counts[c][CLAMP (bin, 0, HR_PLOT_DENSITY_BINS - 1)]++;
      }
  return TRUE;
}

static gboolean
hr_thin_block (const float *values, guint64 first, gsize n, gpointer data, GError **error)
{
  HrThinned *t = data;

  for (gsize r = 0; r < n; r++)
    {
      guint64 sample = first + r;

      for (int c = 0; c < 2; c++)
        {
          double v = values[r * HR_PER_SAMPLE_COLUMNS + c];

          if (isfinite (v))
            {
              t->lo[c] = MIN (t->lo[c], v);
              t->hi[c] = MAX (t->hi[c], v);
            }
        }

      if (t->block <= 1)
        {
          t->x[t->n] = (double)sample;
          t->y[0][t->n] = values[r * HR_PER_SAMPLE_COLUMNS];
          t->y[1][t->n] = values[r * HR_PER_SAMPLE_COLUMNS + 1];
          t->n++;
        }
      else
        {
          /* two points per block: its first sample holds the minimum, its middle the
           * maximum of the block */
          gsize slot = (gsize)(sample / t->block) * 2;
          for (int c = 0; c < 2; c++)
            {
              double v = values[r * HR_PER_SAMPLE_COLUMNS + c];

              if (sample % t->block == 0)
                {
                  t->y[c][slot] = t->y[c][slot + 1] = v;
                  t->x[slot] = (double)sample;
                  t->x[slot + 1] = (double)sample + t->block / 2.0;
                  t->n = slot + 2;
                }
              else if (isfinite (v))
                {
                  if (!(v >= t->y[c][slot]))
                    t->y[c][slot] = v;
                  if (!(v <= t->y[c][slot + 1]))
                    t->y[c][slot + 1] = v;
                }
            }
        }
    }
  return TRUE;
}

static gboolean
hr_plot_per_sample (HrAnalysis *self, const char *directory, GError **error)
{
  HrStage *stage = hr_analysis_find_stage (self, "projections");
  g_autoptr (HrFigure) fig = NULL;
  HrThinned t = { 0 };
  HrDensity d = { 0 };
  guint64 n;
  g_autofree char *title = NULL;
  gboolean ok, density;

  if (stage == NULL)
    stage = hr_analysis_get_stage (self, 0);
  n = hr_stage_get_n_samples (stage);
  density = n >= HR_PLOT_DENSITY_FROM;
  t.lo[0] = t.lo[1] = INFINITY;
  t.hi[0] = t.hi[1] = -INFINITY;
  t.block = n > HR_PLOT_POINTS ? (n + HR_PLOT_POINTS / 2 - 1) / (HR_PLOT_POINTS / 2) : 1;
  t.x = g_new (double, MIN (n, HR_PLOT_POINTS) + 2);
  t.y[0] = g_new (double, MIN (n, HR_PLOT_POINTS) + 2);
  t.y[1] = g_new (double, MIN (n, HR_PLOT_POINTS) + 2);
  ok = hr_stage_foreach_block (stage, hr_thin_block, &t, error);
  if (ok && density)
    {
      /* a second pass bins every sample between the extremes of the first */
      for (int c = 0; c < 2; c++)
        {
          d.counts[c] = g_new0 (guint64, HR_PLOT_DENSITY_BINS);
          d.lo[c] = t.lo[c];
          d.hi[c] = t.hi[c];
          if (!(d.lo[c] < d.hi[c]) && d.lo[c] <= d.hi[c])
            {
              /* one value: a bin around it */
              d.lo[c] -= MAX (fabs (d.lo[c]) * 1e-3, 1e-6);
              d.hi[c] += MAX (fabs (d.hi[c]) * 1e-3, 1e-6);
            }
        }
      ok = hr_stage_foreach_block (stage, hr_density_block, &d, error);
    }
  if (ok)
    {
      HrAxes *top, *bottom;
      const char *y_labels[2] = { _ ("mean across dimensions"), _ ("std across dimensions") };

      /* TRANSLATORS: figure title; %s is a stage name, "projections" or "features" */
      title = g_strdup_printf (_ ("Per-sample mean and standard deviation of the %s"),
                               hr_stage_get_name (stage));
      fig = hr_figure_new (title, 2, density ? 2 : 1);
      hr_figure_set_size (fig, density ? 1400 : 1000, 700);
      top = hr_figure_get_axes (fig, 0, 0);
      bottom = hr_figure_get_axes (fig, 1, 0);
      hr_axes_set_labels (top, _ ("sample"), y_labels[0]);
      hr_axes_set_labels (bottom, _ ("sample"), y_labels[1]);
      hr_axes_add_line (top, _ ("mean"), t.x, t.y[0], t.n, 0, FALSE, FALSE);
      hr_axes_add_line (bottom, _ ("std"), t.x, t.y[1], t.n, 1, FALSE, FALSE);
      for (int c = 0; density && c < 2; c++)
        {
          HrAxes *ax = hr_figure_get_axes (fig, c, 1);
          g_autofree char *panel = g_strdup_printf (
              /* TRANSLATORS: title of the panel of the per_sample figure that shows how
                 the per-sample values are distributed; %llu is the number of samples */
              g_dngettext (GETTEXT_PACKAGE, "distribution over %llu sample",
                           "distribution over %llu samples", n),
              (unsigned long long)n);

          hr_axes_set_title (ax, panel);
          /* TRANSLATORS: the y label of a histogram: how many samples fall in each bin */
          hr_axes_set_labels (ax, y_labels[c], _ ("samples (log scale)"));
          hr_axes_set_log_y (ax, TRUE);
          if (d.lo[c] < d.hi[c])
            hr_axes_add_histogram_counts (ax, c == 0 ? _ ("mean") : _ ("std"), d.counts[c],
                                          HR_PLOT_DENSITY_BINS, d.lo[c], d.hi[c], c);
        }
      ok = hr_report_write_figure (fig, directory, "per_sample", error);
    }
  g_free (d.counts[0]);
  g_free (d.counts[1]);
  g_free (t.x);
  g_free (t.y[0]);
  g_free (t.y[1]);
  return ok;
}

static gboolean
hr_plot_zero_fraction (HrAnalysis *self, const char *directory, GError **error)
{
  /* TRANSLATORS: the title of the zero_fraction plot: per unit, the fraction of samples
     where the activation clips (exact zeros after ReLU, below 0 after GELU, SiLU and
     LeakyReLU, saturated after Tanh) */
  g_autoptr (HrFigure) fig = hr_figure_new (_ ("Fraction clipped per unit"), 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  int color = 1, shown = 0;

  hr_axes_set_labels (
      ax,
      /* TRANSLATORS: the x label of the zero_fraction plot; keep the measures' names */
      _ ("fraction of samples clipped (relu: y = 0; gelu, silu, leaky-relu: y < 0; tanh: "
         "|y| > tanh 2)"),
      _ ("units"));
  for (guint s = 0; s < hr_analysis_get_n_stages (self); s++)
    {
      HrStage *stage = hr_analysis_get_stage (self, s);
      g_autoptr (GBytes) zero = NULL;
      g_autofree char *name = NULL;
      gsize size;

      /* clipping happens at the activations */
      if (!hr_stage_is_activation (stage))
        continue;
      name = hr_stage_label (stage);
      /* the activation's own measure (hr_stage_get_clipping_measure()), as the table */
      zero = hr_stage_get_clipped_fraction (stage);
      if (zero == NULL)
        zero = hr_moments_get_zero_fraction (hr_stage_get_moments (stage));
      hr_axes_add_histogram (ax, name, g_bytes_get_data (zero, &size),
                             hr_stage_get_dimension (stage), 0.0, 1.0, 20, color++);
      shown++;
    }
  if (shown == 0)
    hr_axes_add_note (ax, _ ("no activation layer"));
  else
    hr_axes_add_vline (ax, 0.5, _ ("half of the samples"), 6, TRUE);
  return hr_report_write_figure (fig, directory, "zero_fraction", error);
}

/* -- per-pixel maps ---------------------------------------------------------------------- */

typedef struct
{
  HrStackWriter *writer;
  int column;
  float *values;
} HrMapWrite;

static gboolean
hr_map_block (const float *values, guint64 first, gsize n, gpointer data, GError **error)
{
  HrMapWrite *w = data;

  for (gsize r = 0; r < n; r++)
    w->values[r] = values[r * HR_PER_SAMPLE_COLUMNS + w->column];
  return hr_stack_writer_append (w->writer, w->values, n, error);
}

static gboolean
hr_write_map (HrStage *stage, int column, HrStackInfo *geometry, const char *path, GError **error)
{
  g_autoptr (HrStackWriter) writer = NULL;
  g_autofree float *values = g_new (float, HR_READ_ROWS);
  HrMapWrite w = { NULL, column, values };

  writer = hr_stack_writer_new (path, HR_STACK_LAYOUT_CHANNELS, hr_stage_get_n_samples (stage), 1,
                                geometry, error);
  if (writer == NULL)
    return FALSE;
  w.writer = writer;
  if (!hr_stage_foreach_block (stage, hr_map_block, &w, error))
    {
      hr_stack_writer_abort (writer);
      return FALSE;
    }
  return hr_stack_writer_finish (writer, error);
}

static gboolean
hr_write_maps (HrAnalysis *self, const char *directory, GCancellable *cancellable, GError **error)
{
  HrStackInfo *geometry = hr_source_get_info (hr_analysis_get_source (self));
  static const char *const names[] = { "mean", "std", "norm", "zero-fraction" };

  for (guint s = 0; s < hr_analysis_get_n_stages (self); s++)
    {
      HrStage *stage = hr_analysis_get_stage (self, s);
      gboolean activation = hr_stage_is_activation (stage);

      if (hr_stage_get_role (stage) != HR_STAGE_ROLE_PROJECTIONS && !activation)
        continue;
      for (int c = 0; c < HR_PER_SAMPLE_COLUMNS; c++)
        {
          g_autofree char *file = NULL, *path = NULL;

          /* projections: norm, mean, std; activations: zero fraction */
          if ((activation && c != 3) || (!activation && c == 3))
            continue;
          file = g_strdup_printf ("map-%s-%s.tif", hr_stage_get_name (stage), names[c]);
          path = g_build_filename (directory, file, NULL);
          if (g_cancellable_set_error_if_cancelled (cancellable, error)
              || !hr_write_map (stage, c, geometry, path, error))
            return FALSE;
          hr_output_checkpoint (file);
        }
    }
  return TRUE;
}

/* The per-sample table written on a thread of its own while the figures are drawn (the
 * two take about the same time, formatting numbers and compressing PNG images: 0.4 s on
 * one core at 60,000 samples of three stages). */
typedef struct
{
  HrAnalysis *self;
  char *path;
  HrPerSampleFormat format;
  GCancellable *cancellable;
  gboolean ok;
  GError *error;
} HrPerSampleTask;

static gpointer
hr_write_per_sample_thread (gpointer data)
{
  HrPerSampleTask *task = data;

  task->ok
      = hr_write_per_sample (task->self, task->path, task->format, task->cancellable, &task->error);
  if (!task->ok)
    g_cancellable_cancel (task->cancellable); /* the figures stop at their next check */
  return NULL;
}

static void
hr_cancel_task (GCancellable *cancellable, gpointer data)
{
  g_cancellable_cancel (data);
}

static gboolean
hr_write_figures_and_json (HrAnalysis *self, const char *directory, GCancellable *cancellable,
                           GError **error)
{
  g_autofree char *json = NULL, *path = NULL;
  gboolean per_sample = hr_analysis_has_per_sample (self);

  path = g_build_filename (directory, "per_dimension.csv", NULL);
  if (!hr_write_per_dimension (self, path, error)
      || g_cancellable_set_error_if_cancelled (cancellable, error)
      || !hr_plot_explained_variance (self, directory, error)
      || g_cancellable_set_error_if_cancelled (cancellable, error)
      || !hr_plot_singular_values (self, directory, error)
      || g_cancellable_set_error_if_cancelled (cancellable, error)
      || (per_sample && !hr_plot_per_sample (self, directory, error))
      || g_cancellable_set_error_if_cancelled (cancellable, error)
      || !hr_plot_zero_fraction (self, directory, error)
      || g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  if (per_sample && hr_stack_info_is_per_pixel (hr_source_get_info (hr_analysis_get_source (self)))
      && !hr_write_maps (self, directory, cancellable, error))
    return FALSE;

  json = hr_analysis_to_json (self, TRUE);
  if (json == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("the per-sample statistics cannot be read back"));
      return FALSE;
    }
  g_free (path);
  path = g_build_filename (directory, "report.json", NULL);
  return hr_write_text (path, json, error);
}

/* Writes every file of the report into @directory (a new, empty folder): the per-sample
 * table on a second thread when there is a second core, the rest in the calling thread; a
 * failure of either cancels @both and so stops the other. The calling thread's error comes
 * first, unless it is only the cancellation that the thread's failure caused (the caller's
 * @cancellable was not cancelled): then the thread's error is the one that says what went
 * wrong. */
static gboolean
hr_write_report_files (HrAnalysis *self, const char *directory, GCancellable *cancellable,
                       GError **error)
{
  g_autoptr (GCancellable) both = g_cancellable_new ();
  g_autoptr (GError) local = NULL;
  HrPerSampleFormat format = hr_report_per_sample_format (self);
  HrPerSampleTask task = { self, NULL, format, both, TRUE, NULL };
  GThread *thread = NULL;
  gulong handler = 0;
  gboolean ok;

  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (hr_cancel_task), g_object_ref (both),
                                     g_object_unref);
  if (hr_per_sample_file (format) != NULL)
    {
      task.path = g_build_filename (directory, hr_per_sample_file (format), NULL);
      if (g_get_num_processors () > 1)
        thread = g_thread_try_new ("headrank-report", hr_write_per_sample_thread, &task, NULL);
      if (thread == NULL)
        hr_write_per_sample_thread (&task);
    }
  /* task.ok is the thread's until it is joined */
  ok = (thread != NULL || task.ok) && hr_write_figures_and_json (self, directory, both, &local);
  if (!ok)
    g_cancellable_cancel (both); /* the thread stops at its next check */
  if (thread != NULL)
    g_thread_join (thread);
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  g_free (task.path);
  if (!task.ok
      && (local == NULL /* the calling thread succeeded, or never began */
          || (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED)
              && !g_cancellable_is_cancelled (cancellable)
              && !g_error_matches (task.error, G_IO_ERROR, G_IO_ERROR_CANCELLED))))
    {
      g_clear_error (&local);
      local = g_steal_pointer (&task.error);
    }
  g_clear_error (&task.error);
  if (local != NULL)
    g_propagate_error (error, g_steal_pointer (&local));
  return ok && task.ok;
}

/**
 * hr_analysis_write_report:
 * @self: a #HrAnalysis that has run
 * @directory: (type filename): the output folder, made if it does not exist
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Writes the report into @directory: `report.json` (see hr_analysis_to_json()),
 * `per_sample.csv` (one row per sample: its index, then the mean, standard deviation and L2
 * norm of each stage, and the fraction of zeros for activation stages; empty fields for
 * samples with non-finite values; compressed with gzip as `per_sample.csv.gz`, or left out,
 * as #HrAnalysis:per-sample-format says), `per_dimension.csv` (stage, dimension, mean, std, zero
 * fraction, dead), and the figures as PNG and SVG: `explained_variance` (per component and
 * cumulative, all stages), `singular_values` (each stage, log scale, with its rank
 * tolerance), `per_sample` (mean and std of each projection; from 5,000 samples on with a
 * histogram of every sample beside each), `zero_fraction` (histogram of
 * the per-dimension clipped fractions of each activation layer, by its own measure:
 * hr_stage_get_clipped_fraction()). For per-pixel stacks it adds maps with the source
 * geometry: `map-projections-norm.tif`, `-mean.tif`, `-std.tif`, and
 * `map-LAYER-zero-fraction.tif` for activation layers. The CSV files are UTF-8, with fields
 * quoted as RFC 4180 says; names that are not valid UTF-8 are written with U+FFFD in place
 * of their invalid bytes, in the CSV files and in `report.json`.
 *
 * The folder is written as a whole: the report is built in a temporary folder beside
 * @directory (`.NAME.headrank-XXXXXX`), synced, and put in its place with one rename, which
 * swaps it with an existing folder (renameat2() with `RENAME_EXCHANGE`; two renames on file
 * systems without it). So @directory holds either the previous report or the new one,
 * never a mix, and on failure or cancellation the previous report is intact and nothing
 * temporary is left. An existing @directory must be empty or hold a report (a
 * `report.json` that headrank wrote): it is replaced with everything in it. A symbolic link
 * is followed (the folder it points to is replaced). While it writes, the function holds a
 * lock (`.NAME.headrank-lock` beside @directory); a second writer of the same folder waits
 * for it, cancellably, and then replaces the first one's report with its own.
 *
 * Returns: %TRUE on success
 */
gboolean
hr_analysis_write_report (HrAnalysis *self, const char *directory, GCancellable *cancellable,
                          GError **error)
{
  g_autoptr (HrOutputDir) dir = NULL;

  g_return_val_if_fail (HR_IS_ANALYSIS (self), FALSE);
  g_return_val_if_fail (directory != NULL, FALSE);
  if (!hr_analysis_is_done (self))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("the analysis has not run to the end"));
      return FALSE;
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;
  dir = hr_output_dir_begin (directory, cancellable, error);
  if (dir == NULL)
    return FALSE;
  if (!hr_write_report_files (self, hr_output_dir_get_staging (dir), cancellable, error))
    return FALSE;
  return hr_output_dir_commit (dir, cancellable, error);
}
