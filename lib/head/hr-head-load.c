/* headrank: projection heads: loading a head from a PyTorch state dict (safetensors) */
#include "hr-private.h"
#include "hr-head.h"

#include "hr-head-internal.h"
#include "hr-head-prefixes.h"
#include "hr-head-private.h"
#include "hr-tensor-file.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

/* -- loading from a state dict ----------------------------------------------------------- */

typedef struct
{
  char *name; /* module name under the prefix */
  HrLayerKind kind;
  char *weight, *bias, *running_mean, *running_var; /* tensor names, NULL when absent */
} HrModule;

static void
hr_module_free (gpointer data)
{
  HrModule *m = data;

  g_free (m->name);
  g_free (m->weight);
  g_free (m->bias);
  g_free (m->running_mean);
  g_free (m->running_var);
  g_free (m);
}

/* Whether a module name is a sequential index ("0", "12"); at most 9 digits, so that
 * index + 1 cannot overflow. */
gboolean
hr_is_integer (const char *s)
{
  gsize n = 0;

  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++, n++)
    if (!g_ascii_isdigit (*s) || n >= 9)
      return FALSE;
  return TRUE;
}

/* The trailing number of a module name ("fc12" → 12), or -1. */
static gint64
hr_trailing_number (const char *s)
{
  const char *end = s + strlen (s), *p = end;

  while (p > s && g_ascii_isdigit (p[-1]))
    p--;
  return p < end ? g_ascii_strtoll (p, NULL, 10) : -1;
}

static int
hr_module_compare (gconstpointer a, gconstpointer b)
{
  const HrModule *ma = *(HrModule *const *)a, *mb = *(HrModule *const *)b;
  gint64 na = hr_trailing_number (ma->name), nb = hr_trailing_number (mb->name);
  gboolean ia = hr_is_integer (ma->name), ib = hr_is_integer (mb->name);

  if (ia && ib)
    return na < nb ? -1 : na > nb;
  if (na != nb)
    return na < nb ? -1 : 1;
  /* fc1 before bn1: the Linear comes first in a block */
  if ((ma->kind == HR_LAYER_LINEAR) != (mb->kind == HR_LAYER_LINEAR))
    return ma->kind == HR_LAYER_LINEAR ? -1 : 1;
  return strcmp (ma->name, mb->name);
}

/* The modules of the tensors under @prefix, classified and in order; NULL (and no error)
 * when the prefix holds no tensor, NULL with @error when it holds something else. */
static GPtrArray *
hr_collect_modules (HrTensorFile *tf, const char *prefix, GError **error)
{
  g_auto (GStrv) names = hr_tensor_file_get_names (tf);
  g_autoptr (GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) modules = g_ptr_array_new_with_free_func (hr_module_free);
  gsize prefix_len = strlen (prefix);
  const char *path = hr_tensor_file_get_path (tf);

  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *rest, *dot, *param;
      g_autofree char *module_name = NULL;
      HrModule *m;

      if (!g_str_has_prefix (names[i], prefix))
        continue;
      rest = names[i] + prefix_len;
      dot = strrchr (rest, '.');
      if (dot == NULL || dot == rest)
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: tensor %s is not a parameter of a module under “%s”"), path,
                       names[i], prefix);
          return NULL;
        }
      module_name = g_strndup (rest, dot - rest);
      if (strchr (module_name, '.') != NULL)
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: tensor %s lies deeper than the modules of a head under “%s”"), path,
                       names[i], prefix);
          return NULL;
        }
      param = dot + 1;
      m = g_hash_table_lookup (by_name, module_name);
      if (m == NULL)
        {
          m = g_new0 (HrModule, 1);
          m->name = g_steal_pointer (&module_name);
          g_ptr_array_add (modules, m);
          g_hash_table_insert (by_name, m->name, m);
        }
      if (strcmp (param, "weight") == 0)
        m->weight = g_strdup (names[i]);
      else if (strcmp (param, "bias") == 0)
        m->bias = g_strdup (names[i]);
      else if (strcmp (param, "running_mean") == 0)
        m->running_mean = g_strdup (names[i]);
      else if (strcmp (param, "running_var") == 0)
        m->running_var = g_strdup (names[i]);
      else if (strcmp (param, "num_batches_tracked") == 0)
        ;
      else
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: tensor %s is not a parameter of a Linear or a norm layer"), path,
                       names[i]);
          return NULL;
        }
    }
  if (modules->len == 0)
    return NULL;

  for (guint i = 0; i < modules->len; i++)
    {
      HrModule *m = g_ptr_array_index (modules, i);
      gsize n_dims = 0;

      if (m->weight != NULL)
        hr_tensor_file_get_shape (tf, m->weight, &n_dims);
      if (m->running_mean != NULL || m->running_var != NULL)
        m->kind = HR_LAYER_BATCH_NORM;
      else if (m->weight != NULL && n_dims == 2)
        m->kind = HR_LAYER_LINEAR;
      else if (m->weight != NULL && n_dims == 1)
        m->kind = HR_LAYER_LAYER_NORM;
      else
        {
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: module %s%s is neither a Linear (2-D weight) nor a norm layer"),
                       path, prefix, m->name);
          return NULL;
        }
    }
  g_ptr_array_sort (modules, hr_module_compare);
  return g_steal_pointer (&modules);
}

/**
 * hr_head_list_known_prefixes:
 *
 * The prefixes under which a head's tensors are looked for first, in order
 * (`model.projection.backbone.`, `projection.backbone.`, `model.projection.`, `projection.`,
 * `backbone.`). The list is data/head-prefixes.txt of the source tree, compiled in; that
 * file, which tools/extract-head.py reads too, says how heads elsewhere are found (see
 * hr_head_find_prefixes()).
 *
 * Returns: (transfer none) (array zero-terminated=1): the known prefixes
 *
 * Since: 0.2
 */
const char *const *
hr_head_list_known_prefixes (void)
{
  return hr_known_prefixes;
}

/* Whether the modules of a candidate prefix form a head: Linear and norm layers, starting
 * with a Linear, whose widths chain, with at least @min_linear Linear layers. */
static gboolean
hr_modules_chain (HrTensorFile *tf, GPtrArray *modules, guint min_linear)
{
  guint n_linear = 0;
  gint64 width = -1;

  for (guint i = 0; i < modules->len; i++)
    {
      const HrModule *m = g_ptr_array_index (modules, i);
      gsize n_dims = 0;
      const gint64 *shape;

      if (m->kind == HR_LAYER_LINEAR)
        {
          shape = hr_tensor_file_get_shape (tf, m->weight, &n_dims);
          if (n_dims != 2 || (width >= 0 && shape[1] != width))
            return FALSE;
          width = shape[0];
          n_linear++;
        }
      else
        {
          const char *t = m->running_mean != NULL ? m->running_mean : m->weight;

          if (i == 0 || t == NULL)
            return FALSE;
          if ((gint64)hr_tensor_file_get_n_elements (tf, t) != width)
            return FALSE;
        }
    }
  return n_linear >= min_linear;
}

/* Whether modules @a and @b (consecutive in hr_module_compare()'s order) are ordered by
 * their names: sequential indices, different trailing numbers, or within one number a
 * Linear and a norm (fc1 before bn1). Otherwise only the alphabet orders them. */
static gboolean
hr_modules_named_apart (const HrModule *a, const HrModule *b)
{
  return (hr_is_integer (a->name) && hr_is_integer (b->name))
         || hr_trailing_number (a->name) != hr_trailing_number (b->name)
         || (a->kind == HR_LAYER_LINEAR) != (b->kind == HR_LAYER_LINEAR);
}

/* The orders of @modules, permuting only [@first, @end) (Heap's algorithm), whose widths
 * chain (hr_modules_chain()); the first such order is kept in @best. Returns how many. */
static guint
hr_modules_count_chains (HrTensorFile *tf, GPtrArray *modules, guint first, guint end,
                         gpointer *best)
{
  guint n = end - first, count = 0, c[8] = { 0 }, i = 1;
  gpointer *m = modules->pdata + first;

  if (hr_modules_chain (tf, modules, 1))
    {
      memcpy (best, modules->pdata, modules->len * sizeof (gpointer));
      count++;
    }
  while (i < n)
    {
      if (c[i] < i)
        {
          guint j = i % 2 == 0 ? 0 : c[i];
          gpointer t = m[j];

          m[j] = m[i];
          m[i] = t;
          if (hr_modules_chain (tf, modules, 1) && count++ == 0)
            memcpy (best, modules->pdata, modules->len * sizeof (gpointer));
          c[i]++;
          i = 1;
        }
      else
        c[i++] = 0;
    }
  return count;
}

/* Puts modules that only the alphabet orders (proj_in, proj_out: no number tells them
 * apart) in the one order whose widths chain; an error that names two of them when more
 * than one order chains, or when there are more than HR_MAX_UNORDERED of them. Where none
 * does, the order stays as it was, for the errors of the layers that do not fit. */
#define HR_MAX_UNORDERED 6

static gboolean
hr_modules_resolve_order (HrTensorFile *tf, GPtrArray *modules, const char *prefix, GError **error)
{
  g_autofree gpointer *best = g_new (gpointer, modules->len);
  gpointer saved[HR_MAX_UNORDERED];

  for (guint first = 0, end; first < modules->len; first = end)
    {
      guint count;

      for (end = first + 1; end < modules->len
                            && !hr_modules_named_apart (g_ptr_array_index (modules, end - 1),
                                                        g_ptr_array_index (modules, end));
           end++)
        ;
      if (end - first == 1)
        continue;
      if (end - first > HR_MAX_UNORDERED)
        count = G_MAXUINT; /* too many orders to try */
      else
        {
          memcpy (saved, modules->pdata + first, (end - first) * sizeof (gpointer));
          count = hr_modules_count_chains (tf, modules, first, end, best);
        }
      if (count == 1)
        memcpy (modules->pdata, best, modules->len * sizeof (gpointer));
      else if (count > 1)
        {
          const HrModule *a = g_ptr_array_index (modules, first),
                         *b = g_ptr_array_index (modules, first + 1);

          /* TRANSLATORS: %s are the file, then the prefix and a module name, twice */
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                       _ ("%s: the names of modules %s%s and %s%s do not say which comes first "
                          "(a head's modules are ordered by the numbers in their names: 0, 1, 2 "
                          "or fc1, bn1, fc2); rename their tensors so that they do"),
                       hr_tensor_file_get_path (tf), prefix, a->name, prefix, b->name);
          return FALSE;
        }
      else /* as it was: Heap's algorithm leaves it permuted */
        memcpy (modules->pdata + first, saved, (end - first) * sizeof (gpointer));
    }
  return TRUE;
}

/* Whether the modules under @prefix form a head (hr_modules_chain()) in their order, or in
 * more than one order that their names leave open (an error for hr_find_modules() to give). */
static gboolean
hr_prefix_holds_head (HrTensorFile *tf, const char *prefix, guint min_linear)
{
  g_autoptr (GPtrArray) modules = hr_collect_modules (tf, prefix, NULL);

  if (modules == NULL)
    return FALSE;
  if (!hr_modules_resolve_order (tf, modules, prefix, NULL))
    return TRUE;
  return hr_modules_chain (tf, modules, min_linear);
}

static int
hr_compare_prefixes (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* Whether a path has a component that is a number ("blocks.3.mlp."). */
static gboolean
hr_prefix_has_index (const char *prefix)
{
  g_auto (GStrv) parts = g_strsplit (prefix, ".", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    if (hr_is_integer (parts[i]))
      return TRUE;
  return FALSE;
}

/**
 * hr_head_find_prefixes:
 * @weights: the tensors of a state dict
 *
 * Finds the projection heads in a state dict: the known prefixes
 * (hr_head_list_known_prefixes()) under which Linear and norm modules lie, at least one of
 * them a Linear; then any other parent of modules that are all Linear or norm layers, at
 * least two of them Linear layers whose widths chain, with no deeper tensors under it and
 * no number in its path (which marks one block of an encoder's repeated stack) —
 * `image_proj.backbone.`, `auxiliary_heads.NAME.` —; and "" (the top level) when the file
 * holds such modules there.
 *
 * Returns: (transfer full) (array zero-terminated=1): the prefixes of the heads found,
 *   known ones first, then the others sorted; empty when there is none
 *
 * Since: 0.2
 */
char **
hr_head_find_prefixes (HrTensorFile *weights)
{
  g_auto (GStrv) names = NULL;
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) others = NULL;
  g_autoptr (GHashTable) parents = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_return_val_if_fail (HR_IS_TENSOR_FILE (weights), NULL);

  for (guint i = 0; hr_known_prefixes[i] != NULL; i++)
    if (hr_prefix_holds_head (weights, hr_known_prefixes[i], 1))
      g_ptr_array_add (found, g_strdup (hr_known_prefixes[i]));

  /* every parent of a MODULE.PARAMETER */
  names = hr_tensor_file_get_names (weights);
  for (guint i = 0; names[i] != NULL; i++)
    {
      const char *end = strrchr (names[i], '.'), *start;

      if (end == NULL)
        continue;
      start = end;
      while (start > names[i] && start[-1] != '.')
        start--;
      g_hash_table_add (parents, g_strndup (names[i], start - names[i]));
    }
  {
    GHashTableIter iter;
    gpointer key;

    others = g_ptr_array_new ();
    g_hash_table_iter_init (&iter, parents);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (others, key);
    g_ptr_array_sort (others, hr_compare_prefixes);
  }
  for (guint i = 0; i < others->len; i++)
    {
      const char *parent = g_ptr_array_index (others, i);
      gboolean known = FALSE;

      for (guint j = 0; j < found->len; j++)
        known |= strcmp (g_ptr_array_index (found, j), parent) == 0;
      if (known || hr_prefix_has_index (parent))
        continue;
      if (hr_prefix_holds_head (weights, parent, *parent == '\0' ? 1 : 2))
        g_ptr_array_add (found, g_strdup (parent));
    }
  g_ptr_array_add (found, NULL);
  return (char **)g_ptr_array_steal (found, NULL);
}

/* The modules under @prefix, or under the one prefix hr_head_find_prefixes() finds, in
 * hr_module_compare()'s order. */
static GPtrArray *
hr_find_modules_sorted (HrTensorFile *tf, const char *prefix, char **found_prefix, GError **error)
{
  g_autofree char *given = NULL;
  g_auto (GStrv) candidates = NULL;
  guint n;

  if (prefix != NULL)
    {
      GPtrArray *modules;

      given = *prefix == '\0' || g_str_has_suffix (prefix, ".") ? g_strdup (prefix)
                                                                : g_strconcat (prefix, ".", NULL);
      modules = hr_collect_modules (tf, given, error);
      if (modules == NULL && (error == NULL || *error == NULL))
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                     _ ("%s: no tensor starts with “%s”"), hr_tensor_file_get_path (tf), given);
      if (modules != NULL)
        *found_prefix = g_steal_pointer (&given);
      return modules;
    }

  candidates = hr_head_find_prefixes (tf);
  n = g_strv_length (candidates);
  if (n == 1)
    {
      *found_prefix = g_strdup (candidates[0]);
      return hr_collect_modules (tf, candidates[0], error);
    }
  if (n > 1)
    {
      GString *list = g_string_new (NULL);

      for (guint i = 0; i < n; i++)
        g_string_append_printf (list, "%s“%s”", i > 0 ? ", " : "", candidates[i]);
      /* TRANSLATORS: %u is a number (at least 2), %s a list of prefixes */
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("%s holds %u projection heads, under %s: choose one with the prefix "
                      "(--prefix)"),
                   hr_tensor_file_get_path (tf), n, list->str);
      g_string_free (list, TRUE);
      return NULL;
    }
  /* a known prefix whose tensors are not a head's: what is wrong with them says more than
   * that no head was found (a buffer or a parametrisation among a head's parameters) */
  for (guint i = 0; hr_known_prefixes[i] != NULL; i++)
    {
      GError *local = NULL;
      g_autoptr (GPtrArray) modules = hr_collect_modules (tf, hr_known_prefixes[i], &local);

      if (local != NULL)
        {
          g_propagate_error (error, local);
          return NULL;
        }
    }
  g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
               _ ("%s: no projection head among the tensors (looked under projection., "
                  "model.projection., projection.backbone., backbone., at the top, and for "
                  "Linear layers whose widths chain anywhere); give the prefix (--prefix)"),
               hr_tensor_file_get_path (tf));
  return NULL;
}

/* Finds the modules of the head's tensors under @prefix, or, when the caller gave none,
 * under the one prefix hr_head_find_prefixes() finds, in their order
 * (hr_modules_resolve_order()). */
static GPtrArray *
hr_find_modules (HrTensorFile *tf, const char *prefix, char **found_prefix, GError **error)
{
  g_autoptr (GPtrArray) modules = hr_find_modules_sorted (tf, prefix, found_prefix, error);

  if (modules != NULL && !hr_modules_resolve_order (tf, modules, *found_prefix, error))
    {
      g_clear_pointer (found_prefix, g_free);
      return NULL;
    }
  return g_steal_pointer (&modules);
}

static GBytes *
hr_read_tensor (HrTensorFile *tf, const char *name, gsize expected, GError **error)
{
  gsize n_dims;
  const gint64 *shape;
  gsize n;

  if (name == NULL)
    return NULL;
  shape = hr_tensor_file_get_shape (tf, name, &n_dims);
  n = hr_tensor_file_get_n_elements (tf, name);
  if (n != expected || (n_dims > 2))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("%s: tensor %s has %zu values (shape of %zu dimensions, first %lld), the "
                      "layer needs %zu"),
                   hr_tensor_file_get_path (tf), name, n, n_dims,
                   n_dims > 0 ? (long long)shape[0] : 0LL, expected);
      return NULL;
    }
  {
    GError *local = NULL;
    GBytes *bytes = hr_tensor_file_read_float (tf, name, &local);

    /* NaN or Inf in a weight is the head's problem to report: HR_HEAD_ERROR_NON_FINITE,
     * with the tensor file's message (which names the file and the tensor). */
    if (local != NULL && g_error_matches (local, HR_TENSOR_ERROR, HR_TENSOR_ERROR_NON_FINITE))
      {
        g_set_error_literal (error, HR_HEAD_ERROR, HR_HEAD_ERROR_NON_FINITE, local->message);
        g_error_free (local);
      }
    else if (local != NULL)
      g_propagate_error (error, local);
    return bytes;
  }
}

/* Prefixes an error from building a layer with the file and tensor it came from. */
static void
hr_prefix_error (GError **error, const char *path, const char *prefix, const char *module)
{
  if (error != NULL && *error != NULL && (*error)->domain == HR_HEAD_ERROR
      && !g_str_has_prefix ((*error)->message, path))
    g_prefix_error (error, "%s: %s%s: ", path, prefix, module);
}

static gboolean
hr_head_load_module (HrHead *head, HrTensorFile *tf, const char *prefix, const HrModule *m,
                     const HrSpecLayer *spec, GError **error)
{
  const char *path = hr_tensor_file_get_path (tf);
  g_autoptr (GBytes) weight = NULL, bias = NULL, mean = NULL, var = NULL;
  gboolean ok;
  gsize n;

  if (spec != NULL && spec->kind != m->kind)
    {
      if (spec->kind == HR_LAYER_BATCH_NORM && m->kind == HR_LAYER_LAYER_NORM)
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                     _ ("%s: BatchNorm %s%s has no running statistics (running_mean, running_var)"),
                     path, prefix, m->name);
      else
        g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                     _ ("%s: the architecture wants a %s layer where module %s%s is a %s"), path,
                     hr_layer_kind_name (spec->kind), prefix, m->name,
                     hr_layer_kind_name (m->kind));
      return FALSE;
    }

  switch (m->kind)
    {
      case HR_LAYER_LINEAR:
        {
          gsize n_dims;
          const gint64 *shape = hr_tensor_file_get_shape (tf, m->weight, &n_dims);
          gsize out = (gsize)shape[0], in = (gsize)shape[1];

          if (spec != NULL && spec->out != 0 && spec->out != out)
            {
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                           _ ("%s: Linear %s%s has %zu outputs, the architecture says %zu"), path,
                           prefix, m->name, out, spec->out);
              return FALSE;
            }
          if ((weight = hr_read_tensor (tf, m->weight, out * in, error)) == NULL)
            return FALSE;
          if (m->bias != NULL && (bias = hr_read_tensor (tf, m->bias, out, error)) == NULL)
            return FALSE;
          ok = hr_head_append_linear (head, m->name, in, out, weight, bias, error);
          break;
        }
      case HR_LAYER_BATCH_NORM:
        if (m->running_mean == NULL || m->running_var == NULL)
          {
            g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                         _ ("%s: BatchNorm %s%s lacks its %s"), path, prefix, m->name,
                         m->running_mean == NULL ? "running_mean" : "running_var");
            return FALSE;
          }
        if ((m->weight == NULL) != (m->bias == NULL))
          {
            /* affine=True saves both, affine=False neither; torch's load_state_dict refuses
             * one without the other */
            g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                         m->weight == NULL ? _ ("%s: BatchNorm %s%s has a bias but no weight")
                                           : _ ("%s: BatchNorm %s%s has a weight but no bias"),
                         path, prefix, m->name);
            return FALSE;
          }
        n = hr_tensor_file_get_n_elements (tf, m->running_mean);
        if ((mean = hr_read_tensor (tf, m->running_mean, n, error)) == NULL
            || (var = hr_read_tensor (tf, m->running_var, n, error)) == NULL
            || (m->weight != NULL && (weight = hr_read_tensor (tf, m->weight, n, error)) == NULL)
            || (m->bias != NULL && (bias = hr_read_tensor (tf, m->bias, n, error)) == NULL))
          return FALSE;
        ok = hr_head_append_batch_norm (head, m->name, n, weight, bias, mean, var,
                                        spec != NULL ? spec->eps : 1e-5, error);
        break;
      case HR_LAYER_LAYER_NORM:
        n = hr_tensor_file_get_n_elements (tf, m->weight);
        if ((weight = hr_read_tensor (tf, m->weight, n, error)) == NULL
            || (m->bias != NULL && (bias = hr_read_tensor (tf, m->bias, n, error)) == NULL))
          return FALSE;
        ok = hr_head_append_layer_norm (head, m->name, n, weight, bias,
                                        spec != NULL ? spec->eps : 1e-5, error);
        break;
      default:
        g_assert_not_reached ();
    }
  if (!ok)
    hr_prefix_error (error, path, prefix, m->name);
  return ok;
}

/* The name of a layer without parameters at position @position: "normalize" for an L2
 * normalisation after the last module (F.normalize in forward), else the free index
 * between its neighbours' numeric names ("2" between "1" and "3"), else the kind and the
 * number of the module before it ("relu1" after "bn1"), else the kind and the position. */
static char *
hr_parameterless_name (HrHead *head, HrLayerKind kind, const char *next_module)
{
  const char *kind_name = kind == HR_LAYER_L2_NORMALIZE ? "normalize" : hr_layer_kind_name (kind);

  if (kind == HR_LAYER_L2_NORMALIZE && next_module == NULL
      && hr_head_find_stage (head, "normalize") < 0)
    return g_strdup ("normalize");
  if (head->layers->len > 0)
    {
      const char *previous = hr_head_layer (head, head->layers->len - 1)->name;

      if (hr_is_integer (previous))
        {
          gint64 p = g_ascii_strtoll (previous, NULL, 10);

          if (next_module == NULL || !hr_is_integer (next_module)
              || g_ascii_strtoll (next_module, NULL, 10) > p + 1)
            {
              /* the free index, unless a layer already has it */
              g_autofree char *candidate = g_strdup_printf ("%" G_GINT64_FORMAT, p + 1);
              if (next_module == NULL || strcmp (candidate, next_module) != 0)
                return g_steal_pointer (&candidate);
            }
        }
      else if (hr_trailing_number (previous) >= 0)
        return g_strdup_printf ("%s%" G_GINT64_FORMAT, kind_name, hr_trailing_number (previous));
    }
  return g_strdup_printf ("%s%u", kind_name, head->layers->len);
}

/* Appends a layer without parameters as a spec describes it. */
static gboolean
hr_head_append_spec_layer (HrHead *head, const char *name, const HrSpecLayer *s, GError **error)
{
  if (s->kind == HR_LAYER_LEAKY_RELU)
    return hr_head_append_leaky_relu (head, name, s->slope, error);
  return hr_head_append_activation (head, name, s->kind, error);
}

/* The index of the last layer's name, or -1 when it is not a sequential index. */
static gint64
hr_head_last_index (HrHead *head)
{
  const char *name;

  if (head->layers->len == 0)
    return -1;
  name = hr_head_layer (head, head->layers->len - 1)->name;
  return hr_is_integer (name) ? g_ascii_strtoll (name, NULL, 10) : -1;
}

/* Before module @m, with sequential indices: modules missing between the last layer and @m
 * (nn.Dropout has no tensors) become Dropout layers, where an activation or a dropout
 * precedes them, as in VisCy's MLP; anywhere else a gap means a layer the architecture does
 * not name. */
static gboolean
hr_head_fill_gap (HrHead *head, const char *path, const char *prefix, const char *arch,
                  const HrModule *m, GError **error)
{
  gint64 last = hr_head_last_index (head), next;
  HrLayerKind previous;

  if (last < 0 || !hr_is_integer (m->name))
    return TRUE;
  next = g_ascii_strtoll (m->name, NULL, 10);
  if (next <= last + 1)
    return TRUE;
  previous = hr_head_layer (head, head->layers->len - 1)->kind;
  if (!hr_layer_kind_is_activation (previous) && previous != HR_LAYER_DROPOUT)
    {
      /* TRANSLATORS: %s are the file, the architecture, the prefix; %lld a module index */
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("%s: %s has no layer for module %s%lld (between %s%lld and %s%s), which "
                      "has no tensors: give the architecture with the layer there"),
                   path, arch, prefix, (long long)(last + 1), prefix, (long long)last, prefix,
                   m->name);
      return FALSE;
    }
  for (gint64 k = last + 1; k < next; k++)
    {
      g_autofree char *name = g_strdup_printf ("%" G_GINT64_FORMAT, k);

      if (!hr_head_append_activation (head, name, HR_LAYER_DROPOUT, error))
        return FALSE;
    }
  return TRUE;
}

/* Builds @head from @modules as @spec says. */
static gboolean
hr_head_load_spec (HrHead *head, HrTensorFile *weights, GPtrArray *modules, GArray *spec,
                   const char *arch, gboolean sequential, const char *prefix, GError **error)
{
  const char *path = hr_tensor_file_get_path (weights);
  guint n_parameterised = 0, next_module = 0;

  for (guint i = 0; i < spec->len; i++)
    n_parameterised += hr_layer_has_parameters (g_array_index (spec, HrSpecLayer, i).kind);
  if (n_parameterised != modules->len)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                   _ ("%s: the architecture has %u layers with weights, the file has %u "
                      "modules under “%s”"),
                   path, n_parameterised, modules->len, prefix);
      return FALSE;
    }
  for (guint i = 0; i < spec->len; i++)
    {
      const HrSpecLayer *s = &g_array_index (spec, HrSpecLayer, i);

      if (hr_layer_has_parameters (s->kind))
        {
          const HrModule *m = g_ptr_array_index (modules, next_module++);

          if (s->name != NULL && strcmp (s->name, m->name) != 0)
            {
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                           _ ("%s: %s expects module %s%s where the file has %s%s"), path, arch,
                           prefix, s->name, prefix, m->name);
              return FALSE;
            }
          if (sequential && !hr_is_integer (m->name))
            {
              /* TRANSLATORS: %s are the file, a preset name, the prefix and a module name */
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_WEIGHTS,
                           _ ("%s: %s expects modules numbered 0, 1, … where the file has %s%s"),
                           path, arch, prefix, m->name);
              return FALSE;
            }
          if (!hr_head_fill_gap (head, path, prefix, arch, m, error)
              || !hr_head_load_module (head, weights, prefix, m, s, error))
            return FALSE;
        }
      else
        {
          const HrModule *next
              = next_module < modules->len ? g_ptr_array_index (modules, next_module) : NULL;
          g_autofree char *name
              = s->name != NULL
                    ? g_strdup (s->name)
                    : hr_parameterless_name (head, s->kind, next != NULL ? next->name : NULL);

          if (!hr_head_append_spec_layer (head, name, s, error))
            {
              g_prefix_error (error, "%s: ", path);
              return FALSE;
            }
        }
    }
  return TRUE;
}

/* Builds @head from @modules alone: an activation (@activation, else an assumed ReLU)
 * where the indices leave room for a layer without tensors, Dropout in the rest of the
 * room; with names, an activation between a norm and the next Linear. */
static gboolean
hr_head_load_inferred (HrHead *head, HrTensorFile *weights, GPtrArray *modules,
                       const HrSpecLayer *activation, const char *prefix, GError **error)
{
  HrSpecLayer relu = { HR_LAYER_RELU, 0, 1e-5, 0.01, NULL };
  const HrSpecLayer *act = activation != NULL ? activation : &relu;

  for (guint i = 0; i < modules->len; i++)
    {
      const HrModule *m = g_ptr_array_index (modules, i);

      if (i > 0)
        {
          const HrModule *previous = g_ptr_array_index (modules, i - 1);
          gboolean indexed = hr_is_integer (previous->name) && hr_is_integer (m->name);
          gint64 gap = indexed ? g_ascii_strtoll (m->name, NULL, 10)
                                     - g_ascii_strtoll (previous->name, NULL, 10) - 1
                               : 0;

          if ((indexed && gap > 0)
              || (!indexed && m->kind == HR_LAYER_LINEAR && previous->kind != HR_LAYER_LINEAR))
            {
              g_autofree char *name = hr_parameterless_name (head, act->kind, m->name);

              if (!hr_head_append_spec_layer (head, name, act, error))
                return FALSE;
              if (activation == NULL)
                head->activation_assumed = TRUE;
              head->gap_assumed |= gap > 1;
              for (gint64 k = 1; k < gap; k++)
                {
                  g_autofree char *dropout
                      = hr_parameterless_name (head, HR_LAYER_DROPOUT, m->name);
                  hr_head_append_activation (head, dropout, HR_LAYER_DROPOUT, NULL);
                }
            }
        }
      if (!hr_head_load_module (head, weights, prefix, m, NULL, error))
        return FALSE;
    }
  return TRUE;
}

/* The activation a caller gave: one spec token of an activation (or identity). */
static GArray *
hr_parse_activation (const char *activation, GError **error)
{
  g_autoptr (GArray) spec = NULL;
  HrLayerKind kind;

  if (strchr (activation, ',') == NULL && (spec = hr_parse_spec (activation, NULL, NULL)) != NULL
      && ((kind = g_array_index (spec, HrSpecLayer, 0).kind),
          hr_layer_kind_is_activation (kind) || kind == HR_LAYER_IDENTITY))
    return g_steal_pointer (&spec);
  /* TRANSLATORS: %s is what was given; keep the names of the activations */
  g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
               _ ("“%s” is not an activation (relu, gelu, gelu-tanh, silu, leaky-relu[:SLOPE], "
                  "tanh, identity)"),
               activation);
  return NULL;
}

/**
 * hr_head_new_from_tensors_full:
 * @weights: the tensors of a state dict
 * @arch: (nullable): a preset name (hr_head_list_presets()), an architecture spec such as
 *   `linear:2048,bn,relu,linear:128,bn,l2`, or %NULL for the architecture the file's
 *   `__metadata__` states (key `arch`), else inferred from the tensors
 * @prefix: (nullable): the prefix of the head's tensors ("projection.",
 *   "model.projection.", …), or %NULL to find it (hr_head_find_prefixes(); a file with
 *   several heads needs it)
 * @activation: (nullable): for an inferred architecture, the activation: `relu`, `gelu`,
 *   `gelu-tanh`, `silu`, `leaky-relu[:SLOPE]`, `tanh` or `identity`; %NULL to assume ReLU
 *   (hr_head_get_activation_assumed() then says so). It is an error with @arch, or with a
 *   file that states its architecture.
 * @error: return location for a #GError
 *
 * Builds a head from the tensors of a state dict as PyTorch writes it: module names are
 * sequential indices ("0.weight", "1.running_mean", …; activations and Dropout have no
 * tensors) or names ("fc1.weight", "bn1.running_var", …), ordered by the numbers in them;
 * names without (such as "hidden" and "output") take the one order whose widths chain, and
 * where more than one does ("proj_in" and "proj_out" of one width) it is an error. A 2-D
 * weight is a Linear, a module with running statistics a BatchNorm (with both or neither
 * of its weight and bias), a 1-D weight without them a LayerNorm.
 *
 * With @arch, or the file's `arch` metadata, the layers without tensors are the
 * architecture's; a gap in sequential indices after an activation holds Dropout layers
 * (VisCy's MLP with `dropout` > 0).
 *
 * Inferred, the activation goes where the indices leave room for a layer without tensors
 * (more room holds Dropout), or, with names, between a norm and the next Linear. Tensors do
 * not show the activation nor an L2 normalisation at the end, nor tell a LayerNorm from
 * other norms with the same tensors, Dropout from a norm without parameters, or a norm's
 * eps: hr_head_get_assumption() says what was assumed, and hr_head_describe() shows it.
 *
 * Returns: (transfer full): a new #HrHead, or %NULL with @error set (in %HR_HEAD_ERROR,
 *   naming the file and the tensor, or in %HR_TENSOR_ERROR)
 *
 * Since: 0.2
 */
HrHead *
hr_head_new_from_tensors_full (HrTensorFile *weights, const char *arch, const char *prefix,
                               const char *activation, GError **error)
{
  g_autoptr (HrHead) head = hr_head_new ();
  g_autoptr (GPtrArray) modules = NULL;
  g_autoptr (GArray) spec = NULL, act = NULL;
  g_autofree char *found_prefix = NULL;
  g_auto (GStrv) keys = NULL;
  const char *path, *stated = NULL, *stated_prefix;
  const HrPreset *preset = NULL;

  g_return_val_if_fail (HR_IS_TENSOR_FILE (weights), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  path = hr_tensor_file_get_path (weights);
  if (arch != NULL && activation != NULL)
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                   _ ("the activation is for an inferred architecture: give it in the "
                      "architecture instead"));
      return NULL;
    }
  if (activation != NULL && (act = hr_parse_activation (activation, error)) == NULL)
    return NULL;

  modules = hr_find_modules (weights, prefix, &found_prefix, error);
  if (modules == NULL)
    return NULL;

  keys = hr_tensor_file_get_metadata_keys (weights);
  if (keys[0] != NULL)
    {
      head->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      for (guint i = 0; keys[i] != NULL; i++)
        g_hash_table_insert (head->metadata, g_strdup (keys[i]),
                             g_strdup (hr_tensor_file_get_metadata (weights, keys[i])));
    }
  /* the architecture the file states, for the head under the prefix it names */
  stated_prefix = hr_tensor_file_get_metadata (weights, "prefix");
  if (arch == NULL && (stated = hr_tensor_file_get_metadata (weights, "arch")) != NULL
      && stated_prefix != NULL && strcmp (stated_prefix, found_prefix) != 0)
    stated = NULL;
  if (stated != NULL && activation != NULL)
    {
      /* TRANSLATORS: %s are the file and the architecture it states */
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                   _ ("%s states its architecture (%s): the activation is only for heads whose "
                      "file does not; give the architecture to override it"),
                   path, stated);
      return NULL;
    }

  if (arch != NULL || stated != NULL)
    {
      const char *a = arch != NULL ? arch : stated;

      preset = hr_find_preset (a);
      spec = hr_parse_spec (preset != NULL ? preset->spec : a,
                            preset != NULL ? preset->names : NULL, error);
      if (spec == NULL)
        {
          if (stated != NULL)
            g_prefix_error (error, _ ("%s: the architecture in the file's metadata: "), path);
          return NULL;
        }
      if (!hr_head_load_spec (head, weights, modules, spec, a,
                              preset != NULL && preset->names == NULL, found_prefix, error))
        return NULL;
      head->arch_source = arch != NULL ? HR_ARCH_SOURCE_GIVEN : HR_ARCH_SOURCE_METADATA;
    }
  else
    {
      if (!hr_head_load_inferred (head, weights, modules,
                                  act != NULL ? &g_array_index (act, HrSpecLayer, 0) : NULL,
                                  found_prefix, error))
        return NULL;
      head->arch_source = HR_ARCH_SOURCE_INFERRED;
      head->activation_given = act != NULL;
    }

  head->prefix = g_strdup (found_prefix);
  head->file = g_strdup (path);
  head->source = g_strdup_printf (
      /* TRANSLATORS: the file, the prefix, then the architecture: a preset name, a spec, or
         how it was known */
      _ ("%s, prefix “%s”, architecture %s"), path, found_prefix,
      arch != NULL               ? arch
      : stated != NULL           ? _ ("from the file's metadata")
      : head->activation_assumed ? _ ("inferred, activation assumed")
      : act != NULL              ? _ ("inferred, activation given")
                                 : _ ("inferred"));
  return g_steal_pointer (&head);
}

/**
 * hr_head_new_from_tensors:
 * @weights: the tensors of a state dict
 * @arch: (nullable): a preset name (hr_head_list_presets()), an architecture spec such as
 *   `linear:2048,bn,relu,linear:128,bn,l2`, or %NULL for the one the file states, else
 *   inferred
 * @prefix: (nullable): the prefix of the head's tensors ("projection.",
 *   "model.projection.", …), or %NULL to find it
 * @error: return location for a #GError
 *
 * Builds a head from the tensors of a state dict; see hr_head_new_from_tensors_full(), of
 * which this is the form without a given activation.
 *
 * Returns: (transfer full): a new #HrHead, or %NULL with @error set (in %HR_HEAD_ERROR,
 *   naming the file and the tensor, or in %HR_TENSOR_ERROR)
 */
HrHead *
hr_head_new_from_tensors (HrTensorFile *weights, const char *arch, const char *prefix,
                          GError **error)
{
  return hr_head_new_from_tensors_full (weights, arch, prefix, NULL, error);
}

/**
 * hr_head_new_from_file_full:
 * @path: (type filename): a safetensors file
 * @arch: (nullable): a preset name, an architecture spec, or %NULL for the one the file
 *   states, else inferred
 * @prefix: (nullable): the prefix of the head's tensors, or %NULL to find it
 * @activation: (nullable): for an inferred architecture, the activation (see
 *   hr_head_new_from_tensors_full()), or %NULL to assume ReLU
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads a head from a safetensors file; see hr_head_new_from_tensors_full().
 *
 * Returns: (transfer full): a new #HrHead, or %NULL with @error set
 *
 * Since: 0.2
 */
HrHead *
hr_head_new_from_file_full (const char *path, const char *arch, const char *prefix,
                            const char *activation, GCancellable *cancellable, GError **error)
{
  g_autoptr (HrTensorFile) tf = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  tf = hr_tensor_file_new (path, cancellable, error);
  if (tf == NULL)
    return NULL;
  return hr_head_new_from_tensors_full (tf, arch, prefix, activation, error);
}

/**
 * hr_head_new_from_file:
 * @path: (type filename): a safetensors file
 * @arch: (nullable): a preset name, an architecture spec, or %NULL for the one the file
 *   states, else inferred
 * @prefix: (nullable): the prefix of the head's tensors, or %NULL to find it
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads a head from a safetensors file; see hr_head_new_from_tensors_full().
 *
 * Returns: (transfer full): a new #HrHead, or %NULL with @error set
 */
HrHead *
hr_head_new_from_file (const char *path, const char *arch, const char *prefix,
                       GCancellable *cancellable, GError **error)
{
  return hr_head_new_from_file_full (path, arch, prefix, NULL, cancellable, error);
}
