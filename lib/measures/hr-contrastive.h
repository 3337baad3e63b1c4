/* headrank: contrastive measures on positive pairs */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib-object.h>
#include "hr-version-macros.h"

G_BEGIN_DECLS

/**
 * HR_PAIRS_NO_NEGATIVE:
 *
 * The negative index of a pair read from a two-column pair file: the largest #guint64.
 */
#define HR_PAIRS_NO_NEGATIVE G_MAXUINT64

#define HR_TYPE_CONTRASTIVE (hr_contrastive_get_type ())

typedef struct _HrContrastive HrContrastive;

HR_AVAILABLE_IN_0_1
GType hr_contrastive_get_type (void) G_GNUC_CONST;

HR_AVAILABLE_IN_0_1
HrContrastive *hr_contrastive_new (const float *anchors, const float *positives,
                                   const float *negatives, gsize n_pairs, gsize dimension,
                                   gsize batch_size, double temperature, double margin,
                                   GError **error);
HR_AVAILABLE_IN_0_1
HrContrastive *hr_contrastive_new_from_bytes (GBytes *anchors, GBytes *positives, GBytes *negatives,
                                              gsize dimension, gsize batch_size, double temperature,
                                              double margin, GError **error);
HR_AVAILABLE_IN_0_1
HrContrastive *hr_contrastive_ref (HrContrastive *self);
HR_AVAILABLE_IN_0_1
void hr_contrastive_unref (HrContrastive *self);

HR_AVAILABLE_IN_0_1
gsize hr_contrastive_get_n_pairs (HrContrastive *self);
HR_AVAILABLE_IN_0_1
gsize hr_contrastive_get_batch_size (HrContrastive *self);
HR_AVAILABLE_IN_0_1
double hr_contrastive_get_temperature (HrContrastive *self);
HR_AVAILABLE_IN_0_1
double hr_contrastive_get_margin (HrContrastive *self);
HR_AVAILABLE_IN_0_1
gboolean hr_contrastive_has_negatives (HrContrastive *self);
HR_AVAILABLE_IN_0_1
double hr_contrastive_get_alignment (HrContrastive *self);
HR_AVAILABLE_IN_0_1
double hr_contrastive_get_uniformity (HrContrastive *self);
HR_AVAILABLE_IN_0_1
double hr_contrastive_get_ntxent (HrContrastive *self);
HR_AVAILABLE_IN_0_1
double hr_contrastive_get_triplet (HrContrastive *self);
HR_AVAILABLE_IN_0_1
double hr_contrastive_get_positive_cosine (HrContrastive *self);
HR_AVAILABLE_IN_0_1
double hr_contrastive_get_negative_cosine (HrContrastive *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HrContrastive, hr_contrastive_unref)

HR_AVAILABLE_IN_0_1
gboolean hr_pairs_read (const char *path, guint64 n_samples, guint64 **indices, gsize *n_pairs,
                        gboolean *has_negatives, GError **error);
HR_AVAILABLE_IN_0_1
GBytes *hr_pairs_read_bytes (const char *path, guint64 n_samples, gsize *n_pairs,
                             gboolean *has_negatives, GError **error);

G_END_DECLS
