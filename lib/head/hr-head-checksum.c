/* headrank: the SHA-256 of a head's layers, which parts compare (doc/partial.md) */
#include "hr-private.h"
#include "hr-head-private.h"

#include "hr-head-internal.h"

#include <string.h>

static void
hr_sum_u64 (GChecksum *sha, guint64 v)
{
  v = GUINT64_TO_LE (v);
  g_checksum_update (sha, (const guchar *)&v, sizeof v);
}

static void
hr_sum_f64 (GChecksum *sha, double v)
{
  guint64 bits;

  memcpy (&bits, &v, sizeof bits);
  hr_sum_u64 (sha, bits);
}

static void
hr_sum_floats (GChecksum *sha, const float *v, gsize n)
{
  hr_sum_u64 (sha, v != NULL ? n : G_MAXUINT64);
  for (gsize i = 0; v != NULL && i < n; i++)
    {
      guint32 bits;

      memcpy (&bits, v + i, sizeof bits);
      bits = GUINT32_TO_LE (bits);
      g_checksum_update (sha, (const guchar *)&bits, sizeof bits);
    }
}

char *
hr_head_compute_checksum (HrHead *head)
{
  g_autoptr (GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);

  hr_sum_u64 (sha, head->layers->len);
  for (guint i = 0; i < head->layers->len; i++)
    {
      const HrLayer *l = g_ptr_array_index (head->layers, i);
      gsize n_weight = l->kind == HR_LAYER_LINEAR ? l->out * l->in : l->out;

      hr_sum_u64 (sha, l->kind);
      g_checksum_update (sha, (const guchar *)l->name, (gssize)strlen (l->name) + 1);
      hr_sum_u64 (sha, l->in);
      hr_sum_u64 (sha, l->out);
      hr_sum_floats (sha, l->weight, n_weight);
      hr_sum_floats (sha, l->bias, l->out);
      hr_sum_floats (sha, l->running_mean, l->out);
      hr_sum_floats (sha, l->running_var, l->out);
      hr_sum_f64 (sha, l->eps);
      hr_sum_f64 (sha, l->slope);
    }
  return g_strdup (g_checksum_get_string (sha));
}
