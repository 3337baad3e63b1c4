/* headrank tests: the version at run time against the headers' version */
#include <headrank.h>

static void
test_version_runtime (void)
{
  /* the tests are built against the headers of the library they run with */
  g_assert_cmpuint (hr_get_major_version (), ==, HR_MAJOR_VERSION);
  g_assert_cmpuint (hr_get_minor_version (), ==, HR_MINOR_VERSION);
  g_assert_cmpuint (hr_get_micro_version (), ==, HR_MICRO_VERSION);
  g_assert_true (HR_CHECK_VERSION (HR_MAJOR_VERSION, HR_MINOR_VERSION, HR_MICRO_VERSION));
  g_assert_cmphex (HR_VERSION_CUR_STABLE, ==,
                   G_ENCODE_VERSION (HR_MAJOR_VERSION, HR_MINOR_VERSION));
  g_assert_cmphex (HR_VERSION_PREV_STABLE, <, HR_VERSION_CUR_STABLE);
  g_assert_cmphex (HR_VERSION_0_1, <, HR_VERSION_0_2);
  g_assert_cmphex (HR_VERSION_0_2, <=, HR_VERSION_CUR_STABLE);
  /* the defaults: no deprecation spared, nothing newer than the headers */
  g_assert_cmphex (HR_VERSION_MIN_REQUIRED, ==, HR_VERSION_CUR_STABLE);
  g_assert_cmphex (HR_VERSION_MAX_ALLOWED, ==, HR_VERSION_CUR_STABLE);
}

static void
test_version_check (void)
{
  guint major = HR_MAJOR_VERSION, minor = HR_MINOR_VERSION, micro = HR_MICRO_VERSION;

  /* this version and every older one of the same major version are compatible */
  g_assert_null (hr_check_version (major, minor, micro));
  g_assert_null (hr_check_version (major, 0, 0));
  if (micro > 0)
    g_assert_null (hr_check_version (major, minor, micro - 1));
  if (minor > 0)
    g_assert_null (hr_check_version (major, minor - 1, 99));

  /* newer ones are not, nor is another major version */
  g_assert_cmpstr (hr_check_version (major, minor, micro + 1), ==,
                   "headrank version too old (minor or micro mismatch)");
  g_assert_cmpstr (hr_check_version (major, minor + 1, 0), ==,
                   "headrank version too old (minor or micro mismatch)");
  g_assert_cmpstr (hr_check_version (major + 1, 0, 0), ==,
                   "headrank version too old (major mismatch)");
  if (major > 0)
    g_assert_cmpstr (hr_check_version (major - 1, minor, micro), ==,
                     "headrank version too new (major mismatch)");
}

int
main (int argc, char *argv[])
{
  /* untranslated messages */
  g_setenv ("LC_ALL", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/version/runtime", test_version_runtime);
  g_test_add_func ("/version/check", test_version_check);
  return g_test_run ();
}
