/* headrank: internal declarations of the sources layer (lib/sources/): the fields of
 * HrStackInfo, the non-finite accounting, and the TIFF reader and writer behind the sources */
#pragma once

#include "hr-feature-stack.h"
#include "hr-source.h"
#include "hr-stack-info.h"
#include "hr-types.h"

#include <gio/gio.h>

G_BEGIN_DECLS

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
gboolean hr_tiff_source_decodes (HrTiffSource *src);
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

G_END_DECLS
