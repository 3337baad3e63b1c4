/* headrank: the analysis of a stack through a projection head */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-contrastive.h"
#include "hr-head.h"
#include "hr-moments.h"
#include "hr-pairs.h"
#include "hr-spectrum.h"
#include "hr-stack-reader.h"
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HrStageRole:
 * @HR_STAGE_ROLE_FEATURES: the input of the head: the features
 * @HR_STAGE_ROLE_HIDDEN: the output of a layer inside the head
 * @HR_STAGE_ROLE_PROJECTIONS: the output of the head: the projections
 *
 * Where a stage sits in the head.
 */
typedef enum
{
  HR_STAGE_ROLE_FEATURES,
  HR_STAGE_ROLE_HIDDEN,
  HR_STAGE_ROLE_PROJECTIONS,
} HrStageRole;

/**
 * HrVerdictFlags:
 * @HR_VERDICT_NONE: nothing to report, or nothing could be compared
 * @HR_VERDICT_REDUCES_RANK: the projections have a lower numerical rank than the features,
 *   by more than the ranks' uncertainty (the highest rank the projections can have is below
 *   the lowest of the features): what a healthy head does. Before 0.2 also set when only
 *   the effective rank went down (that is now %HR_VERDICT_KEEPS_RANK with
 *   %HR_VERDICT_REDUCES_EFFECTIVE_RANK)
 * @HR_VERDICT_INFLATES_RANK: the projections have a higher numerical rank than the features,
 *   by more than the ranks' uncertainty
 * @HR_VERDICT_INFLATES_EFFECTIVE_RANK: the projections have a higher effective rank (RankMe)
 *   than the features, by more than 1 %
 * @HR_VERDICT_CLIPPING: more than half of an activation layer's outputs lie in its clipping
 *   region (hr_stage_get_clipping_measure(): exactly zero after a ReLU, below zero after
 *   GELU, SiLU or LeakyReLU, saturated after Tanh)
 * @HR_VERDICT_DEAD_UNITS: an activation layer or the projections have units that are zero for
 *   every sample
 * @HR_VERDICT_COLLAPSED: the projections have collapsed: the standard deviation of the
 *   L2-normalised projections, averaged over dimensions, is below a tenth of the 1/√d of
 *   a healthy head, or their numerical rank is at most 1 (the top of its range) where
 *   they have at least 3 samples and 2 dimensions
 * @HR_VERDICT_KEEPS_RANK: the ranks of the features and the projections are equal within
 *   their uncertainty (their ranges overlap). Since: 0.2
 * @HR_VERDICT_REDUCES_EFFECTIVE_RANK: the projections have a lower effective rank (RankMe)
 *   than the features, by more than 1 %. Since: 0.2
 * @HR_VERDICT_USES_ALL_DIMENSIONS: the head maps into fewer dimensions than the features'
 *   rank and the projections use all of them: their rank is the largest possible,
 *   min(d, N − 1), beyond its uncertainty. Since: 0.2
 *
 * What the analysis concludes about the head (see hr_analysis_get_verdict()). Each flag's
 * name in report.json's `verdict.flags` is its nick with underscores (`reduces-rank`:
 * `reduces_rank`), the same in every language.
 */
typedef enum /*< flags >*/
{
  HR_VERDICT_NONE = 0,
  HR_VERDICT_REDUCES_RANK = 1 << 0,
  HR_VERDICT_INFLATES_RANK = 1 << 1,
  HR_VERDICT_INFLATES_EFFECTIVE_RANK = 1 << 2,
  HR_VERDICT_CLIPPING = 1 << 3,
  HR_VERDICT_DEAD_UNITS = 1 << 4,
  HR_VERDICT_COLLAPSED = 1 << 5,
  HR_VERDICT_KEEPS_RANK = 1 << 6,
  HR_VERDICT_REDUCES_EFFECTIVE_RANK = 1 << 7,
  HR_VERDICT_USES_ALL_DIMENSIONS = 1 << 8,
} HrVerdictFlags;

/**
 * HrNonfinitePolicy:
 * @HR_NONFINITE_POLICY_DROP: leave out every sample (row) that holds a NaN or an infinity,
 *   count them, and say so in the verdict (the default)
 * @HR_NONFINITE_POLICY_ERROR: fail with %HR_ANALYSIS_ERROR_NON_FINITE at the first such
 *   value, naming where it is
 *
 * What an analysis does with samples that hold NaN or infinite values. Either way a
 * feature column that is non-finite in every sample is an error that names it.
 *
 * Since: 0.2
 */
typedef enum
{
  HR_NONFINITE_POLICY_DROP,
  HR_NONFINITE_POLICY_ERROR,
} HrNonfinitePolicy;

/**
 * HrPerSampleFormat:
 * @HR_PER_SAMPLE_FORMAT_CSV: `per_sample.csv`, plain text (about 115 bytes a sample
 *   with a head of two layers)
 * @HR_PER_SAMPLE_FORMAT_CSV_GZIP: `per_sample.csv.gz`, the same CSV compressed with gzip
 *   (GIO's #GZlibCompressor), which pandas (`read_csv`), R and most CSV readers open directly
 * @HR_PER_SAMPLE_FORMAT_NONE: no per-sample table (the summaries in `report.json` and the
 *   figures still cover every sample)
 *
 * How the report writes its per-sample table (hr_analysis_set_per_sample_format());
 * `report.json` says which in `outputs.per_sample`.
 *
 * Since: 0.2
 */
typedef enum
{
  HR_PER_SAMPLE_FORMAT_CSV,
  HR_PER_SAMPLE_FORMAT_CSV_GZIP,
  HR_PER_SAMPLE_FORMAT_NONE,
} HrPerSampleFormat;

/**
 * HR_PER_SAMPLE_COLUMNS:
 *
 * The number of float32 values per sample in hr_stage_get_per_sample(): the sample's mean
 * across dimensions, its standard deviation across dimensions (ddof 0), its L2 norm and the
 * fraction of its values that are exactly zero.
 */
#define HR_PER_SAMPLE_COLUMNS 4

#define HR_TYPE_STAGE (hr_stage_get_type ())

HR_AVAILABLE_IN_0_1
G_DECLARE_FINAL_TYPE (HrStage, hr_stage, HR, STAGE, GObject)

HR_AVAILABLE_IN_0_1
const char *hr_stage_get_name (HrStage *stage);
HR_AVAILABLE_IN_0_1
HrStageRole hr_stage_get_role (HrStage *stage);
HR_AVAILABLE_IN_0_1
int hr_stage_get_layer (HrStage *stage);
HR_AVAILABLE_IN_0_1
HrLayerKind hr_stage_get_layer_kind (HrStage *stage);
HR_AVAILABLE_IN_0_1
gsize hr_stage_get_dimension (HrStage *stage);
HR_AVAILABLE_IN_0_1
HrMoments *hr_stage_get_moments (HrStage *stage);
HR_AVAILABLE_IN_0_1
HrSpectrum *hr_stage_get_spectrum (HrStage *stage);
HR_AVAILABLE_IN_0_1
gboolean hr_stage_get_per_sample_into (HrStage *stage, guint64 first, gsize n_samples,
                                       float *values, GError **error);
HR_AVAILABLE_IN_0_1
GBytes *hr_stage_get_per_sample (HrStage *stage, GError **error);
HR_AVAILABLE_IN_0_1
guint64 hr_stage_get_n_samples (HrStage *stage);
HR_AVAILABLE_IN_0_2
const char *hr_stage_get_clipping_measure (HrStage *stage);
HR_AVAILABLE_IN_0_2
GBytes *hr_stage_get_clipped_fraction (HrStage *stage);
HR_AVAILABLE_IN_0_2
double hr_stage_get_mean_clipped_fraction (HrStage *stage);
HR_AVAILABLE_IN_0_2
guint hr_stage_get_n_always_clipped (HrStage *stage);
HR_AVAILABLE_IN_0_2
HrSpectrum *hr_stage_get_normalized_spectrum (HrStage *stage);
HR_AVAILABLE_IN_0_2
double hr_stage_get_cka (HrStage *stage);

#define HR_TYPE_ANALYSIS (hr_analysis_get_type ())

HR_AVAILABLE_IN_0_2
G_DECLARE_FINAL_TYPE (HrAnalysis, hr_analysis, HR, ANALYSIS, GObject)

HR_AVAILABLE_IN_0_1
HrAnalysis *hr_analysis_new (HrStackReader *features);
HR_AVAILABLE_IN_0_2
HrAnalysis *hr_analysis_new_for_source (HrSource *features);
HR_AVAILABLE_IN_0_2
HrSource *hr_analysis_get_source (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
void hr_analysis_set_projections_source (HrAnalysis *self, HrSource *projections);
HR_AVAILABLE_IN_0_2
HrSource *hr_analysis_get_projections_source (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
void hr_analysis_set_positives_source (HrAnalysis *self, HrSource *positives);

HR_DEPRECATED_IN_0_2_FOR (hr_analysis_get_source)
HrStackReader *hr_analysis_get_features (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_head (HrAnalysis *self, HrHead *head);
HR_AVAILABLE_IN_0_1
HrHead *hr_analysis_get_head (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_projections (HrAnalysis *self, HrStackReader *projections);
HR_DEPRECATED_IN_0_2_FOR (hr_analysis_get_projections_source)
HrStackReader *hr_analysis_get_projections (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_norm_mode (HrAnalysis *self, HrNormMode mode);
HR_AVAILABLE_IN_0_1
HrNormMode hr_analysis_get_norm_mode (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_batch_size (HrAnalysis *self, gsize batch_size);
HR_AVAILABLE_IN_0_1
gsize hr_analysis_get_batch_size (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_precision (HrAnalysis *self, HrPrecision precision);
HR_AVAILABLE_IN_0_2
void hr_analysis_set_nonfinite_policy (HrAnalysis *self, HrNonfinitePolicy policy);
HR_AVAILABLE_IN_0_2
HrNonfinitePolicy hr_analysis_get_nonfinite_policy (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_spectral_stages (HrAnalysis *self, const char *const *names);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_pairs_file (HrAnalysis *self, const char *path);
HR_AVAILABLE_IN_0_2
void hr_analysis_set_pairs (HrAnalysis *self, HrPairs *pairs);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_positives (HrAnalysis *self, HrStackReader *positives);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_log_plots (HrAnalysis *self, gboolean log);
HR_AVAILABLE_IN_0_1
gboolean hr_analysis_get_log_plots (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
void hr_analysis_set_per_sample_format (HrAnalysis *self, HrPerSampleFormat format);
HR_AVAILABLE_IN_0_2
HrPerSampleFormat hr_analysis_get_per_sample_format (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
gboolean hr_analysis_has_per_sample (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
void hr_analysis_set_contrastive_parameters (HrAnalysis *self, gsize batch_size, double temperature,
                                             double margin);

HR_AVAILABLE_IN_0_1
gboolean hr_analysis_run (HrAnalysis *self, HrProgressFunc progress, gpointer progress_data,
                          GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_1
void hr_analysis_run_async (HrAnalysis *self, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
HR_AVAILABLE_IN_0_1
gboolean hr_analysis_run_finish (HrAnalysis *self, GAsyncResult *result, GError **error);
HR_AVAILABLE_IN_0_1
double hr_analysis_get_progress (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
gboolean hr_analysis_is_done (HrAnalysis *self);

HR_AVAILABLE_IN_0_1
guint hr_analysis_get_n_stages (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
HrStage *hr_analysis_get_stage (HrAnalysis *self, guint index);
HR_AVAILABLE_IN_0_1
HrStage *hr_analysis_find_stage (HrAnalysis *self, const char *name);
HR_AVAILABLE_IN_0_1
HrContrastive *hr_analysis_get_contrastive (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
HrPairs *hr_analysis_get_pairs (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
HrSource *hr_analysis_get_positives_source (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
guint64 hr_analysis_get_n_pairs_skipped (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
guint64 hr_analysis_get_n_dropped (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
guint64 hr_analysis_get_n_nonfinite (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
HrVerdictFlags hr_analysis_get_verdict (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
char **hr_analysis_describe_verdict (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
void hr_analysis_set_standardize (HrAnalysis *self, gboolean standardize);
HR_AVAILABLE_IN_0_2
gboolean hr_analysis_get_standardize (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
void hr_analysis_set_memory_limit (HrAnalysis *self, guint64 bytes);
HR_AVAILABLE_IN_0_2
guint64 hr_analysis_get_memory_limit (HrAnalysis *self);
HR_AVAILABLE_IN_0_2
double hr_analysis_get_lidar (HrAnalysis *self);
HR_AVAILABLE_IN_0_1
char *hr_analysis_to_json (HrAnalysis *self, gboolean pretty);
HR_AVAILABLE_IN_0_1
gboolean hr_analysis_write_report (HrAnalysis *self, const char *directory,
                                   GCancellable *cancellable, GError **error);

G_END_DECLS
