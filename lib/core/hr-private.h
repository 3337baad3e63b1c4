/* headrank: internal declarations shared by the library's files */
#pragma once

#include "config.h"
#include "headrank.h"

#include <glib/gi18n-lib.h>

G_BEGIN_DECLS

/* The library's translations are bound on first use (as GLib's ggettext.c does), so that
 * a program that links headrank need not call bindtextdomain for us. */
const char *hr_gettext (const char *msgid) G_GNUC_FORMAT (1);
#undef _
#define _(String) hr_gettext (String)

struct _HrStackInfo
{
  gatomicrefcount ref_count;
  char *path;
  HrStackLayout layout;
  HrSampleFormat sample_format;
  char *compression;
  char *metadata_kind;
  guint n_pages;
  guint width;
  guint height;
  guint depth;
  guint frames;
  guint channels;
  gboolean per_pixel;
  gboolean tiled;
  gboolean big_endian;
  gboolean bigtiff;
};

HrStackInfo *hr_stack_info_new_internal (void);
const char *hr_sample_format_to_string (HrSampleFormat format);
const char *hr_stack_layout_to_string (HrStackLayout layout);

/* Counts non-finite values and remembers where the first HR_NONFINITE_MAX_POSITIONS are,
 * as flat indices sample × n_features + feature. */
typedef struct
{
  guint64 count;
  guint64 positions[HR_NONFINITE_MAX_POSITIONS];
} HrNonfinite;

void hr_nonfinite_scan (HrNonfinite *acc, const float *data, gsize n_values, guint64 first_index);
gsize hr_nonfinite_n_positions (const HrNonfinite *acc);

/* Internal constructor: takes ownership of @data (g_free'd, or aligned storage freed by
 * @free_func) and of a reference to @info. */
HrFeatureStack *hr_feature_stack_new_take (float *data, gsize n_samples, gsize n_features,
                                           HrStackInfo *info, const HrNonfinite *nonfinite);

/* Checks that @text (@length bytes) is one JSON object or array in strict JSON (no
 * comments, no single quotes, nothing after it) nested at most @max_depth levels deep,
 * before json-glib's recursive parser sees it (hr-json.c). Returns -1, or the offset of the
 * first offending byte with *@too_deep telling whether the depth was the problem. */
gssize hr_json_prescan (const char *text, gsize length, guint max_depth, gboolean *too_deep);
/* FALSE with an error naming @source when its number of samples is unknown (hr-source.c). */
gboolean hr_source_check_known_length (HrSource *source, GError **error);

/* The name of the source that holds @sample, *@sample made relative to it: the file of a
 * concatenation's sample, for messages (hr-concat-source.c). */
const char *hr_source_locate_sample (HrSource *source, guint64 *sample);

/* The TIFF side (hr-tiff.c). */
typedef struct _HrTiffSource HrTiffSource;

HrTiffSource *hr_tiff_source_open (const char *path, HrStackLayout layout,
                                   GCancellable *cancellable, GError **error);
void hr_tiff_source_free (HrTiffSource *src);
HrStackInfo *hr_tiff_source_get_info (HrTiffSource *src);
gsize hr_tiff_source_get_n_samples (HrTiffSource *src);
gsize hr_tiff_source_get_n_features (HrTiffSource *src);
gsize hr_tiff_source_get_preferred_chunk (HrTiffSource *src);
gboolean hr_tiff_source_check_whole_read (HrTiffSource *src, GError **error);
gboolean hr_tiff_source_read (HrTiffSource *src, gsize first_sample, gsize n_samples, float *out,
                              GCancellable *cancellable, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrTiffSource, hr_tiff_source_free)

/* Writing (hr-tiff-write.c): a float32 TIFF written to a temporary file beside @path and
 * renamed into place by hr_tiff_sink_commit(). */
typedef struct _HrTiffSink HrTiffSink;

HrTiffSink *hr_tiff_sink_new (const char *path, HrStackLayout layout, gsize n_samples,
                              gsize n_features, HrStackInfo *geometry, GError **error);
gboolean hr_tiff_sink_append (HrTiffSink *sink, const float *rows, gsize n_rows, GError **error);
gboolean hr_tiff_sink_commit (HrTiffSink *sink, GError **error);
void hr_tiff_sink_free (HrTiffSink *sink);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrTiffSink, hr_tiff_sink_free)

/* ReLU, GELU (both forms), SiLU, LeakyReLU or Tanh (hr-head.c). */
gboolean hr_layer_kind_is_activation (HrLayerKind kind);

/* hr_moments_add() with four floats per row: mean, std, norm and fraction of exact zeros
 * (hr-moments.c). */
void hr_moments_add_with_zeros (HrMoments *moments, const float *rows, gsize n_rows,
                                float *per_sample);

/* The mean over the dimensions of the fraction of samples that are exactly zero; NaN
 * before any sample (hr-moments.c). */
double hr_moments_get_mean_zero_fraction (HrMoments *moments);

/* Whether @stage is the output of one of the head's activation layers (hr-analysis.c). */
gboolean hr_stage_is_activation (HrStage *stage);
/* The NaN and infinite values of @stage's input, without those that mark a sample dropped
 * because the other stack's row of it holds one (hr-analysis.c). */
guint64 hr_stage_get_n_nonfinite_of_input (HrStage *stage);

/* The analysis' pass over a stack through a head (hr-head.c). */
typedef gboolean (*HrChunkFunc) (const float *features, gsize n_rows, const guint64 *samples,
                                 const float *const *stages, gpointer user_data, GError **error);

gboolean hr_head_stream (HrHead *head, HrSource *reader, HrNormMode mode, gsize batch_size,
                         const gboolean *keep, HrChunkFunc func, gpointer user_data,
                         guint64 *n_dropped, guint64 *n_nonfinite, HrProgressFunc progress,
                         gpointer progress_data, GCancellable *cancellable, GError **error);

/* ‖X‖_F of the raw N × D matrix from its mean and scatter matrix (hr-spectrum.c). */
double hr_moments_frobenius_norm (guint64 n_samples, gsize dimension, const double *mean,
                                  const double *scatter);

/* The unit roundoff of values stored as @format (hr-analysis.c). */
double hr_sample_format_unit_roundoff (HrSampleFormat format);

/* The absolute rounding error of a value stored as @format: half its subnormal spacing
 * (hr-analysis.c). */
double hr_sample_format_absolute_error (HrSampleFormat format);

/* The absolute error of a value of layer @layer of @head (−1: its input), @a0 that of its
 * input (hr-analysis.c). */
double hr_head_absolute_error (HrHead *head, int layer, double a0);

/* The relative error of the output of layer @layer of @head, @r0 that of its input
 * (hr-analysis.c). */
double hr_head_relative_error (HrHead *head, int layer, double r0);

/* Whether a stage's spectrum came from its rows and the N × N Gram matrices (hr-analysis.c). */
gboolean hr_stage_spectrum_is_from_rows (HrStage *stage);

/* hr_spectrum_new_from_rows() for values with a relative error of @relative_error each
 * (hr-spectrum.c). */
HrSpectrum *hr_spectrum_new_from_rows_with_error (guint64 n_samples, gsize dimension,
                                                  const float *rows, gboolean standardize,
                                                  double relative_error, double absolute_error,
                                                  GError **error);

/* The spectrum of the correlation matrix, from the mean and the scatter matrix, for values
 * with a relative error of @relative_error and a scatter matrix off by @scatter_error
 * (hr-spectrum.c). */
HrSpectrum *hr_spectrum_new_standardized (guint64 n_samples, gsize dimension, const double *mean,
                                          const double *scatter, double relative_error,
                                          double absolute_error, double scatter_error,
                                          GError **error);

G_END_DECLS
