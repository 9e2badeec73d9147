/* bridge-registry.h — what a plugin registered through the host ABI.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <json-glib/json-glib.h>

#include "scriptling-plugin.h"

G_BEGIN_DECLS

typedef struct _BridgeRegistry BridgeRegistry;

/**
 * BridgeMember:
 * @name: method or property name
 * @description: (nullable): help text
 * @is_property: whether this is a property
 * @method: the method (methods only; %NULL for properties)
 * @getter: the getter (properties only)
 * @setter: (nullable): the setter; %NULL for read-only properties
 * @user_data: data for the functions
 * @free_func: (nullable): releases @user_data
 *
 * One method or property of a class.
 */
typedef struct {
  char *name;
  char *description;
  gboolean is_property;
  ScriptlingMethodFunc method;
  ScriptlingGetterFunc getter;
  ScriptlingSetterFunc setter;
  void *user_data;
  ScriptlingFreeFunc free_func;
} BridgeMember;

struct ScriptlingFunction {
  ScriptlingModule *module;
  char *name;
  char *description;
  char *source;
  ScriptlingFunctionFunc func;
  void *user_data;
  ScriptlingFreeFunc free_func;
};

struct ScriptlingClass {
  ScriptlingModule *module;
  char *name;
  char *description;
  char *source;
  ScriptlingConstructorFunc ctor;
  ScriptlingDestructorFunc dtor;
  void *user_data;
  ScriptlingFreeFunc free_func;
  GPtrArray *members;        /* (element-type BridgeMember) registration order */
  GHashTable *member_index;  /* name → BridgeMember */
};

struct ScriptlingModule {
  BridgeRegistry *registry;
  char *name;
  char *description;
  GPtrArray *functions;      /* (element-type ScriptlingFunction) */
  GPtrArray *classes;        /* (element-type ScriptlingClass) */
  GPtrArray *constant_names; /* (element-type utf8) */
  GPtrArray *constant_values;/* (element-type ScriptlingValue) */
  GHashTable *names;         /* every top-level name → its object */
};

BridgeRegistry *bridge_registry_new (const char *plugin_name,
                                     const char *plugin_version,
                                     const char *plugin_description);
void bridge_registry_free (BridgeRegistry *registry);
void bridge_registry_fill_api (ScriptlingHostApi *api);
void bridge_registry_set_open (BridgeRegistry *registry,
                               gboolean open);
ScriptlingModule *bridge_registry_register_module (BridgeRegistry *registry,
                                                   const char *name,
                                                   const char *description);
ScriptlingModule *bridge_registry_get_module (BridgeRegistry *registry);
const char *bridge_registry_get_library_name (BridgeRegistry *registry);
ScriptlingFunction *bridge_registry_lookup_function (BridgeRegistry *registry,
                                                     const char *name);
ScriptlingClass *bridge_registry_lookup_class (BridgeRegistry *registry,
                                               const char *name);
BridgeMember *bridge_class_lookup_member (ScriptlingClass *klass,
                                          const char *name);
JsonNode *bridge_registry_build_handshake (BridgeRegistry *registry,
                                           GError **error);

gboolean bridge_is_identifier (const char *name);
gboolean bridge_is_dotted_name (const char *name);

G_END_DECLS
