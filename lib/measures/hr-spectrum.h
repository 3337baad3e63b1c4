/* headrank: the eigenvalue spectrum of a stage and the rank measures read from it */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib-object.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_SPECTRUM (hr_spectrum_get_type ())

typedef struct _HrSpectrum HrSpectrum;

HR_AVAILABLE_IN_0_1
GType hr_spectrum_get_type (void) G_GNUC_CONST;

HR_AVAILABLE_IN_0_1
HrSpectrum *hr_spectrum_new (guint64 n_samples, gsize dimension, const double *mean,
                             const double *scatter, GError **error);
HR_AVAILABLE_IN_0_1
HrSpectrum *hr_spectrum_new_from_bytes (guint64 n_samples, gsize dimension, GBytes *mean,
                                        GBytes *scatter, GError **error);
HR_AVAILABLE_IN_0_2
HrSpectrum *hr_spectrum_new_with_errors (guint64 n_samples, gsize dimension, const double *mean,
                                         const double *scatter, double value_error,
                                         double scatter_error, GError **error);
HR_AVAILABLE_IN_0_2
HrSpectrum *hr_spectrum_new_from_bytes_with_errors (guint64 n_samples, gsize dimension,
                                                    GBytes *mean, GBytes *scatter,
                                                    double value_error, double scatter_error,
                                                    GError **error);
HR_AVAILABLE_IN_0_1
HrSpectrum *hr_spectrum_ref (HrSpectrum *self);
HR_AVAILABLE_IN_0_1
void hr_spectrum_unref (HrSpectrum *self);

HR_AVAILABLE_IN_0_1
guint64 hr_spectrum_get_n_samples (HrSpectrum *self);
HR_AVAILABLE_IN_0_1
gsize hr_spectrum_get_dimension (HrSpectrum *self);
HR_AVAILABLE_IN_0_1
gsize hr_spectrum_get_n_components (HrSpectrum *self);

HR_AVAILABLE_IN_0_1
const double *hr_spectrum_get_eigenvalues (HrSpectrum *self, gsize *n_values);
HR_AVAILABLE_IN_0_1
const double *hr_spectrum_get_explained_variance_ratio (HrSpectrum *self, gsize *n_values);
HR_AVAILABLE_IN_0_1
const double *hr_spectrum_get_cumulative_explained_variance (HrSpectrum *self, gsize *n_values);
HR_AVAILABLE_IN_0_1
const double *hr_spectrum_get_singular_values (HrSpectrum *self, gsize *n_values);
HR_AVAILABLE_IN_0_1
const double *hr_spectrum_get_uncentred_singular_values (HrSpectrum *self, gsize *n_values);

HR_AVAILABLE_IN_0_1
double hr_spectrum_get_tolerance (HrSpectrum *self);
HR_AVAILABLE_IN_0_1
double hr_spectrum_get_uncentred_tolerance (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
double hr_spectrum_get_value_error (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
double hr_spectrum_get_scatter_error (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
double hr_spectrum_get_eigensolver_error (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
double hr_spectrum_get_noise_floor (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
gboolean hr_spectrum_is_tolerance_raised (HrSpectrum *self);
HR_AVAILABLE_IN_0_1
guint hr_spectrum_get_rank (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
void hr_spectrum_get_rank_range (HrSpectrum *self, guint *low, guint *high);
HR_AVAILABLE_IN_0_1
guint hr_spectrum_get_matrix_rank (HrSpectrum *self);
HR_AVAILABLE_IN_0_1
double hr_spectrum_get_effective_rank (HrSpectrum *self);
HR_AVAILABLE_IN_0_1
double hr_spectrum_get_participation_ratio (HrSpectrum *self);
HR_AVAILABLE_IN_0_1
guint hr_spectrum_get_components (HrSpectrum *self, double fraction);
HR_AVAILABLE_IN_0_1
double hr_spectrum_get_alpha (HrSpectrum *self, guint *first, guint *last, double *r_squared);

HR_AVAILABLE_IN_0_2
HrSpectrum *hr_spectrum_new_from_rows (guint64 n_samples, gsize dimension, const float *rows,
                                       gboolean standardize, GError **error);
HR_AVAILABLE_IN_0_2
HrSpectrum *hr_spectrum_new_from_row_bytes (gsize dimension, GBytes *rows, gboolean standardize,
                                            GError **error);
HR_AVAILABLE_IN_0_2
double hr_spectrum_get_viscy_effective_rank (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
double hr_spectrum_get_roy_vetterli_effective_rank (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
double hr_spectrum_get_stable_rank (HrSpectrum *self);
HR_AVAILABLE_IN_0_2
double hr_spectrum_get_nesum (HrSpectrum *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrSpectrum, hr_spectrum_unref)

G_END_DECLS
