/* headrank: internal declarations of the analysis layer (lib/analysis/) for the report */
#pragma once

#include "hr-analysis.h"
#include "hr-head.h"
#include "hr-types.h"

G_BEGIN_DECLS

/* Whether @stage is the output of one of the head's activation layers (hr-analysis.c). */
gboolean hr_stage_is_activation (HrStage *stage);
/* The NaN and infinite values of @stage's input, without those that mark a sample dropped
 * because the other stack's row of it holds one (hr-analysis.c). */
guint64 hr_stage_get_n_nonfinite_of_input (HrStage *stage);

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

G_END_DECLS
