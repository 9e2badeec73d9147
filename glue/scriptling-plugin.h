/* scriptling-plugin.h — the C ABI between a Scriptling plugin host and a
 * plugin shared object.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * This header is plain C11 and has no dependencies beyond the C standard
 * library.  It is installed as <scriptling-plugin-1.0/scriptling-plugin.h>.
 */

#ifndef SCRIPTLING_PLUGIN_H
#define SCRIPTLING_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * SECTION:scriptling-plugin
 * @title: Scriptling plugin ABI
 * @short_description: how a plugin shared object talks to its host
 *
 * A plugin is a shared object (built with `-module -avoid-version`) that
 * exports exactly one symbol, #ScriptlingPluginDescriptor
 * `scriptling_plugin_descriptor`, normally defined with
 * SCRIPTLING_PLUGIN_DEFINE().  The host opens the object, reads the
 * descriptor, refuses it if its @abi_version is one the host does not know,
 * and calls its @init function with a table of host functions
 * (#ScriptlingHostApi) and an opaque host handle (#ScriptlingHost).
 *
 * During @init the plugin registers one module (a dotted name such as
 * `scriptling.net.gossip`) with functions, classes and constants.  After
 * @init returns the registration is frozen and the host starts serving
 * scripts.
 *
 * ## Threads
 *
 * The thread that calls @init is the *script thread*.  The host calls every
 * plugin entry point on that thread, one at a time: functions, constructors,
 * methods, property getters and setters, destructors, the pump hook and the
 * shutdown hook.  Plugin code therefore never runs concurrently with other
 * plugin code called by the host, but it may be *re-entered*: while the
 * plugin waits in #ScriptlingHostApi.callback_call, the host keeps serving
 * requests, so other functions (and destructors, and the pump hook) may run
 * on the same thread before callback_call() returns.
 *
 * Functions marked "any thread" below may be called from any thread,
 * including threads the plugin owns.  All others must be called on the
 * script thread.  The pattern for work done on the plugin's own threads is:
 * queue the result under the plugin's own lock, call
 * #ScriptlingHostApi.wakeup, and finish the work (call callbacks, complete
 * deferred calls) in the pump hook, which the host then runs on the script
 * thread.
 *
 * ## Ownership
 *
 * * Every `value_new_*()` function returns a new reference that the caller
 *   owns.  Functions documented as "takes ownership" consume one reference
 *   (list_append(), dict_set(), module_add_constant(), call_return(), and
 *   the return value of every plugin callback).  A %NULL value given to
 *   them means the null value.
 * * Arguments given to plugin functions are borrowed: valid until the
 *   function returns.  Take a reference with value_ref() to keep one.
 * * Accessors (list_get_item(), dict_lookup(), value_get_string(), ...)
 *   return borrowed pointers that stay valid as long as the container or
 *   value they came from.
 * * Strings given to the host (names, descriptions, sources, messages) are
 *   copied.
 * * A value is *frozen* once it has been added to a container, returned to
 *   the host, or was received from the host; frozen values cannot be
 *   modified (list_append() and dict_set() then return %false).  This makes
 *   reference cycles impossible.  Frozen values may be read from several
 *   threads at once.
 *
 * ## Versioning
 *
 * #SCRIPTLING_PLUGIN_ABI_VERSION changes only for incompatible changes.
 * Within one ABI version #ScriptlingHostApi only grows at its end; a plugin
 * that needs an entry added later checks for it with
 * SCRIPTLING_HOST_API_HAS() before calling it.
 */

/**
 * SCRIPTLING_PLUGIN_ABI_VERSION:
 *
 * The ABI version this header describes.  A host refuses a plugin whose
 * descriptor carries an ABI version it does not implement.
 */
#define SCRIPTLING_PLUGIN_ABI_VERSION 1u

/**
 * SCRIPTLING_PLUGIN_DESCRIPTOR_SYMBOL:
 *
 * The name of the one symbol a plugin exports.
 */
#define SCRIPTLING_PLUGIN_DESCRIPTOR_SYMBOL "scriptling_plugin_descriptor"

#if defined(__GNUC__) || defined(__clang__)
#define SCRIPTLING_PLUGIN_EXPORT __attribute__ ((visibility ("default")))
#else
#define SCRIPTLING_PLUGIN_EXPORT
#endif

/**
 * ScriptlingHost:
 *
 * Opaque handle for the host instance.  Given to the plugin's init
 * function; valid until the shutdown hook returns.
 */
typedef struct ScriptlingHost ScriptlingHost;

/**
 * ScriptlingModule:
 *
 * Opaque handle for the registered module.  Owned by the host.
 */
typedef struct ScriptlingModule ScriptlingModule;

/**
 * ScriptlingFunction:
 *
 * Opaque handle for a registered module-level function.  Owned by the host.
 */
typedef struct ScriptlingFunction ScriptlingFunction;

/**
 * ScriptlingClass:
 *
 * Opaque handle for a registered class.  Owned by the host.
 */
typedef struct ScriptlingClass ScriptlingClass;

/**
 * ScriptlingCall:
 *
 * Opaque handle for one call from a script into the plugin (a function
 * call, a construction, a method call, or a property access).  Owned by the
 * host; valid until the plugin function returns, or, for a deferred call
 * (#ScriptlingHostApi.call_defer), until the call is completed.
 */
typedef struct ScriptlingCall ScriptlingCall;

/**
 * ScriptlingValue:
 *
 * Opaque, reference-counted Scriptling value.
 */
typedef struct ScriptlingValue ScriptlingValue;

/**
 * ScriptlingValueType:
 * @SCRIPTLING_VALUE_NULL: `None`
 * @SCRIPTLING_VALUE_BOOL: `True`/`False`
 * @SCRIPTLING_VALUE_INT: signed 64-bit integer
 * @SCRIPTLING_VALUE_FLOAT: IEEE double (finite when sent to the host)
 * @SCRIPTLING_VALUE_STRING: UTF-8 string without NUL characters
 * @SCRIPTLING_VALUE_LIST: list (Scriptling tuples arrive as lists)
 * @SCRIPTLING_VALUE_DICT: dict with string keys, in insertion order
 * @SCRIPTLING_VALUE_OBJECT: reference to an instance of one of the
 *   plugin's own classes (received from the host only)
 * @SCRIPTLING_VALUE_CALLBACK: a script function the plugin may call while
 *   the call that received it is in flight (received from the host only)
 *
 * The kinds of value the Scriptling plugin protocol carries.
 */
typedef enum {
  SCRIPTLING_VALUE_NULL = 0,
  SCRIPTLING_VALUE_BOOL = 1,
  SCRIPTLING_VALUE_INT = 2,
  SCRIPTLING_VALUE_FLOAT = 3,
  SCRIPTLING_VALUE_STRING = 4,
  SCRIPTLING_VALUE_LIST = 5,
  SCRIPTLING_VALUE_DICT = 6,
  SCRIPTLING_VALUE_OBJECT = 7,
  SCRIPTLING_VALUE_CALLBACK = 8,
} ScriptlingValueType;

/**
 * ScriptlingErrorKind:
 * @SCRIPTLING_ERROR_RUNTIME: any other failure (Python's `RuntimeError`;
 *   Scriptling scripts see a plain `Exception`)
 * @SCRIPTLING_ERROR_TYPE: an argument has the wrong type, or the call has
 *   the wrong number or names of arguments (Python's `TypeError`)
 * @SCRIPTLING_ERROR_VALUE: an argument has the right type but an
 *   unacceptable value (Python's `ValueError`)
 *
 * The class of an error raised with #ScriptlingHostApi.call_raise.  How the
 * kind reaches scripts is up to the host; the stdio bridge prefixes the
 * message so that Scriptling, which classifies plugin errors by their text
 * alone, gives `TypeError` and `ValueError` (see glue/README.md).
 */
typedef enum {
  SCRIPTLING_ERROR_RUNTIME = 0,
  SCRIPTLING_ERROR_TYPE = 1,
  SCRIPTLING_ERROR_VALUE = 2,
} ScriptlingErrorKind;

/**
 * ScriptlingLogLevel:
 * @SCRIPTLING_LOG_TRACE: very verbose tracing
 * @SCRIPTLING_LOG_DEBUG: debugging
 * @SCRIPTLING_LOG_INFO: normal information
 * @SCRIPTLING_LOG_WARNING: something is wrong but work continues
 * @SCRIPTLING_LOG_ERROR: an operation failed
 *
 * Severity of a log record.  There is deliberately no "fatal" level: a
 * plugin must not be able to terminate the interpreter through logging.
 */
typedef enum {
  SCRIPTLING_LOG_TRACE = 0,
  SCRIPTLING_LOG_DEBUG = 1,
  SCRIPTLING_LOG_INFO = 2,
  SCRIPTLING_LOG_WARNING = 3,
  SCRIPTLING_LOG_ERROR = 4,
} ScriptlingLogLevel;

/**
 * ScriptlingFreeFunc:
 * @data: the user data to release
 *
 * Releases user data given at registration.  Called on the script thread
 * after the shutdown hook.
 */
typedef void (*ScriptlingFreeFunc) (void *data);

/**
 * ScriptlingFunctionFunc:
 * @call: the call; use it to raise errors or to defer completion
 * @n_args: number of positional arguments
 * @args: (array length=n_args): the positional arguments (borrowed)
 * @kwargs: the keyword arguments, a dict (borrowed, never %NULL, possibly
 *   empty; keys arrive sorted, the script's order is not transmitted)
 * @user_data: the data given at registration
 *
 * Implements a module-level function.
 *
 * Returns: (transfer full) (nullable): the result; %NULL means `None`.  If
 *   an error was raised on @call, or the call was deferred, the return value
 *   is released and ignored.
 */
typedef ScriptlingValue *(*ScriptlingFunctionFunc) (ScriptlingCall *call,
                                                    size_t n_args,
                                                    const ScriptlingValue *const *args,
                                                    const ScriptlingValue *kwargs,
                                                    void *user_data);

/**
 * ScriptlingConstructorFunc:
 * @call: the call
 * @n_args: number of positional arguments
 * @args: (array length=n_args): the positional arguments (borrowed)
 * @kwargs: the keyword arguments (borrowed dict, never %NULL)
 * @user_data: the class data given at registration
 *
 * Creates the native instance behind a new script object.
 *
 * Returns: (nullable): the instance, owned by the host until it gives it
 *   back to the class's #ScriptlingDestructorFunc.  %NULL means failure; an
 *   error should have been raised on @call (otherwise the host raises a
 *   generic one).  Construction cannot be deferred.
 */
typedef void *(*ScriptlingConstructorFunc) (ScriptlingCall *call,
                                            size_t n_args,
                                            const ScriptlingValue *const *args,
                                            const ScriptlingValue *kwargs,
                                            void *user_data);

/**
 * ScriptlingMethodFunc:
 * @call: the call
 * @instance: the instance the method is called on
 * @n_args: number of positional arguments (not counting `self`)
 * @args: (array length=n_args): the positional arguments (borrowed)
 * @kwargs: the keyword arguments (borrowed dict, never %NULL)
 * @user_data: the data given at registration
 *
 * Implements a method.  Same contract as #ScriptlingFunctionFunc.  The host
 * guarantees that @instance is not destroyed while the method runs (a
 * destroy request that arrives meanwhile is carried out when it returns).
 *
 * Returns: (transfer full) (nullable): the result; %NULL means `None`.
 */
typedef ScriptlingValue *(*ScriptlingMethodFunc) (ScriptlingCall *call,
                                                  void *instance,
                                                  size_t n_args,
                                                  const ScriptlingValue *const *args,
                                                  const ScriptlingValue *kwargs,
                                                  void *user_data);

/**
 * ScriptlingGetterFunc:
 * @call: the call
 * @instance: the instance
 * @user_data: the data given at registration
 *
 * Reads a property.
 *
 * Returns: (transfer full) (nullable): the value; %NULL means `None`.
 */
typedef ScriptlingValue *(*ScriptlingGetterFunc) (ScriptlingCall *call,
                                                  void *instance,
                                                  void *user_data);

/**
 * ScriptlingSetterFunc:
 * @call: the call
 * @instance: the instance
 * @value: the new value (borrowed)
 * @user_data: the data given at registration
 *
 * Writes a settable property.
 *
 * Returns: %true on success; %false after raising an error on @call.
 */
typedef bool (*ScriptlingSetterFunc) (ScriptlingCall *call,
                                      void *instance,
                                      const ScriptlingValue *value,
                                      void *user_data);

/**
 * ScriptlingDestructorFunc:
 * @instance: the instance returned by the constructor
 * @user_data: the class data given at registration
 *
 * Destroys an instance: when the script releases the object, or at
 * shutdown.  Runs on the script thread outside of any call, so it cannot
 * raise errors; it may still call callbacks of calls that are in flight.
 * Deferred calls on @instance may still be pending: complete them here.
 */
typedef void (*ScriptlingDestructorFunc) (void *instance, void *user_data);

/**
 * ScriptlingHookFunc:
 * @user_data: the data given when the hook was set
 *
 * A plugin-wide hook: the pump hook and the shutdown hook.
 */
typedef void (*ScriptlingHookFunc) (void *user_data);

/**
 * ScriptlingHostApi:
 * @struct_size: `sizeof (ScriptlingHostApi)` as compiled into the host;
 *   see SCRIPTLING_HOST_API_HAS()
 * @abi_version: the host's #SCRIPTLING_PLUGIN_ABI_VERSION
 * @host_name: the host's program name, e.g. `"scriptling-plugin-bridge"`
 * @host_version: the host's version string
 * @register_module: (script thread, init only) register the plugin's
 *   module; @name is a dotted identifier such as `scriptling.net.gossip`;
 *   @description (nullable) defaults to the descriptor's.  One module per
 *   plugin in ABI 1: a second call fails.  Returns %NULL on failure (the
 *   reason is logged).
 * @module_add_function: (script thread, init only) register a function;
 *   @name is an identifier unique among the module's functions, classes and
 *   constants; @description (nullable) is the help text; @func may be %NULL
 *   for a function that exists only as wrapper source (then set one with
 *   @function_set_source); @free_func (nullable) releases @user_data after
 *   shutdown.  Returns %NULL on failure.
 * @function_set_source: (script thread, init only) attach Scriptling source
 *   that the host compiles in place of the generated forwarding stub.  The
 *   source must define the function's name at top level.  Giving any source
 *   makes the host build the whole module as Scriptling source, in which
 *   case (with the current Scriptling host) constants are not exported
 *   unless the wrapper source defines them.
 * @module_add_class: (script thread, init only) register a class; @ctor
 *   may be %NULL for a class that scripts cannot instantiate directly
 *   (object.new then fails); @dtor (nullable) destroys instances.  Returns
 *   %NULL on failure.
 * @class_add_method: (script thread, init only) register a method; names
 *   are unique among the class's methods and properties, and `__init__`,
 *   `__del__` and `_plugin_remote` are reserved.
 * @class_add_property: (script thread, init only) register a property;
 *   @setter %NULL makes it read-only (the host refuses writes with
 *   "can't set attribute 'NAME': property is read-only").
 * @class_set_source: (script thread, init only) attach Scriptling wrapper
 *   source for the class, like @function_set_source.  A wrapper class must
 *   release its remote object in `__del__`.
 * @module_add_constant: (script thread, init only) add a constant; takes
 *   ownership of @value, which must be null, bool, int, finite float,
 *   string, or a list/dict of those.
 * @set_pump_func: (script thread, init only) set the pump hook, run on the
 *   script thread after @wakeup (see there).
 * @set_shutdown_func: (script thread, init only) set the shutdown hook, run
 *   once at shutdown after every remaining instance was destroyed and before
 *   user data is released.  No call is in flight any more when it runs and
 *   none will be: complete or forget every deferred call.
 * @value_new_null: (any thread) new `None`
 * @value_new_bool: (any thread) new bool
 * @value_new_int: (any thread) new int
 * @value_new_float: (any thread) new float.  NaN and infinities can be
 *   created but not sent: a call returning one fails.
 * @value_new_string: (any thread) new string from NUL-terminated UTF-8;
 *   invalid UTF-8 sequences are replaced by U+FFFD.  %NULL gives `None`.
 * @value_new_string_len: (any thread) like @value_new_string for @length
 *   bytes; the string ends at the first NUL byte, if any.
 * @value_new_list: (any thread) new empty list
 * @value_new_dict: (any thread) new empty dict
 * @value_ref: (any thread) add a reference; returns @value
 * @value_unref: (any thread) drop a reference; %NULL is ignored
 * @value_get_type: (any thread) the value's kind; %NULL is
 *   %SCRIPTLING_VALUE_NULL
 * @value_type_name: (any thread) the Scriptling name of a kind for error
 *   messages: `"NoneType"`, `"bool"`, `"int"`, `"float"`, `"str"`,
 *   `"list"`, `"dict"`, `"object"`, `"function"`
 * @value_get_bool: (any thread) if @value is a bool, store it and return
 *   %true; otherwise return %false.  No coercion.
 * @value_get_int: (any thread) likewise for int (a bool is not an int)
 * @value_get_float: (any thread) likewise for float (an int is not a
 *   float: convert yourself if you accept both)
 * @value_get_string: (any thread) the UTF-8 text of a string value and,
 *   if @length is not %NULL, its length in bytes; %NULL if @value is not a
 *   string
 * @list_get_length: (any thread) number of items; 0 if not a list
 * @list_get_item: (any thread) borrowed item, %NULL if out of range or not
 *   a list
 * @list_append: (any thread) append, taking ownership of @item (%NULL =
 *   `None`) even on failure; fails if @list is not a list or is frozen, or
 *   @item is @list.  Freezes @item.
 * @dict_get_size: (any thread) number of entries; 0 if not a dict
 * @dict_lookup: (any thread) borrowed value for @key or %NULL
 * @dict_get_entry: (any thread) the @index-th entry in insertion order;
 *   %false if out of range or not a dict
 * @dict_set: (any thread) set @key (UTF-8, copied) to @value, taking
 *   ownership of @value even on failure; replacing a key keeps its
 *   position.  Fails if @dict is not a dict or is frozen.  Freezes @value.
 * @object_get_class_name: (any thread) the class name of an object
 *   reference, %NULL if not an object
 * @object_get_id: (any thread) the host-visible id of an object reference
 * @object_get_instance: (script thread) the native instance an object
 *   reference designates, or %NULL if @value is not an object, the object
 *   was destroyed, or it is not an instance of @klass (%NULL @klass accepts
 *   any class of this plugin).  Raise a %SCRIPTLING_ERROR_TYPE if %NULL.
 * @call_get_name: (script thread) a name for messages: `"fn"`,
 *   `"Class"` (construction), `"Class.method"`, `"Class.property"`
 * @call_raise: (script thread) raise an error.  On a call that is running
 *   this sets the result to an error (the first error wins); on a deferred
 *   call it completes the call with the error.
 * @call_defer: (script thread) from inside a function or method only:
 *   keep the call in flight after the plugin function returns.  Its
 *   callbacks stay valid until it is completed with @call_return or
 *   @call_raise, which may happen from any later point on the script thread
 *   (another call, the pump hook, a destructor).  Meanwhile the host keeps
 *   serving other requests.  Returns %false (and nothing changes) for
 *   constructors and property accessors.
 * @call_return: (script thread) complete a deferred call with a result,
 *   taking ownership of @result (%NULL = `None`).  The call handle is
 *   invalid afterwards.
 * @callback_call: (script thread) call a callback value with positional
 *   arguments (@args borrowed) and optional keyword arguments (@kwargs a
 *   borrowed dict or %NULL), and wait for its result.  Allowed while the
 *   call that received @callback is in flight (running, or deferred and not
 *   yet completed), from anywhere on the script thread.  Other requests are
 *   served while waiting, so the plugin may be re-entered.  The reply of
 *   the call that received @callback is never sent while one of its
 *   callback_call()s is still waiting, even if a nested request completed
 *   that (deferred) call meanwhile.  Returns the
 *   result (transfer full, never %NULL on success) or %NULL on failure, in
 *   which case *@error_message (if not %NULL) receives a message to free
 *   with @free: the script's exception text, or why the callback could not
 *   be called.
 * @wakeup: (any thread) ask the host to run the pump hook on the script
 *   thread soon.  Cheap and non-blocking; wake-ups are coalesced: one pump
 *   run serves every wake-up that happened before it started.  The pump
 *   hook runs between requests and while the script thread waits in
 *   @callback_call, never re-entrantly, never after shutdown.
 * @log: (any thread) log @message (UTF-8) at @level, with @fields (nullable
 *   borrowed list, conventionally alternating key and value) as structured
 *   arguments.  Never blocks on the host.
 * @free: (any thread) free memory the host allocated for the plugin
 *
 * The host's function table, given to the plugin's init function.  It and
 * every pointer in it stay valid until the plugin is unloaded.
 */
typedef struct ScriptlingHostApi ScriptlingHostApi;
struct ScriptlingHostApi {
  uint32_t struct_size;
  uint32_t abi_version;
  const char *host_name;
  const char *host_version;

  /* Registration. */
  ScriptlingModule *(*register_module) (ScriptlingHost *host,
                                        const char *name,
                                        const char *description);
  ScriptlingFunction *(*module_add_function) (ScriptlingModule *module,
                                              const char *name,
                                              const char *description,
                                              ScriptlingFunctionFunc func,
                                              void *user_data,
                                              ScriptlingFreeFunc free_func);
  bool (*function_set_source) (ScriptlingFunction *function,
                               const char *source);
  ScriptlingClass *(*module_add_class) (ScriptlingModule *module,
                                        const char *name,
                                        const char *description,
                                        ScriptlingConstructorFunc ctor,
                                        ScriptlingDestructorFunc dtor,
                                        void *user_data,
                                        ScriptlingFreeFunc free_func);
  bool (*class_add_method) (ScriptlingClass *klass,
                            const char *name,
                            const char *description,
                            ScriptlingMethodFunc method,
                            void *user_data,
                            ScriptlingFreeFunc free_func);
  bool (*class_add_property) (ScriptlingClass *klass,
                              const char *name,
                              const char *description,
                              ScriptlingGetterFunc getter,
                              ScriptlingSetterFunc setter,
                              void *user_data,
                              ScriptlingFreeFunc free_func);
  bool (*class_set_source) (ScriptlingClass *klass,
                            const char *source);
  bool (*module_add_constant) (ScriptlingModule *module,
                               const char *name,
                               ScriptlingValue *value);
  void (*set_pump_func) (ScriptlingHost *host,
                         ScriptlingHookFunc func,
                         void *user_data);
  void (*set_shutdown_func) (ScriptlingHost *host,
                             ScriptlingHookFunc func,
                             void *user_data);

  /* Values. */
  ScriptlingValue *(*value_new_null) (void);
  ScriptlingValue *(*value_new_bool) (bool value);
  ScriptlingValue *(*value_new_int) (int64_t value);
  ScriptlingValue *(*value_new_float) (double value);
  ScriptlingValue *(*value_new_string) (const char *utf8);
  ScriptlingValue *(*value_new_string_len) (const char *utf8,
                                            size_t length);
  ScriptlingValue *(*value_new_list) (void);
  ScriptlingValue *(*value_new_dict) (void);
  ScriptlingValue *(*value_ref) (const ScriptlingValue *value);
  void (*value_unref) (ScriptlingValue *value);
  ScriptlingValueType (*value_get_type) (const ScriptlingValue *value);
  const char *(*value_type_name) (ScriptlingValueType type);
  bool (*value_get_bool) (const ScriptlingValue *value,
                          bool *out);
  bool (*value_get_int) (const ScriptlingValue *value,
                         int64_t *out);
  bool (*value_get_float) (const ScriptlingValue *value,
                           double *out);
  const char *(*value_get_string) (const ScriptlingValue *value,
                                   size_t *length);
  size_t (*list_get_length) (const ScriptlingValue *list);
  const ScriptlingValue *(*list_get_item) (const ScriptlingValue *list,
                                           size_t index);
  bool (*list_append) (ScriptlingValue *list,
                       ScriptlingValue *item);
  size_t (*dict_get_size) (const ScriptlingValue *dict);
  const ScriptlingValue *(*dict_lookup) (const ScriptlingValue *dict,
                                         const char *key);
  bool (*dict_get_entry) (const ScriptlingValue *dict,
                          size_t index,
                          const char **key,
                          const ScriptlingValue **value);
  bool (*dict_set) (ScriptlingValue *dict,
                    const char *key,
                    ScriptlingValue *value);
  const char *(*object_get_class_name) (const ScriptlingValue *value);
  const char *(*object_get_id) (const ScriptlingValue *value);
  void *(*object_get_instance) (const ScriptlingValue *value,
                                const ScriptlingClass *klass);

  /* Calls and callbacks. */
  const char *(*call_get_name) (ScriptlingCall *call);
  void (*call_raise) (ScriptlingCall *call,
                      ScriptlingErrorKind kind,
                      const char *message);
  bool (*call_defer) (ScriptlingCall *call);
  void (*call_return) (ScriptlingCall *call,
                       ScriptlingValue *result);
  ScriptlingValue *(*callback_call) (const ScriptlingValue *callback,
                                     size_t n_args,
                                     const ScriptlingValue *const *args,
                                     const ScriptlingValue *kwargs,
                                     char **error_message);

  /* Host services. */
  void (*wakeup) (ScriptlingHost *host);
  void (*log) (ScriptlingHost *host,
               ScriptlingLogLevel level,
               const char *message,
               const ScriptlingValue *fields);
  void (*free) (void *data);

  /* New entries are appended here; check with SCRIPTLING_HOST_API_HAS(). */
};

/**
 * SCRIPTLING_HOST_API_HAS:
 * @api: a #ScriptlingHostApi pointer
 * @member: the name of an entry
 *
 * Whether the host's table is large enough to contain @member, i.e. whether
 * an entry added to this header after the host was built may be used.
 */
#define SCRIPTLING_HOST_API_HAS(api, member) \
  ((api)->struct_size >= offsetof (ScriptlingHostApi, member) + sizeof ((api)->member))

/**
 * ScriptlingPluginInitFunc:
 * @api: the host's function table
 * @host: the host handle to pass to the registration and service entries
 *
 * Registers the plugin's module.  Runs on the script thread, once.
 *
 * Returns: %true on success; %false makes the host refuse the plugin (log
 *   the reason first).
 */
typedef bool (*ScriptlingPluginInitFunc) (const ScriptlingHostApi *api,
                                          ScriptlingHost *host);

/**
 * ScriptlingPluginDescriptor:
 * @abi_version: #SCRIPTLING_PLUGIN_ABI_VERSION the plugin was built
 *   against.  Always the first member, so that any host can read it.
 * @struct_size: `sizeof (ScriptlingPluginDescriptor)`
 * @name: short plugin name, e.g. `"gossip"`
 * @version: plugin version, reported to scripts as the library version
 * @description: one-line description
 * @init: the init function
 * @reserved: must be zero
 *
 * The one symbol a plugin exports, named
 * #SCRIPTLING_PLUGIN_DESCRIPTOR_SYMBOL.
 */
typedef struct ScriptlingPluginDescriptor ScriptlingPluginDescriptor;
struct ScriptlingPluginDescriptor {
  uint32_t abi_version;
  uint32_t struct_size;
  const char *name;
  const char *version;
  const char *description;
  ScriptlingPluginInitFunc init;
  void *reserved[4];
};

/**
 * SCRIPTLING_PLUGIN_DEFINE:
 * @name: plugin name (a string literal)
 * @version: plugin version (a string literal)
 * @description: one-line description (a string literal)
 * @init: a #ScriptlingPluginInitFunc
 *
 * Defines and exports the plugin descriptor.  Use once, at file scope, in
 * one source file of the plugin.
 */
#ifdef __cplusplus
/* One declaration with C linkage; repeating the attribute on a second
 * declaration is an error in C++. */
#define SCRIPTLING_PLUGIN_DEFINE(name, version, description, init)              \
  extern "C" SCRIPTLING_PLUGIN_EXPORT const ScriptlingPluginDescriptor          \
    scriptling_plugin_descriptor = {                                            \
      SCRIPTLING_PLUGIN_ABI_VERSION,                                            \
      (uint32_t) sizeof (ScriptlingPluginDescriptor),                           \
      (name), (version), (description), (init),                                 \
      { NULL, NULL, NULL, NULL }                                                \
    }
#else
/* Declared first so that -Wmissing-variable-declarations stays quiet. */
#define SCRIPTLING_PLUGIN_DEFINE(name, version, description, init)              \
  SCRIPTLING_PLUGIN_EXPORT extern const ScriptlingPluginDescriptor              \
    scriptling_plugin_descriptor;                                               \
  SCRIPTLING_PLUGIN_EXPORT const ScriptlingPluginDescriptor                     \
    scriptling_plugin_descriptor = {                                            \
      SCRIPTLING_PLUGIN_ABI_VERSION,                                            \
      (uint32_t) sizeof (ScriptlingPluginDescriptor),                           \
      (name), (version), (description), (init),                                 \
      { NULL, NULL, NULL, NULL }                                                \
    }
#endif

#ifdef __cplusplus
}
#endif

#endif /* SCRIPTLING_PLUGIN_H */
