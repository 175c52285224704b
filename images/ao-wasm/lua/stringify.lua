-- stringify: a readable, coloured rendering of Lua values for print() and Eval results.
local stringify = { _version = "vmdocker-0.1.0" }

local C = { key = "\27[32m", str = "\27[34m", num = "\27[32m", reset = "\27[0m", dim = "\27[90m" }

local function isIdentifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local function render(v, indent, seen)
  local t = type(v)
  if t == "string" then return C.str .. string.format("%q", v):gsub("\\\n", "\\n") .. C.reset end
  if t == "number" then return C.num .. tostring(v) .. C.reset end
  if t ~= "table" then return tostring(v) end
  if seen[v] then return C.dim .. "<cycle>" .. C.reset end
  seen[v] = true
  local pad = string.rep("  ", indent + 1)
  local parts = {}
  local n = #v
  for i = 1, n do parts[#parts + 1] = pad .. render(v[i], indent + 1, seen) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local name = isIdentifier(k) and (C.key .. k .. C.reset) or ("[" .. render(k, indent + 1, seen) .. "]")
    parts[#parts + 1] = pad .. name .. " = " .. render(v[k], indent + 1, seen)
  end
  seen[v] = nil
  if #parts == 0 then return "{}" end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. string.rep("  ", indent) .. "}"
end

--- A value as text; tables are laid out one field per line, keys sorted.
function stringify.format(v)
  return render(v, 0, {})
end

return stringify
