--- Batch mode: the chapters go to the provider as one batch job (Gemini
-- `batchGenerateContent` with inline requests, OpenAI `/v1/files` + `/v1/batches`), billed
-- at half price and answered within 24 hours.
--
-- Sequencing: the outline is asked live first (the chapters' prompts need it); the chapters
-- go in the job; the course summary and any stages are asked live once the chapters are
-- written (they need the chapters' text). The job is recorded in the manifest as soon as
-- it exists, so Ctrl-C (which leaves it running) or a crash loses nothing: running the same
-- command again polls that job instead of submitting a new one. When the job ends, every
-- answer goes through the same classification as a live one; answers that are empty,
-- blocked, cut short or failed inside the job, and the chapters of a job that failed or
-- expired, are re-asked live (with the live run's retries and re-asking), so the folder
-- ends up as a live run would leave it. Gemini takes the requests inline up to 20 MB
-- (`batch_inline_bytes`); above that they go in one JSONL file uploaded through the Files
-- API (`coursegen.upload`), and the answers come back as a file. Above the limit for one
-- file (Gemini 2 GB, OpenAI 200 MB) the chapters are split over several jobs.
-- @module coursegen.batch
local cache = require "coursegen.cache"
local fail = require "coursegen.fail"
local jobs = require "coursegen.jobs"
local manifest = require "coursegen.manifest"
local runstats = require "coursegen.runstats"
local system = require "system"
local upload = require "coursegen.upload"

local M = {}

--- Most seconds between two looks at a running job (`batch_poll_s` overrides): a job takes
-- minutes to hours, and each look is a request against the API's limits. The looks start
-- a second apart and double up to this.
M.POLL_S = 30

local format, min = string.format, math.min

local function key_of(job) return "chapter-" .. job.index end

local TERMINAL = { succeeded = true, failed = true, cancelled = true, expired = true }

-- Sleeps `seconds` in short steps, ticking the display; false on Ctrl-C.
local function wait(run, seconds)
  local core = require "coursegen.core"
  local deadline = system.monotime() + seconds
  while true do
    if core.interrupted() then
      run.interrupted = true
      return false
    end
    local left = deadline - system.monotime()
    if left <= 0 then return true end
    system.sleep(min(0.1, left))
    if system.monotime() - run.last_tick >= 0.25 then run:tick() end
  end
end

local function why(run, r, err)
  if not r then return err or "no answer" end
  if r.status and r.status > 0 and r.status ~= 200 then return run:scrub(run.p.error_message(r.status, r.body)) end
  return run:scrub(r.error or "an answer that is not a batch job")
end

-- Items made by `make` in groups no larger than `limit` bytes each.
local function pack(run, todo, make, limit, file)
  local out, cur, size = {}, nil, 0
  for _, job in ipairs(todo) do
    local item = make(run.cfg, key_of(job), job.req)
    if not cur or size + #item + 1 > limit then
      cur = { items = {}, chapters = {}, file = file }
      out[#out + 1] = cur
      size = 256
    end
    cur.items[#cur.items + 1] = item
    cur.chapters[#cur.chapters + 1] = { index = job.index, prompt_sha256 = job.sha }
    size = size + #item + 1
  end
  return out
end

-- The jobs to create. Gemini: one job of inline requests when they fit its inline limit,
-- else a JSONL file uploaded first (one job per file). OpenAI: always a file.
local function groups(run, todo)
  local p = run.p
  if not p.batch_line then return pack(run, todo, p.batch_item, p.BATCH_LIMIT) end
  local limit = run.s.batch_inline_bytes or p.BATCH_LIMIT
  local inline = pack(run, todo, p.batch_item, limit)
  local size = 256
  for _, item in ipairs(inline[1] and inline[1].items or {}) do size = size + #item + 1 end
  -- one job's worth (a single chapter larger than the limit is no exception)
  if #inline <= 1 and size <= limit then return inline end
  return pack(run, todo, p.batch_line, p.BATCH_FILE_LIMIT, true)
end

-- Creates one job; its parsed answer, or nil and why.
local function create(run, g)
  local p = run.p
  local title = "coursegen: " .. tostring(run.course.title)
  local http
  if p.batch_upload then
    local r, err = cache.call(run, p.batch_upload(run.cfg, g.items), 300)
    local id = r and r.status == 200 and p.file_id(r.body)
    if not id then return nil, "uploading the batch file: " .. why(run, r, err) end
    http = p.batch_create(run.cfg, id)
  elseif g.file then
    local name, r, err = upload.jsonl(run, table.concat(g.items, "\n") .. "\n", title)
    if not name then return nil, "uploading the batch file: " .. why(run, r, err) end
    http = p.batch_create_file(run.cfg, name, title)
  else
    http = p.batch_create(run.cfg, g.items, title)
  end
  local r, err = cache.call(run, http, 300)
  local job = r and r.status == 200 and p.batch_parse(r.body)
  if not job then return nil, why(run, r, err) end
  return job
end

-- The recorded jobs of an earlier run that still cover chapters to do (same prompt).
local function recorded(run, by_index)
  local old = run.old and run.old.batch
  if type(old) ~= "table" or old.provider ~= run.s.provider or type(old.jobs) ~= "table" then return nil end
  local still = {}
  for _, j in ipairs(old.jobs) do
    if type(j) == "table" and type(j.name) == "string" and type(j.chapters) == "table" then
      for _, c in ipairs(j.chapters) do
        local job = type(c) == "table" and by_index[c.index]
        if job and job.sha == c.prompt_sha256 then
          still[#still + 1] = j
          break
        end
      end
    end
  end
  return #still > 0 and { provider = old.provider, model = old.model, jobs = still } or nil
end

-- Adds a chapter to those asked live after the batch, once.
local function send_live(live, job)
  if job and not job.queued_live then
    job.queued_live = true
    live[#live + 1] = job
  end
end

-- Applies one result: the chapter is written, or goes to the live follow-up.
local function apply(run, job, res, live)
  if res.body then
    local parsed = run.p.parse(res.body)
    runstats.answer(run.st, parsed)
    local u = parsed.usage
    -- billed at the batch price: kept apart for the summary's cost
    run.st.batch_tokens = run.st.batch_tokens or { prompt = 0, output = 0, thoughts = 0, cached = 0 }
    for k, v in pairs(u) do
      job.usage[k] = (job.usage[k] or 0) + v
      run.st.batch_tokens[k] = (run.st.batch_tokens[k] or 0) + v
    end
    if parsed.kind == "ok" then
      job.attempts, job.parsed = 1, parsed
      run:chapter_done(job, parsed)
      return
    end
    if parsed.kind == "truncated" then
      job.req = jobs.with_larger_output(job.req) -- as live: the re-ask gets a larger output budget
    end
    res.error = parsed.message
  end
  run:emit { type = "batch", state = "re-ask", index = job.index, title = job.title, reason = res.error }
  send_live(live, job)
end

-- Collects a finished job's results into the chapters; returns the chapters left to ask live.
local function collect(run, rec_job, state, by_index, live)
  local p = run.p
  local results = state.results
  if not results and state.files then
    results = {}
    for _, id in ipairs(state.files) do
      local r, err = cache.call(run, p.file_content(run.cfg, id), 300)
      if not (r and r.status == 200) then
        run:emit { type = "warning", message = format("batch job %s: its results could not be read (%s)",
          rec_job.name, why(run, r, err)) }
      else
        for _, x in ipairs(p.batch_results(r.body)) do results[#results + 1] = x end
      end
    end
  end
  -- An answer counts only for a chapter whose prompt is still the one the job was given
  -- (a rerun after the course changed may collect an older job).
  local asked = {}
  for _, c in ipairs(rec_job.chapters) do
    local job = by_index[c.index]
    if job and job.sha == c.prompt_sha256 then asked[c.index] = job end
  end
  local seen = {}
  for _, res in ipairs(results or {}) do
    local idx = res.key and tonumber(res.key:match("^chapter%-(%d+)$"))
    local job = idx and asked[idx]
    if job and not seen[idx] then
      seen[idx] = true
      apply(run, job, res, live)
    end
  end
  for _, c in ipairs(rec_job.chapters) do
    if not seen[c.index] then send_live(live, by_index[c.index]) end -- no usable answer for it in the job
  end
end

--- Cancels the jobs an earlier run recorded that no chapter can use any more (the course
-- changed since): they would be billed for answers nobody collects.
-- @param run
-- @tparam ?table rec the recorded jobs still in use (from the manifest)
function M.cancel_stale(run, rec)
  local old = run.old and run.old.batch
  -- another provider's jobs cannot be reached through this one's API
  if type(old) ~= "table" or type(old.jobs) ~= "table" or old.provider ~= run.s.provider then return end
  local keep = {}
  for _, j in ipairs(rec and rec.jobs or {}) do keep[j.name] = true end
  for _, j in ipairs(old.jobs) do
    if type(j) == "table" and type(j.name) == "string" and not keep[j.name] then
      local r, err = cache.call(run, run.p.batch_cancel(run.cfg, j.name))
      run:emit { type = "warning", message = format("the course changed since batch job %s was submitted: %s",
        j.name, r and r.status == 200 and "cancelled it" or ("could not cancel it: " .. why(run, r, err))) }
    end
  end
end

--- Runs the chapters as batch jobs: submits them (or picks up the jobs the manifest
-- records), polls until every job ends, writes the chapters answered, and returns the
-- chapters to ask live.
-- @param run the pipeline's run
-- @tparam {table,...} todo chapter jobs to write
-- @treturn ?{table,...} chapters to send live; nil when interrupted (the jobs keep running)
function M.run(run, todo)
  local by_index = {}
  for _, job in ipairs(todo) do
    by_index[job.index] = job
    job.usage = job.usage or { prompt = 0, output = 0, thoughts = 0, cached = 0 }
  end
  local live = {}
  local rec = recorded(run, by_index)
  M.cancel_stale(run, rec)
  if rec then
    run:emit { type = "batch", state = "resumed", name = rec.jobs[1].name, jobs = #rec.jobs }
    -- Chapters the recorded jobs do not cover with their current prompt go live.
    local covered = {}
    for _, j in ipairs(rec.jobs) do
      for _, c in ipairs(j.chapters) do
        local job = by_index[c.index]
        if job and job.sha == c.prompt_sha256 then covered[c.index] = true end
      end
    end
    for _, job in ipairs(todo) do
      if not covered[job.index] then send_live(live, job) end
    end
  else
    rec = { provider = run.s.provider, model = run.s.model, jobs = {} }
    for _, g in ipairs(groups(run, todo)) do
      local state, err = create(run, g)
      if not state then
        if run.interrupted then return nil end
        -- Nothing lost: the chapters of this group are sent live instead.
        run:emit { type = "warning", message = format("batch job not created (%s): sending %d chapters live",
          err, #g.chapters) }
        for _, c in ipairs(g.chapters) do send_live(live, by_index[c.index]) end
      else
        rec.jobs[#rec.jobs + 1] = { name = state.name, chapters = g.chapters }
        run.batch = rec
        run:write_manifest() -- recorded at once: a rerun after Ctrl-C picks it up
        run:emit { type = "batch", state = state.state, name = state.name, chapters = #g.chapters }
      end
    end
  end
  local pending = {}
  for _, j in ipairs(rec.jobs) do pending[#pending + 1] = j end
  -- The first look soon (a small job may be done in seconds), then less and less often.
  local most = run.s.batch_poll_s or M.POLL_S
  local poll = min(1, most)
  while #pending > 0 do
    if not wait(run, poll) then return nil end
    poll = min(poll * 2, most)
    local still = {}
    for _, j in ipairs(pending) do
      local r, err = cache.call(run, run.p.batch_get(run.cfg, j.name))
      if run.interrupted then return nil end
      local state = r and r.status == 200 and run.p.batch_parse(r.body)
      if not state then
        -- A failed look is not a failed job: look again next time.
        run:emit { type = "warning", message = format("batch job %s: %s", j.name, why(run, r, err)) }
        still[#still + 1] = j
      else
        if state.state ~= j.state then
          j.state = state.state
          run:emit { type = "batch", state = state.state, name = j.name, chapters = #j.chapters }
        end
        if not TERMINAL[state.state] then
          still[#still + 1] = j
        elseif state.state == "succeeded" then
          collect(run, j, state, by_index, live)
        elseif state.state == "cancelled" then
          run:emit { type = "warning", message = format("batch job %s was cancelled: its %d chapters are "
            .. "not written (run again to send them)", j.name, #j.chapters) }
        else
          run:emit { type = "warning", message = format("batch job %s %s%s: sending its %d chapters live",
            j.name, state.state, state.message and (" (" .. state.message .. ")") or "", #j.chapters) }
          for _, c in ipairs(j.chapters) do send_live(live, by_index[c.index]) end
        end
      end
    end
    pending = still
    -- the chapters a job answered: "writing" entries, their files, then "done" (as live)
    if run.writes[1] then run:write_chapters() end
    if run.manifest_dirty then run:write_manifest() end
  end
  run.batch = nil
  run:write_manifest()
  return live
end

--- `--batch --cancel`: cancels the jobs the manifest records and forgets them.
-- @param run the pipeline's run
-- @treturn {string,...} the names of the jobs cancelled
function M.cancel(run)
  local path = run.s.out .. "/" .. manifest.FILE
  local old = manifest.read(path)
  if not (old and type(old.batch) == "table" and type(old.batch.jobs) == "table" and old.batch.jobs[1]) then
    fail.raise("input", "no batch job is recorded in %s: nothing to cancel", path)
  end
  local names = {}
  for _, j in ipairs(old.batch.jobs) do
    local r, err = cache.call(run, run.p.batch_cancel(run.cfg, tostring(j.name)))
    if not (r and r.status == 200) then
      fail.raise("request", "batch job %s could not be cancelled: %s", tostring(j.name), why(run, r, err))
    end
    names[#names + 1] = tostring(j.name)
    run:emit { type = "batch", state = "cancelled", name = j.name, chapters = #(j.chapters or {}) }
  end
  local entries = {}
  for i, e in ipairs(old.chapters) do entries[i] = manifest.entry(e) end
  manifest.write(path, { title = old.title, provider = old.provider, model = old.model, chapters = entries,
                         summary = old.summary, stats = old.stats, cache = old.cache })
  return names
end

return M
