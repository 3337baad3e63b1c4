/* headrank: runs side by side: the comparison of reports of "headrank analyze"
 *
 * Reads several report.json files (strictly: hr_json_prescan() first, then every member that
 * is used checked for its type and range), keeps the measures the projection-head papers
 * compare (rank and its range, effective rank, participation ratio, principal components,
 * decay, CKA, the field's effective ranks; of the features and of every stage with a
 * spectrum) and writes them as compare.json, compare.csv and figures.
 *
 * Reports of features of different shapes (samples × dimension) are refused; reports of
 * different feature files, or whose features' spectra differ, are compared with a warning;
 * a report_format other than the one this version writes is refused.
 */
#include "hr-private.h"

#include "hr-comparison.h"
#include "hr-error.h"
#include "hr-json.h"
#include "hr-json-valid.h"
#include "hr-output.h"
#include "hr-plot.h"

#include <inttypes.h>
#include "hr-report-private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#define HR_COMPARE_FORMAT 1
#define HR_COMPARE_MAX_BYTES (256 * 1024 * 1024) /* of one report.json */
#define HR_COMPARE_MAX_DEPTH 32
#define HR_COMPARE_MAX_DIMENSION (1 << 24)

typedef struct
{
  char *name;
  char *role;
  char *layer_kind; /* of a hidden stage, else NULL */
  gint64 dimension;
  gboolean has_spectrum;
  gint64 rank, rank_low, rank_high, pcs[3];
  double effective_rank, participation_ratio, alpha, cka, lightly_std;
  double viscy_effective_rank, roy_vetterli_effective_rank, stable_rank, nesum;
  GArray *cumulative; /* of double; NULL without a spectrum */
} HrCmpStage;

typedef struct
{
  char *path; /* of report.json; the label of an analysis compared in memory */
  gboolean in_memory;
  char *label; /* the report's folder name, or its path when two share a name */
  char *features;
  gint64 samples, features_dimension;
  char *head_file, *head_spec;
  GPtrArray *stages; /* of HrCmpStage */
  gboolean has_contrastive;
  double alignment, uniformity, lidar;
  GStrv flags;
} HrCmpReport;

struct _HrComparison
{
  GObject parent_instance;
  GPtrArray *reports; /* of HrCmpReport */
  GStrv warnings;
};

/**
 * HrComparison:
 *
 * Runs side by side: the reports of several analyses of the same features (several heads,
 * or checkpoints of one), read from their `report.json` files
 * (hr_comparison_new_from_reports()), with the measures the projection-head papers compare
 * for the features and every stage with a spectrum; written as JSON, CSV and figures. A
 * comparison does not change once made.
 *
 * Since: 0.2
 */

G_DEFINE_FINAL_TYPE (HrComparison, hr_comparison, G_TYPE_OBJECT)

static void
hr_cmp_stage_free (HrCmpStage *s)
{
  g_free (s->name);
  g_free (s->role);
  g_free (s->layer_kind);
  if (s->cumulative != NULL)
    g_array_unref (s->cumulative);
  g_free (s);
}

static void
hr_cmp_report_free (HrCmpReport *r)
{
  g_free (r->path);
  g_free (r->label);
  g_free (r->features);
  g_free (r->head_file);
  g_free (r->head_spec);
  g_ptr_array_unref (r->stages);
  g_strfreev (r->flags);
  g_free (r);
}

static void
hr_comparison_finalize (GObject *object)
{
  HrComparison *self = HR_COMPARISON (object);

  g_ptr_array_unref (self->reports);
  g_strfreev (self->warnings);
  G_OBJECT_CLASS (hr_comparison_parent_class)->finalize (object);
}

static void
hr_comparison_class_init (HrComparisonClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = hr_comparison_finalize;
}

static void
hr_comparison_init (HrComparison *self)
{
  self->reports = g_ptr_array_new_with_free_func ((GDestroyNotify)hr_cmp_report_free);
}

/* -- reading ----------------------------------------------------------------------------- */

/* The one error of a report that is not what headrank writes: "PATH: what, at MEMBER". */
static gboolean
hr_cmp_bad (GError **error, const char *path, const char *member, const char *what)
{
  g_autofree char *shown = g_filename_display_name (path);

  g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_REPORT,
               /* TRANSLATORS: a report.json that cannot be compared: the file, the JSON
                  member ("stages[1].rank"), what is wrong with it ("not a number") */
               _ ("%s: not a report of headrank analyze: %s %s"), shown, member, what);
  return FALSE;
}

/* Member @name of @obj: %NULL when absent or null (optional members), else the node. */
static JsonNode *
hr_cmp_member (JsonObject *obj, const char *name)
{
  JsonNode *node = json_object_get_member (obj, name);

  return node != NULL && !JSON_NODE_HOLDS_NULL (node) ? node : NULL;
}

static gboolean
hr_cmp_is_number (JsonNode *node)
{
  GType t;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  t = json_node_get_value_type (node);
  return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

static gboolean
hr_cmp_is_int (JsonNode *node)
{
  gint64 value;

  return hr_json_node_int (node, &value);
}

/* A number member (absent or null: NaN, unless @required). */
static gboolean
hr_cmp_double (JsonObject *obj, const char *name, gboolean required, double *out, const char *path,
               const char *where, GError **error)
{
  JsonNode *node = hr_cmp_member (obj, name);
  g_autofree char *member = g_strconcat (where, name, NULL);

  *out = NAN;
  if (node == NULL)
    return required ? hr_cmp_bad (error, path, member, _ ("is missing")) : TRUE;
  if (!hr_cmp_is_number (node))
    return hr_cmp_bad (error, path, member, _ ("is not a number"));
  *out = json_node_get_double (node);
  /* JSON has no infinity: a number too large for a double (1e400) is a damaged report,
   * and would compare unequal to itself */
  if (!isfinite (*out))
    return hr_cmp_bad (error, path, member, _ ("is not a finite number"));
  return TRUE;
}

/* An integer member in [@lo, @hi] (absent or null: -1, unless @required). */
static gboolean
hr_cmp_int (JsonObject *obj, const char *name, gboolean required, gint64 lo, gint64 hi, gint64 *out,
            const char *path, const char *where, GError **error)
{
  JsonNode *node = hr_cmp_member (obj, name);
  g_autofree char *member = g_strconcat (where, name, NULL);

  *out = -1;
  if (node == NULL)
    return required ? hr_cmp_bad (error, path, member, _ ("is missing")) : TRUE;
  if (!hr_cmp_is_int (node) || json_node_get_int (node) < lo || json_node_get_int (node) > hi)
    return hr_cmp_bad (error, path, member, _ ("is not a whole number in range"));
  *out = json_node_get_int (node);
  return TRUE;
}

/* A string member (absent or null: %NULL, unless @required); a copy in *@out. */
static gboolean
hr_cmp_string (JsonObject *obj, const char *name, gboolean required, char **out, const char *path,
               const char *where, GError **error)
{
  JsonNode *node = hr_cmp_member (obj, name);
  g_autofree char *member = g_strconcat (where, name, NULL);

  *out = NULL;
  if (node == NULL)
    return required ? hr_cmp_bad (error, path, member, _ ("is missing")) : TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return hr_cmp_bad (error, path, member, _ ("is not a string"));
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

/* An object member (absent or null: %NULL, unless @required). */
static gboolean
hr_cmp_object (JsonObject *obj, const char *name, gboolean required, JsonObject **out,
               const char *path, const char *where, GError **error)
{
  JsonNode *node = hr_cmp_member (obj, name);
  g_autofree char *member = g_strconcat (where, name, NULL);

  *out = NULL;
  if (node == NULL)
    return required ? hr_cmp_bad (error, path, member, _ ("is missing")) : TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return hr_cmp_bad (error, path, member, _ ("is not an object"));
  *out = json_node_get_object (node);
  return TRUE;
}

static gboolean
hr_cmp_read_stage (JsonNode *node, guint index, HrCmpReport *r, GError **error)
{
  g_autofree char *where = g_strdup_printf ("stages[%u].", index);
  HrCmpStage *s = g_new0 (HrCmpStage, 1);
  JsonObject *obj, *components = NULL;
  JsonNode *has, *range, *cumulative;
  const char *path = r->path;

  g_ptr_array_add (r->stages, s);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return hr_cmp_bad (error, path, where, _ ("is not an object"));
  obj = json_node_get_object (node);
  if (!hr_cmp_string (obj, "name", TRUE, &s->name, path, where, error)
      || !hr_cmp_string (obj, "role", TRUE, &s->role, path, where, error)
      || !hr_cmp_string (obj, "layer_kind", FALSE, &s->layer_kind, path, where, error)
      || !hr_cmp_int (obj, "dimension", TRUE, 1, HR_COMPARE_MAX_DIMENSION, &s->dimension, path,
                      where, error))
    return FALSE;
  has = hr_cmp_member (obj, "has_spectrum");
  if (has == NULL || !JSON_NODE_HOLDS_VALUE (has)
      || json_node_get_value_type (has) != G_TYPE_BOOLEAN)
    {
      g_autofree char *member = g_strconcat (where, "has_spectrum", NULL);
      return hr_cmp_bad (error, path, member, _ ("is not true or false"));
    }
  s->has_spectrum = json_node_get_boolean (has);
  s->rank = s->rank_low = s->rank_high = s->pcs[0] = s->pcs[1] = s->pcs[2] = -1;
  if (!hr_cmp_double (obj, "cka_with_features", FALSE, &s->cka, path, where, error)
      || !hr_cmp_double (obj, "lightly_std", FALSE, &s->lightly_std, path, where, error))
    return FALSE;
  s->effective_rank = s->participation_ratio = s->alpha = NAN;
  s->viscy_effective_rank = s->roy_vetterli_effective_rank = s->stable_rank = s->nesum = NAN;
  if (!s->has_spectrum)
    return TRUE;
  if (!hr_cmp_int (obj, "rank", TRUE, 0, s->dimension, &s->rank, path, where, error)
      || !hr_cmp_double (obj, "effective_rank", FALSE, &s->effective_rank, path, where, error)
      || !hr_cmp_double (obj, "participation_ratio", FALSE, &s->participation_ratio, path, where,
                         error)
      || !hr_cmp_double (obj, "alpha", FALSE, &s->alpha, path, where, error)
      || !hr_cmp_double (obj, "viscy_effective_rank", FALSE, &s->viscy_effective_rank, path, where,
                         error)
      || !hr_cmp_double (obj, "roy_vetterli_effective_rank", FALSE, &s->roy_vetterli_effective_rank,
                         path, where, error)
      || !hr_cmp_double (obj, "stable_rank", FALSE, &s->stable_rank, path, where, error)
      || !hr_cmp_double (obj, "nesum", FALSE, &s->nesum, path, where, error)
      || !hr_cmp_object (obj, "components", TRUE, &components, path, where, error)
      || !hr_cmp_int (components, "90", TRUE, 0, s->dimension, &s->pcs[0], path, where, error)
      || !hr_cmp_int (components, "95", TRUE, 0, s->dimension, &s->pcs[1], path, where, error)
      || !hr_cmp_int (components, "99", TRUE, 0, s->dimension, &s->pcs[2], path, where, error))
    return FALSE;
  range = hr_cmp_member (obj, "rank_range");
  if (range == NULL || !JSON_NODE_HOLDS_ARRAY (range)
      || json_array_get_length (json_node_get_array (range)) != 2
      || !hr_cmp_is_int (json_array_get_element (json_node_get_array (range), 0))
      || !hr_cmp_is_int (json_array_get_element (json_node_get_array (range), 1)))
    {
      g_autofree char *member = g_strconcat (where, "rank_range", NULL);
      return hr_cmp_bad (error, path, member, _ ("is not a pair of whole numbers"));
    }
  s->rank_low = json_array_get_int_element (json_node_get_array (range), 0);
  s->rank_high = json_array_get_int_element (json_node_get_array (range), 1);
  if (s->rank_low < 0 || s->rank_low > s->rank || s->rank_high < s->rank
      || s->rank_high > s->dimension)
    {
      g_autofree char *member = g_strconcat (where, "rank_range", NULL);
      return hr_cmp_bad (error, path, member, _ ("does not hold the rank"));
    }
  cumulative = hr_cmp_member (obj, "cumulative_explained_variance");
  if (cumulative == NULL || !JSON_NODE_HOLDS_ARRAY (cumulative)
      || json_array_get_length (json_node_get_array (cumulative)) > (guint)s->dimension)
    {
      g_autofree char *member = g_strconcat (where, "cumulative_explained_variance", NULL);
      return hr_cmp_bad (error, path, member, _ ("is not an array of at most dimension numbers"));
    }
  s->cumulative = g_array_new (FALSE, FALSE, sizeof (double));
  for (guint i = 0; i < json_array_get_length (json_node_get_array (cumulative)); i++)
    {
      JsonNode *v = json_array_get_element (json_node_get_array (cumulative), i);
      double x = NAN;

      if (!JSON_NODE_HOLDS_NULL (v) && !hr_cmp_is_number (v))
        {
          g_autofree char *member = g_strconcat (where, "cumulative_explained_variance", NULL);
          return hr_cmp_bad (error, path, member, _ ("is not an array of numbers"));
        }
      if (!JSON_NODE_HOLDS_NULL (v))
        x = json_node_get_double (v);
      /* as hr_cmp_double(): 1e400 overflows to an infinity that would reach the plots */
      if (!JSON_NODE_HOLDS_NULL (v) && !isfinite (x))
        {
          g_autofree char *member
              = g_strdup_printf ("%scumulative_explained_variance[%u]", where, i);
          return hr_cmp_bad (error, path, member, _ ("is not a finite number"));
        }
      g_array_append_val (s->cumulative, x);
    }
  return TRUE;
}

/* The report in @text (report.json of @path, or hr_analysis_to_json() of an analysis
 * labelled @path), shown as @label. */
static HrCmpReport *
hr_cmp_parse_report (const char *text, gsize length, const char *path, const char *label,
                     GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  HrCmpReport *r = NULL;
  gboolean too_deep;
  JsonNode *root, *stages, *flags;
  JsonObject *obj, *input = NULL, *head = NULL, *arch = NULL, *contrastive = NULL;
  gint64 format;
  HrCmpReport *report;

  if (hr_json_prescan (text, length, HR_COMPARE_MAX_DEPTH, &too_deep) >= 0
      || !json_parser_load_from_data (parser, text, (gssize)length, NULL))
    {
      g_autofree char *shown = g_filename_display_name (path);

      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_REPORT,
                   /* TRANSLATORS: %s: a report.json that is not valid JSON */
                   _ ("%s: not a report of headrank analyze: not valid JSON"), shown);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      hr_cmp_bad (error, path, "", _ ("is not an object"));
      return NULL;
    }
  obj = json_node_get_object (root);
  if (!hr_cmp_int (obj, "report_format", TRUE, G_MININT64, G_MAXINT64, &format, path, "", error))
    return NULL;
  if (format != HR_REPORT_FORMAT)
    {
      g_autofree char *shown = g_filename_display_name (path);

      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_REPORT,
                   /* TRANSLATORS: a report of another version of headrank: the file, its
                      report_format and the one this version reads */
                   _ ("%s: report format %" PRId64
                      ", this headrank compares reports of format %d: run headrank analyze "
                      "again"),
                   shown, format, HR_REPORT_FORMAT);
      return NULL;
    }
  r = g_new0 (HrCmpReport, 1);
  r->stages = g_ptr_array_new_with_free_func ((GDestroyNotify)hr_cmp_stage_free);
  r->path = g_strdup (path);
  r->label = g_strdup (label);
  report = r;
  if (!hr_cmp_object (obj, "input", TRUE, &input, path, "", error)
      || !hr_cmp_string (input, "features", FALSE, &r->features, path, "input.", error)
      || !hr_cmp_int (input, "samples", TRUE, 0, G_MAXINT64, &r->samples, path, "input.", error)
      || !hr_cmp_int (input, "features_dimension", TRUE, 1, HR_COMPARE_MAX_DIMENSION,
                      &r->features_dimension, path, "input.", error)
      || !hr_cmp_object (obj, "head", FALSE, &head, path, "", error)
      || (head != NULL
          && (!hr_cmp_string (head, "file", FALSE, &r->head_file, path, "head.", error)
              || !hr_cmp_object (head, "architecture", FALSE, &arch, path, "head.", error)
              || (arch != NULL
                  && !hr_cmp_string (arch, "spec", FALSE, &r->head_spec, path, "head.architecture.",
                                     error))))
      || !hr_cmp_object (obj, "contrastive", FALSE, &contrastive, path, "", error))
    goto fail;
  r->alignment = r->uniformity = r->lidar = NAN;
  if (contrastive != NULL)
    {
      r->has_contrastive = TRUE;
      if (!hr_cmp_double (contrastive, "alignment", FALSE, &r->alignment, path, "contrastive.",
                          error)
          || !hr_cmp_double (contrastive, "uniformity", FALSE, &r->uniformity, path, "contrastive.",
                             error)
          || !hr_cmp_double (contrastive, "lidar", FALSE, &r->lidar, path, "contrastive.", error))
        goto fail;
    }
  stages = hr_cmp_member (obj, "stages");
  if (stages == NULL || !JSON_NODE_HOLDS_ARRAY (stages)
      || json_array_get_length (json_node_get_array (stages)) == 0)
    {
      hr_cmp_bad (error, path, "stages", _ ("is not a list of stages"));
      goto fail;
    }
  for (guint i = 0; i < json_array_get_length (json_node_get_array (stages)); i++)
    if (!hr_cmp_read_stage (json_array_get_element (json_node_get_array (stages), i), i, r, error))
      goto fail;
  if (strcmp (((HrCmpStage *)g_ptr_array_index (r->stages, 0))->role, "features") != 0
      || ((HrCmpStage *)g_ptr_array_index (r->stages, 0))->dimension != r->features_dimension)
    {
      hr_cmp_bad (error, path, "stages[0]", _ ("is not the features"));
      goto fail;
    }
  /* verdict.flags: words, optional */
  {
    JsonObject *verdict = NULL;
    g_autoptr (GStrvBuilder) words = g_strv_builder_new ();

    if (!hr_cmp_object (obj, "verdict", FALSE, &verdict, path, "", error))
      goto fail;
    flags = verdict != NULL ? hr_cmp_member (verdict, "flags") : NULL;
    if (flags != NULL && !JSON_NODE_HOLDS_ARRAY (flags))
      {
        hr_cmp_bad (error, path, "verdict.flags", _ ("is not a list of strings"));
        goto fail;
      }
    for (guint i = 0; flags != NULL && i < json_array_get_length (json_node_get_array (flags)); i++)
      {
        JsonNode *f = json_array_get_element (json_node_get_array (flags), i);

        if (!JSON_NODE_HOLDS_VALUE (f) || json_node_get_value_type (f) != G_TYPE_STRING)
          {
            hr_cmp_bad (error, path, "verdict.flags", _ ("is not a list of strings"));
            goto fail;
          }
        g_strv_builder_add (words, json_node_get_string (f));
      }
    r->flags = g_strv_builder_end (words);
  }
  r = NULL;
  return report;

fail:
  g_clear_pointer (&r, hr_cmp_report_free);
  return NULL;
}

/* The report.json of @given (a report folder or the file itself). */
static HrCmpReport *
hr_cmp_read_report (const char *given, GError **error)
{
  g_autofree char *text = NULL, *path = NULL, *folder = NULL, *base = NULL, *label = NULL;
  GStatBuf st;
  gsize length;

  if (g_file_test (given, G_FILE_TEST_IS_DIR))
    {
      path = g_build_filename (given, "report.json", NULL);
      folder = g_strdup (given);
    }
  else
    {
      path = g_strdup (given);
      folder = g_path_get_dirname (given);
    }
  if (g_stat (path, &st) == 0 && st.st_size > HR_COMPARE_MAX_BYTES)
    {
      g_autofree char *shown = g_filename_display_name (path);

      g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_REPORT,
                   /* TRANSLATORS: %s: a report.json larger than a report can be */
                   _ ("%s: not a report of headrank analyze: larger than 256 MiB"), shown);
      return NULL;
    }
  /* GIO: a file that cannot be read is a G_IO_ERROR from its errno, naming the file */
  {
    g_autoptr (GFile) file = g_file_new_for_path (path);

    if (!g_file_load_contents (file, NULL, &text, &length, NULL, error))
      return NULL;
  }
  base = g_path_get_basename (folder);
  label = g_filename_display_name (base);
  return hr_cmp_parse_report (text, length, path, label, error);
}

static HrCmpStage *
hr_cmp_stage_by_role (HrCmpReport *r, const char *role)
{
  for (guint i = 0; i < r->stages->len; i++)
    {
      HrCmpStage *s = g_ptr_array_index (r->stages, i);

      if (strcmp (s->role, role) == 0)
        return s;
    }
  return NULL;
}

/* Whether two runs' features are the same data, by their spectra: the same rank and
 * effective rank within rounding (1e-9 relative). */
static gboolean
hr_cmp_same_features (HrCmpStage *a, HrCmpStage *b)
{
  if (a->has_spectrum != b->has_spectrum || a->rank != b->rank)
    return FALSE;
  if (isnan (a->effective_rank) || isnan (b->effective_rank))
    return isnan (a->effective_rank) && isnan (b->effective_rank);
  return fabs (a->effective_rank - b->effective_rank) <= 1e-9 * MAX (fabs (a->effective_rank), 1.0);
}

/* The reports of @self (owned) side by side: labels made distinct, shapes checked,
 * warnings gathered; %NULL with @error set when they cannot be compared. */
static HrComparison *
hr_cmp_check (HrComparison *owned, GError **error)
{
  g_autoptr (HrComparison) self = owned;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) labels = NULL;
  HrCmpReport *first;

  first = g_ptr_array_index (self->reports, 0);
  labels = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < self->reports->len; i++)
    {
      HrCmpReport *r = g_ptr_array_index (self->reports, i);

      if (g_hash_table_contains (labels, r->label))
        {
          /* two folders of one name: every report by its path instead */
          for (guint j = 0; j < self->reports->len; j++)
            {
              HrCmpReport *q = g_ptr_array_index (self->reports, j);

              g_free (q->label);
              q->label = g_filename_display_name (q->path);
            }
          break;
        }
      g_hash_table_add (labels, r->label);
    }
  for (guint i = 1; i < self->reports->len; i++)
    {
      HrCmpReport *r = g_ptr_array_index (self->reports, i);
      g_autofree char *a = g_filename_display_name (first->path);
      g_autofree char *b = g_filename_display_name (r->path);

      if (r->samples != first->samples || r->features_dimension != first->features_dimension)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_REPORT,
                       /* TRANSLATORS: two reports that cannot be compared: the files and
                          the shapes of their features, samples × dimension */
                       _ ("%s and %s are reports of different features: %" PRId64 " × %" PRId64
                          " and %" PRId64 " × %" PRId64),
                       a, b, first->samples, first->features_dimension, r->samples,
                       r->features_dimension);
          return NULL;
        }
      if (g_strcmp0 (r->features, first->features) != 0)
        g_ptr_array_add (
            warnings,
            /* TRANSLATORS: a warning of "headrank compare": two reports and the feature
               files they analysed */
            g_strdup_printf (_ ("%s and %s analysed different feature files (%s, %s) of the "
                                "same shape"),
                             a, b, first->features != NULL ? first->features : "-",
                             r->features != NULL ? r->features : "-"));
      else if (!hr_cmp_same_features (g_ptr_array_index (first->stages, 0),
                                      g_ptr_array_index (r->stages, 0)))
        g_ptr_array_add (
            warnings,
            /* TRANSLATORS: a warning of "headrank compare": two reports of one feature file
               whose features' spectra differ (the file changed between the runs) */
            g_strdup_printf (_ ("%s and %s: the features' rank or effective rank differ: "
                                "the feature file changed between the runs"),
                             a, b));
    }
  g_ptr_array_add (warnings, NULL);
  self->warnings = (GStrv)g_ptr_array_steal (warnings, NULL);
  return g_steal_pointer (&self);
}

/**
 * hr_comparison_new_from_reports:
 * @paths: (array zero-terminated=1) (element-type filename): report folders written by
 *   hr_analysis_write_report() (`headrank analyze`), or their `report.json` files
 * @error: return location for a #GError
 *
 * Reads the reports to compare them: several heads or checkpoints on the same features.
 * A file that cannot be read is a %G_IO_ERROR from its `errno`. Each `report.json` is read
 * strictly; one that is not valid JSON, not an object, lacks a
 * member the comparison uses or has one of the wrong type or out of range is refused with
 * %HR_ANALYSIS_ERROR_REPORT, naming the file and the member. So are a `report_format` other
 * than the one this version writes (run the analysis again), and reports whose features
 * have a different shape (number of samples or dimension) from the first report's. Reports
 * of different feature files (`input.features`), or whose features' rank or effective rank
 * differ, are compared, with a warning (hr_comparison_get_warnings()).
 *
 * Returns: (transfer full): the comparison, or %NULL with @error set
 *
 * Since: 0.2
 */
HrComparison *
hr_comparison_new_from_reports (const char *const *paths, GError **error)
{
  g_autoptr (HrComparison) self = NULL;

  g_return_val_if_fail (paths != NULL && paths[0] != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (HR_TYPE_COMPARISON, NULL);
  for (guint i = 0; paths[i] != NULL; i++)
    {
      HrCmpReport *r = hr_cmp_read_report (paths[i], error);

      if (r == NULL)
        return NULL;
      g_ptr_array_add (self->reports, r);
    }
  return hr_cmp_check (g_steal_pointer (&self), error);
}

/**
 * hr_comparison_new_from_analyses:
 * @analyses: (array length=n_analyses): analyses that have run, of the same features
 * @n_analyses: the number of @analyses, at least 1
 * @labels: (array length=n_analyses): a distinct label for each analysis (a head's or a
 *   checkpoint's name), shown in the tables and figures
 * @error: return location for a #GError
 *
 * Compares analyses held in memory (several heads or checkpoints run on the same features,
 * as the napari plugin runs them) as hr_comparison_new_from_reports() compares their
 * reports: each analysis is read through its report (hr_analysis_to_json()), so the
 * comparison holds the same values as `headrank compare` of their report folders, with
 * @labels in place of the folders' names and `report` null in the JSON. An analysis that
 * has not run to the end is refused with %HR_ANALYSIS_ERROR_INVALID; analyses whose
 * features have a different shape with %HR_ANALYSIS_ERROR_REPORT; different feature
 * files, or features whose spectra differ, give a warning (hr_comparison_get_warnings()).
 *
 * Returns: (transfer full): the comparison, or %NULL with @error set
 *
 * Since: 0.2
 */
HrComparison *
hr_comparison_new_from_analyses (HrAnalysis **analyses, guint n_analyses, const char **labels,
                                 GError **error)
{
  g_autoptr (HrComparison) self = NULL;

  g_return_val_if_fail (analyses != NULL && n_analyses > 0, NULL);
  g_return_val_if_fail (labels != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (HR_TYPE_COMPARISON, NULL);
  for (guint i = 0; i < n_analyses; i++)
    {
      g_autofree char *json = NULL;
      HrCmpReport *r;

      g_return_val_if_fail (HR_IS_ANALYSIS (analyses[i]), NULL);
      g_return_val_if_fail (labels[i] != NULL, NULL);
      if (!hr_analysis_is_done (analyses[i]))
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                       /* TRANSLATORS: %s: the label of an analysis to compare */
                       _ ("%s: the analysis has not run to the end"), labels[i]);
          return NULL;
        }
      json = hr_analysis_to_json (analyses[i], FALSE);
      if (json == NULL)
        {
          g_set_error (error, HR_ANALYSIS_ERROR, HR_ANALYSIS_ERROR_INVALID,
                       /* TRANSLATORS: %s: the label of an analysis to compare */
                       _ ("%s: the per-sample statistics cannot be read back"), labels[i]);
          return NULL;
        }
      r = hr_cmp_parse_report (json, strlen (json), labels[i], labels[i], error);
      if (r == NULL)
        return NULL;
      r->in_memory = TRUE;
      g_ptr_array_add (self->reports, r);
    }
  return hr_cmp_check (g_steal_pointer (&self), error);
}

/**
 * hr_comparison_get_n_reports:
 * @self: a #HrComparison
 *
 * Gets the number of reports compared.
 *
 * Returns: the number of reports
 *
 * Since: 0.2
 */
guint
hr_comparison_get_n_reports (HrComparison *self)
{
  g_return_val_if_fail (HR_IS_COMPARISON (self), 0);
  return self->reports->len;
}

/**
 * hr_comparison_get_warnings:
 * @self: a #HrComparison
 *
 * Gets the warnings about reports that were compared though they may not be comparable:
 * different feature files, or features whose spectra differ. Translated prose.
 *
 * Returns: (transfer none) (array zero-terminated=1): the warnings, possibly none
 *
 * Since: 0.2
 */
const char *const *
hr_comparison_get_warnings (HrComparison *self)
{
  g_return_val_if_fail (HR_IS_COMPARISON (self), NULL);
  return (const char *const *)self->warnings;
}

/* -- writing ----------------------------------------------------------------------------- */

static void
hr_cmp_json_int (JsonBuilder *b, const char *name, gint64 v)
{
  json_builder_set_member_name (b, name);
  if (v >= 0)
    json_builder_add_int_value (b, v);
  else
    json_builder_add_null_value (b);
}

static void
hr_cmp_json_stage (JsonBuilder *b, HrCmpStage *s)
{
  json_builder_begin_object (b);
  hr_json_add_string (b, "name", s->name);
  hr_json_add_string (b, "role", s->role);
  hr_json_add_string (b, "layer_kind", s->layer_kind);
  hr_cmp_json_int (b, "dimension", s->dimension);
  json_builder_set_member_name (b, "has_spectrum");
  json_builder_add_boolean_value (b, s->has_spectrum);
  hr_cmp_json_int (b, "rank", s->rank);
  json_builder_set_member_name (b, "rank_range");
  if (s->has_spectrum)
    {
      json_builder_begin_array (b);
      json_builder_add_int_value (b, s->rank_low);
      json_builder_add_int_value (b, s->rank_high);
      json_builder_end_array (b);
    }
  else
    json_builder_add_null_value (b);
  hr_json_add_double (b, "effective_rank", s->effective_rank);
  hr_json_add_double (b, "participation_ratio", s->participation_ratio);
  json_builder_set_member_name (b, "components");
  if (s->has_spectrum)
    {
      json_builder_begin_object (b);
      hr_cmp_json_int (b, "90", s->pcs[0]);
      hr_cmp_json_int (b, "95", s->pcs[1]);
      hr_cmp_json_int (b, "99", s->pcs[2]);
      json_builder_end_object (b);
    }
  else
    json_builder_add_null_value (b);
  hr_json_add_double (b, "alpha", s->alpha);
  hr_json_add_double (b, "viscy_effective_rank", s->viscy_effective_rank);
  hr_json_add_double (b, "roy_vetterli_effective_rank", s->roy_vetterli_effective_rank);
  hr_json_add_double (b, "stable_rank", s->stable_rank);
  hr_json_add_double (b, "nesum", s->nesum);
  hr_json_add_double (b, "cka_with_features", s->cka);
  hr_json_add_double (b, "lightly_std", s->lightly_std);
  json_builder_end_object (b);
}

/**
 * hr_comparison_to_json:
 * @self: a #HrComparison
 * @pretty: whether to indent
 *
 * The comparison as JSON (doc/json.md, "compare.json"): `compare_format`, `report_format`,
 * `reports` (one object per report, in the order given: `label`, `report` (the path of its
 * report.json), `features`, `samples`, `features_dimension`, `head` (`file`, `spec`, or
 * null), `stages` (every stage of the report with its measures as report.json has them:
 * `rank`, `rank_range`, `effective_rank`, `participation_ratio`, `components`, `alpha`,
 * `viscy_effective_rank`, `roy_vetterli_effective_rank`, `stable_rank`, `nesum`,
 * `cka_with_features`, `lightly_std`; null where the stage has no spectrum),
 * `contrastive` (`alignment`, `uniformity`, `lidar`, or null), `verdict_flags`) and
 * `warnings` (translated prose). Numbers do not depend on the locale.
 *
 * Returns: (transfer full): the JSON text
 *
 * Since: 0.2
 */
char *
hr_comparison_to_json (HrComparison *self, gboolean pretty)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  g_return_val_if_fail (HR_IS_COMPARISON (self), NULL);
  json_builder_begin_object (b);
  hr_cmp_json_int (b, "compare_format", HR_COMPARE_FORMAT);
  hr_cmp_json_int (b, "report_format", HR_REPORT_FORMAT);
  json_builder_set_member_name (b, "reports");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->reports->len; i++)
    {
      HrCmpReport *r = g_ptr_array_index (self->reports, i);
      g_autofree char *shown = g_filename_display_name (r->path);

      json_builder_begin_object (b);
      hr_json_add_string (b, "label", r->label);
      hr_json_add_string (b, "report", r->in_memory ? NULL : shown);
      hr_json_add_string (b, "features", r->features);
      hr_cmp_json_int (b, "samples", r->samples);
      hr_cmp_json_int (b, "features_dimension", r->features_dimension);
      json_builder_set_member_name (b, "head");
      if (r->head_file != NULL || r->head_spec != NULL)
        {
          json_builder_begin_object (b);
          hr_json_add_string (b, "file", r->head_file);
          hr_json_add_string (b, "spec", r->head_spec);
          json_builder_end_object (b);
        }
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "stages");
      json_builder_begin_array (b);
      for (guint s = 0; s < r->stages->len; s++)
        hr_cmp_json_stage (b, g_ptr_array_index (r->stages, s));
      json_builder_end_array (b);
      json_builder_set_member_name (b, "contrastive");
      if (r->has_contrastive)
        {
          json_builder_begin_object (b);
          hr_json_add_double (b, "alignment", r->alignment);
          hr_json_add_double (b, "uniformity", r->uniformity);
          hr_json_add_double (b, "lidar", r->lidar);
          json_builder_end_object (b);
        }
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "verdict_flags");
      json_builder_begin_array (b);
      for (guint f = 0; r->flags[f] != NULL; f++)
        json_builder_add_string_value (b, r->flags[f]);
      json_builder_end_array (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "warnings");
  json_builder_begin_array (b);
  for (guint i = 0; self->warnings[i] != NULL; i++)
    json_builder_add_string_value (b, self->warnings[i]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  hr_json_make_valid (root);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, pretty);
  return json_generator_to_data (gen, NULL);
}

static void
hr_cmp_csv_text (GString *out, const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);

  g_string_append_c (out, ',');
  if (strpbrk (valid, ",\"\r\n") == NULL)
    {
      g_string_append (out, valid);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = valid; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
hr_cmp_csv_double (GString *out, double v)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_c (out, ',');
  if (isfinite (v))
    g_string_append (out, g_ascii_dtostr (buf, sizeof buf, v));
}

static void
hr_cmp_csv_int (GString *out, gint64 v)
{
  g_string_append_c (out, ',');
  if (v >= 0)
    g_string_append_printf (out, "%" G_GINT64_FORMAT, v);
}

/**
 * hr_comparison_to_csv:
 * @self: a #HrComparison
 *
 * The comparison as CSV (RFC 4180, UTF-8, numbers independent of the locale): one row per
 * stage of each report, columns `report,stage,role,dimension,rank,rank_low,rank_high,
 * effective_rank,participation_ratio,pcs_90,pcs_95,pcs_99,alpha,viscy_effective_rank,
 * roy_vetterli_effective_rank,stable_rank,nesum,cka_with_features,lightly_std`; empty
 * fields where a stage has no spectrum or a measure is undefined.
 *
 * Returns: (transfer full): the CSV text
 *
 * Since: 0.2
 */
char *
hr_comparison_to_csv (HrComparison *self)
{
  GString *out;

  g_return_val_if_fail (HR_IS_COMPARISON (self), NULL);
  out = g_string_new ("report,stage,role,dimension,rank,rank_low,rank_high,effective_rank,"
                      "participation_ratio,pcs_90,pcs_95,pcs_99,alpha,viscy_effective_rank,"
                      "roy_vetterli_effective_rank,stable_rank,nesum,cka_with_features,"
                      "lightly_std\r\n");
  for (guint i = 0; i < self->reports->len; i++)
    {
      HrCmpReport *r = g_ptr_array_index (self->reports, i);

      for (guint k = 0; k < r->stages->len; k++)
        {
          HrCmpStage *s = g_ptr_array_index (r->stages, k);
          gsize mark = out->len;

          hr_cmp_csv_text (out, r->label);
          /* the first field has no comma before it */
          g_string_erase (out, mark, 1);
          hr_cmp_csv_text (out, s->name);
          hr_cmp_csv_text (out, s->role);
          hr_cmp_csv_int (out, s->dimension);
          hr_cmp_csv_int (out, s->rank);
          hr_cmp_csv_int (out, s->has_spectrum ? s->rank_low : -1);
          hr_cmp_csv_int (out, s->has_spectrum ? s->rank_high : -1);
          hr_cmp_csv_double (out, s->effective_rank);
          hr_cmp_csv_double (out, s->participation_ratio);
          for (int c = 0; c < 3; c++)
            hr_cmp_csv_int (out, s->pcs[c]);
          hr_cmp_csv_double (out, s->alpha);
          hr_cmp_csv_double (out, s->viscy_effective_rank);
          hr_cmp_csv_double (out, s->roy_vetterli_effective_rank);
          hr_cmp_csv_double (out, s->stable_rank);
          hr_cmp_csv_double (out, s->nesum);
          hr_cmp_csv_double (out, s->cka);
          hr_cmp_csv_double (out, s->lightly_std);
          g_string_append (out, "\r\n");
        }
    }
  return g_string_free (out, FALSE);
}

static gboolean
hr_cmp_write_text (const char *directory, const char *name, const char *text, GError **error)
{
  g_autofree char *path = g_build_filename (directory, name, NULL);
  g_autoptr (HrOutputFile) file = hr_output_file_begin (path, HR_OUTPUT_FILE_LOCK, error);
  FILE *fp;

  if (file == NULL || (fp = hr_output_file_get_stream (file, error)) == NULL)
    return FALSE;
  fputs (text, fp);
  return hr_output_file_commit (file, NULL, error);
}

/* compare_rank: the rank and effective rank of the features and projections, one point
 * per report (x: the report's number, named in a note; the four series side by side), the
 * legend showing points, as drawn. */
static gboolean
hr_cmp_plot_rank (HrComparison *self, const char *directory, GError **error)
{
  guint n = self->reports->len;
  g_autoptr (HrFigure) fig
      /* TRANSLATORS: title of the figure of "headrank compare" */
      = hr_figure_new (_ ("Rank of the features and of the projections, per report"), 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  /* points at x = 1..n with a gap (NaN) between them: one point per report, no line
   * joining reports that are not a sequence */
  gsize m = 2 * (gsize)n - 1;
  g_autofree double *x = g_new (double, m);
  g_autofree double *values = g_new (double, m);
  const char *roles[] = { "features", "projections" };
  g_autoptr (GString) names = g_string_new (NULL);

  for (guint i = 0; i < n; i++)
    {
      HrCmpReport *r = g_ptr_array_index (self->reports, i);

      g_string_append_printf (names, "%s%u: %s", i > 0 ? "; " : "", i + 1, r->label);
    }
  /* TRANSLATORS: axis labels of the figure of "headrank compare" */
  hr_axes_set_labels (ax, _ ("report"), _ ("rank"));
  /* reports are numbered 1..n: no tick between two of them */
  hr_axes_set_integer_x (ax, TRUE);
  for (guint k = 0; k < G_N_ELEMENTS (roles); k++)
    for (guint effective = 0; effective < 2; effective++)
      {
        g_autofree char *label = NULL;
        /* the four series side by side around each report's x, so that equal values (a
         * projection's rank 16 and effective rank 15.97) do not hide one another */
        double dodge = ((double)(2 * k + effective) - 1.5) * 0.05;

        for (gsize j = 0; j < m; j++)
          x[j] = 1.0 + j / 2.0 + dodge;
        for (guint i = 0; i < n; i++)
          {
            HrCmpStage *s = hr_cmp_stage_by_role (g_ptr_array_index (self->reports, i), roles[k]);

            values[2 * i] = s == NULL || !s->has_spectrum ? NAN
                            : effective                   ? s->effective_rank
                                                          : (double)s->rank;
            if (i + 1 < n)
              values[2 * i + 1] = NAN;
          }
        label = effective
                    /* TRANSLATORS: a series of the figure of "headrank compare": "features:
                       effective rank"; the stage names stay in English */
                    ? g_strdup_printf (_ ("%s: effective rank"), roles[k])
                    /* TRANSLATORS: a series of the figure of "headrank compare" */
                    : g_strdup_printf (_ ("%s: rank"), roles[k]);
        hr_axes_add_line (ax, label, x, values, m, (int)(2 * k + effective), effective, TRUE);
      }
  hr_axes_add_note (ax, names->str);
  return hr_report_write_figure (fig, directory, "compare_rank", error);
}

/* compare_explained_variance: the cumulative explained variance of each report's
 * projections, overlaid, with the first report's features dashed. */
static gboolean
hr_cmp_plot_variance (HrComparison *self, const char *directory, GError **error)
{
  g_autoptr (HrFigure) fig = hr_figure_new (
      /* TRANSLATORS: title of the figure of "headrank compare" */
      _ ("Cumulative explained variance of the projections (PCA), per report"), 1, 1);
  HrAxes *ax = hr_figure_get_axes (fig, 0, 0);
  HrCmpStage *features = hr_cmp_stage_by_role (g_ptr_array_index (self->reports, 0), "features");

  /* TRANSLATORS: axis labels of the figure of "headrank compare" */
  hr_axes_set_labels (ax, _ ("principal components"), _ ("cumulative explained variance"));
  hr_axes_set_y_range (ax, 0, 1);
  for (guint i = 0; i < self->reports->len; i++)
    {
      HrCmpReport *r = g_ptr_array_index (self->reports, i);
      HrCmpStage *s = hr_cmp_stage_by_role (r, "projections");

      if (s != NULL && s->cumulative != NULL && s->cumulative->len > 0)
        hr_axes_add_line (ax, r->label, NULL, (const double *)s->cumulative->data,
                          s->cumulative->len, (int)(i % HR_PLOT_N_COLORS), FALSE, FALSE);
    }
  if (features != NULL && features->cumulative != NULL && features->cumulative->len > 0)
    /* TRANSLATORS: a series of the figure of "headrank compare"; "features" stays */
    hr_axes_add_line (ax, _ ("features"), NULL, (const double *)features->cumulative->data,
                      features->cumulative->len, -1, TRUE, FALSE);
  return hr_report_write_figure (fig, directory, "compare_explained_variance", error);
}

/**
 * hr_comparison_write:
 * @self: a #HrComparison
 * @directory: (type filename): the output folder, made if it does not exist
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Writes `compare.json` (hr_comparison_to_json()), `compare.csv`
 * (hr_comparison_to_csv()) and the figures `compare_rank` (rank and effective rank of the
 * features and projections, one point per report) and `compare_explained_variance` (the
 * cumulative explained variance of each report's projections overlaid) as PNG and SVG
 * into @directory. Each file is written whole: under a temporary name beside it, then
 * renamed into place; other files in @directory are left alone.
 *
 * Returns: %TRUE on success
 *
 * Since: 0.2
 */
gboolean
hr_comparison_write (HrComparison *self, const char *directory, GCancellable *cancellable,
                     GError **error)
{
  g_autofree char *json = NULL, *csv = NULL;

  g_return_val_if_fail (HR_IS_COMPARISON (self), FALSE);
  g_return_val_if_fail (directory != NULL, FALSE);
  if (g_mkdir_with_parents (directory, 0777) != 0)
    {
      int saved = errno;
      g_autofree char *shown = g_filename_display_name (directory);

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", shown,
                   g_strerror (saved));
      return FALSE;
    }
  json = hr_comparison_to_json (self, TRUE);
  csv = hr_comparison_to_csv (self);
  return !g_cancellable_set_error_if_cancelled (cancellable, error)
         && hr_cmp_write_text (directory, "compare.json", json, error)
         && hr_cmp_write_text (directory, "compare.csv", csv, error)
         && !g_cancellable_set_error_if_cancelled (cancellable, error)
         && hr_cmp_plot_rank (self, directory, error)
         && !g_cancellable_set_error_if_cancelled (cancellable, error)
         && hr_cmp_plot_variance (self, directory, error);
}
