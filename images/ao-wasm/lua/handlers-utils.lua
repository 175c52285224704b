-- Handlers.utils: ready-made patterns and handle functions (AO's documented matchers).
local hu = { _version = "vmdocker-0.1.0" }

--- Matches messages whose tag `name` equals `value`.
function hu.hasMatchingTag(name, value)
  assert(type(name) == "string" and type(value) == "string", "hasMatchingTag(name, value): strings")
  return function(msg) return msg.Tags[name] == value end
end

--- Matches messages whose tag `name` equals one of `values`.
function hu.hasMatchingTagOf(name, values)
  assert(type(name) == "string" and type(values) == "table", "hasMatchingTagOf(name, values)")
  return function(msg)
    for _, v in ipairs(values) do
      if msg.Tags[name] == v then return true end
    end
    return false
  end
end

--- Matches messages whose Data equals `value`.
function hu.hasMatchingData(value)
  assert(type(value) == "string", "hasMatchingData(value): a string")
  return function(msg) return msg.Data == value end
end

--- A handle function that replies with `input` (a string becomes the Data).
function hu.reply(input)
  assert(type(input) == "string" or type(input) == "table", "reply(input): a string or a table")
  return function(msg)
    if type(input) == "string" then return msg.reply({ Data = input }) end
    return msg.reply(input)
  end
end

--- Wraps a pattern so that a match lets evaluation go on to later handlers.
function hu.continue(pattern)
  return function(msg)
    local match = require(".utils").matchesSpec(msg, pattern)
    if not match or match == 0 or match == "skip" then return match end
    return 1
  end
end

return hu
