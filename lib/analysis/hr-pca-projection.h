/* headrank: samples projected onto a stage's principal axes, streamed from a source */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-analysis.h"
#include "hr-head.h"
#include "hr-principal-axes.h"
#include "hr-source.h"
#include "hr-types.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_PCA_PROJECTION (hr_pca_projection_get_type ())

HR_AVAILABLE_IN_0_2
G_DECLARE_FINAL_TYPE (HrPcaProjection, hr_pca_projection, HR, PCA_PROJECTION, GObject)

HR_AVAILABLE_IN_0_2
HrPcaProjection *hr_pca_projection_new (HrSource *source, guint n_axes);
HR_AVAILABLE_IN_0_2
HrPcaProjection *hr_pca_projection_new_for_stage (HrAnalysis *analysis, const char *stage,
                                                  guint n_axes, GError **error);
HR_AVAILABLE_IN_0_2
gboolean hr_pca_projection_set_head (HrPcaProjection *self, HrHead *head, const char *stage,
                                     HrNormMode mode, gsize batch_size, GError **error);
HR_AVAILABLE_IN_0_2
void hr_pca_projection_set_axes (HrPcaProjection *self, HrPrincipalAxes *axes);
HR_AVAILABLE_IN_0_2
HrPrincipalAxes *hr_pca_projection_get_axes (HrPcaProjection *self);
HR_AVAILABLE_IN_0_2
HrSource *hr_pca_projection_get_source (HrPcaProjection *self);
HR_AVAILABLE_IN_0_2
const char *hr_pca_projection_get_stage (HrPcaProjection *self);
HR_AVAILABLE_IN_0_2
guint hr_pca_projection_get_n_axes (HrPcaProjection *self);

HR_AVAILABLE_IN_0_2
gboolean hr_pca_projection_run (HrPcaProjection *self, HrProgressFunc progress,
                                gpointer progress_data, GCancellable *cancellable, GError **error);
HR_AVAILABLE_IN_0_2
void hr_pca_projection_run_async (HrPcaProjection *self, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
HR_AVAILABLE_IN_0_2
gboolean hr_pca_projection_run_finish (HrPcaProjection *self, GAsyncResult *result, GError **error);
HR_AVAILABLE_IN_0_2
double hr_pca_projection_get_progress (HrPcaProjection *self);
HR_AVAILABLE_IN_0_2
gboolean hr_pca_projection_is_done (HrPcaProjection *self);

HR_AVAILABLE_IN_0_2
guint64 hr_pca_projection_get_n_samples (HrPcaProjection *self);
HR_AVAILABLE_IN_0_2
guint64 hr_pca_projection_get_n_dropped (HrPcaProjection *self);
HR_AVAILABLE_IN_0_2
GBytes *hr_pca_projection_get_coordinates (HrPcaProjection *self);
HR_AVAILABLE_IN_0_2
gboolean hr_pca_projection_get_coordinates_into (HrPcaProjection *self, guint64 first, gsize n_rows,
                                                 float *dest, gsize dest_len, GError **error);

G_END_DECLS
