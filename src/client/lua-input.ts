/**
 * How far a piece of Lua is from complete: blocks opened (function, do, if, repeat) minus closed
 * (end, until), plus open brackets. A terminal client keeps reading lines while this is above 0.
 * Strings (quoted and long brackets) and comments are skipped. A heuristic, not a parser: an
 * unbalanced chunk that is really an error is sent anyway once closers outnumber openers.
 */
export function openDepth(code: string): number {
  let depth = 0;
  let i = 0;
  const n = code.length;
  const longBracket = (at: number): number => {
    const m = /^\[(=*)\[/.exec(code.slice(at));
    return m ? m[1]!.length : -1;
  };
  while (i < n) {
    const c = code[i]!;
    if (c === "-" && code[i + 1] === "-") {
      const level = longBracket(i + 2);
      if (level >= 0) {
        const close = code.indexOf(`]${"=".repeat(level)}]`, i + 4 + level);
        if (close < 0) return depth + 1;
        i = close + level + 2;
      } else {
        const nl = code.indexOf("\n", i);
        i = nl < 0 ? n : nl + 1;
      }
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && code[j] !== c && code[j] !== "\n") j += code[j] === "\\" ? 2 : 1;
      if (j >= n) return depth + 1;
      i = j + 1;
      continue;
    }
    if (c === "[") {
      const level = longBracket(i);
      if (level >= 0) {
        const close = code.indexOf(`]${"=".repeat(level)}]`, i + 2 + level);
        if (close < 0) return depth + 1;
        i = close + level + 2;
        continue;
      }
    }
    if ("({[".includes(c)) depth++;
    else if (")}]".includes(c)) depth--;
    else if (/[A-Za-z_]/.test(c)) {
      const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(code.slice(i))![0];
      if (word === "function" || word === "do" || word === "if" || word === "repeat") depth++;
      else if (word === "end" || word === "until") depth--;
      // `while … do` and `for … do` open once, at their `do`.
      i += word.length;
      continue;
    }
    i++;
  }
  return depth;
}
