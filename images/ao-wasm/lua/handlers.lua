-- Handlers: named (pattern, handle) pairs evaluated in order against each message.
--
-- A pattern is an Action name (string), a table of fields/tags to match (see utils.matchesSpec),
-- or a function of the message. A function answers true / -1 / "break" (run the handle and stop),
-- 1 / "continue" (run it and go on), false / 0 / "skip" (do not run it). The handle may also be a
-- resolver: a table of { [spec] = function } where the first matching spec's function runs.
-- Handlers run inside a coroutine, so Handlers.receive (Receive) can wait for a later message.
local utils = require(".utils")

local handlers = { _version = "vmdocker-0.1.0" }
handlers.utils = require(".handlers-utils")
handlers.list = (Handlers and Handlers.list) or {}
handlers.coroutines = (Handlers and Handlers.coroutines) or {}
handlers.onceNonce = (Handlers and Handlers.onceNonce) or 0

local function indexOf(name)
  for i, h in ipairs(handlers.list) do
    if h.name == name then return i end
  end
  return nil
end

local function resolver(handle)
  if type(handle) == "function" then return handle end
  assert(type(handle) == "table", "a handle is a function or a resolver table")
  return function(msg, env)
    for spec, fn in pairs(handle) do
      if utils.matchesSpec(msg, spec) then return fn(msg, env) end
    end
  end
end

-- (name, pattern, handle, maxRuns) or (name, handle): the name is then also the Action pattern.
local function arguments(...)
  local n = select("#", ...)
  local name, pattern, handle, maxRuns
  if n == 2 then
    name, handle = ...
    pattern = name
  else
    name, pattern, handle, maxRuns = ...
  end
  assert(type(name) == "string", "a handler needs a name (string)")
  local pt = type(pattern)
  assert(pt == "string" or pt == "table" or pt == "function",
    "the pattern of handler '" .. name .. "' must be an Action name, a table of tags or a function")
  assert(maxRuns == nil or maxRuns == "inf" or math.type(maxRuns) == "integer",
    "maxRuns must be an integer or \"inf\"")
  return name, pattern, resolver(handle), maxRuns
end

local function place(position, name, pattern, handle, maxRuns)
  local entry = { name = name, pattern = pattern, handle = handle, maxRuns = maxRuns }
  local i = indexOf(name)
  if i then
    handlers.list[i] = entry -- same name: replaced where it stands
  elseif position == "first" then
    table.insert(handlers.list, 1, entry)
  else
    table.insert(handlers.list, entry)
  end
  return #handlers.list
end

--- Adds a handler at the end (or replaces the one of the same name in place).
function handlers.add(...)
  return place("last", arguments(...))
end

handlers.append = handlers.add

--- Adds a handler at the front (or replaces the one of the same name in place).
function handlers.prepend(...)
  return place("first", arguments(...))
end

--- Inserts a handler right before / after the one named `target`.
local function relative(target, offset)
  assert(type(target) == "string", "the target handler's name must be a string")
  return {
    add = function(...)
      local name, pattern, handle, maxRuns = arguments(...)
      local i = indexOf(target)
      if not i then return place("last", name, pattern, handle, maxRuns) end
      table.insert(handlers.list, i + offset, { name = name, pattern = pattern, handle = handle, maxRuns = maxRuns })
      return #handlers.list
    end,
  }
end

function handlers.before(target) return relative(target, 0) end
function handlers.after(target) return relative(target, 1) end

--- A handler that runs once, at the front: (name, pattern, handle) or (pattern, handle).
function handlers.once(...)
  local name, pattern, handle
  if select("#", ...) == 3 then
    name, pattern, handle = ...
  else
    name = "_once_" .. handlers.onceNonce
    handlers.onceNonce = handlers.onceNonce + 1
    pattern, handle = ...
  end
  return handlers.prepend(name, pattern, handle, 1)
end

--- Removes the handler named `name` (nothing happens when there is none).
function handlers.remove(name)
  assert(type(name) == "string", "the handler's name must be a string")
  local i = indexOf(name)
  if i then table.remove(handlers.list, i) end
end

--- Waits (inside a handler) for the next message that matches `pattern`, and returns it.
function handlers.receive(pattern)
  local self, main = coroutine.running()
  if main then error("Receive can only wait inside a handler (or an Eval)", 2) end
  handlers.once(pattern, function(msg)
    local _, ok, err = coroutine.resume(self, msg)
    if ok == false then error(err, 0) end
  end)
  return coroutine.yield(pattern)
end

local function decision(match)
  local t = type(match)
  if t == "boolean" then return match and -1 or 0 end
  if t == "string" then
    if match == "continue" then return 1 end
    if match == "break" then return -1 end
    return 0
  end
  if t == "number" then return match end
  if match == nil then return 0 end
  error("a pattern must answer a boolean, a number or a string, not a " .. t, 0)
end

local function ran(h)
  if math.type(h.maxRuns) == "integer" then
    h.maxRuns = h.maxRuns - 1
    if h.maxRuns <= 0 then
      local i = indexOf(h.name)
      if i and handlers.list[i] == h then table.remove(handlers.list, i) end
    end
  end
end

--- Runs every matching handler in order; `_default` runs when none stopped the evaluation.
-- Answers whether a handler broke the evaluation.
function handlers.evaluate(msg, env)
  assert(type(msg) == "table", "evaluate(msg, env): msg must be a table")
  assert(type(env) == "table", "evaluate(msg, env): env must be a table")
  local handled = false
  -- A copy: handlers may add or remove handlers while they run.
  local list = {}
  for i, h in ipairs(handlers.list) do list[i] = h end
  for _, h in ipairs(list) do
    if h.name ~= "_default" then
      local d = decision(utils.matchesSpec(msg, h.pattern))
      if d ~= 0 then
        ran(h)
        h.handle(msg, env)
        if d < 0 then
          handled = true
          break
        end
      end
    end
  end
  if not handled then
    local i = indexOf("_default")
    if i then handlers.list[i].handle(msg, env) end
  end
  return handled
end

return handlers
