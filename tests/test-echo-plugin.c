/* test-echo-plugin.c — a plugin exercising every part of the host ABI,
 * served by scriptling-plugin-bridge in tests/test-bridge.c.
 *
 * Copyright the scriptling-gossip authors.
 * SPDX-License-Identifier: MIT
 *
 * Module scriptling.test.echo:
 *   echo(*args, **kwargs)    -> {"args": [...], "kwargs": {...}}
 *   types(*args)             -> [type name, ...]
 *   make_values()            -> a dict holding a value of every kind
 *   nan()                    -> float NaN (cannot be sent: an error)
 *   add(a, b=0)              -> a + b (ints only; TypeError otherwise)
 *   fail(kind, message)      raises TypeError/ValueError/RuntimeError
 *   call_n(callback, n)      -> [callback(i, total=n) for i in range(n)]
 *   keep(callback)           stores the callback beyond the call
 *   call_kept()              -> the error calling the kept callback gives
 *   wait_events(callback, n) deferred: completes after n events, each
 *                            delivered as callback(event); -> results
 *   fire(n)                  a plugin thread queues n events + wakeup()s
 *   call_waiter(*args)       calls the oldest waiter's callback
 *   complete_waiter()        completes the oldest waiter now
 *   fail_later(message)      deferred; the pump completes it with an error
 *   defer_and_return(x)      defers, then completes at once -> x
 *   log(level, message)      host.log with fields ["key", "value"]
 *   log_from_thread(message) host.log from a plugin thread
 *   print_stdout(text)       writes text to stdout (must reach stderr)
 *   counter_value(counter)   -> the value of a Counter object reference
 *   destroyed()              -> how many Counters were destroyed
 *   wrapped(x)               -> x (has wrapper source)
 *   script_only              only wrapper source, no native code
 *   class Counter(start=0, step=1): inc(n=step), get(), call_with(cb);
 *         properties value (settable), step (settable), label (read-only)
 *   class Opaque: no constructor; has wrapper source
 *   constants ANSWER, TWO, NAME, PRIMES, CONFIG
 *
 * With TEST_ECHO_FAIL_INIT=1 in the environment init fails.
 */

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "scriptling-plugin.h"

static const ScriptlingHostApi *api;
static ScriptlingHost *host;
static ScriptlingClass *counter_class;
static int destroyed_count;
static ScriptlingValue *kept_callback;

/* Events produced by plugin threads, consumed on the script thread. */
static GMutex events_lock;
static GQueue events = G_QUEUE_INIT;

typedef struct {
  ScriptlingCall *call;
  ScriptlingValue *callback;
  ScriptlingValue *results;
  int64_t remaining;
} Waiter;

static GQueue waiters = G_QUEUE_INIT;    /* script thread only */
static GQueue late_failures = G_QUEUE_INIT;

typedef struct {
  int64_t value;
  int64_t step;
  int64_t start;
} Counter;

/* ---- argument helpers --------------------------------------------------- */

static const ScriptlingValue *
get_arg (size_t n_args,
         const ScriptlingValue *const *args,
         const ScriptlingValue *kwargs,
         size_t position,
         const char *name)
{
  if (position < n_args)
    return args[position];
  return api->dict_lookup (kwargs, name);
}

static bool
get_int_arg (ScriptlingCall *call,
             size_t n_args,
             const ScriptlingValue *const *args,
             const ScriptlingValue *kwargs,
             size_t position,
             const char *name,
             int64_t fallback,
             int64_t *out)
{
  const ScriptlingValue *v = get_arg (n_args, args, kwargs, position, name);

  if (v == NULL)
    {
      *out = fallback;
      return true;
    }
  if (!api->value_get_int (v, out))
    {
      g_autofree char *message =
        g_strdup_printf ("%s() argument '%s' must be an int, not %s", api->call_get_name (call), name,
                         api->value_type_name (api->value_get_type (v)));
      api->call_raise (call, SCRIPTLING_ERROR_TYPE, message);
      return false;
    }
  return true;
}

/* ---- functions ------------------------------------------------------------ */

static ScriptlingValue *
fn_echo (ScriptlingCall *call,
         size_t n_args,
         const ScriptlingValue *const *args,
         const ScriptlingValue *kwargs,
         void *user_data)
{
  ScriptlingValue *result = api->value_new_dict ();
  ScriptlingValue *list = api->value_new_list ();

  for (size_t i = 0; i < n_args; i++)
    api->list_append (list, api->value_ref (args[i]));
  api->dict_set (result, "args", list);
  api->dict_set (result, "kwargs", api->value_ref (kwargs));
  return result;
}

static ScriptlingValue *
fn_types (ScriptlingCall *call,
          size_t n_args,
          const ScriptlingValue *const *args,
          const ScriptlingValue *kwargs,
          void *user_data)
{
  ScriptlingValue *list = api->value_new_list ();

  for (size_t i = 0; i < n_args; i++)
    api->list_append (list, api->value_new_string (api->value_type_name (api->value_get_type (args[i]))));
  return list;
}

static ScriptlingValue *
fn_make_values (ScriptlingCall *call,
                size_t n_args,
                const ScriptlingValue *const *args,
                const ScriptlingValue *kwargs,
                void *user_data)
{
  ScriptlingValue *d = api->value_new_dict ();
  ScriptlingValue *nested = api->value_new_list ();
  ScriptlingValue *inner = api->value_new_list ();
  ScriptlingValue *inner_dict = api->value_new_dict ();

  api->dict_set (d, "null", NULL);
  api->dict_set (d, "true", api->value_new_bool (true));
  api->dict_set (d, "false", api->value_new_bool (false));
  api->dict_set (d, "int_max", api->value_new_int (INT64_MAX));
  api->dict_set (d, "int_min", api->value_new_int (INT64_MIN));
  api->dict_set (d, "float_two", api->value_new_float (2.0));
  api->dict_set (d, "neg_zero", api->value_new_float (-0.0));
  api->dict_set (d, "big", api->value_new_float (1e300));
  api->dict_set (d, "tiny", api->value_new_float (5e-324));
  api->dict_set (d, "third", api->value_new_float (1.0 / 3.0));
  api->dict_set (d, "text", api->value_new_string ("h\xc3\xa9llo \"q\" \\ <&> \n\t\x01 \xe2\x80\xa8 \xf0\x9f\x98\x80"));
  api->dict_set (d, "bad_utf8", api->value_new_string_len ("ab\xff" "c\0dropped", 10));
  api->dict_set (d, "empty_list", api->value_new_list ());
  api->dict_set (d, "empty_dict", api->value_new_dict ());
  api->dict_set (inner_dict, "k", api->value_new_string ("v"));
  api->list_append (inner, api->value_new_float (2.5));
  api->list_append (inner, inner_dict);
  api->list_append (nested, api->value_new_int (1));
  api->list_append (nested, inner);
  api->dict_set (d, "nested", nested);
  /* Replacing a key keeps its position. */
  api->dict_set (d, "true", api->value_new_bool (true));
  return d;
}

static ScriptlingValue *
fn_nan (ScriptlingCall *call,
        size_t n_args,
        const ScriptlingValue *const *args,
        const ScriptlingValue *kwargs,
        void *user_data)
{
  return api->value_new_float (NAN);
}

static ScriptlingValue *
fn_add (ScriptlingCall *call,
        size_t n_args,
        const ScriptlingValue *const *args,
        const ScriptlingValue *kwargs,
        void *user_data)
{
  int64_t a, b;

  for (size_t i = 0; i < api->dict_get_size (kwargs); i++)
    {
      const char *key;

      api->dict_get_entry (kwargs, i, &key, NULL);
      if (strcmp (key, "a") != 0 && strcmp (key, "b") != 0)
        {
          g_autofree char *message = g_strdup_printf ("add() got an unexpected keyword argument '%s'", key);
          api->call_raise (call, SCRIPTLING_ERROR_TYPE, message);
          return NULL;
        }
    }
  if (get_arg (n_args, args, kwargs, 0, "a") == NULL)
    {
      api->call_raise (call, SCRIPTLING_ERROR_TYPE, "add() missing required argument 'a'");
      return NULL;
    }
  if (!get_int_arg (call, n_args, args, kwargs, 0, "a", 0, &a) ||
      !get_int_arg (call, n_args, args, kwargs, 1, "b", 0, &b))
    return NULL;
  return api->value_new_int (a + b);
}

static ScriptlingValue *
fn_fail (ScriptlingCall *call,
         size_t n_args,
         const ScriptlingValue *const *args,
         const ScriptlingValue *kwargs,
         void *user_data)
{
  const char *kind = n_args > 0 ? api->value_get_string (args[0], NULL) : NULL;
  const char *message = n_args > 1 ? api->value_get_string (args[1], NULL) : NULL;
  ScriptlingErrorKind k = SCRIPTLING_ERROR_RUNTIME;

  if (g_strcmp0 (kind, "type") == 0)
    k = SCRIPTLING_ERROR_TYPE;
  else if (g_strcmp0 (kind, "value") == 0)
    k = SCRIPTLING_ERROR_VALUE;
  api->call_raise (call, k, message != NULL ? message : "failed");
  api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, "the first error wins");
  /* Returned values are dropped when an error was raised. */
  return api->value_new_string ("ignored");
}

static ScriptlingValue *
fn_call_n (ScriptlingCall *call,
           size_t n_args,
           const ScriptlingValue *const *args,
           const ScriptlingValue *kwargs,
           void *user_data)
{
  const ScriptlingValue *callback = get_arg (n_args, args, kwargs, 0, "callback");
  g_autoptr(GPtrArray) results = g_ptr_array_new ();
  ScriptlingValue *list;
  int64_t n;

  if (api->value_get_type (callback) != SCRIPTLING_VALUE_CALLBACK)
    {
      api->call_raise (call, SCRIPTLING_ERROR_TYPE, "call_n() argument 'callback' must be callable");
      return NULL;
    }
  if (!get_int_arg (call, n_args, args, kwargs, 1, "n", 1, &n))
    return NULL;

  list = api->value_new_list ();
  for (int64_t i = 0; i < n; i++)
    {
      ScriptlingValue *index = api->value_new_int (i);
      ScriptlingValue *kw = api->value_new_dict ();
      char *error = NULL;
      ScriptlingValue *r;

      api->dict_set (kw, "total", api->value_new_int (n));
      r = api->callback_call (callback, 1, (const ScriptlingValue *const *) &index, kw, &error);
      api->value_unref (index);
      api->value_unref (kw);
      if (r == NULL)
        {
          g_autofree char *message = g_strdup_printf ("callback failed: %s", error);
          api->free (error);
          api->value_unref (list);
          api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, message);
          return NULL;
        }
      api->list_append (list, r);
    }
  return list;
}

static ScriptlingValue *
fn_keep (ScriptlingCall *call,
         size_t n_args,
         const ScriptlingValue *const *args,
         const ScriptlingValue *kwargs,
         void *user_data)
{
  if (n_args < 1 || api->value_get_type (args[0]) != SCRIPTLING_VALUE_CALLBACK)
    {
      api->call_raise (call, SCRIPTLING_ERROR_TYPE, "keep() needs a callback");
      return NULL;
    }
  api->value_unref (kept_callback);
  kept_callback = api->value_ref (args[0]);
  return NULL;
}

static ScriptlingValue *
fn_call_kept (ScriptlingCall *call,
              size_t n_args,
              const ScriptlingValue *const *args,
              const ScriptlingValue *kwargs,
              void *user_data)
{
  char *error = NULL;
  ScriptlingValue *r;
  ScriptlingValue *message;

  if (kept_callback == NULL)
    {
      api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, "nothing kept");
      return NULL;
    }
  r = api->callback_call (kept_callback, 0, NULL, NULL, &error);
  g_clear_pointer (&kept_callback, api->value_unref);
  if (r != NULL)
    {
      api->value_unref (r);
      api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, "a stale callback could be called");
      return NULL;
    }
  message = api->value_new_string (error);
  api->free (error);
  return message;
}

static void
waiter_free (Waiter *waiter)
{
  api->value_unref (waiter->callback);
  api->value_unref (waiter->results);
  g_free (waiter);
}

/* Delivers queued events to the oldest waiter; runs on the script thread,
 * from a call or from the pump. */
static void
deliver_events (void)
{
  for (;;)
    {
      Waiter *waiter = g_queue_peek_head (&waiters);
      gpointer event;
      ScriptlingValue *arg;
      ScriptlingValue *r;
      char *error = NULL;

      if (waiter == NULL)
        return;
      g_mutex_lock (&events_lock);
      event = g_queue_pop_head (&events);
      g_mutex_unlock (&events_lock);
      if (event == NULL)
        return;

      arg = api->value_new_int (GPOINTER_TO_INT (event));
      r = api->callback_call (waiter->callback, 1, (const ScriptlingValue *const *) &arg, NULL, &error);
      api->value_unref (arg);

      if (r == NULL)
        {
          g_autofree char *message = g_strdup_printf ("event callback failed: %s", error);
          api->free (error);
          g_queue_pop_head (&waiters);
          api->call_raise (waiter->call, SCRIPTLING_ERROR_RUNTIME, message);
          waiter_free (waiter);
          continue;
        }
      api->list_append (waiter->results, r);
      if (--waiter->remaining == 0)
        {
          g_queue_pop_head (&waiters);
          api->call_return (waiter->call, api->value_ref (waiter->results));
          waiter_free (waiter);
        }
    }
}

static void
pump (void *user_data)
{
  while (!g_queue_is_empty (&late_failures))
    {
      ScriptlingCall *call = g_queue_pop_head (&late_failures);
      api->call_raise (call, SCRIPTLING_ERROR_VALUE, "failed later");
    }
  deliver_events ();
}

static ScriptlingValue *
fn_wait_events (ScriptlingCall *call,
                size_t n_args,
                const ScriptlingValue *const *args,
                const ScriptlingValue *kwargs,
                void *user_data)
{
  const ScriptlingValue *callback = get_arg (n_args, args, kwargs, 0, "callback");
  Waiter *waiter;
  int64_t n;

  if (api->value_get_type (callback) != SCRIPTLING_VALUE_CALLBACK)
    {
      api->call_raise (call, SCRIPTLING_ERROR_TYPE, "wait_events() needs a callback");
      return NULL;
    }
  if (!get_int_arg (call, n_args, args, kwargs, 1, "n", 1, &n))
    return NULL;
  if (n <= 0)
    {
      api->call_raise (call, SCRIPTLING_ERROR_VALUE, "wait_events() needs n > 0");
      return NULL;
    }
  if (!api->call_defer (call))
    {
      api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, "cannot defer");
      return NULL;
    }

  waiter = g_new0 (Waiter, 1);
  waiter->call = call;
  waiter->callback = api->value_ref (callback);
  waiter->results = api->value_new_list ();
  waiter->remaining = n;
  g_queue_push_tail (&waiters, waiter);
  /* Events already queued are delivered during this very call. */
  deliver_events ();
  return api->value_new_string ("ignored: the call is deferred");
}

/* Calls the oldest waiter's callback from this (another) call. */
static ScriptlingValue *
fn_call_waiter (ScriptlingCall *call,
                size_t n_args,
                const ScriptlingValue *const *args,
                const ScriptlingValue *kwargs,
                void *user_data)
{
  Waiter *waiter = g_queue_peek_head (&waiters);
  ScriptlingValue *callback;
  ScriptlingValue *r;
  char *error = NULL;

  if (waiter == NULL)
    {
      api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, "no waiter");
      return NULL;
    }
  /* The waiter may be completed and freed while its callback runs. */
  callback = api->value_ref (waiter->callback);
  r = api->callback_call (callback, n_args, args, NULL, &error);
  api->value_unref (callback);
  if (r == NULL)
    {
      api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, error);
      api->free (error);
    }
  return r;
}

/* Completes the oldest waiter with what it has collected so far. */
static ScriptlingValue *
fn_complete_waiter (ScriptlingCall *call,
                    size_t n_args,
                    const ScriptlingValue *const *args,
                    const ScriptlingValue *kwargs,
                    void *user_data)
{
  Waiter *waiter = g_queue_pop_head (&waiters);

  if (waiter == NULL)
    {
      api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, "no waiter");
      return NULL;
    }
  api->call_return (waiter->call, api->value_ref (waiter->results));
  waiter_free (waiter);
  return NULL;
}

static gpointer
fire_thread (gpointer data)
{
  int n = GPOINTER_TO_INT (data);

  for (int i = 1; i <= n; i++)
    {
      g_mutex_lock (&events_lock);
      g_queue_push_tail (&events, GINT_TO_POINTER (i));
      g_mutex_unlock (&events_lock);
      api->wakeup (host);
    }
  return NULL;
}

static ScriptlingValue *
fn_fire (ScriptlingCall *call,
         size_t n_args,
         const ScriptlingValue *const *args,
         const ScriptlingValue *kwargs,
         void *user_data)
{
  int64_t n;

  if (!get_int_arg (call, n_args, args, kwargs, 0, "n", 1, &n))
    return NULL;
  g_thread_join (g_thread_new ("fire", fire_thread, GINT_TO_POINTER ((int) n)));
  return NULL;
}

static ScriptlingValue *
fn_fail_later (ScriptlingCall *call,
               size_t n_args,
               const ScriptlingValue *const *args,
               const ScriptlingValue *kwargs,
               void *user_data)
{
  api->call_defer (call);
  g_queue_push_tail (&late_failures, call);
  api->wakeup (host);
  return NULL;
}

static ScriptlingValue *
fn_defer_and_return (ScriptlingCall *call,
                     size_t n_args,
                     const ScriptlingValue *const *args,
                     const ScriptlingValue *kwargs,
                     void *user_data)
{
  if (!api->call_defer (call))
    return NULL;
  api->call_return (call, n_args > 0 ? api->value_ref (args[0]) : NULL);
  return api->value_new_string ("ignored");
}

static ScriptlingValue *
fn_log (ScriptlingCall *call,
        size_t n_args,
        const ScriptlingValue *const *args,
        const ScriptlingValue *kwargs,
        void *user_data)
{
  const char *level = n_args > 0 ? api->value_get_string (args[0], NULL) : NULL;
  const char *message = n_args > 1 ? api->value_get_string (args[1], NULL) : NULL;
  ScriptlingValue *fields = api->value_new_list ();
  ScriptlingLogLevel l = SCRIPTLING_LOG_INFO;

  if (g_strcmp0 (level, "trace") == 0)
    l = SCRIPTLING_LOG_TRACE;
  else if (g_strcmp0 (level, "debug") == 0)
    l = SCRIPTLING_LOG_DEBUG;
  else if (g_strcmp0 (level, "warn") == 0)
    l = SCRIPTLING_LOG_WARNING;
  else if (g_strcmp0 (level, "error") == 0)
    l = SCRIPTLING_LOG_ERROR;
  api->list_append (fields, api->value_new_string ("key"));
  api->list_append (fields, api->value_new_string ("value"));
  api->log (host, l, message, fields);
  api->value_unref (fields);
  return NULL;
}

static gpointer
log_thread (gpointer data)
{
  api->log (host, SCRIPTLING_LOG_INFO, data, NULL);
  return NULL;
}

static ScriptlingValue *
fn_log_from_thread (ScriptlingCall *call,
                    size_t n_args,
                    const ScriptlingValue *const *args,
                    const ScriptlingValue *kwargs,
                    void *user_data)
{
  g_autofree char *message = g_strdup (n_args > 0 ? api->value_get_string (args[0], NULL) : "thread");

  g_thread_join (g_thread_new ("log", log_thread, message));
  return NULL;
}

static ScriptlingValue *
fn_print_stdout (ScriptlingCall *call,
                 size_t n_args,
                 const ScriptlingValue *const *args,
                 const ScriptlingValue *kwargs,
                 void *user_data)
{
  const char *text = n_args > 0 ? api->value_get_string (args[0], NULL) : "stray";

  /* Both through stdio and straight to the descriptor. */
  printf ("%s (printf)\n", text);
  fflush (stdout);
  if (write (STDOUT_FILENO, text, strlen (text)) < 0 || write (STDOUT_FILENO, " (write)\n", 9) < 0)
    api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, "write failed");
  return NULL;
}

static ScriptlingValue *
fn_counter_value (ScriptlingCall *call,
                  size_t n_args,
                  const ScriptlingValue *const *args,
                  const ScriptlingValue *kwargs,
                  void *user_data)
{
  Counter *counter = n_args > 0 ? api->object_get_instance (args[0], counter_class) : NULL;

  if (counter == NULL)
    {
      api->call_raise (call, SCRIPTLING_ERROR_TYPE, "counter_value() needs a live Counter");
      return NULL;
    }
  return api->value_new_int (counter->value);
}

static ScriptlingValue *
fn_destroyed (ScriptlingCall *call,
              size_t n_args,
              const ScriptlingValue *const *args,
              const ScriptlingValue *kwargs,
              void *user_data)
{
  return api->value_new_int (destroyed_count);
}

static ScriptlingValue *
fn_wrapped (ScriptlingCall *call,
            size_t n_args,
            const ScriptlingValue *const *args,
            const ScriptlingValue *kwargs,
            void *user_data)
{
  return n_args > 0 ? api->value_ref (args[0]) : NULL;
}

/* ---- class Counter ---------------------------------------------------------- */

static void *
counter_new (ScriptlingCall *call,
             size_t n_args,
             const ScriptlingValue *const *args,
             const ScriptlingValue *kwargs,
             void *user_data)
{
  Counter *counter;
  int64_t start, step;

  if (!get_int_arg (call, n_args, args, kwargs, 0, "start", 0, &start) ||
      !get_int_arg (call, n_args, args, kwargs, 1, "step", 1, &step))
    return NULL;
  counter = g_new0 (Counter, 1);
  counter->value = counter->start = start;
  counter->step = step;
  /* Deferring a construction is refused. */
  if (api->call_defer (call))
    api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, "a constructor could be deferred");
  return counter;
}

static void
counter_free (void *instance,
              void *user_data)
{
  Counter *counter = instance;
  g_autofree char *message = g_strdup_printf ("destroyed counter-%" G_GINT64_FORMAT, counter->start);

  g_assert (user_data == GINT_TO_POINTER (0xC0));
  destroyed_count++;
  api->log (host, SCRIPTLING_LOG_DEBUG, message, NULL);
  g_free (counter);
}

static ScriptlingValue *
counter_inc (ScriptlingCall *call,
             void *instance,
             size_t n_args,
             const ScriptlingValue *const *args,
             const ScriptlingValue *kwargs,
             void *user_data)
{
  Counter *counter = instance;
  int64_t n;

  if (!get_int_arg (call, n_args, args, kwargs, 0, "n", counter->step, &n))
    return NULL;
  counter->value += n;
  return api->value_new_int (counter->value);
}

static ScriptlingValue *
counter_get (ScriptlingCall *call,
             void *instance,
             size_t n_args,
             const ScriptlingValue *const *args,
             const ScriptlingValue *kwargs,
             void *user_data)
{
  return api->value_new_int (((Counter *) instance)->value);
}

static ScriptlingValue *
counter_call_with (ScriptlingCall *call,
                   void *instance,
                   size_t n_args,
                   const ScriptlingValue *const *args,
                   const ScriptlingValue *kwargs,
                   void *user_data)
{
  Counter *counter = instance;
  ScriptlingValue *arg;
  ScriptlingValue *r;
  char *error = NULL;

  if (n_args < 1)
    {
      api->call_raise (call, SCRIPTLING_ERROR_TYPE, "call_with() needs a callback");
      return NULL;
    }
  arg = api->value_new_int (counter->value);
  r = api->callback_call (args[0], 1, (const ScriptlingValue *const *) &arg, NULL, &error);
  api->value_unref (arg);
  if (r == NULL)
    {
      api->call_raise (call, SCRIPTLING_ERROR_RUNTIME, error);
      api->free (error);
    }
  /* The instance is still valid even if the script released the object
   * from inside the callback. */
  counter->value++;
  return r;
}

static ScriptlingValue *
counter_get_value (ScriptlingCall *call,
                   void *instance,
                   void *user_data)
{
  return api->value_new_int (((Counter *) instance)->value);
}

static bool
counter_set_value (ScriptlingCall *call,
                   void *instance,
                   const ScriptlingValue *value,
                   void *user_data)
{
  int64_t v;

  if (!api->value_get_int (value, &v))
    {
      api->call_raise (call, SCRIPTLING_ERROR_TYPE, "value must be an int");
      return false;
    }
  ((Counter *) instance)->value = v;
  return true;
}

static ScriptlingValue *
counter_get_step (ScriptlingCall *call,
                  void *instance,
                  void *user_data)
{
  return api->value_new_int (((Counter *) instance)->step);
}

static bool
counter_set_step (ScriptlingCall *call,
                  void *instance,
                  const ScriptlingValue *value,
                  void *user_data)
{
  int64_t v;

  if (!api->value_get_int (value, &v) || v == 0)
    {
      api->call_raise (call, SCRIPTLING_ERROR_VALUE, "step must be a non-zero int");
      return false;
    }
  ((Counter *) instance)->step = v;
  return true;
}

static ScriptlingValue *
counter_get_label (ScriptlingCall *call,
                   void *instance,
                   void *user_data)
{
  g_autofree char *label = g_strdup_printf ("counter-%" G_GINT64_FORMAT, ((Counter *) instance)->start);

  return api->value_new_string (label);
}

/* ---- hooks and registration ------------------------------------------------- */

static void
shutdown_hook (void *user_data)
{
  g_autofree char *message = g_strdup_printf ("shutdown hook ran, %d counters destroyed", destroyed_count);

  api->log (host, SCRIPTLING_LOG_INFO, message, NULL);
  /* Deferred calls still pending are forgotten; the host fails them. */
  g_queue_clear_full (&waiters, (GDestroyNotify) waiter_free);
  g_queue_clear (&late_failures);
  g_clear_pointer (&kept_callback, api->value_unref);
  g_mutex_lock (&events_lock);
  g_queue_clear (&events);
  g_mutex_unlock (&events_lock);
}

static int freed_user_data;

static void
free_user_data (void *data)
{
  freed_user_data++;
}

static bool
echo_init (const ScriptlingHostApi *host_api,
           ScriptlingHost *host_handle)
{
  ScriptlingModule *module;
  ScriptlingFunction *fn;
  ScriptlingClass *opaque;
  ScriptlingValue *primes, *config;
  static const struct {
    const char *name;
    ScriptlingFunctionFunc func;
    const char *description;
  } functions[] = {
    { "echo", fn_echo, "echo(*args, **kwargs) - returns its arguments" },
    { "types", fn_types, "types(*args) - type names" },
    { "make_values", fn_make_values, NULL },
    { "nan", fn_nan, NULL },
    { "add", fn_add, "add(a, b=0)" },
    { "fail", fn_fail, NULL },
    { "call_n", fn_call_n, NULL },
    { "keep", fn_keep, NULL },
    { "call_kept", fn_call_kept, NULL },
    { "wait_events", fn_wait_events, NULL },
    { "fire", fn_fire, NULL },
    { "call_waiter", fn_call_waiter, NULL },
    { "complete_waiter", fn_complete_waiter, NULL },
    { "fail_later", fn_fail_later, NULL },
    { "defer_and_return", fn_defer_and_return, NULL },
    { "log", fn_log, NULL },
    { "log_from_thread", fn_log_from_thread, NULL },
    { "print_stdout", fn_print_stdout, NULL },
    { "counter_value", fn_counter_value, NULL },
    { "destroyed", fn_destroyed, NULL },
  };

  if (g_strcmp0 (g_getenv ("TEST_ECHO_FAIL_INIT"), "1") == 0)
    return false;

  api = host_api;
  host = host_handle;
  g_assert (api->abi_version == SCRIPTLING_PLUGIN_ABI_VERSION);
  g_assert (SCRIPTLING_HOST_API_HAS (api, free));

  module = api->register_module (host, "scriptling.test.echo", "ABI test plugin");
  g_assert (module != NULL);
  /* Mistakes are refused, not fatal. */
  g_assert (api->register_module (host, "again", NULL) == NULL);
  g_assert (api->module_add_function (module, "not an identifier", NULL, fn_echo, NULL, NULL) == NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (functions); i++)
    g_assert (api->module_add_function (module, functions[i].name, functions[i].description,
                                        functions[i].func, NULL, free_user_data) != NULL);
  g_assert (api->module_add_function (module, "echo", NULL, fn_echo, NULL, NULL) == NULL);

  fn = api->module_add_function (module, "wrapped", "wrapped(x)", fn_wrapped, NULL, NULL);
  g_assert (api->function_set_source (fn, "def wrapped(x):\n    return scriptling.plugin.call_function(\"scriptling.test.echo\", \"wrapped\", x)\n"));
  fn = api->module_add_function (module, "script_only", NULL, NULL, NULL, NULL);
  g_assert (api->function_set_source (fn, "def script_only():\n    return 1\n"));

  counter_class = api->module_add_class (module, "Counter", "Counter(start=0, step=1)",
                                         counter_new, counter_free, GINT_TO_POINTER (0xC0), NULL);
  g_assert (counter_class != NULL);
  g_assert (api->class_add_method (counter_class, "inc", "inc(n=step)", counter_inc, NULL, NULL));
  g_assert (api->class_add_method (counter_class, "get", NULL, counter_get, NULL, NULL));
  g_assert (api->class_add_method (counter_class, "call_with", NULL, counter_call_with, NULL, NULL));
  g_assert (api->class_add_property (counter_class, "value", "current value",
                                     counter_get_value, counter_set_value, NULL, NULL));
  g_assert (api->class_add_property (counter_class, "step", NULL,
                                     counter_get_step, counter_set_step, NULL, NULL));
  g_assert (api->class_add_property (counter_class, "label", NULL,
                                     counter_get_label, NULL, NULL, NULL));
  g_assert (!api->class_add_method (counter_class, "inc", NULL, counter_inc, NULL, NULL));
  g_assert (!api->class_add_method (counter_class, "__init__", NULL, counter_inc, NULL, NULL));

  opaque = api->module_add_class (module, "Opaque", NULL, NULL, NULL, NULL, NULL);
  g_assert (api->class_set_source (opaque, "class Opaque:\n    pass\n"));

  g_assert (api->module_add_constant (module, "ANSWER", api->value_new_int (42)));
  g_assert (api->module_add_constant (module, "TWO", api->value_new_float (2.0)));
  g_assert (api->module_add_constant (module, "NAME", api->value_new_string ("echo")));
  primes = api->value_new_list ();
  api->list_append (primes, api->value_new_int (2));
  api->list_append (primes, api->value_new_int (3));
  api->list_append (primes, api->value_new_int (5));
  g_assert (!api->list_append (primes, api->value_ref (primes)));
  g_assert (api->module_add_constant (module, "PRIMES", primes));
  /* Frozen once handed over. */
  g_assert (!api->list_append (primes, api->value_new_int (7)));
  config = api->value_new_dict ();
  api->dict_set (config, "a", api->value_new_bool (true));
  g_assert (api->module_add_constant (module, "CONFIG", config));
  g_assert (!api->module_add_constant (module, "BAD", api->value_new_float (INFINITY)));

  api->set_pump_func (host, pump, NULL);
  api->set_shutdown_func (host, shutdown_hook, NULL);
  /* Before the handshake this goes to stderr. */
  api->log (host, SCRIPTLING_LOG_INFO, "echo plugin initialised", NULL);
  return true;
}

SCRIPTLING_PLUGIN_DEFINE ("echo", "1.2.3", "Echo plugin for the bridge tests", echo_init);
