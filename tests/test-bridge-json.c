/* test-bridge-json.c — the bridge's strict JSON codec and value code.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "bridge-json.h"
#include "bridge-value.h"

static void
test_parse_accepts (void)
{
  const struct {
    const char *text;
    const char *canonical;
  } cases[] = {
    { "null", "null" },
    { " true ", "true" },
    { "[1,-2,0]", "[1,-2,0]" },
    { "9223372036854775807", "9223372036854775807" },
    { "-9223372036854775808", "-9223372036854775808" },
    /* Beyond int64: kept as the nearest double, never wrapped. */
    { "9223372036854775808", "9.223372036854776e+18" },
    { "100000000000000000000", "1e+20" },
    { "-0", "-0.0" },
    { "2.0", "2.0" },
    { "1E3", "1000.0" },
    { "1e-7", "1e-07" },
    { "0.1", "0.1" },
    { "{\"a\":1,\"b\":[],\"a\":2}", "{\"a\":2,\"b\":[]}" },
    { "\"\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\xc3\xa9\xf0\x9f\x98\x80\\\"\\\\/\\b\\f\\n\\r\\t\"" },
    { "\"\\u0001\\u001f\\u007f\"", "\"\\u0001\\u001f\x7f\"" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = bridge_json_parse (cases[i].text, strlen (cases[i].text), &error);
      g_autofree char *out = NULL;

      g_assert_no_error (error);
      out = bridge_json_to_string (node, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (out, ==, cases[i].canonical);
    }
}

static void
test_parse_rejects (void)
{
  const char *cases[] = {
    "", " ", "nul", "[1,]", "{\"a\":1,}", "{'a':1}", "01", "1.", ".5", "1e", "+1", "--1",
    "{\"a\":1}{\"b\":2}", "[1] x", "\"abc", "\"\\x\"", "\"\\ud83d\"", "\"\\ude00\"", "\"a\tb\"",
    "\"\xff\"", "NaN", "Infinity", "1e400", "\"\\u0000\"", "{1:2}", "[", "{\"a\"}",
  };
  g_autoptr(GString) deep = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = bridge_json_parse (cases[i], strlen (cases[i]), &error);

      if (node != NULL)
        g_error ("accepted %s", cases[i]);
      g_assert_error (error, BRIDGE_JSON_ERROR, error->code);
    }

  for (int i = 0; i < BRIDGE_JSON_MAX_DEPTH + 1; i++)
    g_string_append_c (deep, '[');
  for (int i = 0; i < BRIDGE_JSON_MAX_DEPTH + 1; i++)
    g_string_append_c (deep, ']');
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = bridge_json_parse (deep->str, deep->len, &error);
    g_assert_null (node);
    g_assert_error (error, BRIDGE_JSON_ERROR, BRIDGE_JSON_ERROR_DEPTH);
  }
  {
    /* One level less is fine. */
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = bridge_json_parse (deep->str + 1, deep->len - 2, &error);
    g_assert_no_error (error);
  }
}

static void
test_doubles (void)
{
  const double values[] = { 0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3.0, 1e300, -1e-300, 5e-324,
                            1.7976931348623157e308, 123456789012345678.0, 2.5e-5 };
  char buf[BRIDGE_JSON_DOUBLE_BUF_SIZE];

  for (gsize i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_assert_true (bridge_json_format_double (values[i], buf));
      g_assert_cmpfloat (g_ascii_strtod (buf, NULL), ==, values[i]);
      g_assert_cmpint (signbit (g_ascii_strtod (buf, NULL)), ==, signbit (values[i]));
      /* Always recognisably a float. */
      g_assert_nonnull (strpbrk (buf, ".e"));
    }
  g_assert_true (bridge_json_format_double (0.1, buf));
  g_assert_cmpstr (buf, ==, "0.1");
  g_assert_true (bridge_json_format_double (2.0, buf));
  g_assert_cmpstr (buf, ==, "2.0");
  g_assert_false (bridge_json_format_double (NAN, buf));
  g_assert_false (bridge_json_format_double (INFINITY, buf));
  g_assert_false (bridge_json_format_double (-INFINITY, buf));
}

static void
test_values (void)
{
  ScriptlingHostApi api = { 0 };
  g_autoptr(ScriptlingValue) list = NULL;
  g_autoptr(ScriptlingValue) dict = NULL;
  ScriptlingValue *item;
  const char *key;
  const ScriptlingValue *value;
  int64_t i64;
  double d;
  bool b;
  size_t len;

  bridge_value_fill_api (&api);

  list = api.value_new_list ();
  item = api.value_new_int (5);
  g_assert_true (api.list_append (list, api.value_ref (item)));
  /* The item is frozen now. */
  g_assert_false (api.list_append (item, api.value_new_null ()));
  g_assert_false (api.list_append (list, api.value_ref (list)));
  api.value_unref (item);
  g_assert_true (api.list_append (list, NULL));
  g_assert_cmpuint (api.list_get_length (list), ==, 2);
  g_assert_cmpint (api.value_get_type (api.list_get_item (list, 1)), ==, SCRIPTLING_VALUE_NULL);
  g_assert_null (api.list_get_item (list, 2));
  g_assert_true (api.value_get_int (api.list_get_item (list, 0), &i64));
  g_assert_cmpint (i64, ==, 5);
  g_assert_false (api.value_get_float (api.list_get_item (list, 0), &d));
  g_assert_false (api.value_get_bool (api.list_get_item (list, 0), &b));

  dict = api.value_new_dict ();
  g_assert_true (api.dict_set (dict, "z", api.value_new_int (1)));
  g_assert_true (api.dict_set (dict, "a", api.value_new_string ("x")));
  g_assert_true (api.dict_set (dict, "z", api.value_new_int (2)));
  g_assert_true (api.dict_set (dict, "l", api.value_ref (list)));
  /* A container inside another is frozen: no cycles can be built. */
  g_assert_false (api.list_append (list, api.value_ref (dict)));
  g_assert_cmpuint (api.dict_get_size (dict), ==, 3);
  g_assert_true (api.dict_get_entry (dict, 0, &key, &value));
  g_assert_cmpstr (key, ==, "z");
  g_assert_true (api.value_get_int (value, &i64));
  g_assert_cmpint (i64, ==, 2);
  g_assert_true (api.dict_get_entry (dict, 1, &key, NULL));
  g_assert_cmpstr (key, ==, "a");
  g_assert_false (api.dict_get_entry (dict, 3, &key, NULL));
  g_assert_cmpstr (api.value_get_string (api.dict_lookup (dict, "a"), &len), ==, "x");
  g_assert_cmpuint (len, ==, 1);
  g_assert_null (api.dict_lookup (dict, "missing"));
  g_assert_null (api.dict_lookup (list, "a"));
  g_assert_cmpstr (api.value_type_name (SCRIPTLING_VALUE_CALLBACK), ==, "function");

  {
    g_autoptr(ScriptlingValue) s = api.value_new_string_len ("a\xc3" "b\0c", 5);
    g_assert_cmpstr (api.value_get_string (s, &len), ==, "a\xef\xbf\xbd" "b");
    g_assert_cmpuint (len, ==, 5);
  }

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) node = bridge_value_to_transport (dict, "lib", &error);
    g_autofree char *text = NULL;

    g_assert_no_error (error);
    text = bridge_json_to_string (node, NULL);
    g_assert_cmpstr (text, ==,
                     "{\"type\":\"dict\",\"entries\":{\"z\":{\"type\":\"int\",\"value\":2},"
                     "\"a\":{\"type\":\"string\",\"value\":\"x\"},"
                     "\"l\":{\"type\":\"list\",\"items\":[{\"type\":\"int\",\"value\":5},{\"type\":\"null\"}]}}}");
  }
}

static void
test_deep_value (void)
{
  /* A deeply nested plugin value is refused when encoded and freed
   * without recursion. */
  g_autoptr(ScriptlingValue) outer = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonNode) node = NULL;
  ScriptlingValue *inner = bridge_value_new_int (1);

  for (int i = 0; i < 100000; i++)
    {
      ScriptlingValue *list = bridge_value_new_list ();
      bridge_value_list_append (list, inner);
      inner = list;
    }
  outer = inner;
  node = bridge_value_to_transport (outer, NULL, &error);
  g_assert_null (node);
  g_assert_error (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_UNSUPPORTED);
}

static void
test_decode_context (void)
{
  g_autoptr(BridgeCallbackScope) scope = bridge_callback_scope_new (GINT_TO_POINTER (1));
  BridgeDecodeContext with_scope = { "a.b", scope };
  BridgeDecodeContext without_scope = { "a.b", NULL };
  const char *cb = "{\"type\":\"callback\",\"callback\":{\"id\":\"cb-1\"}}";
  g_autoptr(JsonNode) node = bridge_json_parse (cb, strlen (cb), NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(ScriptlingValue) v = bridge_value_from_transport (node, &with_scope, "x", &error);
  ScriptlingValue *none;

  g_assert_no_error (error);
  g_assert_cmpstr (bridge_value_callback_get_id (v), ==, "cb-1");
  g_assert_true (bridge_value_callback_get_scope (v) == scope);
  g_assert_true (bridge_callback_scope_get_owner (scope) == GINT_TO_POINTER (1));
  bridge_callback_scope_invalidate (scope);
  g_assert_null (bridge_callback_scope_get_owner (scope));

  none = bridge_value_from_transport (node, &without_scope, "x", &error);
  g_assert_null (none);
  g_assert_error (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_INVALID);

  g_assert_true (bridge_library_name_matches ("a.b", "a.b"));
  g_assert_true (bridge_library_name_matches ("a.b", "plugin.a.b"));
  g_assert_true (bridge_library_name_matches ("plugin.a", "a"));
  g_assert_false (bridge_library_name_matches ("a.b", "a"));
  g_assert_false (bridge_library_name_matches ("a.b", "plugin.a"));
}

int
main (int argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/bridge-json/parse/accepts", test_parse_accepts);
  g_test_add_func ("/bridge-json/parse/rejects", test_parse_rejects);
  g_test_add_func ("/bridge-json/doubles", test_doubles);
  g_test_add_func ("/bridge-value/api", test_values);
  g_test_add_func ("/bridge-value/deep", test_deep_value);
  g_test_add_func ("/bridge-value/decode-context", test_decode_context);

  return g_test_run ();
}
