/* headrank: what the files of the analysis (hr-analysis*.c, hr-stage.c, hr-sample-table.c)
 * share and nothing else includes: the fields of HrAnalysis and HrStage, the sample table,
 * the pass. The report uses hr-analysis-private.h. */
#pragma once

#include "hr-analysis.h"
#include "hr-contrastive.h"
#include "hr-head.h"
#include "hr-measures-private.h"
#include "hr-moments.h"
#include "hr-pairs.h"
#include "hr-pool.h"
#include "hr-source.h"
#include "hr-spectrum.h"

#include <gio/gio.h>

G_BEGIN_DECLS

/* The progress of a run in a worker thread on its way to the caller's main context: the
 * latest value, and whether a delivery is in flight (one at a time; it takes the latest). */
typedef struct
{
  GMutex lock;
  double latest; /* guarded by lock */
  gint pending;  /* atomic */
} HrProgressMailbox;

typedef struct
{
  int fd;
  guint64 n_rows; /* rows written, buffered ones included */
  guint64 n_flushed;
  float *buffer; /* HR_TABLE_BUFFER × HR_PER_SAMPLE_COLUMNS */
  gsize n_buffered;
} HrSampleTable;

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
  guint64 *clipped;    /* activations: per unit, the samples in the clipping region */
  guint64 clip_rows;   /* the samples counted there */
  guint64 *clip_parts; /* scratch: per part of a chunk split over threads, D counts */
  guint clip_n_parts;  /* the parts it is allocated for */
  /* a ReLU's: its moments' zero counts and dropped rows before a chunk */
  guint64 *clip_zeros;
  guint64 clip_dropped;
  gboolean clip_from_zeros;

  /* wide stages (N < D): the finite rows kept, for the N × N Gram matrices */
  float *rows;
  guint64 n_rows_kept;
  /* the projections: the moments of their L2-normalised rows (what the loss sees) */
  HrMoments *normalized;
  HrSpectrum *normalized_spectrum;
  float *normalized_scratch;
  /* linear CKA with the features, from cross-moments: accumulated in the pass, or, with
   * cross_source set, mapped after it from that stage's by the affine layers between */
  HrCrossMoments *cross;
  HrStage *cross_source; /* not owned: a stage before this one, or the features */
  double cka;
  /* for the CKA of the stages after it: ‖YᵀY‖_F over scatter_n finite rows (from the
   * scatter matrix, or from the kept rows of a wide stage), set with the spectrum */
  double scatter_norm;
  guint64 scatter_n;
  guint64 n_marked; /* NaN values set by hr_drop_together(), not the input's */
  /* merged from parts (hr-partial.c): the errors of the values, as the parts computed them */
  gboolean has_errors;
  double relative_error, absolute_error;
};

/* The contrastive accumulators of a part (hr-partial.c, doc/partial.md): the sums over the
 * pairs whose anchor lies in the part, and what the merge checks and the report says. */
typedef struct
{
  gboolean positives; /* aligned positives (--positives), not a list of pairs */
  char *source;       /* the pair file or store, or the positives' source name; or NULL */
  guint32 origin;     /* HrPairsOrigin of a list */
  gint64 dt;
  char **columns;
  guint64 n_rows, n_rows_missing;
  char *checksum;   /* SHA-256 of the list's indices (global numbering), NULL for positives */
  guint64 n_listed; /* pairs in the list */
  guint64 n_taken;  /* pairs whose anchor lies in the part */
  guint64 n_skipped;
  guint64 batch_size;
  double temperature, margin;
  gboolean has_negatives;
  HrContrastiveSums sums;
  HrLidarSums *lidar; /* NULL: not computed (the memory limit) */
} HrPartPairs;

void hr_part_pairs_free (HrPartPairs *pp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrPartPairs, hr_part_pairs_free)

struct _HrAnalysis
{
  GObject parent_instance;

  HrSource *features;
  HrHead *head;
  HrSource *projections;
  HrSource *positives;
  char *pairs_file;
  HrPairs *pairs;
  HrNormMode mode;
  gsize batch_size;
  HrPrecision precision;
  char **spectral_stages;
  gsize pair_batch;
  double temperature;
  double margin;
  gboolean log_plots;
  HrPerSampleFormat per_sample_format;
  HrNonfinitePolicy nonfinite_policy;
  gboolean standardize;
  guint64 memory_limit; /* 0: half the physical memory */
  gboolean partial;     /* the run writes a part (hr-partial.c) into part, not results */
  GBytes *part;
  guint64 first_sample;    /* a part's first sample in the numbering of its pairs */
  HrPartPairs *part_pairs; /* a part's contrastive accumulators, from the pass */
  gboolean no_tables;      /* merged from parts without per-sample tables */

  /* results */
  double lidar;
  GPtrArray *stages;
  HrContrastive *contrastive;
  HrPairs *pairs_used; /* the pairs of the last run (read from the file, or self->pairs) */
  guint64 n_pairs_skipped;
  guint64 n_dropped;
  guint64 n_nonfinite;
  HrVerdictFlags verdict;
  gboolean done;
  gint running; /* atomic: an asynchronous run's worker clears it when it is done */

  /* progress, delivered in the caller's main context */
  double progress;
  HrProgressMailbox mailbox;
};

/* Whether a run is under way; an asynchronous run's worker clears it from its thread. */
static inline gboolean
hr_analysis_running (HrAnalysis *self)
{
  return g_atomic_int_get (&self->running);
}

typedef struct
{
  HrAnalysis *self;
  HrProgressFunc func; /* synchronous runs */
  gpointer func_data;
  double from, to;       /* the part of the whole that the current step covers */
  GMainContext *context; /* asynchronous runs: the caller's, where progress is notified */
} HrProgress;

/* hr-analysis.c */
void hr_analysis_clear_results (HrAnalysis *self);
void hr_progress_report (double fraction, gpointer data);

/* hr-sample-table.c */
void hr_sample_table_free (HrSampleTable *t);
HrSampleTable *hr_sample_table_new (GError **error);
/* Appends the statistics of sample @sample, NaN for the samples skipped since the last. */
gboolean hr_sample_table_put (HrSampleTable *t, guint64 sample, const float *values,
                              GError **error);

gboolean hr_sample_table_finish (HrSampleTable *t, guint64 n_rows, GError **error);
gboolean hr_sample_table_read (HrSampleTable *t, guint64 first, gsize n, float *out,
                               GError **error);

/* hr-stage.c */
/* Counts, per unit, the rows of an activation stage in its clipping region. */
void hr_stage_clipping_before (HrStage *stage);
void hr_stage_count_clipping (HrStage *stage, const float *x, gsize n, HrPool *pool);

HrStage *hr_stage_new (const char *name, HrStageRole role, int layer, HrLayerKind kind,
                       gsize dimension, guint64 n_samples, gboolean wants_spectrum);

/* hr-analysis-pass.c */
/* The memory bound of the spectra: the one set, or half the physical memory. */
guint64 hr_analysis_memory_limit (HrAnalysis *self);

gboolean hr_analysis_run_internal (HrAnalysis *self, HrProgress *progress,
                                   GCancellable *cancellable, GError **error);
/* The tables, spectra and CKA of the stages, after the pass or the merge of parts. */
gboolean hr_analysis_compute_stages (HrAnalysis *self, GPtrArray *stages, HrStage *features,
                                     HrProgress *progress, GCancellable *cancellable,
                                     GError **error);
/* The verdict, once the stages are in self->stages. */
void hr_analysis_judge (HrAnalysis *self);
/* The errors r and a of a stage's values, each off by at most r·|y| + a. */
double hr_stage_relative_error (HrAnalysis *self, HrStage *stage);
double hr_stage_absolute_error (HrAnalysis *self, HrStage *stage);

/* The asynchronous runs of HrAnalysis and HrPcaProjection: objects with an atomic running
 * flag and a progress property. hr_run_task_start() marks the object running, resets the
 * progress to 0 and runs @thread in a worker; the worker ends with hr_run_task_return(), which
 * clears the flag before the task returns (so a result dropped unread leaves nothing running);
 * hr_run_task_finish() propagates the result and sets the progress to 1 on success. */
void hr_run_task_start (gpointer self, gint *running, double *progress, GParamSpec *pspec,
                        GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data,
                        gpointer source_tag, GTaskThreadFunc thread);
void hr_run_task_return (GTask *task, gint *running, gboolean ok, GError *error);
/* In the worker: puts @value in @mailbox and, unless a delivery is in flight, has @deliver
 * called with a reference to @object in @context. @deliver calls hr_progress_deliver(). */
void hr_progress_post (HrProgressMailbox *mailbox, double value, GMainContext *context,
                       GSourceFunc deliver, gpointer object);
/* In the caller's context: the latest value of @mailbox into *@progress, notifying @pspec
 * of @object when it changed. */
void hr_progress_deliver (HrProgressMailbox *mailbox, gpointer object, double *progress,
                          GParamSpec *pspec);
gboolean hr_run_task_finish (gpointer self, GAsyncResult *result, double *progress,
                             GParamSpec *pspec, GError **error);

/* hr-pairs.c: pairs that describe where the pairs of merged parts came from, without their
 * indices */
HrPairs *hr_pairs_new_described (HrPairsOrigin origin, const char *path, gint64 dt,
                                 const char *const *columns, guint64 n_rows, guint64 n_rows_missing,
                                 gboolean has_negatives);

/* hr-partial.c */
/* Writes the accumulators of the stages after the pass into self->part. */
gboolean hr_analysis_write_part_internal (HrAnalysis *self, GPtrArray *stages, GError **error);

G_END_DECLS
