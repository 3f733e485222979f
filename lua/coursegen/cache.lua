--- Explicit context caching for a run: the chapters' shared part (system instruction,
-- course, outline, source document) is stored once as a Gemini cached content, and every
-- chapter request names it and sends only its own lines.
--
-- Life of a cache: created after the outline is known (or reused when the manifest names
-- one for the same shared part that is still there), its TTL renewed while the run
-- outlives half of it, deleted when the run ends, also after Ctrl-C. A crash leaves it to
-- expire by its TTL. Below the model's minimum size, with fewer than two chapters to write,
-- or when creating it fails, the run sends plain requests (whose shared prefix the
-- provider may still cache implicitly) after a one-line notice.
-- @module coursegen.cache
local sha256 = require "coursegen.sha256"
local system = require "system"

local M = {}

--- Default lifetime of a cached content, seconds; renewed at half-life while the run goes on.
M.TTL_S = 900

--- Longest wait for a cache call at the start or the end of a run, seconds.
M.CALL_TIMEOUT_S = 30

--- Largest answer to a control call: a batch job's results file holds every chapter.
M.MAX_RESPONSE_BYTES = 512 * 1024 * 1024

local format = string.format

-- One more attempt of a control call in the run's statistics.
local function count(run, field)
  if field and run.st then run.st[field] = (run.st[field] or 0) + 1 end
end

--- The run's engine for control calls (caches, batch jobs, files): apart from the
-- chapters' so a renewal never waits behind a queue of chapters, and its few calls stay
-- out of the chapters' rate limits (the APIs meter these calls apart). Made on first use.
-- Its attempts are counted in the run's statistics apart from the chapters' `requests`:
-- `cache_requests` (cached contents) and `batch_requests` (batch jobs and their files).
-- @param run the pipeline's run
-- @treturn userdata a `coursegen.core` engine
function M.control(run)
  if not run.ctl then
    local s = run.s
    run.ctl_kind = {}
    run.ctl = require("coursegen.core").engine {
      concurrency = 2, max_attempts = 3, timeout = s.timeout, connect_timeout = s.connect_timeout,
      backoff_base = s.backoff_base, backoff_cap = s.backoff_cap, ca_file = s.ca_file,
      max_response_bytes = M.MAX_RESPONSE_BYTES,
      -- heard of only for an attempt that failed and is sent again: that is one more request
      on_attempt = function(ev) if ev.retry then count(run, run.ctl_kind[ev.id]) end end,
    }
  end
  return run.ctl
end

-- Submits a control call, noting which statistic its attempts count in.
local function submit(run, http)
  local ctl = M.control(run)
  local id = ctl:submit { url = http.url, method = http.method, headers = http.headers, body = http.body }
  local field = http.url:find("/cachedContents", 1, true) and "cache_requests" or "batch_requests"
  run.ctl_kind[id] = field
  count(run, field)
  return id
end

--- One control call, waited for. Returns the result, or nil and why.
-- @param run
-- @tparam table http `{url, method, headers, body}`
-- @tparam[opt] number timeout seconds (default `CALL_TIMEOUT_S`)
-- @treturn ?table the engine's result
-- @treturn ?string why there is none
function M.call(run, http, timeout)
  local ctl = M.control(run)
  local id = submit(run, http)
  local deadline = system.monotime() + (timeout or M.CALL_TIMEOUT_S)
  while system.monotime() < deadline do
    local r, err = ctl:poll(0.25)
    if r and r.id == id then return r end
    if err == "interrupted" then
      run.interrupted = true
      ctl:cancel(id)
      return nil, "interrupted"
    elseif not r and err ~= "timeout" then
      return nil, "no answer"
    end
  end
  ctl:cancel(id)
  return nil, "no answer in time"
end

local call = M.call

local function why(run, r, err)
  if not r then return err end
  if r.status and r.status > 0 then return run:scrub(run.p.error_message(r.status, r.body)) end
  return run:scrub(r.error or r.error_code or "no answer")
end

--- The identity of a shared part, as the manifest records it.
-- @tparam table req a chapter request (or `{system, source}`: what a cache made before the
--   outline holds)
-- @tparam string model
-- @treturn string hex SHA-256
function M.key(req, model)
  if req.source then
    return sha256.hex(model .. "\0source\0" .. (req.system or "") .. "\0" .. req.source .. "\0" .. (req.shared or ""))
  end
  return sha256.hex(model .. "\0" .. (req.system or "") .. "\0" .. (req.shared or ""))
end

--- Whether explicit caching applies, and why not when it does not.
-- @tparam table s settings
-- @tparam table req a chapter request
-- @tparam integer todo requests that would use the cache
-- @treturn boolean
-- @treturn ?string the reason it does not apply (nil when it does, or when nothing needs saying)
function M.wanted(s, req, todo)
  local p = s.provider_mod
  if s.cache == false or s.batch or not p.cache_create or not req or not (req.shared or req.source) then
    return false
  end
  if todo < 2 then return false end
  local tokens = (#(req.shared or "") + #(req.source or "") + #(req.system or "") + 3) // 4
  local min = p.cache_min_tokens(s.model)
  if tokens < min then
    return false, format("no context cache: the shared part is about %d tokens, under %s's minimum of %d"
      .. " (plain requests; the provider may still cache their common prefix)", tokens, s.model, min)
  end
  return true
end

-- Marks each job's request with the cache (a copy: the job's own request stays plain).
local function mark(todo, c)
  for _, job in ipairs(todo) do
    local r = {}
    for k, v in pairs(job.req) do r[k] = v end
    r.cached, r.cached_shared = c.name, c.holds_shared
    job.req = r
  end
end

--- Sets up the cache for the requests about to be sent: reuses the one made before the
-- outline or the manifest's, or creates one; marks each job's request with it. Emits a
-- warning and leaves the requests plain when it cannot.
--
-- Before a generated outline (`opts.prefix`), the cache holds the system instruction and
-- the source document only: the outline request and then every chapter use it, so the
-- source leaves once. Otherwise it holds the chapters' shared part as well.
-- @param run the pipeline's run (`s`, `p`, `cfg`, `old`, `cache`, `emit`, `scrub`)
-- @tparam {table,...} todo the jobs to send
-- @tparam[opt] table opts `{prefix = true, uses = n}`: the cache made for the outline request,
--   used by `uses` requests in all; quiet (the chapters' turn says what happened)
-- @treturn ?table `{name, key, tokens, ttl, renewed_at, holds_shared}` recorded in the manifest, or nil
function M.start(run, todo, opts)
  local s, p = run.s, run.p
  local prefix = opts and opts.prefix
  local req = todo[1] and todo[1].req
  local pre = run.cache
  if not prefix and pre and not pre.deleted then
    -- Reused, it spares sending the source again, but every chapter then sends the shared
    -- part (outline, structure) itself: worth it when that adds up to less than the source.
    if req and req.source and pre.key == M.key({ system = req.system, source = req.source }, s.model)
      and #(req.shared or "") * (#todo - 1) <= #req.source then
      mark(todo, pre)
      return pre
    end
    M.finish(run, pre) -- made before the outline, of no (good) use to these requests
  end
  local base = req and prefix and { system = req.system, source = req.source } or req
  local ok, notice = M.wanted(s, base, opts and opts.uses or #todo)
  local key = ok and M.key(base, s.model)
  local old = run.old and type(run.old.cache) == "table" and type(run.old.cache.name) == "string"
    and run.old.cache
  if old and (not ok or old.key ~= key) and p.cache_delete and not (pre and old.name == pre.name) then
    -- An earlier run's cache this run will not use: gone now rather than at its TTL.
    call(run, p.cache_delete(run.cfg, old.name), 10)
    old = nil
  end
  if not ok then
    if notice and not prefix then run:emit { type = "warning", message = notice } end
    return nil
  end
  local ttl = s.cache_ttl or M.TTL_S
  local c
  if old then
    -- A run that stopped left its cache: renewing it says whether it is still there.
    local r = call(run, p.cache_renew(run.cfg, old.name, ttl))
    if r and r.status == 200 and p.cache_parse(r.body) then
      c = { name = old.name, key = key, tokens = old.tokens, reused = true }
    end
  end
  if not c and not run.interrupted then
    local r, err = call(run, p.cache_create(run.cfg, base, ttl))
    local name, tokens = p.cache_parse(r and r.status == 200 and r.body or nil)
    if not name then
      if not (run.interrupted or prefix) then
        run:emit { type = "warning", message = "no context cache (" .. why(run, r, err)
          .. "): sending the chapters with the whole shared part each" }
      end
      return nil
    end
    c = { name = name, key = key, tokens = tokens }
  end
  if not c then return nil end
  c.ttl, c.renewed_at, c.holds_shared = ttl, system.monotime(), not prefix
  mark(todo, c)
  return c
end

--- Renews the cache's TTL when half of it has gone (called on the run's ticks); the
-- answer is not waited for (a lost renewal is tried again at the next half-life).
-- @param run
-- @tparam ?table c from `start`
function M.tick(run, c)
  if not c or c.deleted then return end
  local now = system.monotime()
  if now - c.renewed_at < c.ttl / 2 then return end
  c.renewed_at = now
  local ctl = M.control(run)
  while ctl:poll(0) do end -- earlier renewals' answers: nothing to do with them
  submit(run, run.p.cache_renew(run.cfg, c.name, c.ttl))
end

--- A chapter refused because its cache is gone (expired while the machine slept, deleted
-- by someone else): the cache is dropped and the chapter sent again whole, with a one-line
-- notice the first time. Called for every result of a request that named the cache.
-- @param run
-- @tparam table job the chapter's job (already taken off the run's outstanding list)
-- @tparam table r the engine's result
-- @treturn boolean true when the chapter was sent again
function M.lost(run, job, r)
  local c = run.cache
  if not (c and job.req and job.req.cached) or (r.status ~= 403 and r.status ~= 404) then return false end
  if not (r.body or ""):lower():find("cachedcontent", 1, true) then return false end
  if not c.deleted then
    c.deleted = true
    run:emit { type = "warning", message = "the context cache " .. c.name
      .. " is gone: sending the remaining chapters with the whole shared part each" }
    run.manifest_dirty = true
  end
  local req = {}
  for k, v in pairs(job.req) do req[k] = v end
  req.cached, req.cached_shared = nil, nil
  job.req = req
  run:submit(job)
  return true
end

--- Deletes the cache (also after Ctrl-C: what is still outstanding is cancelled first).
-- @param run
-- @tparam ?table c from `start`
-- @treturn boolean whether it is gone
function M.finish(run, c)
  if not c or c.deleted then return true end
  if run.interrupted then
    -- One Ctrl-C stops the run, not its clean-up; a second one still ends the process.
    local core = require "coursegen.core"
    if core.reset_interrupted then core.reset_interrupted() end
  end
  local r = call(run, run.p.cache_delete(run.cfg, c.name), 10)
  -- 403/404: it expired or was deleted already, which is what was wanted.
  c.deleted = r ~= nil and (r.status == 200 or r.status == 403 or r.status == 404)
  return c.deleted
end

return M
