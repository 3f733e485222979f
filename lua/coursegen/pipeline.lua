--- One generation run: outline, chapters, stages, summary, through the request engine.
-- Every request goes through one `coursegen.core` engine, so limits, retries and re-asking
-- apply to all of them alike. Answers are classified as they arrive (the engine's validate
-- callback); only an ok answer is written. Files and the manifest are written as each
-- chapter finishes, so an interruption loses nothing that was done.
-- @module coursegen.pipeline
local answer = require "coursegen.answer"
local fail = require "coursegen.fail"
local files = require "coursegen.files"
local jobs = require "coursegen.jobs"
local manifest = require "coursegen.manifest"
local outline = require "coursegen.outline"
local prompts = require "coursegen.prompts"
local readme = require "coursegen.readme"
local runstats = require "coursegen.runstats"
local settings = require "coursegen.settings"
local sha256 = require "coursegen.sha256"
local source = require "coursegen.source"
local system = require "system"

local M = { _VERSION = "0.1.0" }

local format, type, tostring, min = string.format, type, tostring, math.min

--- Seconds between `tick` events while waiting.
M.TICK_S = 0.25

local Run = {}
Run.__index = Run

function Run:emit(ev)
  if self.s.on_event then self.s.on_event(ev) end
end

-- The API key must never reach a message, a file or an event.
function Run:scrub(msg)
  if msg == nil then return nil end
  msg = tostring(msg)
  local key = self.s.api_key
  if key and #key >= 4 then
    local i = 1
    while true do
      local a, b = msg:find(key, i, true)
      if not a then break end
      msg = msg:sub(1, a - 1) .. "[api key]" .. msg:sub(b + 1)
      i = a + 9
    end
  end
  return msg
end

function Run:snapshot()
  local es = self.eng and self.eng:stats() or nil
  local snap = runstats.snapshot(self.st, es, system.monotime() - self.started)
  snap.interrupted = self.interrupted or false
  if es and es.redis then
    local r = es.redis
    snap.limiter = { url = r.url, round_trips = r.round_trips, grants = r.grants,
                     local_grants = r.local_grants, errors = r.errors,
                     round_trips_per_request = r.round_trips_per_request }
  end
  snap.out = self.s.out
  return snap
end

function Run:tick()
  self.last_tick = system.monotime()
  self:emit { type = "tick", stats = self:snapshot() }
end

function Run:submit(job)
  local http = self.p.request(self.cfg, job.req)
  job.usage = job.usage or { prompt = 0, output = 0, thoughts = 0 }
  local id = self.eng:submit { url = http.url, method = http.method, headers = http.headers,
                               body = http.body, tokens = self.p.estimate(job.req) }
  job.id = id
  self.by_id[id] = job
end

-- The engine's validate callback: classify a 200 answer, accept it or re-ask.
function Run:validate(result)
  local job = self.by_id[result.id]
  if not job then return true end
  local parsed = self.p.parse(result.body or "")
  runstats.answer(self.st, parsed)
  local u = parsed.usage
  job.usage.prompt = job.usage.prompt + u.prompt
  job.usage.output = job.usage.output + u.output
  job.usage.thoughts = job.usage.thoughts + u.thoughts
  local used = u.prompt + u.output + u.thoughts
  used = used > 0 and used or nil
  if parsed.kind == "ok" and job.check then
    local value, why = job.check(parsed.text)
    if value == nil then
      parsed = { kind = "invalid", text = parsed.text, finish_reason = parsed.finish_reason,
                 usage = parsed.usage, message = why }
    end
    job.value = value
  end
  job.parsed = parsed
  if parsed.kind == "ok" then return true, { used = used } end
  if parsed.kind == "truncated" then
    -- Re-ask with a larger output budget, doubled each time, capped.
    local req = {}
    for k, v in pairs(job.req) do req[k] = v end
    req.max_output_tokens = min((req.max_output_tokens or settings.DEFAULT_MAX_OUTPUT) * 2, settings.MAX_OUTPUT_CAP)
    job.req = req
  end
  local http = self.p.request(self.cfg, job.req)
  return false, { reason = parsed.kind, body = http.body, tokens = self.p.estimate(job.req), used = used }
end

function Run:on_attempt(ev)
  runstats.attempt(self.st, ev)
  local job = self.by_id[ev.id] or {}
  self:emit {
    type = "attempt", chapter = job.index, title = job.title, job = job.label or job.kind,
    attempt = ev.attempt, status = ev.status, error = self:scrub(ev.error), wait_s = ev.wait_s,
  }
end

-- Why a result is not a usable answer, in the server's words; nil when it is one.
function Run:failure(r, job)
  if r.error_code == "rejected" or (r.status == 200 and job.parsed and job.parsed.kind ~= "ok") then
    local p = job.parsed or {}
    return format("%s after %d attempt%s: %s", p.kind or r.reason or "rejected", r.attempts or 1,
      (r.attempts or 1) == 1 and "" or "s", p.message or r.reason or "no usable answer"), p.kind
  end
  if r.status and r.status ~= 200 and r.status > 0 then
    local msg = self.p.error_message(r.status, r.body)
    if r.error and r.error_code ~= "http" then msg = r.error .. "; " .. msg end
    return msg, r.error_code or "http"
  end
  if r.error or r.error_code then return r.error or r.error_code, r.error_code or "error" end
  return nil
end

function Run:handle(r)
  local job = self.by_id[r.id]
  if not job then return end
  self.by_id[r.id] = nil
  -- The shared limiter failed: the engine sends nothing more, and the run stops once
  -- what was already sent has come back.
  if r.error_code == "limiter" and not self.limiter_error then self.limiter_error = r.error end
  -- The client's own requests/day are spent: the engine fails what is left at once.
  if r.error_code == "quota" and not self.day_error and r.error:find("requests/day limit", 1, true) then
    self.day_error = r.error
  end
  job.attempts = r.attempts or 1
  if not r.error and not r.error_code and r.status == 200 and not job.parsed then
    self:validate(r) -- an engine without validate: classify now
  end
  local err = self:failure(r, job)
  if err then
    job.done(nil, self:scrub(err))
  else
    job.done(job.parsed)
  end
end

-- Handles `r` and every result already waiting behind it, then writes the manifest once
-- for them all: at a fast server's pace, rewriting it after each chapter was most of the
-- run's CPU. Each chapter's file is still written before its manifest entry, and the
-- manifest before anything else is awaited, also when a hook raises.
function Run:handle_ready(r)
  local ok, err = pcall(function()
    while r do
      self:handle(r)
      r = self.eng:poll(0)
    end
  end)
  if self.manifest_dirty then self:write_manifest() end
  if not ok then error(err, 0) end
end

-- Waits for every outstanding request; false when interrupted.
function Run:drain()
  while true do
    local r, err = self.eng:poll(M.TICK_S)
    if r then
      self:handle_ready(r)
      if system.monotime() - self.last_tick >= M.TICK_S then self:tick() end
    elseif err == "timeout" then
      self:tick()
    elseif err == "interrupted" then
      self.interrupted = true
      return false
    else
      return true
    end
  end
end

function Run:write_manifest()
  self.manifest_dirty = false
  local stats = self:snapshot()
  stats.out = nil
  manifest.write(self.s.out .. "/" .. manifest.FILE, {
    title = self.course.title, provider = self.s.provider, model = self.s.model,
    chapters = self.entries, summary = self.summary, stats = stats,
  })
end

function Run:write_readme()
  files.write(self.s.out .. "/README.md",
    readme.render(self.course, self.entries, self.summary and self.summary.text))
end

-- The outline: given by the course, saved by an earlier run, or generated now.
function Run:outline()
  if self.course.chapters then return self.course.chapters, "given" end
  local path = self.s.out .. "/" .. outline.FILE
  local saved, bad = outline.load(path)
  if saved then return saved, "saved" end
  if bad then fail.raise("input", "%s", bad) end
  local req, n = jobs.outline(self.course, self.s, self.source_text, self.system)
  local result, reason
  local job = {
    kind = "outline", label = "outline", req = req,
    check = function(t) return outline.parse(t, n) end,
  }
  job.done = function(parsed, err) result, reason = parsed and job.value, err end
  self:submit(job)
  if not self:drain() then return nil end
  if not result and self.limiter_error then fail.raise("limiter", "%s", self.limiter_error) end
  if not result then fail.raise("request", "outline: could not be generated: %s", tostring(reason)) end
  files.write(path, outline.encode(result))
  return result, "generated"
end

local function safe_name(name)
  return type(name) == "string" and name ~= "" and not name:find("[/\\%z]") and not name:match("^%.")
end

-- Records a stage's outcome (none: only makes sure the chapter's entry has a stage table).
-- Entries are values that manifest.write encodes once, so the entry is replaced, not changed.
function Run:set_stage(index, name, stage)
  self.entries[index] = manifest.with_stage(self.entries[index], name, stage)
end

-- Runs the stages for a chapter whose text is known (just written, or read back when skipped).
function Run:stages(job, text)
  local list = self.s.hooks.stages
  if not list or #list == 0 then return end
  self:set_stage(job.index)
  local old = job.previous and job.previous.stages or {}
  for _, st in ipairs(list) do
    local file = st.file and st.file(job.chapter) or job.file:gsub("%.md$", "." .. st.name .. ".md")
    local prompt = st.prompt(job.chapter, text)
    local label = "stage " .. st.name
    if not safe_name(file) then
      self:set_stage(job.index, st.name, { status = "failed", error = format("unsafe file name %q", tostring(file)) })
    elseif type(prompt) ~= "string" then
      self:set_stage(job.index, st.name,
        { status = "failed", error = "the stage's prompt function returned no string" })
    else
      local sha = jobs.prompt_sha(self.system, prompt)
      local prev = old[st.name]
      local forced = self.s.force or (self.s.only and self.s.only[job.index])
      if not forced and type(prev) == "table" and prev.status == "done" and prev.prompt_sha256 == sha
        and prev.file == file and files.exists(self.s.out .. "/" .. file) then
        self:set_stage(job.index, st.name, prev)
        self.st.stages.skipped = self.st.stages.skipped + 1
        self:emit { type = "stage", index = job.index, title = job.title, name = st.name,
                    status = "skipped", file = file }
      else
        local sjob = {
          kind = "stage", label = label, index = job.index, title = job.title,
          req = { prompt = prompt, system = self.system, max_output_tokens = self.s.max_output_tokens,
                  temperature = self.s.temperature, thinking_budget = self.s.thinking_budget },
        }
        sjob.done = function(parsed, err)
          local e = { file = file, attempts = sjob.attempts, prompt_sha256 = sha, tokens = sjob.usage }
          if parsed then
            local content = answer.clean(parsed.text) .. "\n"
            files.write(self.s.out .. "/" .. file, content)
            e.status, e.sha256, e.finish_reason = "done", sha256.hex(content), parsed.finish_reason
            self.st.stages.written = self.st.stages.written + 1
          else
            e.status, e.error = "failed", err
            self.st.stages.failed = self.st.stages.failed + 1
          end
          self:set_stage(job.index, st.name, e)
          self.manifest_dirty = true
          self:emit { type = "stage", index = job.index, title = job.title, name = st.name,
                      status = e.status, file = file, reason = e.error, attempts = e.attempts }
        end
        self:submit(sjob)
      end
    end
  end
end

function Run:chapter_done(job, parsed, err)
  local entry
  if parsed then
    local text = answer.drop_title(answer.clean(parsed.text), job.title)
    if self.s.hooks.postprocess then
      text = self.s.hooks.postprocess(job.chapter, text)
      if type(text) ~= "string" then error("hooks.postprocess must return a string", 0) end
    end
    local content = "# " .. job.title .. "\n\n" .. text:gsub("%s+$", "") .. "\n"
    files.write(self.s.out .. "/" .. job.file, content)
    entry = manifest.entry {
      index = job.index, title = job.title, file = job.file, status = "done", attempts = job.attempts,
      finish_reason = parsed.finish_reason, prompt_sha256 = job.sha, sha256 = sha256.hex(content),
      tokens = job.usage,
    }
    job.text = text
    self.st.chapters.written = self.st.chapters.written + 1
  else
    entry = manifest.entry {
      index = job.index, title = job.title, file = job.file, status = "failed", attempts = job.attempts,
      finish_reason = job.parsed and job.parsed.finish_reason, prompt_sha256 = job.sha,
      tokens = job.usage, error = err,
    }
    self.st.chapters.failed = self.st.chapters.failed + 1
  end
  self.entries[job.index] = entry
  self.manifest_dirty = true -- written by handle_ready once the results at hand are in
  -- After a limiter failure every chapter still waiting fails with the same message: the
  -- manifest records each, the display hears it once (the final error repeats it).
  local quiet = not parsed and job.attempts == 0 and self.limiter_reported
  if not parsed and self.limiter_error then self.limiter_reported = true end
  if quiet then return end
  self:emit { type = "chapter", index = job.index, title = job.title, status = entry.status,
              file = parsed and job.file or nil, reason = err, attempts = job.attempts, tokens = job.usage }
  if parsed then self:stages(job, job.text) end
end

-- Reads back a skipped chapter's text (without its title line) for stages and the summary.
function Run:chapter_text(job)
  local t = files.read(self.s.out .. "/" .. job.file) or ""
  return (t:gsub("^#[^\n]*\n%s*", ""))
end

function Run:summary_phase()
  local all_done = true
  for _, e in ipairs(self.entries) do
    if e.status ~= "done" then all_done = false end
  end
  if not all_done then
    self:emit { type = "summary", status = "skipped", reason = "some chapters are missing" }
    return
  end
  local lines = {}
  for i, job in ipairs(self.jobs) do
    local text = job.text or self:chapter_text(job)
    lines[#lines + 1] = format("%d. %s\n%s", i, job.title, answer.summary(text))
  end
  local prompt = self.course.templates.summary:render(prompts.context(self.course, {
    summaries = table.concat(lines, "\n\n"), chapter = { count = #self.jobs },
  }))
  local sha = jobs.prompt_sha(self.system, prompt)
  local prev = self.old and self.old.summary
  if not self.s.force and type(prev) == "table" and prev.status == "done" and prev.prompt_sha256 == sha
    and type(prev.text) == "string" then
    self.summary = prev
    self:emit { type = "summary", status = "skipped" }
    return
  end
  local job = {
    kind = "summary", label = "summary",
    req = { prompt = prompt, system = self.system, max_output_tokens = self.s.max_output_tokens,
            temperature = self.s.temperature, thinking_budget = self.s.thinking_budget },
  }
  job.done = function(parsed, err)
    if parsed then
      local text = answer.as_section(answer.clean(parsed.text))
      self.summary = { status = "done", attempts = job.attempts, prompt_sha256 = sha,
                       sha256 = sha256.hex(text), tokens = job.usage, text = text }
    else
      self.summary = { status = "failed", attempts = job.attempts, prompt_sha256 = sha,
                       tokens = job.usage, error = err }
    end
    self:emit { type = "summary", status = self.summary.status, reason = err }
  end
  self:submit(job)
  self:drain()
end

function Run:main()
  local s, course = self.s, self.course
  if course.source then
    local doc = source.read(course.source, s.source_max_tokens)
    if doc.truncated then
      self:emit { type = "warning", message = format(
        "source %s is about %d tokens, over the budget of %d: using its first %d tokens (cut at a paragraph boundary)",
        course.source, doc.original_tokens, s.source_max_tokens, doc.tokens) }
    end
    self.source_text = doc.text
  end
  files.mkdir_p(s.out)
  -- A run killed mid-write leaves a temporary file behind: this run finishes its work.
  files.remove_stale_temps(s.out)
  local core = require "coursegen.core"
  if s.catch_signals then
    core.catch_signals()
    -- A Ctrl-C that stopped an earlier run in this process must not stop this one.
    if core.reset_interrupted then core.reset_interrupted() end
  end
  local opts = {
    concurrency = s.concurrency, rpm = s.rpm, tpm = s.tpm, rpd = s.rpd,
    max_attempts = s.max_attempts, timeout = s.timeout, backoff_base = s.backoff_base,
    backoff_cap = s.backoff_cap, retry_budget = s.retry_budget, connect_timeout = s.connect_timeout,
    limiter = s.limiter, ca_file = s.ca_file,
    validate = function(r) return self:validate(r) end,
    on_attempt = function(ev) return self:on_attempt(ev) end,
  }
  local ok, made = pcall(core.engine, opts)
  if not ok then
    -- An unreachable Redis is the environment's failure, not a bug: say which URL.
    local msg = tostring(made)
    if s.limiter and msg:find("limiter: ", 1, true) then
      fail.raise("limiter", "%s", msg:match("(limiter: .*)$"))
    end
    error(made, 0)
  end
  local eng <close> = made
  self.eng = eng
  self.system = jobs.system(course)

  local chapters, origin = self:outline()
  if not chapters then return self:finish() end
  self:emit { type = "outline", source = origin, count = #chapters }

  self.jobs = jobs.chapters(course, chapters, s, self.source_text)
  self.old = manifest.read(s.out .. "/" .. manifest.FILE)
  jobs.decide(self.jobs, self.old, s)
  self.st.chapters.total = #self.jobs
  local todo, skipped = 0, 0
  for i, job in ipairs(self.jobs) do
    if job.decision == "todo" then todo = todo + 1 end
    if job.decision == "skipped" then skipped = skipped + 1 end
    -- Until a chapter finishes, its entry stays what the last run left (or "pending").
    self.entries[i] = manifest.entry(job.previous or
      { index = i, title = job.title, file = job.file, status = "pending" })
  end
  self.st.chapters.skipped = skipped
  self:emit { type = "plan", total = #self.jobs, skipped = skipped, to_do = todo }
  self:write_manifest()
  self:write_readme()
  for _, job in ipairs(self.jobs) do
    if job.decision == "skipped" then
      self:emit { type = "chapter", index = job.index, title = job.title, status = "skipped",
                  file = job.file, attempts = 0 }
      self:stages(job, self:chapter_text(job))
    end
  end
  for _, job in ipairs(self.jobs) do
    if job.decision == "todo" then
      job.done = function(parsed, err) self:chapter_done(job, parsed, err) end
      self:submit(job)
    end
  end
  if self:drain() and not s.only and not self.limiter_error then self:summary_phase() end
  if not self.summary and self.old and type(self.old.summary) == "table" and self.old.summary.status == "done" then
    self.summary = self.old.summary -- keep an earlier summary (e.g. a run with `only`)
  end
  return self:finish()
end

function Run:finish()
  if self.entries[1] ~= nil or self.jobs then
    self:write_manifest()
    self:write_readme()
  end
  local snap = self:snapshot()
  self:emit { type = "tick", stats = snap }
  if self.limiter_error then
    local ch = snap.chapters
    fail.raise("limiter", "%s; the run stopped: %d of %d chapters are written in %s (run again "
      .. "when the limiter is back to write the rest)", self.limiter_error,
      ch.written + ch.skipped, ch.total, self.s.out)
  end
  if self.day_error then
    local ch = snap.chapters
    fail.raise("quota", "%s; the run stopped: %d of %d chapters are written in %s, %d are left "
      .. "(the same command writes only those)", self.day_error, ch.written + ch.skipped, ch.total,
      self.s.out, ch.total - ch.written - ch.skipped)
  end
  return snap
end

--- Runs a whole generation.
-- @tparam table course validated course
-- @tparam table s settings (`coursegen.settings.resolve`)
-- @treturn table statistics (DESIGN.md section 5, plus `stages`, `interrupted`, `out`)
function M.run(course, s)
  local self = setmetatable({
    course = course, s = s, p = s.provider_mod,
    cfg = { base_url = s.base_url, model = s.model, api_key = s.api_key },
    by_id = {}, entries = {}, st = runstats.new(0), started = system.monotime(),
  }, Run)
  self.st.stages = { written = 0, skipped = 0, failed = 0 }
  self.last_tick = self.started
  return self:main()
end

return M
