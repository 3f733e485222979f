--- coursegen: whole courses written by an LLM, from a few lines of Lua.
--
--    local coursegen = require "coursegen"
--    local course = assert(coursegen.course{ title = "Introduction to Lua", chapters = 8 })
--    local stats, err = coursegen.generate(course, { out = "out/lua", provider = "gemini" })
--
-- Errors follow one rule: misuse of the API (a wrong argument type) raises; a bad course,
-- bad options, a missing key or a failed outline return `nil, message, kind`.
-- @module coursegen
local course_mod = require "coursegen.course"
local fail = require "coursegen.fail"
local settings = require "coursegen.settings"

local M = { _VERSION = require "coursegen.version" }

local type, format = type, string.format

local function check_args(c, opts, fname)
  if type(c) ~= "table" then
    error(format("bad argument #1 to '%s' (course expected, got %s)", fname, type(c)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(format("bad argument #2 to '%s' (table expected, got %s)", fname, type(opts)), 3)
  end
end

local function as_course(c)
  if getmetatable(c) == course_mod.course_mt then return c end
  return course_mod.check(c, "course")
end

local function protect(fn, ...)
  return fail.protect(fn, ...)
end

-- `generate` and `plan` take the same arguments and settle them the same way (the course
-- validated, the options resolved into settings); only what runs on the result differs.
-- The argument checks stay in each caller, so a misuse is reported at the caller's line.
-- Settings already settled by `coursegen.settings.resolve` are taken as they are, so a
-- caller that needed them first (the command line) does not settle them twice.
local function with_settings(course, opts, fn)
  return protect(function()
    local c = as_course(course)
    if getmetatable(opts) == settings.settings_mt then return fn(c, opts) end
    return fn(c, settings.resolve(c, opts))
  end)
end

--- Loads a course file: JSON, a Lua file returning a table, or a Markdown outline.
-- @tparam string path
-- @treturn[1] table the validated course
-- @treturn[2] nil
-- @treturn[2] string the error, naming the file and the field (or line)
-- @treturn[2] string "input"
function M.load(path)
  if type(path) ~= "string" then
    error(format("bad argument #1 to 'load' (string expected, got %s)", type(path)), 2)
  end
  return protect(course_mod.load, path)
end

--- Validates a course given as a table (same fields as a course file; a relative
-- `source` is resolved against the current folder).
-- @tparam table t
-- @treturn[1] table the validated course
-- @treturn[2] nil
-- @treturn[2] string the error, naming the field
-- @treturn[2] string "input"
function M.course(t)
  if type(t) ~= "table" then
    error(format("bad argument #1 to 'course' (table expected, got %s)", type(t)), 2)
  end
  return protect(course_mod.check, t, "course")
end

--- Generates a course: the outline if needed, every chapter, the course summary.
-- @tparam table course from `load` or `course` (a plain table is validated first)
-- @tparam[opt] table opts `out, provider, model, base_url, api_key, api_key_env,
--   api_key_file, concurrency, rpm, tpm, rpd, max_attempts, timeout, force, only,
--   temperature, max_output_tokens, thinking_budget, source_max_tokens, backoff_base,
--   backoff_cap, retry_budget, connect_timeout, catch_signals, on_event, hooks, env, limiter,
--   ca_file` (see `coursegen.settings`, the owner of their defaults and checks), or settings
--   it returned; `ca_file` names a PEM file of CA certificates to trust for https;
--   `limiter = "redis://HOST:PORT/DB?key=NAME"` shares the rpm/tpm/rpd buckets with every
--   process naming the same key (see HACKING.md)
-- @treturn[1] table statistics: `chapters = {total, written, skipped, failed}, requests,
--   retries, status, network_errors, empty_answers, blocked_answers, truncated_answers,
--   tokens = {prompt, output, thoughts}, elapsed_s, limiter_wait_s, max_in_flight, stages,
--   interrupted, out`
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] string kind: "input", "auth", "io", "request" or "limiter" (the shared
--   limiter failed: the run stopped, the manifest lists what finished)
function M.generate(course, opts)
  check_args(course, opts, "generate")
  return with_settings(course, opts, function(c, s)
    settings.attach_key(s)
    return require("coursegen.pipeline").run(c, s)
  end)
end

--- Plans a run without sending anything (a dry run).
-- @tparam table course
-- @tparam[opt] table opts as for `generate`
-- @treturn[1] table `{outline, outline_source, prompts = {{chapter, title, file, prompt}},
--   requests, tokens = {prompt, output}, out, skipped, chapter_count, warning}`
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] string kind
function M.plan(course, opts)
  check_args(course, opts, "plan")
  return with_settings(course, opts, function(c, s)
    return require("coursegen.plan").build(c, s)
  end)
end

return M
