/* test-plugin.c — loads the built gossip.so exactly as a host does (dlopen
 * by path, the descriptor, init with a ScriptlingHostApi) and drives every
 * function, method and constant of scriptling.net.gossip through the ABI.
 *
 * SPDX-License-Identifier: MIT
 *
 * The test implements a small but complete host: reference-counted values
 * with freezing, calls that can be deferred, callbacks valid only while
 * their call is in flight, wakeup from any thread and the pump hook on the
 * test thread.  It cannot run Scriptling source, so it plays the wrapper's
 * role in C: handlers live in test-side tables and a C dispatcher callback
 * is passed as `_dispatch` into every call, as gossip-wrapper.sl does.
 */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>

#include "scriptling-plugin.h"

#define WAIT_S 15.0

/* ==== values =============================================================== */

typedef struct TCall TCall;
typedef struct TCallback TCallback;
typedef ScriptlingValue *(*TCallbackFunc) (TCallback *cb, size_t n, const ScriptlingValue *const *args,
                                           const ScriptlingValue *kwargs, char **error);

struct ScriptlingValue {
  gint refs;
  ScriptlingValueType type;
  gboolean frozen;
  gboolean b;
  gint64 i;
  double d;
  char *s;
  GPtrArray *items;        /* list items, or dict values */
  GPtrArray *keys;         /* dict keys */
  char *class_name;        /* object */
  char *id;                /* object */
  TCallback *cb;           /* callback */
};

struct TCallback {
  TCallbackFunc func;
  gpointer data;
  TCall *owner;            /* valid while owner in flight */
};

static ScriptlingValue *
v_new (ScriptlingValueType type)
{
  ScriptlingValue *v = g_new0 (ScriptlingValue, 1);
  v->refs = 1;
  v->type = type;
  if (type == SCRIPTLING_VALUE_LIST || type == SCRIPTLING_VALUE_DICT)
    v->items = g_ptr_array_new ();
  if (type == SCRIPTLING_VALUE_DICT)
    v->keys = g_ptr_array_new_with_free_func (g_free);
  return v;
}

static ScriptlingValue *v_null (void) { return v_new (SCRIPTLING_VALUE_NULL); }
static ScriptlingValue *v_bool (bool b) { ScriptlingValue *v = v_new (SCRIPTLING_VALUE_BOOL); v->b = b; return v; }
static ScriptlingValue *v_int (int64_t i) { ScriptlingValue *v = v_new (SCRIPTLING_VALUE_INT); v->i = i; return v; }
static ScriptlingValue *v_float (double d) { ScriptlingValue *v = v_new (SCRIPTLING_VALUE_FLOAT); v->d = d; return v; }
static ScriptlingValue *v_list (void) { return v_new (SCRIPTLING_VALUE_LIST); }
static ScriptlingValue *v_dict (void) { return v_new (SCRIPTLING_VALUE_DICT); }

static ScriptlingValue *
v_str_len (const char *s, size_t len)
{
  ScriptlingValue *v;
  if (s == NULL)
    return v_null ();
  v = v_new (SCRIPTLING_VALUE_STRING);
  v->s = g_utf8_make_valid (s, (gssize) strnlen (s, len));
  return v;
}

static ScriptlingValue *v_str (const char *s) { return v_str_len (s, s ? strlen (s) : 0); }

static ScriptlingValue *
v_ref (const ScriptlingValue *cv)
{
  ScriptlingValue *v = (ScriptlingValue *) cv;
  if (v != NULL)
    g_atomic_int_inc (&v->refs);
  return v;
}

static void
v_unref (ScriptlingValue *v)
{
  if (v == NULL || !g_atomic_int_dec_and_test (&v->refs))
    return;
  if (v->items != NULL)
    {
      for (guint k = 0; k < v->items->len; k++)
        v_unref (v->items->pdata[k]);
      g_ptr_array_unref (v->items);
    }
  if (v->keys != NULL)
    g_ptr_array_unref (v->keys);
  g_free (v->s);
  g_free (v->class_name);
  g_free (v->id);
  g_free (v->cb);
  g_free (v);
}

static void
v_freeze (ScriptlingValue *v)
{
  if (v == NULL || v->frozen)
    return;
  v->frozen = TRUE;
  for (guint k = 0; v->items != NULL && k < v->items->len; k++)
    v_freeze (v->items->pdata[k]);
}

static ScriptlingValueType v_type (const ScriptlingValue *v) { return v ? v->type : SCRIPTLING_VALUE_NULL; }

static const char *
v_type_name (ScriptlingValueType t)
{
  static const char *names[] = { "NoneType", "bool", "int", "float", "str", "list", "dict", "object", "function" };
  return t <= SCRIPTLING_VALUE_CALLBACK ? names[t] : "?";
}

static bool v_get_bool (const ScriptlingValue *v, bool *o) { if (v_type (v) != SCRIPTLING_VALUE_BOOL) return false; *o = v->b; return true; }
static bool v_get_int (const ScriptlingValue *v, int64_t *o) { if (v_type (v) != SCRIPTLING_VALUE_INT) return false; *o = v->i; return true; }
static bool v_get_float (const ScriptlingValue *v, double *o) { if (v_type (v) != SCRIPTLING_VALUE_FLOAT) return false; *o = v->d; return true; }

static const char *
v_get_string (const ScriptlingValue *v, size_t *len)
{
  if (v_type (v) != SCRIPTLING_VALUE_STRING)
    return NULL;
  if (len)
    *len = strlen (v->s);
  return v->s;
}

static size_t v_list_len (const ScriptlingValue *v) { return v_type (v) == SCRIPTLING_VALUE_LIST ? v->items->len : 0; }

static const ScriptlingValue *
v_list_get (const ScriptlingValue *v, size_t i)
{
  return i < v_list_len (v) ? v->items->pdata[i] : NULL;
}

static bool
v_list_append (ScriptlingValue *list, ScriptlingValue *item)
{
  if (item == NULL)
    item = v_null ();
  if (v_type (list) != SCRIPTLING_VALUE_LIST || list->frozen || item == list)
    {
      v_unref (item);
      return false;
    }
  v_freeze (item);
  g_ptr_array_add (list->items, item);
  return true;
}

static size_t v_dict_size (const ScriptlingValue *v) { return v_type (v) == SCRIPTLING_VALUE_DICT ? v->items->len : 0; }

static const ScriptlingValue *
v_dict_lookup (const ScriptlingValue *v, const char *key)
{
  for (guint k = 0; k < v_dict_size (v); k++)
    if (g_str_equal (v->keys->pdata[k], key))
      return v->items->pdata[k];
  return NULL;
}

static bool
v_dict_entry (const ScriptlingValue *v, size_t i, const char **key, const ScriptlingValue **value)
{
  if (i >= v_dict_size (v))
    return false;
  if (key)
    *key = v->keys->pdata[i];
  if (value)
    *value = v->items->pdata[i];
  return true;
}

static bool
v_dict_set (ScriptlingValue *d, const char *key, ScriptlingValue *value)
{
  if (value == NULL)
    value = v_null ();
  if (v_type (d) != SCRIPTLING_VALUE_DICT || d->frozen)
    {
      v_unref (value);
      return false;
    }
  v_freeze (value);
  for (guint k = 0; k < d->items->len; k++)
    if (g_str_equal (d->keys->pdata[k], key))
      {
        v_unref (d->items->pdata[k]);
        d->items->pdata[k] = value;
        return true;
      }
  g_ptr_array_add (d->keys, g_strdup (key));
  g_ptr_array_add (d->items, value);
  return true;
}

/* ==== host ================================================================= */

typedef struct {
  char *name;
  ScriptlingMethodFunc method;
} TMethod;

struct ScriptlingClass {
  char *name;
  ScriptlingConstructorFunc ctor;
  ScriptlingDestructorFunc dtor;
  void *data;
  GPtrArray *methods;     /* TMethod* */
};

struct ScriptlingFunction {
  char *name;
  char *source;
  ScriptlingFunctionFunc func;
  void *data;
};

struct ScriptlingModule {
  char *name;
  GPtrArray *functions;
  GPtrArray *classes;
};

struct ScriptlingCall {
  char *name;
  gboolean running, deferred, completed, failed;
  ScriptlingValue *result;
  ScriptlingErrorKind kind;
  char *message;
  gboolean in_flight;
};

struct TCall {
  ScriptlingCall call;
};

typedef struct {
  ScriptlingClass *klass;
  void *instance;
  char *id;
} TObject;

struct ScriptlingHost {
  ScriptlingHostApi api;
  void *dl;
  ScriptlingModule *module;
  ScriptlingHookFunc pump, shutdown;
  void *pump_data, *shutdown_data;
  GHashTable *objects;         /* id -> TObject */
  guint next_object;
  GMutex lock;
  GCond cond;
  gboolean wakeup;
  gboolean in_pump;
  GPtrArray *logs;             /* "level: message" */
  gboolean shut;
};

static ScriptlingHost *host;   /* the current one */

static ScriptlingModule *
h_register_module (ScriptlingHost *h, const char *name, const char *description)
{
  g_assert_null (h->module);
  h->module = g_new0 (ScriptlingModule, 1);
  h->module->name = g_strdup (name);
  h->module->functions = g_ptr_array_new ();
  h->module->classes = g_ptr_array_new ();
  return h->module;
}

static ScriptlingFunction *
h_add_function (ScriptlingModule *m, const char *name, const char *description, ScriptlingFunctionFunc func,
                void *data, ScriptlingFreeFunc free_func)
{
  ScriptlingFunction *f = g_new0 (ScriptlingFunction, 1);
  f->name = g_strdup (name);
  f->func = func;
  f->data = data;
  g_ptr_array_add (m->functions, f);
  return f;
}

static bool
h_function_set_source (ScriptlingFunction *f, const char *source)
{
  g_free (f->source);
  f->source = g_strdup (source);
  return source != NULL && *source != '\0';
}

static ScriptlingClass *
h_add_class (ScriptlingModule *m, const char *name, const char *description, ScriptlingConstructorFunc ctor,
             ScriptlingDestructorFunc dtor, void *data, ScriptlingFreeFunc free_func)
{
  ScriptlingClass *c = g_new0 (ScriptlingClass, 1);
  c->name = g_strdup (name);
  c->ctor = ctor;
  c->dtor = dtor;
  c->data = data;
  c->methods = g_ptr_array_new ();
  g_ptr_array_add (m->classes, c);
  return c;
}

static bool
h_add_method (ScriptlingClass *c, const char *name, const char *description, ScriptlingMethodFunc method,
              void *data, ScriptlingFreeFunc free_func)
{
  TMethod *m = g_new0 (TMethod, 1);
  m->name = g_strdup (name);
  m->method = method;
  g_ptr_array_add (c->methods, m);
  return true;
}

static bool h_add_property (ScriptlingClass *c, const char *n, const char *d, ScriptlingGetterFunc g,
                            ScriptlingSetterFunc s, void *u, ScriptlingFreeFunc f) { return false; }
static bool h_class_set_source (ScriptlingClass *c, const char *s) { return false; }

static bool
h_add_constant (ScriptlingModule *m, const char *name, ScriptlingValue *value)
{
  v_unref (value);
  return true;
}

static void h_set_pump (ScriptlingHost *h, ScriptlingHookFunc f, void *d) { h->pump = f; h->pump_data = d; }
static void h_set_shutdown (ScriptlingHost *h, ScriptlingHookFunc f, void *d) { h->shutdown = f; h->shutdown_data = d; }
static const char *h_call_get_name (ScriptlingCall *c) { return c->name; }

static void
h_call_raise (ScriptlingCall *c, ScriptlingErrorKind kind, const char *message)
{
  g_assert_true (c->in_flight);
  if (c->failed || c->completed)
    return;
  c->failed = TRUE;
  c->kind = kind;
  c->message = g_strdup (message);
  if (c->deferred)
    c->completed = TRUE;
}

static bool
h_call_defer (ScriptlingCall *c)
{
  if (!c->running)
    return false;
  c->deferred = TRUE;
  return true;
}

static void
h_call_return (ScriptlingCall *c, ScriptlingValue *result)
{
  g_assert_true (c->in_flight);
  g_assert_true (c->deferred);
  g_assert_false (c->completed);
  c->result = result;
  c->completed = TRUE;
}

static ScriptlingValue *
h_callback_call (const ScriptlingValue *cb, size_t n, const ScriptlingValue *const *args,
                 const ScriptlingValue *kwargs, char **error)
{
  ScriptlingValue *r;
  char *err = NULL;

  if (error)
    *error = NULL;
  if (v_type (cb) != SCRIPTLING_VALUE_CALLBACK || cb->cb->owner == NULL || !cb->cb->owner->call.in_flight)
    {
      if (error)
        *error = g_strdup ("callback can no longer be called: the call that received it has returned");
      return NULL;
    }
  for (size_t k = 0; k < n; k++)
    v_freeze ((ScriptlingValue *) args[k]);
  r = cb->cb->func (cb->cb, n, args, kwargs, &err);
  if (r == NULL)
    {
      if (error)
        *error = err ? err : g_strdup ("callback failed");
      else
        g_free (err);
      return NULL;
    }
  v_freeze (r);
  return r;
}

static void
h_wakeup (ScriptlingHost *h)
{
  g_mutex_lock (&h->lock);
  g_assert_false (h->shut);
  h->wakeup = TRUE;
  g_cond_signal (&h->cond);
  g_mutex_unlock (&h->lock);
}

static void
h_log (ScriptlingHost *h, ScriptlingLogLevel level, const char *message, const ScriptlingValue *fields)
{
  g_mutex_lock (&h->lock);
  g_ptr_array_add (h->logs, g_strdup_printf ("%d: %s", level, message));
  g_mutex_unlock (&h->lock);
  if (g_test_verbose ())
    g_printerr ("# plugin log: %s\n", message);
}

static const char *h_obj_class (const ScriptlingValue *v) { return v_type (v) == SCRIPTLING_VALUE_OBJECT ? v->class_name : NULL; }
static const char *h_obj_id (const ScriptlingValue *v) { return v_type (v) == SCRIPTLING_VALUE_OBJECT ? v->id : NULL; }

static void *
h_obj_instance (const ScriptlingValue *v, const ScriptlingClass *klass)
{
  TObject *o;
  if (v_type (v) != SCRIPTLING_VALUE_OBJECT || (o = g_hash_table_lookup (host->objects, v->id)) == NULL)
    return NULL;
  if (klass != NULL && o->klass != klass)
    return NULL;
  return o->instance;
}

/* Runs the pump if woken, or waits up to @timeout_us for a wakeup. */
static void
host_iterate (gint64 timeout_us)
{
  gboolean run;
  gint64 end = g_get_monotonic_time () + timeout_us;

  g_mutex_lock (&host->lock);
  while (!host->wakeup && g_get_monotonic_time () < end)
    g_cond_wait_until (&host->cond, &host->lock, end);
  run = host->wakeup;
  host->wakeup = FALSE;
  g_mutex_unlock (&host->lock);
  if (run && host->pump != NULL && !host->in_pump)
    {
      host->in_pump = TRUE;
      host->pump (host->pump_data);
      host->in_pump = FALSE;
    }
}

static ScriptlingHost *
host_load (const char *path)
{
  const ScriptlingPluginDescriptor *desc;
  ScriptlingHost *h = g_new0 (ScriptlingHost, 1);

  h->api.struct_size = sizeof (ScriptlingHostApi);
  h->api.abi_version = SCRIPTLING_PLUGIN_ABI_VERSION;
  h->api.host_name = "test-plugin";
  h->api.host_version = "1";
  h->api.register_module = h_register_module;
  h->api.module_add_function = h_add_function;
  h->api.function_set_source = h_function_set_source;
  h->api.module_add_class = h_add_class;
  h->api.class_add_method = h_add_method;
  h->api.class_add_property = h_add_property;
  h->api.class_set_source = h_class_set_source;
  h->api.module_add_constant = h_add_constant;
  h->api.set_pump_func = h_set_pump;
  h->api.set_shutdown_func = h_set_shutdown;
  h->api.value_new_null = v_null;
  h->api.value_new_bool = v_bool;
  h->api.value_new_int = v_int;
  h->api.value_new_float = v_float;
  h->api.value_new_string = v_str;
  h->api.value_new_string_len = v_str_len;
  h->api.value_new_list = v_list;
  h->api.value_new_dict = v_dict;
  h->api.value_ref = v_ref;
  h->api.value_unref = v_unref;
  h->api.value_get_type = v_type;
  h->api.value_type_name = v_type_name;
  h->api.value_get_bool = v_get_bool;
  h->api.value_get_int = v_get_int;
  h->api.value_get_float = v_get_float;
  h->api.value_get_string = v_get_string;
  h->api.list_get_length = v_list_len;
  h->api.list_get_item = v_list_get;
  h->api.list_append = v_list_append;
  h->api.dict_get_size = v_dict_size;
  h->api.dict_lookup = v_dict_lookup;
  h->api.dict_get_entry = v_dict_entry;
  h->api.dict_set = v_dict_set;
  h->api.object_get_class_name = h_obj_class;
  h->api.object_get_id = h_obj_id;
  h->api.object_get_instance = h_obj_instance;
  h->api.call_get_name = h_call_get_name;
  h->api.call_raise = h_call_raise;
  h->api.call_defer = h_call_defer;
  h->api.call_return = h_call_return;
  h->api.callback_call = h_callback_call;
  h->api.wakeup = h_wakeup;
  h->api.log = h_log;
  h->api.free = g_free;
  g_mutex_init (&h->lock);
  g_cond_init (&h->cond);
  h->objects = g_hash_table_new (g_str_hash, g_str_equal);
  h->logs = g_ptr_array_new_with_free_func (g_free);
  host = h;

  h->dl = dlopen (path, RTLD_NOW | RTLD_LOCAL);
  if (h->dl == NULL)
    g_error ("cannot load %s: %s", path, dlerror ());
  desc = dlsym (h->dl, SCRIPTLING_PLUGIN_DESCRIPTOR_SYMBOL);
  g_assert_nonnull (desc);
  g_assert_cmpuint (desc->abi_version, ==, SCRIPTLING_PLUGIN_ABI_VERSION);
  g_assert_cmpstr (desc->name, ==, "gossip");
  g_assert_true (desc->init (&h->api, h));
  g_assert_nonnull (h->module);
  g_assert_cmpstr (h->module->name, ==, "scriptling.net.gossip");
  return h;
}

static const char *
plugin_path (void)
{
  static char *path;
  if (path == NULL)
    path = g_test_build_filename (G_TEST_BUILT, "..", "plugin", ".libs", "gossip.so", NULL);
  return path;
}

static ScriptlingFunction *
find_function (const char *name)
{
  for (guint k = 0; k < host->module->functions->len; k++)
    {
      ScriptlingFunction *f = host->module->functions->pdata[k];
      if (g_str_equal (f->name, name))
        return f;
    }
  return NULL;
}

static ScriptlingClass *
find_class (const char *name)
{
  for (guint k = 0; k < host->module->classes->len; k++)
    {
      ScriptlingClass *c = host->module->classes->pdata[k];
      if (g_str_equal (c->name, name))
        return c;
    }
  return NULL;
}

static void
object_destroy (const char *id)
{
  TObject *o = g_hash_table_lookup (host->objects, id);
  if (o == NULL)
    return;
  g_hash_table_remove (host->objects, id);
  if (o->klass->dtor)
    o->klass->dtor (o->instance, o->klass->data);
  g_free (o->id);
  g_free (o);
}

static void
host_unload (void)
{
  g_autoptr(GList) ids = NULL;
  ScriptlingModule *m = host->module;
  GList *l;

  /* Newest objects first, as the bridge does. */
  ids = g_hash_table_get_keys (host->objects);
  ids = g_list_sort (ids, (GCompareFunc) g_strcmp0);
  ids = g_list_reverse (ids);
  for (l = ids; l != NULL; l = l->next)
    {
      g_autofree char *id = g_strdup (l->data);
      object_destroy (id);
    }
  if (host->shutdown)
    host->shutdown (host->shutdown_data);
  g_mutex_lock (&host->lock);
  host->shut = TRUE;
  g_mutex_unlock (&host->lock);
  g_assert_cmpint (dlclose (host->dl), ==, 0);

  for (guint k = 0; k < m->functions->len; k++)
    {
      ScriptlingFunction *f = m->functions->pdata[k];
      g_free (f->name);
      g_free (f->source);
      g_free (f);
    }
  for (guint k = 0; k < m->classes->len; k++)
    {
      ScriptlingClass *c = m->classes->pdata[k];
      for (guint j = 0; j < c->methods->len; j++)
        {
          TMethod *tm = c->methods->pdata[j];
          g_free (tm->name);
          g_free (tm);
        }
      g_ptr_array_unref (c->methods);
      g_free (c->name);
      g_free (c);
    }
  g_ptr_array_unref (m->functions);
  g_ptr_array_unref (m->classes);
  g_free (m->name);
  g_free (m);
  g_hash_table_unref (host->objects);
  g_ptr_array_unref (host->logs);
  g_mutex_clear (&host->lock);
  g_cond_clear (&host->cond);
  g_clear_pointer (&host, g_free);
}

/* ==== calls ================================================================ */

typedef struct {
  ScriptlingValue *value;     /* result, or NULL on error */
  ScriptlingErrorKind kind;
  char *message;
} TResult;

static void
result_clear (TResult *r)
{
  v_unref (r->value);
  g_free (r->message);
  memset (r, 0, sizeof *r);
}

/* A callback value owned by @call (valid while it is in flight). */
static ScriptlingValue *
v_callback (TCall *call, TCallbackFunc func, gpointer data)
{
  ScriptlingValue *v = v_new (SCRIPTLING_VALUE_CALLBACK);
  v->cb = g_new0 (TCallback, 1);
  v->cb->func = func;
  v->cb->data = data;
  v->cb->owner = call;
  return v;
}

static ScriptlingValue *dispatch_cb (TCallback *cb, size_t n, const ScriptlingValue *const *args,
                                     const ScriptlingValue *kwargs, char **error);

/* Callback placeholders in argument lists get bound to the call. */
static ScriptlingValue *
bind_callbacks (ScriptlingValue *v, TCall *call)
{
  if (v_type (v) == SCRIPTLING_VALUE_CALLBACK && v->cb->owner == NULL)
    v->cb->owner = call;
  for (guint k = 0; v != NULL && v->items != NULL && k < v->items->len; k++)
    bind_callbacks (v->items->pdata[k], call);
  return v;
}

typedef enum { K_FUNCTION, K_NEW, K_METHOD } TKind;

/* Performs one call; @args (a list) and @kwargs (a dict) are consumed.
 * With @dispatch, the C dispatcher is added as `_dispatch`. Deferred calls
 * are waited for, running the pump, like a host serving other requests. */
static TResult
do_call (TKind kind, const char *target, const char *object_id, const char *name,
         ScriptlingValue *args, ScriptlingValue *kwargs, gboolean dispatch)
{
  TCall *tc = g_new0 (TCall, 1);
  ScriptlingCall *call = &tc->call;
  TResult r = { NULL };
  ScriptlingValue *ret = NULL;
  gint64 deadline;

  if (args == NULL)
    args = v_list ();
  if (kwargs == NULL)
    kwargs = v_dict ();
  if (dispatch)
    v_dict_set (kwargs, "_dispatch", v_callback (tc, dispatch_cb, NULL));
  bind_callbacks (args, tc);
  bind_callbacks (kwargs, tc);
  v_freeze (args);
  v_freeze (kwargs);
  call->name = g_strdup (name);
  call->in_flight = TRUE;
  call->running = TRUE;

  if (kind == K_FUNCTION)
    {
      ScriptlingFunction *f = find_function (target);
      g_assert_nonnull (f);
      g_assert_nonnull (f->func);
      ret = f->func (call, args->items->len, (const ScriptlingValue *const *) args->items->pdata, kwargs, f->data);
    }
  else if (kind == K_NEW)
    {
      ScriptlingClass *c = find_class (target);
      void *instance;

      g_assert_nonnull (c);
      instance = c->ctor (call, args->items->len, (const ScriptlingValue *const *) args->items->pdata, kwargs, c->data);
      g_assert_false (call->deferred);
      if (instance != NULL && !call->failed)
        {
          TObject *o = g_new0 (TObject, 1);
          o->klass = c;
          o->instance = instance;
          o->id = g_strdup_printf ("%08u", ++host->next_object);
          g_hash_table_insert (host->objects, o->id, o);
          ret = v_new (SCRIPTLING_VALUE_OBJECT);
          ret->class_name = g_strdup (c->name);
          ret->id = g_strdup (o->id);
        }
      else
        {
          if (instance != NULL && c->dtor)
            c->dtor (instance, c->data);
          g_assert_true (call->failed);
        }
    }
  else
    {
      TObject *o = g_hash_table_lookup (host->objects, object_id);
      TMethod *m = NULL;

      g_assert_nonnull (o);
      for (guint k = 0; k < o->klass->methods->len; k++)
        if (g_str_equal (((TMethod *) o->klass->methods->pdata[k])->name, name))
          m = o->klass->methods->pdata[k];
      g_assert_nonnull (m);
      ret = m->method (call, o->instance, args->items->len, (const ScriptlingValue *const *) args->items->pdata,
                       kwargs, NULL);
    }
  call->running = FALSE;

  if (call->deferred)
    {
      v_unref (ret);
      ret = NULL;
      deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
      while (!call->completed)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          host_iterate (100 * 1000);
        }
      ret = call->result;
      call->result = NULL;
    }
  call->in_flight = FALSE;
  if (call->failed)
    {
      v_unref (ret);
      r.kind = call->kind;
      r.message = g_steal_pointer (&call->message);
    }
  else
    r.value = ret != NULL ? ret : v_null ();
  v_unref (args);
  v_unref (kwargs);
  g_free (call->name);
  g_free (call->message);
  /* Callback values may outlive the call (kept by the plugin by mistake):
   * they then see a call that is no longer in flight, not freed memory. */
  g_free (tc);
  return r;
}

/* ==== argument building ===================================================== */

/* Builds a list from a printf-like spec: i=int, f=float, s=str, b=bool,
 * n=None, v=value (consumed), l=value (consumed). */
static ScriptlingValue *
build_list (const char *spec, va_list *ap)
{
  ScriptlingValue *list = v_list ();
  for (const char *p = spec; p && *p; p++)
    switch (*p)
      {
      case 'i': v_list_append (list, v_int (va_arg (*ap, gint64))); break;
      case 'f': v_list_append (list, v_float (va_arg (*ap, double))); break;
      case 's': v_list_append (list, v_str (va_arg (*ap, const char *))); break;
      case 'b': v_list_append (list, v_bool (va_arg (*ap, int))); break;
      case 'n': v_list_append (list, v_null ()); break;
      case 'v': v_list_append (list, va_arg (*ap, ScriptlingValue *)); break;
      default: g_assert_not_reached ();
      }
  return list;
}

static ScriptlingValue *
L (const char *spec, ...)
{
  va_list ap;
  ScriptlingValue *v;
  va_start (ap, spec);
  v = build_list (spec, &ap);
  va_end (ap);
  return v;
}

/* kwargs: "name:spec" pairs then values, e.g. K ("a:i", 3, "b:s", "x", NULL) */
static ScriptlingValue *
K (const char *first, ...)
{
  va_list ap;
  ScriptlingValue *d = v_dict ();
  va_start (ap, first);
  for (const char *key = first; key != NULL; key = va_arg (ap, const char *))
    {
      const char *colon = strchr (key, ':');
      g_autofree char *name = g_strndup (key, (gsize) (colon - key));
      ScriptlingValue *one = build_list (colon + 1, &ap);
      v_dict_set (d, name, v_ref (one->items->pdata[0]));
      v_unref (one);
    }
  va_end (ap);
  return d;
}

static ScriptlingValue *
D (const char *first, ...)
{
  va_list ap;
  ScriptlingValue *d = v_dict ();
  va_start (ap, first);
  for (const char *key = first; key != NULL; key = va_arg (ap, const char *))
    {
      const char *colon = strchr (key, ':');
      g_autofree char *name = g_strndup (key, (gsize) (colon - key));
      ScriptlingValue *one = build_list (colon + 1, &ap);
      v_dict_set (d, name, v_ref (one->items->pdata[0]));
      v_unref (one);
    }
  va_end (ap);
  return d;
}

/* A callback value not yet bound to a call. */
static ScriptlingValue *
CB (TCallbackFunc func, gpointer data)
{
  return v_callback (NULL, func, data);
}

/* ==== the C "wrapper": handlers and the dispatcher =========================== */

typedef struct {
  char *object_id;
  guint key;
  GHashTable *handlers;        /* type -> THandler */
  GPtrArray *events;           /* recorded, as strings */
  GPtrArray *messages;         /* ScriptlingValue* message dicts */
  guint ticks;
  gboolean raise_in_state;
  gboolean stop_in_handler;
} TCluster;

typedef struct {
  gboolean with_reply;
  int behaviour;              /* 0 echo, 1 raise, 2 return None, 3 return a callback (invalid), 4 stop the cluster */
} THandler;

static GPtrArray *clusters;   /* TCluster* */

static TCluster *
cluster_by_key (gint64 key)
{
  for (guint k = 0; clusters && k < clusters->len; k++)
    if (((TCluster *) clusters->pdata[k])->key == key)
      return clusters->pdata[k];
  return NULL;
}

static TResult call_method (TCluster *c, const char *name, ScriptlingValue *args, ScriptlingValue *kwargs);

static ScriptlingValue *
reply_dict (const char *key, ScriptlingValue *value)
{
  ScriptlingValue *d = v_dict ();
  v_dict_set (d, key, value);
  return d;
}

static ScriptlingValue *
dispatch_cb (TCallback *cb, size_t n, const ScriptlingValue *const *args,
             const ScriptlingValue *kwargs, char **error)
{
  const ScriptlingValue *ev = args[0];
  const char *kind = v_get_string (v_dict_lookup (ev, "kind"), NULL);
  int64_t key = 0;
  TCluster *c;

  g_assert_cmpuint (n, ==, 1);
  v_get_int (v_dict_lookup (ev, "cluster"), &key);
  c = cluster_by_key (key);
  if (c == NULL)
    return v_null ();

  if (g_str_equal (kind, "message"))
    {
      int64_t type = 0;
      bool request = false;
      const ScriptlingValue *msg = v_dict_lookup (ev, "message");
      THandler *h;

      v_get_int (v_dict_lookup (ev, "type"), &type);
      v_get_bool (v_dict_lookup (ev, "request"), &request);
      h = g_hash_table_lookup (c->handlers, GINT_TO_POINTER ((int) type));
      g_ptr_array_add (c->messages, v_ref (msg));
      g_ptr_array_add (c->events, g_strdup_printf ("message:%" G_GINT64_FORMAT, type));
      if (h == NULL)
        return request ? reply_dict ("error", v_str ("no handler")) : v_null ();
      switch (h->behaviour)
        {
        case 1:
          return reply_dict ("error", v_str ("boom"));
        case 2:
          return h->with_reply ? reply_dict ("reply", v_null ()) : v_null ();
        case 4:
          {
            TResult r = call_method (c, "stop", NULL, NULL);
            g_assert_null (r.message);
            result_clear (&r);
            return h->with_reply ? reply_dict ("reply", v_str ("stopped")) : v_null ();
          }
        default:
          if (!h->with_reply)
            return v_null ();
          {
            ScriptlingValue *echo = v_dict ();
            v_dict_set (echo, "echo", v_ref (v_dict_lookup (msg, "payload")));
            return reply_dict ("reply", echo);
          }
        }
    }
  if (g_str_equal (kind, "state"))
    {
      g_ptr_array_add (c->events, g_strdup_printf ("state:%s:%s", v_get_string (v_dict_lookup (ev, "node_id"), NULL),
                                                   v_get_string (v_dict_lookup (ev, "state"), NULL)));
      if (c->raise_in_state)
        return reply_dict ("error", v_str ("state handler failed"));
      return v_null ();
    }
  if (g_str_equal (kind, "metadata"))
    {
      const ScriptlingValue *node = v_dict_lookup (ev, "node");
      g_ptr_array_add (c->events, g_strdup_printf ("metadata:%s", v_get_string (v_dict_lookup (node, "id"), NULL)));
      return v_null ();
    }
  if (g_str_equal (kind, "tick"))
    {
      c->ticks++;
      return v_null ();
    }
  if (g_str_equal (kind, "node_added") || g_str_equal (kind, "node_removed"))
    {
      const ScriptlingValue *node = v_dict_lookup (ev, "node");
      g_ptr_array_add (c->events, g_strdup_printf ("%s:%s", kind, v_get_string (v_dict_lookup (node, "id"), NULL)));
      return v_null ();
    }
  if (g_str_equal (kind, "election"))
    {
      g_ptr_array_add (c->events, g_strdup_printf ("%s:%s", v_get_string (v_dict_lookup (ev, "event"), NULL),
                                                   v_get_string (v_dict_lookup (ev, "node_id"), NULL)));
      return v_null ();
    }
  *error = g_strdup_printf ("unknown event kind %s", kind);
  return NULL;
}

static TResult
call_method (TCluster *c, const char *name, ScriptlingValue *args, ScriptlingValue *kwargs)
{
  return do_call (K_METHOD, NULL, c->object_id, name, args, kwargs, TRUE);
}

static TResult
obj_method (const char *object_id, const char *name, ScriptlingValue *args, ScriptlingValue *kwargs)
{
  return do_call (K_METHOD, NULL, object_id, name, args, kwargs, TRUE);
}

static TResult
run_events (double seconds)
{
  return do_call (K_FUNCTION, "run_events", NULL, "run_events", L ("f", seconds), NULL, TRUE);
}

/* create(...) as the wrapper does it: the object, then its key. */
static TCluster *
create_cluster (ScriptlingValue *args, ScriptlingValue *kwargs, TResult *error)
{
  TResult r = do_call (K_NEW, "_Cluster", NULL, "create", args, kwargs, FALSE);
  TCluster *c;
  int64_t key = 0;

  if (r.value == NULL)
    {
      if (error)
        *error = r;
      else
        g_error ("create failed: %s", r.message);
      return NULL;
    }
  c = g_new0 (TCluster, 1);
  c->object_id = g_strdup (r.value->id);
  result_clear (&r);
  r = obj_method (c->object_id, "key", NULL, NULL);
  g_assert_true (v_get_int (r.value, &key));
  c->key = (guint) key;
  result_clear (&r);
  c->handlers = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  c->events = g_ptr_array_new_with_free_func (g_free);
  c->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) v_unref);
  if (clusters == NULL)
    clusters = g_ptr_array_new ();
  g_ptr_array_add (clusters, c);
  return c;
}

static TCluster *
start_cluster (ScriptlingValue *kwargs)
{
  TCluster *c;
  TResult r;

  if (kwargs == NULL)
    kwargs = v_dict ();
  if (v_dict_lookup (kwargs, "bind_addr") == NULL)
    v_dict_set (kwargs, "bind_addr", v_str ("127.0.0.1:0"));
  c = create_cluster (NULL, kwargs, NULL);
  r = call_method (c, "start", NULL, NULL);
  g_assert_null (r.message);
  result_clear (&r);
  return c;
}

static void
cluster_forget_all (void)
{
  for (guint k = 0; clusters && k < clusters->len; k++)
    {
      TCluster *c = clusters->pdata[k];
      g_free (c->object_id);
      g_hash_table_unref (c->handlers);
      g_ptr_array_unref (c->events);
      g_ptr_array_unref (c->messages);
      g_free (c);
    }
  g_clear_pointer (&clusters, g_ptr_array_unref);
}

static void
add_handler (TCluster *c, gint64 type, gboolean with_reply, int behaviour)
{
  THandler *h = g_new0 (THandler, 1);
  TResult r;
  int64_t t = 0;

  r = call_method (c, with_reply ? "handle_with_reply" : "handle",
                   L ("iv", type, CB (dispatch_cb, NULL)), NULL);
  g_assert_null (r.message);
  g_assert_true (v_get_int (r.value, &t));
  g_assert_cmpint (t, ==, type);
  result_clear (&r);
  h->with_reply = with_reply;
  h->behaviour = behaviour;
  g_hash_table_replace (c->handlers, GINT_TO_POINTER ((int) type), h);
}

/* ==== helpers for assertions ================================================= */

/* A reference to @c's native object, as the wrapper passes self._remote. */
static ScriptlingValue *
cluster_ref (TCluster *c)
{
  ScriptlingValue *r = v_new (SCRIPTLING_VALUE_OBJECT);
  r->class_name = g_strdup ("_Cluster");
  r->id = g_strdup (c->object_id);
  return r;
}

static gint64
get_int (TResult r)
{
  int64_t i = 0;
  g_assert_null (r.message);
  g_assert_true (v_get_int (r.value, &i));
  result_clear (&r);
  return i;
}

static gboolean
get_bool (TResult r)
{
  bool b = false;
  if (r.message)
    g_error ("unexpected error: %s", r.message);
  g_assert_true (v_get_bool (r.value, &b));
  result_clear (&r);
  return b;
}

static char *
get_str (TResult r)
{
  char *s;
  if (r.message)
    g_error ("unexpected error: %s", r.message);
  s = g_strdup (v_get_string (r.value, NULL));
  result_clear (&r);
  return s;
}

static void
expect_ok (TResult r)
{
  if (r.message)
    g_error ("unexpected error: %s", r.message);
  result_clear (&r);
}

static void
expect_error (TResult r, ScriptlingErrorKind kind, const char *substring)
{
  if (r.message == NULL)
    g_error ("expected an error containing \"%s\"", substring);
  if (strstr (r.message, substring) == NULL || r.kind != kind)
    g_error ("expected error kind %d containing \"%s\", got kind %d: %s", kind, substring, r.kind, r.message);
  result_clear (&r);
}

static char *
node_id (TCluster *c)
{
  return get_str (call_method (c, "node_id", NULL, NULL));
}

static char *
node_addr (TCluster *c)
{
  TResult r = call_method (c, "local_node", NULL, NULL);
  char *addr = g_strdup (v_get_string (v_dict_lookup (r.value, "addr"), NULL));
  result_clear (&r);
  return addr;
}

static gboolean
has_event (TCluster *c, const char *event)
{
  for (guint k = 0; k < c->events->len; k++)
    if (g_str_equal (c->events->pdata[k], event))
      return TRUE;
  return FALSE;
}

static guint
count_events (TCluster *c, const char *prefix)
{
  guint n = 0;
  for (guint k = 0; k < c->events->len; k++)
    if (g_str_has_prefix (c->events->pdata[k], prefix))
      n++;
  return n;
}

/* Runs events until @cond holds or the deadline passes. */
#define WAIT_UNTIL(cond) \
  G_STMT_START { \
    gint64 _end = g_get_monotonic_time () + (gint64) (WAIT_S * G_USEC_PER_SEC); \
    while (!(cond) && g_get_monotonic_time () < _end) \
      expect_ok (run_events (0.05)); \
    if (!(cond)) g_error ("timed out waiting for %s", #cond); \
  } G_STMT_END

static gboolean
log_contains (const char *text)
{
  for (guint k = 0; k < host->logs->len; k++)
    if (strstr (host->logs->pdata[k], text) != NULL)
      return TRUE;
  return FALSE;
}

static void
setup (void)
{
  host_load (plugin_path ());
}

static void
teardown (void)
{
  host_unload ();
  cluster_forget_all ();
}

static ScriptlingValue *
fast_kwargs (void)
{
  return K ("bind_addr:s", "127.0.0.1:0", "health_check_interval:s", "200ms", "suspect_timeout:s", "300ms",
            "suspect_retry_interval:s", "100ms", "metadata_gossip_interval:s", "100ms",
            "gossip_interval:s", "200ms", NULL);
}

/* ==== tests ================================================================= */

static void
test_exports (void)
{
  g_autofree char *cmd = g_strdup_printf ("nm -D --defined-only %s", plugin_path ());
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  int status = 0;
  void *dl;
  guint n = 0;

  if (!g_spawn_command_line_sync (cmd, &out, &err, &status, NULL) || status != 0)
    {
      g_test_skip ("nm is not available");
      return;
    }
  lines = g_strsplit (out, "\n", -1);
  for (guint k = 0; lines[k] != NULL; k++)
    {
      if (lines[k][0] == '\0')
        continue;
      g_assert_true (g_str_has_suffix (lines[k], " scriptling_plugin_descriptor"));
      n++;
    }
  g_assert_cmpuint (n, ==, 1);

  dl = dlopen (plugin_path (), RTLD_NOW | RTLD_LOCAL);
  g_assert_nonnull (dl);
  g_assert_null (dlsym (dl, "gossip_cluster_new"));
  g_assert_null (dlsym (dl, "gp_api"));
  dlclose (dl);
}

static void
test_registration (void)
{
  static const char *cluster_methods[] = {
    "start", "join", "leave", "stop", "send", "send_tagged", "send_to", "send_request", "handle",
    "handle_with_reply", "unhandle", "on_state_change", "on_metadata_change", "on_gossip_interval",
    "nodes", "alive_nodes", "nodes_by_tag", "get_node", "local_node", "num_nodes", "num_alive",
    "num_suspect", "num_dead", "node_id", "is_local", "candidates", "set_metadata", "get_metadata",
    "all_metadata", "delete_metadata", "create_node_group", "create_leader_election", NULL
  };
  static const char *group_methods[] = { "nodes", "contains", "count", "send_to_peers", "close", NULL };
  static const char *election_methods[] = {
    "start", "stop", "is_leader", "has_leader", "get_leader_id", "send_to_peers", "on_event", NULL
  };
  ScriptlingFunction *create, *run;
  const char *src;

  setup ();
  create = find_function ("create");
  run = find_function ("run_events");
  g_assert_nonnull (create);
  g_assert_null (create->func);
  g_assert_nonnull (run);
  g_assert_nonnull (run->func);
  g_assert_nonnull (run->source);
  g_assert_true (strstr (run->source, "def run_events(") != NULL);
  src = create->source;
  g_assert_nonnull (src);
  /* The constant and every API name are defined by the wrapper source. */
  g_assert_true (strstr (src, "\nMSG_USER = 128\n") != NULL);
  g_assert_true (strstr (src, "\ndef create(") != NULL);
  g_assert_true (strstr (src, "\nclass Cluster:") != NULL);
  g_assert_true (strstr (src, "\nclass NodeGroup:") != NULL);
  g_assert_true (strstr (src, "\nclass LeaderElection:") != NULL);
  g_assert_true (strstr (src, "def _dispatch(ev):") != NULL);
  for (guint k = 0; cluster_methods[k]; k++)
    {
      g_autofree char *def = g_strdup_printf ("    def %s(self", cluster_methods[k]);
      g_assert_true (strstr (strstr (src, "\nclass Cluster:"), def) != NULL);
    }
  for (guint k = 0; group_methods[k]; k++)
    {
      g_autofree char *def = g_strdup_printf ("    def %s(self", group_methods[k]);
      g_assert_true (strstr (strstr (src, "\nclass NodeGroup:"), def) != NULL);
    }
  for (guint k = 0; election_methods[k]; k++)
    {
      g_autofree char *def = g_strdup_printf ("    def %s(self", election_methods[k]);
      g_assert_true (strstr (strstr (src, "\nclass LeaderElection:"), def) != NULL);
    }
  /* The native classes the wrapper constructs. */
  g_assert_nonnull (find_class ("_Cluster"));
  g_assert_nonnull (find_class ("_NodeGroup"));
  g_assert_nonnull (find_class ("_LeaderElection"));
  teardown ();
}

static void
test_cluster_queries (void)
{
  TCluster *c;
  TResult r;
  g_autofree char *id = NULL;
  g_autofree char *upper = NULL;
  const ScriptlingValue *md;

  setup ();
  c = create_cluster (L ("s", "127.0.0.1:0"), K ("tags:v", L ("ss", "web", "worker"), "compression:b", TRUE,
                                                   "app_version:s", "1.0", NULL), NULL);
  /* Queries work before start: the local node as configured. */
  g_assert_cmpint (get_int (call_method (c, "num_nodes", NULL, NULL)), ==, 1);
  expect_ok (call_method (c, "start", NULL, NULL));
  expect_ok (call_method (c, "start", NULL, NULL));   /* idempotent */

  id = node_id (c);
  g_assert_cmpuint (strlen (id), ==, 36);
  g_assert_true (get_bool (call_method (c, "is_local", L ("s", id), NULL)));
  upper = g_ascii_strup (id, -1);
  g_assert_true (get_bool (call_method (c, "is_local", L ("s", upper), NULL)));
  g_assert_false (get_bool (call_method (c, "is_local", L ("s", "not-a-uuid"), NULL)));

  r = call_method (c, "local_node", NULL, NULL);
  g_assert_cmpstr (v_get_string (v_dict_lookup (r.value, "id"), NULL), ==, id);
  g_assert_true (g_str_has_prefix (v_get_string (v_dict_lookup (r.value, "addr"), NULL), "127.0.0.1:"));
  g_assert_false (g_str_has_suffix (v_get_string (v_dict_lookup (r.value, "addr"), NULL), ":0"));
  g_assert_cmpstr (v_get_string (v_dict_lookup (r.value, "state"), NULL), ==, "alive");
  g_assert_cmpint (v_type (v_dict_lookup (r.value, "metadata")), ==, SCRIPTLING_VALUE_DICT);
  g_assert_cmpuint (v_list_len (v_dict_lookup (r.value, "tags")), ==, 2);
  g_assert_cmpstr (v_get_string (v_list_get (v_dict_lookup (r.value, "tags"), 0), NULL), ==, "web");
  g_assert_cmpuint (v_dict_size (r.value), ==, 5);
  result_clear (&r);

  g_assert_cmpint (get_int (call_method (c, "num_nodes", NULL, NULL)), ==, 1);
  g_assert_cmpint (get_int (call_method (c, "num_alive", NULL, NULL)), ==, 1);
  g_assert_cmpint (get_int (call_method (c, "num_suspect", NULL, NULL)), ==, 0);
  g_assert_cmpint (get_int (call_method (c, "num_dead", NULL, NULL)), ==, 0);
  r = call_method (c, "nodes", NULL, NULL);
  g_assert_cmpuint (v_list_len (r.value), ==, 1);
  result_clear (&r);
  r = call_method (c, "alive_nodes", NULL, NULL);
  g_assert_cmpuint (v_list_len (r.value), ==, 1);
  result_clear (&r);
  r = call_method (c, "nodes_by_tag", L ("s", "worker"), NULL);
  g_assert_cmpuint (v_list_len (r.value), ==, 1);
  result_clear (&r);
  r = call_method (c, "nodes_by_tag", NULL, K ("tag:s", "db", NULL));
  g_assert_cmpuint (v_list_len (r.value), ==, 0);
  result_clear (&r);
  r = call_method (c, "candidates", NULL, NULL);
  g_assert_cmpuint (v_list_len (r.value), ==, 0);
  result_clear (&r);
  r = call_method (c, "get_node", L ("s", id), NULL);
  g_assert_cmpstr (v_get_string (v_dict_lookup (r.value, "id"), NULL), ==, id);
  result_clear (&r);
  r = call_method (c, "get_node", L ("s", "garbage"), NULL);
  g_assert_cmpint (v_type (r.value), ==, SCRIPTLING_VALUE_NULL);
  result_clear (&r);
  r = call_method (c, "get_node", L ("s", "01234567-89ab-7def-8123-456789abcdef"), NULL);
  g_assert_cmpint (v_type (r.value), ==, SCRIPTLING_VALUE_NULL);
  result_clear (&r);

  /* Metadata: the §14.5 string view. */
  expect_ok (call_method (c, "set_metadata", L ("ss", "role", "worker"), NULL));
  expect_ok (call_method (c, "set_metadata", L ("si", "version", (gint64) 2), NULL));
  expect_ok (call_method (c, "set_metadata", NULL, K ("key:s", "ratio", "value:f", 1.5, NULL)));
  expect_ok (call_method (c, "set_metadata", L ("sf", "two", 2.0), NULL));
  expect_ok (call_method (c, "set_metadata", L ("sf", "big", 1e20), NULL));
  expect_ok (call_method (c, "set_metadata", L ("sf", "small", 0.000125), NULL));
  expect_ok (call_method (c, "set_metadata", L ("sb", "on", TRUE), NULL));
  expect_ok (call_method (c, "set_metadata", L ("sb", "off", FALSE), NULL));
  {
    g_autofree char *version = get_str (call_method (c, "get_metadata", L ("s", "version"), NULL));
    g_assert_cmpstr (version, ==, "2");
  }
  {
    struct { const char *key, *value; } expect[] = {
      { "role", "worker" }, { "version", "2" }, { "ratio", "1.5" }, { "two", "2" },
      { "big", "100000000000000000000" }, { "small", "0.000125" }, { "on", "true" }, { "off", "false" },
    };
    r = call_method (c, "all_metadata", NULL, NULL);
    g_assert_cmpuint (v_dict_size (r.value), ==, G_N_ELEMENTS (expect));
    for (guint k = 0; k < G_N_ELEMENTS (expect); k++)
      g_assert_cmpstr (v_get_string (v_dict_lookup (r.value, expect[k].key), NULL), ==, expect[k].value);
    result_clear (&r);
  }
  r = call_method (c, "local_node", NULL, NULL);
  md = v_dict_lookup (r.value, "metadata");
  g_assert_cmpstr (v_get_string (v_dict_lookup (md, "on"), NULL), ==, "true");
  result_clear (&r);
  expect_ok (call_method (c, "delete_metadata", L ("s", "role"), NULL));
  expect_ok (call_method (c, "delete_metadata", L ("s", "missing"), NULL));
  r = call_method (c, "get_metadata", L ("s", "role"), NULL);
  g_assert_cmpint (v_type (r.value), ==, SCRIPTLING_VALUE_NULL);
  result_clear (&r);

  /* stop: idempotent; network calls fail, queries keep the last view. */
  expect_ok (call_method (c, "stop", NULL, NULL));
  expect_ok (call_method (c, "stop", NULL, NULL));
  expect_error (call_method (c, "send", L ("is", (gint64) 128, "x"), NULL), SCRIPTLING_ERROR_RUNTIME, "cluster is stopped");
  expect_error (call_method (c, "start", NULL, NULL), SCRIPTLING_ERROR_RUNTIME, "cluster is stopped");
  expect_error (call_method (c, "join", L ("s", "127.0.0.1:1"), NULL), SCRIPTLING_ERROR_RUNTIME, "cluster is stopped");
  g_assert_cmpint (get_int (call_method (c, "num_nodes", NULL, NULL)), ==, 1);
  g_free (get_str (call_method (c, "node_id", NULL, NULL)));
  teardown ();
}

static void
test_messaging (void)
{
  TCluster *a, *b;
  g_autofree char *aid = NULL, *bid = NULL, *aaddr = NULL;
  TResult r;

  setup ();
  a = start_cluster (fast_kwargs ());
  b = start_cluster (fast_kwargs ());
  aid = node_id (a);
  bid = node_id (b);
  aaddr = node_addr (a);
  add_handler (a, 128, FALSE, 0);
  add_handler (b, 128, FALSE, 0);
  add_handler (b, 129, TRUE, 0);
  add_handler (b, 130, TRUE, 1);      /* raises */
  add_handler (b, 131, TRUE, 2);      /* returns None */
  add_handler (a, 132, TRUE, 0);

  expect_ok (call_method (b, "join", L ("v", L ("s", aaddr)), NULL));
  WAIT_UNTIL (get_int (call_method (a, "num_alive", NULL, NULL)) == 2 &&
              get_int (call_method (b, "num_alive", NULL, NULL)) == 2);

  /* Broadcasts: reliable positional and keyword; never to ourselves. */
  expect_ok (call_method (a, "send", L ("iv", (gint64) 128, D ("key:s", "value", NULL)), NULL));
  expect_ok (call_method (a, "send", L ("isb", (gint64) 128, "reliable-positional", TRUE), NULL));
  expect_ok (call_method (a, "send", L ("is", (gint64) 128, "reliable-kw"), K ("reliable:b", TRUE, NULL)));
  WAIT_UNTIL (b->messages->len >= 3);
  g_assert_cmpuint (a->messages->len, ==, 0);
  {
    const ScriptlingValue *m = b->messages->pdata[0];
    int64_t t = 0;
    g_assert_true (v_get_int (v_dict_lookup (m, "type"), &t));
    g_assert_cmpint (t, ==, 128);
    g_assert_cmpstr (v_get_string (v_dict_lookup (v_dict_lookup (m, "sender"), "id"), NULL), ==, aid);
    g_assert_cmpuint (v_dict_size (v_dict_lookup (m, "sender")), ==, 5);
    g_assert_cmpuint (v_dict_size (m), ==, 3);
  }

  /* send_to, to a peer and to ourselves (delivered locally, D13). */
  expect_ok (call_method (a, "send_to", L ("sis", bid, (gint64) 128, "direct"), NULL));
  expect_ok (call_method (a, "send_to", L ("sis", aid, (gint64) 128, "self"), NULL));
  WAIT_UNTIL (b->messages->len >= 4 && a->messages->len >= 1);
  expect_error (call_method (a, "send_to", L ("sis", "01234567-89ab-7def-8123-456789abcdef", (gint64) 128, "x"), NULL),
                SCRIPTLING_ERROR_RUNTIME, "node not found");

  /* Requests: payload types round-trip. */
  {
    ScriptlingValue *payload = D ("i:i", (gint64) -5, "f:f", 2.5, "s:s", "héllo", "b:b", TRUE, "n:n",
                                  "l:v", L ("ifs", (gint64) 1, 0.5, "x"), "d:v", D ("k:s", "v", NULL), NULL);
    const ScriptlingValue *echo;
    int64_t i;
    double f;

    r = call_method (a, "send_request", L ("siv", bid, (gint64) 129, payload), NULL);
    g_assert_null (r.message);
    echo = v_dict_lookup (v_dict_lookup (r.value, "echo"), "l");
    g_assert_cmpuint (v_list_len (echo), ==, 3);
    g_assert_true (v_get_int (v_list_get (echo, 0), &i));
    g_assert_true (v_get_float (v_list_get (echo, 1), &f));
    g_assert_true (v_get_float (v_dict_lookup (v_dict_lookup (r.value, "echo"), "f"), &f));
    g_assert_true (v_get_int (v_dict_lookup (v_dict_lookup (r.value, "echo"), "i"), &i) && i == -5);
    g_assert_cmpstr (v_get_string (v_dict_lookup (v_dict_lookup (r.value, "echo"), "s"), NULL), ==, "héllo");
    g_assert_cmpint (v_type (v_dict_lookup (v_dict_lookup (r.value, "echo"), "n")), ==, SCRIPTLING_VALUE_NULL);
    result_clear (&r);
  }
  /* A None reply is None (D16); a raising handler and a missing one fail clearly. */
  r = call_method (a, "send_request", L ("sis", bid, (gint64) 131, "x"), NULL);
  g_assert_null (r.message);
  g_assert_cmpint (v_type (r.value), ==, SCRIPTLING_VALUE_NULL);
  result_clear (&r);
  expect_error (call_method (a, "send_request", L ("sis", bid, (gint64) 130, "x"), NULL),
                SCRIPTLING_ERROR_RUNTIME, "handler raised: boom");
  expect_error (call_method (a, "send_request", L ("sis", bid, (gint64) 140, "x"), NULL),
                SCRIPTLING_ERROR_RUNTIME, "no reply from");
  /* A request to ourselves runs our own handler during the call (D13). */
  r = call_method (a, "send_request", L ("sis", aid, (gint64) 132, "me"), K ("timeout:s", "2s", NULL));
  g_assert_null (r.message);
  g_assert_cmpstr (v_get_string (v_dict_lookup (r.value, "echo"), NULL), ==, "me");
  result_clear (&r);
  g_assert_true (log_contains ("raised: boom"));

  /* unhandle */
  g_assert_true (get_bool (call_method (b, "unhandle", L ("i", (gint64) 131), NULL)));
  g_assert_false (get_bool (call_method (b, "unhandle", L ("i", (gint64) 131), NULL)));
  teardown ();
}

static void
test_tagged (void)
{
  TCluster *web, *worker, *hybrid;
  g_autofree char *addr = NULL;

  setup ();
  web = start_cluster (K ("tags:v", L ("s", "web"), NULL));
  worker = start_cluster (K ("tags:v", L ("s", "worker"), NULL));
  hybrid = start_cluster (K ("tags:v", L ("ss", "web", "worker"), NULL));
  addr = node_addr (web);
  add_handler (web, 128, FALSE, 0);
  add_handler (worker, 128, FALSE, 0);
  add_handler (hybrid, 128, FALSE, 0);
  expect_ok (call_method (worker, "join", L ("v", L ("s", addr)), NULL));
  expect_ok (call_method (hybrid, "join", L ("s", addr), NULL));
  WAIT_UNTIL (get_int (call_method (web, "num_alive", NULL, NULL)) == 3 &&
              get_int (call_method (worker, "num_alive", NULL, NULL)) == 3 &&
              get_int (call_method (hybrid, "num_alive", NULL, NULL)) == 3);
  {
    TResult r = call_method (web, "nodes_by_tag", L ("s", "web"), NULL);
    g_assert_cmpuint (v_list_len (r.value), ==, 2);
    result_clear (&r);
  }
  expect_ok (call_method (web, "send_tagged", L ("sis", "web", (gint64) 128, "Hello web nodes!"), NULL));
  WAIT_UNTIL (hybrid->messages->len == 1);
  expect_ok (run_events (0.5));
  g_assert_cmpuint (worker->messages->len, ==, 0);
  g_assert_cmpuint (web->messages->len, ==, 0);
  teardown ();
}

static void
test_events (void)
{
  TCluster *a, *b;
  g_autofree char *aid = NULL, *bid = NULL, *aaddr = NULL, *ev = NULL;

  setup ();
  a = start_cluster (fast_kwargs ());
  b = start_cluster (fast_kwargs ());
  aid = node_id (a);
  bid = node_id (b);
  aaddr = node_addr (a);
  expect_ok (call_method (a, "on_state_change", L ("v", CB (dispatch_cb, NULL)), NULL));
  expect_ok (call_method (a, "on_state_change", NULL, K ("handler:v", CB (dispatch_cb, NULL), NULL)));
  expect_ok (call_method (a, "on_metadata_change", L ("v", CB (dispatch_cb, NULL)), NULL));
  expect_ok (call_method (a, "on_gossip_interval", L ("v", CB (dispatch_cb, NULL)), NULL));
  a->raise_in_state = TRUE;

  expect_ok (call_method (b, "join", L ("s", aaddr), NULL));
  /* on_state_change gets the NEW state on discovery (D14). */
  ev = g_strdup_printf ("state:%s:alive", bid);
  WAIT_UNTIL (has_event (a, ev));
  /* A raising handler is logged and does not stop delivery. */
  g_assert_true (log_contains ("on_state_change handler raised: state handler failed"));
  /* Local metadata changes are not reported (D15); remote ones are. */
  expect_ok (call_method (a, "set_metadata", L ("ss", "k", "local"), NULL));
  expect_ok (call_method (b, "set_metadata", L ("ss", "k", "remote"), NULL));
  g_free (ev);
  ev = g_strdup_printf ("metadata:%s", bid);
  WAIT_UNTIL (has_event (a, ev));
  g_free (ev);
  ev = g_strdup_printf ("metadata:%s", aid);
  g_assert_false (has_event (a, ev));

  /* Ticks arrive, and while the script does not take them they coalesce
   * into one pending tick (D20). */
  WAIT_UNTIL (a->ticks >= 2);
  g_usleep (G_USEC_PER_SEC);
  {
    guint before = a->ticks;
    expect_ok (do_call (K_FUNCTION, "run_events", NULL, "run_events", L ("i", (gint64) 0), NULL, TRUE));
    g_assert_cmpuint (a->ticks - before, <=, 1);
  }

  /* A graceful leave is reported as "leaving". */
  expect_ok (call_method (b, "leave", NULL, NULL));
  g_free (ev);
  ev = g_strdup_printf ("state:%s:leaving", bid);
  WAIT_UNTIL (has_event (a, ev));
  g_assert_cmpuint (count_events (a, "state:"), >=, 2);
  teardown ();
}

static void
test_groups (void)
{
  TCluster *a, *b;
  g_autofree char *aid = NULL, *bid = NULL, *aaddr = NULL, *ev = NULL;
  TResult r;
  char *gid;

  setup ();
  a = start_cluster (fast_kwargs ());
  b = start_cluster (fast_kwargs ());
  aid = node_id (a);
  bid = node_id (b);
  aaddr = node_addr (a);
  add_handler (b, 128, FALSE, 0);
  expect_ok (call_method (a, "set_metadata", L ("ss", "role", "coordinator"), NULL));
  expect_ok (call_method (b, "set_metadata", L ("ss", "role", "worker"), NULL));
  expect_ok (call_method (b, "join", L ("s", aaddr), NULL));
  WAIT_UNTIL (get_int (call_method (a, "num_alive", NULL, NULL)) == 2);

  /* Positional criteria (D19), both callbacks. */
  r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group",
               L ("vvvv", cluster_ref (a), D ("role:s", "~work", NULL), CB (dispatch_cb, NULL), CB (dispatch_cb, NULL)),
               NULL, FALSE);
  g_assert_null (r.message);
  gid = g_strdup (r.value->id);
  result_clear (&r);
  expect_ok (obj_method (gid, "start", NULL, NULL));
  ev = g_strdup_printf ("node_added:%s", bid);
  WAIT_UNTIL (has_event (a, ev));
  g_assert_cmpuint (count_events (a, "node_added:"), ==, 1);
  g_assert_cmpint (get_int (obj_method (gid, "count", NULL, NULL)), ==, 1);
  g_assert_true (get_bool (obj_method (gid, "contains", L ("s", bid), NULL)));
  g_assert_false (get_bool (obj_method (gid, "contains", L ("s", aid), NULL)));
  g_assert_false (get_bool (obj_method (gid, "contains", L ("s", "nonsense"), NULL)));
  r = obj_method (gid, "nodes", NULL, NULL);
  g_assert_cmpuint (v_list_len (r.value), ==, 1);
  result_clear (&r);
  expect_ok (obj_method (gid, "send_to_peers", L ("iv", (gint64) 128, D ("task:s", "process", NULL)), NULL));
  WAIT_UNTIL (b->messages->len == 1);

  /* Leaving the criteria removes it once; no removal for non-members. */
  expect_ok (call_method (b, "set_metadata", L ("ss", "role", "idle"), NULL));
  g_free (ev);
  ev = g_strdup_printf ("node_removed:%s", bid);
  WAIT_UNTIL (has_event (a, ev));
  expect_ok (run_events (0.3));
  g_assert_cmpuint (count_events (a, "node_removed:"), ==, 1);
  g_assert_cmpint (get_int (obj_method (gid, "count", NULL, NULL)), ==, 0);

  expect_ok (obj_method (gid, "close", NULL, NULL));
  expect_ok (obj_method (gid, "close", NULL, NULL));
  g_assert_cmpint (get_int (obj_method (gid, "count", NULL, NULL)), ==, 0);
  expect_error (obj_method (gid, "send_to_peers", L ("is", (gint64) 128, "x"), NULL),
                SCRIPTLING_ERROR_RUNTIME, "node group is closed");
  g_free (gid);
  teardown ();
}

static char *
new_election (TCluster *c, ScriptlingValue *args, ScriptlingValue *kwargs, TResult *error)
{
  ScriptlingValue *cluster_ref = v_new (SCRIPTLING_VALUE_OBJECT);
  ScriptlingValue *all = v_list ();
  TResult r;
  char *id;

  cluster_ref->class_name = g_strdup ("_Cluster");
  cluster_ref->id = g_strdup (c->object_id);
  v_list_append (all, cluster_ref);
  for (guint k = 0; args && k < args->items->len; k++)
    v_list_append (all, v_ref (args->items->pdata[k]));
  v_unref (args);
  r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", all, kwargs, FALSE);
  if (r.value == NULL)
    {
      *error = r;
      return NULL;
    }
  id = g_strdup (r.value->id);
  result_clear (&r);
  return id;
}

static void
test_election (void)
{
  TCluster *a;
  g_autofree char *aid = NULL, *eid = NULL, *ev = NULL, *e2 = NULL, *leader = NULL;
  TResult err = { NULL };

  setup ();
  a = start_cluster (NULL);
  aid = node_id (a);
  eid = new_election (a, NULL, K ("quorum_percentage:i", (gint64) 51, NULL), &err);
  g_assert_nonnull (eid);
  expect_ok (obj_method (eid, "on_event", L ("sv", "became_leader", CB (dispatch_cb, NULL)), NULL));
  expect_ok (obj_method (eid, "on_event", L ("sv", "elected", CB (dispatch_cb, NULL)), NULL));
  expect_ok (obj_method (eid, "on_event", NULL, K ("event_type:s", "stepped_down", "handler:v", CB (dispatch_cb, NULL), NULL)));
  expect_ok (obj_method (eid, "on_event", L ("sv", "lost", CB (dispatch_cb, NULL)), NULL));
  expect_error (obj_method (eid, "on_event", L ("sv", "won", CB (dispatch_cb, NULL)), NULL), SCRIPTLING_ERROR_VALUE,
                "unknown event type: won (use: elected, lost, became_leader, stepped_down)");
  expect_error (obj_method (eid, "on_event", L ("si", "lost", (gint64) 1), NULL), SCRIPTLING_ERROR_TYPE,
                "handler must be callable, not int");
  /* A lone node leads when start() returns; the events ran during it. */
  expect_ok (obj_method (eid, "start", NULL, NULL));
  expect_ok (obj_method (eid, "start", NULL, NULL));
  ev = g_strdup_printf ("became_leader:%s", aid);
  g_assert_true (has_event (a, ev));
  g_free (ev);
  ev = g_strdup_printf ("elected:%s", aid);
  g_assert_true (has_event (a, ev));
  g_assert_true (get_bool (obj_method (eid, "is_leader", NULL, NULL)));
  g_assert_true (get_bool (obj_method (eid, "has_leader", NULL, NULL)));
  leader = get_str (obj_method (eid, "get_leader_id", NULL, NULL));
  g_assert_cmpstr (leader, ==, aid);
  expect_ok (obj_method (eid, "send_to_peers", L ("is", (gint64) 128, "to peers"), NULL));
  expect_ok (obj_method (eid, "send_to_peers", L ("isb", (gint64) 128, "reliable", TRUE), NULL));
  /* A second election on the same heartbeat type is refused (D18). */
  g_assert_null (new_election (a, NULL, NULL, &err));
  g_assert_cmpstr (err.message, ==, "handler already registered for message type 65");
  result_clear (&err);
  /* With criteria the local node must match to be eligible. */
  e2 = new_election (a, L ("ssiiv", "500ms", "2s", (gint64) 70, (gint64) 100, D ("role:s", "leader", NULL)), NULL, &err);
  g_assert_nonnull (e2);
  expect_ok (obj_method (e2, "start", NULL, NULL));
  g_assert_false (get_bool (obj_method (e2, "is_leader", NULL, NULL)));
  {
    TResult r = obj_method (e2, "get_leader_id", NULL, NULL);
    g_assert_cmpint (v_type (r.value), ==, SCRIPTLING_VALUE_NULL);
    result_clear (&r);
  }
  expect_ok (obj_method (eid, "stop", NULL, NULL));
  expect_ok (obj_method (eid, "stop", NULL, NULL));
  g_assert_false (get_bool (obj_method (eid, "is_leader", NULL, NULL)));
  expect_error (obj_method (eid, "start", NULL, NULL), SCRIPTLING_ERROR_RUNTIME, "election is stopped");
  /* The cluster's stop stops its elections (D10). */
  expect_ok (call_method (a, "stop", NULL, NULL));
  g_assert_false (get_bool (obj_method (e2, "has_leader", NULL, NULL)));
  teardown ();
}

/* stop() from inside a handler returns promptly and never waits on the
 * dispatcher; the pending request fails (D9). */
static void
test_stop_in_handler (void)
{
  TCluster *a, *b;
  g_autofree char *aaddr = NULL, *bid = NULL;
  gint64 start;

  setup ();
  a = start_cluster (fast_kwargs ());
  b = start_cluster (fast_kwargs ());
  aaddr = node_addr (a);
  bid = node_id (b);
  add_handler (b, 128, FALSE, 4);
  expect_ok (call_method (b, "join", L ("s", aaddr), NULL));
  WAIT_UNTIL (get_int (call_method (a, "num_alive", NULL, NULL)) == 2);
  expect_ok (call_method (a, "send_to", L ("sis", bid, (gint64) 128, "please stop"), NULL));
  start = g_get_monotonic_time ();
  WAIT_UNTIL (b->messages->len == 1);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  expect_error (call_method (b, "send", L ("is", (gint64) 128, "x"), NULL), SCRIPTLING_ERROR_RUNTIME,
                "cluster is stopped");
  /* The stopped node leaves; the other one sees it go. */
  WAIT_UNTIL (get_int (call_method (a, "num_alive", NULL, NULL)) == 1);
  teardown ();
}

/* ---- the API document's examples, translated to calls ---------------------- */

static char *
unused_address (void)
{
  /* A loopback port nobody listens on: bound, then released. */
  g_autoptr(GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (s, any, TRUE, NULL));
  bound = g_socket_get_local_address (s, NULL);
  return g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
}

static void
test_examples (void)
{
  g_autofree char *nobody = unused_address ();
  g_autofree char *nobody2 = unused_address ();
  TResult err = { NULL };

  setup ();
  /* create() example (tags + key), then start/join/leave/stop examples. */
  {
    TCluster *c = create_cluster (NULL, K ("bind_addr:s", "127.0.0.1:0", "tags:v", L ("s", "web"),
                                           "encryption_key:s", "0123456789abcdef", NULL), NULL);
    expect_ok (call_method (c, "start", NULL, NULL));
    expect_ok (call_method (c, "join", L ("s", nobody), NULL));
    expect_ok (call_method (c, "join", L ("v", L ("ss", nobody, nobody2)), NULL));
    expect_ok (call_method (c, "leave", NULL, NULL));
    expect_ok (call_method (c, "stop", NULL, NULL));
  }
  /* Basic Cluster. */
  {
    TCluster *c = create_cluster (NULL, K ("bind_addr:s", "127.0.0.1:0", NULL), NULL);
    expect_ok (call_method (c, "start", NULL, NULL));
    expect_ok (call_method (c, "join", L ("v", L ("s", nobody)), NULL));
    add_handler (c, 128, FALSE, 0);
    expect_ok (call_method (c, "send", L ("is", (gint64) 128, "Hello!"), NULL));
    expect_ok (call_method (c, "stop", NULL, NULL));
  }
  /* Metadata and State Monitoring. */
  {
    TCluster *c = create_cluster (NULL, K ("bind_addr:s", "127.0.0.1:0", NULL), NULL);
    TResult r;
    expect_ok (call_method (c, "set_metadata", L ("ss", "role", "leader"), NULL));
    expect_ok (call_method (c, "set_metadata", L ("si", "version", (gint64) 2), NULL));
    expect_ok (call_method (c, "start", NULL, NULL));
    expect_ok (call_method (c, "on_state_change", L ("v", CB (dispatch_cb, NULL)), NULL));
    expect_ok (call_method (c, "on_metadata_change", L ("v", CB (dispatch_cb, NULL)), NULL));
    expect_ok (call_method (c, "join", L ("v", L ("s", nobody)), NULL));
    r = call_method (c, "alive_nodes", NULL, NULL);
    g_assert_cmpstr (v_get_string (v_dict_lookup (v_dict_lookup (v_list_get (r.value, 0), "metadata"), "version"), NULL), ==, "2");
    result_clear (&r);
    expect_ok (call_method (c, "stop", NULL, NULL));
  }
  /* Request/Reply Messaging (the only alive node is ourselves). */
  {
    TCluster *c = start_cluster (NULL);
    TResult r;
    const ScriptlingValue *nodes;
    add_handler (c, 128, TRUE, 0);
    r = call_method (c, "alive_nodes", NULL, NULL);
    nodes = r.value;
    for (guint k = 0; k < v_list_len (nodes); k++)
      {
        const char *id = v_get_string (v_dict_lookup (v_list_get (nodes, k), "id"), NULL);
        TResult reply = call_method (c, "send_request", L ("sis", id, (gint64) 128, "ping"), NULL);
        g_assert_cmpstr (v_get_string (v_dict_lookup (reply.value, "echo"), NULL), ==, "ping");
        result_clear (&reply);
      }
    result_clear (&r);
    expect_ok (call_method (c, "stop", NULL, NULL));
  }
  /* Node Groups. */
  {
    TCluster *c = start_cluster (NULL);
    ScriptlingValue *ref = v_new (SCRIPTLING_VALUE_OBJECT);
    TResult r;
    char *gid;
    expect_ok (call_method (c, "set_metadata", L ("ss", "role", "coordinator"), NULL));
    expect_ok (call_method (c, "join", L ("v", L ("s", nobody)), NULL));
    ref->class_name = g_strdup ("_Cluster");
    ref->id = g_strdup (c->object_id);
    r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group", L ("v", ref),
                 K ("criteria:v", D ("role:s", "worker", NULL), "on_node_added:v", CB (dispatch_cb, NULL),
                    "on_node_removed:v", CB (dispatch_cb, NULL), NULL), FALSE);
    gid = g_strdup (r.value->id);
    result_clear (&r);
    expect_ok (obj_method (gid, "start", NULL, NULL));
    expect_ok (obj_method (gid, "send_to_peers", L ("iv", (gint64) 128, D ("task:s", "process_data", NULL)), NULL));
    g_assert_cmpint (get_int (obj_method (gid, "count", NULL, NULL)), ==, 0);
    expect_ok (obj_method (gid, "close", NULL, NULL));
    g_free (gid);
    expect_ok (call_method (c, "stop", NULL, NULL));
  }
  /* Leader Election. */
  {
    TCluster *c = start_cluster (NULL);
    g_autofree char *eid = NULL;
    expect_ok (call_method (c, "join", L ("v", L ("ss", nobody, nobody2)), NULL));
    eid = new_election (c, NULL, K ("quorum_percentage:i", (gint64) 51, NULL), &err);
    for (guint k = 0; k < 4; k++)
      {
        static const char *events[] = { "became_leader", "stepped_down", "elected", "lost" };
        expect_ok (obj_method (eid, "on_event", L ("sv", events[k], CB (dispatch_cb, NULL)), NULL));
      }
    expect_ok (obj_method (eid, "start", NULL, NULL));
    g_assert_true (get_bool (obj_method (eid, "is_leader", NULL, NULL)));
    expect_ok (call_method (c, "stop", NULL, NULL));
  }
  /* Encrypted Cluster: the documented 29-byte key is refused (D5). */
  expect_error (do_call (K_NEW, "_Cluster", NULL, "create", NULL,
                         K ("bind_addr:s", "0.0.0.0:8000", "encryption_key:s", "32-byte-key-here-1234567890ab",
                            "compression:b", TRUE, "bearer_token:s", "secret-token", NULL), FALSE),
                SCRIPTLING_ERROR_VALUE, "encryption_key must be 16, 24 or 32 bytes (got 29)");
  teardown ();
}

/* ---- bad inputs --------------------------------------------------------------- */

static void
run_bad (TCluster *c, const char *method, ScriptlingValue *args, ScriptlingValue *kwargs,
         ScriptlingErrorKind kind, const char *message)
{
  TResult r;

  if (method == NULL)
    r = do_call (K_NEW, "_Cluster", NULL, "create", args, kwargs, FALSE);
  else
    r = call_method (c, method, args, kwargs);
  if (g_test_verbose ())
    g_printerr ("# %s: %s\n", method ? method : "create", r.message ? r.message : "(no error)");
  expect_error (r, kind, message);
}

static void
test_bad_inputs (void)
{
  const ScriptlingErrorKind T = SCRIPTLING_ERROR_TYPE, V = SCRIPTLING_ERROR_VALUE, R = SCRIPTLING_ERROR_RUNTIME;
  TCluster *c, *stopped;
  g_autofree char *id = NULL;

  setup ();
  c = start_cluster (NULL);
  id = node_id (c);

  /* create() */
  run_bad (NULL, NULL, NULL, K ("foo:i", (gint64) 1, NULL), T, "create() got an unexpected keyword argument 'foo'");
  run_bad (NULL, NULL, NULL, K ("indirect_checks:i", (gint64) 3, NULL), T, "unexpected keyword argument 'indirect_checks'");
  run_bad (NULL, NULL, L ("ss", "127.0.0.1:0", "x"), NULL, T, "create() takes at most 1 positional argument (2 given)");
  run_bad (NULL, NULL, L ("s", "127.0.0.1:0"), K ("bind_addr:s", "127.0.0.1:0", NULL), T, "multiple values for argument 'bind_addr'");
  run_bad (NULL, NULL, L ("i", (gint64) 8000), NULL, T, "bind_addr must be a string, not int");
  run_bad (NULL, NULL, NULL, K ("bind_addr:s", "nonsense", NULL), V, "bind_addr");
  run_bad (NULL, NULL, NULL, K ("node_id:s", "not-a-uuid", NULL), V, "node_id must be a UUID");
  run_bad (NULL, NULL, NULL, K ("node_id:s", id, NULL), V, "already used by another running cluster");
  run_bad (NULL, NULL, NULL, K ("node_id:i", (gint64) 5, NULL), T, "node_id must be a string, not int");
  run_bad (NULL, NULL, NULL, K ("encryption_key:s", "short", NULL), V, "encryption_key must be 16, 24 or 32 bytes (got 5)");
  run_bad (NULL, NULL, NULL, K ("encryption_key:s", "32-byte-key-here-1234567890ab", NULL), V, "encryption_key must be 16, 24 or 32 bytes (got 29)");
  run_bad (NULL, NULL, NULL, K ("tags:s", "web", NULL), T, "tags must be a list of strings, not str");
  run_bad (NULL, NULL, NULL, K ("tags:v", L ("si", "web", (gint64) 1), NULL), T, "tags[1] must be a string, not int");
  run_bad (NULL, NULL, NULL, K ("compression:s", "no", NULL), T, "compression must be a bool, not str");
  run_bad (NULL, NULL, NULL, K ("compression:i", (gint64) 1, NULL), T, "compression must be a bool, not int");
  run_bad (NULL, NULL, NULL, K ("transport:s", "carrier-pigeon", NULL), V, "unknown transport: carrier-pigeon (use 'socket' or 'http')");
  run_bad (NULL, NULL, NULL, K ("transport:i", (gint64) 1, NULL), T, "transport must be a string, not int");
  run_bad (NULL, NULL, NULL, K ("compress_min_size:i", (gint64) -1, NULL), V, "compress_min_size must be >= 0");
  run_bad (NULL, NULL, NULL, K ("compress_min_size:f", 2.5, NULL), T, "compress_min_size must be an int, not float");
  run_bad (NULL, NULL, NULL, K ("compress_min_size:b", TRUE, NULL), T, "compress_min_size must be an int, not bool");
  run_bad (NULL, NULL, NULL, K ("gossip_interval:s", "5 seconds", NULL), V, "gossip_interval");
  run_bad (NULL, NULL, NULL, K ("gossip_interval:s", "0", NULL), V, "gossip_interval must be a positive duration");
  run_bad (NULL, NULL, NULL, K ("gossip_interval:s", "-5s", NULL), V, "gossip_interval must be a positive duration");
  run_bad (NULL, NULL, NULL, K ("gossip_interval:i", (gint64) 0, NULL), V, "gossip_interval must be a positive duration");
  run_bad (NULL, NULL, NULL, K ("health_check_interval:f", -1.0, NULL), V, "health_check_interval must be a positive duration");
  run_bad (NULL, NULL, NULL, K ("suspect_timeout:b", TRUE, NULL), T, "suspect_timeout must be a duration string");
  run_bad (NULL, NULL, NULL, K ("dead_node_timeout:v", L (""), NULL), T, "dead_node_timeout must be a duration string");
  run_bad (NULL, NULL, NULL, K ("gossip_interval:s", "10s", "gossip_max_interval:s", "1s", NULL), V, "gossip_max_interval");
  run_bad (NULL, NULL, NULL, K ("fan_out_multiplier:f", 0.0, NULL), V, "fan_out_multiplier must be a finite number > 0");
  run_bad (NULL, NULL, NULL, K ("ttl_multiplier:f", NAN, NULL), V, "ttl_multiplier must be a finite number > 0");
  run_bad (NULL, NULL, NULL, K ("state_exchange_multiplier:s", "1", NULL), T, "state_exchange_multiplier must be a number, not str");
  run_bad (NULL, NULL, NULL, K ("advertise_addr:s", "0.0.0.0:9000", NULL), V, "advertise_addr cannot be a wildcard");
  run_bad (NULL, NULL, NULL, K ("insecure_skip_verify:n", NULL), T, "insecure_skip_verify must be a bool, not NoneType");
  run_bad (NULL, NULL, NULL, K ("bearer_token:i", (gint64) 1, NULL), T, "bearer_token must be a string, not int");

  /* message types, payloads, reliable */
  run_bad (c, "send", L ("is", (gint64) 12, "x"), NULL, V, "message type 12 is reserved (user types are 128–65535)");
  run_bad (c, "send", L ("is", (gint64) 127, "x"), NULL, V, "message type 127 is reserved");
  run_bad (c, "send", L ("is", (gint64) -1, "x"), NULL, V, "message type -1 is reserved");
  run_bad (c, "send", L ("is", (gint64) 65536, "x"), NULL, V, "message type 65536 is out of range (user types are 128–65535)");
  run_bad (c, "send", L ("is", (gint64) 65664, "x"), NULL, V, "message type 65664 is out of range");
  run_bad (c, "send", L ("fs", 128.9, "x"), NULL, T, "message_type must be an int, not float");
  run_bad (c, "send", L ("bs", TRUE, "x"), NULL, T, "message_type must be an int, not bool");
  run_bad (c, "send", L ("ss", "128", "x"), NULL, T, "message_type must be an int, not str");
  run_bad (c, "send", L ("i", (gint64) 128), NULL, T, "send() missing required argument 'data'");
  run_bad (c, "send", L ("isbi", (gint64) 128, "x", TRUE, (gint64) 1), NULL, T, "send() takes at most 3 arguments (4 given)");
  run_bad (c, "send", L ("is", (gint64) 128, "x"), K ("reliable:s", "yes", NULL), T, "reliable must be a bool, not str");
  run_bad (c, "send", L ("isi", (gint64) 128, "x", (gint64) 1), NULL, T, "reliable must be a bool, not int");
  run_bad (c, "send", L ("is", (gint64) 128, "x"), K ("relaible:b", TRUE, NULL), T, "send() got an unexpected keyword argument 'relaible'");
  run_bad (c, "send", L ("is", (gint64) 128, "x"), K ("data:s", "y", NULL), T, "send() got multiple values for argument 'data'");
  run_bad (c, "send", L ("iv", (gint64) 128, CB (dispatch_cb, NULL)), NULL, T, "data cannot contain a function");
  run_bad (c, "send", L ("iv", (gint64) 128, L ("f", NAN)), NULL, V, "data cannot carry NaN or infinity");
  run_bad (c, "send", L ("if", (gint64) 128, INFINITY), NULL, V, "data cannot carry NaN or infinity");
  run_bad (c, "send_tagged", L ("iis", (gint64) 1, (gint64) 128, "x"), NULL, T, "tag must be a string, not int");
  run_bad (c, "send_tagged", L ("sis", "", (gint64) 128, "x"), NULL, V, "tag must be a non-empty string");
  run_bad (c, "send_tagged", L ("sis", "web", (gint64) 5, "x"), NULL, V, "message type 5 is reserved");
  run_bad (c, "send_to", L ("iis", (gint64) 1, (gint64) 128, "x"), NULL, T, "node_id must be a string, not int");
  run_bad (c, "send_to", L ("sis", "nobody", (gint64) 128, "x"), NULL, R, "node not found: nobody");
  run_bad (c, "send_request", L ("sis", "nobody", (gint64) 128, "x"), NULL, R, "node not found: nobody");
  run_bad (c, "send_request", L ("sis", id, (gint64) 5, "x"), NULL, V, "message type 5 is reserved");
  run_bad (c, "send_request", L ("sis", id, (gint64) 128, "x"), K ("timeout:s", "0", NULL), V, "timeout must be a positive duration");
  run_bad (c, "send_request", L ("sis", id, (gint64) 128, "x"), K ("timeout:f", -2.0, NULL), V, "timeout must be a positive duration");
  run_bad (c, "send_request", L ("sis", id, (gint64) 128, "x"), K ("timeout:b", TRUE, NULL), T, "timeout must be a duration string");

  /* handlers */
  run_bad (c, "handle", L ("ii", (gint64) 128, (gint64) 5), NULL, T, "handler must be callable, not int");
  run_bad (c, "handle", L ("in", (gint64) 128), NULL, T, "handler must be callable, not NoneType");
  run_bad (c, "handle", L ("iv", (gint64) 64, CB (dispatch_cb, NULL)), NULL, V, "message type 64 is reserved");
  add_handler (c, 150, FALSE, 0);
  run_bad (c, "handle", L ("iv", (gint64) 150, CB (dispatch_cb, NULL)), NULL, V, "handler already registered for message type 150");
  run_bad (c, "handle_with_reply", L ("iv", (gint64) 150, CB (dispatch_cb, NULL)), NULL, V, "handler already registered for message type 150");
  run_bad (c, "unhandle", L ("i", (gint64) 65), NULL, V, "message type 65 is reserved");
  run_bad (c, "unhandle", L ("s", "150"), NULL, T, "message_type must be an int, not str");
  run_bad (c, "on_state_change", L ("s", "print"), NULL, T, "handler must be callable, not str");
  run_bad (c, "on_metadata_change", NULL, NULL, T, "on_metadata_change() missing required argument 'handler'");
  run_bad (c, "on_gossip_interval", L ("vi", CB (dispatch_cb, NULL), (gint64) 1), NULL, T, "on_gossip_interval() takes at most 1 arguments (2 given)");

  /* queries and metadata */
  run_bad (c, "get_node", L ("i", (gint64) 5), NULL, T, "node_id must be a string, not int");
  run_bad (c, "is_local", L ("n"), NULL, T, "node_id must be a string, not NoneType");
  run_bad (c, "nodes_by_tag", L ("i", (gint64) 5), NULL, T, "tag must be a string, not int");
  run_bad (c, "nodes", L ("i", (gint64) 5), NULL, T, "nodes() takes no arguments (1 given)");
  run_bad (c, "num_alive", NULL, K ("x:i", (gint64) 1, NULL), T, "num_alive() got an unexpected keyword argument 'x'");
  run_bad (c, "set_metadata", L ("sn", "k"), NULL, T, "value must be a str, int, float or bool, not NoneType");
  run_bad (c, "set_metadata", L ("sv", "k", L ("i", (gint64) 1)), NULL, T, "value must be a str, int, float or bool, not list");
  run_bad (c, "set_metadata", L ("sf", "k", NAN), NULL, V, "value must be a finite number");
  run_bad (c, "set_metadata", L ("is", (gint64) 1, "v"), NULL, T, "key must be a string, not int");
  run_bad (c, "set_metadata", L ("ss", "", "v"), NULL, V, "metadata key must be a non-empty string");
  run_bad (c, "get_metadata", L ("i", (gint64) 1), NULL, T, "key must be a string, not int");
  run_bad (c, "delete_metadata", NULL, NULL, T, "delete_metadata() missing required argument 'key'");

  /* join */
  run_bad (c, "join", L ("v", L ("")), NULL, V, "join failed: no peers provided");
  run_bad (c, "join", L ("i", (gint64) 8000), NULL, T, "peers must be a string or a list of strings, not int");
  run_bad (c, "join", L ("v", L ("si", "127.0.0.1:1", (gint64) 2)), NULL, T, "peers[1] must be a string, not int");
  run_bad (c, "join", L ("s", "no-port"), NULL, V, "invalid peer address");

  /* groups and elections */
  {
    TResult r;
#define ref() cluster_ref (c)

    r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group", L ("vs", ref (), "role"), NULL, FALSE);
    expect_error (r, T, "criteria must be a dict, not str");
    r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group", L ("vv", ref (), v_dict ()), NULL, FALSE);
    expect_error (r, V, "criteria must be a non-empty dict");
    r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group", L ("vv", ref (), D ("role:v", L (""), NULL)), NULL, FALSE);
    expect_error (r, T, "criteria[\"role\"] must be a str, int, float or bool, not list");
    r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group", L ("vvi", ref (), D ("role:s", "x", NULL), (gint64) 1), NULL, FALSE);
    expect_error (r, T, "on_node_added must be callable or None, not int");
    r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group", L ("v", ref ()), NULL, FALSE);
    expect_error (r, T, "create_node_group() missing required argument 'criteria'");
    r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group", L ("s", "cluster"), NULL, FALSE);
    expect_error (r, T, "create_node_group() needs a cluster created by create(), not str");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("quorum_percentage:i", (gint64) 0, NULL), FALSE);
    expect_error (r, V, "quorum_percentage must be between 1 and 100 (got 0)");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("quorum_percentage:i", (gint64) 101, NULL), FALSE);
    expect_error (r, V, "quorum_percentage must be between 1 and 100 (got 101)");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("quorum_percentage:f", 50.0, NULL), FALSE);
    expect_error (r, T, "quorum_percentage must be an int, not float");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("heartbeat_msg_type:i", (gint64) 63, NULL), FALSE);
    expect_error (r, V, "heartbeat_msg_type must be between 64 and 65535 (got 63)");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("heartbeat_msg_type:i", (gint64) 150, NULL), FALSE);
    expect_error (r, V, "handler already registered for message type 150");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("check_interval:s", "0", NULL), FALSE);
    expect_error (r, V, "check_interval must be a positive duration");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("check_interval:s", "2s", "leader_timeout:s", "1s", NULL), FALSE);
    expect_error (r, V, "leader_timeout must be >= check_interval");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("leader_timeout:s", "soon", NULL), FALSE);
    expect_error (r, V, "leader_timeout");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("metadata_criteria:s", "x", NULL), FALSE);
    expect_error (r, T, "metadata_criteria must be a dict, not str");
    r = do_call (K_NEW, "_LeaderElection", NULL, "create_leader_election", L ("v", ref ()), K ("quorum:i", (gint64) 1, NULL), FALSE);
    expect_error (r, T, "create_leader_election() got an unexpected keyword argument 'quorum'");
#undef ref
  }

  /* after stop */
  stopped = start_cluster (NULL);
  expect_ok (call_method (stopped, "stop", NULL, NULL));
  run_bad (stopped, "start", NULL, NULL, R, "cluster is stopped");
  run_bad (stopped, "send", L ("is", (gint64) 128, "x"), NULL, R, "cluster is stopped");
  run_bad (stopped, "send_tagged", L ("sis", "t", (gint64) 128, "x"), NULL, R, "cluster is stopped");
  run_bad (stopped, "send_to", L ("sis", id, (gint64) 128, "x"), NULL, R, "cluster is stopped");
  run_bad (stopped, "send_request", L ("sis", id, (gint64) 128, "x"), NULL, R, "cluster is stopped");
  run_bad (stopped, "join", L ("s", "127.0.0.1:1"), NULL, R, "cluster is stopped");
  run_bad (stopped, "leave", NULL, NULL, R, "cluster is stopped");
  run_bad (stopped, "set_metadata", L ("ss", "k", "v"), NULL, R, "cluster is stopped");
  {
    TResult r;
    ScriptlingValue *sref = v_new (SCRIPTLING_VALUE_OBJECT);
    sref->class_name = g_strdup ("_Cluster");
    sref->id = g_strdup (stopped->object_id);
    r = do_call (K_NEW, "_NodeGroup", NULL, "create_node_group", L ("vv", sref, D ("a:s", "b", NULL)), NULL, FALSE);
    expect_error (r, R, "cluster is stopped");
  }
  /* run_events */
  expect_error (do_call (K_FUNCTION, "run_events", NULL, "run_events", L ("s", "later"), NULL, TRUE), V, "timeout");
  expect_error (do_call (K_FUNCTION, "run_events", NULL, "run_events", L ("b", TRUE), NULL, TRUE), T, "timeout must be a duration");
  teardown ();
}

/* ---- unload ---------------------------------------------------------------------- */

static guint
count_fds (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;
  while (dir && g_dir_read_name (dir))
    n++;
  return n;
}

static guint
count_engine_threads (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/task", 0, NULL);
  const char *name;
  guint n = 0;

  while (dir && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename ("/proc/self/task", name, "comm", NULL);
      g_autofree char *comm = NULL;
      if (g_file_get_contents (path, &comm, NULL, NULL) &&
          (g_str_has_prefix (comm, "gossip-engine") || g_str_has_prefix (comm, "gossip-plugin")))
        {
          if (g_test_verbose ())
            g_printerr ("# thread %s: %s", name, comm);
          n++;
        }
    }
  return n;
}

/* The engine thread may end on its own shortly after the last cluster
 * went away (when that happened on the engine thread itself). */
static guint
settled_engine_threads (void)
{
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  guint n;

  while ((n = count_engine_threads ()) > 0 && g_get_monotonic_time () < end)
    g_usleep (10 * 1000);
  return n;
}

static void
three_clusters_cycle (gboolean leave_running)
{
  TCluster *cs[3];
  g_autofree char *addr = NULL;

  setup ();
  for (guint k = 0; k < 3; k++)
    cs[k] = start_cluster (fast_kwargs ());
  addr = node_addr (cs[0]);
  expect_ok (call_method (cs[1], "join", L ("s", addr), NULL));
  expect_ok (call_method (cs[2], "join", L ("s", addr), NULL));
  add_handler (cs[0], 128, TRUE, 0);
  g_assert_cmpuint (count_engine_threads (), >=, 1);
  if (!leave_running)
    for (guint k = 0; k < 3; k++)
      expect_ok (call_method (cs[k], "stop", NULL, NULL));
  teardown ();
}

static void
test_unload (void)
{
  guint fds, threads;

  /* Warm up GLib's own lazily created state (main context wakeups, …). */
  three_clusters_cycle (FALSE);
  threads = settled_engine_threads ();
  g_assert_cmpuint (threads, ==, 0);
  fds = count_fds ();

  /* Unloading with running clusters stops them all. */
  three_clusters_cycle (TRUE);
  g_assert_cmpuint (settled_engine_threads (), ==, 0);
  g_assert_cmpuint (count_fds (), ==, fds);
  /* The module stays resident (GTypes cannot be unregistered). */
  {
    void *dl = dlopen (plugin_path (), RTLD_NOW | RTLD_NOLOAD);
    g_assert_nonnull (dl);
    dlclose (dl);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/plugin/exports", test_exports);
  g_test_add_func ("/plugin/registration", test_registration);
  g_test_add_func ("/plugin/cluster-queries", test_cluster_queries);
  g_test_add_func ("/plugin/messaging", test_messaging);
  g_test_add_func ("/plugin/tagged", test_tagged);
  g_test_add_func ("/plugin/events", test_events);
  g_test_add_func ("/plugin/groups", test_groups);
  g_test_add_func ("/plugin/election", test_election);
  g_test_add_func ("/plugin/stop-in-handler", test_stop_in_handler);
  g_test_add_func ("/plugin/examples", test_examples);
  g_test_add_func ("/plugin/bad-inputs", test_bad_inputs);
  g_test_add_func ("/plugin/unload", test_unload);
  return g_test_run ();
}
