--- Lua course files run in a child process, where a runaway cannot hurt the command.
--
-- A course file is shared like a document, so its code is hostile until proven otherwise.
-- Inside the child it runs in an empty environment under an instruction and memory budget
-- (messages then name the line). Some work happens inside one C call where no hook fires:
-- `s:find(".-.-.-.-.-.-.-.-b")` backtracks for ever, and `string.format` can build a
-- gigabyte in one call. The child therefore also runs under `setrlimit` (`ulimit -t` for
-- processor time, `-v` for address space) and a wall-clock `timeout`, and only a plain
-- data table comes back, written as a Lua literal and read in an empty environment.
-- @module coursegen.course_sandbox
local M = {}

local format, type, tostring, pairs, concat, sort = string.format, type, tostring, pairs, table.concat, table.sort

--- Virtual machine instructions a course file may run.
M.MAX_INSTRUCTIONS = 1000000
--- Memory (KiB) the file's own data may hold, counted by the collector.
M.MAX_KB = 64 * 1024
--- Processor seconds the child may use (`ulimit -t`).
M.CPU_SECONDS = 2
--- Wall-clock seconds before the child is killed (`timeout`).
M.WALL_SECONDS = 5
--- Address space of the child, in KiB (`ulimit -v`): the interpreter, the budget, slack.
M.ADDRESS_SPACE_KB = 320 * 1024
--- Deepest nesting of the returned table.
M.MAX_DEPTH = 32

local CHILD_FLAG = "--coursegen-course-sandbox-child"

-- The string methods a course file may call ("x"):upper() style. Strings share one
-- metatable, which the empty environment cannot hide; `rep` and `gsub` could build
-- gigabytes in a single instruction, before any hook runs, so they are left out.
local SAFE_STRING = {}
for _, k in ipairs { "byte", "char", "find", "format", "len", "lower", "match", "gmatch", "reverse", "sub",
                     "upper" } do
  SAFE_STRING[k] = string[k]
end

-- Runs the chunk with the instruction and memory budget: a hook on every instruction stops
-- `while true do end` or `s = s .. s` with an error naming the line (`s = s .. s` doubles in
-- one instruction, so a sparser hook would let it reach gigabytes).
local function run_bounded(chunk, path)
  local used, base_kb = 0, collectgarbage("count")
  local function hook()
    used = used + 1
    local why
    if used > M.MAX_INSTRUCTIONS then
      why = format("runs too long (more than %d instructions)", M.MAX_INSTRUCTIONS)
    elseif collectgarbage("count") - base_kb > M.MAX_KB then
      collectgarbage() -- count live data only, not garbage awaiting collection
      if collectgarbage("count") - base_kb > M.MAX_KB then
        why = format("uses too much memory (more than %d MiB)", M.MAX_KB // 1024)
      end
    end
    if why then
      debug.sethook()
      local info = debug.getinfo(2, "Sl")
      local line = info and info.source == "@" .. path and info.currentline or nil
      error(format("%s%s: %s; a course file only returns a table", path,
        line and line > 0 and (":" .. line) or "", why), 0)
    end
  end
  getmetatable("").__index = SAFE_STRING
  debug.sethook(hook, "", 1)
  local ok, v = pcall(chunk)
  debug.sethook()
  getmetatable("").__index = string
  if not ok then
    -- "not enough memory": one allocation past the address-space limit
    if v == "not enough memory" then v = path .. ": uses too much memory; a course file only returns a table" end
    return nil, tostring(v)
  end
  return v
end

-- A value as a Lua literal: only data crosses back. Functions become a marker the parent
-- turns into a function again, so validation can still say "got function".
local function serialize(v, out, depth, path)
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" then
    out[#out + 1] = format("%q", v)
  elseif t == "table" then
    if depth >= M.MAX_DEPTH then
      error(format("%s: the returned table is nested more than %d levels deep", path, M.MAX_DEPTH), 0)
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    sort(keys, function(a, b)
      if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then return a < b end
      return type(a) < type(b)
    end)
    out[#out + 1] = "{"
    for _, k in ipairs(keys) do
      local kt = type(k)
      if kt == "string" or kt == "number" or kt == "boolean" then
        out[#out + 1] = "[" .. format("%q", k) .. "]="
        serialize(v[k], out, depth + 1, path)
        out[#out + 1] = ","
      end
    end
    out[#out + 1] = "}"
  else
    out[#out + 1] = "F()"
  end
end

--- The child's side: reads, runs and writes the result to standard output as
-- `OK\n<literal>` or `ERR\n<message>`. Not for callers; the parent starts it.
-- @tparam string path
-- @tparam integer max_bytes largest file read
function M.child(path, max_bytes)
  local function answer(tag, s)
    io.stdout:write(tag, "\n", s)
    io.stdout:flush()
  end
  local f, err = io.open(path, "rb")
  if not f then return answer("ERR", format("%s: cannot read: %s", path, tostring(err))) end
  local text = f:read(max_bytes) or ""
  f:close()
  local chunk, lerr = load(text, "@" .. path, "t", {})
  if not chunk then return answer("ERR", lerr) end
  local v, rerr = run_bounded(chunk, path)
  if rerr then return answer("ERR", rerr) end
  local out = {}
  local ok, serr = pcall(serialize, v, out, 0, path)
  if not ok then return answer("ERR", tostring(serr)) end
  answer("OK", concat(out))
end

local function interpreter()
  local proc = require "coursegen.proc"
  return proc.which("lua5.4") or proc.which("lua")
end

--- Evaluates a Lua course file in a child process under limits.
-- @tparam string path
-- @tparam integer max_bytes largest file read
-- @return[1] the value the file returned (plain data)
-- @treturn[2] nil
-- @treturn[2] string the error, naming the file
function M.eval(path, max_bytes)
  local proc = require "coursegen.proc"
  local lua = interpreter()
  if not lua then return nil, path .. ": cannot run a Lua course file: no lua5.4 interpreter on PATH" end
  local self_path = package.searchpath("coursegen.course_sandbox", package.path)
  if not self_path then return nil, path .. ": cannot run a Lua course file: coursegen.course_sandbox not found" end
  -- The limits are set in a shell of their own, started by `exec`: `ulimit` binds the shell
  -- that runs it, and the one io.popen starts may carry a preloaded runtime (a sanitizer's)
  -- that cannot live in 320 MiB of address space.
  local inner = format("ulimit -c 0; ulimit -t %d && ulimit -v %d || exit 97; exec timeout -s KILL %d %s",
    M.CPU_SECONDS, M.ADDRESS_SPACE_KB, M.WALL_SECONDS,
    concat({ proc.quote(lua), proc.quote(self_path), CHILD_FLAG, proc.quote(path), tostring(max_bytes) }, " "))
  local cmd = "exec /bin/sh -c " .. proc.quote(inner) .. " </dev/null 2>/dev/null"
  local p = io.popen(cmd, "r")
  if not p then return nil, path .. ": cannot start the Lua course file's process" end
  -- the child's answer is bounded by its memory budget; read a little past it at most
  local out = p:read(M.MAX_KB * 1024 * 2) or ""
  local _, how, code = p:close()
  local tag, body = out:match("^(%u+)\n(.*)$")
  if tag == "ERR" then return nil, body end
  if tag ~= "OK" then
    local why
    -- `timeout` exits 137 when it killed the child at the wall-clock limit, and dies of the
    -- child's own signal otherwise: at the processor-time limit the kernel sends SIGXCPU
    -- (24), or SIGKILL (9) when the soft and hard limits are the same, as `ulimit -t` sets
    if how == "exit" and code == 137 then
      why = format("runs too long (more than %d s); a course file only returns a table", M.WALL_SECONDS)
    elseif how == "signal" and (code == 24 or code == 9) then
      why = format("runs too long (more than %d s of processor time); a course file only returns a table",
        M.CPU_SECONDS)
    elseif how == "exit" and code == 97 then
      why = "cannot limit the Lua course file's process (ulimit failed)"
    else
      why = "uses too much memory, or stopped without an answer; a course file only returns a table"
    end
    return nil, path .. ": " .. why
  end
  local chunk = load("return " .. body, "=" .. path, "t", { F = function() return function() end end })
  if not chunk then return nil, path .. ": the returned table could not be read back" end
  local ok, v = pcall(chunk)
  if not ok then return nil, path .. ": the returned table could not be read back" end
  return v
end

-- Run as a script (`lua5.4 course_sandbox.lua FLAG PATH MAX`): the child's side.
local a1, a2, a3 = ...
if a1 == CHILD_FLAG then
  M.child(a2, tonumber(a3))
  os.exit(0)
end

return M
