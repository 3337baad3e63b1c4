/* headrank: samples projected onto a stage's principal axes, streamed from a source */
#include "hr-private.h"
#include "hr-pca-projection.h"

#include "hr-analysis-internal.h"
#include "hr-error.h"
#include "hr-head-private.h"
#include "hr-moments.h"
#include "hr-principal-axes.h"
#include "hr-source.h"
#include "hr-sources-private.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/**
 * HrPcaProjection:
 *
 * The coordinates of every sample of a source on the k leading principal axes of one
 * stage: of the features themselves, or of the output of any layer of a head run over
 * them. What a scatter plot of the embeddings shows, and what scikit-learn's
 * `PCA(n_components=k).fit_transform(X)` computes, for stacks too large for memory.
 *
 * The pass streams the source a chunk at a time, running the head up to the stage when
 * there is one (with the norm mode and batch size given, as the analysis does). Without
 * axes given (hr_pca_projection_set_axes()), a first pass accumulates the stage's mean and
 * scatter matrix in float64 (#HrMoments) and takes their principal axes
 * (#HrPrincipalAxes, with its sign convention); a second one projects. With axes (those
 * of an analysed stage: hr_pca_projection_new_for_stage()), one pass does.
 *
 * The result is N × k float32 coordinates, one row per sample of the source in its order,
 * centred on the stage's mean (hr_pca_projection_get_coordinates()). A sample that holds a
 * NaN or an infinite value in its features is left out of the axes, as the analysis leaves
 * it out, and gets NaN coordinates, so rows stay aligned with the samples (with their
 * per-sample statistics and their `obs` rows). Memory: the coordinates, a chunk, and
 * D × D float64 while the axes are computed.
 *
 * hr_pca_projection_run() runs in the calling thread; hr_pca_projection_run_async() in a
 * worker thread, with #HrPcaProjection:progress notified in the caller's main context and
 * cancellation checked every chunk.
 *
 * Since: 0.2
 */

struct _HrPcaProjection
{
  GObject parent_instance;

  HrSource *source;
  HrHead *head; /* NULL: the stage is the source's own values */
  int layer;    /* with a head: the layer whose output is the stage */
  char *stage;
  HrNormMode mode;
  gsize batch_size;
  guint n_axes;
  HrPrincipalAxes *given_axes;

  /* results */
  HrPrincipalAxes *axes;
  float *coordinates; /* N × k */
  guint64 n_samples;
  guint64 n_dropped;
  gboolean done;
  gint running;

  /* progress, delivered in the caller's main context */
  double progress;
  HrProgressMailbox mailbox; /* progress on its way to the caller's main context */
};

G_DEFINE_FINAL_TYPE (HrPcaProjection, hr_pca_projection, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_PROGRESS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
hr_pca_projection_clear_results (HrPcaProjection *self)
{
  g_clear_pointer (&self->axes, hr_principal_axes_unref);
  g_clear_pointer (&self->coordinates, g_free);
  self->n_samples = 0;
  self->n_dropped = 0;
  self->done = FALSE;
}

static void
hr_pca_projection_dispose (GObject *object)
{
  HrPcaProjection *self = HR_PCA_PROJECTION (object);

  g_clear_object (&self->source);
  g_clear_object (&self->head);
  G_OBJECT_CLASS (hr_pca_projection_parent_class)->dispose (object);
}

static void
hr_pca_projection_finalize (GObject *object)
{
  HrPcaProjection *self = HR_PCA_PROJECTION (object);

  hr_pca_projection_clear_results (self);
  g_clear_pointer (&self->given_axes, hr_principal_axes_unref);
  g_free (self->stage);
  g_mutex_clear (&self->mailbox.lock);
  G_OBJECT_CLASS (hr_pca_projection_parent_class)->finalize (object);
}

static void
hr_pca_projection_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  HrPcaProjection *self = HR_PCA_PROJECTION (object);

  switch (prop_id)
    {
      case PROP_PROGRESS:
        g_value_set_double (value, self->progress);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
hr_pca_projection_class_init (HrPcaProjectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = hr_pca_projection_dispose;
  object_class->finalize = hr_pca_projection_finalize;
  object_class->get_property = hr_pca_projection_get_property;

  /**
   * HrPcaProjection:progress:
   *
   * The fraction of the pass done, from 0 to 1. While hr_pca_projection_run_async() runs,
   * it is notified in the main context of the caller.
   *
   * Since: 0.2
   */
  properties[PROP_PROGRESS]
      = g_param_spec_double ("progress", NULL, NULL, 0.0, 1.0, 0.0,
                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
hr_pca_projection_init (HrPcaProjection *self)
{
  self->layer = -1;
  self->stage = g_strdup ("features");
  self->mode = HR_NORM_MODE_RUNNING;
  g_mutex_init (&self->mailbox.lock);
}

/**
 * hr_pca_projection_new:
 * @source: the samples, from any source whose number of samples is known
 * @n_axes: k, the number of axes to project onto: at least 1, at most the stage's
 *   dimension and number of samples (checked when the pass runs)
 *
 * Makes a projection of @source's own values onto their k leading principal axes; give it
 * a head with hr_pca_projection_set_head() to project a stage of the head instead.
 *
 * Returns: (transfer full): a new #HrPcaProjection
 *
 * Since: 0.2
 */
HrPcaProjection *
hr_pca_projection_new (HrSource *source, guint n_axes)
{
  HrPcaProjection *self;

  g_return_val_if_fail (HR_IS_SOURCE (source), NULL);

  self = g_object_new (HR_TYPE_PCA_PROJECTION, NULL);
  self->source = g_object_ref (source);
  self->n_axes = n_axes;
  return self;
}

/**
 * hr_pca_projection_set_head:
 * @self: a #HrPcaProjection
 * @head: (nullable): the head to run the samples through, or %NULL for the samples' own
 *   values
 * @stage: (nullable): the stage to project: `features` (or %NULL), `projections`, or the
 *   name of a layer of @head
 * @mode: how BatchNorm layers normalise, as in the analysis
 * @batch_size: as hr_analysis_set_batch_size()
 * @error: return location for a #GError, or %NULL
 *
 * Chooses the stage whose principal axes the samples are projected onto. Drops axes
 * given before and results of an earlier run.
 *
 * Returns: %TRUE; %FALSE with %HR_ANALYSIS_ERROR_INVALID when @head has no such stage,
 *   or when a stage other than the features is asked for without a head
 *
 * Since: 0.2
 */
gboolean
hr_pca_projection_set_head (HrPcaProjection *self, HrHead *head, const char *stage, HrNormMode mode,
                            gsize batch_size, GError **error)
{
  int layer = -1;

  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), FALSE);
  g_return_val_if_fail (head == NULL || HR_IS_HEAD (head), FALSE);
  g_return_val_if_fail (!g_atomic_int_get (&self->running), FALSE);

  if (stage == NULL)
    stage = "features";
  if (strcmp (stage, "features") != 0)
    {
      layer = head != NULL ? hr_head_find_stage (head, stage) : -1;
      if (layer < 0)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                       head != NULL ? _ ("the head has no stage “%s”")
                                    : _ ("stage “%s” needs a head to run"),
                       stage);
          return FALSE;
        }
    }
  if (layer < 0)
    head = NULL;
  g_set_object (&self->head, head);
  self->layer = layer;
  g_free (self->stage);
  self->stage = g_strdup (stage);
  self->mode = mode;
  self->batch_size = batch_size;
  g_clear_pointer (&self->given_axes, hr_principal_axes_unref);
  hr_pca_projection_clear_results (self);
  return TRUE;
}

/**
 * hr_pca_projection_new_for_stage:
 * @analysis: an analysis that has run
 * @stage: the name of one of its stages (hr_analysis_find_stage())
 * @n_axes: k, the number of axes
 * @error: return location for a #GError, or %NULL
 *
 * Makes a projection of the analysis' samples onto the principal axes of one of its
 * stages: its features, the source, head, norm mode and batch size of the analysis, and
 * the stage's principal axes when the analysis kept the stage's scatter matrix (the
 * stages whose spectrum it computes from one), so that only one pass is needed; for the
 * other stages the pass computes them first. A stage of projections given as their own
 * source (hr_analysis_set_projections_source()) is projected from that source. The axes
 * are those of the covariance of the raw values, whether or not the analysis
 * standardizes its spectra.
 *
 * Returns: (transfer full) (nullable): a new #HrPcaProjection, or %NULL with
 *   %HR_ANALYSIS_ERROR_INVALID when the analysis has not run or has no such stage, or an
 *   error of hr_principal_axes_new_from_moments() (too few samples, k too large)
 *
 * Since: 0.2
 */
HrPcaProjection *
hr_pca_projection_new_for_stage (HrAnalysis *analysis, const char *stage, guint n_axes,
                                 GError **error)
{
  g_autoptr (HrPcaProjection) self = NULL;
  HrStage *s;

  g_return_val_if_fail (HR_IS_ANALYSIS (analysis), NULL);
  g_return_val_if_fail (stage != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  s = hr_analysis_is_done (analysis) ? hr_analysis_find_stage (analysis, stage) : NULL;
  if (s == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   hr_analysis_is_done (analysis) ? _ ("the analysis has no stage “%s”")
                                                  : _ ("the analysis has not run yet"),
                   stage);
      return NULL;
    }
  if (s->role == HR_STAGE_ROLE_PROJECTIONS && analysis->projections != NULL)
    self = hr_pca_projection_new (analysis->projections, n_axes);
  else
    {
      self = hr_pca_projection_new (analysis->features, n_axes);
      if (s->role != HR_STAGE_ROLE_FEATURES
          && !hr_pca_projection_set_head (self, analysis->head, stage, analysis->mode,
                                          analysis->batch_size, error))
        return NULL;
    }
  g_free (self->stage);
  self->stage = g_strdup (stage);
  if (s->moments != NULL && hr_moments_peek_scatter (s->moments) != NULL)
    {
      self->given_axes = hr_principal_axes_new_from_moments (s->moments, n_axes, error);
      if (self->given_axes == NULL)
        return NULL;
    }
  return g_steal_pointer (&self);
}

/**
 * hr_pca_projection_set_axes:
 * @self: a #HrPcaProjection
 * @axes: (nullable): the axes to project onto, or %NULL to compute them from the stage
 *
 * Gives the axes to project onto (of the stage's dimension; their number replaces k), so
 * that the pass needs no first pass to compute them: those of a stage of an analysis, or
 * axes computed from other samples, to place new samples in a familiar map.
 *
 * Since: 0.2
 */
void
hr_pca_projection_set_axes (HrPcaProjection *self, HrPrincipalAxes *axes)
{
  g_return_if_fail (HR_IS_PCA_PROJECTION (self));
  g_return_if_fail (!g_atomic_int_get (&self->running));

  if (axes != NULL)
    hr_principal_axes_ref (axes);
  g_clear_pointer (&self->given_axes, hr_principal_axes_unref);
  self->given_axes = axes;
  hr_pca_projection_clear_results (self);
}

/**
 * hr_pca_projection_get_axes:
 * @self: a #HrPcaProjection
 *
 * Gets the axes the samples were projected onto, after a run (or the axes given).
 *
 * Returns: (transfer none) (nullable): the axes, or %NULL
 *
 * Since: 0.2
 */
HrPrincipalAxes *
hr_pca_projection_get_axes (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), NULL);
  return self->axes != NULL ? self->axes : self->given_axes;
}

/**
 * hr_pca_projection_get_source:
 * @self: a #HrPcaProjection
 *
 * Gets the source of the samples.
 *
 * Returns: (transfer none): the source
 *
 * Since: 0.2
 */
HrSource *
hr_pca_projection_get_source (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), NULL);
  return self->source;
}

/**
 * hr_pca_projection_get_stage:
 * @self: a #HrPcaProjection
 *
 * Gets the name of the stage projected: `features` without a head.
 *
 * Returns: (transfer none): the stage's name
 *
 * Since: 0.2
 */
const char *
hr_pca_projection_get_stage (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), NULL);
  return self->stage;
}

/**
 * hr_pca_projection_get_n_axes:
 * @self: a #HrPcaProjection
 *
 * Gets k, the number of axes: that of the axes given, else the number asked for.
 *
 * Returns: k
 *
 * Since: 0.2
 */
guint
hr_pca_projection_get_n_axes (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), 0);
  return self->given_axes != NULL ? hr_principal_axes_get_n_axes (self->given_axes) : self->n_axes;
}

/* -- the pass ------------------------------------------------------------------------------ */

typedef struct
{
  HrPcaProjection *self;
  HrProgressFunc func;
  gpointer func_data;
  double from, to;
  GMainContext *context; /* asynchronous runs: the caller's */
  HrMoments *moments;    /* the first pass */
  HrPrincipalAxes *axes; /* the second */
  float *coordinates;
  guint64 n_projected;
} HrPcaPass;

static gboolean
hr_pca_projection_deliver_progress (gpointer data)
{
  HrPcaProjection *self = data;

  hr_progress_deliver (&self->mailbox, self, &self->progress, properties[PROP_PROGRESS]);
  return G_SOURCE_REMOVE;
}

static void
hr_pca_pass_progress (double fraction, gpointer data)
{
  HrPcaPass *p = data;
  HrPcaProjection *self = p->self;
  double value = CLAMP (p->from + (p->to - p->from) * fraction, 0.0, 1.0);

  if (p->func != NULL)
    {
      p->func (value, p->func_data);
      return;
    }
  if (p->context == NULL)
    return;
  hr_progress_post (&self->mailbox, value, p->context, hr_pca_projection_deliver_progress, self);
}

/* One chunk of the stage's rows, of the samples @samples (NULL: @first onwards). */
static void
hr_pca_pass_take (HrPcaPass *p, const float *rows, gsize n, guint64 first, const guint64 *samples)
{
  gsize k;
  g_autofree float *out = NULL;

  if (p->moments != NULL)
    {
      hr_moments_add (p->moments, rows, n, NULL);
      return;
    }
  k = hr_principal_axes_get_n_axes (p->axes);
  if (samples == NULL)
    {
      hr_principal_axes_project (p->axes, rows, n, p->coordinates + first * k);
      return;
    }
  out = g_new (float, MAX (n * k, 1));
  hr_principal_axes_project (p->axes, rows, n, out);
  for (gsize r = 0; r < n; r++)
    memcpy (p->coordinates + samples[r] * k, out + r * k, k * sizeof (float));
}

static gboolean
hr_pca_pass_chunk (const float *features, gsize n_rows, const guint64 *samples,
                   const float *const *stages, gpointer user_data, GError **error)
{
  HrPcaPass *p = user_data;

  hr_pca_pass_take (p, stages[p->self->layer], n_rows, 0, samples);
  return TRUE;
}

/* Rows read straight from the source, when the stage is the source's own values. */
#define HR_PCA_CHUNK_ROWS 4096

static gboolean
hr_pca_pass_source (HrPcaPass *p, GCancellable *cancellable, GError **error)
{
  HrSource *source = p->self->source;
  guint64 n = hr_source_get_n_samples (source);
  gsize d = hr_source_get_n_features (source);
  gsize chunk = CLAMP (hr_source_get_preferred_chunk (source), 1, HR_PCA_CHUNK_ROWS);
  g_autofree float *rows = g_try_new (float, chunk *d);
  guint64 done = 0;

  if (rows == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for chunks of %zu samples"), chunk);
      return FALSE;
    }
  if (!hr_source_seek (source, 0, error))
    return FALSE;
  while (done < n)
    {
      gsize got = 0;

      if (!hr_source_read_into (source, rows, chunk, &got, cancellable, error))
        return FALSE;
      if (got == 0)
        break;
      hr_pca_pass_take (p, rows, got, done, NULL);
      done += got;
      hr_pca_pass_progress ((double)done / (double)n, p);
    }
  if (done != n)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("%s ended after %" PRIu64 " of %" PRIu64 " samples"),
                   hr_source_get_name (source), done, n);
      return FALSE;
    }
  return TRUE;
}

static gboolean
hr_pca_pass_run (HrPcaPass *p, GCancellable *cancellable, GError **error)
{
  HrPcaProjection *self = p->self;
  guint64 dropped = 0, nonfinite = 0;

  if (self->head == NULL)
    return hr_pca_pass_source (p, cancellable, error);
  {
    guint n_layers = hr_head_get_n_layers (self->head);
    g_autofree gboolean *keep = g_new0 (gboolean, n_layers);

    keep[self->layer] = TRUE;
    return hr_head_stream (self->head, self->source, self->mode, self->batch_size, keep, NULL,
                           hr_pca_pass_chunk, p, &dropped, &nonfinite, hr_pca_pass_progress, p,
                           cancellable, error);
  }
}

static gsize
hr_pca_projection_stage_dimension (HrPcaProjection *self)
{
  return self->head != NULL ? hr_head_get_layer_out_features (self->head, (guint)self->layer)
                            : hr_source_get_n_features (self->source);
}

static gboolean
hr_pca_projection_run_internal (HrPcaProjection *self, HrPcaPass *p, GCancellable *cancellable,
                                GError **error)
{
  g_autoptr (HrPrincipalAxes) axes = NULL;
  g_autoptr (HrMoments) moments = NULL;
  g_autofree float *coordinates = NULL;
  guint64 n, n_values;
  gsize d = hr_pca_projection_stage_dimension (self), k;
  double split;

  hr_pca_projection_clear_results (self);
  if (!hr_source_check_known_length (self->source, error))
    return FALSE;
  if (self->head != NULL
      && hr_source_get_n_features (self->source) != hr_head_get_in_features (self->head))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                   _ ("%s: the head takes %zu features, the stack has %zu"),
                   hr_source_get_name (self->source), hr_head_get_in_features (self->head),
                   hr_source_get_n_features (self->source));
      return FALSE;
    }
  n = hr_source_get_n_samples (self->source);
  if (self->given_axes != NULL)
    {
      if (hr_principal_axes_get_dimension (self->given_axes) != d)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_SHAPE,
                       _ ("axes of dimension %zu cannot project stage %s of dimension %zu"),
                       hr_principal_axes_get_dimension (self->given_axes), self->stage, d);
          return FALSE;
        }
      axes = hr_principal_axes_ref (self->given_axes);
    }
  else if (self->n_axes == 0 || self->n_axes > d)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("%u principal axes asked for, but stage %s has dimension %zu"), self->n_axes,
                   self->stage, d);
      return FALSE;
    }
  k = axes != NULL ? hr_principal_axes_get_n_axes (axes) : self->n_axes;
  if (!g_uint64_checked_mul (&n_values, n, k) || n_values > G_MAXSIZE / sizeof (float)
      || (coordinates = g_try_new (float, MAX (n_values, 1))) == NULL)
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_NO_MEMORY,
                   _ ("not enough memory for %" PRIu64 " × %zu coordinates"), n, k);
      return FALSE;
    }
  for (guint64 i = 0; i < n_values; i++)
    coordinates[i] = NAN;

  split = axes != NULL ? 0.0 : 0.5;
  if (axes == NULL)
    {
      moments = hr_moments_new (d, n, HR_PRECISION_FLOAT64);
      p->moments = moments;
      p->from = 0.0;
      p->to = split;
      if (!hr_pca_pass_run (p, cancellable, error))
        return FALSE;
      p->moments = NULL;
      axes = hr_principal_axes_new_from_moments (moments, self->n_axes, error);
      if (axes == NULL)
        return FALSE;
    }
  p->axes = axes;
  p->coordinates = coordinates;
  p->from = split;
  p->to = 1.0;
  if (!hr_pca_pass_run (p, cancellable, error))
    return FALSE;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return FALSE;

  self->n_dropped = 0;
  for (guint64 i = 0; i < n; i++)
    self->n_dropped += k > 0 && isnan (coordinates[i * k]);
  self->axes = g_steal_pointer (&axes);
  self->coordinates = g_steal_pointer (&coordinates);
  self->n_samples = n;
  self->done = TRUE;
  return TRUE;
}

/**
 * hr_pca_projection_run:
 * @self: a #HrPcaProjection
 * @progress: (nullable) (scope call) (closure progress_data): called with the fraction done
 * @progress_data: data for @progress
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Runs the pass in the calling thread (see #HrPcaProjection).
 *
 * Errors: %HR_ANALYSIS_ERROR_INVALID when k is 0 or larger than the stage's dimension,
 * %HR_ANALYSIS_ERROR_TOO_FEW_SAMPLES when fewer than 2 samples are finite (or fewer than
 * k), %HR_ANALYSIS_ERROR_SHAPE when given axes do not fit the stage, %G_IO_ERROR_CANCELLED
 * when cancelled, and the errors of the source and the head.
 *
 * Returns: %TRUE on success; on failure the results of an earlier run are gone
 *
 * Since: 0.2
 */
gboolean
hr_pca_projection_run (HrPcaProjection *self, HrProgressFunc progress, gpointer progress_data,
                       GCancellable *cancellable, GError **error)
{
  HrPcaPass p = { self, progress, progress_data, 0.0, 1.0, NULL, NULL, NULL, NULL, 0 };

  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), FALSE);
  g_return_val_if_fail (!g_atomic_int_get (&self->running), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return hr_pca_projection_run_internal (self, &p, cancellable, error);
}

static void
hr_pca_projection_thread (GTask *task, gpointer source, gpointer task_data,
                          GCancellable *cancellable)
{
  HrPcaProjection *self = source;
  HrPcaPass p = { self, NULL, NULL, 0.0, 1.0, g_task_get_context (task), NULL, NULL, NULL, 0 };
  GError *error = NULL;
  gboolean ok;

  ok = hr_pca_projection_run_internal (self, &p, cancellable, &error);
  hr_run_task_return (task, &self->running, ok, error);
}

/**
 * hr_pca_projection_run_async:
 * @self: a #HrPcaProjection
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the pass is over
 * @user_data: data for @callback
 *
 * Runs the pass in a worker thread. #HrPcaProjection:progress is notified in the
 * thread-default main context of the calling thread; cancelling @cancellable stops the
 * pass within one chunk. Do not change the projection or read its source while it runs.
 *
 * Since: 0.2
 */
void
hr_pca_projection_run_async (HrPcaProjection *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (HR_IS_PCA_PROJECTION (self));
  g_return_if_fail (!g_atomic_int_get (&self->running));

  hr_run_task_start (self, &self->running, &self->progress, properties[PROP_PROGRESS], cancellable,
                     callback, user_data, hr_pca_projection_run_async, hr_pca_projection_thread);
}

/**
 * hr_pca_projection_run_finish:
 * @self: a #HrPcaProjection
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Finishes hr_pca_projection_run_async().
 *
 * Returns: %TRUE on success
 *
 * Since: 0.2
 */
gboolean
hr_pca_projection_run_finish (HrPcaProjection *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return hr_run_task_finish (self, result, &self->progress, properties[PROP_PROGRESS], error);
}

/**
 * hr_pca_projection_get_progress:
 * @self: a #HrPcaProjection
 *
 * Gets the value of the #HrPcaProjection:progress property.
 *
 * Returns: #HrPcaProjection:progress
 *
 * Since: 0.2
 */
double
hr_pca_projection_get_progress (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), 0.0);
  return self->progress;
}

/**
 * hr_pca_projection_is_done:
 * @self: a #HrPcaProjection
 *
 * Tells whether a run has finished and its coordinates can be read.
 *
 * Returns: whether there are coordinates
 *
 * Since: 0.2
 */
gboolean
hr_pca_projection_is_done (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), FALSE);
  return self->done && !g_atomic_int_get (&self->running);
}

/**
 * hr_pca_projection_get_n_samples:
 * @self: a #HrPcaProjection
 *
 * Gets N, the number of rows of the coordinates: every sample of the source.
 *
 * Returns: N, or 0 before a run
 *
 * Since: 0.2
 */
guint64
hr_pca_projection_get_n_samples (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), 0);
  return hr_pca_projection_is_done (self) ? self->n_samples : 0;
}

/**
 * hr_pca_projection_get_n_dropped:
 * @self: a #HrPcaProjection
 *
 * Gets the number of samples that hold NaN or infinite values and so have NaN
 * coordinates.
 *
 * Returns: the number of samples left out
 *
 * Since: 0.2
 */
guint64
hr_pca_projection_get_n_dropped (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), 0);
  return hr_pca_projection_is_done (self) ? self->n_dropped : 0;
}

/**
 * hr_pca_projection_get_coordinates:
 * @self: a #HrPcaProjection
 *
 * Gets the coordinates: N × k float32 values in native byte order, row-major, one row per
 * sample of the source (from Python:
 * `numpy.frombuffer (bytes.get_data (), numpy.float32).reshape (-1, k)`).
 *
 * Returns: (transfer full) (nullable): the coordinates, or %NULL before a run
 *
 * Since: 0.2
 */
GBytes *
hr_pca_projection_get_coordinates (HrPcaProjection *self)
{
  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), NULL);
  if (!hr_pca_projection_is_done (self))
    return NULL;
  return g_bytes_new (self->coordinates, (gsize)self->n_samples
                                             * hr_principal_axes_get_n_axes (self->axes)
                                             * sizeof (float));
}

/**
 * hr_pca_projection_get_coordinates_into: (skip)
 * @self: a #HrPcaProjection
 * @first: the first sample
 * @n_rows: how many samples
 * @dest: room for @dest_len float32 values, at least @n_rows × k
 * @dest_len: the number of float32 values @dest holds
 * @error: return location for a #GError, or %NULL
 *
 * Copies the coordinates of samples @first to @first + @n_rows − 1 into the caller's
 * memory (a numpy array, through ctypes, as hr_source_read_rows_into()).
 *
 * Returns: %TRUE; %FALSE with %HR_ANALYSIS_ERROR_INVALID before a run, when the rows run
 *   past N, or when @dest is too small
 *
 * Since: 0.2
 */
gboolean
hr_pca_projection_get_coordinates_into (HrPcaProjection *self, guint64 first, gsize n_rows,
                                        float *dest, gsize dest_len, GError **error)
{
  gsize k;

  g_return_val_if_fail (HR_IS_PCA_PROJECTION (self), FALSE);
  g_return_val_if_fail (dest != NULL || dest_len == 0, FALSE);

  if (!hr_pca_projection_is_done (self))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("the projection has not run yet"));
      return FALSE;
    }
  k = hr_principal_axes_get_n_axes (self->axes);
  if (first > self->n_samples || n_rows > self->n_samples - first || n_rows > dest_len / MAX (k, 1))
    {
      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                   _ ("rows %" PRIu64 " + %zu of %" PRIu64
                      " coordinates do not fit or do not exist (%zu values of room)"),
                   first, n_rows, self->n_samples, dest_len);
      return FALSE;
    }
  memcpy (dest, self->coordinates + first * k, n_rows * k * sizeof (float));
  return TRUE;
}
