// Throttle with a trailing flush: the first call runs at once, calls inside the interval are
// coalesced and the last one always runs when the interval ends (or on flush()).

/**
 * @param {Function} fn function to call
 * @param {number | (() => number)} interval milliseconds, or a getter read at every call
 * @param {{now?: () => number, setTimer?: Function, clearTimer?: Function}} [clock] injectable clock (tests)
 */
export function throttle(fn, interval, clock = {}) {
  const now = clock.now ?? (() => Date.now());
  const setTimer = clock.setTimer ?? ((f, ms) => setTimeout(f, ms));
  const clearTimer = clock.clearTimer ?? ((id) => clearTimeout(id));
  const ms = typeof interval === "function" ? interval : () => interval;
  let last = -Infinity;
  let timer = null;
  let pending = null;

  function run(args) {
    pending = null;
    last = now();
    fn(...args);
  }

  function throttled(...args) {
    const wait = Math.max(0, Number(ms()) || 0) - (now() - last);
    if (wait <= 0 && timer === null) {
      run(args);
      return;
    }
    pending = args;
    if (timer === null) {
      timer = setTimer(() => {
        timer = null;
        if (pending) run(pending);
      }, Math.max(0, wait));
    }
  }

  /** Run the pending call now, if any. */
  throttled.flush = () => {
    if (timer !== null) {
      clearTimer(timer);
      timer = null;
    }
    if (pending) run(pending);
  };

  /** Drop the pending call. */
  throttled.cancel = () => {
    if (timer !== null) clearTimer(timer);
    timer = null;
    pending = null;
  };

  throttled.pending = () => pending !== null;
  return throttled;
}
