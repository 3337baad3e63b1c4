/* headrank: see what a projection head does to the rank of embeddings */
#pragma once

#define __HEADRANK_H_INSIDE__

#include "hr-version.h"
#include "hr-version-macros.h"
#include "hr-version-query.h"
#include "hr-threads.h"
#include "hr-types.h"
#include "hr-enum-types.h"
#include "hr-error.h"
#include "hr-stack-info.h"
#include "hr-feature-stack.h"
#include "hr-source.h"
#include "hr-stack-reader.h"
#include "hr-memory-source.h"
#include "hr-concat-source.h"
#include "hr-range-source.h"
#include "hr-zarr-source.h"
#include "hr-obs-column.h"
#include "hr-stack-writer.h"
#include "hr-tensor-file.h"
#include "hr-head.h"
#include "hr-moments.h"
#include "hr-moments-merge.h"
#include "hr-partial.h"
#include "hr-contrastive.h"
#include "hr-pairs.h"
#include "hr-spectrum.h"
#include "hr-principal-axes.h"
#include "hr-analysis.h"
#include "hr-pca-projection.h"
#include "hr-comparison.h"

#undef __HEADRANK_H_INSIDE__
