-- json: JSON text to Lua values and back (RFC 8259).
-- Objects decode to tables, arrays to sequences, null to nil (or to the sentinel json.null when
-- decoding with { keepNull = true }). Encoding: a table with only 1..n keys is an array (the empty
-- table encodes as []), other tables are objects whose keys are written sorted, so the same value
-- always gives the same text; numbers that are integers are written without a fraction.
local json = { _version = "vmdocker-0.1.0" }

json.null = setmetatable({}, { __tostring = function() return "null" end })

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function isSequence(t)
  local n = 0
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 then return false end
    n = n + 1
  end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return true
end

local encodeValue

local function encodeTable(t, seen)
  if seen[t] then error("json.encode: a table refers to itself", 0) end
  seen[t] = true
  local parts = {}
  if isSequence(t) then
    for i = 1, #t do parts[i] = encodeValue(t[i], seen) end
    seen[t] = nil
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k, v in pairs(t) do
    local kt = type(k)
    if kt ~= "string" and kt ~= "number" then
      error("json.encode: a key of type " .. kt .. " cannot be written", 0)
    end
    if type(v) ~= "function" then keys[#keys + 1] = tostring(k) end
  end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    parts[i] = quote(k) .. ":" .. encodeValue(v, seen)
  end
  seen[t] = nil
  return "{" .. table.concat(parts, ",") .. "}"
end

function encodeValue(v, seen)
  local t = type(v)
  if v == nil or v == json.null then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "string" then return quote(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      error("json.encode: " .. tostring(v) .. " is not a JSON number", 0)
    end
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", math.floor(v)) end
    return string.format("%.17g", v)
  end
  if t == "table" then return encodeTable(v, seen) end
  error("json.encode: a " .. t .. " cannot be written as JSON", 0)
end

--- Lua value → JSON text. Functions inside tables are left out; other unsupported values error.
function json.encode(v)
  return encodeValue(v, {})
end

-- Decoding: a small recursive-descent parser over the text.
local function decodeError(text, pos, what)
  local line, col = 1, 1
  for i = 1, pos - 1 do
    if text:sub(i, i) == "\n" then line, col = line + 1, 1 else col = col + 1 end
  end
  error(string.format("json.decode: %s at line %d column %d", what, line, col), 0)
end

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function utf8char(cp)
  return utf8.char(cp)
end

local parse

local function parseString(text, pos)
  local out, i = {}, pos + 1
  while true do
    local c = text:sub(i, i)
    if c == "" then decodeError(text, pos, "unterminated string") end
    if c == '"' then return table.concat(out), i + 1 end
    if c == "\\" then
      local e = text:sub(i + 1, i + 1)
      local simple = ({ b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/" })[e]
      if simple then
        out[#out + 1] = simple
        i = i + 2
      elseif e == "u" then
        local hex = text:match("^%x%x%x%x", i + 2)
        if not hex then decodeError(text, i, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        i = i + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local low = text:match("^\\u(%x%x%x%x)", i)
          if low then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (tonumber(low, 16) - 0xDC00)
            i = i + 6
          end
        end
        out[#out + 1] = utf8char(cp)
      else
        decodeError(text, i, "bad escape")
      end
    elseif c:byte() < 0x20 then
      decodeError(text, i, "control character in string")
    else
      local j = text:find('["\\%c]', i) or #text + 1
      out[#out + 1] = text:sub(i, j - 1)
      i = j
    end
  end
end

function parse(text, pos, opts)
  pos = skip(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then
    local obj = {}
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "}" then return obj, pos + 1 end
    while true do
      if text:sub(pos, pos) ~= '"' then decodeError(text, pos, "expected a key") end
      local key
      key, pos = parseString(text, pos)
      pos = skip(text, pos)
      if text:sub(pos, pos) ~= ":" then decodeError(text, pos, "expected ':'") end
      local value
      value, pos = parse(text, pos + 1, opts)
      obj[key] = value
      pos = skip(text, pos)
      local d = text:sub(pos, pos)
      if d == "}" then return obj, pos + 1 end
      if d ~= "," then decodeError(text, pos, "expected ',' or '}'") end
      pos = skip(text, pos + 1)
    end
  elseif c == "[" then
    local arr, n = {}, 0
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "]" then return arr, pos + 1 end
    while true do
      local value
      value, pos = parse(text, pos, opts)
      n = n + 1
      arr[n] = value
      pos = skip(text, pos)
      local d = text:sub(pos, pos)
      if d == "]" then return arr, pos + 1 end
      if d ~= "," then decodeError(text, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return parseString(text, pos)
  elseif text:find("^true", pos) then
    return true, pos + 4
  elseif text:find("^false", pos) then
    return false, pos + 5
  elseif text:find("^null", pos) then
    if opts.keepNull then return json.null, pos + 4 end
    return nil, pos + 4
  else
    local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if not num or num == "" or num == "-" then decodeError(text, pos, "unexpected character") end
    local n = math.tointeger(tonumber(num)) or tonumber(num)
    if n == nil then decodeError(text, pos, "bad number") end
    return n, pos + #num
  end
end

--- JSON text → Lua value. Errors name the line and column of the first problem.
function json.decode(text, opts)
  if type(text) ~= "string" then error("json.decode: expected a string, got " .. type(text), 0) end
  opts = opts or {}
  local value, pos = parse(text, 1, opts)
  pos = skip(text, pos)
  if pos <= #text then decodeError(text, pos, "trailing characters") end
  return value
end

return json
