# run_events(timeout=0): runs the handlers of queued events of every
# cluster now and, with a positive timeout (a duration string or seconds),
# keeps running them as events arrive until the timeout elapsed.  Returns
# how many events were handled.  This is how an otherwise idle script
# lets its handlers run (instead of time.sleep()).
def run_events(timeout=0):
    return scriptling.plugin.call_function(_LIB, "run_events", timeout, _dispatch=_dispatch)
