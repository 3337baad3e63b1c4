/* headrank: the analysis: HrStage, one stage of an analysed head */
#include "hr-private.h"
#include "hr-analysis.h"

#include "hr-analysis-internal.h"
#include "hr-analysis-private.h"
#include "hr-error.h"
#include "hr-head-private.h"
#include "hr-head.h"
#include "hr-measures-private.h"
#include "hr-moments.h"
#include "hr-pool.h"
#include "hr-spectrum.h"

#include <math.h>
#include <string.h>

/* -- HrStage ---------------------------------------------------------------------------- */

/**
 * HrStage:
 *
 * One stage of an analysed head: the features, the output of a layer, or the projections,
 * with its accumulated moments, its spectrum if it has one, and its per-sample statistics.
 * Stages are made by #HrAnalysis and do not change once it has run.
 */

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
  g_free (self->clip_parts);
  g_free (self->clip_zeros);
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
  self->scatter_norm = NAN;
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

/* Adds to @count, per unit, the rows [@first, @end) of @x in the clipping region @measure. */
static void
hr_count_clipping_rows (const char *measure, const float *x, gsize d, gsize first, gsize end,
                        guint64 *count)
{
  for (gsize r = first; r < end; r++)
    {
      const float *row = x + r * d;

      if (measure[0] == 'z')
        for (gsize j = 0; j < d; j++)
          count[j] += row[j] == 0.0f;
      else if (measure[0] == 'n')
        for (gsize j = 0; j < d; j++)
          count[j] += row[j] < 0.0f;
      else
        for (gsize j = 0; j < d; j++)
          count[j] += fabsf (row[j]) > (float)HR_TANH_SATURATION;
    }
}

typedef struct
{
  const char *measure;
  const float *x;
  gsize d;
  guint64 *counts; /* per part, d */
} HrClipJob;

static void
hr_count_clipping_range (gsize first, gsize end, guint part, gpointer data)
{
  HrClipJob *job = data;

  hr_count_clipping_rows (job->measure, job->x, job->d, first, end, job->counts + part * job->d);
}

/* Before the stage's moments take a chunk: a ReLU's clipping region is its exact zeros,
 * which the moments count in the finite rows, so when they drop none of the chunk's rows
 * the clipping counts are what their zero counts gained (hr_stage_count_clipping()). */
void
hr_stage_clipping_before (HrStage *stage)
{
  const char *measure = hr_stage_get_clipping_measure (stage);
  HrMomentsState st;

  stage->clip_from_zeros = FALSE;
  if (measure == NULL || measure[0] != 'z' || stage->moments == NULL)
    return;
  hr_moments_get_state (stage->moments, &st);
  if (stage->clip_zeros == NULL)
    stage->clip_zeros = g_new (guint64, stage->dimension);
  memcpy (stage->clip_zeros, st.zero_count, stage->dimension * sizeof (guint64));
  stage->clip_dropped = *st.n_dropped;
  stage->clip_from_zeros = TRUE;
}

/* Counts, per unit, the rows of an activation stage in its clipping region: from its
 * moments' zero counts after hr_stage_clipping_before(), where they took every row of @x;
 * otherwise by rows, over @pool's threads when not NULL. */
void
hr_stage_count_clipping (HrStage *stage, const float *x, gsize n, HrPool *pool)
{
  const char *measure = hr_stage_get_clipping_measure (stage);
  gsize d = stage->dimension;
  guint n_parts = hr_pool_get_n_parts (pool);
  HrClipJob job = { measure, x, d, NULL };
  gboolean from_zeros = stage->clip_from_zeros;

  stage->clip_from_zeros = FALSE;
  if (measure == NULL)
    return;
  if (stage->clipped == NULL)
    stage->clipped = g_new0 (guint64, d);
  stage->clip_rows += n;
  if (from_zeros)
    {
      HrMomentsState st;

      hr_moments_get_state (stage->moments, &st);
      if (*st.n_dropped == stage->clip_dropped)
        {
          for (gsize j = 0; j < d; j++)
            stage->clipped[j] += st.zero_count[j] - stage->clip_zeros[j];
          return;
        }
    }
  if (n_parts < 2 || n < 2 * n_parts)
    {
      hr_count_clipping_rows (measure, x, d, 0, n, stage->clipped);
      return;
    }
  /* the parts' counts, in a scratch kept with the stage from chunk to chunk */
  if (stage->clip_n_parts != n_parts)
    {
      g_free (stage->clip_parts);
      stage->clip_parts = g_new (guint64, n_parts * d);
      stage->clip_n_parts = n_parts;
    }
  job.counts = stage->clip_parts;
  memset (job.counts, 0, n_parts * d * sizeof (guint64));
  hr_pool_run_ranges (pool, n, n_parts, hr_count_clipping_range, &job);
  for (guint t = 0; t < n_parts; t++)
    for (gsize j = 0; j < d; j++)
      stage->clipped[j] += job.counts[t * d + j];
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
  if (stage->table == NULL && stage->moments != NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("the analysis holds no per-sample statistics: its parts were made "
                      "without them"));
      return FALSE;
    }
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
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
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

HrStage *
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
 * bytes); for a stage that the features or an earlier stage with cross-moments reach
 * through Linear, BatchNorm (running statistics), Identity and Dropout layers only,
 * Z = T A + 1cᵀ and XᵀZ is mapped from XᵀT after the pass (O(D_x·D_t·D_z) time), the
 * exact map of the stage T the head computed. How much of the features' geometry the head keeps: 1
 * for any orthogonal map and scaling, near 0 for unrelated representations. Computed for the
 * projections and for the hidden stages that have a spectrum; 1 for the features themselves.
 *
 * A wide stage, or wide features (fewer samples than dimensions), keeps its rows instead of
 * a scatter matrix: its ‖XᵀX‖_F is then that of the N × N Gram matrix of its centred rows,
 * the same norm, and the cross-moments are made only if they fit in the memory limit.
 *
 * Returns: CKA between 0 and 1; NaN when it was not computed (a stage without a spectrum;
 *   a wide stage, or wide features, whose cross-moments did not fit in the memory limit;
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

/* Whether the stage's spectrum was computed from its rows and the N × N Gram matrices
 * (hr-private.h). */
gboolean
hr_stage_spectrum_is_from_rows (HrStage *stage)
{
  return stage->wants_spectrum && stage->moments != NULL
         && hr_moments_peek_scatter (stage->moments) == NULL;
}
