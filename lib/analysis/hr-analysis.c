/* headrank: the analysis of a stack through a projection head
 *
 * This file: the object, its set-up and results, and the runs (sync and async);
 * hr-analysis-pass.c: the pass over the stacks, its plan, the verdict and the errors;
 * hr-stage.c: HrStage; hr-sample-table.c: the per-sample statistics
 * (hr-analysis-internal.h between them). */
#include "hr-private.h"
#include "hr-analysis.h"

#include "hr-analysis-internal.h"
#include "hr-contrastive.h"
#include "hr-enum-types.h"
#include "hr-head.h"
#include "hr-moments.h"
#include "hr-pairs.h"
#include "hr-source.h"
#include "hr-stack-reader.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

/**
 * HrAnalysis:
 *
 * One pass over a stack of features through a projection head, with the rank diagnostics of
 * every stage.
 *
 * The features are read a chunk at a time and run through the head; each chunk of every
 * analysed stage is added to that stage's #HrMoments (count, float64 sums, the D × D scatter
 * matrix, per-dimension and per-sample statistics). When the pass is over, the spectrum and
 * the rank measures of the stages that have one (#HrSpectrum) come from those accumulators
 * alone, so memory is bounded by the chunk and D², not by the number of samples: the
 * per-sample statistics go to a temporary file, not to memory.
 *
 * The stages are `features`, the outputs of the head's activation layers (their spectrum,
 * where a ReLU inflates rank, and statistics: zero fractions and dead units say whether it
 * clips; `none` in hr_analysis_set_spectral_stages() leaves their spectrum out), and
 * `projections`, the output of the head. Without a head the analysis takes the features and,
 * optionally, the projections that were computed elsewhere (what VisCy's EmbeddingWriter stores),
 * sample by sample alongside.
 *
 * With positive pairs (a pair file, or a second stack of positives aligned with the first),
 * it also computes the contrastive measures of #HrContrastive on the projections (or on the
 * last stage there is).
 *
 * Rows that hold NaN or infinite values are dropped from every measure and counted; their
 * per-sample statistics are NaN.
 *
 * hr_analysis_run() runs in the calling thread; hr_analysis_run_async() in a worker thread,
 * with #HrAnalysis:progress notified in the main context of the caller.
 */

/* -- HrAnalysis ------------------------------------------------------------------------- */

enum
{
  PROP_0,
  PROP_FEATURES,
  PROP_HEAD,
  PROP_PROJECTIONS,
  PROP_NORM_MODE,
  PROP_BATCH_SIZE,
  PROP_PROGRESS,
  PROP_LOG_PLOTS,
  PROP_NONFINITE_POLICY,
  PROP_PER_SAMPLE_FORMAT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (HrAnalysis, hr_analysis, G_TYPE_OBJECT)

#define HR_DEFAULT_PAIR_BATCH 256
#define HR_DEFAULT_TEMPERATURE 0.2
#define HR_DEFAULT_MARGIN 0.5

void
hr_analysis_clear_results (HrAnalysis *self)
{
  g_ptr_array_set_size (self->stages, 0);
  g_clear_pointer (&self->contrastive, hr_contrastive_unref);
  g_clear_pointer (&self->pairs_used, hr_pairs_unref);
  g_clear_pointer (&self->part_pairs, hr_part_pairs_free);
  self->no_tables = FALSE;
  self->n_pairs_skipped = self->n_dropped = self->n_nonfinite = 0;
  self->verdict = HR_VERDICT_NONE;
  self->lidar = NAN;
  self->done = FALSE;
}

static void
hr_analysis_dispose (GObject *object)
{
  HrAnalysis *self = HR_ANALYSIS (object);

  g_clear_object (&self->features);
  g_clear_object (&self->head);
  g_clear_object (&self->projections);
  g_clear_object (&self->positives);
  if (self->stages != NULL)
    g_ptr_array_set_size (self->stages, 0);
  g_clear_pointer (&self->contrastive, hr_contrastive_unref);
  g_clear_pointer (&self->pairs_used, hr_pairs_unref);
  g_clear_pointer (&self->pairs, hr_pairs_unref);
  g_clear_pointer (&self->part_pairs, hr_part_pairs_free);
  G_OBJECT_CLASS (hr_analysis_parent_class)->dispose (object);
}

static void
hr_analysis_finalize (GObject *object)
{
  HrAnalysis *self = HR_ANALYSIS (object);

  g_free (self->pairs_file);
  g_strfreev (self->spectral_stages);
  g_ptr_array_unref (self->stages);
  g_mutex_clear (&self->mailbox.lock);
  G_OBJECT_CLASS (hr_analysis_parent_class)->finalize (object);
}

static void
hr_analysis_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HrAnalysis *self = HR_ANALYSIS (object);

  switch (prop_id)
    {
      case PROP_FEATURES:
        g_value_set_object (value, self->features);
        break;
      case PROP_HEAD:
        g_value_set_object (value, self->head);
        break;
      case PROP_PROJECTIONS:
        g_value_set_object (value, self->projections);
        break;
      case PROP_NORM_MODE:
        g_value_set_enum (value, self->mode);
        break;
      case PROP_BATCH_SIZE:
        g_value_set_uint64 (value, self->batch_size);
        break;
      case PROP_PROGRESS:
        g_value_set_double (value, self->progress);
        break;
      case PROP_NONFINITE_POLICY:
        g_value_set_enum (value, self->nonfinite_policy);
        break;
      case PROP_LOG_PLOTS:
        g_value_set_boolean (value, self->log_plots);
        break;
      case PROP_PER_SAMPLE_FORMAT:
        g_value_set_enum (value, self->per_sample_format);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_analysis_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  HrAnalysis *self = HR_ANALYSIS (object);

  switch (prop_id)
    {
      case PROP_FEATURES:
        self->features = g_value_dup_object (value);
        break;
      case PROP_HEAD:
        hr_analysis_set_head (self, g_value_get_object (value));
        break;
      case PROP_PROJECTIONS:
        hr_analysis_set_projections_source (self, g_value_get_object (value));
        break;
      case PROP_NORM_MODE:
        hr_analysis_set_norm_mode (self, g_value_get_enum (value));
        break;
      case PROP_BATCH_SIZE:
        hr_analysis_set_batch_size (self, g_value_get_uint64 (value));
        break;
      case PROP_NONFINITE_POLICY:
        hr_analysis_set_nonfinite_policy (self, g_value_get_enum (value));
        break;
      case PROP_LOG_PLOTS:
        hr_analysis_set_log_plots (self, g_value_get_boolean (value));
        break;
      case PROP_PER_SAMPLE_FORMAT:
        hr_analysis_set_per_sample_format (self, g_value_get_enum (value));
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_analysis_class_init (HrAnalysisClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hr_analysis_dispose;
  object_class->finalize = hr_analysis_finalize;
  object_class->get_property = hr_analysis_get_property;
  object_class->set_property = hr_analysis_set_property;

  /**
   * HrAnalysis:features:
   *
   * The stack of features to analyse: any [class@Source] (a [class@StackReader] before 0.2).
   */
  properties[PROP_FEATURES]
      = g_param_spec_object ("features", NULL, NULL, HR_TYPE_SOURCE,
                             G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /**
   * HrAnalysis:head:
   *
   * The projection head the features run through, or %NULL.
   */
  properties[PROP_HEAD]
      = g_param_spec_object ("head", NULL, NULL, HR_TYPE_HEAD,
                             G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * HrAnalysis:projections:
   *
   * Projections computed elsewhere, sample by sample alongside the features, analysed
   * instead of running a head; or %NULL.
   */
  properties[PROP_PROJECTIONS]
      = g_param_spec_object ("projections", NULL, NULL, HR_TYPE_SOURCE,
                             G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * HrAnalysis:norm-mode:
   *
   * How the head's BatchNorm layers normalise: with their running statistics (evaluation
   * mode, the default) or with those of the batch.
   */
  properties[PROP_NORM_MODE]
      = g_param_spec_enum ("norm-mode", NULL, NULL, HR_TYPE_NORM_MODE, HR_NORM_MODE_RUNNING,
                           G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * HrAnalysis:batch-size:
   *
   * With batch statistics, the number of samples in each batch (0: the whole stack).
   */
  properties[PROP_BATCH_SIZE]
      = g_param_spec_uint64 ("batch-size", NULL, NULL, 0, G_MAXUINT64, 0,
                             G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * HrAnalysis:progress:
   *
   * The fraction of the analysis done, from 0 to 1. While hr_analysis_run_async() runs, it
   * is notified in the thread-default main context of the thread that started it.
   */
  properties[PROP_PROGRESS]
      = g_param_spec_double ("progress", NULL, NULL, 0.0, 1.0, 0.0,
                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * HrAnalysis:log-plots:
   *
   * Whether the report's explained-variance curves use logarithmic axes (the default:
   * component index and, per component, explained variance ratio on log scales) or linear
   * ones.
   */
  properties[PROP_LOG_PLOTS]
      = g_param_spec_boolean ("log-plots", NULL, NULL, TRUE,
                              G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * HrAnalysis:nonfinite-policy:
   *
   * What the analysis does with samples that hold NaN or infinite values: leave them out
   * (%HR_NONFINITE_POLICY_DROP, the default) or fail (%HR_NONFINITE_POLICY_ERROR).
   *
   * Since: 0.2
   */
  properties[PROP_NONFINITE_POLICY] = g_param_spec_enum (
      "nonfinite-policy", NULL, NULL, HR_TYPE_NONFINITE_POLICY, HR_NONFINITE_POLICY_DROP,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  /**
   * HrAnalysis:per-sample-format:
   *
   * How hr_analysis_write_report() writes the per-sample table: `per_sample.csv`
   * (%HR_PER_SAMPLE_FORMAT_CSV, the default), `per_sample.csv.gz`
   * (%HR_PER_SAMPLE_FORMAT_CSV_GZIP) or not at all (%HR_PER_SAMPLE_FORMAT_NONE).
   *
   * Since: 0.2
   */
  properties[PROP_PER_SAMPLE_FORMAT] = g_param_spec_enum (
      "per-sample-format", NULL, NULL, HR_TYPE_PER_SAMPLE_FORMAT, HR_PER_SAMPLE_FORMAT_CSV,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hr_analysis_init (HrAnalysis *self)
{
  self->mode = HR_NORM_MODE_RUNNING;
  self->precision = HR_PRECISION_AUTO;
  self->pair_batch = HR_DEFAULT_PAIR_BATCH;
  self->temperature = HR_DEFAULT_TEMPERATURE;
  self->margin = HR_DEFAULT_MARGIN;
  self->log_plots = TRUE;
  self->lidar = NAN;
  self->stages = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_init (&self->mailbox.lock);
}

/**
 * hr_analysis_new:
 * @features: the stack of features to analyse
 *
 * Makes an analysis of @features. Give it a head with hr_analysis_set_head(), or the
 * projections with hr_analysis_set_projections(), then run it.
 *
 * Returns: (transfer full): a new #HrAnalysis
 */
HrAnalysis *
hr_analysis_new (HrStackReader *features)
{
  g_return_val_if_fail (HR_IS_STACK_READER (features), NULL);
  return hr_analysis_new_for_source (HR_SOURCE (features));
}

/**
 * hr_analysis_new_for_source:
 * @features: the features to analyse: a file, memory, several files, any source whose
 *   number of samples is known
 *
 * Makes an analysis of @features, as hr_analysis_new() does for a TIFF file.
 *
 * Returns: (transfer full): a new #HrAnalysis
 *
 * Since: 0.2
 */
HrAnalysis *
hr_analysis_new_for_source (HrSource *features)
{
  g_return_val_if_fail (HR_IS_SOURCE (features), NULL);
  return g_object_new (HR_TYPE_ANALYSIS, "features", features, NULL);
}

/**
 * hr_analysis_get_features:
 * @self: a #HrAnalysis
 *
 * Gets the stack of features when it is a TIFF file (hr_analysis_get_source() gets any).
 *
 * Returns: (transfer none) (nullable): the stack of features, or %NULL when they come from
 *   another kind of source
 *
 * Deprecated: 0.2: Use hr_analysis_get_source(), which returns any kind of source.
 */
HrStackReader *
hr_analysis_get_features (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  return HR_IS_STACK_READER (self->features) ? HR_STACK_READER (self->features) : NULL;
}

/**
 * hr_analysis_get_source:
 * @self: a #HrAnalysis
 *
 * Gets the features, whatever their source.
 *
 * Returns: (transfer none): the features
 *
 * Since: 0.2
 */
HrSource *
hr_analysis_get_source (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  return self->features;
}

/**
 * hr_analysis_set_head:
 * @self: a #HrAnalysis
 * @head: (nullable): the projection head, or %NULL
 *
 * Sets the head the features run through.
 */
void
hr_analysis_set_head (HrAnalysis *self, HrHead *head)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (head == NULL || HR_IS_HEAD (head));
  g_return_if_fail (!hr_analysis_running (self));
  if (g_set_object (&self->head, head))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HEAD]);
}

/**
 * hr_analysis_get_head:
 * @self: a #HrAnalysis
 *
 * Gets the projection head.
 *
 * Returns: (transfer none) (nullable): the projection head
 */
HrHead *
hr_analysis_get_head (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  return self->head;
}

/**
 * hr_analysis_set_projections:
 * @self: a #HrAnalysis
 * @projections: (nullable): the projections of the features, or %NULL
 *
 * Sets projections computed elsewhere, one sample per sample of the features, to analyse
 * alongside the features when there is no head to run.
 */
void
hr_analysis_set_projections (HrAnalysis *self, HrStackReader *projections)
{
  g_return_if_fail (projections == NULL || HR_IS_STACK_READER (projections));
  hr_analysis_set_projections_source (self, (HrSource *)projections);
}

/**
 * hr_analysis_set_projections_source:
 * @self: a #HrAnalysis
 * @projections: (nullable): the projections of the features, or %NULL
 *
 * Sets projections from any source whose number of samples is known, as
 * hr_analysis_set_projections() does from a TIFF file.
 *
 * Since: 0.2
 */
void
hr_analysis_set_projections_source (HrAnalysis *self, HrSource *projections)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (projections == NULL || HR_IS_SOURCE (projections));
  g_return_if_fail (!hr_analysis_running (self));
  if (g_set_object (&self->projections, projections))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECTIONS]);
}

/**
 * hr_analysis_get_projections:
 * @self: a #HrAnalysis
 *
 * Gets the projections given with hr_analysis_set_projections().
 *
 * Returns: (transfer none) (nullable): the projections given with
 *   hr_analysis_set_projections(), or %NULL (also when they come from a source other than
 *   a TIFF file: see hr_analysis_get_projections_source())
 *
 * Deprecated: 0.2: Use hr_analysis_get_projections_source(), which returns any kind of source.
 */
HrStackReader *
hr_analysis_get_projections (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  return HR_IS_STACK_READER (self->projections) ? HR_STACK_READER (self->projections) : NULL;
}

/**
 * hr_analysis_get_projections_source:
 * @self: a #HrAnalysis
 *
 * Gets the projections, whatever their source.
 *
 * Returns: (transfer none) (nullable): the projections, or %NULL
 *
 * Since: 0.2
 */
HrSource *
hr_analysis_get_projections_source (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  return self->projections;
}

/**
 * hr_analysis_set_norm_mode:
 * @self: a #HrAnalysis
 * @mode: how the head's BatchNorm layers normalise
 *
 * Sets #HrAnalysis:norm-mode.
 */
void
hr_analysis_set_norm_mode (HrAnalysis *self, HrNormMode mode)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  if (self->mode != mode)
    {
      self->mode = mode;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NORM_MODE]);
    }
}

/**
 * hr_analysis_get_norm_mode:
 * @self: a #HrAnalysis
 *
 * Gets how the head's BatchNorm layers normalise.
 *
 * Returns: how the head's BatchNorm layers normalise
 */
HrNormMode
hr_analysis_get_norm_mode (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), HR_NORM_MODE_RUNNING);
  return self->mode;
}

/**
 * hr_analysis_set_batch_size:
 * @self: a #HrAnalysis
 * @batch_size: with batch statistics, the samples in each batch (0: the whole stack)
 *
 * Sets #HrAnalysis:batch-size.
 */
void
hr_analysis_set_batch_size (HrAnalysis *self, gsize batch_size)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  if (self->batch_size != batch_size)
    {
      self->batch_size = batch_size;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BATCH_SIZE]);
    }
}

/**
 * hr_analysis_get_batch_size:
 * @self: a #HrAnalysis
 *
 * Gets the value of the #HrAnalysis:batch-size property.
 *
 * Returns: #HrAnalysis:batch-size
 */
gsize
hr_analysis_get_batch_size (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), 0);
  return self->batch_size;
}

/**
 * hr_analysis_set_precision:
 * @self: a #HrAnalysis
 * @precision: how the scatter matrices are accumulated
 *
 * Sets the precision of the accumulation (see #HrPrecision; %HR_PRECISION_AUTO, the
 * default, chooses per stage from its number of samples and dimensions).
 */
void
hr_analysis_set_precision (HrAnalysis *self, HrPrecision precision)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  self->precision = precision;
}

/**
 * hr_analysis_set_nonfinite_policy:
 * @self: a #HrAnalysis
 * @policy: what to do with samples that hold NaN or infinite values
 *
 * Sets #HrAnalysis:nonfinite-policy.
 *
 * Since: 0.2
 */
void
hr_analysis_set_nonfinite_policy (HrAnalysis *self, HrNonfinitePolicy policy)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (policy == HR_NONFINITE_POLICY_DROP || policy == HR_NONFINITE_POLICY_ERROR);

  if (self->nonfinite_policy != policy)
    {
      self->nonfinite_policy = policy;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NONFINITE_POLICY]);
    }
}

/**
 * hr_analysis_get_nonfinite_policy:
 * @self: a #HrAnalysis
 *
 * Gets #HrAnalysis:nonfinite-policy.
 *
 * Returns: what the analysis does with samples that hold NaN or infinite values
 *
 * Since: 0.2
 */
HrNonfinitePolicy
hr_analysis_get_nonfinite_policy (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), HR_NONFINITE_POLICY_DROP);
  return self->nonfinite_policy;
}

/**
 * hr_analysis_set_spectral_stages:
 * @self: a #HrAnalysis
 * @names: (nullable) (array zero-terminated=1): names of the head's layers whose output
 *   gets a spectrum too, `all` for every layer, `none` to leave out the activation layers';
 *   %NULL or empty for the default
 *
 * The features and the projections always get a spectrum, and so do, since 0.2, the
 * outputs of activation layers (with their statistics: zero fractions, dead units), unless
 * @names holds `none`; other layers get one when named here. Each spectrum costs a D × D
 * scatter matrix, and with its CKA with the features a D_features × D cross-moments matrix.
 */
void
hr_analysis_set_spectral_stages (HrAnalysis *self, const char *const *names)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  g_strfreev (self->spectral_stages);
  self->spectral_stages = g_strdupv ((char **)names);
}

/**
 * hr_analysis_set_pairs_file:
 * @self: a #HrAnalysis
 * @path: (nullable) (type filename): a file of positive pairs, or %NULL
 *
 * Sets positive pairs as a file of 0-based sample indices `anchor,positive[,negative]`, one
 * pair per line (see hr_pairs_read()). The contrastive measures are computed on them. It
 * replaces pairs given with hr_analysis_set_pairs().
 */
void
hr_analysis_set_pairs_file (HrAnalysis *self, const char *path)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  g_free (self->pairs_file);
  self->pairs_file = g_strdup (path);
  if (path != NULL)
    g_clear_pointer (&self->pairs, hr_pairs_unref);
}

/**
 * hr_analysis_set_pairs:
 * @self: a #HrAnalysis
 * @pairs: (nullable): positive pairs (from memory, a file or tracks), or %NULL
 *
 * Sets positive pairs that are not a file: indices from memory
 * (hr_pairs_new_from_bytes()) or temporal pairs from cell tracks
 * (hr_pairs_new_from_store(), hr_pairs_new_from_tracks()). Their indices are checked
 * against the number of samples when the analysis runs (%HR_ANALYSIS_ERROR_PAIRS). It
 * replaces a pair file given with hr_analysis_set_pairs_file().
 *
 * Since: 0.2
 */
void
hr_analysis_set_pairs (HrAnalysis *self, HrPairs *pairs)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  if (pairs != NULL)
    {
      hr_pairs_ref (pairs);
      g_clear_pointer (&self->pairs_file, g_free);
    }
  g_clear_pointer (&self->pairs, hr_pairs_unref);
  self->pairs = pairs;
}

/**
 * hr_analysis_get_pairs:
 * @self: a #HrAnalysis
 *
 * The pairs the analysis ran with: those of hr_analysis_set_pairs(), or those read from
 * the pair file. (Positives aligned with the features, hr_analysis_set_positives(), are
 * not pairs of indices: %NULL.) For an analysis merged from parts, pairs that say where
 * the parts' pairs came from (their origin, file, time step and tracks), without their
 * indices: hr_pairs_get_n_pairs() is 0 (the contrastive measures count them).
 *
 * Returns: (transfer none) (nullable): the pairs, when the analysis has run with pairs
 *
 * Since: 0.2
 */
HrPairs *
hr_analysis_get_pairs (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  return hr_analysis_is_done (self) ? self->pairs_used : NULL;
}

/**
 * hr_analysis_set_positives:
 * @self: a #HrAnalysis
 * @positives: (nullable): the positives, aligned sample by sample with the features
 *
 * Sets positive pairs as a second stack: sample i of @positives is the positive of sample i
 * of the features. It is of the same kind as the analysed stacks: features when a head runs
 * (it runs through the same head), projections when projections are given, features
 * otherwise.
 */
void
hr_analysis_set_positives (HrAnalysis *self, HrStackReader *positives)
{
  g_return_if_fail (positives == NULL || HR_IS_STACK_READER (positives));
  hr_analysis_set_positives_source (self, (HrSource *)positives);
}

/**
 * hr_analysis_set_positives_source:
 * @self: a #HrAnalysis
 * @positives: (nullable): the positives, aligned sample by sample with the features
 *
 * Sets the positives from any source whose number of samples is known, as
 * hr_analysis_set_positives() does from a TIFF file.
 *
 * Since: 0.2
 */
void
hr_analysis_set_positives_source (HrAnalysis *self, HrSource *positives)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (positives == NULL || HR_IS_SOURCE (positives));
  g_return_if_fail (!hr_analysis_running (self));
  g_set_object (&self->positives, positives);
}

/**
 * hr_analysis_get_positives_source:
 * @self: a #HrAnalysis
 *
 * Gets the positives aligned with the features (hr_analysis_set_positives_source()).
 *
 * Returns: (transfer none) (nullable): the positives, or %NULL
 *
 * Since: 0.2
 */
HrSource *
hr_analysis_get_positives_source (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  return self->positives;
}

/**
 * hr_analysis_set_contrastive_parameters:
 * @self: a #HrAnalysis
 * @batch_size: pairs per batch for the in-batch measures (default 256)
 * @temperature: the NT-Xent temperature τ (default 0.2)
 * @margin: the triplet margin (default 0.5, VisCy's)
 *
 * Sets the parameters of the contrastive measures (see #HrContrastive).
 */
void
hr_analysis_set_contrastive_parameters (HrAnalysis *self, gsize batch_size, double temperature,
                                        double margin)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  self->pair_batch = batch_size;
  self->temperature = temperature;
  self->margin = margin;
}

/**
 * hr_analysis_set_log_plots:
 * @self: a #HrAnalysis
 * @log: whether the explained-variance curves use logarithmic axes
 *
 * Sets #HrAnalysis:log-plots.
 */
void
hr_analysis_set_log_plots (HrAnalysis *self, gboolean log)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  log = !!log;
  if (self->log_plots != log)
    {
      self->log_plots = log;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOG_PLOTS]);
    }
}

/**
 * hr_analysis_get_log_plots:
 * @self: a #HrAnalysis
 *
 * Gets the value of the #HrAnalysis:log-plots property.
 *
 * Returns: #HrAnalysis:log-plots
 */
gboolean
hr_analysis_get_log_plots (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), TRUE);
  return self->log_plots;
}

/**
 * hr_analysis_set_per_sample_format:
 * @self: a #HrAnalysis
 * @format: how the report writes its per-sample table
 *
 * Sets #HrAnalysis:per-sample-format: `per_sample.csv`, `per_sample.csv.gz` or no
 * per-sample table in the report of hr_analysis_write_report(). At 10⁶ samples through a
 * head of two layers the plain table takes 115 MB, the compressed one 58 MB.
 *
 * Since: 0.2
 */
void
hr_analysis_set_per_sample_format (HrAnalysis *self, HrPerSampleFormat format)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (format == HR_PER_SAMPLE_FORMAT_CSV || format == HR_PER_SAMPLE_FORMAT_CSV_GZIP
                    || format == HR_PER_SAMPLE_FORMAT_NONE);
  if (self->per_sample_format != format)
    {
      self->per_sample_format = format;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PER_SAMPLE_FORMAT]);
    }
}

/**
 * hr_analysis_has_per_sample:
 * @self: a #HrAnalysis
 *
 * Whether the analysis holds the per-sample statistics of its samples: %FALSE for an
 * analysis merged from parts made without their per-sample tables
 * (%HR_PER_SAMPLE_FORMAT_NONE when the parts were made, `headrank analyze --partial PART
 * --per-sample none`), whose report then writes no per-sample table, summary or figure
 * whatever #HrAnalysis:per-sample-format says (doc/partial.md).
 *
 * Returns: %TRUE when the per-sample statistics are held (always, for an analysis that ran)
 *
 * Since: 0.2
 */
gboolean
hr_analysis_has_per_sample (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), FALSE);
  return !self->no_tables;
}

/**
 * hr_analysis_get_per_sample_format:
 * @self: a #HrAnalysis
 *
 * Gets the value of the #HrAnalysis:per-sample-format property.
 *
 * Returns: #HrAnalysis:per-sample-format
 *
 * Since: 0.2
 */
HrPerSampleFormat
hr_analysis_get_per_sample_format (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), HR_PER_SAMPLE_FORMAT_CSV);
  return self->per_sample_format;
}

/* -- progress --------------------------------------------------------------------------- */

static gboolean
hr_analysis_deliver_progress (gpointer data)
{
  HrAnalysis *self = data;

  hr_progress_deliver (&self->mailbox, self, &self->progress, properties[PROP_PROGRESS]);
  return G_SOURCE_REMOVE;
}

void
hr_progress_post (HrProgressMailbox *mailbox, double value, GMainContext *context,
                  GSourceFunc deliver, gpointer object)
{
  g_mutex_lock (&mailbox->lock);
  mailbox->latest = value;
  g_mutex_unlock (&mailbox->lock);
  /* One delivery in flight at a time: it takes the latest value. Always by a source that
   * the context's loop dispatches: g_main_context_invoke() would call it at once in this
   * (the worker's) thread whenever it can acquire the context, as it can when the context
   * is the global default one and its loop has not started yet. */
  if (g_atomic_int_compare_and_exchange (&mailbox->pending, 0, 1))
    {
      GSource *source = g_idle_source_new ();

      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, deliver, g_object_ref (object), g_object_unref);
      g_source_set_static_name (source, "headrank progress");
      g_source_attach (source, context);
      g_source_unref (source);
    }
}

void
hr_progress_deliver (HrProgressMailbox *mailbox, gpointer object, double *progress,
                     GParamSpec *pspec)
{
  double latest;

  g_mutex_lock (&mailbox->lock);
  latest = mailbox->latest;
  g_atomic_int_set (&mailbox->pending, 0);
  g_mutex_unlock (&mailbox->lock);
  if (latest != *progress)
    {
      *progress = latest;
      g_object_notify_by_pspec (G_OBJECT (object), pspec);
    }
}

void
hr_progress_report (double fraction, gpointer data)
{
  HrProgress *p = data;
  HrAnalysis *self = p->self;
  double value = CLAMP (p->from + (p->to - p->from) * fraction, 0.0, 1.0);

  if (p->func != NULL)
    {
      p->func (value, p->func_data);
      return;
    }
  if (p->context == NULL)
    return;
  hr_progress_post (&self->mailbox, value, p->context, hr_analysis_deliver_progress, self);
}

static void
hr_analysis_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  HrAnalysis *self = source;
  /* the context of the caller of hr_analysis_run_async(), which the task keeps */
  HrProgress p = { self, NULL, NULL, 0.0, 1.0, g_task_get_context (task) };
  GError *error = NULL;
  gboolean ok;

  ok = hr_analysis_run_internal (self, &p, cancellable, &error);
  hr_run_task_return (task, &self->running, ok, error);
}

void
hr_run_task_start (gpointer self, gint *running, double *progress, GParamSpec *pspec,
                   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
                   gpointer source_tag, GTaskThreadFunc thread)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  g_atomic_int_set (running, TRUE);
  *progress = 0.0;
  g_object_notify_by_pspec (G_OBJECT (self), pspec);
  g_task_run_in_thread (task, thread);
  g_object_unref (task);
}

void
hr_run_task_return (GTask *task, gint *running, gboolean ok, GError *error)
{
  /* Done with the object: it is no longer running once its task returns, whether or not the
   * finish function is ever called (the result may be dropped unread). */
  g_atomic_int_set (running, FALSE);
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

gboolean
hr_run_task_finish (gpointer self, GAsyncResult *result, double *progress, GParamSpec *pspec,
                    GError **error)
{
  /* the worker cleared the running flag before its task returned */
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  if (*progress != 1.0)
    {
      *progress = 1.0;
      g_object_notify_by_pspec (G_OBJECT (self), pspec);
    }
  return TRUE;
}

/**
 * hr_analysis_run_async:
 * @self: a #HrAnalysis
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the analysis is over
 * @user_data: data for @callback
 *
 * Runs the analysis in a worker thread. #HrAnalysis:progress is notified in the
 * thread-default main context of the calling thread as it goes; cancelling @cancellable
 * stops it within one chunk of samples. Do not change the analysis while it runs. It is
 * free again when @callback is called, whether or not the callback calls
 * hr_analysis_run_finish() (a result dropped unread leaves nothing running). The sources
 * are read in the worker thread, so their #HrSource:position is notified there.
 */
void
hr_analysis_run_async (HrAnalysis *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));

  hr_run_task_start (self, &self->running, &self->progress, properties[PROP_PROGRESS], cancellable,
                     callback, user_data, hr_analysis_run_async, hr_analysis_thread);
}

/**
 * hr_analysis_run_finish:
 * @self: a #HrAnalysis
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Finishes hr_analysis_run_async().
 *
 * Returns: %TRUE on success
 */
gboolean
hr_analysis_run_finish (HrAnalysis *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return hr_run_task_finish (self, result, &self->progress, properties[PROP_PROGRESS], error);
}

/**
 * hr_analysis_get_progress:
 * @self: a #HrAnalysis
 *
 * Gets the value of the #HrAnalysis:progress property.
 *
 * Returns: #HrAnalysis:progress
 */
double
hr_analysis_get_progress (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), 0.0);
  return self->progress;
}

/**
 * hr_analysis_is_done:
 * @self: a #HrAnalysis
 *
 * Tells whether the analysis has run to the end, so that its results can be read.
 *
 * Returns: whether the analysis has run to the end, so that its results can be read
 */
gboolean
hr_analysis_is_done (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), FALSE);
  return self->done && !hr_analysis_running (self);
}

/**
 * hr_analysis_get_n_stages:
 * @self: a #HrAnalysis
 *
 * Gets the number of analysed stages.
 *
 * Returns: the number of analysed stages (0 before the analysis has run)
 */
guint
hr_analysis_get_n_stages (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), 0);
  return hr_analysis_is_done (self) ? self->stages->len : 0;
}

/**
 * hr_analysis_get_stage:
 * @self: a #HrAnalysis
 * @index: the index of a stage, below hr_analysis_get_n_stages()
 *
 * Gets an analysed stage by index.
 *
 * Returns: (transfer none): the stage: the features first, the projections last
 */
HrStage *
hr_analysis_get_stage (HrAnalysis *self, guint index)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  g_return_val_if_fail (index < hr_analysis_get_n_stages (self), NULL);
  return g_ptr_array_index (self->stages, index);
}

/**
 * hr_analysis_find_stage:
 * @self: a #HrAnalysis
 * @name: a stage name: `features`, `projections` or a layer's name
 *
 * Finds an analysed stage by name.
 *
 * Returns: (transfer none) (nullable): the stage of that name, or %NULL
 */
HrStage *
hr_analysis_find_stage (HrAnalysis *self, const char *name)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  for (guint i = 0; i < hr_analysis_get_n_stages (self); i++)
    {
      HrStage *stage = g_ptr_array_index (self->stages, i);
      if (strcmp (stage->name, name) == 0)
        return stage;
    }
  return NULL;
}

/**
 * hr_analysis_get_contrastive:
 * @self: a #HrAnalysis
 *
 * Gets the contrastive measures on the pairs.
 *
 * Returns: (transfer none) (nullable): the contrastive measures, when pairs were given
 */
HrContrastive *
hr_analysis_get_contrastive (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NULL);
  return hr_analysis_is_done (self) ? self->contrastive : NULL;
}

/**
 * hr_analysis_get_n_pairs_skipped:
 * @self: a #HrAnalysis
 *
 * Counts the pairs left out of the contrastive measures for holding non-finite values.
 *
 * Returns: the pairs left out of the contrastive measures because a sample of theirs holds
 *   non-finite values
 */
guint64
hr_analysis_get_n_pairs_skipped (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), 0);
  return self->n_pairs_skipped;
}

/**
 * hr_analysis_get_verdict:
 * @self: a #HrAnalysis
 *
 * What the analysis concludes about the head, from the features and projections stages:
 * whether it reduces rank (the question of VisCy issue 139), inflates it or keeps it, and
 * its effective rank (differences smaller than the ranks' ranges, or than 1 % of the
 * effective ranks, count as none); whether it maps into fewer dimensions and uses all of
 * them; whether its ReLU clips most activations or has dead units; whether the projections
 * collapsed. The rules are a table in the *Rank diagnostics* page (doc/analysis.md).
 *
 * Returns: the verdict, %HR_VERDICT_NONE before the analysis has run
 */
HrVerdictFlags
hr_analysis_get_verdict (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), HR_VERDICT_NONE);
  return hr_analysis_is_done (self) ? self->verdict : HR_VERDICT_NONE;
}

/**
 * hr_analysis_get_n_dropped:
 * @self: a #HrAnalysis
 *
 * Counts the samples of the features left out of every measure for holding NaN or infinite
 * values.
 *
 * Returns: the samples of the features left out of every measure because they hold NaN or
 *   infinite values (with projections given, those of the features; the projections' own
 *   are counted by their stage's #HrMoments)
 */
guint64
hr_analysis_get_n_dropped (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), 0);
  return self->n_dropped;
}

/**
 * hr_analysis_get_n_nonfinite:
 * @self: a #HrAnalysis
 *
 * Counts the NaN and infinite values met in the analysed stacks.
 *
 * Returns: the NaN and infinite values met in the analysed stacks
 */
guint64
hr_analysis_get_n_nonfinite (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), 0);
  return self->n_nonfinite;
}

/* -- the measures the field compares heads with ------------------------------------------- */

/**
 * hr_analysis_set_standardize:
 * @self: a #HrAnalysis
 * @standardize: whether every spectrum is that of the correlation matrix
 *
 * With @standardize, each stage's spectrum (hr_stage_get_spectrum()) and every measure read
 * from it are those of the standardised samples, each dimension centred and divided by its
 * standard deviation (ddof 0; a dimension without variance stays 0), as scikit-learn's
 * `StandardScaler` before `PCA`: the eigenvalues of the correlation matrix, computed from
 * the same moments. For stacks whose dimensions have different units (filter banks),
 * where one dimension's variance would dominate. The uncentred values are those of the
 * standardised (mean 0) samples. The spectrum of the normalised projections
 * (hr_stage_get_normalized_spectrum()) is not standardised. Off by default.
 *
 * Since: 0.2
 */
void
hr_analysis_set_standardize (HrAnalysis *self, gboolean standardize)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  self->standardize = standardize;
}

/**
 * hr_analysis_get_standardize:
 * @self: a #HrAnalysis
 *
 * Whether the spectra are those of the standardised samples (see
 * hr_analysis_set_standardize()).
 *
 * Returns: %TRUE if the spectra are those of the correlation matrix
 *
 * Since: 0.2
 */
gboolean
hr_analysis_get_standardize (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), FALSE);
  return self->standardize;
}

/**
 * hr_analysis_set_memory_limit:
 * @self: a #HrAnalysis
 * @bytes: the bound, in bytes; 0 for the default, half the physical memory (4 GiB where
 *   the system does not say how much there is)
 *
 * Bounds the memory that the spectra of all stages may take together. Before the pass,
 * each stage with a spectrum is planned from its dimension D and the number of samples N
 * of the stack's header: from the D × D scatter matrix (24·D² bytes; with float32 products
 * 16·D² plus 12·D² for each part they are split into less 8·D², a part for each thread of
 * the pass but no more than keep the parts after the first within 64 MiB or 16·D², whichever
 * is more; plus 8·D² standardised, a chunk of 2,048 float64 rows and up to 16 MiB of
 * products split over threads), or, for a wide
 * stage with N < D, from its rows kept in memory and the N × N Gram matrices
 * (4·N·D + 16·N² + 16,384·N bytes). The projections add the same for their normalised rows,
 * and each stage with a CKA 8·D_features·D bytes, and the largest CKA mapped through affine
 * layers after the pass the scratch of its map (or, where that does not fit, it is
 * accumulated in the pass). When the sum passes the bound, the run
 * fails before it allocates with %HR_ANALYSIS_ERROR_MEMORY_LIMIT, naming the stage and the
 * sizes.
 *
 * Since: 0.2
 */
void
hr_analysis_set_memory_limit (HrAnalysis *self, guint64 bytes)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!hr_analysis_running (self));
  self->memory_limit = bytes;
}

/**
 * hr_analysis_get_memory_limit:
 * @self: a #HrAnalysis
 *
 * Gets the bound on the memory of the spectra (see hr_analysis_set_memory_limit()).
 *
 * Returns: the bound in bytes: the one set, else half the physical memory
 *
 * Since: 0.2
 */
guint64
hr_analysis_get_memory_limit (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), 0);
  return hr_analysis_memory_limit (self);
}

/**
 * hr_analysis_get_lidar:
 * @self: a #HrAnalysis
 *
 * LiDAR (Thilak, Littwin, Zhai, Saremi, Paiss, Susskind, "LiDAR: Sensing linear probing
 * performance in joint embedding SSL architectures", ICLR 2024) of the stage the
 * contrastive measures use, each positive pair (a, p) a surrogate class of q = 2 views:
 * with μ_i = (a_i + p_i)/2 and μ their mean over the n pairs,
 *
 *     Σ_b = Σ_i (μ_i − μ)(μ_i − μ)ᵀ / (n − 1)
 *     Σ_w = Σ_i Σ_v (v − μ_i)(v − μ_i)ᵀ / (n (q − 1)) + δI
 *     Σ_L = Σ_w^−½ Σ_b Σ_w^−½,   p_k = (λ_k + ε) / Σ_j (λ_j + ε),   LiDAR = exp (−Σ p_k log p_k)
 *
 * with δ = 10⁻⁴ and ε = 10⁻⁸ (the eigenvalues of Σ_w clamped at ε, those of Σ_L at 0), in
 * float64: the paper's formula, as stable-pretraining's `LiDAR` callback computes it.
 *
 * Returns: LiDAR, between 1 and D; NaN without pairs, with fewer than 2 pairs, or when the
 *   5 D × D matrices it needs exceed the memory limit
 *
 * Since: 0.2
 */
double
hr_analysis_get_lidar (HrAnalysis *self)
{
  g_return_val_if_fail (HR_IS_ANALYSIS (self), NAN);
  return self->lidar;
}
