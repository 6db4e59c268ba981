import assert from "node:assert/strict";
import { test } from "node:test";
import { throttle } from "../src/throttle.js";

function fakeClock() {
  let t = 0;
  const timers = new Map();
  let next = 1;
  return {
    now: () => t,
    setTimer: (f, ms) => {
      const id = next++;
      timers.set(id, { f, at: t + ms });
      return id;
    },
    clearTimer: (id) => timers.delete(id),
    advance(ms) {
      t += ms;
      for (const [id, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (timer.at <= t) {
          timers.delete(id);
          timer.f();
        }
      }
    },
    pendingTimers: () => timers.size,
  };
}

test("first call runs at once, bursts coalesce, the last value always lands", () => {
  const clock = fakeClock();
  const calls = [];
  const f = throttle((v) => calls.push(v), 100, clock);
  f(1);
  assert.deepEqual(calls, [1]);
  f(2);
  f(3);
  f(4);
  assert.deepEqual(calls, [1]);
  clock.advance(99);
  assert.deepEqual(calls, [1]);
  clock.advance(1);
  assert.deepEqual(calls, [1, 4]);
  assert.equal(clock.pendingTimers(), 0);
});

test("flush runs the pending call immediately and only once", () => {
  const clock = fakeClock();
  const calls = [];
  const f = throttle((v) => calls.push(v), 100, clock);
  f("a");
  f("b");
  assert.equal(f.pending(), true);
  f.flush();
  assert.deepEqual(calls, ["a", "b"]);
  clock.advance(500);
  assert.deepEqual(calls, ["a", "b"]);
  f.flush();
  assert.deepEqual(calls, ["a", "b"]);
});

test("cancel drops the pending call", () => {
  const clock = fakeClock();
  const calls = [];
  const f = throttle((v) => calls.push(v), 50, clock);
  f(1);
  f(2);
  f.cancel();
  clock.advance(100);
  assert.deepEqual(calls, [1]);
});

test("interval is read at each call (sync_throttle_ms can change)", () => {
  const clock = fakeClock();
  let ms = 100;
  const calls = [];
  const f = throttle((v) => calls.push(v), () => ms, clock);
  f(1);
  ms = 0;
  f(2);
  assert.deepEqual(calls, [1, 2]);
});

test("calls spaced wider than the interval all run at once", () => {
  const clock = fakeClock();
  const calls = [];
  const f = throttle((v) => calls.push(v), 10, clock);
  for (let i = 0; i < 5; i++) {
    f(i);
    clock.advance(20);
  }
  assert.deepEqual(calls, [0, 1, 2, 3, 4]);
});
