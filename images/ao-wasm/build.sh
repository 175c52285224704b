#!/bin/sh
# Compiles Lua 5.3 (Debian's source tarball) and the AO process glue into process.wasm, the
# module AO's loader runs as format wasm32-unknown-emscripten2. Runs inside vmdocker/emscripten.
# usage: build.sh SRC_DIR OUT_DIR   (SRC_DIR holds lua.tar.gz, main.c, sys.c, ao_modules.c)
set -eu
src=$1
out=$2
work=$(mktemp -d)
mkdir -p "$out"
tar -C "$work" -xzf "$src/lua.tar.gz"
lua=$(find "$work" -maxdepth 1 -type d -name 'lua-5.3*' | head -n 1)
# Deterministic: the string-hash seed is fixed (Lua seeds it from the clock and addresses), so the
# same messages give the same memory, and a replay reaches the same memory hash.
cflags="-O2 -DLUA_COMPAT_5_2 -Dluai_makeseed()=0 -I$lua/src"
export cflags work
# Two compilers at a time (the machines have two cores).
{ ls "$lua"/src/*.c | grep -v -e '/lua\.c$' -e '/luac\.c$'; for f in main sys ao_modules; do echo "$src/$f.c"; done; } |
  xargs -P 2 -I{} sh -c 'emcc $cflags -c "{}" -o "$work/$(basename "{}" .c).o"'
objs=$(ls "$work"/*.o)
# Not minified (ASSERTIONS keeps import and export names): the loader's glue binds them by name.
emcc -O2 $objs -o "$work/process.js" \
  -sASSERTIONS=1 \
  -sALLOW_MEMORY_GROWTH=1 \
  -sINITIAL_MEMORY=8388608 \
  -sMAXIMUM_MEMORY=524288000 \
  -sMODULARIZE=1 \
  -sEXPORTED_FUNCTIONS=_main,_handle,_malloc,_free,_fflush,___errno_location \
  -sEXPORTED_RUNTIME_METHODS=cwrap
cp "$work/process.wasm" "$out/process.wasm"
rm -rf "$work"
