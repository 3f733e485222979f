--- The command line's grammar: commands, arguments and options, with lua-argparse.
-- Values are checked here (each converter names its option), so a parsed result is
-- ready to use; what depends on the environment or the course file is settled in
-- `coursegen.cli.settings`.
-- @module coursegen.cli.options
local M = {}

local argparse = require "argparse"
local values = require "coursegen.cli.values"
local lib = require "coursegen.settings"

--- Limits of the mock command's numeric options, `{min, max}` (a run's own are
-- `coursegen.settings.LIMITS`).
M.limits = {
  port = { 0, 65535 },
  latency_ms = { 0, 600000 },
  seed = { 0, 2147483647 },
  burst = { 1, 10000000 },
  answer_words = { 1, 100000 },
}

local function limit(key)
  return lib.LIMITS[key] or M.limits[key]
end

local function int(name, key)
  local lim = limit(key)
  return function(s) return values.integer(name, s, lim[1], lim[2]) end
end

local function num(name, key)
  local lim = limit(key)
  return function(s) return values.number(name, s, lim[1], lim[2], lim.open) end
end

local function text(name)
  return function(s) return values.text(name, s) end
end

local D = lib.DEFAULTS

-- The providers' defaults, read from their modules for the help text.
local function provider_defaults(field)
  local parts = {}
  for _, name in ipairs(lib.PROVIDER_NAMES) do
    local v = lib.provider(name).defaults[field]
    if type(v) == "table" then v = table.concat(v, " or ") end
    if v and v ~= "" then parts[#parts + 1] = name .. ": " .. tostring(v) end
  end
  return table.concat(parts, "; ")
end

-- Options shared by the commands that talk to a provider.
local function connection_options(cmd)
  cmd:group("Provider",
    cmd:option("--provider", "API dialect: gemini, openai (any OpenAI-compatible server), or ollama "
      .. "(a local Ollama; openai dialect). Default: what --base-url says, else gemini.")
      :argname("NAME")
      :convert(function(s) return values.choice("--provider", s, lib.PROVIDER_NAMES) end),
    cmd:option("--model", "Model name (default " .. provider_defaults("model") .. ").")
      :argname("NAME"):convert(text "--model"),
    cmd:option("--base-url", "API base URL, e.g. a proxy or http://localhost:8080/v1 (default: the provider's; "
      .. "OPENAI_BASE_URL for openai).")
      :argname("URL")
      :convert(function(s) return values.url("--base-url", s) end),
    cmd:option("--api-key-env",
      "Read the API key from this variable (default " .. provider_defaults("key_env") .. ").")
      :argname("NAME")
      :convert(function(s) return values.env_name("--api-key-env", s) end),
    cmd:option("--api-key-file", "Read the API key from the first line of this file "
      .. "(also COURSEGEN_API_KEY_FILE).")
      :argname("FILE"):convert(text "--api-key-file"),
    cmd:option("--ca-file", "Trust the CA certificates in this PEM file for https (default: the system's), "
      .. "e.g. for a server behind a private CA.")
      :argname("FILE"):convert(text "--ca-file"),
    cmd:option("--temperature", "Sampling temperature, 0 to 2 (default: the model's).")
      :argname("T"):convert(num("--temperature", "temperature")),
    cmd:option("--max-attempts", "Attempts per request, retries included (default " .. D.max_attempts .. ").")
      :argname("N"):convert(int("--max-attempts", "max_attempts")),
    cmd:option("--timeout", ("Seconds per attempt (default %d; %d for a server on this machine).")
      :format(D.timeout, lib.LOCAL_TIMEOUT))
      :argname("SECONDS"):convert(num("--timeout", "timeout"))
  )
end

local function course_inputs(cmd)
  cmd:argument("COURSE_FILE", "Course file: JSON, Lua, or a Markdown outline.")
    :args("?"):target("course_file")
  cmd:group("Course",
    cmd:option("--topic", "Make a course on this topic (its title), without a course file.")
      :argname("TEXT"):convert(text "--topic"),
    cmd:option("--source", "Ground the course in this document (.md, .txt; others with pandoc).")
      :argname("FILE"):convert(text "--source"),
    cmd:option("--chapters", "Number of chapters to plan (an outline is generated first; default "
      .. D.chapters .. ").")
      :argname("N"):convert(int("--chapters", "chapters")),
    cmd:option("--max-chapters", "Let the model choose the number of chapters, at most N.")
      :argname("N"):convert(int("--max-chapters", "chapters")),
    cmd:option("--language", "Write the course in this language, e.g. French.")
      :argname("NAME"):convert(text "--language"),
    cmd:option("--audience", "Who the course is for, e.g. 'nurses new to statistics'.")
      :argname("TEXT"):convert(text "--audience"),
    cmd:option("--instructions", "Extra instructions for every prompt (replace the course file's).")
      :argname("TEXT"):convert(text "--instructions"),
    cmd:option("--instructions-file", "Read those instructions from a file.")
      :argname("FILE"):convert(text "--instructions-file")
  )
end

local function output_options(cmd, extra)
  cmd:group("Output",
    cmd:flag("-q --quiet", "Only errors and the final summary."),
    cmd:flag("-v --verbose", "One line per attempt; tracebacks for internal errors."),
    cmd:option("--log-file", "Append every event (attempts, waits, statuses, chapters) to FILE as JSON lines.")
      :argname("FILE"):convert(text "--log-file"),
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

--- The help text's list of settings sources: variables, the user config, the layering.
-- @treturn string
function M.environment()
  local lines = { "Environment:" }
  for _, v in ipairs(require("coursegen.cli.settings").variables()) do
    lines[#lines + 1] = string.format("  %-22s %s", v[1], v[2])
  end
  lines[#lines + 1] = "  OPENAI_BASE_URL        the server for --provider openai, as OpenAI's SDKs read it"
  lines[#lines + 1] = "Settings come from, first match wins: flags, the environment, the user config file,"
  lines[#lines + 1] = "the course file's \"options\" (never where the key is read from or sent), defaults."
  return table.concat(lines, "\n")
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
      .. " 3 the day's request quota (--rpd) is spent,"
      .. " 130 interrupted.\n\n" .. M.environment())
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
      :argname("DIR"):convert(text "--out"),
    g:flag("--force", "Regenerate every chapter, even those already written or edited by hand"
      .. " (an edited one is kept as NN-slug.md.orig)."),
    g:flag("--no-backup", "With --force or --only, keep no .orig backup of chapters edited by hand."),
    g:option("--only", "Regenerate just these chapters, e.g. 3,7 or 2-5.")
      :argname("LIST"):convert(function(s) return values.list("--only", s) end),
    g:flag("--dry-run", "Print the outline, the prompts, the request count and a cost estimate; send nothing."),
    g:option("--price-in", "Dry-run price of input tokens, USD per million.")
      :argname("USD"):convert(num("--price-in", "price")),
    g:option("--price-out", "Dry-run price of output tokens, USD per million.")
      :argname("USD"):convert(num("--price-out", "price")),
    g:option("--price-cached", "Price of cached input tokens, USD per million.")
      :argname("USD"):convert(num("--price-cached", "price")),
    g:option("--stats-json", "Write the run's statistics to this file (JSON; - for standard output).")
      :argname("FILE"):convert(text "--stats-json"),
    g:flag("--no-cache", "Do not store the chapters' shared part (source, outline) as a cached content."),
    g:flag("--batch", "Send the chapters as one batch job: half the price, answers within 24 hours."),
    g:flag("--cancel", "With --batch: cancel the batch job this course's folder records, and stop."),
    has_export and cli_export.add_format_option(g) or nil
  )
  connection_options(g)
  g:epilog(M.environment())
  g:group("Limits",
    g:option("--concurrency", "Requests in flight at most (default " .. D.concurrency .. ").")
      :argname("N"):convert(int("--concurrency", "concurrency")),
    g:option("--rpm", "Requests per minute (default: the provider's tier; " .. provider_defaults("rpm")
      .. "; none for a server on this machine).")
      :argname("N"):convert(int("--rpm", "rpm")),
    g:option("--tpm", "Tokens per minute (default " .. provider_defaults("tpm") .. ").")
      :argname("N"):convert(int("--tpm", "tpm")),
    g:option("--rpd", "Requests per day (default " .. provider_defaults("rpd") .. ").")
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
  o:option("-o --output", "Write the outline to this file (.md, or .json) instead of stdout (- is stdout).")
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

  require("coursegen.cli.path").add_command(p)
  p:add_complete_command()
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
      if a == "generate" or a == "outline" or a == "validate" or a == "mock" or a == "export" or a == "path" then
        cmd = a
        break
      end
    end
    return nil, M.tidy(res), cmd
  end
  return res
end

return M
