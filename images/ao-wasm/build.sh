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
# Two translation units of Lua (its sources are written to allow it), compiled side by side on
# the two cores, instead of 35 compiler starts; the generated library (ao_modules.c) beside them.
i=0
for f in "$lua"/src/*.c "$src/main.c" "$src/sys.c"; do
  case "$f" in */lua.c | */luac.c) continue ;; esac
  echo "#include \"$f\"" >> "$work/part$((i % 2)).c"
  i=$((i + 1))
done
emcc $cflags -c "$work/part0.c" -o "$work/part0.o" &
emcc $cflags -c "$work/part1.c" -o "$work/part1.o" &
emcc $cflags -c "$src/ao_modules.c" -o "$work/ao_modules.o"
wait
objs="$work/part0.o $work/part1.o $work/ao_modules.o"
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
