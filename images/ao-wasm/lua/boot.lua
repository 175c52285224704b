-- boot: runs once, on the spawn message. `On-Boot = Data` runs the spawn's data as Lua code; any
-- other On-Boot value that is not an item id is run as Lua code itself. (A process cannot fetch an
-- item by id: there is no network inside it.)
return function(ao)
  return function(msg)
    local onBoot = msg.Tags["On-Boot"]
    local code
    if onBoot == "Data" then
      code = msg.Data
    elseif onBoot and not onBoot:match("^[%w_-]+$") then
      code = onBoot
    elseif onBoot then
      print("On-Boot " .. onBoot .. " names an item; this process cannot fetch items, so nothing ran")
      return
    end
    if type(code) ~= "string" or code == "" or code == "NODATA" then return end
    local fn, err = load(code, "On-Boot", "t", _G)
    if not fn then error("On-Boot code does not compile: " .. err, 0) end
    fn()
  end
end
