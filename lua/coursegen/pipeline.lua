--- One generation run: outline, chapters, stages, summary, through the request engine.
-- Every request goes through one `coursegen.core` engine, so limits, retries and re-asking
-- apply to all of them alike. Answers are classified as they arrive (the engine's validate
-- callback); only an ok answer is written. Files and the manifest are written as each
-- chapter finishes, so an interruption loses nothing that was done.
-- @module coursegen.pipeline
local answer = require "coursegen.answer"
local batch = require "coursegen.batch"
local cache = require "coursegen.cache"
local fail = require "coursegen.fail"
local files = require "coursegen.files"
local jobs = require "coursegen.jobs"
local manifest = require "coursegen.manifest"
local outdir = require "coursegen.outdir"
local outline = require "coursegen.outline"
local prompts = require "coursegen.prompts"
local readme = require "coursegen.readme"
local runstats = require "coursegen.runstats"
local scrub = require "coursegen.scrub"
local settings = require "coursegen.settings"
local sha256 = require "coursegen.sha256"
local source = require "coursegen.source"
local system = require "system"

local M = {}

local format, type, tostring = string.format, type, tostring

--- Seconds between `tick` events while waiting.
M.TICK_S = 0.25

local Run = {}
Run.__index = Run

-- Calls a user's hook. A hook that raises ends the run like any other failure: `generate`
-- returns `nil, "hook NAME raised: ...", "hook"` (what finished is in the manifest),
-- instead of the error escaping through the library as if it were coursegen's own.
local function call_hook(name, fn, ...)
  local res = table.pack(pcall(fn, ...))
  if not res[1] then
    if fail.is(res[2]) then error(res[2], 0) end
    fail.raise("hook", "hook %s raised: %s", name, tostring(res[2]))
  end
  return table.unpack(res, 2, res.n)
end

function Run:emit(ev)
  if self.s.on_event then call_hook("on_event", self.s.on_event, ev) end
end

-- The API key must never reach a message, a file or an event.
function Run:scrub(msg)
  return scrub.scrub(msg, { self.s.api_key })
end

function Run:snapshot()
  local es = self.eng and self.eng:stats() or nil
  local snap = runstats.snapshot(self.st, es, system.monotime() - self.started)
  snap.interrupted = self.interrupted or false
  if es and es.redis then
    local r = es.redis
    snap.limiter = { url = r.url, round_trips = r.round_trips, grants = r.grants,
                     local_grants = r.local_grants, errors = r.errors, outages = r.outages,
                     outage_grants = r.outage_grants,
                     round_trips_per_request = r.round_trips_per_request }
  end
  snap.out = self.s.out
  return snap
end

function Run:tick()
  self.last_tick = system.monotime()
  cache.tick(self, self.cache)
  self:emit { type = "tick", stats = self:snapshot() }
  self:warn_key_limits()
end

-- Once a run: the shared limiter's key has other limits than this run's, and they rule.
function Run:warn_key_limits()
  if self.key_limits_warned or not self.eng then return end
  local r = self.eng:stats().redis
  if not (r and r.limits_differ) then return end
  self.key_limits_warned = true
  local function n(v) return v and v > 0 and string.format("%.15g", v) or "none" end
  self:emit { type = "warning", message = string.format(
    "the limiter key's limits (rpm %s, tpm %s, rpd %s) apply, not this run's (rpm %s, tpm %s, rpd %s);"
    .. " 'coursegen quota --set' changes them", n(r.key_rpm), n(r.key_tpm), n(r.key_rpd),
    n(self.s.rpm), n(self.s.tpm), n(self.s.rpd)) }
end

function Run:submit(job)
  local http = self.p.request(self.cfg, job.req)
  job.usage = job.usage or { prompt = 0, output = 0, thoughts = 0, cached = 0 }
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
  -- A refused answer's message quotes the body, cut to a few hundred bytes: built again
  -- from the scrubbed body, so no key is cut in half before it could be masked.
  if parsed.kind ~= "ok" and parsed.message then
    parsed.message = self.p.parse(self:scrub(result.body or "")).message
  end
  runstats.answer(self.st, parsed)
  local u = parsed.usage
  job.usage.prompt = job.usage.prompt + u.prompt
  job.usage.output = job.usage.output + u.output
  job.usage.thoughts = job.usage.thoughts + u.thoughts
  job.usage.cached = job.usage.cached + (u.cached or 0)
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
    job.req = jobs.with_larger_output(job.req)
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
    local msg = self.p.error_message(r.status, self:scrub(r.body), r.headers) -- scrubbed before it is cut
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
  if cache.lost(self, job, r) then return end -- sent again without its vanished cache
  -- The shared limiter failed: the engine sends nothing more, and the run stops once
  -- what was already sent has come back.
  if r.error_code == "limiter" and not self.limiter_error then self.limiter_error = r.error end
  -- The client's own requests/day are spent: the engine fails what is left at once.
  if r.error_code == "quota" and not self.day_error and r.error:find("requests/day limit", 1, true) then
    self.day_error = r.error
  end
  job.attempts = r.attempts or 1
  local err = self:failure(r, job)
  if err then
    job.done(nil, self:scrub(err))
  else
    job.done(job.parsed)
  end
end

-- A test hook for the crash spec: `COURSEGEN_TEST_KILL=chapter-file:K` makes the process
-- kill itself with SIGKILL right after writing its K-th chapter file, before the manifest
-- records it (the one moment random kills rarely hit).
local kill_after = tonumber((os.getenv("COURSEGEN_TEST_KILL") or ""):match("^chapter%-file:(%d+)$"))

-- Writes the chapter files answered in this batch: first the manifest records each as
-- "writing" (with the hash of its new text), then the files are written, then (by the
-- caller) the manifest records them as done. A run killed in between leaves files the next
-- run recognises by their hash, so nothing is paid for twice.
function Run:write_chapters()
  local pending = self.writes
  self.writes = {}
  self:write_manifest()
  for _, w in ipairs(pending) do
    local path = self.s.out .. "/" .. w.job.file
    if w.job.backup and files.kind(path) == "file" then
      local orig = files.backup(path)
      self:emit { type = "warning", message = format("chapter %d was edited by hand: kept it as %s",
        w.job.index, orig) }
    end
    files.write(path, w.content)
    self.written_files = self.written_files + 1
    if kill_after and self.written_files == kill_after then
      os.execute("kill -KILL " .. require("coursegen.core").getpid())
    end
    self.entries[w.job.index] = w.entry
    self.manifest_dirty = true
    self.st.chapters.written = self.st.chapters.written + 1
    self:emit { type = "chapter", index = w.job.index, title = w.job.title, status = "done",
                file = w.job.file, attempts = w.job.attempts, tokens = w.job.usage }
    self:stages(w.job, w.job.text)
  end
end

-- Handles `r` and every result already waiting behind it, then writes the manifest once
-- for them all: at a fast server's pace, rewriting it after each chapter was most of the
-- run's CPU. Each chapter's file is still written between its "writing" and its "done"
-- entry, and the manifest before anything else is awaited, also when a hook raises.
function Run:handle_ready(r)
  local ok, err = pcall(function()
    while r do
      self:handle(r)
      r = self.eng:poll(0)
    end
  end)
  if self.writes[1] then
    local wok, werr = pcall(self.write_chapters, self)
    if not wok and ok then ok, err = false, werr end
  end
  if self.manifest_dirty then
    local mok, merr = pcall(self.write_manifest, self)
    if not mok and ok then ok, err = false, merr end
  end
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
    title = self.course.title, description = self.course.description, language = self.course.language,
    audience = self.course.audience, author = self.course.author, provider = self.s.provider,
    model = self.s.model, server = outdir.server(self.s.base_url), chapters = self.entries,
    summary = self.summary, stats = stats,
    cache = self.cache and not self.cache.deleted and
      { name = self.cache.name, key = self.cache.key, tokens = self.cache.tokens } or nil,
    batch = self.batch,
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
  local saved = jobs.saved_outline(self.course, self.s)
  if saved then return saved, "saved" end
  local req, n, at_most = jobs.outline(self.course, self.s, self.source_text, self.system)
  local result, reason
  local job = {
    kind = "outline", label = "outline", req = req,
    check = function(t) return outline.parse(t, n, at_most) end,
  }
  job.done = function(parsed, err) result, reason = parsed and job.value, err end
  if req.source then
    -- The source goes in a cached content now, which the outline request and then every
    -- chapter name (coursegen.cache): the document leaves this machine once.
    self.cache = cache.start(self, { job }, { prefix = true, uses = n + 1 })
    if self.interrupted then return nil end
  end
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
    local file = st.file and call_hook("stages." .. st.name .. ".file", st.file, job.chapter)
      or job.file:gsub("%.md$", "." .. st.name .. ".md")
    local prompt = call_hook("stages." .. st.name .. ".prompt", st.prompt, job.chapter, text)
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
        and prev.file == file and jobs.file_state(self.s.out .. "/" .. file, prev) == "ours" then
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

-- The hash of the file an entry says coursegen wrote (nil for none, or JSON null).
local function hash_of(e)
  local v = e and e.sha256
  return type(v) == "string" and v or nil
end

function Run:chapter_done(job, parsed, err)
  if parsed then
    local text = answer.drop_title(answer.clean(parsed.text), job.title)
    if self.s.hooks.postprocess then
      text = call_hook("postprocess", self.s.hooks.postprocess, job.chapter, text)
      if type(text) ~= "string" then fail.raise("hook", "hook postprocess must return a string, got %s", type(text)) end
    end
    local content = "# " .. job.title .. "\n\n" .. text:gsub("%s+$", "") .. "\n"
    local fields = {
      index = job.index, title = job.title, file = job.file, status = "writing", attempts = job.attempts,
      finish_reason = parsed.finish_reason, prompt_sha256 = job.sha, sha256 = sha256.hex(content),
      tokens = job.usage, replaces = job.state ~= "missing" and hash_of(job.previous) or nil,
    }
    job.text = text
    -- Recorded as "writing" now; the file and the done entry follow (write_chapters).
    self.entries[job.index] = manifest.entry(fields)
    fields.status, fields.replaces = "done", nil
    self.writes[#self.writes + 1] = { job = job, content = content, entry = manifest.entry(fields) }
    return
  end
  -- The file an earlier run wrote stays, and stays coursegen's: keep its hash.
  local entry = manifest.entry {
    index = job.index, title = job.title, file = job.file, status = "failed", attempts = job.attempts,
    finish_reason = job.parsed and job.parsed.finish_reason, prompt_sha256 = job.sha,
    tokens = job.usage, error = err, sha256 = job.state ~= "missing" and hash_of(job.previous) or nil,
  }
  self.st.chapters.failed = self.st.chapters.failed + 1
  self.entries[job.index] = entry
  self.manifest_dirty = true -- written by handle_ready once the results at hand are in
  -- After a limiter failure every chapter still waiting fails with the same message: the
  -- manifest records each, the display hears it once (the final error repeats it).
  local quiet = job.attempts == 0 and self.limiter_reported
  if self.limiter_error then self.limiter_reported = true end
  if quiet then return end
  self:emit { type = "chapter", index = job.index, title = job.title, status = entry.status,
              reason = err, attempts = job.attempts, tokens = job.usage }
end

-- Reads back a skipped chapter's text (without its title line) for stages and the summary.
-- Never through a link: a planted one must not carry a secret into a prompt.
function Run:chapter_text(job)
  local path = self.s.out .. "/" .. job.file
  local t, err, why = files.read_output(path)
  if not t then
    if why == "missing" then return "" end
    fail.raise("input", "%s", err)
  end
  return (t:gsub("^#[^\n]*\n%s*", ""))
end

function Run:summary_phase()
  local waiting = {}
  for i, e in ipairs(self.entries) do
    if e.status ~= "done" then waiting[#waiting + 1] = tostring(i) end
  end
  if #waiting > 0 then
    self:emit { type = "summary", status = "skipped", waiting = waiting, reason = format(
      "the course summary waits for chapter%s %s (not written yet): run the same command again to write %s, "
      .. "then the summary", #waiting == 1 and "" or "s", table.concat(waiting, ", "),
      #waiting == 1 and "it" or "them") }
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
  if s.batch_cancel then
    self.batch_cancelled = batch.cancel(self) -- nothing else: the course is left as it is
    return self:finish()
  end
  if course.source then
    local doc = source.read(course.source, s.source_max_tokens)
    if doc.truncated then
      self:emit { type = "warning", message = format(
        "source %s is about %d tokens, over the budget of %d: using its first %d tokens (cut at a paragraph boundary)",
        course.source, doc.original_tokens, s.source_max_tokens, doc.tokens) }
    end
    self.source_text = doc.text
  end
  -- Before anything is sent: the folder must be coursegen's, and no input one of its outputs.
  local given = course.chapters and jobs.file_names(course.chapters) or {}
  local old = outdir.check(s.out, given, require("coursegen.slug").slug(course.title, "course"))
  outdir.check_same_writer(old, s, s.out)
  self:check_inputs(given)
  -- held until the run returns: a second run on this folder stops at once
  local lock <close> = outdir.claim(s.out, -- luacheck: ignore 211
    { title = course.title, provider = s.provider, model = s.model, server = outdir.server(s.base_url) })
  -- A run killed mid-write leaves a temporary file behind: this run finishes its work.
  files.remove_stale_temps(s.out)
  local core = require "coursegen.core"
  if s.catch_signals then
    core.catch_signals()
    -- A Ctrl-C that stopped an earlier run in this process must not stop this one.
    if core.reset_interrupted then core.reset_interrupted() end
  end
  local opts = settings.engine_options(s)
  opts.validate = function(r) return self:validate(r) end
  opts.on_attempt = function(ev) return self:on_attempt(ev) end
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
  local names = {}
  for i, job in ipairs(self.jobs) do names[i] = job.file end
  self:check_inputs(names)
  jobs.decide(self.jobs, self.old, s)
  self:remove_renamed()
  self.st.chapters.total = #self.jobs
  local todo, skipped, kept = 0, 0, {}
  for i, job in ipairs(self.jobs) do
    if job.decision == "todo" then todo = todo + 1 end
    if job.decision == "skipped" then skipped = skipped + 1 end
    if job.decision == "kept" then
      skipped = skipped + 1
      kept[#kept + 1] = tostring(i)
    end
    -- Until a chapter finishes, its entry stays what the last run left (or "pending").
    self.entries[i] = manifest.entry(job.previous or
      { index = i, title = job.title, file = job.file, status = "pending" })
  end
  self.st.chapters.skipped = skipped
  self:emit { type = "plan", total = #self.jobs, skipped = skipped, to_do = todo }
  if #kept > 0 then
    local list = table.concat(kept, ",")
    self:emit { type = "warning", kept = kept, message = format("kept chapter%s %s: edited by hand since coursegen "
      .. "wrote %s; to regenerate: --only %s (or --force), which keeps a .orig backup", #kept == 1 and "" or "s",
      list, #kept == 1 and "it" or "them", list) }
  end
  self:write_manifest()
  self:write_readme()
  for _, job in ipairs(self.jobs) do
    if job.decision == "skipped" or job.decision == "kept" then
      self:emit { type = "chapter", index = job.index, title = job.title, status = "skipped",
                  file = job.file, attempts = 0 }
      self:stages(job, self:chapter_text(job))
    end
  end
  -- Caching (coursegen.cache): set up once the shared part is known, before any chapter.
  local todo_jobs = {}
  for _, job in ipairs(self.jobs) do
    if job.decision == "todo" then todo_jobs[#todo_jobs + 1] = job end
  end
  if s.batch and #todo_jobs > 0 then
    -- Batch mode (coursegen.batch): the chapters go in a batch job; what it could not
    -- answer is sent live below. Interrupted: the job keeps running for the rerun.
    todo_jobs = batch.run(self, todo_jobs)
    if not todo_jobs then return self:finish() end
  end
  self.cache = cache.start(self, todo_jobs)
  if self.interrupted then return self:finish() end -- Ctrl-C while the cache was being made
  if self.cache then
    self:write_manifest() -- a run that dies now leaves its cache's name for the rerun
    self:emit { type = "cache", name = self.cache.name, reused = self.cache.reused or false }
  end
  for _, job in ipairs(todo_jobs) do
    job.done = function(parsed, err) self:chapter_done(job, parsed, err) end
    self:submit(job)
  end
  -- With `only`, the summary is refreshed when a chapter changed (and all are written).
  if self:drain() and not self.limiter_error and (not s.only or self.st.chapters.written > 0) then
    self:summary_phase()
  end
  if not self.summary and self.old and type(self.old.summary) == "table" and self.old.summary.status == "done" then
    self.summary = self.old.summary -- keep an earlier summary (e.g. a run with `only`)
  end
  return self:finish()
end

-- Refuses a run that would write over its own course file or source document.
function Run:check_inputs(names)
  local inputs = {}
  if type(self.course.source) == "string" then inputs[self.course.source] = "the source document" end
  for _, p in ipairs(self.s.inputs or {}) do inputs[p] = inputs[p] or "the course file" end
  local all = {}
  for _, n in ipairs(outdir.FIXED) do all[#all + 1] = n end
  for _, n in ipairs(names) do all[#all + 1] = n end
  outdir.check_inputs(self.s.out, all, inputs)
end

-- Chapters renamed or dropped from the outline: their old files (and stage files) are
-- coursegen's, so they are removed rather than left behind; one edited by hand is kept,
-- and the user told.
function Run:remove_renamed()
  local now = {}
  for _, job in ipairs(self.jobs) do now[job.file] = true end
  for _, e in ipairs(self.old and self.old.chapters or {}) do
    if type(e) == "table" and type(e.file) == "string" and not now[e.file] and not e.file:find("/", 1, true) then
      local path = self.s.out .. "/" .. e.file
      local state = jobs.file_state(path, e)
      if state == "ours" or state == "old" then
        os.remove(path)
        for _, st in pairs(type(e.stages) == "table" and e.stages or {}) do
          if type(st) == "table" and type(st.file) == "string" and not st.file:find("/", 1, true)
            and jobs.file_state(self.s.out .. "/" .. st.file, st) == "ours" then
            os.remove(self.s.out .. "/" .. st.file)
          end
        end
      elseif state == "edited" then
        self:emit { type = "warning", message = format("%s is no longer in the outline but was edited by hand: "
          .. "kept it (coursegen no longer tracks it)", path) }
      end
    end
  end
end

function Run:finish()
  if self.cache then cache.finish(self, self.cache) end
  if self.ctl then self.ctl:close() end
  if self.entries[1] ~= nil or self.jobs then
    self:write_manifest()
    self:write_readme()
  end
  local snap = self:snapshot()
  snap.batch_cancelled = self.batch_cancelled
  if self.batch then -- still running (Ctrl-C): the rerun collects it
    snap.batch_running = {}
    for i, j in ipairs(self.batch.jobs) do snap.batch_running[i] = j.name end
  end
  self:emit { type = "tick", stats = snap }
  self:warn_key_limits()
  if self.limiter_error then
    local ch = snap.chapters
    local have = ch.written + ch.skipped
    -- Every chapter written: what the limiter held back is the course summary.
    if have == ch.total then
      fail.raise("limiter", "%s; the run stopped: all %d chapters are written in %s but the course "
        .. "summary is not (run again when the limiter is back to write it)", self.limiter_error,
        ch.total, self.s.out)
    end
    fail.raise("limiter", "%s; the run stopped: %d of %d chapters are written in %s (run again "
      .. "when the limiter is back to write the rest)", self.limiter_error, have, ch.total, self.s.out)
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
-- @treturn table statistics (the README's "Statistics", plus `stages`, `interrupted`, `out`)
function M.run(course, s)
  local self = setmetatable({
    course = course, s = s, p = s.provider_mod,
    cfg = { base_url = s.base_url, model = s.model, api_key = s.api_key },
    by_id = {}, entries = {}, writes = {}, written_files = 0, st = runstats.new(0), started = system.monotime(),
  }, Run)
  self.st.stages = { written = 0, skipped = 0, failed = 0 }
  self.last_tick = self.started
  return self:main()
end

return M
