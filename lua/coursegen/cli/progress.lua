--- Progress display of a run, fed by the pipeline's events (`on_event`).
--
-- Three modes:
--
-- * `live`: one status line on a terminal, redrawn in place (`\r` and clear to end of
--   line): chapters done/total, in flight, retries, 429s, tokens, elapsed, ETA. Lines that
--   must stay (failures, warnings, `verbose` attempts) are printed above it. `finish`
--   leaves the screen clean.
-- * `lines`: a plain line per finished chapter (CI, pipes, `--no-progress`).
-- * `quiet`: nothing; the caller prints the summary.
--
-- @module coursegen.cli.progress
local M = {}
local mt = { __index = M }

local term = require "coursegen.cli.term"
local fmt = require "coursegen.cli.format"

local string_format, math_max, tostring, type = string.format, math.max, tostring, type

-- Starts the live line, so it reads as the program's.
local PREFIX = "coursegen "

-- Text from a server or a model (error messages, finish reasons, generated titles) as it
-- may be shown on a terminal: control characters (C0, DEL, and C1 as UTF-8) are dropped,
-- so a hostile answer cannot move the cursor, clear the screen or retitle the window.
local function shown(v)
  if v == nil then return nil end
  return (tostring(v):gsub("[%c\127]", " "):gsub("\194[\128-\159]", " "))
end
M.shown = shown

--- Picks the mode for the options of a run.
-- @tparam table o `{ quiet, no_progress, stream }`
-- @treturn string "live", "lines" or "quiet"
function M.mode(o)
  if o.quiet then return "quiet" end
  if o.no_progress then return "lines" end
  return term.live(o.stream or io.stderr) and "live" or "lines"
end

--- Creates a display.
-- @tparam table o options: `stream` (default io.stderr), `mode` (default from `M.mode`),
--   `verbose`, `colour` (default from `term.use_colour`), `clock` (seconds, default
--   `term.now`), `width` (columns, default `term.columns()`), `interval` (seconds between
--   redraws, default 0.1)
-- @return the display
function M.new(o)
  o = o or {}
  local stream = o.stream or io.stderr
  local self = setmetatable({
    stream = stream,
    mode = o.mode or M.mode { quiet = o.quiet, no_progress = o.no_progress, stream = stream },
    verbose = o.verbose and true or false,
    clock = o.clock or term.now,
    width = o.width,
    interval = o.interval or 0.1,
    total = nil, skipped = 0, to_do = nil,
    done = 0, failed = 0, written = 0,
    retries = 0, r429 = 0,
    failures = {},           -- { index, title, reason, attempts } per failed chapter
    written_files = {},
    stats = nil,
    shown = false,           -- a live line is on screen
    last_draw = nil,
  }, mt)
  if not self.width then self.width = self.mode == "live" and term.columns() or 80 end
  local colour = o.colour
  if colour == nil then colour = term.use_colour(stream) end
  self.paint = term.painter(colour and self.mode ~= "quiet")
  self.started = self.clock()
  return self
end

local function clear(self)
  if self.shown then
    self.stream:write(term.CLEAR_LINE)
    self.shown = false
  end
end

--- Prints a line that stays, above the live line when there is one.
-- @tparam string line
function M:print(line)
  if self.mode == "quiet" then return end
  clear(self)
  self.stream:write(line, "\n")
  if self.mode == "live" then self:draw(true) end
  self.stream:flush()
end

local function chapters_of(self)
  local st = self.stats
  local ch = type(st) == "table" and type(st.chapters) == "table" and st.chapters or {}
  local total = ch.total or self.total or 0
  local written = ch.written or self.written
  local skipped = ch.skipped or self.skipped
  local failed = ch.failed or self.failed
  return total, written, skipped, failed
end

--- The text of the live line after its prefix (without escapes); with the prefix, at most
-- `width - 1` columns.
-- @treturn string
function M:status_line()
  local st = type(self.stats) == "table" and self.stats or {}
  local total, written, skipped, failed = chapters_of(self)
  local elapsed = st.elapsed_s or (self.clock() - self.started)
  -- Each part with its rank: on a narrow terminal the lowest ranks go first, so the
  -- chapter count, failures and the ETA stay on an 80-column line.
  local parts = {}
  local function add(rank, text) parts[#parts + 1] = { rank = rank, text = text } end
  add(1, (not self.total and total == 0) and "planning the outline"
    or string_format("%d/%d chapters", written + skipped, total))
  if failed > 0 then add(2, failed .. " failed") end
  if st.in_flight then add(5, st.in_flight .. " in flight") end
  local retries = st.retries or self.retries
  local r429 = (type(st.status) == "table" and (st.status["429"] or st.status[429])) or self.r429
  add(retries > 0 and 4 or 8, fmt.plural(retries, "retry", "retries"))
  add(r429 > 0 and 4 or 8, r429 .. "×429")
  local tok = type(st.tokens) == "table" and st.tokens or {}
  local ntok = (tok.prompt or 0) + (tok.output or 0) + (tok.thoughts or 0)
  add(7, fmt.short(ntok) .. " tokens")
  add(6, fmt.duration(elapsed))
  -- ETA from the pace of the chapters finished in this run
  local finished = written + failed
  local remaining = total - written - skipped - failed
  if finished > 0 and remaining > 0 and elapsed > 0 then
    add(3, "ETA " .. fmt.duration(elapsed / finished * remaining))
  end
  local max = math_max(self.width - 1 - #PREFIX, 20)
  local line
  while true do
    local texts = {}
    for i, part in ipairs(parts) do texts[i] = part.text end
    line = table.concat(texts, " · ")
    if #parts <= 1 or (utf8.len(line) or #line) <= max then break end
    local drop = 1
    for i, part in ipairs(parts) do if part.rank >= parts[drop].rank then drop = i end end
    table.remove(parts, drop)
  end
  if utf8.len(line) and utf8.len(line) > max then
    line = line:sub(1, utf8.offset(line, max) - 1)
  end
  return line
end

--- Redraws the live line (at most every `interval` seconds unless `force`).
-- @tparam[opt] boolean force
function M:draw(force)
  if self.mode ~= "live" then return end
  local now = self.clock()
  if not force and self.last_draw and now - self.last_draw < self.interval then return end
  local line = self:status_line()
  if self.shown and line == self.last_line then return end
  self.last_draw, self.last_line = now, line
  self.stream:write(term.CLEAR_LINE, self.paint("dim", PREFIX), line)
  self.stream:flush()
  self.shown = true
end

local function chapter_label(self, ev)
  local width = #tostring(math_max(self.total or 0, ev.index or 0))
  return string_format("[%" .. width .. "d/%d]", ev.index or 0, self.total or 0)
end

local handlers = {}

function handlers.plan(self, ev)
  self.total, self.skipped, self.to_do = ev.total, ev.skipped or 0, ev.to_do
  if self.mode == "lines" then
    local msg = string_format("plan: %s", fmt.plural(ev.total or 0, "chapter"))
    if (ev.skipped or 0) > 0 then
      msg = msg .. string_format(", %d already written, %d to write", ev.skipped, ev.to_do or 0)
    end
    self:print(msg)
  end
  self:draw(true)
end

function handlers.outline(self, ev)
  if self.mode == "quiet" or (ev.source == "given" and not self.verbose) then return end
  local msg = string_format("outline: %s", fmt.plural(ev.count or 0, "chapter"))
  if ev.source then msg = msg .. " (" .. tostring(ev.source) .. ")" end
  if self.mode == "lines" or self.verbose then self:print(msg) end
end

function handlers.attempt(self, ev)
  local status = ev.status
  if ev.attempt and ev.attempt > 1 then self.retries = self.retries + 1 end
  if status == 429 or status == "429" then self.r429 = self.r429 + 1 end
  if not self.verbose then return self:draw() end
  local err = ev.error and shown(ev.error):gsub("%s+", " ")
  if err and #err > 120 then err = err:sub(1, 117) .. "..." end
  local what = status and tostring(status) or (err or "error")
  if status and err then what = what .. " (" .. err .. ")" end
  local who
  if ev.chapter then
    who = ev.title and string_format("%d %s", ev.chapter, shown(ev.title)) or ("chapter " .. ev.chapter)
  else
    who = tostring(ev.job or "request")
  end
  local msg = string_format("  %s, attempt %s: %s", who, tostring(ev.attempt or "?"), what)
  if ev.wait_s and ev.wait_s > 0 then
    msg = msg .. string_format(", retry in %.1fs", ev.wait_s)
  end
  local ok = status == 200 or status == "200"
  self:print(ok and msg or self.paint("yellow", msg))
end

function handlers.chapter(self, ev)
  local status = ev.status
  if status == "skipped" then
    if self.verbose and self.mode ~= "quiet" then
      self:print(string_format("%s skipped %s (already written)", chapter_label(self, ev),
        shown(ev.file or ev.title or "")))
    end
    return self:draw()
  end
  if status == "failed" then
    self.failed = self.failed + 1
    -- kept as shown: the final summary prints these reasons again
    self.failures[#self.failures + 1] = {
      index = ev.index, title = shown(ev.title), reason = shown(ev.reason), attempts = ev.attempts,
    }
    self:print(string_format("%s %s %s: %s", chapter_label(self, ev), self.paint("red", "failed"),
      shown(ev.title or ""), shown(ev.reason or "unknown reason")))
    return
  end
  self.written = self.written + 1
  self.written_files[#self.written_files + 1] = ev.file
  if self.mode == "lines" or self.verbose then
    local extra = {}
    if ev.attempts and ev.attempts > 1 then extra[#extra + 1] = ev.attempts .. " attempts" end
    if type(ev.tokens) == "table" then
      local n = (ev.tokens.prompt or 0) + (ev.tokens.output or 0) + (ev.tokens.thoughts or 0)
      if n > 0 then extra[#extra + 1] = fmt.int(n) .. " tokens" end
    end
    local tail = #extra > 0 and (" (" .. table.concat(extra, ", ") .. ")") or ""
    self:print(string_format("%s %s %s%s", chapter_label(self, ev), self.paint("green", "done"),
      shown(ev.file or ev.title or ""), tail))
  else
    self:draw(true)
  end
end

function handlers.tick(self, ev)
  if type(ev.stats) == "table" then self.stats = ev.stats end
  self:draw()
end

function handlers.warning(self, ev)
  if self.mode == "quiet" then return end
  self:print(self.paint("yellow", "warning: " .. shown(ev.message)))
end

-- Batch mode: a job's state when it changes, and chapters sent live after it.
function handlers.batch(self, ev)
  if self.mode == "quiet" then return end
  if ev.state == "re-ask" then
    if self.verbose then
      self:print(string_format("chapter %s: re-asked live after the batch (%s)", tostring(ev.index),
        shown(ev.reason or "no usable answer")))
    end
    return
  end
  self:print(string_format("batch job %s: %s%s", shown(ev.name or "?"), shown(ev.state or "?"),
    ev.chapters and string_format(" (%d chapters)", ev.chapters) or ""))
end

-- The course summary (README.md), written after the chapters.
function handlers.summary(self, ev)
  if ev.status == "failed" then
    self:print(string_format("%s course summary: %s", self.paint("red", "failed"),
      shown(ev.reason or "unknown reason")))
  elseif ev.waiting and self.mode ~= "quiet" then
    self:print(self.paint("yellow", shown(ev.reason or "the course summary waits for the missing chapters")))
  elseif ev.status == "done" and (self.mode == "lines" or self.verbose) then
    self:print(string_format("%s course summary (README.md)", self.paint("green", "done")))
  end
end

--- Handles one pipeline event; unknown event types are ignored.
-- @tparam table ev
function M:event(ev)
  local h = type(ev) == "table" and handlers[ev.type]
  if h then h(self, ev) end
end

--- A function suitable as the pipeline's `on_event`.
-- @treturn function
function M:handler()
  return function(ev) self:event(ev) end
end

--- Removes the live line, leaving the screen as it was before the run's status line.
function M:finish()
  clear(self)
  self.stream:flush()
end

return M
