-- eval: the owner-only `Eval` action. Its Data is Lua code: an expression's value is printed,
-- statements just run. Compile errors and runtime errors become the evaluation's Error.
local stringify = require(".stringify")

-- What an Eval shows for its value: text as it is, a table laid out (or its `output` line, as
-- Send and Spawn answer), anything else through tostring.
local function shown(value)
  if type(value) == "table" then
    if type(value.output) == "string" then return value.output end
    return stringify.format(value)
  end
  return tostring(value)
end

return function(ao)
  return function(msg)
    local code = msg.Data
    if type(code) ~= "string" then code = tostring(code or "") end
    local fn, err = load("return " .. code, "aos", "t", _G)
    if not fn then fn, err = load(code, "aos", "t", _G) end
    if not fn then
      ao.outbox.Error = err
      return
    end
    local results = table.pack(fn())
    local value = results[1]
    if value ~= nil then __vmdocker_print_raw(shown(value)) end
  end
end
