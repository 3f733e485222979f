--- `coursegen path`: the shell lines that let a Lua 5.4 script anywhere find coursegen's
-- modules (like `luarocks path`). The folders come from where this very module and
-- `coursegen.core` were found, so the answer is right for a checkout, `make install` and a
-- rock alike. Only the `_5_4` variables are set: other Lua versions ignore them, so a
-- Lua 5.1 program on the same shell never meets a 5.4 C module.
-- @module coursegen.cli.path
local M = {}

local searchpath, format = package.searchpath, string.format

-- The `?` template that finds `name` at `file`: the file with the module's path cut off.
local function template(name, file, suffix)
  local tail = name:gsub("%.", "/") .. suffix
  if file:sub(-#tail) ~= tail then return nil end
  return file:sub(1, #file - #tail) .. "?" .. suffix:gsub("^/init", "")
end

-- An absolute, tidy folder: the launcher finds the tree relative to how it was called
-- (`./bin/..`), which means nothing to a script run from elsewhere.
local function absolute(tpl)
  if tpl:sub(1, 1) ~= "/" then tpl = require("lfs").currentdir() .. "/" .. tpl end
  local parts = {}
  for part in tpl:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif part ~= "." then
      parts[#parts + 1] = part
    end
  end
  return "/" .. table.concat(parts, "/")
end

--- The folders coursegen's modules load from.
-- @tparam[opt] string lpath the Lua search path to look in (default `package.path`)
-- @tparam[opt] string cpath the C search path to look in (default `package.cpath`)
-- @treturn[1] table `{ lua = {templates...}, c = {templates...} }`
-- @treturn[2] nil
-- @treturn[2] string what was not found
function M.templates(lpath, cpath)
  lpath, cpath = lpath or package.path, cpath or package.cpath
  local lua_file = searchpath("coursegen.cli.path", lpath)
  local so_file = searchpath("coursegen.core", cpath)
  if not lua_file then return nil, "coursegen's Lua modules are not on the search path" end
  if not so_file then return nil, "coursegen.core (the C module) is not on the search path; run make first" end
  local lua = template("coursegen.cli.path", lua_file, ".lua")
  local c = template("coursegen.core", so_file, ".so")
  if not lua or not c then return nil, "cannot tell the module folders from " .. lua_file end
  lua, c = absolute(lua), absolute(c)
  return { lua = { lua, (lua:gsub("%?%.lua$", "?/init.lua")) }, c = { c } }
end

local function quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

--- The shell lines: `export LUA_PATH_5_4=...` and `export LUA_CPATH_5_4=...`, each
-- ending in `;;` so Lua's default folders (cjson, lfs, ...) stay searched.
-- @tparam table t from `templates`
-- @treturn string
function M.exports(t)
  return format("export LUA_PATH_5_4=%s\nexport LUA_CPATH_5_4=%s\n",
    quote(table.concat(t.lua, ";") .. ";;"), quote(table.concat(t.c, ";") .. ";;"))
end

--- Adds the `path` command to the parser.
-- @param p the argparse parser
function M.add_command(p)
  local c = p:command("path", "Print the shell lines that let any Lua 5.4 script require coursegen:"
    .. " eval \"$(coursegen path)\".")
  c:flag("--lua", "Print only the Lua search path.")
  c:flag("--c", "Print only the C search path.")
end

--- Runs `coursegen path`.
-- @tparam table args
-- @tparam table ctx
-- @treturn integer the exit code, or nil, a message and 1
function M.run(args, ctx)
  local t, err = M.templates()
  if not t then return nil, err, 1 end
  if args.lua then
    ctx.stdout:write(table.concat(t.lua, ";"), "\n")
  elseif args.c then
    ctx.stdout:write(table.concat(t.c, ";"), "\n")
  else
    ctx.stdout:write(M.exports(t))
  end
  return 0
end

return M
