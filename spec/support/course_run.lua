-- Running courses against the in-process mock server, for the generation specs.
local coursegen = require "coursegen"
local json = require "coursegen.json"
local helpers = require "helpers"

local M = {}

--- Fast, quiet defaults: small answers, short backoff, no real key lookups.
function M.opts(srv, extra)
  local o = { base_url = srv.url, backoff_base = 0.01, backoff_cap = 0.05, max_attempts = 4, concurrency = 4,
              env = {} }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

--- Starts a mock with small answers and 0-20 ms latency.
function M.mock(extra)
  local mock = require "coursegen.mock"
  local o = { port = 0, latency_ms = 0, jitter_ms = 20, answer_words = 60, seed = 1 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return mock.start(o)
end

--- Runs `generate` collecting events; raises on an error return.
function M.generate(course, opts)
  local events = {}
  opts.on_event = opts.on_event or function(ev) events[#events + 1] = ev end
  local stats, err, kind = coursegen.generate(course, opts)
  assert(stats, tostring(err) .. " (" .. tostring(kind) .. ")")
  return stats, events
end

--- Runs `generate` with a real SIGINT sent to this process `after_s` seconds from now (by
-- a background shell started before any connection is open: a child forked later would
-- inherit the sockets); clears the process-wide flag afterwards for the next specs.
function M.generate_interrupted(course, opts, after_s)
  local pid = helpers.readfile("/proc/self/stat"):match("^%d+")
  os.execute(string.format("(sleep %g; kill -INT %s) &", after_s, pid))
  opts.catch_signals = true
  local ok, stats, events = pcall(M.generate, course, opts)
  require("coursegen.core").reset_interrupted()
  assert(ok, stats)
  return stats, events
end

--- Events of one type.
function M.of_type(events, t)
  local out = {}
  for _, ev in ipairs(events) do if ev.type == t then out[#out + 1] = ev end end
  return out
end

--- The manifest of an output folder.
function M.manifest(dir)
  return assert(json.decode(assert(helpers.readfile(dir .. "/course.json"))))
end

--- A course with `n` chapters named "Topic 1".."Topic n" (briefs from `briefs[i]`).
function M.course(n, briefs)
  local chapters = {}
  for i = 1, n do chapters[i] = { title = "Topic " .. i, brief = briefs and briefs[i] or nil } end
  return assert(coursegen.course { title = "Mock course", chapters = chapters })
end

--- Every file in a folder, concatenated (to look for secrets).
-- Read in-process: forking while the mock still has connections open would hand them to the child.
function M.all_text(dir)
  local lfs = require "lfs"
  local parts = {}
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then parts[#parts + 1] = helpers.readfile(dir .. "/" .. name) or "" end
  end
  return table.concat(parts, "\n")
end

return M
