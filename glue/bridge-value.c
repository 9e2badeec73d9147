/* bridge-value.c — ScriptlingValue and its transport encoding.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * Values are reference-counted and may be created, read and released on
 * any thread.  A value is mutable only until it is "frozen" (added to a
 * container, handed to the host, or received from it); this keeps shared
 * values read-only and makes reference cycles impossible, so a plain
 * reference count is enough.
 */

#include "config.h"

#include "bridge-value.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK (bridge-value-error-quark, bridge_value_error)

struct _BridgeCallbackScope {
  gint ref_count;
  gint valid;
  gpointer owner;
};

struct ScriptlingValue {
  gint ref_count;
  gint frozen;
  ScriptlingValueType type;
  union {
    gboolean b;
    gint64 i;
    double d;
    struct {
      char *str;
      gsize len;
    } s;
    GPtrArray *items;
    struct {
      GPtrArray *keys;     /* (element-type utf8) owns the keys */
      GPtrArray *values;   /* (element-type ScriptlingValue) */
      GHashTable *index;   /* key (borrowed from keys) → position + 1 */
    } dict;
    struct {
      char *class_name;
      char *id;
    } obj;
    struct {
      char *id;
      BridgeCallbackScope *scope;
    } cb;
  } u;
};

/* ---- callback scopes ---------------------------------------------------- */

/**
 * bridge_callback_scope_new:
 * @owner: (nullable): opaque pointer for the server (its call)
 *
 * Returns: (transfer full): a new, valid scope
 */
BridgeCallbackScope *
bridge_callback_scope_new (gpointer owner)
{
  BridgeCallbackScope *scope = g_new0 (BridgeCallbackScope, 1);

  scope->ref_count = 1;
  scope->valid = 1;
  scope->owner = owner;
  return scope;
}

BridgeCallbackScope *
bridge_callback_scope_ref (BridgeCallbackScope *scope)
{
  g_atomic_int_inc (&scope->ref_count);
  return scope;
}

void
bridge_callback_scope_unref (BridgeCallbackScope *scope)
{
  if (scope != NULL && g_atomic_int_dec_and_test (&scope->ref_count))
    g_free (scope);
}

/* Once invalid, the owner pointer must not be followed any more: the call
 * it designated may have been freed. */
void
bridge_callback_scope_invalidate (BridgeCallbackScope *scope)
{
  g_atomic_int_set (&scope->valid, 0);
  scope->owner = NULL;
}

gboolean
bridge_callback_scope_is_valid (BridgeCallbackScope *scope)
{
  return scope != NULL && g_atomic_int_get (&scope->valid) != 0;
}

gpointer
bridge_callback_scope_get_owner (BridgeCallbackScope *scope)
{
  return bridge_callback_scope_is_valid (scope) ? scope->owner : NULL;
}

/* ---- construction and release ------------------------------------------- */

static ScriptlingValue *
value_alloc (ScriptlingValueType type)
{
  ScriptlingValue *v = g_new0 (ScriptlingValue, 1);

  v->ref_count = 1;
  v->type = type;
  return v;
}

ScriptlingValue *
bridge_value_new_null (void)
{
  return value_alloc (SCRIPTLING_VALUE_NULL);
}

ScriptlingValue *
bridge_value_new_bool (bool value)
{
  ScriptlingValue *v = value_alloc (SCRIPTLING_VALUE_BOOL);

  v->u.b = value ? TRUE : FALSE;
  return v;
}

ScriptlingValue *
bridge_value_new_int (int64_t value)
{
  ScriptlingValue *v = value_alloc (SCRIPTLING_VALUE_INT);

  v->u.i = value;
  return v;
}

ScriptlingValue *
bridge_value_new_float (double value)
{
  ScriptlingValue *v = value_alloc (SCRIPTLING_VALUE_FLOAT);

  v->u.d = value;
  return v;
}

/* Takes ownership of @valid_utf8, which must be valid and NUL-free. */
static ScriptlingValue *
value_new_string_take (char *valid_utf8)
{
  ScriptlingValue *v = value_alloc (SCRIPTLING_VALUE_STRING);

  v->u.s.str = valid_utf8;
  v->u.s.len = strlen (valid_utf8);
  return v;
}

ScriptlingValue *
bridge_value_new_string (const char *utf8)
{
  if (utf8 == NULL)
    return bridge_value_new_null ();
  return value_new_string_take (g_utf8_make_valid (utf8, -1));
}

static ScriptlingValue *
api_value_new_string_len (const char *utf8,
                          size_t length)
{
  const char *nul;

  if (utf8 == NULL)
    return bridge_value_new_null ();
  /* Strings travel NUL-terminated, so an embedded NUL ends them. */
  nul = memchr (utf8, '\0', length);
  if (nul != NULL)
    length = nul - utf8;
  return value_new_string_take (g_utf8_make_valid (utf8, (gssize) length));
}

ScriptlingValue *
bridge_value_new_list (void)
{
  ScriptlingValue *v = value_alloc (SCRIPTLING_VALUE_LIST);

  v->u.items = g_ptr_array_new ();
  return v;
}

ScriptlingValue *
bridge_value_new_dict (void)
{
  ScriptlingValue *v = value_alloc (SCRIPTLING_VALUE_DICT);

  v->u.dict.keys = g_ptr_array_new_with_free_func (g_free);
  v->u.dict.values = g_ptr_array_new ();
  v->u.dict.index = g_hash_table_new (g_str_hash, g_str_equal);
  return v;
}

/**
 * bridge_value_new_object:
 * @class_name: the class name
 * @id: the object id
 *
 * Returns: (transfer full): a frozen object reference value
 */
ScriptlingValue *
bridge_value_new_object (const char *class_name,
                         const char *id)
{
  ScriptlingValue *v = value_alloc (SCRIPTLING_VALUE_OBJECT);

  v->u.obj.class_name = g_strdup (class_name);
  v->u.obj.id = g_strdup (id);
  v->frozen = 1;
  return v;
}

/**
 * bridge_value_new_callback:
 * @id: the host's callback id
 * @scope: the scope the callback is valid in
 *
 * Returns: (transfer full): a frozen callback value
 */
ScriptlingValue *
bridge_value_new_callback (const char *id,
                           BridgeCallbackScope *scope)
{
  ScriptlingValue *v = value_alloc (SCRIPTLING_VALUE_CALLBACK);

  v->u.cb.id = g_strdup (id);
  v->u.cb.scope = bridge_callback_scope_ref (scope);
  v->frozen = 1;
  return v;
}

ScriptlingValue *
bridge_value_ref (const ScriptlingValue *value)
{
  ScriptlingValue *v = (ScriptlingValue *) value;

  if (v != NULL)
    g_atomic_int_inc (&v->ref_count);
  return v;
}

/* Releases the value's own storage and queues its children.  Iterative
 * rather than recursive so that a deeply nested value cannot overflow the
 * stack when it is freed. */
static void
value_finalize (ScriptlingValue *v,
                GPtrArray *pending)
{
  switch (v->type)
    {
    case SCRIPTLING_VALUE_STRING:
      g_free (v->u.s.str);
      break;
    case SCRIPTLING_VALUE_LIST:
      for (guint i = 0; i < v->u.items->len; i++)
        g_ptr_array_add (pending, g_ptr_array_index (v->u.items, i));
      g_ptr_array_unref (v->u.items);
      break;
    case SCRIPTLING_VALUE_DICT:
      for (guint i = 0; i < v->u.dict.values->len; i++)
        g_ptr_array_add (pending, g_ptr_array_index (v->u.dict.values, i));
      g_hash_table_unref (v->u.dict.index);
      g_ptr_array_unref (v->u.dict.values);
      g_ptr_array_unref (v->u.dict.keys);
      break;
    case SCRIPTLING_VALUE_OBJECT:
      g_free (v->u.obj.class_name);
      g_free (v->u.obj.id);
      break;
    case SCRIPTLING_VALUE_CALLBACK:
      g_free (v->u.cb.id);
      bridge_callback_scope_unref (v->u.cb.scope);
      break;
    case SCRIPTLING_VALUE_NULL:
    case SCRIPTLING_VALUE_BOOL:
    case SCRIPTLING_VALUE_INT:
    case SCRIPTLING_VALUE_FLOAT:
    default:
      break;
    }
  g_free (v);
}

void
bridge_value_unref (ScriptlingValue *value)
{
  GPtrArray *pending;

  if (value == NULL || !g_atomic_int_dec_and_test (&value->ref_count))
    return;
  if (value->type != SCRIPTLING_VALUE_LIST && value->type != SCRIPTLING_VALUE_DICT)
    {
      value_finalize (value, NULL);
      return;
    }

  pending = g_ptr_array_new ();
  value_finalize (value, pending);
  while (pending->len > 0)
    {
      ScriptlingValue *child = g_ptr_array_steal_index_fast (pending, pending->len - 1);

      if (g_atomic_int_dec_and_test (&child->ref_count))
        value_finalize (child, pending);
    }
  g_ptr_array_unref (pending);
}

void
bridge_value_freeze (ScriptlingValue *value)
{
  if (value != NULL)
    g_atomic_int_set (&value->frozen, 1);
}

/* ---- accessors ------------------------------------------------------------ */

ScriptlingValueType
bridge_value_get_type (const ScriptlingValue *value)
{
  return value != NULL ? value->type : SCRIPTLING_VALUE_NULL;
}

static const char *
api_value_type_name (ScriptlingValueType type)
{
  switch (type)
    {
    case SCRIPTLING_VALUE_NULL: return "NoneType";
    case SCRIPTLING_VALUE_BOOL: return "bool";
    case SCRIPTLING_VALUE_INT: return "int";
    case SCRIPTLING_VALUE_FLOAT: return "float";
    case SCRIPTLING_VALUE_STRING: return "str";
    case SCRIPTLING_VALUE_LIST: return "list";
    case SCRIPTLING_VALUE_DICT: return "dict";
    case SCRIPTLING_VALUE_OBJECT: return "object";
    case SCRIPTLING_VALUE_CALLBACK: return "function";
    default: return "unknown";
    }
}

static bool
api_value_get_bool (const ScriptlingValue *value,
                    bool *out)
{
  if (value == NULL || value->type != SCRIPTLING_VALUE_BOOL)
    return false;
  if (out != NULL)
    *out = value->u.b;
  return true;
}

static bool
api_value_get_int (const ScriptlingValue *value,
                   int64_t *out)
{
  if (value == NULL || value->type != SCRIPTLING_VALUE_INT)
    return false;
  if (out != NULL)
    *out = value->u.i;
  return true;
}

static bool
api_value_get_float (const ScriptlingValue *value,
                     double *out)
{
  if (value == NULL || value->type != SCRIPTLING_VALUE_FLOAT)
    return false;
  if (out != NULL)
    *out = value->u.d;
  return true;
}

static const char *
api_value_get_string (const ScriptlingValue *value,
                      size_t *length)
{
  if (value == NULL || value->type != SCRIPTLING_VALUE_STRING)
    return NULL;
  if (length != NULL)
    *length = value->u.s.len;
  return value->u.s.str;
}

static size_t
api_list_get_length (const ScriptlingValue *list)
{
  if (list == NULL || list->type != SCRIPTLING_VALUE_LIST)
    return 0;
  return list->u.items->len;
}

static const ScriptlingValue *
api_list_get_item (const ScriptlingValue *list,
                   size_t index)
{
  if (list == NULL || list->type != SCRIPTLING_VALUE_LIST || index >= list->u.items->len)
    return NULL;
  return g_ptr_array_index (list->u.items, index);
}

gboolean
bridge_value_list_append (ScriptlingValue *list,
                          ScriptlingValue *item)
{
  if (item == NULL)
    item = bridge_value_new_null ();
  if (list == NULL || list->type != SCRIPTLING_VALUE_LIST ||
      g_atomic_int_get (&list->frozen) || item == list)
    {
      bridge_value_unref (item);
      return FALSE;
    }
  bridge_value_freeze (item);
  g_ptr_array_add (list->u.items, item);
  return TRUE;
}

static bool
api_list_append (ScriptlingValue *list,
                 ScriptlingValue *item)
{
  return bridge_value_list_append (list, item);
}

gsize
bridge_value_dict_get_size (const ScriptlingValue *dict)
{
  if (dict == NULL || dict->type != SCRIPTLING_VALUE_DICT)
    return 0;
  return dict->u.dict.keys->len;
}

static size_t
api_dict_get_size (const ScriptlingValue *dict)
{
  return bridge_value_dict_get_size (dict);
}

static const ScriptlingValue *
api_dict_lookup (const ScriptlingValue *dict,
                 const char *key)
{
  gpointer pos;

  if (dict == NULL || dict->type != SCRIPTLING_VALUE_DICT || key == NULL)
    return NULL;
  pos = g_hash_table_lookup (dict->u.dict.index, key);
  if (pos == NULL)
    return NULL;
  return g_ptr_array_index (dict->u.dict.values, GPOINTER_TO_UINT (pos) - 1);
}

gboolean
bridge_value_dict_get_entry (const ScriptlingValue *dict,
                             gsize index,
                             const char **key,
                             const ScriptlingValue **value)
{
  if (dict == NULL || dict->type != SCRIPTLING_VALUE_DICT || index >= dict->u.dict.keys->len)
    return FALSE;
  if (key != NULL)
    *key = g_ptr_array_index (dict->u.dict.keys, index);
  if (value != NULL)
    *value = g_ptr_array_index (dict->u.dict.values, index);
  return TRUE;
}

static bool
api_dict_get_entry (const ScriptlingValue *dict,
                    size_t index,
                    const char **key,
                    const ScriptlingValue **value)
{
  return bridge_value_dict_get_entry (dict, index, key, value);
}

gboolean
bridge_value_dict_set (ScriptlingValue *dict,
                       const char *key,
                       ScriptlingValue *value)
{
  g_autofree char *valid_key = NULL;
  gpointer pos;

  if (value == NULL)
    value = bridge_value_new_null ();
  if (dict == NULL || dict->type != SCRIPTLING_VALUE_DICT ||
      g_atomic_int_get (&dict->frozen) || key == NULL || value == dict)
    {
      bridge_value_unref (value);
      return FALSE;
    }

  bridge_value_freeze (value);
  valid_key = g_utf8_make_valid (key, -1);
  pos = g_hash_table_lookup (dict->u.dict.index, valid_key);
  if (pos != NULL)
    {
      guint i = GPOINTER_TO_UINT (pos) - 1;

      bridge_value_unref (g_ptr_array_index (dict->u.dict.values, i));
      g_ptr_array_index (dict->u.dict.values, i) = value;
    }
  else
    {
      char *owned = g_steal_pointer (&valid_key);

      g_ptr_array_add (dict->u.dict.keys, owned);
      g_ptr_array_add (dict->u.dict.values, value);
      g_hash_table_insert (dict->u.dict.index, owned,
                           GUINT_TO_POINTER (dict->u.dict.keys->len));
    }
  return TRUE;
}

static bool
api_dict_set (ScriptlingValue *dict,
              const char *key,
              ScriptlingValue *value)
{
  return bridge_value_dict_set (dict, key, value);
}

const char *
bridge_value_object_get_class_name (const ScriptlingValue *value)
{
  if (value == NULL || value->type != SCRIPTLING_VALUE_OBJECT)
    return NULL;
  return value->u.obj.class_name;
}

const char *
bridge_value_object_get_id (const ScriptlingValue *value)
{
  if (value == NULL || value->type != SCRIPTLING_VALUE_OBJECT)
    return NULL;
  return value->u.obj.id;
}

const char *
bridge_value_callback_get_id (const ScriptlingValue *value)
{
  if (value == NULL || value->type != SCRIPTLING_VALUE_CALLBACK)
    return NULL;
  return value->u.cb.id;
}

BridgeCallbackScope *
bridge_value_callback_get_scope (const ScriptlingValue *value)
{
  if (value == NULL || value->type != SCRIPTLING_VALUE_CALLBACK)
    return NULL;
  return value->u.cb.scope;
}

/**
 * bridge_value_fill_api:
 * @api: the table to fill
 *
 * Sets the value entries of @api (everything that needs no server).
 */
void
bridge_value_fill_api (ScriptlingHostApi *api)
{
  api->value_new_null = bridge_value_new_null;
  api->value_new_bool = bridge_value_new_bool;
  api->value_new_int = bridge_value_new_int;
  api->value_new_float = bridge_value_new_float;
  api->value_new_string = bridge_value_new_string;
  api->value_new_string_len = api_value_new_string_len;
  api->value_new_list = bridge_value_new_list;
  api->value_new_dict = bridge_value_new_dict;
  api->value_ref = bridge_value_ref;
  api->value_unref = bridge_value_unref;
  api->value_get_type = bridge_value_get_type;
  api->value_type_name = api_value_type_name;
  api->value_get_bool = api_value_get_bool;
  api->value_get_int = api_value_get_int;
  api->value_get_float = api_value_get_float;
  api->value_get_string = api_value_get_string;
  api->list_get_length = api_list_get_length;
  api->list_get_item = api_list_get_item;
  api->list_append = api_list_append;
  api->dict_get_size = api_dict_get_size;
  api->dict_lookup = api_dict_lookup;
  api->dict_get_entry = api_dict_get_entry;
  api->dict_set = api_dict_set;
  api->object_get_class_name = bridge_value_object_get_class_name;
  api->object_get_id = bridge_value_object_get_id;
}

/* ---- transport codec ------------------------------------------------------ */

/**
 * bridge_library_name_matches:
 * @registered: the module name the plugin registered
 * @given: a library name from the wire
 *
 * The host normalises library names to `plugin.NAME`, but wrapper code
 * builds references with the name as written, so both spellings are the
 * same library.
 *
 * Returns: whether @given designates @registered
 */
gboolean
bridge_library_name_matches (const char *registered,
                             const char *given)
{
  if (g_str_equal (registered, given))
    return TRUE;
  if (g_str_has_prefix (given, "plugin.") && g_str_equal (registered, given + 7))
    return TRUE;
  if (g_str_has_prefix (registered, "plugin.") && g_str_equal (registered + 7, given))
    return TRUE;
  return FALSE;
}

static const char *
node_kind (JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT: return "an object";
    case JSON_NODE_ARRAY: return "an array";
    case JSON_NODE_NULL: return "null";
    case JSON_NODE_VALUE:
      {
        GType t = json_node_get_value_type (node);
        if (t == G_TYPE_STRING)
          return "a string";
        if (t == G_TYPE_BOOLEAN)
          return "a boolean";
        return "a number";
      }
    default:
      return "unknown";
    }
}

static gboolean
node_is_number (JsonNode *node)
{
  GType t;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  t = json_node_get_value_type (node);
  return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

static const char *
member_string (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static ScriptlingValue *
decode (JsonNode *node,
        const BridgeDecodeContext *context,
        GString *path,
        GError **error);

static ScriptlingValue *
invalid (GError **error,
         GString *path,
         const char *format,
         ...) G_GNUC_PRINTF (3, 4);

static ScriptlingValue *
invalid (GError **error,
         GString *path,
         const char *format,
         ...)
{
  va_list ap;
  g_autofree char *what = NULL;

  va_start (ap, format);
  what = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_INVALID,
               "%s: %s", path->str, what);
  return NULL;
}

static ScriptlingValue *
decode_list (JsonObject *object,
             const BridgeDecodeContext *context,
             GString *path,
             GError **error)
{
  JsonNode *items = json_object_get_member (object, "items");
  g_autoptr(ScriptlingValue) list = bridge_value_new_list ();
  gsize path_len = path->len;
  JsonArray *array;
  guint n;

  /* The host omits "items" for an empty list. */
  if (items == NULL || JSON_NODE_HOLDS_NULL (items))
    return g_steal_pointer (&list);
  if (!JSON_NODE_HOLDS_ARRAY (items))
    return invalid (error, path, "list \"items\" must be an array, not %s", node_kind (items));

  array = json_node_get_array (items);
  n = json_array_get_length (array);
  for (guint i = 0; i < n; i++)
    {
      ScriptlingValue *item;

      g_string_append_printf (path, "[%u]", i);
      item = decode (json_array_get_element (array, i), context, path, error);
      g_string_truncate (path, path_len);
      if (item == NULL)
        return NULL;
      bridge_value_list_append (list, item);
    }
  return g_steal_pointer (&list);
}

static ScriptlingValue *
decode_dict (JsonObject *object,
             const BridgeDecodeContext *context,
             GString *path,
             GError **error)
{
  JsonNode *entries = json_object_get_member (object, "entries");
  g_autoptr(ScriptlingValue) dict = bridge_value_new_dict ();
  gsize path_len = path->len;
  JsonObjectIter iter;
  const char *key;
  JsonNode *member;

  /* The host omits "entries" for an empty dict. */
  if (entries == NULL || JSON_NODE_HOLDS_NULL (entries))
    return g_steal_pointer (&dict);
  if (!JSON_NODE_HOLDS_OBJECT (entries))
    return invalid (error, path, "dict \"entries\" must be an object, not %s", node_kind (entries));

  json_object_iter_init_ordered (&iter, json_node_get_object (entries));
  while (json_object_iter_next_ordered (&iter, &key, &member))
    {
      ScriptlingValue *value;

      g_string_append_printf (path, "[\"%s\"]", key);
      value = decode (member, context, path, error);
      g_string_truncate (path, path_len);
      if (value == NULL)
        return NULL;
      bridge_value_dict_set (dict, key, value);
    }
  return g_steal_pointer (&dict);
}

static ScriptlingValue *
decode (JsonNode *node,
        const BridgeDecodeContext *context,
        GString *path,
        GError **error)
{
  JsonObject *object;
  JsonNode *type_node, *value;
  const char *type;
  ScriptlingValue *result = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return invalid (error, path, "a transport value must be an object, not %s", node_kind (node));

  object = json_node_get_object (node);
  type_node = json_object_get_member (object, "type");
  value = json_object_get_member (object, "value");

  /* Like the host, treat a missing or empty type as null. */
  if (type_node == NULL || JSON_NODE_HOLDS_NULL (type_node))
    type = "";
  else if (JSON_NODE_HOLDS_VALUE (type_node) && json_node_get_value_type (type_node) == G_TYPE_STRING)
    type = json_node_get_string (type_node);
  else
    return invalid (error, path, "\"type\" must be a string, not %s", node_kind (type_node));

  if (type[0] == '\0' || g_str_equal (type, "null"))
    result = bridge_value_new_null ();
  else if (g_str_equal (type, "bool"))
    {
      if (value == NULL || !JSON_NODE_HOLDS_VALUE (value) ||
          json_node_get_value_type (value) != G_TYPE_BOOLEAN)
        return invalid (error, path, "invalid bool transport value");
      result = bridge_value_new_bool (json_node_get_boolean (value));
    }
  else if (g_str_equal (type, "int"))
    {
      if (value == NULL || !node_is_number (value))
        return invalid (error, path, "invalid int transport value");
      if (json_node_get_value_type (value) == G_TYPE_INT64)
        result = bridge_value_new_int (json_node_get_int (value));
      else
        {
          double d = json_node_get_double (value);

          /* An int written with a fraction or exponent is accepted when it
           * is exact; anything else would silently change the number. */
          if (d != trunc (d))
            return invalid (error, path, "int transport value %.17g is not an integer", d);
          if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return invalid (error, path, "int transport value %.17g is out of the 64-bit range", d);
          result = bridge_value_new_int ((gint64) d);
        }
    }
  else if (g_str_equal (type, "float"))
    {
      if (value == NULL || !node_is_number (value))
        return invalid (error, path, "invalid float transport value");
      if (json_node_get_value_type (value) == G_TYPE_INT64)
        result = bridge_value_new_float ((double) json_node_get_int (value));
      else
        result = bridge_value_new_float (json_node_get_double (value));
    }
  else if (g_str_equal (type, "string"))
    {
      if (value == NULL || !JSON_NODE_HOLDS_VALUE (value) ||
          json_node_get_value_type (value) != G_TYPE_STRING)
        return invalid (error, path, "invalid string transport value");
      /* The JSON parser already guarantees valid UTF-8 without NUL. */
      result = value_new_string_take (g_strdup (json_node_get_string (value)));
    }
  else if (g_str_equal (type, "list"))
    result = decode_list (object, context, path, error);
  else if (g_str_equal (type, "dict"))
    result = decode_dict (object, context, path, error);
  else if (g_str_equal (type, "remote"))
    {
      JsonNode *remote = json_object_get_member (object, "remote");
      const char *library, *class_name, *id;
      JsonObject *r;

      if (remote == NULL || !JSON_NODE_HOLDS_OBJECT (remote))
        return invalid (error, path, "remote transport value needs a \"remote\" object");
      r = json_node_get_object (remote);
      library = member_string (r, "library");
      class_name = member_string (r, "class");
      id = member_string (r, "id");
      if (class_name == NULL || id == NULL)
        return invalid (error, path, "remote reference needs string \"class\" and \"id\"");
      if (library != NULL && context->library != NULL &&
          !bridge_library_name_matches (context->library, library))
        return invalid (error, path, "object reference of library '%s' does not belong to library '%s'",
                        library, context->library);
      result = bridge_value_new_object (class_name, id);
    }
  else if (g_str_equal (type, "callback"))
    {
      JsonNode *callback = json_object_get_member (object, "callback");
      const char *id;

      if (callback == NULL || !JSON_NODE_HOLDS_OBJECT (callback) ||
          (id = member_string (json_node_get_object (callback), "id")) == NULL)
        return invalid (error, path, "callback transport value needs a \"callback\" object with a string \"id\"");
      if (context->scope == NULL)
        return invalid (error, path, "a callback is not allowed here");
      result = bridge_value_new_callback (id, context->scope);
    }
  else
    return invalid (error, path, "unsupported transport value type \"%s\"", type);

  if (result != NULL)
    bridge_value_freeze (result);
  return result;
}

/**
 * bridge_value_from_transport:
 * @node: a transport value (§8 of the protocol notes)
 * @context: the request's library name and callback scope
 * @path: where the value sits in the request, for messages (e.g. `args[0]`)
 * @error: return location for %BRIDGE_VALUE_ERROR_INVALID
 *
 * Decodes a transport value by its `type` member, never by the lexical form
 * of numbers.  The result is frozen.
 *
 * Thread: any.
 *
 * Returns: (transfer full): the value, or %NULL with @error set
 */
ScriptlingValue *
bridge_value_from_transport (JsonNode *node,
                             const BridgeDecodeContext *context,
                             const char *path,
                             GError **error)
{
  g_autoptr(GString) p = g_string_new (path);

  return decode (node, context, p, error);
}

static JsonNode *
encode (const ScriptlingValue *v,
        const char *library,
        guint depth,
        GError **error)
{
  g_autoptr(JsonObject) object = json_object_new ();

  if (depth > BRIDGE_VALUE_MAX_DEPTH)
    {
      g_set_error (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_UNSUPPORTED,
                   "value is nested deeper than %d levels", BRIDGE_VALUE_MAX_DEPTH);
      return NULL;
    }

  switch (bridge_value_get_type (v))
    {
    case SCRIPTLING_VALUE_NULL:
      json_object_set_string_member (object, "type", "null");
      break;
    case SCRIPTLING_VALUE_BOOL:
      json_object_set_string_member (object, "type", "bool");
      json_object_set_boolean_member (object, "value", v->u.b);
      break;
    case SCRIPTLING_VALUE_INT:
      json_object_set_string_member (object, "type", "int");
      json_object_set_int_member (object, "value", v->u.i);
      break;
    case SCRIPTLING_VALUE_FLOAT:
      if (!isfinite (v->u.d))
        {
          g_set_error (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_UNSUPPORTED,
                       "float value %g cannot be sent to Scriptling (JSON has no NaN or infinity)",
                       v->u.d);
          return NULL;
        }
      json_object_set_string_member (object, "type", "float");
      json_object_set_double_member (object, "value", v->u.d);
      break;
    case SCRIPTLING_VALUE_STRING:
      json_object_set_string_member (object, "type", "string");
      json_object_set_string_member (object, "value", v->u.s.str);
      break;
    case SCRIPTLING_VALUE_LIST:
      {
        /* "items" is always written, even when empty: the host accepts
         * both and an explicit member is clearer to read. */
        g_autoptr(JsonArray) items = json_array_new ();

        for (guint i = 0; i < v->u.items->len; i++)
          {
            JsonNode *item = encode (g_ptr_array_index (v->u.items, i), library, depth + 1, error);
            if (item == NULL)
              return NULL;
            json_array_add_element (items, item);
          }
        json_object_set_string_member (object, "type", "list");
        json_object_set_array_member (object, "items", g_steal_pointer (&items));
        break;
      }
    case SCRIPTLING_VALUE_DICT:
      {
        g_autoptr(JsonObject) entries = json_object_new ();

        for (guint i = 0; i < v->u.dict.keys->len; i++)
          {
            JsonNode *member = encode (g_ptr_array_index (v->u.dict.values, i), library, depth + 1, error);
            if (member == NULL)
              return NULL;
            json_object_set_member (entries, g_ptr_array_index (v->u.dict.keys, i), member);
          }
        json_object_set_string_member (object, "type", "dict");
        json_object_set_object_member (object, "entries", g_steal_pointer (&entries));
        break;
      }
    case SCRIPTLING_VALUE_OBJECT:
      {
        /* The snapshot host rejects remote values in results; they are
         * still encoded faithfully so that a newer host can accept them. */
        g_autoptr(JsonObject) remote = json_object_new ();

        json_object_set_string_member (remote, "library", library != NULL ? library : "");
        json_object_set_string_member (remote, "class", v->u.obj.class_name);
        json_object_set_string_member (remote, "id", v->u.obj.id);
        json_object_set_string_member (object, "type", "remote");
        json_object_set_object_member (object, "remote", g_steal_pointer (&remote));
        break;
      }
    case SCRIPTLING_VALUE_CALLBACK:
      g_set_error_literal (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_UNSUPPORTED,
                           "a callback cannot be sent back to Scriptling");
      return NULL;
    default:
      g_set_error_literal (error, BRIDGE_VALUE_ERROR, BRIDGE_VALUE_ERROR_UNSUPPORTED,
                           "unknown value type");
      return NULL;
    }

  return json_node_init_object (json_node_alloc (), object);
}

/**
 * bridge_value_to_transport:
 * @value: (nullable): the value; %NULL is `None`
 * @library: the module name, written into object references
 * @error: return location for %BRIDGE_VALUE_ERROR_UNSUPPORTED
 *
 * Encodes a value for the host.  Fails for callbacks, non-finite floats and
 * nesting deeper than #BRIDGE_VALUE_MAX_DEPTH.
 *
 * Thread: any (the value must not be mutated meanwhile).
 *
 * Returns: (transfer full): the transport value, or %NULL with @error set
 */
JsonNode *
bridge_value_to_transport (const ScriptlingValue *value,
                           const char *library,
                           GError **error)
{
  return encode (value, library, 0, error);
}

/**
 * bridge_value_is_sendable:
 * @value: (nullable): a value
 * @error: return location for the reason
 *
 * Whether bridge_value_to_transport() would succeed.
 *
 * Returns: %TRUE if @value can be sent to the host
 */
gboolean
bridge_value_is_sendable (const ScriptlingValue *value,
                          GError **error)
{
  g_autoptr(JsonNode) node = encode (value, NULL, 0, error);

  return node != NULL;
}
