-- entry: what the module's C `handle` calls. JSON in (AO's message and env), JSON out:
-- {"ok": true, "response": <AO result>}, or {"ok": false, "response": "<why>"} when the library
-- itself fails (a handler's error is a normal result with Error).
local json = require("json")
local process = require(".process")

function __vmdocker_handle(msgJson, envJson)
  local ok, result = pcall(function()
    return process.handle(json.decode(msgJson), json.decode(envJson))
  end)
  if not ok then return json.encode({ ok = false, response = tostring(result) }) end
  local encoded
  ok, encoded = pcall(json.encode, { ok = true, response = result })
  if not ok then
    return json.encode({ ok = true, response = { Error = "the result cannot be written as JSON: " .. tostring(encoded) } })
  end
  return encoded
end
