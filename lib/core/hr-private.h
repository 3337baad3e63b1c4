/* headrank: internal declarations of every layer of the library: config.h, translations
 * and the strict JSON check. It names no public header: each file includes those it uses. */
#pragma once

#include "config.h"

#include <glib.h>
#include <glib/gi18n-lib.h>
#include <string.h>

G_BEGIN_DECLS

/* The library's translations are bound on first use (as GLib's ggettext.c does), so that
 * a program that links headrank need not call bindtextdomain for us. */
const char *hr_gettext (const char *msgid) G_GNUC_FORMAT (1);
#undef _
#define _(String) hr_gettext (String)

/* Checks that @text (@length bytes) is one JSON object or array in strict JSON (no
 * comments, no single quotes, nothing after it) nested at most @max_depth levels deep,
 * before json-glib's recursive parser sees it (hr-json.c). Returns -1, or the offset of the
 * first offending byte with *@too_deep telling whether the depth was the problem. */
gssize hr_json_prescan (const char *text, gsize length, guint max_depth, gboolean *too_deep);

/* @n zeroed elements of @size bytes, written now, or NULL where memory runs out: for the
 * large accumulators that are read before they are first written (S += P, `dsyrk` with
 * β = 1). Not calloc's pages: those are mapped to the kernel's shared zero page on the first
 * read, and the write after it takes a copy-on-write fault whose TLB flush interrupts the
 * process's other running threads (measured on a 60,000 × 768 analysis, 2 threads: 1.3 %
 * of the CPU time, in `native_write_msr` under `flush_tlb_mm_range` from `do_wp_page`). */
static inline gpointer
hr_try_zeroed (gsize n, gsize size)
{
  gpointer p = g_try_malloc_n (n, size);

  if (p != NULL)
    memset (p, 0, n * size);
  return p;
}

/* As hr_try_zeroed(), aborting where memory runs out, as g_new0() does. */
static inline gpointer
hr_zeroed (gsize n, gsize size)
{
  gpointer p = g_malloc_n (n, size);

  if (p != NULL) /* NULL for n = 0 */
    memset (p, 0, n * size);
  return p;
}

G_END_DECLS

/* A second copy of a hot loop for AVX2 on x86-64, chosen when the library is loaded (GCC's
 * target_clones): twice the values per instruction of the baseline's SSE2 for code written
 * with 32-byte vectors. Not under clang: clang 14 left the cloned symbol undefined in
 * libheadrank.so (the fuzz build). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)    \
    && defined(__ELF__)
#if __has_attribute(target_clones)
#define HR_AVX2_CLONES __attribute__ ((target_clones ("avx2", "default")))
/* The same with a copy for x86-64-v3 (AVX2 and FMA), in which a·b + c may be fused into one
 * FMA (one rounding instead of two: never a worse bound), for loops whose float64
 * arithmetic is bound by the additions: a product and the sum it goes into then issue as
 * one instruction on the multiply units. The baseline copy rounds twice, as C11 says. */
#define HR_FMA_CLONES                                                                              \
  __attribute__ ((target_clones ("arch=x86-64-v3", "default"), optimize ("fp-contract=fast")))
#endif
#endif
#ifndef HR_AVX2_CLONES
#define HR_AVX2_CLONES
#endif
#ifndef HR_FMA_CLONES
#define HR_FMA_CLONES
#endif
