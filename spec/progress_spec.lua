-- luacheck: std +busted
-- The progress display, the summary and the price table, fed by hand-made events.
local progress = require "coursegen.cli.progress"
local summary = require "coursegen.cli.summary"
local prices = require "coursegen.prices"
local fmt = require "coursegen.cli.format"
local helpers = require "helpers"

-- A stream that keeps what is written.
local function sink()
  local buf = {}
  return {
    write = function(self, ...)
      for _, s in ipairs { ... } do buf[#buf + 1] = s end
      return self
    end,
    flush = function() end,
    text = function() return table.concat(buf) end,
  }
end

local function clock_at(t)
  return function() return t[1] end
end

local stats = {
  chapters = { total = 4, written = 2, skipped = 1, failed = 1 },
  requests = 6, retries = 3, status = { ["200"] = 3, ["429"] = 2, ["503"] = 1 },
  network_errors = 0, empty_answers = 0, blocked_answers = 1, truncated_answers = 0,
  tokens = { prompt = 48210, output = 39122, thoughts = 5120 },
  elapsed_s = 41.2, limiter_wait_s = 3.1, max_in_flight = 2, out = "out/x",
}

describe("coursegen.cli.progress", function()
  describe("lines mode", function()
    it("prints one plain line per finished chapter and no escapes", function()
      local s = sink()
      local p = progress.new { stream = s, mode = "lines", colour = false }
      p:event { type = "plan", total = 3, skipped = 1, to_do = 2 }
      p:event { type = "tick", stats = stats }
      p:event { type = "chapter", index = 1, title = "A", status = "skipped", file = "01-a.md" }
      p:event { type = "chapter", index = 2, title = "B", status = "done", file = "02-b.md",
                attempts = 2, tokens = { prompt = 10, output = 20 } }
      p:event { type = "chapter", index = 3, title = "C", status = "failed", reason = "blocked (SAFETY)",
                attempts = 5 }
      p:event { type = "summary", status = "skipped", reason = "some chapters are missing" }
      assert.equal("plan: 3 chapters, 1 already written, 2 to write\n"
        .. "[2/3] done 02-b.md (2 attempts, 30 tokens)\n"
        .. "[3/3] failed C: blocked (SAFETY)\n", s.text())
      assert.same({ { index = 3, title = "C", reason = "blocked (SAFETY)", attempts = 5 } }, p.failures)
    end)

    it("prints one line per attempt with --verbose", function()
      local s = sink()
      local p = progress.new { stream = s, mode = "lines", colour = false, verbose = true }
      p:event { type = "attempt", chapter = 2, title = "B", attempt = 1, status = 429, wait_s = 1.5 }
      assert.equal("  2 B, attempt 1: 429, retry in 1.5s\n", s.text())
    end)
  end)

  describe("live mode", function()
    it("redraws one line in place and leaves the screen clean", function()
      local s = sink()
      local t = { 0 }
      local p = progress.new { stream = s, mode = "live", colour = false, clock = clock_at(t), width = 200 }
      p:event { type = "plan", total = 4, skipped = 1, to_do = 3 }
      t[1] = 1
      p:event { type = "tick", stats = {
        chapters = { total = 4, written = 1, skipped = 1, failed = 0 }, in_flight = 2, retries = 1,
        status = { ["429"] = 1 }, tokens = { prompt = 1500, output = 500 }, elapsed_s = 10 } }
      p:finish()
      local text = s.text()
      assert.truthy(text:find("\r\27[K", 1, true))
      assert.truthy(text:find("2/4 chapters · 2 in flight · 1 retry · 1×429 · 2k tokens · 10.0s · ETA 20.0s",
        1, true))
      assert.truthy(text:sub(-4) == "\r\27[K")
      assert.is_nil(text:find("\n", 1, true))
    end)

    it("cuts the line to the terminal's width", function()
      local p = progress.new { stream = sink(), mode = "live", colour = false, width = 40 }
      p:event { type = "plan", total = 4, skipped = 0, to_do = 4 }
      assert.is_true(utf8.len("coursegen " .. p:status_line()) <= 39)
    end)

    it("keeps the count, the failures and the ETA on an 80-column line, dropping the rest first", function()
      local t = { 0 }
      local p = progress.new { stream = sink(), mode = "live", colour = false, clock = clock_at(t), width = 80 }
      p:event { type = "plan", total = 200, skipped = 0, to_do = 200 }
      t[1] = 1
      p:event { type = "tick", stats = {
        chapters = { total = 200, written = 100, skipped = 0, failed = 12 }, in_flight = 128, retries = 1234,
        status = { ["429"] = 567 }, tokens = { prompt = 12345678, output = 9876543 }, elapsed_s = 3723 } }
      local line = p:status_line()
      assert.is_true(utf8.len("coursegen " .. line) <= 79, line)
      assert.truthy(line:find("^100/200 chapters · 12 failed"), line)
      assert.truthy(line:find("ETA ", 1, true), line)
      assert.is_nil(line:find("tokens", 1, true), line)
    end)
  end)

  it("prints nothing in quiet mode", function()
    local s = sink()
    local p = progress.new { stream = s, mode = "quiet" }
    p:event { type = "plan", total = 1, skipped = 0, to_do = 1 }
    p:event { type = "chapter", index = 1, title = "A", status = "failed", reason = "x" }
    p:event { type = "warning", message = "w" }
    p:finish()
    assert.equal("", s.text())
    assert.equal(1, #p.failures)
  end)
end)

describe("coursegen.cli.summary", function()
  describe("lines()", function()
    it("names the folder, the counts, the reasons and the statistics", function()
      local lines = summary.lines(stats, {
        failures = { { index = 3, title = "C", reason = "blocked (SAFETY)", attempts = 5 } },
        resume = "coursegen generate c.json",
      })
      assert.same({
        "Finished with failures: 3 of 4 chapters in out/x (2 written, 1 skipped, 1 failed).",
        "  failed 3 C: blocked (SAFETY)",
        "  requests 6, retries 3, 429s 2 (statuses 429: 2, 503: 1)",
        "  tokens 48,210 prompt, 39,122 output, 5,120 thinking; elapsed 41.2s (waited 3.1s for the rate limits)",
        "  to retry the failed chapters, run the same command again: coursegen generate c.json",
      }, lines)
    end)

    it("says how to resume after an interruption", function()
      local st = { chapters = { total = 5, written = 2, skipped = 0, failed = 0 }, requests = 2, retries = 0,
                   status = { ["200"] = 2 }, tokens = {}, elapsed_s = 1, interrupted = true, out = "o" }
      local lines = summary.lines(st, { resume = "coursegen generate c.json" })
      assert.equal("Interrupted. Kept 2 chapters in o (2 written, 0 skipped, 0 failed); 3 not written.", lines[1])
      assert.equal("  to resume, run the same command again: coursegen generate c.json", lines[#lines])
    end)
  end)

  describe("write_json()", function()
    it("writes the statistics atomically, in the documented order", function()
      local dir = helpers.tmpdir()
      local path = dir .. "/stats.json"
      assert.is_true(summary.write_json(path, stats))
      local text = helpers.readfile(path)
      assert.truthy(text:find('^{\n  "chapters": {\n    "total": 4,'))
      assert.truthy(text:find('"requests": 6,\n  "retries": 3,', 1, true))
      local leftovers = io.popen("ls -A '" .. dir .. "'"):read("a")
      assert.equal("stats.json\n", leftovers)
      helpers.rmtree(dir)
    end)

    it("names the file it cannot write", function()
      local ok, err = summary.write_json("/nonexistent-dir/s.json", stats)
      assert.is_nil(ok)
      assert.truthy(err:find("^%-%-stats%-json: cannot write /nonexistent%-dir/s%.json: "))
      -- the temporary file is an implementation detail the message does not name
      assert.equal("--stats-json: cannot write /nonexistent-dir/s.json: No such file or directory", err)
    end)
  end)
end)

describe("coursegen.prices", function()
  it("finds a model and its family", function()
    assert.same({ input = 0.30, output = 2.50, model = "gemini-2.5-flash" }, prices.lookup("gemini-2.5-flash"))
    assert.equal("gemini-2.5-flash-lite", prices.lookup("gemini-2.5-flash-lite-preview").model)
    assert.equal("gpt-4o", prices.lookup("gpt-4o-2024-08-06").model)
    assert.is_nil(prices.lookup("llama3.2"))
  end)

  it("estimates a cost, and lets a given price win", function()
    local p = assert(prices.resolve("gemini-2.5-flash"))
    assert.near(0.3 + 2.5, prices.cost({ prompt = 1e6, output = 1e6 }, p), 1e-9)
    assert.equal("$2.80", prices.format(prices.cost({ prompt = 1e6, output = 1e6 }, p)))
    p = assert(prices.resolve("llama3.2", 1, 2))
    assert.equal("given", p.source)
    local none, err = prices.resolve("llama3.2")
    assert.is_nil(none)
    assert.equal("no price known for model 'llama3.2'; pass --price-in and --price-out (USD per million "
      .. "tokens) for a cost estimate", err)
  end)
end)

describe("coursegen.cli.format", function()
  it("formats numbers, durations and command lines", function()
    assert.equal("1,234,567", fmt.int(1234567))
    assert.equal("48.2k", fmt.short(48210))
    assert.equal("2k", fmt.short(2000))
    assert.equal("1:15", fmt.duration(75))
    assert.equal("1:02:05", fmt.duration(3725))
    assert.equal("coursegen generate 'my course.json' --only 1,2",
      fmt.command_line("coursegen", { "generate", "my course.json", "--only", "1,2" }))
    assert.equal("x 'it'\\''s'", fmt.command_line("x", { "it's" }))
  end)
end)
