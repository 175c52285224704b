/*
 * The AO process module: a Lua 5.3 state in WebAssembly memory behind AO's `handle` export.
 *
 * AO's loader (@permaweb/ao-loader) calls handle(msgJson, envJson) and expects a JSON string
 * {"ok": true|false, "response": ...}. Everything the process is (the Lua state, its globals, the
 * handlers) lives in linear memory, so the loader's memory snapshot is the process's state.
 *
 * The Lua library (process, handlers, ao, json, ...) is compiled in by ao_modules.c, generated from
 * images/ao-wasm/lua/ by vmdocker's image builder, and reached through package.preload.
 */
#include <emscripten.h>
#include <stdio.h>
#include <string.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

struct ao_module {
  const char *name;
  const char *source;
  size_t length;
};
extern const struct ao_module ao_modules[];
extern const int ao_module_count;

int vmdocker_set_time(lua_State *S);

static lua_State *L = NULL;
/* The registry slot holding the last answer, so its bytes stay valid until the next call. */
static int answer_ref = LUA_NOREF;

static int preload(lua_State *S) {
  const struct ao_module *m = &ao_modules[lua_tointeger(S, lua_upvalueindex(1))];
  char chunk[128];
  snprintf(chunk, sizeof chunk, "@%s", m->name);
  if (luaL_loadbufferx(S, m->source, m->length, chunk, "t") != LUA_OK) return lua_error(S);
  lua_pushstring(S, m->name);
  lua_call(S, 1, 1);
  return 1;
}

static int traceback(lua_State *S) {
  luaL_traceback(S, S, lua_tostring(S, 1), 1);
  return 1;
}

/* Opens the libraries, registers the embedded modules and loads `.entry` (which defines the answer). */
static const char *boot(void) {
  L = luaL_newstate();
  if (!L) return "{\"ok\":false,\"response\":\"not enough memory for a Lua state\"}";
  luaL_openlibs(L);
  lua_register(L, "__vmdocker_set_time", vmdocker_set_time);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (int i = 0; i < ao_module_count; i++) {
    lua_pushinteger(L, i);
    lua_pushcclosure(L, preload, 1);
    lua_setfield(L, -2, ao_modules[i].name);
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "require");
  lua_pushstring(L, ".entry");
  if (lua_pcall(L, 1, 0, -3) != LUA_OK) {
    const char *why = lua_tostring(L, -1);
    lua_close(L);
    L = NULL;
    return why ? why : "the process library failed to load";
  }
  lua_pop(L, 1);
  return NULL;
}

/* A JSON answer {"ok":false,"response":"<text>"} built without Lua (used when Lua itself failed). */
static const char *failure(const char *text) {
  static char buf[4096];
  size_t n = 0;
  const char *head = "{\"ok\":false,\"response\":\"";
  memcpy(buf, head, strlen(head));
  n = strlen(head);
  for (const char *p = text; *p && n < sizeof buf - 8; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') {
      buf[n++] = '\\';
      buf[n++] = (char)c;
    } else if (c < 0x20) {
      buf[n++] = ' ';
    } else {
      buf[n++] = (char)c;
    }
  }
  memcpy(buf + n, "\"}", 3);
  return buf;
}

EMSCRIPTEN_KEEPALIVE
const char *handle(const char *msg, const char *env) {
  if (!L) {
    const char *why = boot();
    if (why) return failure(why);
  }
  luaL_unref(L, LUA_REGISTRYINDEX, answer_ref);
  answer_ref = LUA_NOREF;
  lua_pushcfunction(L, traceback);
  lua_getglobal(L, "__vmdocker_handle");
  lua_pushstring(L, msg);
  lua_pushstring(L, env);
  if (lua_pcall(L, 2, 1, -4) != LUA_OK || !lua_isstring(L, -1)) {
    const char *why = lua_tostring(L, -1);
    const char *answer = failure(why ? why : "the process returned no answer");
    lua_settop(L, 0);
    return answer;
  }
  const char *answer = lua_tostring(L, -1);
  answer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  return answer;
}

int main(void) { return 0; }
