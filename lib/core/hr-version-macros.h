/* headrank: symbol visibility and availability per version */
#pragma once

#if !defined(__HEADRANK_H_INSIDE__) && !defined(HEADRANK_COMPILATION)
#error "Only <headrank.h> can be included directly."
#endif

#include <glib.h>
#include "hr-version.h"

/* What every public declaration starts with: exported from the library when it is being
 * built, a plain extern declaration for its users. */
#ifndef _HR_EXTERN
#if defined(_WIN32) && defined(HEADRANK_COMPILATION)
#define _HR_EXTERN __declspec(dllexport) extern
#elif defined(HEADRANK_COMPILATION) && defined(__GNUC__)
#define _HR_EXTERN __attribute__ ((visibility ("default"))) extern
#else
#define _HR_EXTERN extern
#endif
#endif

/**
 * HR_AVAILABLE_IN_ALL:
 *
 * Marks a declaration that is available whatever `HR_VERSION_MIN_REQUIRED` and
 * `HR_VERSION_MAX_ALLOWED` say: the `_get_type()` functions of the enumerations, as
 * GIO marks those of its own.
 *
 * Since: 0.2
 */
#define HR_AVAILABLE_IN_ALL _HR_EXTERN

/* The library itself, and programs that ask for it, see no deprecation warnings. */
#if defined(HR_DISABLE_DEPRECATION_WARNINGS) || defined(HEADRANK_COMPILATION)
#define _HR_DEPRECATED _HR_EXTERN
#define _HR_DEPRECATED_FOR(f) _HR_EXTERN
#define _HR_UNAVAILABLE(maj, min) _HR_EXTERN
#else
#define _HR_DEPRECATED G_DEPRECATED _HR_EXTERN
#define _HR_DEPRECATED_FOR(f) G_DEPRECATED_FOR (f) _HR_EXTERN
#define _HR_UNAVAILABLE(maj, min) G_UNAVAILABLE (maj, min) _HR_EXTERN
#endif

/* Each release that adds or deprecates API adds a version here, and a block of
 * HR_AVAILABLE_IN_ and HR_DEPRECATED_IN_ macros below. */

/**
 * HR_VERSION_0_1:
 *
 * The encoded form of headrank version 0.1, for `HR_VERSION_MIN_REQUIRED` and
 * `HR_VERSION_MAX_ALLOWED`: the first API.
 *
 * Since: 0.2
 */
#define HR_VERSION_0_1 (G_ENCODE_VERSION (0, 1))

/**
 * HR_VERSION_0_2:
 *
 * The encoded form of headrank version 0.2, for `HR_VERSION_MIN_REQUIRED` and
 * `HR_VERSION_MAX_ALLOWED`: sources, zarr stores and the version macros.
 *
 * Since: 0.2
 */
#define HR_VERSION_0_2 (G_ENCODE_VERSION (0, 2))

/**
 * HR_VERSION_CUR_STABLE:
 *
 * The encoded form of the version of the headers being compiled against (major and
 * minor).
 *
 * Since: 0.2
 */
#define HR_VERSION_CUR_STABLE (G_ENCODE_VERSION (HR_MAJOR_VERSION, HR_MINOR_VERSION))

/**
 * HR_VERSION_PREV_STABLE:
 *
 * The encoded form of the version before `HR_VERSION_CUR_STABLE`.
 *
 * Since: 0.2
 */
#if HR_MINOR_VERSION > 0
#define HR_VERSION_PREV_STABLE (G_ENCODE_VERSION (HR_MAJOR_VERSION, HR_MINOR_VERSION - 1))
#else
#define HR_VERSION_PREV_STABLE (G_ENCODE_VERSION (HR_MAJOR_VERSION - 1, 0))
#endif

/**
 * HR_VERSION_MIN_REQUIRED:
 *
 * Defined by a program before it includes `headrank.h` (or with `-D` on the compiler's
 * command line), to one of the `HR_VERSION_` macros such as `HR_VERSION_0_1`: the
 * oldest headrank the program is to work with. Functions deprecated in a later version
 * than this one are used without a warning. The default is `HR_VERSION_MAX_ALLOWED`
 * when a program defines only that one (a program limited to the API of 0.1 is not
 * warned about what 0.2 deprecated), and `HR_VERSION_CUR_STABLE` otherwise: every
 * deprecation warns.
 *
 * Since: 0.2
 */
#ifndef HR_VERSION_MIN_REQUIRED
#if defined(HR_VERSION_MAX_ALLOWED) && HR_VERSION_MAX_ALLOWED < HR_VERSION_CUR_STABLE
#define HR_VERSION_MIN_REQUIRED (HR_VERSION_MAX_ALLOWED)
#else
#define HR_VERSION_MIN_REQUIRED (HR_VERSION_CUR_STABLE)
#endif
#endif

/**
 * HR_VERSION_MAX_ALLOWED:
 *
 * Defined by a program before it includes `headrank.h` (or with `-D` on the compiler's
 * command line), to one of the `HR_VERSION_` macros such as `HR_VERSION_0_1`: the
 * newest API the program may use. Using a function added after it gives a compiler
 * warning ("Not available before 0.2"), so that a program meant for an older headrank
 * does not depend on a newer one by accident. The default is
 * `HR_VERSION_MIN_REQUIRED` when that is newer than `HR_VERSION_PREV_STABLE`, and
 * `HR_VERSION_CUR_STABLE` otherwise.
 *
 * Since: 0.2
 */
#ifndef HR_VERSION_MAX_ALLOWED
#if HR_VERSION_MIN_REQUIRED > HR_VERSION_PREV_STABLE
#define HR_VERSION_MAX_ALLOWED (HR_VERSION_MIN_REQUIRED)
#else
#define HR_VERSION_MAX_ALLOWED (HR_VERSION_CUR_STABLE)
#endif
#endif

/* sanity checks */
#if HR_VERSION_MIN_REQUIRED > HR_VERSION_CUR_STABLE
#error "HR_VERSION_MIN_REQUIRED must be <= HR_VERSION_CUR_STABLE"
#endif
#if HR_VERSION_MAX_ALLOWED < HR_VERSION_MIN_REQUIRED
#error "HR_VERSION_MAX_ALLOWED must be >= HR_VERSION_MIN_REQUIRED"
#endif
#if HR_VERSION_MIN_REQUIRED < HR_VERSION_0_1
#error "HR_VERSION_MIN_REQUIRED must be >= HR_VERSION_0_1"
#endif

/* 0.1 */
/**
 * HR_DEPRECATED_IN_0_1:
 *
 * Marks a declaration deprecated in headrank 0.1: a warning when
 * `HR_VERSION_MIN_REQUIRED` is 0.1 or newer.
 *
 * Since: 0.2
 */
/**
 * HR_DEPRECATED_IN_0_1_FOR:
 * @f: the function to use instead
 *
 * Marks a declaration deprecated in headrank 0.1 for @f: a warning that names @f when
 * `HR_VERSION_MIN_REQUIRED` is 0.1 or newer.
 *
 * Since: 0.2
 */
/**
 * HR_AVAILABLE_IN_0_1:
 *
 * Marks a declaration added in headrank 0.1: a warning ("Not available before 0.1")
 * when `HR_VERSION_MAX_ALLOWED` is older than 0.1.
 *
 * Since: 0.2
 */
#if HR_VERSION_MIN_REQUIRED >= HR_VERSION_0_1
#define HR_DEPRECATED_IN_0_1 _HR_DEPRECATED
#define HR_DEPRECATED_IN_0_1_FOR(f) _HR_DEPRECATED_FOR (f)
#else
#define HR_DEPRECATED_IN_0_1 _HR_EXTERN
#define HR_DEPRECATED_IN_0_1_FOR(f) _HR_EXTERN
#endif

#if HR_VERSION_MAX_ALLOWED < HR_VERSION_0_1
#define HR_AVAILABLE_IN_0_1 _HR_UNAVAILABLE (0, 1)
#else
#define HR_AVAILABLE_IN_0_1 _HR_EXTERN
#endif

/* 0.2 */
/**
 * HR_DEPRECATED_IN_0_2:
 *
 * Marks a declaration deprecated in headrank 0.2: a warning when
 * `HR_VERSION_MIN_REQUIRED` is 0.2 or newer.
 *
 * Since: 0.2
 */
/**
 * HR_DEPRECATED_IN_0_2_FOR:
 * @f: the function to use instead
 *
 * Marks a declaration deprecated in headrank 0.2 for @f: a warning that names @f when
 * `HR_VERSION_MIN_REQUIRED` is 0.2 or newer.
 *
 * Since: 0.2
 */
/**
 * HR_AVAILABLE_IN_0_2:
 *
 * Marks a declaration added in headrank 0.2: a warning ("Not available before 0.2")
 * when `HR_VERSION_MAX_ALLOWED` is older than 0.2.
 *
 * Since: 0.2
 */
#if HR_VERSION_MIN_REQUIRED >= HR_VERSION_0_2
#define HR_DEPRECATED_IN_0_2 _HR_DEPRECATED
#define HR_DEPRECATED_IN_0_2_FOR(f) _HR_DEPRECATED_FOR (f)
#else
#define HR_DEPRECATED_IN_0_2 _HR_EXTERN
#define HR_DEPRECATED_IN_0_2_FOR(f) _HR_EXTERN
#endif

#if HR_VERSION_MAX_ALLOWED < HR_VERSION_0_2
#define HR_AVAILABLE_IN_0_2 _HR_UNAVAILABLE (0, 2)
#else
#define HR_AVAILABLE_IN_0_2 _HR_EXTERN
#endif
