/* headrank: what the report's writer and its readers share (report layer, private) */
#pragma once

/* 2 (0.2): the head schema of doc/json.md (head.source became file, prefix and the prose of
 * description; in_features and out_features on the head; bias on its layers) */
#define HR_REPORT_FORMAT 2

#include "hr-plot.h"

gboolean hr_report_write_figure (HrFigure *fig, const char *directory, const char *name,
                                 GError **error);
