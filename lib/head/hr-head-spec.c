/* headrank: projection heads: the named architectures (presets) and architecture specs */
#include "hr-private.h"
#include "hr-head.h"

#include "hr-enum-names.h"
#include "hr-enum-types.h"
#include "hr-head-internal.h"

#include <math.h>
#include <string.h>

/* -- presets and specs ------------------------------------------------------------------- */

static const HrPreset presets[] = {
  { "viscy-v0", "linear,relu,linear,l2", "0,1,2,normalize",
    N_ ("VisCy before its issue 139 (2024): Linear → ReLU → Linear, then forward's "
        "F.normalize") },
  { "issue139", "linear,bn,relu,linear,bn", "fc1,bn1,relu1,fc2,bn2",
    N_ ("dynacontrast's EncodeProject, proposed in VisCy's issue 139: fc1 (no bias) → bn1 → "
        "relu1 → fc2 (no bias) → bn2") },
  { "viscy-v2", "linear,bn,relu,linear,bn", NULL,
    N_ ("VisCy's ContrastiveEncoder head and projection_mlp() (since 2024-08): Linear → "
        "BatchNorm → ReLU → Linear → BatchNorm") },
  { "viscy-resnet3d", "linear,bn,relu,linear,bn", NULL,
    N_ ("VisCy's ResNet3dEncoder head (projection_mlp()): the same layers as viscy-v2") },
  { "viscy-mlp-ln", "linear,ln,relu,linear,ln", NULL,
    N_ ("VisCy's MLP(norm=\"ln\"): the same as viscy-mlp-ln-relu") },
  { "viscy-mlp-bn-relu", "linear,bn,relu,linear,bn", NULL,
    N_ ("VisCy's MLP(norm=\"bn\", activation=\"relu\"), dropout accepted") },
  { "viscy-mlp-bn-gelu", "linear,bn,gelu,linear,bn", NULL,
    N_ ("VisCy's MLP(norm=\"bn\", activation=\"gelu\"), dropout accepted") },
  { "viscy-mlp-bn-silu", "linear,bn,silu,linear,bn", NULL,
    N_ ("VisCy's MLP(norm=\"bn\", activation=\"silu\"), dropout accepted") },
  { "viscy-mlp-ln-relu", "linear,ln,relu,linear,ln", NULL,
    N_ ("VisCy's MLP(norm=\"ln\", activation=\"relu\"), dropout accepted") },
  { "viscy-mlp-ln-gelu", "linear,ln,gelu,linear,ln", NULL,
    N_ ("VisCy's MLP(norm=\"ln\", activation=\"gelu\"), dropout accepted") },
  { "viscy-mlp-ln-silu", "linear,ln,silu,linear,ln", NULL,
    N_ ("VisCy's MLP(norm=\"ln\", activation=\"silu\"), dropout accepted") },
  { "viscy-cross-modal", "linear,ln,relu,linear,ln,l2", NULL,
    N_ ("VisCy's CrossModalContrastiveHead: image_proj (an MLP with LayerNorm and ReLU), "
        "then F.normalize") },
};

/**
 * hr_head_list_presets:
 *
 * The named heads: `viscy-v0` (VisCy before its issue 139: Linear → ReLU → Linear, then L2
 * normalisation), `issue139` (Linear without bias → BatchNorm → ReLU → Linear without bias
 * → BatchNorm, modules fc1, bn1, relu1, fc2, bn2), `viscy-v2` (VisCy's head today: Linear →
 * BatchNorm → ReLU → Linear → BatchNorm), `viscy-resnet3d` (the same, for the ResNet3d
 * encoder), `viscy-mlp-ln` (VisCy's MLP with LayerNorm), `viscy-mlp-NORM-ACT` for VisCy's
 * MLP with each norm (bn, ln) and activation (relu, gelu, silu), and `viscy-cross-modal`
 * (the cross-modal head: MLP with LayerNorm, then L2 normalisation). Presets whose modules
 * are sequential indices accept Dropout layers in gaps of the indices after an activation;
 * see hr_head_get_preset_description().
 *
 * Returns: (transfer none) (array zero-terminated=1): the preset names
 */
const char *const *
hr_head_list_presets (void)
{
  /* in the order of presets[] (checked by hr_find_preset's callers' tests) */
  static const char *const names[] = { "viscy-v0",
                                       "issue139",
                                       "viscy-v2",
                                       "viscy-resnet3d",
                                       "viscy-mlp-ln",
                                       "viscy-mlp-bn-relu",
                                       "viscy-mlp-bn-gelu",
                                       "viscy-mlp-bn-silu",
                                       "viscy-mlp-ln-relu",
                                       "viscy-mlp-ln-gelu",
                                       "viscy-mlp-ln-silu",
                                       "viscy-cross-modal",
                                       NULL };

  G_STATIC_ASSERT (G_N_ELEMENTS (names) == G_N_ELEMENTS (presets) + 1);
  return names;
}

const HrPreset *
hr_find_preset (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (presets); i++)
    if (strcmp (presets[i].name, name) == 0)
      return &presets[i];
  return NULL;
}

/**
 * hr_head_get_preset_spec:
 * @preset: a preset name
 *
 * Looks up the architecture spec of a preset.
 *
 * Returns: (nullable): the architecture spec of @preset, or %NULL if there is no such preset
 */
const char *
hr_head_get_preset_spec (const char *preset)
{
  const HrPreset *p;

  g_return_val_if_fail (preset != NULL, NULL);
  p = hr_find_preset (preset);
  return p != NULL ? p->spec : NULL;
}

/**
 * hr_head_get_preset_description:
 * @preset: a preset name
 *
 * Looks up what a preset is, in words (translated).
 *
 * Returns: (nullable): the description of @preset, or %NULL if there is no such preset
 *
 * Since: 0.2
 */
const char *
hr_head_get_preset_description (const char *preset)
{
  const HrPreset *p;

  g_return_val_if_fail (preset != NULL, NULL);
  p = hr_find_preset (preset);
  return p != NULL ? _ (p->description) : NULL;
}

static void
hr_spec_layer_clear (gpointer data)
{
  g_free (((HrSpecLayer *)data)->name);
}

/* The kind a spec token names: the nicks of HrLayerKind, and a few aliases. */
static gboolean
hr_kind_from_token (const char *token, HrLayerKind *kind)
{
  static const struct
  {
    const char *alias;
    HrLayerKind kind;
  } aliases[] = {
    { "batchnorm", HR_LAYER_BATCH_NORM },
    { "layernorm", HR_LAYER_LAYER_NORM },
    { "normalize", HR_LAYER_L2_NORMALIZE },
    { "leakyrelu", HR_LAYER_LEAKY_RELU },
  };
  g_autofree char *lower = g_ascii_strdown (token, -1);
  int value;

  if (hr_enum_from_nick (HR_TYPE_LAYER_KIND, lower, &value))
    {
      *kind = value;
      return TRUE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (aliases); i++)
    if (strcmp (lower, aliases[i].alias) == 0)
      {
        *kind = aliases[i].kind;
        return TRUE;
      }
  return FALSE;
}

/* Parses a spec such as "linear:2048,bn,relu,linear:128,bn,l2". */
GArray *
hr_parse_spec (const char *spec, const char *names, GError **error)
{
  g_autoptr (GArray) layers = g_array_new (FALSE, TRUE, sizeof (HrSpecLayer));
  g_auto (GStrv) tokens = g_strsplit (spec, ",", -1);
  g_auto (GStrv) name_list = names != NULL ? g_strsplit (names, ",", -1) : NULL;

  g_array_set_clear_func (layers, hr_spec_layer_clear);
  for (guint i = 0; tokens[i] != NULL; i++)
    {
      char *token = g_strstrip (tokens[i]);
      char *arg = strchr (token, ':');
      HrSpecLayer layer = { 0 };

      if (arg != NULL)
        *arg++ = '\0';
      if (g_ascii_strcasecmp (token, "gelu") == 0 && arg != NULL
          && g_ascii_strcasecmp (arg, "tanh") == 0)
        {
          token = (char *)"gelu-tanh";
          arg = NULL;
        }
      if (!hr_kind_from_token (token, &layer.kind))
        {
          /* TRANSLATORS: %u is the position of the token (1 = first), %s the token */
          g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                       _ ("token %u “%s” of the architecture is not a layer (linear:OUT, bn, ln, "
                          "relu, gelu, gelu-tanh, silu, leaky-relu[:SLOPE], tanh, identity, "
                          "dropout, l2)"),
                       i + 1, token);
          return NULL;
        }
      layer.eps = 1e-5;
      layer.slope = 0.01;
      if (arg != NULL)
        {
          char *end = NULL;
          guint64 value;
          double number;

          if (layer.kind == HR_LAYER_LINEAR && g_ascii_isdigit (*arg)
              && (value = g_ascii_strtoull (arg, &end, 10)) > 0 && *end == '\0'
              && value < G_MAXUINT32)
            layer.out = (gsize)value;
          else if ((layer.kind == HR_LAYER_BATCH_NORM || layer.kind == HR_LAYER_LAYER_NORM)
                   && g_str_has_prefix (arg, "eps=")
                   && ((layer.eps = g_ascii_strtod (arg + 4, &end)), *end == '\0') && layer.eps >= 0
                   && isfinite (layer.eps))
            ;
          else if (layer.kind == HR_LAYER_LEAKY_RELU && *arg != '\0'
                   && ((number
                        = g_ascii_strtod (g_str_has_prefix (arg, "slope=") ? arg + 6 : arg, &end)),
                       *end == '\0')
                   && isfinite (number))
            layer.slope = number;
          else if (layer.kind == HR_LAYER_DROPOUT && *arg != '\0'
                   && ((number
                        = g_ascii_strtod (g_str_has_prefix (arg, "p=") ? arg + 2 : arg, &end)),
                       *end == '\0')
                   && number >= 0 && number < 1)
            ; /* the rate does not matter at inference */
          else
            {
              g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC,
                           _ ("token %u “%s:%s” of the architecture has a bad argument"), i + 1,
                           token, arg);
              return NULL;
            }
        }
      if (name_list != NULL && i < g_strv_length (name_list))
        layer.name = g_strdup (name_list[i]);
      g_array_append_val (layers, layer);
    }
  if (layers->len == 0 || (layers->len == 1 && *tokens[0] == '\0'))
    {
      g_set_error (error, HR_HEAD_ERROR, HR_HEAD_ERROR_SPEC, _ ("the architecture is empty"));
      return NULL;
    }
  return g_steal_pointer (&layers);
}

/* Whether the layers of @head (dropout left out) are those of @preset. */
static gboolean
hr_head_matches_preset (HrHead *head, const HrPreset *preset)
{
  g_autoptr (GArray) spec = hr_parse_spec (preset->spec, preset->names, NULL);
  guint k = 0;

  g_assert (spec != NULL);
  for (guint i = 0; i < head->layers->len; i++)
    {
      HrLayer *l = hr_head_layer (head, i);
      const HrSpecLayer *s;

      if (l->kind == HR_LAYER_DROPOUT && preset->names == NULL)
        continue;
      if (k >= spec->len)
        return FALSE;
      s = &g_array_index (spec, HrSpecLayer, k++);
      if (s->kind != l->kind)
        return FALSE;
      if (hr_layer_has_parameters (l->kind)
          && (s->name != NULL ? strcmp (s->name, l->name) != 0 : !hr_is_integer (l->name)))
        return FALSE;
    }
  return k == spec->len;
}

/**
 * hr_head_match_presets:
 * @head: a #HrHead
 *
 * Finds the presets whose layers the head has (Dropout layers aside, for the presets that
 * accept them; module names where a preset fixes them). Widths and epsilons are not compared.
 *
 * Returns: (transfer full) (array zero-terminated=1): the names of the matching presets, in
 *   the order of hr_head_list_presets(); empty when none matches
 *
 * Since: 0.2
 */
char **
hr_head_match_presets (HrHead *head)
{
  GPtrArray *names;

  g_return_val_if_fail (HR_IS_HEAD (head), NULL);

  names = g_ptr_array_new ();
  for (gsize i = 0; i < G_N_ELEMENTS (presets); i++)
    if (hr_head_matches_preset (head, &presets[i]))
      g_ptr_array_add (names, g_strdup (presets[i].name));
  g_ptr_array_add (names, NULL);
  return (char **)g_ptr_array_free (names, FALSE);
}
