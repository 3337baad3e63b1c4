/* headrank: a stage's name and rank in words, for the report and the command's tables
 * (report layer, private; the command links its own copy, lib/meson.build) */
#pragma once

#include "hr-spectrum.h"
#include "hr-analysis.h"

G_BEGIN_DECLS

char *hr_rank_range_text (HrSpectrum *sp, const char *dash);
char *hr_stage_label (HrStage *stage);

G_END_DECLS
