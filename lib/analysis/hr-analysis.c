/* headrank: the analysis of a stack through a projection head */
#include "hr-private.h"
#include "hr-analysis.h"

#include "hr-analysis-private.h"
#include "hr-contrastive.h"
#include "hr-enum-types.h"
#include "hr-error.h"
#include "hr-head-private.h"
#include "hr-head.h"
#include "hr-measures-private.h"
#include "hr-moments.h"
#include "hr-source.h"
#include "hr-sources-private.h"
#include "hr-spectrum.h"
#include "hr-stack-info.h"
#include "hr-stack-reader.h"
#include "hr-types.h"

#include <errno.h>
#include <gio/gio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>

#include <glib/gstdio.h>

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
 * The stages are `features`, the outputs of the head's activation layers (statistics only:
 * zero fractions and dead units say whether a ReLU clips; name them with
 * hr_analysis_set_spectral_stages() to get their spectrum too), and `projections`, the output
 * of the head. Without a head the analysis takes the features and, optionally, the
 * projections that were computed elsewhere (what VisCy's EmbeddingWriter stores), sample by
 * sample alongside.
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

/* -- per-sample statistics, kept in an unlinked temporary file -------------------------- */

#define HR_TABLE_BUFFER 4096 /* rows buffered before a write */

typedef struct
{
  int fd;
  guint64 n_rows; /* rows written, buffered ones included */
  guint64 n_flushed;
  float *buffer; /* HR_TABLE_BUFFER × HR_PER_SAMPLE_COLUMNS */
  gsize n_buffered;
} HrSampleTable;

static void
hr_sample_table_free (HrSampleTable *t)
{
  if (t->fd >= 0)
    close (t->fd);
  g_free (t->buffer);
  g_free (t);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrSampleTable, hr_sample_table_free)

static HrSampleTable *
hr_sample_table_new (GError **error)
{
  g_autofree char *path = NULL;
  HrSampleTable *t = g_new0 (HrSampleTable, 1);
  GError *local = NULL;

  t->fd = g_file_open_tmp ("headrank-samples-XXXXXX", &path, &local);
  if (t->fd < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _ ("cannot create a temporary file for the per-sample statistics: %s"),
                   local->message);
      g_error_free (local);
      g_free (t);
      return NULL;
    }
  g_unlink (path);
  t->buffer = g_new (float, HR_TABLE_BUFFER *HR_PER_SAMPLE_COLUMNS);
  return t;
}

static gboolean
hr_sample_table_flush (HrSampleTable *t, GError **error)
{
  const char *data = (const char *)t->buffer;
  gsize left = t->n_buffered * HR_PER_SAMPLE_COLUMNS * sizeof (float);
  off_t offset = (off_t)(t->n_flushed * HR_PER_SAMPLE_COLUMNS * sizeof (float));

  while (left > 0)
    {
      ssize_t w = pwrite (t->fd, data, left, offset);

      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                       _ ("cannot write the per-sample statistics to a temporary file: %s"),
                       g_strerror (saved));
          return FALSE;
        }
      data += w;
      left -= (gsize)w;
      offset += w;
    }
  t->n_flushed += t->n_buffered;
  t->n_buffered = 0;
  return TRUE;
}

/* Appends the statistics of sample @sample, NaN for the samples skipped since the last. */
static gboolean
hr_sample_table_put (HrSampleTable *t, guint64 sample, const float *values, GError **error)
{
  while (t->n_rows <= sample)
    {
      float *row;

      if (t->n_buffered == HR_TABLE_BUFFER && !hr_sample_table_flush (t, error))
        return FALSE;
      row = t->buffer + t->n_buffered * HR_PER_SAMPLE_COLUMNS;
      if (t->n_rows == sample)
        memcpy (row, values, HR_PER_SAMPLE_COLUMNS * sizeof (float));
      else
        for (int c = 0; c < HR_PER_SAMPLE_COLUMNS; c++)
          row[c] = NAN;
      t->n_buffered++;
      t->n_rows++;
    }
  return TRUE;
}

static gboolean
hr_sample_table_finish (HrSampleTable *t, guint64 n_rows, GError **error)
{
  static const float missing[HR_PER_SAMPLE_COLUMNS] = { NAN, NAN, NAN, NAN };

  if (n_rows > 0 && t->n_rows < n_rows && !hr_sample_table_put (t, n_rows - 1, missing, error))
    return FALSE;
  return hr_sample_table_flush (t, error);
}

static gboolean
hr_sample_table_read (HrSampleTable *t, guint64 first, gsize n, float *out, GError **error)
{
  char *data = (char *)out;
  gsize left = n * HR_PER_SAMPLE_COLUMNS * sizeof (float);
  off_t offset = (off_t)(first * HR_PER_SAMPLE_COLUMNS * sizeof (float));

  while (left > 0)
    {
      ssize_t r = pread (t->fd, data, left, offset);

      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR,
                       r == 0 ? G_IO_ERROR_FAILED : g_io_error_from_errno (saved),
                       _ ("cannot read the per-sample statistics back: %s"),
                       r == 0 ? _ ("the temporary file is too short") : g_strerror (saved));
          return FALSE;
        }
      data += r;
      left -= (gsize)r;
      offset += r;
    }
  return TRUE;
}

/* -- HrStage ---------------------------------------------------------------------------- */

/**
 * HrStage:
 *
 * One stage of an analysed head: the features, the output of a layer, or the projections,
 * with its accumulated moments, its spectrum if it has one, and its per-sample statistics.
 * Stages are made by #HrAnalysis and do not change once it has run.
 */
struct _HrStage
{
  GObject parent_instance;

  char *name;
  HrStageRole role;
  int layer; /* -1 for the features */
  HrLayerKind layer_kind;
  gsize dimension;
  guint64 n_samples; /* rows of the stack, dropped ones included */
  gboolean wants_spectrum;
  HrMoments *moments;
  HrSpectrum *spectrum;
  HrSampleTable *table;
  guint64 *clipped;  /* activations: per unit, the samples in the clipping region */
  guint64 clip_rows; /* the samples counted there */

  /* wide stages (N < D): the finite rows kept, for the N × N Gram matrices */
  float *rows;
  guint64 n_rows_kept;
  /* the projections: the moments of their L2-normalised rows (what the loss sees) */
  HrMoments *normalized;
  HrSpectrum *normalized_spectrum;
  float *normalized_scratch;
  /* linear CKA with the features, from cross-moments */
  HrCrossMoments *cross;
  double cka;
  guint64 n_marked; /* NaN values set by hr_drop_together(), not the input's */
};

G_DEFINE_FINAL_TYPE (HrStage, hr_stage, G_TYPE_OBJECT)

static void
hr_stage_finalize (GObject *object)
{
  HrStage *self = HR_STAGE (object);

  g_free (self->name);
  g_clear_object (&self->moments);
  g_clear_pointer (&self->spectrum, hr_spectrum_unref);
  g_clear_pointer (&self->table, hr_sample_table_free);
  g_free (self->clipped);
  g_free (self->rows);
  g_clear_object (&self->normalized);
  g_clear_pointer (&self->normalized_spectrum, hr_spectrum_unref);
  g_free (self->normalized_scratch);
  g_clear_pointer (&self->cross, hr_cross_moments_free);
  G_OBJECT_CLASS (hr_stage_parent_class)->finalize (object);
}

static void
hr_stage_class_init (HrStageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = hr_stage_finalize;
}

static void
hr_stage_init (HrStage *self)
{
  self->layer = -1;
  self->cka = NAN;
}

/**
 * hr_stage_get_name:
 * @stage: a #HrStage
 *
 * Gets the stage's name: `features`, `projections`, or the name of the head's layer.
 *
 * Returns: the stage's name: `features`, `projections`, or the name of the head's layer
 */
const char *
hr_stage_get_name (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), NULL);
  return stage->name;
}

/**
 * hr_stage_get_role:
 * @stage: a #HrStage
 *
 * Gets where the stage sits in the head.
 *
 * Returns: where the stage sits in the head
 */
HrStageRole
hr_stage_get_role (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), HR_STAGE_ROLE_FEATURES);
  return stage->role;
}

/**
 * hr_stage_get_layer:
 * @stage: a #HrStage
 *
 * Gets the index of the head's layer whose output the stage is.
 *
 * Returns: the index of the head's layer whose output the stage is, or -1 for the features
 *   and for projections given as a stack
 */
int
hr_stage_get_layer (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), -1);
  return stage->layer;
}

/**
 * hr_stage_get_layer_kind:
 * @stage: a #HrStage
 *
 * Gets the kind of the layer whose output the stage is.
 *
 * Returns: the kind of the layer whose output the stage is; for stages that are not a
 *   layer's output, %HR_LAYER_LINEAR is returned and hr_stage_get_layer() is -1
 */
HrLayerKind
hr_stage_get_layer_kind (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), HR_LAYER_LINEAR);
  return stage->layer_kind;
}

/**
 * hr_stage_get_dimension:
 * @stage: a #HrStage
 *
 * Gets the number of dimensions of the stage.
 *
 * Returns: the number of dimensions of the stage
 */
gsize
hr_stage_get_dimension (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), 0);
  return stage->dimension;
}

/**
 * hr_stage_get_n_samples:
 * @stage: a #HrStage
 *
 * Gets the number of samples of the stack, those dropped for non-finite values included.
 *
 * Returns: the number of samples of the stack, those dropped for non-finite values included
 *   (hr_moments_get_n_samples() counts those that were accumulated)
 */
guint64
hr_stage_get_n_samples (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), 0);
  return stage->n_samples;
}

/**
 * hr_stage_get_clipping_measure:
 * @stage: a #HrStage
 *
 * Names what the clipping statistics of an activation stage count, which depends on the
 * activation: `zero` for ReLU (outputs exactly zero: the unit is off), `negative` for GELU
 * (both forms), SiLU and LeakyReLU (outputs below zero: inputs below zero, where GELU and
 * SiLU are nearly flat, at most 0.17 and 0.28 below zero, and LeakyReLU scales by its
 * negative slope), `saturated` for Tanh (|output| > tanh 2 ≈ 0.964: inputs beyond ±2,
 * where its slope is below 0.071).
 *
 * Returns: (nullable): the measure, or %NULL for a stage that is not an activation
 *
 * Since: 0.2
 */
const char *
hr_stage_get_clipping_measure (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), NULL);
  if (stage->layer < 0)
    return NULL;
  switch (stage->layer_kind)
    {
      case HR_LAYER_RELU:
        return "zero";
      case HR_LAYER_GELU:
      case HR_LAYER_GELU_TANH:
      case HR_LAYER_SILU:
      case HR_LAYER_LEAKY_RELU:
        return "negative";
      case HR_LAYER_TANH:
        return "saturated";
      default:
        return NULL;
    }
}

#define HR_TANH_SATURATION 0.96402758007581690 /* tanh 2 */

/* Counts, per unit, the rows of an activation stage in its clipping region. */
static void
hr_stage_count_clipping (HrStage *stage, const float *x, gsize n)
{
  const char *measure = hr_stage_get_clipping_measure (stage);
  gsize d = stage->dimension;

  if (measure == NULL)
    return;
  if (stage->clipped == NULL)
    stage->clipped = g_new0 (guint64, d);
  for (gsize r = 0; r < n; r++)
    {
      const float *row = x + r * d;

      if (measure[0] == 'z')
        for (gsize j = 0; j < d; j++)
          stage->clipped[j] += row[j] == 0.0f;
      else if (measure[0] == 'n')
        for (gsize j = 0; j < d; j++)
          stage->clipped[j] += row[j] < 0.0f;
      else
        for (gsize j = 0; j < d; j++)
          stage->clipped[j] += fabsf (row[j]) > (float)HR_TANH_SATURATION;
    }
  stage->clip_rows += n;
}

/**
 * hr_stage_get_clipped_fraction:
 * @stage: a #HrStage
 *
 * Gets, per unit of an activation stage, the fraction of samples in the clipping region of
 * its activation (see hr_stage_get_clipping_measure()).
 *
 * Returns: (transfer full) (nullable): the D float64 fractions, or %NULL for a stage that is
 *   not an activation or before the analysis ran
 *
 * Since: 0.2
 */
GBytes *
hr_stage_get_clipped_fraction (HrStage *stage)
{
  double *f;

  g_return_val_if_fail (HR_IS_STAGE (stage), NULL);
  if (stage->clipped == NULL || stage->clip_rows == 0)
    return NULL;
  f = g_new (double, stage->dimension);
  for (gsize j = 0; j < stage->dimension; j++)
    f[j] = (double)stage->clipped[j] / (double)stage->clip_rows;
  return g_bytes_new_take (f, stage->dimension * sizeof (double));
}

/**
 * hr_stage_get_mean_clipped_fraction:
 * @stage: a #HrStage
 *
 * Gets the mean over the units of hr_stage_get_clipped_fraction().
 *
 * Returns: the mean fraction, or NaN for a stage that is not an activation or before the
 *   analysis ran
 *
 * Since: 0.2
 */
double
hr_stage_get_mean_clipped_fraction (HrStage *stage)
{
  double sum = 0;

  g_return_val_if_fail (HR_IS_STAGE (stage), NAN);
  if (stage->clipped == NULL || stage->clip_rows == 0)
    return NAN;
  for (gsize j = 0; j < stage->dimension; j++)
    sum += (double)stage->clipped[j] / (double)stage->clip_rows;
  return sum / (double)stage->dimension;
}

/**
 * hr_stage_get_n_always_clipped:
 * @stage: a #HrStage
 *
 * Counts the units of an activation stage that are in the clipping region for every sample:
 * dead units of a ReLU, units always below zero after GELU, SiLU or LeakyReLU, always
 * saturated after Tanh.
 *
 * Returns: the number of such units (0 for a stage that is not an activation)
 *
 * Since: 0.2
 */
guint
hr_stage_get_n_always_clipped (HrStage *stage)
{
  guint n = 0;

  g_return_val_if_fail (HR_IS_STAGE (stage), 0);
  if (stage->clipped == NULL || stage->clip_rows == 0)
    return 0;
  for (gsize j = 0; j < stage->dimension; j++)
    n += stage->clipped[j] == stage->clip_rows;
  return n;
}

/**
 * hr_stage_get_moments:
 * @stage: a #HrStage
 *
 * Gets the stage's accumulated moments and statistics.
 *
 * Returns: (transfer none): the stage's accumulated moments and statistics
 */
HrMoments *
hr_stage_get_moments (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), NULL);
  return stage->moments;
}

/**
 * hr_stage_get_spectrum:
 * @stage: a #HrStage
 *
 * Gets the stage's spectrum and rank measures.
 *
 * Returns: (transfer none) (nullable): the stage's spectrum and rank measures, or %NULL for
 *   the stages analysed for their statistics only
 */
HrSpectrum *
hr_stage_get_spectrum (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), NULL);
  return stage->spectrum;
}

/**
 * hr_stage_get_per_sample_into: (skip)
 * @stage: a #HrStage
 * @first: the first sample
 * @n_samples: how many samples
 * @values: where the statistics go: @n_samples × %HR_PER_SAMPLE_COLUMNS floats
 * @error: return location for a #GError
 *
 * Reads the per-sample statistics of samples @first … @first + @n_samples − 1: for each, its
 * mean and standard deviation (ddof 0) across dimensions, its L2 norm and the fraction of
 * its values that are exactly zero; NaN for samples dropped for non-finite values.
 *
 * Returns: %TRUE on success
 */
gboolean
hr_stage_get_per_sample_into (HrStage *stage, guint64 first, gsize n_samples, float *values,
                              GError **error)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), FALSE);
  g_return_val_if_fail (first + n_samples <= stage->n_samples, FALSE);
  g_return_val_if_fail (values != NULL || n_samples == 0, FALSE);
  if (stage->table == NULL || stage->table->n_rows < first + n_samples)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("the analysis has not run to the end"));
      return FALSE;
    }
  return hr_sample_table_read (stage->table, first, n_samples, values, error);
}

/**
 * hr_stage_get_per_sample:
 * @stage: a #HrStage
 * @error: return location for a #GError
 *
 * The per-sample statistics of every sample, as hr_stage_get_per_sample_into() gives them:
 * N × %HR_PER_SAMPLE_COLUMNS native-endian float32 values (read them with
 * `numpy.frombuffer(b, numpy.float32).reshape(-1, 4)`).
 *
 * Returns: (transfer full) (nullable): the statistics, or %NULL with @error set
 */
GBytes *
hr_stage_get_per_sample (HrStage *stage, GError **error)
{
  gsize n;
  float *values;

  g_return_val_if_fail (HR_IS_STAGE (stage), NULL);
  n = (gsize)stage->n_samples;
  values = g_try_new (float, MAX (n, 1) * HR_PER_SAMPLE_COLUMNS);
  if (values == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("not enough memory for the statistics of %zu samples"), n);
      return NULL;
    }
  if (!hr_stage_get_per_sample_into (stage, 0, n, values, error))
    {
      g_free (values);
      return NULL;
    }
  return g_bytes_new_take (values, n * HR_PER_SAMPLE_COLUMNS * sizeof (float));
}

gboolean
hr_stage_is_activation (HrStage *stage)
{
  return stage->layer >= 0 && hr_layer_kind_is_activation (stage->layer_kind);
}

guint64
hr_stage_get_n_nonfinite_of_input (HrStage *stage)
{
  return hr_moments_get_n_nonfinite (stage->moments) - stage->n_marked;
}

static HrStage *
hr_stage_new (const char *name, HrStageRole role, int layer, HrLayerKind kind, gsize dimension,
              guint64 n_samples, gboolean wants_spectrum)
{
  HrStage *stage = g_object_new (HR_TYPE_STAGE, NULL);

  stage->name = g_strdup (name);
  stage->role = role;
  stage->layer = layer;
  stage->layer_kind = kind;
  stage->dimension = dimension;
  stage->n_samples = n_samples;
  stage->wants_spectrum = wants_spectrum;
  return stage;
}

/* -- HrAnalysis ------------------------------------------------------------------------- */

struct _HrAnalysis
{
  GObject parent_instance;

  HrSource *features;
  HrHead *head;
  HrSource *projections;
  HrSource *positives;
  char *pairs_file;
  HrNormMode mode;
  gsize batch_size;
  HrPrecision precision;
  char **spectral_stages;
  gsize pair_batch;
  double temperature;
  double margin;
  gboolean log_plots;
  HrNonfinitePolicy nonfinite_policy;
  gboolean standardize;
  guint64 memory_limit; /* 0: half the physical memory */

  /* results */
  double lidar;
  GPtrArray *stages;
  HrContrastive *contrastive;
  guint64 n_pairs_skipped;
  guint64 n_dropped;
  guint64 n_nonfinite;
  HrVerdictFlags verdict;
  gboolean done;
  gboolean running;

  /* progress, delivered in the caller's main context */
  double progress;
  GMainContext *context;
  gint progress_pending;
  double progress_latest; /* guarded by progress_lock */
  GMutex progress_lock;
};

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
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (HrAnalysis, hr_analysis, G_TYPE_OBJECT)

#define HR_DEFAULT_PAIR_BATCH 256
#define HR_DEFAULT_TEMPERATURE 0.2
#define HR_DEFAULT_MARGIN 0.5

static void
hr_analysis_clear_results (HrAnalysis *self)
{
  g_ptr_array_set_size (self->stages, 0);
  g_clear_pointer (&self->contrastive, hr_contrastive_unref);
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
  g_clear_pointer (&self->context, g_main_context_unref);
  G_OBJECT_CLASS (hr_analysis_parent_class)->dispose (object);
}

static void
hr_analysis_finalize (GObject *object)
{
  HrAnalysis *self = HR_ANALYSIS (object);

  g_free (self->pairs_file);
  g_strfreev (self->spectral_stages);
  g_ptr_array_unref (self->stages);
  g_mutex_clear (&self->progress_lock);
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
  g_mutex_init (&self->progress_lock);
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
  g_return_if_fail (!self->running);
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
  g_return_if_fail (!self->running);
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
  g_return_if_fail (!self->running);
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
  g_return_if_fail (!self->running);
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
  g_return_if_fail (!self->running);
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
 *   gets a spectrum too, `all` for every layer; %NULL or empty for none
 *
 * The features and the projections always get a spectrum; the outputs of activation layers
 * get statistics (zero fractions, dead units) without one, unless named here.
 */
void
hr_analysis_set_spectral_stages (HrAnalysis *self, const char *const *names)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!self->running);
  g_strfreev (self->spectral_stages);
  self->spectral_stages = g_strdupv ((char **)names);
}

/**
 * hr_analysis_set_pairs_file:
 * @self: a #HrAnalysis
 * @path: (nullable) (type filename): a file of positive pairs, or %NULL
 *
 * Sets positive pairs as a file of 0-based sample indices `anchor,positive[,negative]`, one
 * pair per line (see hr_pairs_read()). The contrastive measures are computed on them.
 */
void
hr_analysis_set_pairs_file (HrAnalysis *self, const char *path)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!self->running);
  g_free (self->pairs_file);
  self->pairs_file = g_strdup (path);
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
  g_return_if_fail (!self->running);
  g_set_object (&self->positives, positives);
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
  g_return_if_fail (!self->running);
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

/* -- progress --------------------------------------------------------------------------- */

static gboolean
hr_analysis_deliver_progress (gpointer data)
{
  HrAnalysis *self = data;
  double latest;

  g_mutex_lock (&self->progress_lock);
  latest = self->progress_latest;
  g_atomic_int_set (&self->progress_pending, 0);
  g_mutex_unlock (&self->progress_lock);
  if (latest != self->progress)
    {
      self->progress = latest;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
    }
  return G_SOURCE_REMOVE;
}

typedef struct
{
  HrAnalysis *self;
  HrAnalysisProgressFunc func; /* synchronous runs */
  gpointer func_data;
  double from, to; /* the part of the whole that the current step covers */
} HrProgress;

static void
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
  if (self->context == NULL)
    return;
  g_mutex_lock (&self->progress_lock);
  self->progress_latest = value;
  g_mutex_unlock (&self->progress_lock);
  /* one delivery in flight at a time: it takes the latest value */
  if (g_atomic_int_compare_and_exchange (&self->progress_pending, 0, 1))
    g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, hr_analysis_deliver_progress,
                                g_object_ref (self), g_object_unref);
}

/* -- the pass --------------------------------------------------------------------------- */

typedef struct
{
  HrAnalysis *self;
  GPtrArray *stages;  /* HrStage, in the order of the report */
  HrStage **by_layer; /* per layer of the head, or NULL */
  HrStage *features;  /* the features stage */
  HrStage *last;      /* the stage the contrastive measures use */
  float *scratch;     /* chunk × HR_PER_SAMPLE_COLUMNS, from the moments */
  gsize scratch_rows;

  /* pairs: the rows of the last stage kept for them */
  guint64 *pairs; /* n_pairs × 3, HR_NO_NEGATIVE for none */
  gsize n_pairs;
  gboolean has_negatives;
  guint8 *wanted;    /* bitmap over samples, or NULL */
  guint64 *slots_of; /* sorted stack indices of the wanted samples */
  gsize n_slots;
  float *kept;      /* n_slots × d of the last stage, NaN rows until seen */
  float *positives; /* aligned positives: N × d */

  guint64 memory_limit;  /* bytes the spectra may take */
  guint64 memory_needed; /* what the stages planned so far take */
} HrPass;

#define HR_NO_NEGATIVE G_MAXUINT64

static void
hr_pass_clear (HrPass *pass)
{
  g_clear_pointer (&pass->stages, g_ptr_array_unref);
  g_free (pass->by_layer);
  g_free (pass->scratch);
  g_free (pass->pairs);
  g_free (pass->wanted);
  g_free (pass->slots_of);
  g_free (pass->kept);
  g_free (pass->positives);
}

static gboolean
hr_pass_reserve (HrPass *pass, gsize n_rows)
{
  if (n_rows <= pass->scratch_rows)
    return TRUE;
  g_free (pass->scratch);
  pass->scratch = g_try_new (float, n_rows *HR_PER_SAMPLE_COLUMNS);
  pass->scratch_rows = pass->scratch != NULL ? n_rows : 0;
  return pass->scratch_rows > 0;
}

/* The position of stack index @sample among the wanted ones, or -1. */
static gssize
hr_pass_slot (HrPass *pass, guint64 sample)
{
  gsize lo = 0, hi = pass->n_slots;

  if (pass->wanted == NULL || !(pass->wanted[sample >> 3] & (1u << (sample & 7))))
    return -1;
  while (lo < hi)
    {
      gsize mid = lo + (hi - lo) / 2;
      if (pass->slots_of[mid] < sample)
        lo = mid + 1;
      else
        hi = mid;
    }
  return (gssize)lo;
}

/* Adds @n rows of one stage; samples[r] is the stack index of row r (NULL: @first + r). */
static gboolean
hr_pass_add (HrPass *pass, HrStage *stage, const float *x, gsize n, const guint64 *samples,
             guint64 first, GError **error)
{
  gsize d = stage->dimension;

  if (!hr_pass_reserve (pass, n))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("not enough memory for chunks of %zu samples"), n);
      return FALSE;
    }
  hr_moments_add_with_zeros (stage->moments, x, n, pass->scratch);
  hr_stage_count_clipping (stage, x, n);
  if (stage->normalized != NULL)
    for (gsize r0 = 0; r0 < n; r0 += HR_MOMENTS_CHUNK_ROWS)
      {
        gsize nb = MIN (n - r0, (gsize)HR_MOMENTS_CHUNK_ROWS);

        hr_normalize_rows (x + r0 * d, nb, d, stage->normalized_scratch);
        hr_moments_add (stage->normalized, stage->normalized_scratch, nb, NULL);
      }
  for (gsize r = 0; r < n; r++)
    {
      const float *row = x + r * d;
      guint64 sample = samples != NULL ? samples[r] : first + r;

      /* a wide stage keeps its finite rows (the mean is NaN for the others) */
      if (stage->rows != NULL && !isnan (pass->scratch[r * HR_PER_SAMPLE_COLUMNS])
          && stage->n_rows_kept < stage->n_samples)
        memcpy (stage->rows + (stage->n_rows_kept++) * d, row, d * sizeof (float));

      if (!hr_sample_table_put (stage->table, sample, pass->scratch + r * HR_PER_SAMPLE_COLUMNS,
                                error))
        return FALSE;
      if (stage == pass->last)
        {
          gssize slot = hr_pass_slot (pass, sample);

          if (slot >= 0)
            memcpy (pass->kept + (gsize)slot * d, row, d * sizeof (float));
        }
    }
  return TRUE;
}

/* -- non-finite values (doc/analysis.md, "Non-finite values") ------------------------------- */

/* With %HR_NONFINITE_POLICY_ERROR, an error at the first non-finite value @reader has read. */
static gboolean
hr_check_nonfinite_policy (HrAnalysis *self, HrSource *reader, GError **error)
{
  gsize n_positions;
  const guint64 *positions;
  gsize d = hr_source_get_n_features (reader);
  guint64 sample;
  const char *name;

  if (self->nonfinite_policy != HR_NONFINITE_POLICY_ERROR
      || hr_source_get_n_nonfinite (reader) == 0)
    return TRUE;
  positions = hr_source_get_nonfinite_positions (reader, &n_positions);
  sample = n_positions > 0 ? positions[0] / d : 0;
  name = hr_source_locate_sample (reader, &sample);
  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NON_FINITE,
               /* TRANSLATORS: %s is a file, %llu a sample and a feature index; “error” and
                  “drop” are the values of --nonfinite, left untranslated */
               _ ("%s: sample %llu, feature %llu is NaN or infinite (non-finite policy “error”; "
                  "“drop” leaves such samples out)"),
               name, (unsigned long long)sample,
               (unsigned long long)(n_positions > 0 ? positions[0] % d : 0));
  return FALSE;
}

/* Fewer than 2 samples of @stage were left after dropping the non-finite ones: an error that
 * says why, naming the columns of @reader that are non-finite in every sample (a second
 * read of the stack, only in this case). */
static gboolean
hr_check_enough_finite (HrAnalysis *self, HrSource *reader, HrStage *stage, GError **error)
{
  guint64 kept = hr_moments_get_n_samples (stage->moments);
  gsize n = hr_source_get_n_samples (reader), d = hr_source_get_n_features (reader);
  gsize chunk = 2048, got;
  g_autofree guint64 *count = NULL;
  g_autofree float *rows = NULL;
  g_autoptr (GString) columns = g_string_new (NULL);
  guint64 total = 0;
  guint n_columns = 0;

  if (kept >= 2 || kept == n)
    return TRUE;
  count = g_new0 (guint64, d);
  rows = g_try_new (float, chunk *d);
  if (rows == NULL || !hr_source_seek (reader, 0, error))
    {
      if (rows == NULL)
        g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                     _ ("not enough memory for chunks of %zu samples"), chunk);
      return FALSE;
    }
  for (gsize done = 0; done < n; done += got)
    {
      if (!hr_source_read_into (reader, rows, chunk, &got, NULL, error))
        return FALSE;
      if (got == 0)
        break;
      for (gsize k = 0; k < got * d; k++)
        if (!isfinite (rows[k]))
          count[k % d]++;
    }
  for (gsize j = 0; j < d; j++)
    {
      total += count[j];
      if (count[j] == n && n > 0)
        {
          if (n_columns < 8)
            g_string_append_printf (columns, "%s%zu", n_columns > 0 ? ", " : "", j);
          else if (n_columns == 8)
            g_string_append (columns, ", …");
          n_columns++;
        }
    }
  if (n_columns > 0)
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                 /* TRANSLATORS: %s is a file, %u a number of columns, %s their 0-based
                    indices, %zu the number of samples, %llu values */
                 g_dngettext (GETTEXT_PACKAGE,
                              "%s: %u feature column (%s) is NaN or infinite in all %zu samples "
                              "(%llu non-finite values in all), so every sample was left out; "
                              "remove the column from the stack",
                              "%s: %u feature columns (%s) are NaN or infinite in all %zu samples "
                              "(%llu non-finite values in all), so every sample was left out; "
                              "remove the columns from the stack",
                              n_columns),
                 hr_source_get_name (reader), n_columns, columns->str, n,
                 (unsigned long long)total);
  else
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES,
                 /* TRANSLATORS: %s is a file, %llu and %zu numbers of samples, %llu of values */
                 _ ("%s: only %llu of %zu samples are free of NaN and infinite values (%llu "
                    "non-finite values in all); a spectrum needs at least 2"),
                 hr_source_get_name (reader), (unsigned long long)kept, n,
                 (unsigned long long)total);
  return FALSE;
}

static gboolean
hr_pass_chunk (const float *features, gsize n, const guint64 *samples, const float *const *stages,
               gpointer data, GError **error)
{
  HrPass *pass = data;

  if (!hr_check_nonfinite_policy (pass->self, pass->self->features, error))
    return FALSE;

  for (guint i = 0; i < pass->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass->stages, i);
      const float *x = stage->layer < 0 ? features : stages[stage->layer];

      if (!hr_pass_add (pass, stage, x, n, samples, 0, error))
        return FALSE;
      if (stage->cross != NULL)
        hr_cross_moments_add (stage->cross, features, x, n);
    }
  return TRUE;
}

static gboolean
hr_analysis_wants_spectrum (HrAnalysis *self, const char *name)
{
  for (guint i = 0; self->spectral_stages != NULL && self->spectral_stages[i] != NULL; i++)
    if (strcmp (self->spectral_stages[i], name) == 0
        || strcmp (self->spectral_stages[i], "all") == 0)
      return TRUE;
  return FALSE;
}

/* The memory bound of the spectra: the one set, or half the physical memory. */
static guint64
hr_analysis_memory_limit (HrAnalysis *self)
{
  long pages = sysconf (_SC_PHYS_PAGES), page_size = sysconf (_SC_PAGESIZE);

  if (self->memory_limit > 0)
    return self->memory_limit;
  if (pages <= 0 || page_size <= 0)
    return G_GUINT64_CONSTANT (4) << 30;
  return (guint64)pages * (guint64)page_size / 2;
}

/* Saturating arithmetic for the memory plan. */
static guint64
hr_bytes_mul (guint64 a, guint64 b)
{
  guint64 r;

  return g_uint64_checked_mul (&r, a, b) ? r : G_MAXUINT64;
}

static guint64
hr_bytes_add (guint64 a, guint64 b)
{
  guint64 r;

  return g_uint64_checked_add (&r, a, b) ? r : G_MAXUINT64;
}

/* What a spectrum from the D × D scatter matrix takes: the scatter matrix (8·D²), the
 * eigensolver's copy (8·D²), the scratch for a chunk's products (8·D², or 4·D² for float32
 * products), the standardised copy (8·D²) when it is used, and a chunk of float64 rows. */
static guint64
hr_scatter_bytes (HrAnalysis *self, guint64 n, gsize d)
{
  guint64 d2 = hr_bytes_mul (d, d);
  guint64 per = 16;

  if (self->standardize)
    per += 8;
  if (self->precision == HR_PRECISION_FLOAT32_PRODUCTS
      || (self->precision == HR_PRECISION_AUTO && hr_moments_float32_is_safe (n, d)))
    per += 4;
  else
    per += 8;
  return hr_bytes_add (hr_bytes_mul (d2, per), hr_bytes_mul (8 * HR_MOMENTS_CHUNK_ROWS, d));
}

/* What a spectrum from the kept rows takes: the rows (4·N·D), the two N × N Gram matrices
 * (16·N²) and two blocks of 1,024 float64 columns (16·1024·N). */
static guint64
hr_rows_bytes (guint64 n, gsize d)
{
  return hr_bytes_add (hr_bytes_add (hr_bytes_mul (4 * n, d), hr_bytes_mul (16 * n, n)),
                       hr_bytes_mul (16 * 1024, n));
}

/* Adds @bytes to the plan, or fails when they pass the bound. */
static gboolean
hr_pass_budget (HrPass *pass, HrStage *stage, guint64 bytes, const char *what, GError **error)
{
  g_autofree char *need = NULL, *limit = NULL, *total = NULL;
  guint64 sum = hr_bytes_add (pass->memory_needed, bytes);

  if (sum <= pass->memory_limit)
    {
      pass->memory_needed = sum;
      return TRUE;
    }
  need = g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
  total = g_format_size_full (sum, G_FORMAT_SIZE_IEC_UNITS);
  limit = g_format_size_full (pass->memory_limit, G_FORMAT_SIZE_IEC_UNITS);
  if (pass->memory_needed == 0)
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                 /* TRANSLATORS: %s: a stage name; then what needs the memory (e.g. "the
                  * 100000 × 100000 scatter matrix"), then sizes such as "74.5 GiB" */
                 _ ("stage %s: %s needs %s, more than the memory limit of %s"), stage->name, what,
                 need, limit);
  else
    g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                 /* TRANSLATORS: %s: a stage name; then what needs the memory (e.g. "the
                  * 100000 × 100000 scatter matrix"), then sizes such as "74.5 GiB" */
                 _ ("stage %s: %s needs %s (%s with the stages before), more than the memory "
                    "limit of %s"),
                 stage->name, what, need, total, limit);
  return FALSE;
}

/* Plans a stage's spectrum before anything is allocated: from the D × D scatter matrix,
 * or, for a wide stage (N < D, N known from the stack's header), from its rows kept in
 * memory and the N × N Gram matrices; refuses when the memory bound would be passed. */
static gboolean
hr_pass_plan_spectrum (HrPass *pass, HrStage *stage, GError **error)
{
  HrAnalysis *self = pass->self;
  guint64 n = stage->n_samples;
  gsize d = stage->dimension;
  g_autofree char *what = NULL;

  if (!stage->wants_spectrum)
    return TRUE;
  /* N = 0 is an empty stack or an unknown length: the scatter matrix, which does not
   * depend on N */
  if (n > 0 && n < (guint64)d)
    {
      what = g_strdup_printf (
          /* TRANSLATORS: the subject of "… needs 2.0 GiB" in the memory-limit error */
          _ ("keeping the %llu × %zu samples for their Gram matrix"), (unsigned long long)n, d);
      if (!hr_pass_budget (pass, stage, hr_rows_bytes (n, d), what, error))
        return FALSE;
      stage->rows = g_try_new (float, (gsize)n *d);
      if (stage->rows == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("not enough memory for the samples of stage %s"), stage->name);
          return FALSE;
        }
      return TRUE;
    }
  what = g_strdup_printf (
      /* TRANSLATORS: the subject of "… needs 2.0 GiB" in the memory-limit error */
      _ ("the %zu × %zu scatter matrix"), d, d);
  if (!hr_pass_budget (pass, stage, hr_scatter_bytes (self, n, d), what, error))
    return FALSE;
  if (d > G_MAXINT)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("A dimension of %zu is too large for a scatter matrix"), d);
      return FALSE;
    }
  return TRUE;
}

/* The accumulators of the projections' normalised rows, and the cross-moments with the
 * features of the projections and of every hidden stage with a spectrum. */
static gboolean
hr_pass_plan_measures (HrPass *pass, HrStage *stage, GError **error)
{
  HrAnalysis *self = pass->self;
  HrStage *features = pass->features;
  gsize d = stage->dimension;

  if (stage->role == HR_STAGE_ROLE_PROJECTIONS && stage->rows == NULL)
    {
      g_autofree char *what = g_strdup_printf (
          /* TRANSLATORS: the subject of "… needs 2.0 GiB" in the memory-limit error */
          _ ("the %zu × %zu scatter matrix of the normalised projections"), d, d);

      if (!hr_pass_budget (pass, stage,
                           hr_bytes_add (hr_scatter_bytes (self, stage->n_samples, d),
                                         hr_bytes_mul (4 * HR_MOMENTS_CHUNK_ROWS, d)),
                           what, error))
        return FALSE;
      stage->normalized = hr_moments_new (d, stage->n_samples, self->precision);
      stage->normalized_scratch = g_try_new (float, (gsize)HR_MOMENTS_CHUNK_ROWS *d);
      if (stage->normalized_scratch == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                       _ ("not enough memory for chunks of %zu samples"),
                       (gsize)HR_MOMENTS_CHUNK_ROWS);
          return FALSE;
        }
    }
  if (stage != features && stage->wants_spectrum && stage->rows == NULL && features->rows == NULL)
    {
      g_autofree char *what = g_strdup_printf (
          /* TRANSLATORS: the subject of "… needs 2.0 GiB" in the memory-limit error */
          _ ("the %zu × %zu cross-moments with the features"), features->dimension, d);

      if (!hr_pass_budget (pass, stage, hr_cross_moments_bytes (features->dimension, d), what,
                           error))
        return FALSE;
      stage->cross = hr_cross_moments_new (features->dimension, d);
      if (stage->cross == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("not enough memory for the cross-moments of stage %s"), stage->name);
          return FALSE;
        }
    }
  return TRUE;
}

static HrStage *
hr_pass_add_stage (HrPass *pass, HrStage *stage, GError **error)
{
  HrAnalysis *self = pass->self;

  if (!hr_pass_plan_spectrum (pass, stage, error) || !hr_pass_plan_measures (pass, stage, error))
    {
      g_object_unref (stage);
      return NULL;
    }
  /* the stages without a spectrum, and the wide ones, need no D × D scatter matrix */
  stage->moments = stage->wants_spectrum && stage->rows == NULL
                       ? hr_moments_new (stage->dimension, stage->n_samples, self->precision)
                       : hr_moments_new_diagonal (stage->dimension);
  stage->table = hr_sample_table_new (error);
  if (stage->table == NULL)
    {
      g_object_unref (stage);
      return NULL;
    }
  g_ptr_array_add (pass->stages, stage);
  return stage;
}

/* Decides the stages; checks the names and the shapes. */
static gboolean
hr_pass_plan (HrPass *pass, GError **error)
{
  HrAnalysis *self = pass->self;
  guint64 n = hr_source_get_n_samples (self->features);
  gsize d = hr_source_get_n_features (self->features);
  HrStage *stage;

  if (!hr_source_check_known_length (self->features, error)
      || (self->projections != NULL && !hr_source_check_known_length (self->projections, error))
      || (self->positives != NULL && !hr_source_check_known_length (self->positives, error)))
    return FALSE;
  pass->stages = g_ptr_array_new_with_free_func (g_object_unref);
  pass->memory_limit = hr_analysis_memory_limit (self);
  stage = hr_stage_new ("features", HR_STAGE_ROLE_FEATURES, -1, HR_LAYER_LINEAR, d, n, TRUE);
  pass->features = stage;
  if (hr_pass_add_stage (pass, stage, error) == NULL)
    {
      pass->features = NULL;
      return FALSE;
    }
  pass->last = pass->features;

  for (guint i = 0; self->spectral_stages != NULL && self->spectral_stages[i] != NULL; i++)
    {
      const char *name = self->spectral_stages[i];

      /* the features and the projections always have a spectrum */
      if (strcmp (name, "all") == 0 || strcmp (name, "features") == 0
          || strcmp (name, "projections") == 0)
        continue;
      if (self->head == NULL || hr_head_find_stage (self->head, name) < 0)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                       self->head == NULL ? _ ("there is no head, so no stage %s")
                                          : _ ("the head has no stage %s"),
                       name);
          return FALSE;
        }
    }

  if (self->head != NULL)
    {
      guint L = hr_head_get_n_layers (self->head);

      if (hr_head_get_in_features (self->head) != d)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("%s: the head takes %zu features, the stack has %zu"),
                       hr_source_get_name (self->features), hr_head_get_in_features (self->head),
                       d);
          return FALSE;
        }
      pass->by_layer = g_new0 (HrStage *, L);
      for (guint i = 0; i < L; i++)
        {
          HrLayerKind kind = hr_head_get_layer_kind (self->head, i);
          const char *name = hr_head_get_layer_name (self->head, i);
          gboolean last = i + 1 == L;
          gboolean activation = hr_layer_kind_is_activation (kind);
          gboolean spectrum = last || hr_analysis_wants_spectrum (self, name);

          if (!last && !activation && !spectrum)
            continue;
          stage = hr_stage_new (last ? "projections" : name,
                                last ? HR_STAGE_ROLE_PROJECTIONS : HR_STAGE_ROLE_HIDDEN, (int)i,
                                kind, hr_head_get_layer_out_features (self->head, i), n, spectrum);
          if ((pass->by_layer[i] = hr_pass_add_stage (pass, stage, error)) == NULL)
            return FALSE;
          pass->last = pass->by_layer[i];
        }
    }
  else if (self->projections != NULL)
    {
      if (hr_source_get_n_samples (self->projections) != n)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("%s has %zu samples, the features %zu"),
                       hr_source_get_name (self->projections),
                       hr_source_get_n_samples (self->projections), (gsize)n);
          return FALSE;
        }
      stage = hr_stage_new ("projections", HR_STAGE_ROLE_PROJECTIONS, -1, HR_LAYER_LINEAR,
                            hr_source_get_n_features (self->projections), n, TRUE);
      if ((pass->last = hr_pass_add_stage (pass, stage, error)) == NULL)
        return FALSE;
    }
  return TRUE;
}

/* Where the pairs come from, for messages about them: the pair file, or the positives
 * stack. */
static const char *
hr_analysis_pairs_source (HrAnalysis *self)
{
  if (self->positives != NULL)
    return hr_source_get_name (self->positives);
  return self->pairs_file != NULL ? self->pairs_file : hr_source_get_name (self->features);
}

/* Reads the pairs and marks the samples whose last-stage rows the pass keeps. */
static gboolean
hr_pass_plan_pairs (HrPass *pass, GError **error)
{
  HrAnalysis *self = pass->self;
  guint64 n = hr_source_get_n_samples (self->features);
  gsize d = pass->last->dimension, k = 0;

  if (self->positives != NULL)
    {
      HrSource *ref
          = self->head == NULL && self->projections != NULL ? self->projections : self->features;

      if (hr_source_get_n_samples (self->positives) != n
          || hr_source_get_n_features (self->positives) != hr_source_get_n_features (ref))
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("%s holds %zu × %zu values; positives aligned with %s need %zu × %zu"),
                       hr_source_get_name (self->positives),
                       hr_source_get_n_samples (self->positives),
                       hr_source_get_n_features (self->positives), hr_source_get_name (ref),
                       (gsize)n, hr_source_get_n_features (ref));
          return FALSE;
        }
      /* every sample is an anchor */
      pass->n_pairs = (gsize)n;
      pass->pairs = g_try_new (guint64, MAX (pass->n_pairs, 1) * 3);
      if (pass->pairs == NULL)
        goto oom;
      for (gsize i = 0; i < pass->n_pairs; i++)
        {
          pass->pairs[3 * i] = pass->pairs[3 * i + 1] = i;
          pass->pairs[3 * i + 2] = HR_NO_NEGATIVE;
        }
    }
  else if (self->pairs_file != NULL)
    {
      if (!hr_pairs_read (self->pairs_file, n, &pass->pairs, &pass->n_pairs, &pass->has_negatives,
                          error))
        return FALSE;
    }
  else
    return TRUE;

  pass->wanted = g_try_malloc0 ((gsize)(n / 8 + 1));
  if (pass->wanted == NULL)
    goto oom;
  for (gsize i = 0; i < pass->n_pairs; i++)
    for (int c = 0; c < 3; c++)
      {
        guint64 s = pass->pairs[3 * i + c];

        /* with aligned positives, only the anchors come from this pass */
        if (s == HR_NO_NEGATIVE || (self->positives != NULL && c > 0))
          continue;
        if (!(pass->wanted[s >> 3] & (1u << (s & 7))))
          {
            pass->wanted[s >> 3] |= (guint8)(1u << (s & 7));
            pass->n_slots++;
          }
      }
  pass->slots_of = g_try_new (guint64, MAX (pass->n_slots, 1));
  pass->kept = g_try_new (float, MAX (pass->n_slots, 1) * d);
  if (pass->slots_of == NULL || pass->kept == NULL)
    goto oom;
  for (guint64 s = 0; s < n; s++)
    if (pass->wanted[s >> 3] & (1u << (s & 7)))
      pass->slots_of[k++] = s;
  for (gsize i = 0; i < pass->n_slots * d; i++)
    pass->kept[i] = NAN;
  return TRUE;

oom:
  /* TRANSLATORS: %s is the pair file (or the positives stack) */
  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
               _ ("%s: not enough memory for the rows of %zu pairs"),
               hr_analysis_pairs_source (self), pass->n_pairs);
  return FALSE;
}

/* Whether every value of a row is finite. */
static gboolean
hr_row_is_finite (const float *row, gsize d)
{
  gboolean finite = TRUE;

  for (gsize j = 0; j < d; j++)
    finite &= isfinite (row[j]) != 0;
  return finite;
}

/* A sample is dropped from every stage or from none: where only one of the two rows of a
 * sample holds a non-finite value, the other is marked (its first value set to NaN) so
 * that its moments leave it out too. Returns the number of values so marked, which are not
 * the input's and are taken off the count of non-finite values. */
static guint64
hr_drop_together (float *rows[2], HrStage *stages[2], gsize n)
{
  guint64 marked = 0;

  for (gsize r = 0; r < n; r++)
    {
      float *a = rows[0] + r * stages[0]->dimension, *b = rows[1] + r * stages[1]->dimension;
      gboolean fa = hr_row_is_finite (a, stages[0]->dimension);
      gboolean fb = hr_row_is_finite (b, stages[1]->dimension);

      if (fa != fb)
        {
          (fa ? a : b)[0] = NAN;
          stages[fa ? 0 : 1]->n_marked++;
          marked++;
        }
    }
  return marked;
}

/* The pass without a head: the features and, alongside, the given projections. */
static gboolean
hr_pass_run_stacks (HrPass *pass, HrProgress *progress, GCancellable *cancellable, GError **error)
{
  HrAnalysis *self = pass->self;
  HrSource *readers[2] = { self->features, self->projections };
  HrStage *stages[2] = { pass->features, self->projections != NULL ? pass->last : NULL };
  gsize n = hr_source_get_n_samples (self->features);
  gsize chunk = CLAMP (hr_source_get_preferred_chunk (self->features), 256, 2048);
  float *rows[2] = { NULL, NULL };
  gsize got[2];
  guint64 marked = 0;
  gboolean ok = FALSE;

  chunk = MAX ((gsize)1, MIN (chunk, n));
  for (int k = 0; k < 2 && stages[k] != NULL; k++)
    {
      if (!hr_source_seek (readers[k], 0, error))
        return FALSE;
      rows[k] = g_try_new (float, chunk *stages[k]->dimension);
      if (rows[k] == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                       _ ("not enough memory for chunks of %zu samples"), chunk);
          return FALSE;
        }
    }
  for (gsize done = 0; done < n; done += got[0])
    {
      for (int k = 0; k < 2 && stages[k] != NULL; k++)
        {
          if (!hr_source_read_into (readers[k], rows[k], chunk, &got[k], cancellable, error)
              || !hr_check_nonfinite_policy (self, readers[k], error))
            goto out;
        }
      if (stages[1] != NULL && stages[1]->cross != NULL && got[1] == got[0])
        hr_cross_moments_add (stages[1]->cross, rows[0], rows[1], got[0]);
      if (got[0] == 0 || (stages[1] != NULL && got[1] != got[0]))
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("%s ended after %zu of its %zu samples"),
                       hr_source_get_name (self->features), done, n);
          goto out;
        }
      if (stages[1] != NULL)
        marked += hr_drop_together (rows, stages, got[0]);
      for (int k = 0; k < 2 && stages[k] != NULL; k++)
        if (!hr_pass_add (pass, stages[k], rows[k], got[k], NULL, done, error))
          goto out;
      hr_progress_report ((double)(done + got[0]) / n, progress);
    }
  for (int k = 0; k < 2 && stages[k] != NULL; k++)
    {
      self->n_dropped += hr_moments_get_n_dropped (stages[k]->moments) * (k == 0);
      self->n_nonfinite += hr_moments_get_n_nonfinite (stages[k]->moments);
    }
  self->n_nonfinite -= marked;
  ok = TRUE;

out:
  g_free (rows[0]);
  g_free (rows[1]);
  return ok;
}

typedef struct
{
  float *out;
  gsize d;
  guint last;
} HrPositivesPass;

static gboolean
hr_positives_chunk (const float *features, gsize n, const guint64 *samples,
                    const float *const *stages, gpointer data, GError **error)
{
  HrPositivesPass *pp = data;
  const float *x = stages != NULL ? stages[pp->last] : features;

  for (gsize r = 0; r < n; r++)
    memcpy (pp->out + samples[r] * pp->d, x + r * pp->d, pp->d * sizeof (float));
  return TRUE;
}

/* The positives' rows of the last stage: through the head, or read as they are. */
static gboolean
hr_pass_run_positives (HrPass *pass, HrProgress *progress, GCancellable *cancellable,
                       GError **error)
{
  HrAnalysis *self = pass->self;
  gsize n = hr_source_get_n_samples (self->positives), d = pass->last->dimension;
  HrPositivesPass pp = { NULL, d, 0 };
  guint64 dropped, nonfinite;

  pass->positives = g_try_new (float, MAX (n, 1) * d);
  if (pass->positives == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("%s: not enough memory for the rows of %zu pairs"),
                   hr_analysis_pairs_source (self), n);
      return FALSE;
    }
  for (gsize i = 0; i < n * d; i++)
    pass->positives[i] = NAN;
  pp.out = pass->positives;
  if (self->head != NULL)
    {
      guint L = hr_head_get_n_layers (self->head);
      g_autofree gboolean *keep = g_new0 (gboolean, L);

      keep[L - 1] = TRUE;
      pp.last = L - 1;
      if (!hr_head_stream (self->head, self->positives, self->mode, self->batch_size, keep,
                           hr_positives_chunk, &pp, &dropped, &nonfinite, hr_progress_report,
                           progress, cancellable, error))
        return FALSE;
      self->n_nonfinite += nonfinite;
      return TRUE;
    }
  else
    {
      gsize chunk = CLAMP (hr_source_get_preferred_chunk (self->positives), 256, 2048);
      g_autofree float *rows = g_try_new (float, chunk *d);
      g_autofree guint64 *samples = g_try_new (guint64, chunk);
      gsize got;

      if (rows == NULL || samples == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                       _ ("%s: not enough memory for the rows of %zu pairs"),
                       hr_analysis_pairs_source (self), chunk);
          return FALSE;
        }

      if (!hr_source_seek (self->positives, 0, error))
        return FALSE;
      for (gsize done = 0; done < n; done += got)
        {
          if (!hr_source_read_into (self->positives, rows, chunk, &got, cancellable, error))
            return FALSE;
          if (got == 0)
            break;
          for (gsize r = 0; r < got; r++)
            samples[r] = done + r;
          hr_positives_chunk (rows, got, samples, NULL, &pp, error);
          hr_progress_report ((double)(done + got) / n, progress);
        }
    }
  return TRUE;
}

/* The contrastive measures over the pairs whose rows are all finite. */
static gboolean
hr_pass_contrastive (HrPass *pass, GError **error)
{
  HrAnalysis *self = pass->self;
  gsize d = pass->last->dimension, used = 0;
  g_autofree float *a = NULL, *p = NULL, *ng = NULL;

  a = g_try_new (float, MAX (pass->n_pairs, 1) * d);
  p = g_try_new (float, MAX (pass->n_pairs, 1) * d);
  if (pass->has_negatives)
    ng = g_try_new (float, MAX (pass->n_pairs, 1) * d);
  if (a == NULL || p == NULL || (pass->has_negatives && ng == NULL))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("%s: not enough memory for the rows of %zu pairs"),
                   hr_analysis_pairs_source (self), pass->n_pairs);
      return FALSE;
    }
  for (gsize i = 0; i < pass->n_pairs; i++)
    {
      const guint64 *t = pass->pairs + 3 * i;
      const float *ra = pass->kept + (gsize)hr_pass_slot (pass, t[0]) * d;
      const float *rp = self->positives != NULL ? pass->positives + t[1] * d
                                                : pass->kept + (gsize)hr_pass_slot (pass, t[1]) * d;
      const float *rn
          = pass->has_negatives ? pass->kept + (gsize)hr_pass_slot (pass, t[2]) * d : NULL;

      if (!hr_row_is_finite (ra, d) || !hr_row_is_finite (rp, d)
          || (rn != NULL && !hr_row_is_finite (rn, d)))
        {
          self->n_pairs_skipped++;
          continue;
        }
      memcpy (a + used * d, ra, d * sizeof (float));
      memcpy (p + used * d, rp, d * sizeof (float));
      if (rn != NULL)
        memcpy (ng + used * d, rn, d * sizeof (float));
      used++;
    }
  self->contrastive = hr_contrastive_new (a, p, ng, used, d, self->pair_batch, self->temperature,
                                          self->margin, error);
  if (self->contrastive == NULL)
    {
      /* "contrastive measures need at least two pairs": about the pairs, so their file */
      g_prefix_error (error, "%s: ", hr_analysis_pairs_source (self));
      return FALSE;
    }
  /* LiDAR needs five D × D float64 matrices */
  if (hr_bytes_mul (40 * (guint64)d, d) <= hr_analysis_memory_limit (self))
    {
      self->lidar = hr_lidar_of_pairs (a, p, used, d, error);
      if (isnan (self->lidar) && error != NULL && *error != NULL)
        return FALSE;
    }
  return TRUE;
}

/* -- the verdict's rules (doc/analysis.md, "The verdict") ------------------------------------ */

/* Effective ranks that differ by at most this fraction of the larger count as equal. */
#define HR_EFFECTIVE_RANK_MARGIN 0.01

static HrVerdictFlags
hr_verdict_of_projections (HrStage *projections)
{
  double healthy = 1.0 / sqrt ((double)projections->dimension);
  guint high;

  hr_spectrum_get_rank_range (projections->spectrum, NULL, &high);
  /* rank ≤ 1 is a collapse only where more was possible: two samples always lie on a line */
  if (hr_moments_get_simsiam_std (projections->moments) < 0.1 * healthy
      || (high <= 1
          && MIN (projections->dimension, hr_moments_get_n_samples (projections->moments) - 1)
                 >= 2))
    return HR_VERDICT_COLLAPSED;
  return HR_VERDICT_NONE;
}

/* The rank rules: only differences larger than the ranks' ranges and the effective ranks'
 * margin count. */
static HrVerdictFlags
hr_verdict_compare (HrSpectrum *f, HrSpectrum *p, gsize projection_dimension)
{
  HrVerdictFlags v = HR_VERDICT_NONE;
  guint fl, fh, pl, ph;
  double ef = hr_spectrum_get_effective_rank (f), ep = hr_spectrum_get_effective_rank (p);
  double margin = HR_EFFECTIVE_RANK_MARGIN * MAX (ef, ep);
  guint64 n = hr_spectrum_get_n_samples (p);
  gsize full = (gsize)MIN ((guint64)projection_dimension, n - 1);

  hr_spectrum_get_rank_range (f, &fl, &fh);
  hr_spectrum_get_rank_range (p, &pl, &ph);
  if (pl > fh)
    v |= HR_VERDICT_INFLATES_RANK;
  else if (ph < fl)
    v |= HR_VERDICT_REDUCES_RANK;
  else
    v |= HR_VERDICT_KEEPS_RANK;
  if (ep > ef + margin)
    v |= HR_VERDICT_INFLATES_EFFECTIVE_RANK;
  else if (ep < ef - margin)
    v |= HR_VERDICT_REDUCES_EFFECTIVE_RANK;
  if (projection_dimension < fl && pl == full)
    v |= HR_VERDICT_USES_ALL_DIMENSIONS;
  return v;
}

static void
hr_analysis_judge (HrAnalysis *self)
{
  HrStage *features = NULL, *projections = NULL;
  HrVerdictFlags v = HR_VERDICT_NONE;

  for (guint i = 0; i < self->stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (self->stages, i);
      HrMoments *m = stage->moments;
      gboolean activation = hr_stage_is_activation (stage);

      if (stage->role == HR_STAGE_ROLE_FEATURES)
        features = stage;
      else if (stage->role == HR_STAGE_ROLE_PROJECTIONS)
        projections = stage;
      if (hr_moments_get_n_samples (m) == 0)
        continue;
      if (activation && hr_stage_get_mean_clipped_fraction (stage) > 0.5)
        v |= HR_VERDICT_CLIPPING;
      if ((activation || stage->role == HR_STAGE_ROLE_PROJECTIONS) && hr_moments_get_n_dead (m) > 0)
        v |= HR_VERDICT_DEAD_UNITS;
    }
  if (projections != NULL && projections->spectrum != NULL)
    v |= hr_verdict_of_projections (projections);
  if (features != NULL && projections != NULL && features->spectrum != NULL
      && projections->spectrum != NULL)
    v |= hr_verdict_compare (features->spectrum, projections->spectrum, projections->dimension);
  self->verdict = v;
}

/* -- the error of a stage's values (doc/analysis.md, "The rank tolerance") --------------- */

#define HR_U32 (1.0 / 16777216.0) /* 2⁻²⁴, float32 unit roundoff */
#define HR_A32 0x1p-150           /* half of float32's subnormal spacing 2⁻¹⁴⁹ */

/* The unit roundoff of values stored as @format and read as float32: 0 for integers that
 * float32 holds exactly, 2⁻¹¹ for float16, 2⁻²⁴ for float32 (and for float64 and 32-bit
 * integers, which are rounded to float32 when read). */
double
hr_sample_format_unit_roundoff (HrSampleFormat format)
{
  switch (format)
    {
      case HR_SAMPLE_FORMAT_UINT8:
      case HR_SAMPLE_FORMAT_UINT16:
      case HR_SAMPLE_FORMAT_INT8:
      case HR_SAMPLE_FORMAT_INT16:
        return 0.0;
      case HR_SAMPLE_FORMAT_FLOAT16:
        return 1.0 / 2048.0;
      default:
        return HR_U32;
    }
}

/* The absolute rounding error of a value stored as @format and read as float32: half the
 * spacing of its subnormal numbers, 2⁻¹⁴⁹ for float32 (also for float64 and 32-bit
 * integers, rounded to float32 when read) and 2⁻²⁴ for float16, which bounds the error
 * where the relative bound u·|x| does not (values near or below the smallest normal
 * number); 0 for the integers that float32 holds exactly. */
double
hr_sample_format_absolute_error (HrSampleFormat format)
{
  switch (format)
    {
      case HR_SAMPLE_FORMAT_UINT8:
      case HR_SAMPLE_FORMAT_UINT16:
      case HR_SAMPLE_FORMAT_INT8:
      case HR_SAMPLE_FORMAT_INT16:
        return 0.0;
      case HR_SAMPLE_FORMAT_FLOAT16:
        return 0x1p-25;
      default:
        return HR_A32;
    }
}

static double
hr_reader_absolute_error (HrSource *reader)
{
  return hr_sample_format_absolute_error (
      hr_stack_info_get_sample_format (hr_source_get_info (reader)));
}

static double
hr_reader_unit_roundoff (HrSource *reader)
{
  return hr_sample_format_unit_roundoff (
      hr_stack_info_get_sample_format (hr_source_get_info (reader)));
}

/* The relative error r of the values of layer @layer of @head (−1: its input), with @r0 that
 * of the input: a Linear layer of k inputs adds γ_{k+1} (Higham, Accuracy and Stability of
 * Numerical Algorithms, 2002, §3.5: |fl(Wx + b) − (Wx + b)| ≤ γ_{k+1}(|W||x| + |b|)), a
 * ReLU is exact, and every other layer (BatchNorm, LayerNorm, GELU, SiLU, L2
 * normalisation, and the folding of a BatchNorm into its Linear) adds 4u. The error is
 * taken relative to the stage's own values: a first-order model that assumes the products
 * do not cancel (|W||x| ≈ |Wx|). */
double
hr_head_relative_error (HrHead *head, int layer, double r0)
{
  double r = r0;

  for (int i = 0; i <= layer; i++)
    {
      HrLayerKind kind = hr_head_get_layer_kind (head, (guint)i);

      if (kind == HR_LAYER_LINEAR)
        {
          double k1 = (double)hr_head_get_layer_in_features (head, (guint)i) + 1;

          r += k1 * HR_U32 / (1.0 - k1 * HR_U32);
        }
      else if (kind != HR_LAYER_RELU)
        r += 4 * HR_U32;
    }
  return MAX (r, layer >= 0 ? HR_U32 : 0.0);
}

/* The absolute error a of a value of layer @layer of @head (−1: its input), @a0 that of the
 * input, from float32 underflow: each product that underflows is off by at most 2⁻¹⁵⁰
 * (sums of subnormal numbers are exact), so a Linear layer of k inputs adds k·2⁻¹⁵⁰ to
 * each output, a ReLU nothing and every other layer 2·2⁻¹⁵⁰. The input's error is carried
 * as it is, a first-order model like that of hr_head_relative_error(). */
double
hr_head_absolute_error (HrHead *head, int layer, double a0)
{
  double a = a0;

  for (int i = 0; i <= layer; i++)
    {
      HrLayerKind kind = hr_head_get_layer_kind (head, (guint)i);

      if (kind == HR_LAYER_LINEAR)
        a += (double)hr_head_get_layer_in_features (head, (guint)i) * HR_A32;
      else if (kind != HR_LAYER_RELU)
        a += 2 * HR_A32;
    }
  return a;
}

/* The absolute error a of each of the stage's values. */
static double
hr_stage_absolute_error (HrAnalysis *self, HrStage *stage)
{
  double a0 = hr_reader_absolute_error (self->features);

  if (stage->role == HR_STAGE_ROLE_PROJECTIONS && self->head == NULL && self->projections != NULL)
    return hr_reader_absolute_error (self->projections);
  if (self->head == NULL || stage->layer < 0)
    return a0;
  return hr_head_absolute_error (self->head, stage->layer, a0);
}

/* The relative error r of the stage's values. */
static double
hr_stage_relative_error (HrAnalysis *self, HrStage *stage)
{
  double r0 = hr_reader_unit_roundoff (self->features);

  if (stage->role == HR_STAGE_ROLE_PROJECTIONS && self->head == NULL && self->projections != NULL)
    return hr_reader_unit_roundoff (self->projections);
  if (self->head == NULL || stage->layer < 0)
    return r0;
  return hr_head_relative_error (self->head, stage->layer, r0);
}

/* e = r·‖Y‖_F + a·√(N·D), a bound on ‖E‖₂ ≤ ‖E‖_F of the error of the stage's N × D values,
 * each off by at most r·|y| + a. */
static double
hr_stage_value_error (HrAnalysis *self, HrStage *stage)
{
  HrMoments *m = stage->moments;
  guint64 n = hr_moments_get_n_samples (m);
  double norm = hr_moments_frobenius_norm (n, stage->dimension, hr_moments_peek_mean (m),
                                           hr_moments_peek_scatter (m));

  return hr_stage_relative_error (self, stage) * norm
         + hr_stage_absolute_error (self, stage) * sqrt ((double)n * (double)stage->dimension);
}

/* The relative error that L2-normalising a row in float32 adds: the norm's rounding and
 * the division's. */
#define HR_NORMALIZE_ERROR (2 * HR_U32)

/* A stage's spectrum (from the scatter matrix, or from the kept rows of a wide stage;
 * standardised if asked), the spectrum of its normalised rows and its CKA with the
 * features. */
static gboolean
hr_stage_compute_spectra (HrAnalysis *self, HrStage *stage, HrStage *features, GError **error)
{
  HrMoments *m = stage->moments;
  gsize d = stage->dimension;

  if (stage->rows != NULL)
    {
      stage->spectrum = hr_spectrum_new_from_rows_with_error (
          stage->n_rows_kept, d, stage->rows, self->standardize,
          hr_stage_relative_error (self, stage), hr_stage_absolute_error (self, stage), error);
      if (stage->spectrum == NULL)
        return FALSE;
      if (stage->role == HR_STAGE_ROLE_PROJECTIONS)
        {
          /* what the loss sees: the same rows, L2-normalised in place */
          hr_normalize_rows (stage->rows, (gsize)stage->n_rows_kept, d, stage->rows);
          stage->normalized_spectrum = hr_spectrum_new_from_rows_with_error (
              stage->n_rows_kept, d, stage->rows, FALSE,
              hr_stage_relative_error (self, stage) + HR_NORMALIZE_ERROR, HR_A32, error);
          if (stage->normalized_spectrum == NULL)
            return FALSE;
        }
      g_clear_pointer (&stage->rows, g_free);
      return TRUE;
    }

  stage->spectrum
      = self->standardize
            ? hr_spectrum_new_standardized (
                hr_moments_get_n_samples (m), d, hr_moments_peek_mean (m),
                hr_moments_peek_scatter (m), hr_stage_relative_error (self, stage),
                hr_stage_absolute_error (self, stage), hr_moments_get_error_bound (m), error)
            : hr_spectrum_new_with_errors (hr_moments_get_n_samples (m), d,
                                           hr_moments_peek_mean (m), hr_moments_peek_scatter (m),
                                           hr_stage_value_error (self, stage),
                                           hr_moments_get_error_bound (m), error);
  if (stage->spectrum == NULL)
    return FALSE;
  if (stage->normalized != NULL)
    {
      HrMoments *z = stage->normalized;

      stage->normalized_spectrum = hr_spectrum_new_with_errors (
          hr_moments_get_n_samples (z), d, hr_moments_peek_mean (z), hr_moments_peek_scatter (z),
          (hr_stage_relative_error (self, stage) + HR_NORMALIZE_ERROR)
                  * hr_moments_frobenius_norm (hr_moments_get_n_samples (z), d,
                                               hr_moments_peek_mean (z),
                                               hr_moments_peek_scatter (z))
              + HR_A32 * sqrt ((double)hr_moments_get_n_samples (z) * (double)d),
          hr_moments_get_error_bound (z), error);
      if (stage->normalized_spectrum == NULL)
        return FALSE;
      g_clear_pointer (&stage->normalized_scratch, g_free);
    }
  /* CKA over the same rows only: both stages' scatter matrices and the cross-moments */
  if (stage->cross != NULL && features->moments != NULL
      && hr_moments_peek_scatter (features->moments) != NULL
      && hr_cross_moments_get_n_samples (stage->cross) == hr_moments_get_n_samples (m)
      && hr_cross_moments_get_n_samples (stage->cross)
             == hr_moments_get_n_samples (features->moments))
    stage->cka = hr_cross_moments_linear_cka (
        stage->cross, hr_moments_peek_scatter (features->moments), hr_moments_peek_scatter (m));
  else if (stage == features)
    stage->cka = 1.0;
  g_clear_pointer (&stage->cross, hr_cross_moments_free);
  return TRUE;
}

static gboolean
hr_analysis_run_internal (HrAnalysis *self, HrProgress *progress, GCancellable *cancellable,
                          GError **error)
{
  HrPass pass = { 0 };
  gboolean ok = FALSE;
  double pass_share;

  pass.self = self;
  hr_analysis_clear_results (self);
  if (self->head != NULL && self->projections != NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("give either a head or projections, not both"));
      return FALSE;
    }
  if (!hr_pass_plan (&pass, error) || !hr_pass_plan_pairs (&pass, error))
    goto out;

  pass_share = self->positives != NULL ? 0.47 : 0.95;
  progress->from = 0.0;
  progress->to = pass_share;
  if (self->head != NULL)
    {
      guint L = hr_head_get_n_layers (self->head);
      g_autofree gboolean *keep = g_new0 (gboolean, L);

      for (guint i = 0; i < L; i++)
        keep[i] = pass.by_layer[i] != NULL;
      if (!hr_head_stream (self->head, self->features, self->mode, self->batch_size, keep,
                           hr_pass_chunk, &pass, &self->n_dropped, &self->n_nonfinite,
                           hr_progress_report, progress, cancellable, error))
        goto out;
    }
  else if (!hr_pass_run_stacks (&pass, progress, cancellable, error))
    goto out;

  if (self->positives != NULL)
    {
      progress->from = pass_share;
      progress->to = 0.95;
      if (!hr_pass_run_positives (&pass, progress, cancellable, error))
        goto out;
    }

  if (!hr_check_nonfinite_policy (self, self->features, error)
      || !hr_check_enough_finite (self, self->features, pass.features, error)
      || (self->head == NULL && self->projections != NULL
          && !hr_check_enough_finite (self, self->projections, pass.last, error)))
    goto out;
  for (guint i = 0; i < pass.stages->len; i++)
    {
      HrStage *stage = g_ptr_array_index (pass.stages, i);

      if (!hr_sample_table_finish (stage->table, stage->n_samples, error))
        goto out;
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        goto out;
      if (stage->wants_spectrum && !hr_stage_compute_spectra (self, stage, pass.features, error))
        {
          g_prefix_error (error, _ ("stage %s: "), stage->name);
          goto out;
        }
      progress->from = 0.95;
      progress->to = 1.0;
      hr_progress_report ((i + 1.0) / pass.stages->len, progress);
    }
  if (pass.pairs != NULL && !hr_pass_contrastive (&pass, error))
    goto out;

  g_ptr_array_extend_and_steal (self->stages, g_steal_pointer (&pass.stages));
  hr_analysis_judge (self);
  self->done = TRUE;
  ok = TRUE;

out:
  hr_pass_clear (&pass);
  return ok;
}

/**
 * hr_analysis_run:
 * @self: a #HrAnalysis
 * @progress: (nullable) (scope call) (closure progress_data): called with the fraction done
 * @progress_data: data for @progress
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the analysis in the calling thread. Errors come from the stacks (%HR_STACK_ERROR),
 * the head (%HR_HEAD_ERROR) and the measures (%HR_ANALYSIS_ERROR); on cancellation
 * %G_IO_ERROR_CANCELLED. Running again replaces the results.
 *
 * Returns: %TRUE on success
 */
gboolean
hr_analysis_run (HrAnalysis *self, HrAnalysisProgressFunc progress, gpointer progress_data,
                 GCancellable *cancellable, GError **error)
{
  HrProgress p = { self, progress, progress_data, 0.0, 1.0 };
  gboolean ok;

  g_return_val_if_fail (HR_IS_ANALYSIS (self), FALSE);
  g_return_val_if_fail (!self->running, FALSE);
  self->running = TRUE;
  ok = hr_analysis_run_internal (self, &p, cancellable, error);
  self->running = FALSE;
  return ok;
}

static void
hr_analysis_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  HrAnalysis *self = source;
  HrProgress p = { self, NULL, NULL, 0.0, 1.0 };
  GError *error = NULL;

  if (hr_analysis_run_internal (self, &p, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
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
 * stops it within one chunk of samples. Do not change the analysis while it runs.
 */
void
hr_analysis_run_async (HrAnalysis *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                       gpointer user_data)
{
  GTask *task;

  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!self->running);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, hr_analysis_run_async);
  self->running = TRUE;
  self->context = g_main_context_ref_thread_default ();
  self->progress = 0.0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
  g_task_run_in_thread (task, hr_analysis_thread);
  g_object_unref (task);
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
  /* the worker has finished with the analysis once its task has returned */
  self->running = FALSE;
  g_clear_pointer (&self->context, g_main_context_unref);
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return FALSE;
  if (self->progress != 1.0)
    {
      self->progress = 1.0;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
    }
  return TRUE;
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
  return self->done && !self->running;
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
 * hr_stage_get_normalized_spectrum:
 * @stage: a #HrStage
 *
 * The spectrum of the stage's rows L2-normalised as `torch.nn.functional.normalize (z,
 * dim=1)` does (z / max(‖z‖₂, 10⁻¹²), in float32): the unit vectors that NT-Xent and
 * cosine losses compare, so "what the loss sees". Its eigenvalues are those of the
 * covariance of the normalised rows, the spectrum of dimensional collapse of Jing, Vincent,
 * LeCun and Tian ("Understanding dimensional collapse in contrastive self-supervised
 * learning", ICLR 2022; DirectCLR's `spectrum.py`); its rank is counted as for
 * hr_stage_get_spectrum(). Accumulated in the same pass, for the projections only.
 *
 * Returns: (transfer none) (nullable): the spectrum of the normalised rows, or %NULL for
 *   the stages other than the projections
 *
 * Since: 0.2
 */
HrSpectrum *
hr_stage_get_normalized_spectrum (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), NULL);
  return stage->normalized_spectrum;
}

/**
 * hr_stage_get_cka:
 * @stage: a #HrStage
 *
 * Linear CKA between the features and this stage (Kornblith, Norouzi, Lee and Hinton,
 * "Similarity of neural network representations revisited", ICML 2019), over the same
 * samples: with X and Z the centred N × D_x and N × D_z matrices,
 *
 *     CKA = ‖XᵀZ‖²_F / (‖XᵀX‖_F ‖ZᵀZ‖_F),
 *
 * from the cross-moments XᵀZ accumulated in the same pass (O(N·D_x·D_z) time, 8·D_x·D_z
 * bytes). How much of the features' geometry the head keeps: 1 for any orthogonal map
 * and scaling, near 0 for unrelated representations. Computed for the projections and
 * for the hidden stages that have a spectrum; 1 for the features themselves.
 *
 * Returns: CKA between 0 and 1; NaN when it was not computed (a stage without a spectrum;
 *   a wide stage, or wide features, whose rows are kept instead of the scatter matrix;
 *   rows dropped on one side only) or when a stage has no variance
 *
 * Since: 0.2
 */
double
hr_stage_get_cka (HrStage *stage)
{
  g_return_val_if_fail (HR_IS_STAGE (stage), NAN);
  return stage->cka;
}

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
  g_return_if_fail (!self->running);
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
 * of the stack's header: from the D × D scatter matrix (24·D² bytes, 20·D² with float32
 * products, plus 8·D² standardised and a chunk of 2,048 float64 rows), or, for a wide
 * stage with N < D, from its rows kept in memory and the N × N Gram matrices
 * (4·N·D + 16·N² + 16,384·N bytes). The projections add the same for their normalised rows,
 * and each stage with a CKA 8·D_features·D bytes. When the sum passes the bound, the run
 * fails before it allocates with %HR_ANALYSIS_ERROR_SHAPE, naming the stage and the sizes.
 *
 * Since: 0.2
 */
void
hr_analysis_set_memory_limit (HrAnalysis *self, guint64 bytes)
{
  g_return_if_fail (HR_IS_ANALYSIS (self));
  g_return_if_fail (!self->running);
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

/* Whether the stage's spectrum was computed from its rows and the N × N Gram matrices
 * (hr-private.h). */
gboolean
hr_stage_spectrum_is_from_rows (HrStage *stage)
{
  return stage->wants_spectrum && stage->moments != NULL
         && hr_moments_peek_scatter (stage->moments) == NULL;
}
