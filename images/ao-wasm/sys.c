/*
 * What the C library asks of the outside world, answered inside the module.
 *
 * Emscripten 3.1.6 implements these in its JavaScript glue, but AO's loader brings its own glue
 * (format wasm32-unknown-emscripten2), which has none of them. Defining them here keeps them out
 * of the module's imports and keeps a process deterministic, as AO requires:
 * - clocks read the current message's time (set by the process library on each message), so
 *   os.time()/os.date() agree on every replay; CPU time is not observable (clock() is 0);
 * - a process has no files (its state is its memory): opening, renaming or removing one fails.
 */
#include <errno.h>
#include <time.h>

#include "lauxlib.h"
#include "lua.h"

/* Milliseconds since the Unix epoch of the message being evaluated. */
static long long now_ms = 0;

/* Lua: __vmdocker_set_time(ms) */
int vmdocker_set_time(lua_State *L) {
  now_ms = (long long)luaL_checknumber(L, 1);
  return 0;
}

int __clock_gettime(clockid_t clk, struct timespec *ts) {
  (void)clk;
  ts->tv_sec = (time_t)(now_ms / 1000);
  ts->tv_nsec = (long)((now_ms % 1000) * 1000000);
  return 0;
}

time_t time(time_t *t) {
  time_t s = (time_t)(now_ms / 1000);
  if (t) *t = s;
  return s;
}

clock_t clock(void) { return 0; }

double difftime(time_t t1, time_t t0) { return (double)t1 - (double)t0; }

long __syscall_open(long path, long flags, ...) {
  (void)path;
  (void)flags;
  return -ENOENT;
}

long __syscall_unlink(long path) {
  (void)path;
  return -ENOENT;
}

long __syscall_rename(long old_path, long new_path) {
  (void)old_path;
  (void)new_path;
  return -ENOENT;
}
