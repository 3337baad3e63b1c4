/* headrank: an analysis in parts that merge (doc/partial.md)
 *
 * A part of an analysis (kind 2) is the state of every accumulator of every stage after the
 * pass over some of the samples: the moments (and those of the normalised projections),
 * the cross-moments with the features, the clipping counts and the per-sample table, with
 * what the merge must check (the head's checksum, the options, the stages) and what the
 * report says about the input. Merging parts makes an #HrAnalysis whose stages are those of
 * one pass over all the samples, the per-sample tables concatenated in the order of the
 * parts. */
#include "hr-private.h"
#include "hr-partial.h"

#include "hr-analysis-internal.h"
#include "hr-analysis.h"
#include "hr-enum-types.h"
#include "hr-error.h"
#include "hr-head-private.h"
#include "hr-measures-private.h"
#include "hr-moments-merge.h"
#include "hr-part-format.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-stack-info.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* more stages than any head has: a bound on what a part may claim */
#define HR_PART_MAX_STAGES 4096
#define HR_PART_TABLE_CHUNK 4096

/* -- a source that stands for the samples of merged parts --------------------------------- */

#define HR_TYPE_PART_SOURCE (hr_part_source_get_type ())
G_DECLARE_FINAL_TYPE (HrPartSource, hr_part_source, HR, PART_SOURCE, HrSource)

struct _HrPartSource
{
  HrSource parent_instance;
};

G_DEFINE_FINAL_TYPE (HrPartSource, hr_part_source, HR_TYPE_SOURCE)

static gboolean
hr_part_source_read (HrSource *source, guint64 first, float *buffer, gsize max_samples,
                     gsize *n_read, GCancellable *cancellable, GError **error)
{
  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
               _ ("%s: an analysis merged from parts holds no samples to read"),
               hr_source_get_name (source));
  return FALSE;
}

static void
hr_part_source_class_init (HrPartSourceClass *klass)
{
  HR_SOURCE_CLASS (klass)->read = hr_part_source_read;
}

static void
hr_part_source_init (HrPartSource *self)
{
}

static HrSource *
hr_part_source_new (const char *name, guint64 n_samples, gsize n_features, HrStackLayout layout,
                    HrSampleFormat format)
{
  HrStackInfo *info = hr_stack_info_new_internal ();
  HrSource *source;

  info->layout = layout;
  info->sample_format = format;
  source = g_object_new (HR_TYPE_PART_SOURCE, "name", name, "n-samples", n_samples, "n-features",
                         (guint64)n_features, "info", info, NULL);
  hr_stack_info_unref (info);
  return source;
}

/* -- the contrastive accumulators ----------------------------------------------------------- */

static void
hr_put_bool (HrPartWriter *w, gboolean v)
{
  hr_part_put_u32 (w, v ? 1 : 0);
}

void
hr_part_pairs_free (HrPartPairs *pp)
{
  g_free (pp->source);
  g_strfreev (pp->columns);
  g_free (pp->checksum);
  g_clear_pointer (&pp->lidar, hr_lidar_sums_free);
  g_free (pp);
}

static void
hr_put_upper (HrPartWriter *w, const double *m, gsize d)
{
  for (gsize i = 0; i < d; i++)
    hr_part_put_f64s (w, m + i * d + i, d - i);
}

static void
hr_part_pairs_write (const HrPartPairs *pp, HrPartWriter *w)
{
  const HrContrastiveSums *c = &pp->sums;
  guint n_columns = pp->columns != NULL ? g_strv_length (pp->columns) : 0;

  hr_put_bool (w, pp->positives);
  hr_part_put_string (w, pp->source);
  hr_part_put_u32 (w, pp->origin);
  hr_part_put_u64 (w, (guint64)pp->dt);
  hr_part_put_u32 (w, pp->columns != NULL ? n_columns : G_MAXUINT32);
  for (guint i = 0; i < n_columns; i++)
    hr_part_put_string (w, pp->columns[i]);
  hr_part_put_u64 (w, pp->n_rows);
  hr_part_put_u64 (w, pp->n_rows_missing);
  hr_part_put_string (w, pp->checksum);
  hr_part_put_u64 (w, pp->n_listed);
  hr_part_put_u64 (w, pp->n_taken);
  hr_part_put_u64 (w, pp->n_skipped);
  hr_part_put_u64 (w, pp->batch_size);
  hr_part_put_f64 (w, pp->temperature);
  hr_part_put_f64 (w, pp->margin);
  hr_put_bool (w, pp->has_negatives);
  hr_part_put_u64 (w, c->n_pairs);
  hr_part_put_u64 (w, c->n_batches);
  hr_part_put_f64 (w, c->alignment);
  hr_part_put_f64 (w, c->positive_cosine);
  hr_part_put_f64 (w, c->triplet);
  hr_part_put_u64 (w, c->triplet_n);
  hr_part_put_f64 (w, c->uniformity);
  hr_part_put_f64 (w, c->uniformity_w);
  hr_part_put_f64 (w, c->ntxent);
  hr_part_put_u64 (w, c->ntxent_n);
  hr_part_put_f64 (w, c->negative_cosine);
  hr_part_put_f64 (w, c->negative_n);
  hr_put_bool (w, pp->lidar != NULL);
  if (pp->lidar != NULL)
    {
      hr_part_put_u64 (w, pp->lidar->d);
      hr_part_put_u64 (w, pp->lidar->n);
      hr_part_put_f64s (w, pp->lidar->mean, pp->lidar->d);
      hr_put_upper (w, pp->lidar->sb, pp->lidar->d);
      hr_put_upper (w, pp->lidar->sw, pp->lidar->d);
    }
}

/* -- writing ------------------------------------------------------------------------------ */

/* The part of @stages, with the head's checksum @checksum (%NULL without a head), into
 * self->part. */
static gboolean
hr_part_write_stages (HrAnalysis *self, const char *checksum, GPtrArray *stages, GError **error)
{
  HrStackInfo *info = hr_source_get_info (self->features);
  g_autofree float *rows = g_new (float, (gsize)HR_PART_TABLE_CHUNK *HR_PER_SAMPLE_COLUMNS);
  guint n_names = self->spectral_stages != NULL ? g_strv_length (self->spectral_stages) : 0;
  gboolean tables = ((HrStage *)g_ptr_array_index (stages, 0))->table != NULL;
  HrPartWriter w;

  hr_part_writer_init (&w, HR_PART_KIND_ANALYSIS);
  hr_part_put_string (&w, hr_source_get_name (self->features));
  hr_part_put_u64 (&w, hr_source_get_n_samples (self->features));
  hr_part_put_u64 (&w, hr_source_get_n_features (self->features));
  hr_part_put_u32 (&w, hr_stack_info_get_layout (info));
  hr_part_put_u32 (&w, hr_stack_info_get_sample_format (info));
  hr_part_put_string (&w,
                      self->projections != NULL ? hr_source_get_name (self->projections) : NULL);
  hr_part_put_string (&w, checksum);
  hr_part_put_u32 (&w, self->mode);
  hr_part_put_u64 (&w, self->batch_size);
  hr_part_put_u32 (&w, self->precision);
  hr_put_bool (&w, self->standardize);
  hr_part_put_u32 (&w, self->nonfinite_policy);
  hr_put_bool (&w, self->log_plots);
  hr_part_put_u32 (&w, self->spectral_stages != NULL ? n_names : G_MAXUINT32);
  for (guint i = 0; i < n_names; i++)
    hr_part_put_string (&w, self->spectral_stages[i]);
  hr_part_put_u64 (&w, self->n_dropped);
  hr_part_put_u64 (&w, self->n_nonfinite);
  /* version 2 */
  hr_put_bool (&w, tables);
  hr_part_put_u64 (&w, self->first_sample);

  hr_part_put_u32 (&w, stages->len);
  for (guint i = 0; i < stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (stages, i);

      hr_part_put_string (&w, stage->name);
      hr_part_put_u32 (&w, stage->role);
      hr_part_put_u32 (&w, (guint32)(gint32)stage->layer);
      hr_part_put_u32 (&w, stage->layer_kind);
      hr_part_put_u64 (&w, stage->dimension);
      hr_part_put_u64 (&w, stage->n_samples);
      hr_put_bool (&w, stage->wants_spectrum);
      hr_part_put_f64 (&w, hr_stage_relative_error (self, stage));
      hr_part_put_f64 (&w, hr_stage_absolute_error (self, stage));
      hr_part_put_u64 (&w, stage->n_marked);
      hr_part_put_u64 (&w, stage->clip_rows);
      hr_put_bool (&w, stage->clipped != NULL);
      if (stage->clipped != NULL)
        hr_part_put_u64s (&w, stage->clipped, stage->dimension);
      hr_moments_write (stage->moments, &w);
      hr_put_bool (&w, stage->normalized != NULL);
      if (stage->normalized != NULL)
        hr_moments_write (stage->normalized, &w);
      hr_put_bool (&w, stage->cross != NULL);
      if (stage->cross != NULL)
        hr_cross_moments_write (stage->cross, &w);
      if (!tables)
        continue;
      if (!hr_sample_table_finish (stage->table, stage->n_samples, error))
        goto fail;
      for (guint64 first = 0; first < stage->n_samples; first += HR_PART_TABLE_CHUNK)
        {
          gsize n = (gsize)MIN (stage->n_samples - first, (guint64)HR_PART_TABLE_CHUNK);

          if (!hr_sample_table_read (stage->table, first, n, rows, error))
            goto fail;
          hr_part_put_f32s (&w, rows, n * HR_PER_SAMPLE_COLUMNS);
        }
    }
  hr_put_bool (&w, self->part_pairs != NULL);
  if (self->part_pairs != NULL)
    hr_part_pairs_write (self->part_pairs, &w);
  g_clear_pointer (&self->part, g_bytes_unref);
  self->part = hr_part_writer_finish (&w);
  return TRUE;

fail:
  g_byte_array_unref (w.data);
  return FALSE;
}

gboolean
hr_analysis_write_part_internal (HrAnalysis *self, GPtrArray *stages, GError **error)
{
  g_autofree char *checksum = self->head != NULL ? hr_head_compute_checksum (self->head) : NULL;

  return hr_part_write_stages (self, checksum, stages, error);
}

/**
 * hr_analysis_set_first_sample:
 * @self: a #HrAnalysis
 * @first_sample: the number of the analysis' first sample in the numbering of its pairs
 *
 * Where the samples of a part lie in the numbering of its pair list (a pair file,
 * hr_analysis_set_pairs()): the part made by hr_analysis_run_part() holds the pairs whose
 * anchor is one of its samples, @first_sample to @first_sample + N − 1, and merges only
 * with the parts of the samples before and after it (doc/partial.md, "Pairs in parts").
 * With a #HrRangeSource over rows `first` to `first + n − 1` of a stack, give `first`. Only
 * parts use it; 0 by default.
 *
 * Since: 0.2
 */
void
hr_analysis_set_first_sample (HrAnalysis *self, guint64 first_sample)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  self->first_sample = first_sample;
}

/**
 * hr_analysis_get_first_sample:
 * @self: a #HrAnalysis
 *
 * The first sample of hr_analysis_set_first_sample(); for an analysis merged from parts,
 * that of its first part.
 *
 * Returns: the number of the first sample in the numbering of the pairs
 *
 * Since: 0.2
 */
guint64
hr_analysis_get_first_sample (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), 0);
  return self->first_sample;
}

/**
 * hr_analysis_run_part:
 * @self: a #HrAnalysis, configured as for hr_analysis_run()
 * @progress: (nullable) (scope call) (closure progress_data): called with the fraction done
 * @progress_data: data for @progress
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the pass of the analysis over its samples and returns the state of every
 * accumulator of every stage as a part (doc/partial.md) instead of computing the results:
 * hr_analysis_new_from_parts() merges parts of disjoint samples into the analysis of all of
 * them. A part holds O(D²) per stage plus 16 bytes per sample and stage of its per-sample
 * tables (none when #HrAnalysis:per-sample-format is %HR_PER_SAMPLE_FORMAT_NONE), and is
 * built in memory. The stages are planned as for a stack of any length: a stage with fewer
 * samples than dimensions is accumulated in its scatter matrix, never kept as rows. With
 * positive pairs, the part holds the sums of the contrastive measures over the pairs whose
 * anchor is one of its samples, numbered from hr_analysis_set_first_sample() in the pair
 * list; a pair whose positive or negative is not one of its samples is refused with
 * %HR_ANALYSIS_ERROR_PAIRS (doc/partial.md, "Pairs in parts"). @self has no results
 * afterwards.
 *
 * Returns: (transfer full): the part, or %NULL with @error set (as hr_analysis_run())
 *
 * Since: 0.2
 */
GBytes *
hr_analysis_run_part (HrAnalysis *self, HrProgressFunc progress, gpointer progress_data,
                      GCancellable *cancellable, GError **error)
{
  HrProgress p = { self, progress, progress_data, 0.0, 1.0, NULL };
  gboolean ok;

  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  g_return_val_if_fail (!hr_analysis_running (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  g_atomic_int_set (&self->running, TRUE);
  self->partial = TRUE;
  ok = hr_analysis_run_internal (self, &p, cancellable, error);
  self->partial = FALSE;
  hr_analysis_clear_results (self);
  g_atomic_int_set (&self->running, FALSE);
  if (!ok)
    {
      g_clear_pointer (&self->part, g_bytes_unref);
      return NULL;
    }
  return g_steal_pointer (&self->part);
}

/**
 * hr_analysis_write_part:
 * @self: a #HrAnalysis, configured as for hr_analysis_run()
 * @path: (type filename): the part file to write
 * @progress: (nullable) (scope call) (closure progress_data): called with the fraction done
 * @progress_data: data for @progress
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * hr_analysis_run_part(), written to @path whole or not at all (a temporary file renamed
 * into place).
 *
 * Returns: %TRUE on success
 *
 * Since: 0.2
 */
gboolean
hr_analysis_write_part (HrAnalysis *self, const char *path, HrProgressFunc progress,
                        gpointer progress_data, GCancellable *cancellable, GError **error)
{
  g_autoptr (GBytes) part = NULL;

  g_return_val_if_fail (HR_IS_ANALYSIS (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  part = hr_analysis_run_part (self, progress, progress_data, cancellable, error);
  return part != NULL && hr_part_write_file (part, path, cancellable, error);
}

/* -- reading ------------------------------------------------------------------------------ */

typedef struct
{
  char *name;
  guint32 role, layer_kind;
  gint32 layer;
  guint64 dimension, n_samples;
  gboolean wants_spectrum;
  double relative_error, absolute_error;
  guint64 n_marked, clip_rows;
  guint64 *clipped;
  HrMoments *moments, *normalized;
  HrCrossMoments *cross;
  gboolean has_cross; /* cross was read (the merge takes the first part's) */
  float *table;       /* n_samples × HR_PER_SAMPLE_COLUMNS, or NULL: not held */
} HrPartStage;

typedef struct
{
  char *features, *projections, *head_checksum;
  guint64 n_samples, n_features;
  guint32 layout, sample_format;
  guint32 mode, precision, nonfinite_policy;
  guint64 batch_size;
  gboolean standardize, log_plots;
  char **spectral_stages;
  guint64 n_dropped, n_nonfinite;
  gboolean tables;      /* the per-sample tables are held */
  guint64 first_sample; /* in the numbering of the pairs */
  HrPartPairs *pairs;   /* or NULL */
  guint n_stages;
  HrPartStage *stages;
} HrPart;

static void
hr_part_free (HrPart *part)
{
  for (guint i = 0; i < part->n_stages; i++)
    {
      HrPartStage *s = &part->stages[i];

      g_free (s->name);
      g_free (s->clipped);
      g_clear_object (&s->moments);
      g_clear_object (&s->normalized);
      g_clear_pointer (&s->cross, hr_cross_moments_free);
      g_free (s->table);
    }
  g_free (part->stages);
  g_clear_pointer (&part->pairs, hr_part_pairs_free);
  g_free (part->features);
  g_free (part->projections);
  g_free (part->head_checksum);
  g_strfreev (part->spectral_stages);
  g_free (part);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrPart, hr_part_free)

static gboolean
hr_get_bool (HrPartReader *r, gboolean *v, GError **error)
{
  guint32 u;

  if (!hr_part_get_u32 (r, &u, error))
    return FALSE;
  if (u > 1)
    {
      g_set_error_literal (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT,
                           _ ("the part holds a flag that is neither 0 nor 1"));
      return FALSE;
    }
  *v = u == 1;
  return TRUE;
}

static gboolean
hr_enum_valid (GType type, guint32 value)
{
  GEnumClass *klass = g_type_class_ref (type);
  gboolean valid = value <= G_MAXINT && g_enum_get_value (klass, (gint)value) != NULL;

  g_type_class_unref (klass);
  return valid;
}

static gboolean
hr_part_invalid (GError **error, const char *what)
{
  g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT, _ ("the part is invalid: %s"), what);
  return FALSE;
}

static gboolean
hr_part_read_stage (HrPartReader *r, HrPart *part, HrPartStage *s, GError **error)
{
  guint32 layer;
  gboolean has_clipped, has_normalized, has_cross;

  if (!hr_part_get_string (r, &s->name, error) || !hr_part_get_u32 (r, &s->role, error)
      || !hr_part_get_u32 (r, &layer, error) || !hr_part_get_u32 (r, &s->layer_kind, error)
      || !hr_part_get_u64 (r, &s->dimension, error) || !hr_part_get_u64 (r, &s->n_samples, error)
      || !hr_get_bool (r, &s->wants_spectrum, error)
      || !hr_part_get_f64 (r, &s->relative_error, error)
      || !hr_part_get_f64 (r, &s->absolute_error, error)
      || !hr_part_get_u64 (r, &s->n_marked, error) || !hr_part_get_u64 (r, &s->clip_rows, error)
      || !hr_get_bool (r, &has_clipped, error))
    return FALSE;
  s->layer = (gint32)layer;
  if (s->name == NULL || s->name[0] == '\0' || !hr_enum_valid (HR_TYPE_STAGE_ROLE, s->role)
      || !hr_enum_valid (HR_TYPE_LAYER_KIND, s->layer_kind) || s->layer < -1)
    return hr_part_invalid (error, _ ("a stage has no name, or an unknown role or layer"));
  if (s->n_samples != part->n_samples || s->clip_rows > s->n_samples)
    return hr_part_invalid (error, _ ("a stage counts other samples than the part"));
  if (!(s->relative_error >= 0) || !isfinite (s->relative_error) || !(s->absolute_error >= 0)
      || !isfinite (s->absolute_error))
    return hr_part_invalid (error,
                            _ ("a stage's error bound is not a finite number of at least 0"));
  if (has_clipped)
    {
      if (s->dimension == 0 || s->dimension > G_MAXINT)
        return hr_part_invalid (error, _ ("a stage's dimension is 0 or too large"));
      if (!hr_part_reader_has (r, s->dimension, 8, error))
        return FALSE;
      s->clipped = g_new (guint64, s->dimension);
      hr_part_get_u64s (r, s->clipped, s->dimension, NULL);
      for (gsize j = 0; j < s->dimension; j++)
        if (s->clipped[j] > s->clip_rows)
          return hr_part_invalid (error, _ ("a stage counts more clipped samples than samples"));
    }
  if ((s->moments = hr_moments_read (r, error)) == NULL)
    return FALSE;
  /* a sample the head leaves out (a NaN in its features) reaches no stage after them */
  if (hr_moments_get_dimension (s->moments) != s->dimension
      || hr_moments_get_n_samples (s->moments) > s->n_samples
      || hr_moments_get_n_dropped (s->moments)
             > s->n_samples - hr_moments_get_n_samples (s->moments))
    return hr_part_invalid (error, _ ("a stage's moments do not fit the stage"));
  if (!hr_get_bool (r, &has_normalized, error))
    return FALSE;
  if (has_normalized)
    {
      if ((s->normalized = hr_moments_read (r, error)) == NULL)
        return FALSE;
      if (hr_moments_get_dimension (s->normalized) != s->dimension)
        return hr_part_invalid (error, _ ("a stage's moments do not fit the stage"));
    }
  if (!hr_get_bool (r, &has_cross, error))
    return FALSE;
  s->has_cross = has_cross;
  if (has_cross)
    {
      HrCrossMomentsState cs;

      if ((s->cross = hr_cross_moments_read (r, error)) == NULL)
        return FALSE;
      hr_cross_moments_get_state (s->cross, &cs);
      if (cs.dx != part->n_features || cs.dz != s->dimension || *cs.n > s->n_samples)
        return hr_part_invalid (error, _ ("a stage's cross-moments do not fit the stage"));
    }
  if (!part->tables)
    return TRUE;
  if (!hr_part_reader_has (r, s->n_samples, HR_PER_SAMPLE_COLUMNS * sizeof (float), error))
    return FALSE;
  s->table = g_try_new (float, MAX (s->n_samples, 1) * HR_PER_SAMPLE_COLUMNS);
  if (s->table == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for the per-sample table of a part"));
      return FALSE;
    }
  hr_part_get_f32s (r, s->table, s->n_samples * HR_PER_SAMPLE_COLUMNS, NULL);
  return TRUE;
}

/* The stages an analysis has: the features; with a head, stages of increasing layers, the
 * last of them the projections; with projections alone, the projections (layer −1);
 * otherwise nothing more. */
static gboolean
hr_part_stages_valid (HrPart *part)
{
  HrPartStage *last = &part->stages[part->n_stages - 1];

  /* the features and the projections always have a spectrum */
  if (strcmp (part->stages[0].name, "features") != 0 || !part->stages[0].wants_spectrum
      || !last->wants_spectrum)
    return FALSE;
  for (guint i = 1; i < part->n_stages; i++)
    {
      HrPartStage *s = &part->stages[i];
      gboolean is_last = i + 1 == part->n_stages;

      if (s->role != (is_last ? HR_STAGE_ROLE_PROJECTIONS : HR_STAGE_ROLE_HIDDEN)
          || (is_last && strcmp (s->name, "projections") != 0)
          || (!is_last
              && (strcmp (s->name, "features") == 0 || strcmp (s->name, "projections") == 0)))
        return FALSE;
      if (part->head_checksum != NULL && (s->layer < 0 || s->layer <= part->stages[i - 1].layer))
        return FALSE;
    }
  if (part->head_checksum != NULL)
    return part->projections == NULL && part->n_stages >= 2;
  if (part->projections != NULL)
    return part->n_stages == 2 && last->layer == -1;
  return part->n_stages == 1;
}

/* With a head: every stage after the features is the output of one of its layers, of that
 * layer's kind and width, the projections its last. */
static gboolean
hr_part_fits_head (HrPart *part, HrHead *head)
{
  guint L = hr_head_get_n_layers (head);

  if (hr_head_get_in_features (head) != part->n_features)
    return FALSE;
  for (guint i = 1; i < part->n_stages; i++)
    {
      HrPartStage *s = &part->stages[i];

      if ((guint)s->layer >= L || hr_head_get_layer_kind (head, (guint)s->layer) != s->layer_kind
          || (s->role == HR_STAGE_ROLE_HIDDEN
              && strcmp (hr_head_get_layer_name (head, (guint)s->layer), s->name) != 0)
          || hr_head_get_layer_out_features (head, (guint)s->layer) != s->dimension
          || (s->role == HR_STAGE_ROLE_PROJECTIONS) != ((guint)s->layer + 1 == L))
        return FALSE;
    }
  return TRUE;
}

static gboolean
hr_get_upper (HrPartReader *r, double *m, gsize d, GError **error)
{
  for (gsize i = 0; i < d; i++)
    {
      if (!hr_part_get_f64s (r, m + i * d + i, d - i, error))
        return FALSE;
      for (gsize j = i; j < d; j++)
        {
          if (!isfinite (m[i * d + j]))
            return hr_part_invalid (error, _ ("its pairs' sums are not finite"));
          m[j * d + i] = m[i * d + j];
        }
    }
  return TRUE;
}

/* The contrastive accumulators of @part, checked against its samples and last stage. */
static HrPartPairs *
hr_part_pairs_read (HrPartReader *r, HrPart *part, GError **error)
{
  g_autoptr (HrPartPairs) pp = g_new0 (HrPartPairs, 1);
  HrContrastiveSums *c = &pp->sums;
  guint64 dt, d;
  guint32 n_columns;
  gboolean has_lidar;
  double f64s[8];

  if (!hr_get_bool (r, &pp->positives, error) || !hr_part_get_string (r, &pp->source, error)
      || !hr_part_get_u32 (r, &pp->origin, error) || !hr_part_get_u64 (r, &dt, error)
      || !hr_part_get_u32 (r, &n_columns, error))
    return NULL;
  pp->dt = (gint64)dt;
  if (n_columns != G_MAXUINT32)
    {
      if (n_columns > 16)
        {
          hr_part_invalid (error, _ ("its pairs are not those of an analysis"));
          return NULL;
        }
      pp->columns = g_new0 (char *, (gsize)n_columns + 1);
      for (guint i = 0; i < n_columns; i++)
        if (!hr_part_get_string (r, &pp->columns[i], error))
          return NULL;
        else if (pp->columns[i] == NULL)
          {
            hr_part_invalid (error, _ ("its pairs are not those of an analysis"));
            return NULL;
          }
    }
  if (!hr_part_get_u64 (r, &pp->n_rows, error) || !hr_part_get_u64 (r, &pp->n_rows_missing, error)
      || !hr_part_get_string (r, &pp->checksum, error) || !hr_part_get_u64 (r, &pp->n_listed, error)
      || !hr_part_get_u64 (r, &pp->n_taken, error) || !hr_part_get_u64 (r, &pp->n_skipped, error)
      || !hr_part_get_u64 (r, &pp->batch_size, error)
      || !hr_part_get_f64 (r, &pp->temperature, error) || !hr_part_get_f64 (r, &pp->margin, error)
      || !hr_get_bool (r, &pp->has_negatives, error) || !hr_part_get_u64 (r, &c->n_pairs, error)
      || !hr_part_get_u64 (r, &c->n_batches, error) || !hr_part_get_f64 (r, &c->alignment, error)
      || !hr_part_get_f64 (r, &c->positive_cosine, error)
      || !hr_part_get_f64 (r, &c->triplet, error) || !hr_part_get_u64 (r, &c->triplet_n, error)
      || !hr_part_get_f64 (r, &c->uniformity, error)
      || !hr_part_get_f64 (r, &c->uniformity_w, error) || !hr_part_get_f64 (r, &c->ntxent, error)
      || !hr_part_get_u64 (r, &c->ntxent_n, error)
      || !hr_part_get_f64 (r, &c->negative_cosine, error)
      || !hr_part_get_f64 (r, &c->negative_n, error) || !hr_get_bool (r, &has_lidar, error))
    return NULL;
  f64s[0] = c->alignment;
  f64s[1] = c->positive_cosine;
  f64s[2] = c->triplet;
  f64s[3] = c->uniformity;
  f64s[4] = c->uniformity_w;
  f64s[5] = c->ntxent;
  f64s[6] = c->negative_cosine;
  f64s[7] = c->negative_n;
  for (int i = 0; i < 8; i++)
    if (!isfinite (f64s[i]))
      {
        hr_part_invalid (error, _ ("its pairs' sums are not finite"));
        return NULL;
      }
  /* what one pass can produce: a list's pairs (with its checksum), or positives aligned with
   * every sample; the pairs used and skipped are those taken; valid options */
  if ((pp->positives
           ? pp->checksum != NULL || pp->n_taken != part->n_samples || pp->n_listed != 0
           : pp->checksum == NULL || strlen (pp->checksum) != 64 || pp->n_taken > pp->n_listed
                 || !hr_enum_valid (HR_TYPE_PAIRS_ORIGIN, pp->origin))
      || pp->n_skipped > pp->n_taken || c->n_pairs != pp->n_taken - pp->n_skipped
      || c->triplet_n > c->n_pairs || c->n_batches > c->n_pairs / 2 || pp->batch_size < 2
      || !(pp->temperature > 0) || !isfinite (pp->temperature) || !(pp->margin >= 0)
      || !isfinite (pp->margin) || pp->n_rows_missing > pp->n_rows)
    {
      hr_part_invalid (error, _ ("its pairs are not those of an analysis"));
      return NULL;
    }
  if (has_lidar)
    {
      HrPartStage *last = &part->stages[part->n_stages - 1];

      if (!hr_part_get_u64 (r, &d, error))
        return NULL;
      if (d != last->dimension || d == 0 || d > G_MAXINT)
        {
          hr_part_invalid (error, _ ("its pairs are not those of an analysis"));
          return NULL;
        }
      pp->lidar = hr_lidar_sums_new ((gsize)d);
      if (!hr_part_get_u64 (r, &pp->lidar->n, error)
          || !hr_part_reader_has (r, d * (d + 1) + d, 8, error))
        return NULL;
      if (pp->lidar->n != c->n_pairs)
        {
          hr_part_invalid (error, _ ("its pairs are not those of an analysis"));
          return NULL;
        }
      pp->lidar->mean = g_try_new (double, d);
      pp->lidar->sb = g_try_new (double, d *d);
      pp->lidar->sw = g_try_new (double, d *d);
      if (pp->lidar->mean == NULL || pp->lidar->sb == NULL || pp->lidar->sw == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                       _ ("not enough memory for the rows of %zu pairs"), (gsize)c->n_pairs);
          return NULL;
        }
      hr_part_get_f64s (r, pp->lidar->mean, d, NULL);
      for (gsize j = 0; j < d; j++)
        if (!isfinite (pp->lidar->mean[j]))
          {
            hr_part_invalid (error, _ ("its pairs' sums are not finite"));
            return NULL;
          }
      if (!hr_get_upper (r, pp->lidar->sb, d, error) || !hr_get_upper (r, pp->lidar->sw, d, error))
        return NULL;
    }
  return g_steal_pointer (&pp);
}

static HrPart *
hr_part_read (GBytes *bytes, GError **error)
{
  g_autoptr (HrPart) part = g_new0 (HrPart, 1);
  HrPartReader r;
  guint32 n_names, n_stages;

  if (!hr_part_reader_init (&r, bytes, HR_PART_KIND_ANALYSIS, error))
    return NULL;
  if (!hr_part_get_string (&r, &part->features, error)
      || !hr_part_get_u64 (&r, &part->n_samples, error)
      || !hr_part_get_u64 (&r, &part->n_features, error)
      || !hr_part_get_u32 (&r, &part->layout, error)
      || !hr_part_get_u32 (&r, &part->sample_format, error)
      || !hr_part_get_string (&r, &part->projections, error)
      || !hr_part_get_string (&r, &part->head_checksum, error)
      || !hr_part_get_u32 (&r, &part->mode, error)
      || !hr_part_get_u64 (&r, &part->batch_size, error)
      || !hr_part_get_u32 (&r, &part->precision, error)
      || !hr_get_bool (&r, &part->standardize, error)
      || !hr_part_get_u32 (&r, &part->nonfinite_policy, error)
      || !hr_get_bool (&r, &part->log_plots, error) || !hr_part_get_u32 (&r, &n_names, error))
    return NULL;
  if (part->features == NULL || part->n_features == 0 || part->n_features > G_MAXINT
      || !hr_enum_valid (HR_TYPE_STACK_LAYOUT, part->layout)
      || !hr_enum_valid (HR_TYPE_SAMPLE_FORMAT, part->sample_format)
      || !hr_enum_valid (HR_TYPE_NORM_MODE, part->mode)
      || !hr_enum_valid (HR_TYPE_PRECISION, part->precision)
      || !hr_enum_valid (HR_TYPE_NONFINITE_POLICY, part->nonfinite_policy))
    {
      hr_part_invalid (error, _ ("its header holds an unknown value"));
      return NULL;
    }
  if (n_names != G_MAXUINT32)
    {
      if (!hr_part_reader_has (&r, n_names, 4, error))
        return NULL;
      part->spectral_stages = g_new0 (char *, (gsize)n_names + 1);
      for (guint i = 0; i < n_names; i++)
        if (!hr_part_get_string (&r, &part->spectral_stages[i], error))
          return NULL;
        else if (part->spectral_stages[i] == NULL)
          {
            hr_part_invalid (error, _ ("its list of stages holds no name"));
            return NULL;
          }
    }
  if (!hr_part_get_u64 (&r, &part->n_dropped, error)
      || !hr_part_get_u64 (&r, &part->n_nonfinite, error))
    return NULL;
  /* version 1: tables held, no pairs */
  part->tables = TRUE;
  if (r.version >= 2
      && (!hr_get_bool (&r, &part->tables, error)
          || !hr_part_get_u64 (&r, &part->first_sample, error)))
    return NULL;
  if (!hr_part_get_u32 (&r, &n_stages, error))
    return NULL;
  if (n_stages == 0 || n_stages > HR_PART_MAX_STAGES || part->n_dropped > part->n_samples)
    {
      hr_part_invalid (error, _ ("its count of stages or samples is impossible"));
      return NULL;
    }
  part->stages = g_new0 (HrPartStage, n_stages);
  part->n_stages = n_stages;
  for (guint i = 0; i < n_stages; i++)
    if (!hr_part_read_stage (&r, part, &part->stages[i], error))
      return NULL;
  if (part->stages[0].role != HR_STAGE_ROLE_FEATURES || part->stages[0].layer != -1
      || part->stages[0].dimension != part->n_features)
    {
      hr_part_invalid (error, _ ("its first stage is not the features"));
      return NULL;
    }
  if (!hr_part_stages_valid (part))
    {
      hr_part_invalid (error, _ ("its stages are not those of an analysis"));
      return NULL;
    }
  if (r.version >= 2)
    {
      gboolean has_pairs;

      if (!hr_get_bool (&r, &has_pairs, error))
        return NULL;
      if (has_pairs && (part->pairs = hr_part_pairs_read (&r, part, error)) == NULL)
        return NULL;
    }
  if (!hr_part_reader_end (&r, error))
    return NULL;
  return g_steal_pointer (&part);
}

/* -- merging ------------------------------------------------------------------------------ */

static gboolean
hr_mismatch (GError **error, guint index, const char *what)
{
  g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH,
               /* TRANSLATORS: %u is the 1-based number of a part, %s what differs, such as
                  "the head" */
               _ ("part %u cannot be merged with part 1: %s differs"), index + 1, what);
  return FALSE;
}

static gboolean
hr_strv_equal0 (char **a, char **b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return g_strv_equal ((const char *const *)a, (const char *const *)b);
}

/* Whether part @index can be merged with the first. */
static gboolean
hr_part_check (HrPart *first, HrPart *part, guint index, GError **error)
{
  if (part->n_features != first->n_features)
    return hr_mismatch (error, index, _ ("the dimension of the features"));
  if (g_strcmp0 (part->head_checksum, first->head_checksum) != 0)
    return hr_mismatch (error, index, _ ("the head (its weights' checksum)"));
  if ((part->projections == NULL) != (first->projections == NULL))
    return hr_mismatch (error, index, _ ("whether projections were given"));
  if (part->mode != first->mode || part->batch_size != first->batch_size
      || part->precision != first->precision || part->standardize != first->standardize
      || part->nonfinite_policy != first->nonfinite_policy
      || !hr_strv_equal0 (part->spectral_stages, first->spectral_stages))
    return hr_mismatch (error, index, _ ("an option of the analysis"));
  if (part->n_stages != first->n_stages)
    return hr_mismatch (error, index, _ ("the number of stages"));
  if (part->tables != first->tables)
    return hr_mismatch (error, index,
                        _ ("whether the part holds per-sample tables (“--per-sample none”)"));
  if ((part->pairs == NULL) != (first->pairs == NULL))
    return hr_mismatch (error, index, _ ("whether positive pairs were given"));
  if (part->pairs != NULL)
    {
      HrPartPairs *a = first->pairs, *b = part->pairs;

      if (a->positives != b->positives || g_strcmp0 (a->checksum, b->checksum) != 0
          || a->n_listed != b->n_listed)
        return hr_mismatch (error, index, _ ("the positive pairs"));
      if (a->batch_size != b->batch_size || a->temperature != b->temperature
          || a->margin != b->margin || a->has_negatives != b->has_negatives)
        return hr_mismatch (error, index, _ ("an option of the contrastive measures"));
    }
  for (guint s = 0; s < part->n_stages; s++)
    {
      HrPartStage *a = &first->stages[s], *b = &part->stages[s];

      if (strcmp (a->name, b->name) != 0 || a->role != b->role || a->layer != b->layer
          || a->layer_kind != b->layer_kind || a->dimension != b->dimension
          || a->wants_spectrum != b->wants_spectrum || (a->clipped == NULL) != (b->clipped == NULL)
          || (a->normalized == NULL) != (b->normalized == NULL) || a->has_cross != b->has_cross)
        return hr_mismatch (error, index, _ ("a stage"));
    }
  return TRUE;
}

/* Parts checked against the first and folded into running accumulators, one at a time, in
 * the order given (a left fold: stage by stage, part 1's moments, then part 2's added, and
 * so on): what hr_analysis_new_from_parts() computes and hr_analysis_merge_parts() writes.
 * Only the first part is kept (its moments are the accumulators' start, its options what
 * the others are checked against; its per-sample tables are dropped once copied); every
 * other part is freed once added, so that merging holds the accumulators and one part,
 * whatever the number of parts, beside the per-sample tables, which are concatenated. */
typedef struct
{
  GPtrArray *stages; /* HrStage, merged */
  HrPart *first;
  HrAnalysis *analysis; /* over sources that stand for the samples of the parts */
  guint n_parts;
  guint64 n_total, n_dropped, n_nonfinite;
  guint64 end; /* first_sample + n_samples of the part before */
  GPtrArray *names, *projection_names, *pair_names; /* char *, owned */
  HrPartPairs *pairs;                               /* the contrastive accumulators, or NULL */
} HrMerged;

static void
hr_merged_init (HrMerged *m)
{
  memset (m, 0, sizeof *m);
  m->stages = g_ptr_array_new_with_free_func (g_object_unref);
  m->names = g_ptr_array_new_with_free_func (g_free);
  m->projection_names = g_ptr_array_new_with_free_func (g_free);
  m->pair_names = g_ptr_array_new_with_free_func (g_free);
}

static void
hr_merged_clear (HrMerged *m)
{
  g_clear_pointer (&m->stages, g_ptr_array_unref);
  g_clear_pointer (&m->first, hr_part_free);
  g_clear_pointer (&m->names, g_ptr_array_unref);
  g_clear_pointer (&m->projection_names, g_ptr_array_unref);
  g_clear_pointer (&m->pair_names, g_ptr_array_unref);
  g_clear_pointer (&m->pairs, hr_part_pairs_free);
  g_clear_object (&m->analysis);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (HrMerged, hr_merged_clear)

/* The name of merged parts. A part's name is a list of names, as this function
 * writes it: "A, B, C" or "A … Z". The distinct names of the parts are joined by
 * commas while there are at most three and none stands for elided ones, else the
 * name is "FIRST … LAST" (the first name of the first part and the last of the
 * last). A tree of merges thus gets the name that merging all parts at once gets,
 * and thousands of parts keep a short one. (A file name with ", " counts as two.) */
#define HR_MERGED_NAME_ELLIPSIS " … "

static char *
hr_merged_name (GPtrArray *names)
{
  g_autoptr (GPtrArray) distinct = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) first = NULL, last = NULL;
  gboolean elided = FALSE;

  if (names->len == 0)
    return g_strdup ("");
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      g_auto (GStrv) pieces = g_strsplit (name, ", ", -1);

      elided |= strstr (name, HR_MERGED_NAME_ELLIPSIS) != NULL;
      for (guint k = 0; pieces[k] != NULL; k++)
        if (!g_ptr_array_find_with_equal_func (distinct, pieces[k], g_str_equal, NULL))
          g_ptr_array_add (distinct, g_strdup (pieces[k]));
    }
  if (distinct->len <= 3 && !elided)
    {
      g_ptr_array_add (distinct, NULL);
      return g_strjoinv (", ", (char **)distinct->pdata);
    }
  /* the first name of the first part and the last of the last */
  first = g_strsplit (g_ptr_array_index (names, 0), ", ", 2);
  last = g_strsplit (g_ptr_array_index (names, names->len - 1), ", ", -1);
  {
    const char *head = first[0] != NULL ? first[0] : "";
    const char *tail = last[0] != NULL ? last[g_strv_length (last) - 1] : "";
    const char *cut_head = strstr (head, HR_MERGED_NAME_ELLIPSIS);
    const char *cut_tail = g_strrstr (tail, HR_MERGED_NAME_ELLIPSIS);
    g_autofree char *h = cut_head != NULL ? g_strndup (head, cut_head - head) : g_strdup (head);

    if (cut_tail != NULL)
      tail = cut_tail + strlen (HR_MERGED_NAME_ELLIPSIS);
    return g_strconcat (h, HR_MERGED_NAME_ELLIPSIS, tail, NULL);
  }
}

/* The contrastive accumulators started from the first part's options (the sums zero). */
static gboolean
hr_merged_pairs_init (HrMerged *m, HrPartPairs *first, GError **error)
{
  HrPartPairs *pp = m->pairs = g_new0 (HrPartPairs, 1);

  pp->positives = first->positives;
  pp->origin = first->origin;
  pp->dt = first->dt;
  pp->columns = g_strdupv (first->columns);
  pp->checksum = g_strdup (first->checksum);
  pp->n_listed = first->n_listed;
  pp->batch_size = first->batch_size;
  pp->temperature = first->temperature;
  pp->margin = first->margin;
  pp->has_negatives = first->has_negatives;
  if (first->lidar != NULL)
    {
      gsize d = first->lidar->d;

      pp->lidar = hr_lidar_sums_new (d);
      pp->lidar->mean = g_try_new0 (double, d);
      pp->lidar->sb = g_try_new0 (double, d *d);
      pp->lidar->sw = g_try_new0 (double, d *d);
      if (pp->lidar->mean == NULL || pp->lidar->sb == NULL || pp->lidar->sw == NULL)
        {
          g_set_error_literal (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                               _ ("not enough memory to merge the parts' pairs"));
          return FALSE;
        }
    }
  return TRUE;
}

/* The contrastive accumulators of part @b added (LiDAR's only while every part has them);
 * refused if the parts together take more pairs of a list than it holds (each part alone
 * takes at most as many, hr_part_pairs_read()): parts that one pass each cannot produce. */
static gboolean
hr_merged_pairs_add (HrMerged *m, HrPartPairs *b, GError **error)
{
  HrPartPairs *pp = m->pairs;

  if (!b->positives && b->n_taken > pp->n_listed - pp->n_taken)
    return hr_part_invalid (error, _ ("its pairs are not those of an analysis"));
  if (b->source != NULL)
    g_ptr_array_add (m->pair_names, g_strdup (b->source));
  pp->n_taken += b->n_taken;
  pp->n_skipped += b->n_skipped;
  pp->n_rows += b->n_rows;
  pp->n_rows_missing += b->n_rows_missing;
  hr_contrastive_sums_add (&pp->sums, &b->sums);
  if (b->lidar == NULL)
    g_clear_pointer (&pp->lidar, hr_lidar_sums_free);
  if (pp->lidar != NULL)
    hr_lidar_sums_merge (pp->lidar, b->lidar);
  return TRUE;
}

/* Adds @part (transfer full; freed here, unless it is the first, which @m keeps) to the
 * accumulators of @m. */
static gboolean
hr_merged_add (HrMerged *m, HrPart *part, GCancellable *cancellable, GError **error)
{
  g_autoptr (HrPart) owned = part;
  guint i = m->n_parts;
  HrPart *first;
  guint64 sample = m->n_total;

  if (i > 0 && !hr_part_check (m->first, part, i, error))
    return FALSE;
  if (part->n_samples > G_MAXUINT64 - m->n_total)
    return hr_mismatch (error, i, _ ("the count of samples"));
  if (i > 0 && part->pairs != NULL && !part->pairs->positives && part->first_sample != m->end)
    {
      g_set_error (error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH,
                   /* TRANSLATORS: parts' 1-based numbers and sample numbers */
                   _ ("part %u starts at sample %" PRIu64 ", not at sample %" PRIu64
                      ", the one after the last of part %u: parts with pairs are merged "
                      "in the order of their samples, without gaps (--first-sample)"),
                   i + 1, part->first_sample, m->end, i);
      return FALSE;
    }
  m->end = part->first_sample + part->n_samples;
  m->n_total += part->n_samples;
  m->n_dropped += part->n_dropped;
  m->n_nonfinite += part->n_nonfinite;
  g_ptr_array_add (m->names, g_strdup (part->features));
  if (part->projections != NULL)
    g_ptr_array_add (m->projection_names, g_strdup (part->projections));
  if (i == 0)
    {
      m->first = g_steal_pointer (&owned);
      if (part->pairs != NULL && !hr_merged_pairs_init (m, part->pairs, error))
        return FALSE;
      for (guint s = 0; s < part->n_stages; s++)
        {
          HrPartStage *ps = &part->stages[s];
          HrStage *stage = hr_stage_new (ps->name, ps->role, ps->layer, ps->layer_kind,
                                         ps->dimension, 0, ps->wants_spectrum);

          g_ptr_array_add (m->stages, stage);
          stage->has_errors = TRUE;
          stage->moments = g_object_ref (ps->moments);
          stage->normalized = ps->normalized != NULL ? g_object_ref (ps->normalized) : NULL;
          stage->cross = g_steal_pointer (&ps->cross);
          if (ps->clipped != NULL)
            stage->clipped = g_new0 (guint64, ps->dimension);
          if (part->tables && (stage->table = hr_sample_table_new (error)) == NULL)
            return FALSE;
        }
    }
  first = m->first;
  m->n_parts++;
  if (part->pairs != NULL && !hr_merged_pairs_add (m, part->pairs, error))
    {
      g_prefix_error (error, _ ("part %u: "), i + 1);
      return FALSE;
    }

  for (guint s = 0; s < first->n_stages; s++)
    {
      HrStage *stage = g_ptr_array_index (m->stages, s);
      HrPartStage *b = &part->stages[s];

      if (i > 0
          && (!hr_moments_add_moments (stage->moments, b->moments, error)
              || (b->normalized != NULL
                  && !hr_moments_add_moments (stage->normalized, b->normalized, error))
              || (b->cross != NULL && !hr_cross_moments_merge (stage->cross, b->cross, error))))
        {
          g_prefix_error (error, _ ("part %u: stage %s: "), i + 1, b->name);
          return FALSE;
        }
      stage->relative_error = MAX (stage->relative_error, b->relative_error);
      stage->absolute_error = MAX (stage->absolute_error, b->absolute_error);
      stage->n_marked += b->n_marked;
      stage->clip_rows += b->clip_rows;
      for (gsize j = 0; b->clipped != NULL && j < b->dimension; j++)
        stage->clipped[j] += b->clipped[j];
      for (guint64 r = 0; stage->table != NULL && r < b->n_samples; r++)
        if (!hr_sample_table_put (stage->table, sample + r, b->table + r * HR_PER_SAMPLE_COLUMNS,
                                  error))
          return FALSE;
      /* the first part is kept for the checks: its table is copied, not needed */
      g_clear_pointer (&b->table, g_free);
    }
  return !g_cancellable_set_error_if_cancelled (cancellable, error);
}

/* The analysis of the parts added to @m, over sources that stand for their samples, its
 * stages not yet computed. */
static gboolean
hr_merged_finish (HrMerged *m, GError **error)
{
  g_autoptr (HrSource) features = NULL, projections = NULL;
  g_autofree char *name = NULL, *projection_name = NULL;
  HrPart *first = m->first;

  if (m->n_parts == 0)
    {
      g_set_error_literal (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                           _ ("no parts to merge"));
      return FALSE;
    }
  name = hr_merged_name (m->names);
  features = hr_part_source_new (name, m->n_total, first->n_features, first->layout,
                                 first->sample_format);
  m->analysis = hr_analysis_new_for_source (features);
  if (first->projections != NULL)
    {
      HrPartStage *last = &first->stages[first->n_stages - 1];

      projection_name = hr_merged_name (m->projection_names);
      projections = hr_part_source_new (projection_name, m->n_total, last->dimension, first->layout,
                                        first->sample_format);
      hr_analysis_set_projections_source (m->analysis, projections);
    }
  hr_analysis_set_norm_mode (m->analysis, first->mode);
  hr_analysis_set_batch_size (m->analysis, first->batch_size);
  hr_analysis_set_precision (m->analysis, first->precision);
  hr_analysis_set_standardize (m->analysis, first->standardize);
  hr_analysis_set_nonfinite_policy (m->analysis, first->nonfinite_policy);
  hr_analysis_set_log_plots (m->analysis, first->log_plots);
  hr_analysis_set_spectral_stages (m->analysis, (const char *const *)first->spectral_stages);
  m->analysis->n_dropped = m->n_dropped;
  m->analysis->n_nonfinite = m->n_nonfinite;
  m->analysis->first_sample = first->first_sample;
  m->analysis->no_tables = !first->tables;
  for (guint s = 0; s < m->stages->len; s++)
    ((HrStage *)g_ptr_array_index (m->stages, s))->n_samples = m->n_total;
  if (m->pairs != NULL)
    {
      HrPartPairs *pp = m->analysis->part_pairs = g_steal_pointer (&m->pairs);
      GPtrArray *names = m->pair_names;

      /* the same file for every part of a list; the positives' sources by name */
      pp->source = names->len == 0 ? NULL
                   : pp->positives ? hr_merged_name (names)
                                   : g_strdup (g_ptr_array_index (names, 0));
      /* tracks: the rows of the store, counted once (every part reads the whole store) */
      if (!pp->positives && pp->origin == HR_PAIRS_ORIGIN_TRACKS)
        {
          pp->n_rows = first->pairs->n_rows;
          pp->n_rows_missing = first->pairs->n_rows_missing;
        }
    }
  return TRUE;
}

/* The parts of an array folded into @m, an error about one naming it by its number. */
static gboolean
hr_parts_merge (GBytes **parts, guint n_parts, HrMerged *m, GCancellable *cancellable,
                GError **error)
{
  hr_merged_init (m);
  for (guint i = 0; i < n_parts; i++)
    {
      HrPart *part = hr_part_read (parts[i], error);

      if (part == NULL)
        {
          g_prefix_error (error, _ ("part %u: "), i + 1);
          return FALSE;
        }
      if (!hr_merged_add (m, part, cancellable, error))
        return FALSE;
    }
  return hr_merged_finish (m, error);
}

/* The contrastive measures of merged parts, from their sums. */
static gboolean
hr_merged_contrastive (HrAnalysis *self, GError **error)
{
  HrPartPairs *pp = self->part_pairs;
  guint64 n = hr_source_get_n_samples (self->features);
  const char *source = pp->source != NULL ? pp->source : hr_source_get_name (self->features);

  if (!pp->positives && pp->n_taken != pp->n_listed)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_PAIRS,
                   /* TRANSLATORS: %s: the pair file; numbers of pairs, then sample numbers */
                   _ ("%s: %" PRIu64 " of the %" PRIu64 " pairs have their anchor in none of "
                      "the parts (samples %" PRIu64 " to %" PRIu64 ")"),
                   source, pp->n_listed - pp->n_taken, pp->n_listed, self->first_sample,
                   self->first_sample + n - 1);
      return FALSE;
    }
  self->contrastive = hr_contrastive_new_from_sums (&pp->sums, pp->batch_size, pp->temperature,
                                                    pp->margin, pp->has_negatives, error);
  if (self->contrastive == NULL)
    {
      g_prefix_error (error, "%s: ", source);
      return FALSE;
    }
  self->n_pairs_skipped = pp->n_skipped;
  self->pair_batch = pp->batch_size;
  self->temperature = pp->temperature;
  self->margin = pp->margin;
  if (pp->lidar != NULL)
    {
      GError *local = NULL;

      self->lidar = hr_lidar_of_sums (pp->lidar, &local);
      if (local != NULL)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
    }
  if (pp->positives)
    {
      HrStage *last = g_ptr_array_index (self->stages, self->stages->len - 1);
      HrStackInfo *info = hr_source_get_info (self->features);
      g_autoptr (HrSource) positives = hr_part_source_new (
          source, n,
          self->head != NULL ? hr_source_get_n_features (self->features) : last->dimension,
          hr_stack_info_get_layout (info), hr_stack_info_get_sample_format (info));

      hr_analysis_set_positives_source (self, positives);
    }
  else
    self->pairs_used
        = hr_pairs_new_described (pp->origin, pp->source, pp->dt, (const char *const *)pp->columns,
                                  pp->n_rows, pp->n_rows_missing, pp->has_negatives);
  return TRUE;
}

/* The analysis of the parts folded into @m (hr_merged_finish() done): the head checked,
 * then the stages computed. */
static HrAnalysis *
hr_merged_analysis (HrMerged *m, HrHead *head, GCancellable *cancellable, GError **error)
{
  g_autofree char *checksum = NULL;
  HrProgress progress = { NULL, NULL, NULL, 0.0, 1.0, NULL };

  checksum = head != NULL ? hr_head_compute_checksum (head) : NULL;
  if (g_strcmp0 (checksum, m->first->head_checksum) != 0)
    {
      g_set_error_literal (
          error, HR_PART_ERROR, HR_PART_ERROR_MISMATCH,
          m->first->head_checksum == NULL
              ? _ ("the parts were made without a head; merge them without one")
          : head == NULL ? _ ("the parts were made with a head; give the same head to merge them")
                         : _ ("the head given is not the one the parts were "
                              "made with (their checksums differ)"));
      return NULL;
    }

  if (head != NULL && !hr_part_fits_head (m->first, head))
    {
      g_set_error_literal (error, HR_PART_ERROR, HR_PART_ERROR_CORRUPT,
                           _ ("the part is invalid: its stages are not those of the head"));
      return NULL;
    }
  hr_analysis_set_head (m->analysis, head);
  progress.self = m->analysis;

  {
    HrMoments *mo = ((HrStage *)g_ptr_array_index (m->stages, 0))->moments;
    guint64 n_total = hr_source_get_n_samples (m->analysis->features);

    if (hr_moments_get_n_samples (mo) < 2 && hr_moments_get_n_samples (mo) != n_total)
      {
        g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                     _ ("the parts hold %llu finite samples of %llu; at least 2 are needed"),
                     (unsigned long long)hr_moments_get_n_samples (mo),
                     (unsigned long long)n_total);
        return NULL;
      }
  }
  if (!hr_analysis_compute_stages (m->analysis, m->stages, g_ptr_array_index (m->stages, 0),
                                   &progress, cancellable, error))
    return NULL;
  g_ptr_array_extend_and_steal (m->analysis->stages, g_steal_pointer (&m->stages));
  if (m->analysis->part_pairs != NULL && !hr_merged_contrastive (m->analysis, error))
    return NULL;
  hr_analysis_judge (m->analysis);
  m->analysis->done = TRUE;
  return g_steal_pointer (&m->analysis);
}

/**
 * hr_analysis_new_from_parts:
 * @parts: (array length=n_parts): parts from hr_analysis_run_part(), of disjoint samples, in
 *   the order of their samples
 * @n_parts: the number of parts, at least 1
 * @head: (nullable): the head the parts were made with, or %NULL if they were made without
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Merges the parts into the analysis of all their samples, as if one pass had gone over
 * them in this order: the moments merged (hr_moments_add_moments(), within the bound of
 * doc/partial.md), the counts added, the per-sample tables concatenated with the samples
 * numbered from 0 across the parts, then the spectra, CKA and verdict computed as
 * hr_analysis_run() does. The result is done (hr_analysis_is_done()): write its report with
 * hr_analysis_write_report(). Its source (hr_analysis_get_source()) stands for the samples
 * of the parts and cannot be read. It is named after the parts' sources: their distinct
 * names joined by commas, or the first and the last joined by “ … ” when there are more
 * than three, the name a tree of merges of the same parts also gets.
 *
 * Parts that cannot be read are refused with an error of the %HR_PART_ERROR domain; parts
 * that disagree (the dimension of the features, the head, the options, the stages) or a
 * @head whose checksum is not that of the parts' head with %HR_PART_ERROR_MISMATCH. Fewer
 * than two finite samples in all is %HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES.
 *
 * Returns: (transfer full): the merged analysis, or %NULL with @error set
 *
 * Since: 0.2
 */
HrAnalysis *
hr_analysis_new_from_parts (GBytes **parts, guint n_parts, HrHead *head, GCancellable *cancellable,
                            GError **error)
{
  g_auto (HrMerged) m = { NULL };

  g_return_val_if_fail (parts != NULL || n_parts == 0, NULL);
  g_return_val_if_fail (head == NULL || HR_IS_HEAD (head), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hr_parts_merge (parts, n_parts, &m, cancellable, error))
    return NULL;
  return hr_merged_analysis (&m, head, cancellable, error);
}

/**
 * hr_analysis_merge_parts:
 * @parts: (array length=n_parts): parts from hr_analysis_run_part() or from this function,
 *   of disjoint samples, in the order of their samples
 * @n_parts: the number of parts, at least 1
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Merges parts into one part of all their samples, as hr_analysis_new_from_parts() merges
 * them into an analysis but without computing anything more: the moments merged, the
 * counts added, the per-sample tables concatenated in the order of the parts. The result
 * merges with others like any part, so that many parts can be merged as a tree (by pairs,
 * on the machines that made them), the last merge made by hr_analysis_new_from_parts().
 * Its features are named as hr_analysis_new_from_parts() names them. The head is not needed: the
 * parts carry its checksum, which hr_analysis_new_from_parts() checks at the end. A merged part is
 * built in memory, as a part is.
 *
 * Parts that cannot be read, or disagree, are refused as by hr_analysis_new_from_parts().
 * A part of no samples, or with fewer than two finite samples, is a part like any other.
 *
 * Returns: (transfer full): the merged part, or %NULL with @error set
 *
 * Since: 0.2
 */
GBytes *
hr_analysis_merge_parts (GBytes **parts, guint n_parts, GCancellable *cancellable, GError **error)
{
  g_auto (HrMerged) m = { NULL };

  g_return_val_if_fail (parts != NULL || n_parts == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!hr_parts_merge (parts, n_parts, &m, cancellable, error)
      || !hr_part_write_stages (m.analysis, m.first->head_checksum, m.stages, error))
    return NULL;
  return g_steal_pointer (&m.analysis->part);
}

/**
 * hr_analysis_new_from_part_files:
 * @paths: (array zero-terminated=1) (element-type filename): part files written by
 *   hr_analysis_write_part(), in the order of their samples
 * @head: (nullable): the head the parts were made with, or %NULL
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * hr_analysis_new_from_parts() of the files @paths, read one at a time: each part is read,
 * checked against the first, added to the running accumulators and freed, so that merging
 * holds the accumulators and one part (and the per-sample tables, concatenated) whatever
 * the number of files. The result is that of hr_analysis_new_from_parts() of the same parts
 * to the bit. An error about one part names its file.
 *
 * Returns: (transfer full): the merged analysis, or %NULL with @error set
 *
 * Since: 0.2
 */
HrAnalysis *
hr_analysis_new_from_part_files (const char *const *paths, HrHead *head, GCancellable *cancellable,
                                 GError **error)
{
  g_auto (HrMerged) m = { NULL };

  g_return_val_if_fail (paths != NULL, NULL);
  g_return_val_if_fail (head == NULL || HR_IS_HEAD (head), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* one part at a time: read, checked, added, freed (hr_merged_add()) */
  hr_merged_init (&m);
  for (guint i = 0; paths[i] != NULL; i++)
    {
      g_autoptr (GBytes) bytes = hr_part_read_file (paths[i], error);
      GError *local = NULL;
      HrPart *part;

      if (bytes == NULL)
        return NULL;
      part = hr_part_read (bytes, &local);
      if (part == NULL || !hr_merged_add (&m, part, cancellable, &local))
        {
          if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_propagate_error (error, local);
          else
            g_propagate_prefixed_error (error, local, "%s: ", paths[i]);
          return NULL;
        }
    }
  if (!hr_merged_finish (&m, error))
    return NULL;
  return hr_merged_analysis (&m, head, cancellable, error);
}
