-- Runs `bin/coursegen` as separate processes for specs: several at once, in the
-- background, each with its output in files, so specs can act on the world meanwhile.
local helpers = require "helpers"
local json = require "coursegen.json"

local M = {}

local ok_sys, system = pcall(require, "system")
--- Wall-clock seconds (fractional when luasystem is there).
function M.wall()
  if ok_sys then return system.gettime() end
  return os.time()
end

M.BIN = helpers.root .. "/bin/coursegen"
local UNSET = { "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "COURSEGEN_PROVIDER",
                "COURSEGEN_MODEL", "COURSEGEN_BASE_URL", "COURSEGEN_LIMITER", "NO_COLOR" }

--- Quotes a word for sh.
function M.q(s)
  s = tostring(s)
  if s:match("^[%w%._/:=,%-+@]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
local q = M.q

--- The command line for `bin/coursegen ARGS` run in `dir`, output to dir/NAME.{out,err}
-- and its exit code to dir/NAME.rc; `env` sets variables for it.
function M.command(dir, name, args, env)
  local parts = { "env" }
  for _, k in ipairs(UNSET) do parts[#parts + 1] = "-u " .. k end
  for k, v in pairs(env or {}) do parts[#parts + 1] = q(k .. "=" .. v) end
  parts[#parts + 1] = "timeout 120"
  parts[#parts + 1] = q(M.BIN)
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  local base = q(dir .. "/" .. name)
  return string.format("cd %s && %s >%s.out 2>%s.err </dev/null; echo $? >%s.rc", q(dir),
    table.concat(parts, " "), base, base, base)
end

local function script(dir, cmds)
  local lines = {}
  for i, c in ipairs(cmds) do lines[i] = "(" .. M.command(dir, c.name, c.args, c.env) .. ") &" end
  lines[#lines + 1] = "wait"
  helpers.writefile(dir .. "/run.sh", table.concat(lines, "\n") .. "\n")
  return dir .. "/run.sh"
end

--- Runs the commands (`{ name, args, env }`) at once; returns when all have exited.
function M.run_all(dir, cmds)
  assert(os.execute("sh " .. q(script(dir, cmds))))
end

--- Starts the commands at once in the background; returns the pid of the shell that
-- waits for them (gone when all have exited).
function M.start_all(dir, cmds)
  os.execute("sh " .. q(script(dir, cmds)) .. " >/dev/null 2>&1 & echo $! >" .. q(dir .. "/run.pid"))
  return assert((helpers.readfile(dir .. "/run.pid") or ""):match("%d+"))
end

--- `{ code, out, err }` of the command NAME run in `dir`.
function M.result_of(dir, name)
  return {
    code = tonumber(helpers.readfile(dir .. "/" .. name .. ".rc") or ""),
    out = helpers.readfile(dir .. "/" .. name .. ".out") or "",
    err = helpers.readfile(dir .. "/" .. name .. ".err") or "",
  }
end

--- Writes a course file of `n` chapters; returns its path.
function M.course_file(dir, name, title, n)
  local chapters = {}
  for i = 1, n do chapters[i] = string.format("%s chapter %d", title, i) end
  local path = dir .. "/" .. name .. ".json"
  helpers.writefile(path, json.encode { title = title, chapters = chapters })
  return path
end

return M
