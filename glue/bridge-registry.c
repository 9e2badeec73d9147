/* bridge-registry.c — what a plugin registered through the host ABI.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * Registration is only possible while the plugin's init function runs (the
 * registry is "open"); afterwards it is read-only, so the server may read
 * it from any thread without locking.
 */

#include "config.h"

#include "bridge-registry.h"
#include "bridge-value.h"

#include <string.h>

struct _BridgeRegistry {
  gboolean open;
  char *plugin_name;
  char *plugin_version;
  char *plugin_description;
  ScriptlingModule *module;
};

/* Registration mistakes are programming errors in the plugin; they are
 * reported on stderr (the host shows it) and the entry point fails. */
static void
registration_error (const char *format,
                    ...) G_GNUC_PRINTF (1, 2);

static void
registration_error (const char *format,
                    ...)
{
  va_list ap;
  g_autofree char *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_printerr ("scriptling-plugin-bridge: plugin registration error: %s\n", message);
}

/**
 * bridge_is_identifier:
 * @name: (nullable): a name
 *
 * Returns: whether @name is an ASCII identifier (`[A-Za-z_][A-Za-z0-9_]*`),
 *   which is what generated wrapper source and `import` need
 */
gboolean
bridge_is_identifier (const char *name)
{
  if (name == NULL || !(g_ascii_isalpha (name[0]) || name[0] == '_'))
    return FALSE;
  for (const char *p = name + 1; *p; p++)
    if (!(g_ascii_isalnum (*p) || *p == '_'))
      return FALSE;
  return TRUE;
}

/**
 * bridge_is_dotted_name:
 * @name: (nullable): a name
 *
 * Returns: whether @name is one or more identifiers joined by dots
 */
gboolean
bridge_is_dotted_name (const char *name)
{
  g_auto(GStrv) parts = NULL;

  if (name == NULL || name[0] == '\0')
    return FALSE;
  parts = g_strsplit (name, ".", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (!bridge_is_identifier (parts[i]))
      return FALSE;
  return TRUE;
}

static char *
dup_nonempty (const char *s)
{
  return s != NULL && s[0] != '\0' ? g_strdup (s) : NULL;
}

static void
function_free (ScriptlingFunction *fn)
{
  if (fn->free_func != NULL)
    fn->free_func (fn->user_data);
  g_free (fn->name);
  g_free (fn->description);
  g_free (fn->source);
  g_free (fn);
}

static void
member_free (BridgeMember *member)
{
  if (member->free_func != NULL)
    member->free_func (member->user_data);
  g_free (member->name);
  g_free (member->description);
  g_free (member);
}

static void
class_free (ScriptlingClass *klass)
{
  g_hash_table_unref (klass->member_index);
  g_ptr_array_unref (klass->members);
  if (klass->free_func != NULL)
    klass->free_func (klass->user_data);
  g_free (klass->name);
  g_free (klass->description);
  g_free (klass->source);
  g_free (klass);
}

static void
module_free (ScriptlingModule *module)
{
  g_hash_table_unref (module->names);
  g_ptr_array_unref (module->constant_values);
  g_ptr_array_unref (module->constant_names);
  g_ptr_array_unref (module->classes);
  g_ptr_array_unref (module->functions);
  g_free (module->name);
  g_free (module->description);
  g_free (module);
}

/**
 * bridge_registry_new:
 * @plugin_name: the descriptor's name
 * @plugin_version: (nullable): the descriptor's version
 * @plugin_description: (nullable): the descriptor's description
 *
 * Returns: (transfer full): an empty, closed registry
 */
BridgeRegistry *
bridge_registry_new (const char *plugin_name,
                     const char *plugin_version,
                     const char *plugin_description)
{
  BridgeRegistry *registry = g_new0 (BridgeRegistry, 1);

  registry->plugin_name = g_strdup (plugin_name);
  registry->plugin_version = g_strdup (plugin_version != NULL ? plugin_version : "0");
  registry->plugin_description = g_strdup (plugin_description != NULL ? plugin_description : "");
  return registry;
}

/**
 * bridge_registry_free:
 * @registry: (nullable): the registry
 *
 * Frees everything and calls the plugin's free functions for its user data.
 * Must run on the script thread, after the shutdown hook.
 */
void
bridge_registry_free (BridgeRegistry *registry)
{
  if (registry == NULL)
    return;
  g_clear_pointer (&registry->module, module_free);
  g_free (registry->plugin_name);
  g_free (registry->plugin_version);
  g_free (registry->plugin_description);
  g_free (registry);
}

void
bridge_registry_set_open (BridgeRegistry *registry,
                          gboolean open)
{
  registry->open = open;
}

static gboolean
check_open (BridgeRegistry *registry,
            const char *what)
{
  if (!registry->open)
    {
      registration_error ("%s: registration is only possible during the plugin's init function", what);
      return FALSE;
    }
  return TRUE;
}

/**
 * bridge_registry_register_module:
 * @registry: the registry
 * @name: dotted module name
 * @description: (nullable): description; defaults to the descriptor's
 *
 * Returns: (transfer none): the module, or %NULL (reason on stderr)
 */
ScriptlingModule *
bridge_registry_register_module (BridgeRegistry *registry,
                                 const char *name,
                                 const char *description)
{
  ScriptlingModule *module;

  if (!check_open (registry, "register_module"))
    return NULL;
  if (registry->module != NULL)
    {
      registration_error ("register_module: module '%s' is already registered (one module per plugin)",
                          registry->module->name);
      return NULL;
    }
  if (!bridge_is_dotted_name (name))
    {
      registration_error ("register_module: '%s' is not a valid module name (dotted identifiers, e.g. scriptling.net.gossip)",
                          name != NULL ? name : "(null)");
      return NULL;
    }

  module = g_new0 (ScriptlingModule, 1);
  module->registry = registry;
  module->name = g_strdup (name);
  module->description = g_strdup (description != NULL && description[0] != '\0'
                                  ? description : registry->plugin_description);
  module->functions = g_ptr_array_new_with_free_func ((GDestroyNotify) function_free);
  module->classes = g_ptr_array_new_with_free_func ((GDestroyNotify) class_free);
  module->constant_names = g_ptr_array_new_with_free_func (g_free);
  module->constant_values = g_ptr_array_new_with_free_func ((GDestroyNotify) bridge_value_unref);
  module->names = g_hash_table_new (g_str_hash, g_str_equal);
  registry->module = module;
  return module;
}

static gboolean
check_new_top_level_name (ScriptlingModule *module,
                          const char *what,
                          const char *name)
{
  if (module == NULL)
    {
      registration_error ("%s: module is NULL", what);
      return FALSE;
    }
  if (!check_open (module->registry, what))
    return FALSE;
  if (!bridge_is_identifier (name))
    {
      registration_error ("%s: '%s' is not a valid identifier", what, name != NULL ? name : "(null)");
      return FALSE;
    }
  if (g_hash_table_contains (module->names, name))
    {
      registration_error ("%s: module '%s' already has a member named '%s'", what, module->name, name);
      return FALSE;
    }
  return TRUE;
}

static ScriptlingFunction *
api_module_add_function (ScriptlingModule *module,
                         const char *name,
                         const char *description,
                         ScriptlingFunctionFunc func,
                         void *user_data,
                         ScriptlingFreeFunc free_func)
{
  ScriptlingFunction *fn;

  if (!check_new_top_level_name (module, "module_add_function", name))
    return NULL;

  fn = g_new0 (ScriptlingFunction, 1);
  fn->module = module;
  fn->name = g_strdup (name);
  fn->description = dup_nonempty (description);
  fn->func = func;
  fn->user_data = user_data;
  fn->free_func = free_func;
  g_ptr_array_add (module->functions, fn);
  g_hash_table_insert (module->names, fn->name, fn);
  return fn;
}

static bool
set_source (BridgeRegistry *registry,
            const char *what,
            const char *name,
            char **field,
            const char *source)
{
  if (!check_open (registry, what))
    return false;
  if (source == NULL || source[0] == '\0')
    {
      registration_error ("%s: empty source for '%s'", what, name);
      return false;
    }
  if (!g_utf8_validate (source, -1, NULL))
    {
      registration_error ("%s: source for '%s' is not valid UTF-8", what, name);
      return false;
    }
  g_free (*field);
  *field = g_strdup (source);
  return true;
}

static bool
api_function_set_source (ScriptlingFunction *function,
                         const char *source)
{
  if (function == NULL)
    {
      registration_error ("function_set_source: function is NULL");
      return false;
    }
  return set_source (function->module->registry, "function_set_source", function->name,
                     &function->source, source);
}

static ScriptlingClass *
api_module_add_class (ScriptlingModule *module,
                      const char *name,
                      const char *description,
                      ScriptlingConstructorFunc ctor,
                      ScriptlingDestructorFunc dtor,
                      void *user_data,
                      ScriptlingFreeFunc free_func)
{
  ScriptlingClass *klass;

  if (!check_new_top_level_name (module, "module_add_class", name))
    return NULL;

  klass = g_new0 (ScriptlingClass, 1);
  klass->module = module;
  klass->name = g_strdup (name);
  klass->description = dup_nonempty (description);
  klass->ctor = ctor;
  klass->dtor = dtor;
  klass->user_data = user_data;
  klass->free_func = free_func;
  klass->members = g_ptr_array_new_with_free_func ((GDestroyNotify) member_free);
  klass->member_index = g_hash_table_new (g_str_hash, g_str_equal);
  g_ptr_array_add (module->classes, klass);
  g_hash_table_insert (module->names, klass->name, klass);
  return klass;
}

static BridgeMember *
add_member (ScriptlingClass *klass,
            const char *what,
            const char *name,
            const char *description)
{
  BridgeMember *member;

  if (klass == NULL)
    {
      registration_error ("%s: class is NULL", what);
      return NULL;
    }
  if (!check_open (klass->module->registry, what))
    return NULL;
  if (!bridge_is_identifier (name))
    {
      registration_error ("%s: '%s' is not a valid identifier", what, name != NULL ? name : "(null)");
      return NULL;
    }
  /* Names the generated wrapper class uses for itself. */
  if (g_str_equal (name, "__init__") || g_str_equal (name, "__del__") ||
      g_str_equal (name, "_plugin_remote"))
    {
      registration_error ("%s: '%s' is reserved", what, name);
      return NULL;
    }
  if (g_hash_table_contains (klass->member_index, name))
    {
      registration_error ("%s: class '%s' already has a member named '%s'", what, klass->name, name);
      return NULL;
    }

  member = g_new0 (BridgeMember, 1);
  member->name = g_strdup (name);
  member->description = dup_nonempty (description);
  g_ptr_array_add (klass->members, member);
  g_hash_table_insert (klass->member_index, member->name, member);
  return member;
}

static bool
api_class_add_method (ScriptlingClass *klass,
                      const char *name,
                      const char *description,
                      ScriptlingMethodFunc method,
                      void *user_data,
                      ScriptlingFreeFunc free_func)
{
  BridgeMember *member;

  if (method == NULL)
    {
      registration_error ("class_add_method: method '%s' has no implementation", name != NULL ? name : "(null)");
      return false;
    }
  member = add_member (klass, "class_add_method", name, description);
  if (member == NULL)
    return false;
  member->method = method;
  member->user_data = user_data;
  member->free_func = free_func;
  return true;
}

static bool
api_class_add_property (ScriptlingClass *klass,
                        const char *name,
                        const char *description,
                        ScriptlingGetterFunc getter,
                        ScriptlingSetterFunc setter,
                        void *user_data,
                        ScriptlingFreeFunc free_func)
{
  BridgeMember *member;

  if (getter == NULL)
    {
      registration_error ("class_add_property: property '%s' has no getter", name != NULL ? name : "(null)");
      return false;
    }
  member = add_member (klass, "class_add_property", name, description);
  if (member == NULL)
    return false;
  member->is_property = TRUE;
  member->getter = getter;
  member->setter = setter;
  member->user_data = user_data;
  member->free_func = free_func;
  return true;
}

static bool
api_class_set_source (ScriptlingClass *klass,
                      const char *source)
{
  if (klass == NULL)
    {
      registration_error ("class_set_source: class is NULL");
      return false;
    }
  return set_source (klass->module->registry, "class_set_source", klass->name,
                     &klass->source, source);
}

static bool
api_module_add_constant (ScriptlingModule *module,
                         const char *name,
                         ScriptlingValue *value)
{
  g_autoptr(ScriptlingValue) owned = value != NULL ? value : bridge_value_new_null ();
  g_autoptr(GError) error = NULL;
  char *key;

  if (!check_new_top_level_name (module, "module_add_constant", name))
    return false;
  /* Checked now so that the handshake cannot fail later. */
  if (!bridge_value_is_sendable (owned, &error) ||
      bridge_value_get_type (owned) == SCRIPTLING_VALUE_OBJECT)
    {
      registration_error ("module_add_constant: constant '%s' cannot be sent to Scriptling: %s",
                          name, error != NULL ? error->message : "object references are not constants");
      return false;
    }

  bridge_value_freeze (owned);
  key = g_strdup (name);
  g_ptr_array_add (module->constant_names, key);
  g_ptr_array_add (module->constant_values, g_steal_pointer (&owned));
  g_hash_table_insert (module->names, key, key);
  return true;
}

/**
 * bridge_registry_fill_api:
 * @api: the table
 *
 * Sets the registration entries of @api except those that need the host
 * handle (register_module, set_pump_func, set_shutdown_func), which the
 * server provides.
 */
void
bridge_registry_fill_api (ScriptlingHostApi *api)
{
  api->module_add_function = api_module_add_function;
  api->function_set_source = api_function_set_source;
  api->module_add_class = api_module_add_class;
  api->class_add_method = api_class_add_method;
  api->class_add_property = api_class_add_property;
  api->class_set_source = api_class_set_source;
  api->module_add_constant = api_module_add_constant;
}

ScriptlingModule *
bridge_registry_get_module (BridgeRegistry *registry)
{
  return registry->module;
}

const char *
bridge_registry_get_library_name (BridgeRegistry *registry)
{
  return registry->module != NULL ? registry->module->name : registry->plugin_name;
}

ScriptlingFunction *
bridge_registry_lookup_function (BridgeRegistry *registry,
                                 const char *name)
{
  ScriptlingModule *module = registry->module;

  if (module == NULL || name == NULL)
    return NULL;
  for (guint i = 0; i < module->functions->len; i++)
    {
      ScriptlingFunction *fn = g_ptr_array_index (module->functions, i);
      if (g_str_equal (fn->name, name))
        return fn;
    }
  return NULL;
}

ScriptlingClass *
bridge_registry_lookup_class (BridgeRegistry *registry,
                              const char *name)
{
  ScriptlingModule *module = registry->module;

  if (module == NULL || name == NULL)
    return NULL;
  for (guint i = 0; i < module->classes->len; i++)
    {
      ScriptlingClass *klass = g_ptr_array_index (module->classes, i);
      if (g_str_equal (klass->name, name))
        return klass;
    }
  return NULL;
}

BridgeMember *
bridge_class_lookup_member (ScriptlingClass *klass,
                            const char *name)
{
  return name != NULL ? g_hash_table_lookup (klass->member_index, name) : NULL;
}

static void
set_optional_string (JsonObject *object,
                     const char *member,
                     const char *value)
{
  if (value != NULL && value[0] != '\0')
    json_object_set_string_member (object, member, value);
}

/**
 * bridge_registry_build_handshake:
 * @registry: a registry with a module
 * @error: return location for an error
 *
 * Builds the result of `scriptling.handshake`: protocol, transport,
 * library, capabilities, and the schema in registration order.
 *
 * Returns: (transfer full): the result object, or %NULL with @error set
 */
JsonNode *
bridge_registry_build_handshake (BridgeRegistry *registry,
                                 GError **error)
{
  ScriptlingModule *module = registry->module;
  g_autoptr(JsonObject) result = json_object_new ();
  g_autoptr(JsonObject) library = json_object_new ();
  g_autoptr(JsonObject) schema = json_object_new ();
  g_autoptr(JsonArray) capabilities = json_array_new ();
  g_autoptr(JsonArray) functions = json_array_new ();
  g_autoptr(JsonArray) classes = json_array_new ();
  g_autoptr(JsonArray) constants = json_array_new ();

  g_return_val_if_fail (module != NULL, NULL);

  json_object_set_string_member (result, "protocol", "1.0");
  json_object_set_string_member (result, "transport", "json");
  json_object_set_string_member (library, "name", module->name);
  json_object_set_string_member (library, "version", registry->plugin_version);
  json_object_set_string_member (library, "description", module->description);
  json_object_set_object_member (result, "library", g_steal_pointer (&library));
  json_array_add_string_element (capabilities, "remote_objects");
  json_object_set_array_member (result, "capabilities", g_steal_pointer (&capabilities));

  for (guint i = 0; i < module->functions->len; i++)
    {
      ScriptlingFunction *fn = g_ptr_array_index (module->functions, i);
      JsonObject *entry = json_object_new ();

      json_object_set_string_member (entry, "name", fn->name);
      set_optional_string (entry, "description", fn->description);
      set_optional_string (entry, "source", fn->source);
      json_array_add_object_element (functions, entry);
    }

  for (guint i = 0; i < module->classes->len; i++)
    {
      ScriptlingClass *klass = g_ptr_array_index (module->classes, i);
      JsonObject *entry = json_object_new ();
      JsonObject *ctor = json_object_new ();
      JsonArray *methods = json_array_new ();
      JsonArray *properties = json_array_new ();

      json_object_set_string_member (entry, "name", klass->name);
      set_optional_string (entry, "description", klass->description);
      json_object_set_string_member (ctor, "name", klass->name);
      json_object_set_object_member (entry, "constructor", ctor);
      for (guint j = 0; j < klass->members->len; j++)
        {
          BridgeMember *member = g_ptr_array_index (klass->members, j);
          JsonObject *m = json_object_new ();

          json_object_set_string_member (m, "name", member->name);
          set_optional_string (m, "description", member->description);
          if (member->is_property)
            {
              if (member->setter != NULL)
                json_object_set_boolean_member (m, "settable", TRUE);
              json_array_add_object_element (properties, m);
            }
          else
            json_array_add_object_element (methods, m);
        }
      json_object_set_array_member (entry, "methods", methods);
      json_object_set_array_member (entry, "properties", properties);
      set_optional_string (entry, "source", klass->source);
      json_array_add_object_element (classes, entry);
    }

  for (guint i = 0; i < module->constant_names->len; i++)
    {
      JsonObject *entry = json_object_new ();
      JsonNode *value = bridge_value_to_transport (g_ptr_array_index (module->constant_values, i),
                                                   module->name, error);
      if (value == NULL)
        {
          json_object_unref (entry);
          return NULL;
        }
      json_object_set_string_member (entry, "name", g_ptr_array_index (module->constant_names, i));
      json_object_set_member (entry, "value", value);
      json_array_add_object_element (constants, entry);
    }

  json_object_set_array_member (schema, "functions", g_steal_pointer (&functions));
  json_object_set_array_member (schema, "classes", g_steal_pointer (&classes));
  json_object_set_array_member (schema, "constants", g_steal_pointer (&constants));
  json_object_set_object_member (result, "schema", g_steal_pointer (&schema));

  return json_node_init_object (json_node_alloc (), result);
}
