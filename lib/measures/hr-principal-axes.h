/* headrank: the principal axes of a stage: the leading eigenvectors of its covariance */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib-object.h>
#include "hr-moments.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_PRINCIPAL_AXES (hr_principal_axes_get_type ())

typedef struct _HrPrincipalAxes HrPrincipalAxes;

HR_AVAILABLE_IN_0_2
GType hr_principal_axes_get_type (void) G_GNUC_CONST;

HR_AVAILABLE_IN_0_2
HrPrincipalAxes *hr_principal_axes_new (guint64 n_samples, gsize dimension, const double *mean,
                                        const double *scatter, guint n_axes, GError **error);
HR_AVAILABLE_IN_0_2
HrPrincipalAxes *hr_principal_axes_new_from_bytes (guint64 n_samples, gsize dimension, GBytes *mean,
                                                   GBytes *scatter, guint n_axes, GError **error);
HR_AVAILABLE_IN_0_2
HrPrincipalAxes *hr_principal_axes_new_from_moments (HrMoments *moments, guint n_axes,
                                                     GError **error);
HR_AVAILABLE_IN_0_2
HrPrincipalAxes *hr_principal_axes_ref (HrPrincipalAxes *self);
HR_AVAILABLE_IN_0_2
void hr_principal_axes_unref (HrPrincipalAxes *self);

HR_AVAILABLE_IN_0_2
guint64 hr_principal_axes_get_n_samples (HrPrincipalAxes *self);
HR_AVAILABLE_IN_0_2
gsize hr_principal_axes_get_dimension (HrPrincipalAxes *self);
HR_AVAILABLE_IN_0_2
guint hr_principal_axes_get_n_axes (HrPrincipalAxes *self);
HR_AVAILABLE_IN_0_2
const double *hr_principal_axes_get_mean (HrPrincipalAxes *self, gsize *n_values);
HR_AVAILABLE_IN_0_2
const double *hr_principal_axes_get_components (HrPrincipalAxes *self, gsize *n_values);
HR_AVAILABLE_IN_0_2
GBytes *hr_principal_axes_get_components_bytes (HrPrincipalAxes *self);
HR_AVAILABLE_IN_0_2
const double *hr_principal_axes_get_explained_variance (HrPrincipalAxes *self, gsize *n_values);
HR_AVAILABLE_IN_0_2
const double *hr_principal_axes_get_explained_variance_ratio (HrPrincipalAxes *self,
                                                              gsize *n_values);

HR_AVAILABLE_IN_0_2
void hr_principal_axes_project (HrPrincipalAxes *self, const float *rows, gsize n_rows,
                                float *coordinates);
HR_AVAILABLE_IN_0_2
GBytes *hr_principal_axes_project_bytes (HrPrincipalAxes *self, GBytes *rows, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrPrincipalAxes, hr_principal_axes_unref)

G_END_DECLS
