-- default: a message no handler took goes to the Inbox, and a line about it is printed.
return function(insertInbox)
  return function(msg)
    insertInbox(msg)
    local from = msg.From or "?"
    if #from > 9 then from = from:sub(1, 4) .. "…" .. from:sub(-4) end
    local what
    if msg.Action then
      what = "Action = " .. Colors.blue .. tostring(msg.Action):sub(1, 40)
    else
      local data = msg.Data
      if type(data) == "table" then data = require("json").encode(data) end
      what = "Data = " .. Colors.blue .. tostring(data or ""):sub(1, 40)
    end
    print(Colors.gray .. "New Message From " .. Colors.green .. from .. Colors.gray .. ": " .. what .. Colors.reset)
  end
end
