/* headrank: a stage's rank in words, for the report's verdict and the command's tables
 * (report layer, private; the command links its own copy, lib/meson.build) */
#pragma once

#include "hr-spectrum.h"

G_BEGIN_DECLS

char *hr_rank_range_text (HrSpectrum *sp, const char *dash);

G_END_DECLS
