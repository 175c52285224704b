-- utils: the matching rules of handlers and a few list helpers (AO's documented `Utils`).
local utils = { _version = "vmdocker-0.1.0" }

local MAGIC = "[%^%$%(%)%%%.%[%]%*%+%-%?]"

--- Does `value` match `pattern`? "_" matches anything; a function is called with (value, msg);
-- a string matches an equal value, or as a Lua pattern when it has pattern characters; a table
-- matches when any of its patterns does.
function utils.matchesPattern(pattern, value, msg)
  if pattern == nil then return false end
  if pattern == "_" then return true end
  local pt = type(pattern)
  if pt == "function" then return pattern(value, msg) end
  if pt == "string" then
    if type(value) ~= "string" then return false end
    if value == pattern then return true end
    return pattern:find(MAGIC) ~= nil and value:match(pattern) ~= nil
  end
  if pt == "table" then
    for _, p in pairs(pattern) do
      if utils.matchesPattern(p, value, msg) then return true end
    end
  end
  return false
end

--- Does `msg` match `spec`? A function is called with msg (its answer is returned as is); a table
-- needs every key to match (looked up on the message, then its tags); a string matches the Action.
function utils.matchesSpec(msg, spec)
  local st = type(spec)
  if st == "function" then return spec(msg) end
  if st == "table" then
    for key, pattern in pairs(spec) do
      local value = msg[key]
      if value == nil and type(msg.Tags) == "table" then value = msg.Tags[key] end
      if value == nil then return false end
      if not utils.matchesPattern(pattern, value, msg) then return false end
    end
    return true
  end
  if st == "string" then return msg.Action == spec end
  return false
end

function utils.curry(fn, arity)
  arity = arity or debug.getinfo(fn, "u").nparams
  if arity < 2 then return fn end
  return function(...)
    local args = { ... }
    if #args >= arity then return fn(table.unpack(args)) end
    return utils.curry(function(...)
      local rest = { table.unpack(args) }
      for _, v in ipairs({ ... }) do rest[#rest + 1] = v end
      return fn(table.unpack(rest))
    end, arity - #args)
  end
end

function utils.map(fn, list)
  local out = {}
  for i, v in ipairs(list) do out[i] = fn(v, i) end
  return out
end

function utils.filter(fn, list)
  local out = {}
  for _, v in ipairs(list) do
    if fn(v) then out[#out + 1] = v end
  end
  return out
end

function utils.reduce(fn, initial, list)
  local acc = initial
  for i, v in ipairs(list) do
    if i == 1 and acc == nil then acc = v else acc = fn(acc, v) end
  end
  return acc
end

function utils.find(fn, list)
  for _, v in ipairs(list) do
    if fn(v) then return v end
  end
  return nil
end

function utils.includes(value, list)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

function utils.keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  return out
end

function utils.values(t)
  local out = {}
  for _, v in pairs(t) do out[#out + 1] = v end
  return out
end

function utils.concat(a, b)
  local out = {}
  for _, v in ipairs(a) do out[#out + 1] = v end
  for _, v in ipairs(b) do out[#out + 1] = v end
  return out
end

function utils.reverse(list)
  local out = {}
  for i = #list, 1, -1 do out[#out + 1] = list[i] end
  return out
end

function utils.prop(name)
  return function(t) return t[name] end
end

function utils.propEq(name, value)
  return function(t) return t[name] == value end
end

function utils.compose(...)
  local fns = { ... }
  return function(...)
    local args = { ... }
    for i = #fns, 1, -1 do args = { fns[i](table.unpack(args)) } end
    return table.unpack(args)
  end
end

return utils
