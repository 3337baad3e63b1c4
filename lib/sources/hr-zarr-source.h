/* headrank: a source over an array of a zarr store */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <gio/gio.h>
#include "hr-source.h"
#include "hr-version-macros.h"

G_BEGIN_DECLS

#define HR_TYPE_ZARR_SOURCE (hr_zarr_source_get_type ())

HR_AVAILABLE_IN_0_2
G_DECLARE_FINAL_TYPE (HrZarrSource, hr_zarr_source, HR, ZARR_SOURCE, HrSource)

HR_AVAILABLE_IN_0_2
HrSource *hr_zarr_source_new (const char *path, const char *array, GError **error);
HR_AVAILABLE_IN_0_2
HrSource *hr_zarr_source_open_projections (const char *path, GError **error);
HR_AVAILABLE_IN_0_2
const char *hr_zarr_source_get_layout (HrZarrSource *source);
HR_AVAILABLE_IN_0_2
const char *hr_zarr_source_get_store (HrZarrSource *source);
HR_AVAILABLE_IN_0_2
const char *hr_zarr_source_get_array (HrZarrSource *source);

G_END_DECLS
