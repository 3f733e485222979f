--- The command line's grammar: commands, arguments and options, with lua-argparse.
-- Values are checked here (each converter names its option), so a parsed result is
-- ready to use; what depends on the environment or the course file is settled in
-- `coursegen.cli.settings`.
-- @module coursegen.cli.options
local M = { _VERSION = "0.1" }

local argparse = require "argparse"
local values = require "coursegen.cli.values"

--- Limits of the numeric options: `{min, max}`.
M.limits = {
  chapters = { 1, 500 },
  concurrency = { 1, 1024 },
  rpm = { 1, 10000000 },
  tpm = { 1, 1000000000 },
  rpd = { 1, 100000000 },
  max_attempts = { 1, 100 },
  timeout = { 0, 86400 },          -- seconds, greater than 0
  price = { 0, 100000 },           -- USD per million tokens
  port = { 0, 65535 },
  latency_ms = { 0, 600000 },
  seed = { 0, 2147483647 },
  burst = { 1, 10000000 },
  answer_words = { 1, 100000 },
}

local function int(name, key)
  local lim = M.limits[key]
  return function(s) return values.integer(name, s, lim[1], lim[2]) end
end

local function num(name, key, open)
  local lim = M.limits[key]
  return function(s) return values.number(name, s, lim[1], lim[2], open) end
end

-- Options shared by the commands that talk to a provider.
local function connection_options(cmd)
  cmd:group("Provider",
    cmd:option("--provider", "API dialect: gemini or openai (any OpenAI-compatible server).")
      :argname("NAME")
      :convert(function(s) return values.choice("--provider", s, { "gemini", "openai" }) end),
    cmd:option("--model", "Model name (default: the provider's, gemini-2.5-flash for gemini).")
      :argname("NAME")
      :convert(function(s) return values.text("--model", s) end),
    cmd:option("--base-url", "API base URL, e.g. http://localhost:11434/v1 for Ollama.")
      :argname("URL")
      :convert(function(s) return values.url("--base-url", s) end),
    cmd:option("--api-key-env",
      "Read the API key from this variable (default: GEMINI_API_KEY or GOOGLE_API_KEY, OPENAI_API_KEY).")
      :argname("NAME")
      :convert(function(s) return values.env_name("--api-key-env", s) end),
    cmd:option("--api-key-file", "Read the API key from the first line of this file "
      .. "(also COURSEGEN_API_KEY_FILE).")
      :argname("FILE")
      :convert(function(s) return values.text("--api-key-file", s) end),
    cmd:option("--ca-file", "Trust the CA certificates in this PEM file for https (default: the system's), "
      .. "e.g. for a server behind a private CA.")
      :argname("FILE")
      :convert(function(s) return values.text("--ca-file", s) end),
    cmd:option("--max-attempts", "Attempts per request, retries included (default 5).")
      :argname("N"):convert(int("--max-attempts", "max_attempts")),
    cmd:option("--timeout", "Seconds per attempt (default 600).")
      :argname("SECONDS"):convert(num("--timeout", "timeout", true))
  )
end

local function course_inputs(cmd)
  cmd:argument("COURSE_FILE", "Course file: JSON, Lua, or a Markdown outline.")
    :args("?"):target("course_file")
  cmd:group("Course",
    cmd:option("--topic", "Make a course on this topic (its title), without a course file.")
      :argname("TEXT"):convert(function(s) return values.text("--topic", s) end),
    cmd:option("--source", "Ground the course in this document (.md, .txt; others with pandoc).")
      :argname("FILE"):convert(function(s) return values.text("--source", s) end),
    cmd:option("--chapters", "Number of chapters to plan (an outline is generated first).")
      :argname("N"):convert(int("--chapters", "chapters"))
  )
end

local function output_options(cmd, extra)
  cmd:group("Output",
    cmd:flag("-q --quiet", "Only errors and the final summary."),
    cmd:flag("-v --verbose", "One line per attempt; tracebacks for internal errors."),
    extra
  )
end

--- The main usage text: every command's synopsis.
-- @tparam string prog
-- @treturn string
function M.usage(prog)
  local pad = "       " .. prog
  local lines = {
    "Usage: " .. prog .. " generate [COURSE_FILE] [--topic TEXT] [--source FILE] [--chapters N] [options]",
    pad .. " outline  [COURSE_FILE] [--topic TEXT] [--source FILE] [--chapters N] [-o FILE]",
    pad .. " validate COURSE_FILE",
    pad .. " mock     [--port N] [--latency-ms N] [--jitter-ms N] [--rpm N] [--tpm N]",
    string.rep(" ", #pad) .. "          [--faults SPEC] [--seed N]",
    package.searchpath("coursegen.cli.export", package.path)
      and (pad .. " export   DIR [--format LIST] [--out DIR]") or false,
    pad .. " --version | --help | <command> --help",
  }
  local out = {}
  for _, line in ipairs(lines) do
    if line then out[#out + 1] = line end
  end
  return table.concat(out, "\n")
end

--- Builds the parser.
-- @tparam[opt="coursegen"] string prog program name shown in usage lines
-- @tparam[opt] string version shown by `--version`
-- @return an argparse parser
function M.parser(prog, version)
  local usage = "Usage: " .. (prog or "coursegen")
  local p = argparse(prog or "coursegen",
    "Write a whole course with an LLM: an outline, then every chapter as a Markdown file.")
    :epilog("Run '" .. (prog or "coursegen") .. " <command> --help' for a command's options.\n"
      .. "Exit codes: 0 done, 1 some chapters failed (or the shared limiter did), 2 bad input or usage,"
      .. " 130 interrupted.")
    :usage(M.usage(prog or "coursegen"))
    :help_max_width(100)
    :help_description_margin(30)
    :command_target("command")
    :require_command(false)
  p:flag("--version", "Print the version and exit.")
    :action(function()
      io.stdout:write((prog or "coursegen"), " ", version or "dev", "\n")
      os.exit(0)
    end)

  -- Exports (HTML, EPUB, ...) come from their own module when it is installed.
  local has_export, cli_export = pcall(require, "coursegen.cli.export")

  local g = p:command("generate", "Write a course: outline (if needed), then every chapter.")
    :usage(usage .. " generate [COURSE_FILE] [--topic TEXT] [--source FILE] [--chapters N] [options]")
  course_inputs(g)
  g:group("Run",
    g:option("--out", "Output folder (default out/<course-slug>).")
      :argname("DIR"):convert(function(s) return values.text("--out", s) end),
    g:flag("--force", "Regenerate every chapter, even those already written."),
    g:option("--only", "Regenerate just these chapters, e.g. 3,7 or 2-5.")
      :argname("LIST"):convert(function(s) return values.list("--only", s) end),
    g:flag("--dry-run", "Print the outline, the prompts, the request count and a cost estimate; send nothing."),
    g:option("--price-in", "Dry-run price of input tokens, USD per million.")
      :argname("USD"):convert(num("--price-in", "price")),
    g:option("--price-out", "Dry-run price of output tokens, USD per million.")
      :argname("USD"):convert(num("--price-out", "price")),
    g:option("--stats-json", "Write the run's statistics to this file (JSON).")
      :argname("FILE"):convert(function(s) return values.text("--stats-json", s) end),
    has_export and cli_export.add_format_option(g) or nil
  )
  connection_options(g)
  g:group("Limits",
    g:option("--concurrency", "Requests in flight at most (default 8).")
      :argname("N"):convert(int("--concurrency", "concurrency")),
    g:option("--rpm", "Requests per minute (default: the provider's tier, 1000 for gemini).")
      :argname("N"):convert(int("--rpm", "rpm")),
    g:option("--tpm", "Tokens per minute (default 1,000,000 for gemini).")
      :argname("N"):convert(int("--tpm", "tpm")),
    g:option("--rpd", "Requests per day (default 10,000 for gemini).")
      :argname("N"):convert(int("--rpd", "rpd")),
    g:option("--limiter", "Share the limits above with every process naming the same key,"
      .. " through Redis: redis://HOST:PORT/DB?key=NAME (or set COURSEGEN_LIMITER).")
      :argname("URL"):convert(function(s) return values.limiter("--limiter", s) end),
    g:option("--limiter-file", "Read the --limiter URL from this file's first line (keeps a"
      .. " Redis password off the command line).")
      :argname("FILE"):convert(function(s) return values.text("--limiter-file", s) end)
  )
  output_options(g, g:flag("--no-progress", "No live progress display: a plain line per chapter."))

  if has_export then cli_export.add_command(p) end
  require("coursegen.cli.quota").add_command(p)

  local o = p:command("outline", "Generate the outline only, as an editable Markdown course file.")
    :usage(usage .. " outline [COURSE_FILE] [--topic TEXT] [--source FILE] [--chapters N] [-o FILE] [options]")
  course_inputs(o)
  o:option("-o --output", "Write the outline to this file (.md, or .json) instead of stdout.")
    :argname("FILE"):convert(function(s) return values.text("--output", s) end)
  o:option("--out", "Course folder where the outline is also saved for generate (default out/<course-slug>).")
    :argname("DIR"):convert(function(s) return values.text("--out", s) end)
  connection_options(o)
  output_options(o)

  local v = p:command("validate", "Check a course file; send nothing.")
    :usage(usage .. " validate COURSE_FILE")
  v:argument("COURSE_FILE", "Course file: JSON, Lua, or a Markdown outline."):target("course_file")
  v:flag("-v --verbose", "Print the chapters too.")

  local m = p:command("mock", "Run the bundled mock LLM server in the foreground (Ctrl-C stops it).")
    :usage(usage .. " mock [--port N] [--latency-ms N] [--jitter-ms N] [--rpm N] [--tpm N]\n"
      .. string.rep(" ", #usage + 6) .. "[--faults SPEC] [--seed N] [--burst N] [--answer-words N]")
  m:option("--port", "Port on 127.0.0.1; 0 picks a free one (default 0).")
    :argname("N"):convert(int("--port", "port"))
  m:option("--latency-ms", "Latency of every answer, milliseconds (default 0).")
    :argname("N"):convert(int("--latency-ms", "latency_ms"))
  m:option("--jitter-ms", "Random extra latency up to this, milliseconds (default 0).")
    :argname("N"):convert(int("--jitter-ms", "latency_ms"))
  m:option("--rpm", "Answer 429 beyond this many requests per minute.")
    :argname("N"):convert(int("--rpm", "rpm"))
  m:option("--tpm", "Answer 429 beyond this many tokens per minute.")
    :argname("N"):convert(int("--tpm", "tpm"))
  m:option("--faults", "Random faults, e.g. 503:0.05,429:0.03,reset:0.01.")
    :argname("SPEC"):convert(function(s) return values.text("--faults", s) end)
  m:option("--seed", "Seed of the random faults and jitter (default 1).")
    :argname("N"):convert(int("--seed", "seed"))
  m:option("--burst", "Requests the rate limit lets through at once (default: one second's worth).")
    :argname("N"):convert(int("--burst", "burst"))
  m:option("--answer-words", "Words in each answer (default 300).")
    :argname("N"):convert(int("--answer-words", "answer_words"))
  m:option("--api-key", "Require this key (x-goog-api-key or Bearer); default: accept any.")
    :argname("KEY")
  return p
end

--- Rewrites an argparse message into one line: "unknown option '--x'\nDid you mean '--y'?"
-- becomes "unknown option '--x' (did you mean '--y'?)".
-- @tparam string msg
-- @treturn string
function M.tidy(msg)
  msg = tostring(msg)
  local head, hint = msg:match("^(.-)\n[Dd]id you mean (.-)%?%s*$")
  if head then return head .. " (did you mean " .. hint .. "?)" end
  return (msg:gsub("\n", "; "))
end

--- Parses `args` (a list of strings). `--help` and `--version` print and exit 0.
-- @tparam table args
-- @tparam[opt] string prog
-- @tparam[opt] string version
-- @treturn table|nil the parsed options, or nil, a one-line message, and the command name
-- (when known) for a "see --help" hint
function M.parse(args, prog, version)
  local p = M.parser(prog, version)
  -- "--rpm -5" would read as an unknown option "-5": join it, so the value check speaks
  local joined, i = {}, 1
  while i <= #args do
    local a, b = args[i], args[i + 1]
    if a:match("^%-%-[%w-]+$") and b and b:match("^%-[%d.]") then
      joined[#joined + 1] = a .. "=" .. b
      i = i + 2
    else
      joined[#joined + 1] = a
      i = i + 1
    end
  end
  args = joined
  local ok, res = p:pparse(args)
  if ok and res.quiet and res.verbose then
    ok, res = false, "--quiet and --verbose can not be used together"
  end
  if not ok then
    local cmd
    for _, a in ipairs(args) do
      if a == "generate" or a == "outline" or a == "validate" or a == "mock" or a == "export" then
        cmd = a
        break
      end
    end
    return nil, M.tidy(res), cmd
  end
  return res
end

return M
