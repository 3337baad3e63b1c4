/* headrank compare: runs side by side, from the reports of "headrank analyze" */
#include "config.h"

#include "headrank-tool.h"

#include <math.h>
#include <string.h>

#include "headrank-table.h"

/* A number of compare.json as a table cell: "-" for null or absent. */
static char *
hr_cell_double (JsonObject *obj, const char *name, const char *format)
{
  JsonNode *node = obj != NULL ? json_object_get_member (obj, name) : NULL;
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("-");
  /* the table is for people: the locale's decimal separator is not wanted either, as in
   * analyze's tables */
  return g_strdup (g_ascii_formatd (buf, sizeof buf, format, json_node_get_double (node)));
}

/* "64", "61-64" (the rank range, as analyze's table), or "-" */
static char *
hr_cell_rank (JsonObject *stage)
{
  JsonNode *range = stage != NULL ? json_object_get_member (stage, "rank_range") : NULL;
  gint64 low, high;

  if (range == NULL || !JSON_NODE_HOLDS_ARRAY (range))
    return g_strdup ("-");
  low = json_array_get_int_element (json_node_get_array (range), 0);
  high = json_array_get_int_element (json_node_get_array (range), 1);
  if (low == high)
    return g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member (stage, "rank"));
  return g_strdup_printf ("%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT, low, high);
}

static char *
hr_cell_pcs (JsonObject *stage)
{
  JsonNode *node = stage != NULL ? json_object_get_member (stage, "components") : NULL;
  JsonObject *c;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return g_strdup ("-");
  c = json_node_get_object (node);
  return g_strdup_printf ("%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT,
                          json_object_get_int_member (c, "90"),
                          json_object_get_int_member (c, "95"),
                          json_object_get_int_member (c, "99"));
}

/* The stage of @report with @role (the first), or NULL. */
static JsonObject *
hr_report_stage (JsonObject *report, const char *role)
{
  JsonArray *stages = json_object_get_array_member (report, "stages");

  for (guint i = 0; i < json_array_get_length (stages); i++)
    {
      JsonObject *s = json_array_get_object_element (stages, i);

      if (strcmp (json_object_get_string_member (s, "role"), role) == 0)
        return s;
    }
  return NULL;
}

/* The tables of compare.json @text: one row per report (the features and the projections),
 * then, when a report has other stages with a spectrum (--stage), one row per such stage. */
static void
hr_compare_print (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *reports;
  guint width = hr_output_width ();
  /* TRANSLATORS: column headings of the table of "headrank compare": the report, the rank
     and effective rank of the features (f.), the dimension, rank, effective rank,
     participation ratio, principal components, decay and CKA of the projections (p.) */
  const char *headers[]
      = { _ ("report"),     _ ("f.rank"), _ ("f.eff.rank"),      _ ("p.dim"),   _ ("p.rank"),
          _ ("p.eff.rank"), _ ("p.PR"),   _ ("p.PCs 90/95/99%"), _ ("p.alpha"), _ ("p.CKA") };
  /* TRANSLATORS: column headings of the second table of "headrank compare" */
  const char *stage_headers[] = { _ ("report"),   _ ("stage"), _ ("dim"),          _ ("rank"),
                                  _ ("eff.rank"), _ ("PR"),    _ ("PCs 90/95/99%") };
  g_autoptr (HrTable) table = hr_table_new (G_N_ELEMENTS (headers), headers);
  g_autoptr (HrTable) stages = hr_table_new (G_N_ELEMENTS (stage_headers), stage_headers);
  gboolean other_stages = FALSE;
  JsonArray *warnings;

  hr_table_set_left_aligned (stages, 1);
  /* our own output: it parses */
  if (!json_parser_load_from_data (parser, text, -1, NULL))
    g_assert_not_reached ();
  reports = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                          "reports");
  for (guint i = 0; i < json_array_get_length (reports); i++)
    {
      JsonObject *r = json_array_get_object_element (reports, i);
      JsonObject *f = hr_report_stage (r, "features"), *p = hr_report_stage (r, "projections");
      JsonArray *all = json_object_get_array_member (r, "stages");
      const char *label = json_object_get_string_member (r, "label");
      g_autofree char *frank = hr_cell_rank (f),
                      *fer = hr_cell_double (f, "effective_rank", "%.2f");
      g_autofree char *pdim
          = p != NULL
                ? g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member (p, "dimension"))
                : g_strdup ("-");
      g_autofree char *prank = hr_cell_rank (p),
                      *per = hr_cell_double (p, "effective_rank", "%.2f");
      g_autofree char *ppr = hr_cell_double (p, "participation_ratio", "%.2f");
      g_autofree char *ppcs = hr_cell_pcs (p), *palpha = hr_cell_double (p, "alpha", "%.2f");
      g_autofree char *pcka = hr_cell_double (p, "cka_with_features", "%.3f");

      hr_table_add_row (
          table, (const char *[]){ label, frank, fer, pdim, prank, per, ppr, ppcs, palpha, pcka });
      for (guint k = 0; k < json_array_get_length (all); k++)
        {
          JsonObject *s = json_array_get_object_element (all, k);
          g_autofree char *dim = NULL, *rank = NULL, *er = NULL, *pr = NULL, *pcs = NULL;
          g_autofree char *name = NULL;
          const char *kind;

          if (strcmp (json_object_get_string_member (s, "role"), "hidden") != 0
              || !json_object_get_boolean_member (s, "has_spectrum"))
            continue;
          other_stages = TRUE;
          dim = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member (s, "dimension"));
          rank = hr_cell_rank (s);
          er = hr_cell_double (s, "effective_rank", "%.2f");
          pr = hr_cell_double (s, "participation_ratio", "%.2f");
          pcs = hr_cell_pcs (s);
          /* "2 (relu)", as analyze's tables name a hidden stage */
          kind = json_object_get_string_member_with_default (s, "layer_kind", NULL);
          name = kind != NULL
                     ? g_strdup_printf ("%s (%s)", json_object_get_string_member (s, "name"), kind)
                     : g_strdup (json_object_get_string_member (s, "name"));
          hr_table_add_row (stages, (const char *[]){ label, name, dim, rank, er, pr, pcs });
        }
    }
  hr_table_print (table, width);
  {
    g_autofree char *legend = hr_wrap_text (
        /* TRANSLATORS: the legend under the table of "headrank compare"; keep the column
           names as they are translated above */
        /* xgettext:no-c-format */
        _ ("(f.: the features, p.: the projections; rank: of the centred matrix, a range "
           "low-high when it is uncertain; eff.rank: RankMe; PR: participation ratio; PCs: "
           "principal components for 90/95/99 % of the variance; alpha: eigenspectrum decay; "
           "CKA: linear CKA with the features)"),
        width);
    g_print ("%s\n", legend);
  }
  if (other_stages)
    {
      g_print ("\n");
      hr_table_print (stages, width);
    }
  warnings = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                           "warnings");
  for (guint i = 0; i < json_array_get_length (warnings); i++)
    /* TRANSLATORS: a warning of "headrank compare" on standard error */
    g_printerr (_ ("headrank: warning: %s\n"), json_array_get_string_element (warnings, i));
}

int
hr_command_compare (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = hr_cancellable_new ();
  g_autoptr (HrComparison) comparison = NULL;
  g_autofree char *output = NULL, *text = NULL;
  gboolean json = FALSE;
  int status;
  GOptionEntry entries[]
      = { { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
            /* TRANSLATORS: description of --output of "headrank compare" */
            N_ ("Write compare.json, compare.csv and the figures (PNG and SVG) into this "
                "folder"),
            /* TRANSLATORS: placeholder for the value of --output */
            N_ ("DIR") },
          { "json", 0, 0, G_OPTION_ARG_NONE, &json,
            /* TRANSLATORS: description of --json of "headrank compare" */
            N_ ("Print compare.json instead of the table"), NULL },
          G_OPTION_ENTRY_NULL };

  context = hr_command_context (
      "compare",
      /* TRANSLATORS: the usage line of "headrank compare"; REPORT is a report folder */
      _ ("REPORT… — compare reports of “headrank analyze”"),
      /* TRANSLATORS: the description at the end of "headrank compare --help" */
      _ ("Compares several runs of “headrank analyze” on the same features — several heads "
         "or checkpoints — as the projection-head papers do: per report, the rank (range), "
         "effective rank and other measures of the features and of every projection stage. "
         "REPORT is a report folder or its report.json. Reports of features of another shape "
         "(samples × dimension), or of another report format, are refused; reports of "
         "different feature files, or whose features' spectra differ, are compared with a "
         "warning. With --output, writes compare.json, compare.csv, compare_rank and "
         "compare_explained_variance (PNG and SVG) into the folder, each file whole."),
      entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return hr_usage_error (context, error->message);
  if (argc < 2)
    return hr_usage_error (context, _ ("compare takes at least one REPORT"));
  if ((status = hr_check_output_folder (output)) != 0)
    return status;

  comparison = hr_comparison_new_from_reports ((const char *const *)argv + 1, &error);
  if (comparison == NULL)
    return hr_user_error (error);
  if (output != NULL && !hr_comparison_write (comparison, output, cancellable, &error))
    {
      if (hr_interrupted (error, &status))
        return status;
      return hr_user_error (error);
    }
  text = hr_comparison_to_json (comparison, TRUE);
  if (json)
    {
      for (const char *const *w = hr_comparison_get_warnings (comparison); *w != NULL; w++)
        g_printerr (_ ("headrank: warning: %s\n"), *w);
      g_print ("%s\n", text);
    }
  else
    hr_compare_print (text);
  if (output != NULL && !json)
    /* TRANSLATORS: %s is the output folder of "headrank compare" */
    g_print (_ ("\nComparison, table and figures written to %s\n"), output);
  return EXIT_SUCCESS;
}
