-- ao: the process's view of AO (its id and env, the outbox, send/spawn/assign, trust).
local old = ao or {}

local ao = {
  _version = "vmdocker-0.1.0",
  id = old.id or "",
  _module = old._module or "",
  authorities = old.authorities or {},
  -- Patterns of the assigned messages this process takes (aos: none, so every assignment is refused).
  assignables = old.assignables or {},
  reference = old.reference or 0,
  outbox = old.outbox or { Output = {}, Messages = {}, Spawns = {}, Assignments = {} },
  env = old.env or {},
}

-- Tags that describe the item itself; they are not copied onto the message as fields.
local PROTOCOL_TAGS = {
  ["Data-Protocol"] = true, Variant = true, ["From-Process"] = true, ["From-Module"] = true,
  Type = true, From = true, Owner = true, Anchor = true, Target = true, Data = true, Tags = true,
  ["Read-Only"] = true,
}
-- Fields of a received message that a forward must not carry over.
local NOT_FORWARDED = {
  ["Data-Protocol"] = true, Variant = true, ["From-Process"] = true, ["From-Module"] = true,
  Type = true, From = true, Owner = true, Anchor = true, Target = true, Tags = true,
  TagArray = true, ["Hash-Chain"] = true, Timestamp = true, Nonce = true, Epoch = true,
  Signature = true, ["Forwarded-By"] = true, ["Pushed-For"] = true, ["Read-Only"] = true,
  Cron = true, ["Block-Height"] = true, Reference = true, Id = true, ["Reply-To"] = true,
  reply = true, forward = true,
}
-- Fields of an outgoing message that are not tags.
local NOT_TAGS = { Target = true, Data = true, Anchor = true, Tags = true, From = true }

local function tagValue(v)
  if type(v) == "string" then return v end
  return tostring(v)
end

--- Tag list → map (the first of a repeated name wins).
function ao.tagMap(list)
  local map = {}
  for _, t in ipairs(list or {}) do
    if map[t.name] == nil then map[t.name] = t.value end
  end
  return map
end

--- Called with each message's env: keeps the process id, module and authorities.
function ao.init(env)
  ao.env = env
  local tags = env.Process.TagArray or env.Process.Tags or {}
  if ao.id == "" then ao.id = env.Process.Id end
  if ao._module == "" then
    for _, t in ipairs(tags) do
      if t.name == "Module" then ao._module = t.value end
    end
  end
  if #ao.authorities == 0 then
    for _, t in ipairs(tags) do
      if t.name == "Authority" then
        for a in t.value:gmatch("[^,%s]+") do table.insert(ao.authorities, a) end
      end
    end
    -- The scheduler orders and signs the messages processes send each other.
    for _, t in ipairs(tags) do
      if t.name == "Scheduler" and t.value ~= "" then table.insert(ao.authorities, t.value) end
    end
  end
  ao.clearOutbox()
end

--- Copies each tag onto the message as a field (protocol tags excepted).
function ao.normalize(msg)
  for _, t in ipairs(msg.TagArray or msg.Tags or {}) do
    if not PROTOCOL_TAGS[t.name] then msg[t.name] = t.value end
  end
  return msg
end

--- A deep copy (tables seen twice stay shared in the copy).
function ao.clone(v, seen)
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local copy = {}
  seen[v] = copy
  for k, x in pairs(v) do copy[ao.clone(k, seen)] = ao.clone(x, seen) end
  return setmetatable(copy, getmetatable(v))
end

--- A copy of a received message without the fields a forward must not carry.
function ao.sanitize(msg)
  local copy = ao.clone(msg)
  for k in pairs(NOT_FORWARDED) do copy[k] = nil end
  return copy
end

function ao.clearOutbox()
  ao.outbox = { Output = {}, Messages = {}, Spawns = {}, Assignments = {} }
end

function ao.log(text)
  if type(ao.outbox.Output) ~= "table" then ao.outbox.Output = { ao.outbox.Output } end
  table.insert(ao.outbox.Output, text)
end

local function isList(t)
  return type(t) == "table" and (#t > 0 or next(t) == nil)
end

-- The tags of an outgoing message: its own fields, then its Tags (a list or a map).
local function collectTags(msg, into)
  local names = {}
  for k in pairs(msg) do
    if type(k) == "string" and not NOT_TAGS[k] and type(msg[k]) ~= "function" then names[#names + 1] = k end
  end
  table.sort(names)
  for _, k in ipairs(names) do table.insert(into, { name = k, value = tagValue(msg[k]) }) end
  if type(msg.Tags) == "table" then
    if isList(msg.Tags) then
      for _, t in ipairs(msg.Tags) do table.insert(into, { name = t.name, value = tagValue(t.value) }) end
    else
      local keys = {}
      for k in pairs(msg.Tags) do keys[#keys + 1] = k end
      table.sort(keys)
      for _, k in ipairs(keys) do table.insert(into, { name = k, value = tagValue(msg.Tags[k]) }) end
    end
  end
  return into
end

local function nextReference()
  ao.reference = ao.reference + 1
  return tostring(ao.reference)
end

local function encodeData(msg)
  if type(msg.Data) == "table" then
    msg["Content-Type"] = "application/json"
    msg.Data = require("json").encode(msg.Data)
  elseif msg.Data ~= nil and type(msg.Data) ~= "string" then
    msg.Data = tostring(msg.Data)
  end
end

--- Queues a message. Answers it with .onReply(fn) and .receive() (wait for the reply).
function ao.send(msg)
  assert(type(msg) == "table", "ao.send(msg): msg must be a table")
  encodeData(msg)
  local ref = nextReference()
  local out = {
    Target = msg.Target,
    Data = msg.Data,
    Anchor = string.format("%032d", ao.reference),
    Tags = collectTags(msg, {
      { name = "Data-Protocol", value = "ao" },
      { name = "Variant", value = "ao.TN.1" },
      { name = "Type", value = "Message" },
      { name = "Reference", value = ref },
    }),
  }
  table.insert(ao.outbox.Messages, out)
  local handle = {}
  for k, v in pairs(out) do handle[k] = v end
  function handle.onReply(...)
    local from, fn = msg.Target, ...
    if select("#", ...) == 2 then from, fn = ... end
    Handlers.once({ From = from, ["X-Reference"] = ref }, fn)
  end
  function handle.receive(from)
    return Handlers.receive({ From = from or msg.Target, ["X-Reference"] = ref })
  end
  return handle
end

--- Queues a spawn of `module`. Answers it with .onReply(fn) and .receive() (wait for Spawned).
function ao.spawn(module, msg)
  assert(type(module) == "string", "ao.spawn(module, msg): the module id must be a string")
  msg = msg or {}
  assert(type(msg) == "table", "ao.spawn(module, msg): msg must be a table")
  encodeData(msg)
  local ref = nextReference()
  local out = {
    Data = msg.Data or "NODATA",
    Anchor = string.format("%032d", ao.reference),
    Tags = collectTags(msg, {
      { name = "Data-Protocol", value = "ao" },
      { name = "Variant", value = "ao.TN.1" },
      { name = "Type", value = "Process" },
      { name = "From-Process", value = ao.id },
      { name = "From-Module", value = ao._module },
      { name = "Module", value = module },
      { name = "Reference", value = ref },
    }),
  }
  table.insert(ao.outbox.Spawns, out)
  local handle = {}
  for k, v in pairs(out) do handle[k] = v end
  local spawned = { Action = "Spawned", From = ao.id, Reference = ref }
  function handle.onReply(fn) Handlers.once(spawned, fn) end
  function handle.receive() return Handlers.receive(spawned) end
  handle.after = handle.onReply
  return handle
end

--- Queues an assignment: { Processes = { pid, ... }, Message = id }.
function ao.assign(assignment)
  assert(type(assignment) == "table", "ao.assign(assignment): a table")
  assert(type(assignment.Processes) == "table", "ao.assign: Processes must be a list of ids")
  assert(next(assignment.Processes) ~= nil, "ao.assign: Processes names no process")
  assert(type(assignment.Message) == "string", "ao.assign: Message must be an id")
  table.insert(ao.outbox.Assignments, assignment)
end

--- Is the message an assignment (a message sent to another process, assigned to this one)?
function ao.isAssignment(msg)
  return msg.Target ~= ao.id
end

--- Takes assigned messages that match `spec` (a pattern as Handlers use: an Action, a table of
-- fields, a function). ao.addAssignable(spec) or ao.addAssignable(name, spec); a name given again
-- replaces its pattern.
function ao.addAssignable(...)
  local name, spec = nil, ...
  if select("#", ...) > 1 then
    name, spec = ...
    assert(type(name) == "string", "ao.addAssignable(name, spec): the name must be a string")
  end
  for _, a in ipairs(ao.assignables) do
    if name ~= nil and a.name == name then
      a.pattern = spec
      return name
    end
  end
  table.insert(ao.assignables, { name = name, pattern = spec })
  return name or #ao.assignables
end

--- Removes an assignable by its name or its position; an unknown one is ignored.
function ao.removeAssignable(key)
  local at = type(key) == "number" and key or nil
  if type(key) == "string" then
    for i, a in ipairs(ao.assignables) do
      if a.name == key then at = i end
    end
  else
    assert(type(key) == "number", "ao.removeAssignable(key): a name or a position")
  end
  if at and ao.assignables[at] then table.remove(ao.assignables, at) end
end

--- Does an assigned message match one of the process's assignables?
function ao.isAssignable(msg)
  local utils = require(".utils")
  for _, a in ipairs(ao.assignables) do
    if utils.matchesSpec(msg, a.pattern) then return true end
  end
  return false
end

--- Is the message from an authority of this process (its Authority tags and its scheduler)?
function ao.isTrusted(msg)
  for _, a in ipairs(ao.authorities) do
    if msg.From == a or msg.Owner == a then return true end
  end
  return false
end

--- The answer of an evaluation in AO's shape.
function ao.result(result)
  local err = result.Error or ao.outbox.Error
  if err then return { Error = err } end
  return {
    Output = result.Output or ao.outbox.Output,
    Messages = ao.outbox.Messages,
    Spawns = ao.outbox.Spawns,
    Assignments = ao.outbox.Assignments,
  }
end

return ao
