-- process: what happens to each message (AO's `process.handle`), and the globals a process
-- programmer uses: Handlers, ao, Inbox, Owner, Name, Send, Spawn, Assign, Receive, print, Prompt.
local json = require("json")
local stringify = require(".stringify")

package.loaded["ao"] = package.loaded["ao"] or require(".ao")
ao = package.loaded["ao"]
Handlers = require(".handlers")
Utils = require(".utils")

local process = { _version = "vmdocker-ao-0.1.0" }

--- The Inbox keeps at most this many messages (the oldest go first).
process.maxInbox = 10000

Colors = { red = "\27[31m", green = "\27[32m", blue = "\27[34m", gray = "\27[90m", reset = "\27[0m" }
Bell = "\7"

local prints = {}

--- The prompt a terminal client shows: Name@version[Inbox:n]>
function Prompt()
  return Colors.green .. tostring(Name) .. Colors.gray .. "@" .. Colors.blue .. process._version
    .. Colors.gray .. "[Inbox:" .. Colors.red .. #Inbox .. Colors.gray .. "]" .. Colors.reset .. "> "
end

--- print() collects lines into the evaluation's Output.data.
function print(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if type(v) == "table" then
      v = stringify.format(v)
    elseif type(v) == "number" then
      v = Colors.green .. tostring(v) .. Colors.reset
    elseif type(v) == "boolean" or v == nil then
      v = Colors.blue .. tostring(v) .. Colors.reset
    end
    parts[#parts + 1] = tostring(v)
  end
  prints[#prints + 1] = table.concat(parts, "\t")
end

--- Adds a line to the Output as it is (no colouring); Eval's value goes this way.
function __vmdocker_print_raw(text)
  prints[#prints + 1] = text
end

function Send(msg)
  if not msg.Target then print("warning: the message has no Target; nobody will receive it") end
  local sent = ao.send(msg)
  return { output = "Message added to outbox", receive = sent.receive, onReply = sent.onReply }
end

function Spawn(...)
  local module, msg
  if select("#", ...) == 1 then
    module, msg = ao._module, ...
  else
    module, msg = ...
  end
  local spawned = ao.spawn(module, msg or {})
  return { output = "Spawn process request added to outbox", receive = spawned.receive, onReply = spawned.onReply, after = spawned.after }
end

function Assign(assignment)
  ao.assign(assignment)
  return "Assignment added to outbox"
end

function Receive(pattern)
  return Handlers.receive(pattern)
end

function Tab(msg)
  return ao.tagMap(msg.TagArray or msg.Tags)
end

local function insertInbox(msg)
  Inbox[#Inbox + 1] = msg
  local over = #Inbox - process.maxInbox
  if over > 0 then
    table.move(Inbox, over + 1, #Inbox, 1)
    for i = #Inbox - over + 1, #Inbox do Inbox[i] = nil end
  end
end

local function tagged(list, name)
  for _, t in ipairs(list or {}) do
    if t.name == name then return t.value end
  end
  return nil
end

-- State that lives across messages, made on the first one.
local function initialize(msg, env)
  Inbox = Inbox or {}
  Errors = Errors or {}
  if Owner == nil and msg.Id == env.Process.Id then
    Owner = tagged(env.Process.TagArray, "From-Process") or msg.From
  end
  if Name == nil then Name = tagged(env.Process.TagArray, "Name") or "aos" end
end

local function withReplies(msg)
  function msg.reply(reply)
    assert(type(reply) == "table", "msg.reply(reply): reply must be a table")
    reply.Target = msg["Reply-To"] or reply.Target or msg.From
    reply["X-Reference"] = msg["X-Reference"] or msg.Reference
    reply["X-Origin"] = msg["X-Origin"]
    return ao.send(reply)
  end
  function msg.forward(target, extra)
    local out = ao.sanitize(msg)
    for k, v in pairs(extra or {}) do out[k] = v end
    out.Target = target
    out["Reply-To"] = msg["Reply-To"] or msg.From
    out["X-Reference"] = msg["X-Reference"] or msg.Reference
    out["X-Origin"] = msg["X-Origin"] or msg.From
    return ao.send(out)
  end
end

local function output(extra)
  local out = { data = table.concat(prints, "\n"), prompt = Prompt() }
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

-- The compute budget of one message, in Lua VM instructions (the module's Compute-Limit tag),
-- counted by a hook on every handler coroutine: the same code stops at the same point every time.
local HOOK_EVERY = 100000
local budget = 0

local function metered(co)
  debug.sethook(co, function()
    budget = budget - HOOK_EVERY
    if budget < 0 then error("compute limit reached (the module's Compute-Limit, in Lua instructions)", 0) end
  end, "", HOOK_EVERY)
  return co
end

-- Runs the handlers in a coroutine (Receive may suspend it until a later message).
local function evaluate(msg, env)
  budget = tonumber(env.Module and env.Module.Tags and ao.tagMap(env.Module.Tags)["Compute-Limit"]) or 1e9
  local co = metered(coroutine.create(function() return pcall(Handlers.evaluate, msg, env) end))
  local resumed, ok, err = coroutine.resume(co)
  if coroutine.status(co) == "suspended" then table.insert(Handlers.coroutines, co) end
  for i = #Handlers.coroutines, 1, -1 do
    if coroutine.status(Handlers.coroutines[i]) == "dead" then table.remove(Handlers.coroutines, i) end
  end
  if not resumed then return false, ok end
  if ok == false then return false, err end
  return true
end

--- Evaluates one message (AO's message and env shapes) and answers AO's result.
function process.handle(msg, env)
  prints = {}
  ao.init(env)
  env.Process.TagArray = env.Process.Tags
  env.Process.Tags = ao.tagMap(env.Process.TagArray)
  msg.TagArray = msg.Tags or {}
  msg.Tags = ao.tagMap(msg.TagArray)
  ao.normalize(msg)
  local now = tonumber(msg.Timestamp) or 0
  __vmdocker_set_time(now)
  os.time = function(t)
    if t then return process.osTime(t) end
    return now
  end
  initialize(msg, env)
  if msg.Tags["Content-Type"] == "application/json" and type(msg.Data) == "string" then
    local ok, value = pcall(json.decode, msg.Data)
    if ok then msg.Data = value end
  end
  if msg.From ~= msg.Owner and not ao.isTrusted(msg) then
    print("Message is not trusted: From " .. tostring(msg.From) .. ", signed by " .. tostring(msg.Owner))
    return ao.result({ Output = output({ print = true }) })
  end
  -- An assignment runs only if the process added an assignable it matches (aos's rule).
  if ao.isAssignment(msg) and not ao.isAssignable(msg) then
    if msg.From ~= ao.id then Send({ Target = msg.From, Data = "Assignment is not trusted by this process!" }) end
    print("Assignment is not trusted: " .. tostring(msg.Id) .. " to " .. tostring(msg.Target) .. " from " .. tostring(msg.From))
    return ao.result({ Output = output({ print = true }) })
  end

  Handlers.add("_eval", function(m) return m.Action == "Eval" and m.From == Owner end, require(".eval")(ao))
  if msg.Id == env.Process.Id then
    Handlers.once("_boot", function(m) return m.Tags.Type == "Process" and m.From == Owner end, require(".boot")(ao))
  end
  if not (function()
    for _, h in ipairs(Handlers.list) do
      if h.name == "_default" then return true end
    end
  end)() then
    Handlers.add("_default", function() return true end, require(".default")(insertInbox))
  end
  withReplies(msg)

  local ok, err = evaluate(msg, env)
  if not ok then
    err = tostring(err)
    table.insert(Errors, err)
    local logged = table.concat(prints, "\n")
    return { Error = (logged ~= "" and logged .. "\n\n" or "") .. Colors.red .. "error:\n" .. Colors.reset .. err }
  end
  if ao.outbox.Error then return ao.result({}) end
  if msg.Action == "Eval" then return ao.result({ Output = output() }) end
  return ao.result({ Output = output({ print = true }) })
end

process.osTime = os.time

return process
