-- Checks shared by the reliability specs: whole-course checks, the accounting between the
-- client's statistics and the mock's, process figures, and running the command as a
-- subprocess that can be killed.
local helpers = require "helpers"
local json = require "coursegen.json"
local lfs = require "lfs"

local M = {}

--- Names in a folder (without "." and ".."), sorted.
function M.list(dir)
  local names = {}
  if lfs.attributes(dir, "mode") ~= "directory" then return names end
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

--- The manifest of an output folder, decoded.
function M.manifest(dir)
  return assert(json.decode(assert(helpers.readfile(dir .. "/course.json"), "no manifest in " .. dir)))
end

--- Checks that chapter `i` of `n` ("Topic i") was written: its manifest entry says done,
-- its file starts with its own title and holds the mock's quote of the prompt it was
-- asked with ("Chapter i of n: Topic i"), so no chapter holds another one's answer.
function M.check_chapter(dir, m, i, n)
  local e = m.chapters[i]
  assert(e, "no manifest entry " .. i)
  assert(e.index == i, "entry " .. i .. " has index " .. tostring(e.index))
  assert(e.status == "done", ("chapter %d is %s: %s"):format(i, tostring(e.status), tostring(e.error)))
  local text = helpers.readfile(dir .. "/" .. e.file)
  assert(text, "missing file " .. tostring(e.file))
  local first = text:match("^[^\n]*")
  assert(first == "# Topic " .. i, ("chapter %d starts with %q"):format(i, first))
  local quote = ("Chapter %d of %d: Topic %d"):format(i, n, i)
  assert(text:find(quote, 1, true), ("chapter %d lacks %q"):format(i, quote))
  assert(e.sha256 == require("coursegen.sha256").hex(text), "chapter " .. i .. ": sha256 differs from the file")
end

--- Every chapter of an `n`-chapter course is done, in order; the summary too.
function M.check_course(dir, n)
  local m = M.manifest(dir)
  assert(#m.chapters == n, ("manifest lists %d chapters, expected %d"):format(#m.chapters, n))
  for i = 1, n do M.check_chapter(dir, m, i, n) end
  assert(m.summary and m.summary.status == "done", "the course summary is not done")
  local readme = assert(helpers.readfile(dir .. "/README.md"))
  local pos = 0
  for i = 1, n do
    local at = readme:find(("[Topic %d](%s)"):format(i, m.chapters[i].file), 1, true)
    assert(at and at > pos, "README entry " .. i .. " missing or out of order")
    pos = at
  end
  return m
end

--- Attempts the manifest records: every chapter's and the summary's (a generated
-- outline's request is not in the manifest: use courses with given chapters).
function M.attempts(m)
  local n = 0
  for _, e in ipairs(m.chapters) do n = n + (e.attempts or 0) end
  if type(m.summary) == "table" then n = n + (m.summary.attempts or 0) end
  return n
end

local function get(t, k) return t and t[k] or 0 end

--- Checks that the client's statistics and the mock's `/stats` tell the same story.
-- Statuses the server answered are counted on both sides alike, except that an answer the
-- mock sends as 200 and then cuts (`truncated`, and `midstream` on a unary call) reaches
-- the client as a transport error, and a `stall` or `reset` is never answered at all: the
-- client counts those as network errors (status "0").
-- A reset on a reused keep-alive connection is retried once inside libcurl, unseen by the
-- engine: `hidden` is how many requests the mock saw that the client never counted, and
-- it must be covered by the resets the mock sent (see the pending spec in
-- fault_matrix_spec about it). Returns `hidden`.
function M.check_accounting(stats, m, ms)
  local cut = get(ms.faults, "truncated") + get(ms.faults, "midstream")
  local unanswered = get(ms.faults, "stall") + get(ms.faults, "reset")
  local hidden = ms.requests - stats.requests
  assert(hidden >= 0 and hidden <= get(ms.faults, "reset"),
    ("client counted %d requests, the mock saw %d (%d resets)"):format(stats.requests, ms.requests,
      get(ms.faults, "reset")))
  assert(M.attempts(m) == stats.requests,
    ("manifest attempts add up to %d, statistics say %d requests"):format(M.attempts(m), stats.requests))
  -- Every attempt after a request's first is a retry.
  local firsts = 0
  for _, e in ipairs(m.chapters) do if (e.attempts or 0) > 0 then firsts = firsts + 1 end end
  if type(m.summary) == "table" and (m.summary.attempts or 0) > 0 then firsts = firsts + 1 end
  assert(stats.retries == stats.requests - firsts,
    ("%d retries, but %d requests for %d chapters and summary"):format(stats.retries, stats.requests, firsts))
  local codes = {}
  for k in pairs(stats.status) do codes[k] = true end
  for k in pairs(ms.status) do codes[k] = true end
  for k in pairs(codes) do
    if k == "200" then
      assert(get(ms.status, "200") == get(stats.status, "200") + cut,
        ("status 200: mock %d, client %d, cut %d"):format(get(ms.status, "200"), get(stats.status, "200"), cut))
    elseif k ~= "0" then
      assert(get(ms.status, k) == get(stats.status, k),
        ("status %s: mock %d, client %d"):format(k, get(ms.status, k), get(stats.status, k)))
    end
  end
  assert(stats.network_errors == cut + unanswered - hidden,
    ("network errors %d, expected %d cut + %d unanswered - %d hidden"):format(stats.network_errors, cut,
      unanswered, hidden))
  assert(get(stats.status, "0") == stats.network_errors, "status 0 and network_errors differ")
  return hidden
end

--- Resident set size now and its peak, in KiB, and the number of open descriptors.
function M.memory()
  local s = helpers.readfile("/proc/self/status") or ""
  return tonumber(s:match("VmRSS:%s*(%d+)")), tonumber(s:match("VmHWM:%s*(%d+)"))
end

function M.fds()
  local n = 0
  for name in lfs.dir("/proc/self/fd") do
    if name ~= "." and name ~= ".." then n = n + 1 end
  end
  return n - 1 -- the descriptor lfs.dir itself holds open while listing
end

--- Seconds on a monotonic clock.
function M.now()
  return require("coursegen.core").now()
end

-- Subprocesses ------------------------------------------------------------------------

M.BIN = helpers.root .. "/bin/coursegen"

-- Variables a developer's shell may set that would change what the command does.
M.UNSET = { "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "COURSEGEN_PROVIDER", "COURSEGEN_MODEL",
            "COURSEGEN_BASE_URL", "COURSEGEN_PRICE_IN", "COURSEGEN_PRICE_OUT", "NO_COLOR", "COURSEGEN_CONFIG",
            "COURSEGEN_API_KEY_FILE", "OPENAI_BASE_URL" }

--- Quotes a word for the shell.
function M.q(s)
  s = tostring(s)
  if s:match("^[%w%._/:=,%-+@]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- `env -u ... K=V ... timeout ... bin/coursegen ARGS`: the launcher runs in-place (env
-- and the launcher's `#!` exec), under `timeout` which sends `signal` after `limit_s`.
function M.command(args, env, limit_s, signal)
  local parts = { "env" }
  for _, k in ipairs(M.UNSET) do parts[#parts + 1] = "-u " .. k end
  -- no user config file from the developer's own home (a spec may name its own)
  parts[#parts + 1] = "XDG_CONFIG_HOME=/nonexistent/coursegen-spec"
  local keys = {}
  for k in pairs(env or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. M.q(env[k]) end
  parts[#parts + 1] = ("timeout --foreground -s %s %.3f"):format(signal or "TERM", limit_s or 60)
  parts[#parts + 1] = M.q(M.BIN)
  for _, a in ipairs(args) do parts[#parts + 1] = M.q(a) end
  return table.concat(parts, " ")
end

--- Runs the command in `dir`: `{ code, out, err }`.
function M.run(dir, args, env)
  local out, err = dir .. "/.stdout", dir .. "/.stderr"
  local _, how, code = os.execute("cd " .. M.q(dir) .. " && " .. M.command(args, env) .. " >" .. M.q(out)
    .. " 2>" .. M.q(err) .. " </dev/null")
  assert(how == "exit", "the command died by a signal")
  local r = { code = code, out = helpers.readfile(out) or "", err = helpers.readfile(err) or "" }
  os.remove(out)
  os.remove(err)
  return r
end

--- Runs `coursegen generate ARGS --base-url URL --no-progress` in `dir`: `{ code, out, err }`.
function M.generate(dir, url, args, env)
  local full = { "generate" }
  for _, a in ipairs(args) do full[#full + 1] = a end
  for _, a in ipairs { "--base-url", url, "--no-progress" } do full[#full + 1] = a end
  return M.run(dir, full, env)
end

--- Runs the command in `dir` and sends it SIGKILL after `after_s` seconds (unless it ended
-- first). Returns `{ code, killed, out, err }`.
function M.run_killed(dir, args, env, after_s)
  local out, err = dir .. "/.stdout", dir .. "/.stderr"
  -- The shell's own "Killed" notice goes to /dev/null, not to the spec's output (also when the
  -- command kills itself: `timeout` then dies of the same signal, and this shell reports it).
  local _, how, code = os.execute("exec 2>/dev/null; ( cd " .. M.q(dir) .. " && "
    .. M.command(args, env, after_s, "KILL") .. " >" .. M.q(out) .. " 2>" .. M.q(err) .. " </dev/null )")
  assert(how == "exit", "the shell died by a signal")
  -- 137: killed. 124: the time was up just as the command was ending on its own, so the
  -- kill came too late; its own exit status is lost, so count it as a kill too (the run
  -- after it then proves the folder finished).
  local r = { code = code, killed = code == 137 or code == 124, out = helpers.readfile(out) or "",
              err = helpers.readfile(err) or "" }
  os.remove(out)
  os.remove(err)
  return r
end

--- Writes a course file for the command line.
function M.course_file(path, n, title)
  local chapters = {}
  for i = 1, n do chapters[i] = "Topic " .. i end
  helpers.writefile(path, json.encode { title = title or "Mock course", chapters = chapters })
  return path
end

return M
