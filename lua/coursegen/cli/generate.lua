--- `coursegen generate`: writes a course, with a progress display and a final summary.
-- Exit codes: 0 every chapter written or skipped; 1 some failed after their retries, or
-- the shared limiter (`--limiter`) failed and the run stopped; 2 bad input, usage or
-- credentials, or an output folder coursegen does not own or another run is writing into
-- (the message names that run's pid); 130 interrupted (what finished is kept).
-- A limiter failure shares code 1 on purpose: as with failed chapters, what finished is
-- kept and the same command run again writes only the rest, so a script's handling of 1
-- (report, rerun later) is right for it too; the message names the Redis URL.
-- @module coursegen.cli.generate
local M = {}

--- Exit status of a run stopped because the day's request quota (`--rpd`) is spent.
M.EXIT_QUOTA = 3

local cli_course = require "coursegen.cli.course"
local settings = require "coursegen.cli.settings"
local progress = require "coursegen.cli.progress"
local summary = require "coursegen.cli.summary"
local fmt = require "coursegen.cli.format"
local lib_settings = require "coursegen.settings"

local type, tostring, string_format = type, tostring, string.format

--- What the user should check for an error: the key for a refused key (401, 403, or
-- Gemini's 400 API_KEY_INVALID), the model and base URL for 400/404, `--tpm` for a request
-- larger than the token budget.
-- @tparam string err the pipeline's message (it quotes the server)
-- @tparam table s settings
-- @treturn string|nil the hint, starting with "check" or "raise"; nil when there is none
function M.hint(err, s)
  err = tostring(err)
  local code = err:match("%f[%d](4%d%d)%f[%D]")
  local key_var = s.key_source or s.api_key_env
  if not key_var then
    local names = lib_settings.provider(s.provider).defaults.key_env
    key_var = #names == 0 and "--api-key-env" or names[1]
    if #names > 1 then key_var = key_var .. " (or " .. table.concat(names, ", ", 2) .. ")" end
  end
  if code == "401" or code == "403" or err:find("API key", 1, true) or err:find("API_KEY", 1, true) then
    return string_format("check the API key in %s (or choose the variable with --api-key-env)"
      .. " and that it is meant for %s", key_var, s.base_url)
  elseif code == "400" then
    return string_format("check --model (now %s), --provider (now %s) and the key in %s",
      s.model, s.provider, key_var)
  elseif code == "404" and s.provider == "ollama" then
    return string_format("check --model (now %s: 'ollama pull %s' fetches it) and --base-url (now %s)",
      s.model, s.model, s.base_url)
  elseif code == "404" then
    return string_format("check --model (now %s) and --base-url (now %s)", s.model, s.base_url)
  elseif err:find("tokens/min", 1, true) then
    return string_format("raise --tpm (now %s) to at least the size of one request", tostring(s.tpm))
  end
  return nil
end

--- An error message with its hint appended, if there is one.
-- @tparam string err
-- @tparam table s settings
-- @treturn string
function M.explain(err, s)
  local hint = M.hint(err, s)
  return hint and (tostring(err) .. "; " .. hint) or tostring(err)
end

--- The export formats asked for besides Markdown (nil when only Markdown).
-- @param value `--format`: a list (already checked by the parser) or a string
-- @treturn table|nil list of formats, or nil and a message
function M.formats(value)
  if value == nil then return nil end
  local list = value
  if type(value) == "string" then
    local err
    list, err = require("coursegen.cli.export").parse_formats(value)
    if not list then return nil, err end
  end
  for _, f in ipairs(list) do
    if f ~= "md" then return list end
  end
  return nil
end

--- Checks that every chapter named by `--only` exists in the course.
-- @param only list of numbers or nil
-- @tparam table course
-- @treturn boolean|nil true, or nil and a message
function M.check_only(only, course)
  if not only then return true end
  local n = cli_course.chapter_count(course)
  if not n then return true end
  for _, i in ipairs(only) do
    if i > n then
      return nil, string_format("--only: there is no chapter %d; the course has %s", i,
        n == 1 and "1 chapter" or (n .. " chapters"))
    end
  end
  return true
end

--- Checks, before anything is sent, that a file can be written where `path` says.
-- A file inside the output folder passes while that folder does not exist yet: the run
-- creates it first (`--out o --stats-json o/stats.json` on a first run).
-- @tparam string path
-- @tparam[opt] string out the run's output folder
-- @treturn boolean|nil true, or nil and a message naming the file
function M.check_writable(path, out)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local function norm(p) return (p:gsub("/+$", ""):gsub("^%./", "")) end
  if out and norm(dir) == norm(out) and require("lfs").attributes(dir, "mode") == nil then return true end
  local probe = string_format("%s/.coursegen-probe-%d", dir, math.random(1, 1e9))
  local f, err = io.open(probe, "wb")
  if not f then
    return nil, string_format("--stats-json: cannot write %s: %s", path,
      tostring(err):gsub("^[^:]*: ", ""))
  end
  f:close()
  os.remove(probe)
  return true
end

--- The command that resumes a run: the same command line without `--force` (which would
-- throw away what this run finished), the limiter's password masked.
-- @tparam string prog
-- @tparam table argv
-- @treturn string
function M.resume_command(prog, argv)
  local args = {}
  for _, a in ipairs(require("coursegen.cli.limiter_url").mask_argv(argv)) do
    if a ~= "--force" then args[#args + 1] = a end
  end
  return fmt.command_line(prog, args)
end

local function count_failures(stats)
  local ch = type(stats) == "table" and type(stats.chapters) == "table" and stats.chapters or {}
  return ch.failed or 0
end

--- Runs the command.
-- @tparam table args parsed command line
-- @tparam table ctx `{ stdout, stderr, env, prog, argv }`
-- @treturn integer|nil exit code, or nil, a message and an exit code
function M.run(args, ctx)
  local cg = require "coursegen"
  local course, file_options = cli_course.build(args, cg)
  if not course then return nil, file_options, 2 end
  if args.limiter and require("coursegen.cli.limiter_url").has_password(args.limiter) then
    ctx.stderr:write("coursegen: warning: the --limiter URL carries a password, which other users of"
      .. " this machine can see; pass it with --limiter-file or COURSEGEN_LIMITER instead\n")
  end
  local ok, cerr = M.check_only(args.only, course)
  if not ok then return nil, cerr, 2 end
  local s, err = settings.resolve(course, args, {
    env = ctx.env, file_options = file_options, need_key = not args.dry_run,
    extra = { force = args.force or nil, only = args.only, catch_signals = true,
              no_backup = args.no_backup or nil,
              cache = not args.no_cache, batch = args.batch or nil, batch_cancel = args.cancel or nil,
              inputs = args.course_file and { args.course_file } or nil },
  })
  if not s then return nil, err, 2 end
  if args.stats_json and args.stats_json ~= "-" and not args.dry_run then
    ok, cerr = M.check_writable(args.stats_json, s.out)
    if not ok then return nil, cerr, 2 end
  end
  if args.cancel and not args.batch then return nil, "--cancel goes with --batch (it cancels a batch job)", 2 end
  local formats, ferr = M.formats(args.format)
  if ferr then return nil, "--format: " .. tostring(ferr), 2 end

  if args.dry_run then
    return require("coursegen.cli.dryrun").run(cg, course, s, args, ctx)
  end

  local display = progress.new {
    stream = ctx.stderr, quiet = args.quiet, no_progress = args.no_progress,
    verbose = args.verbose,
  }
  s.on_event = display:handler()
  local log
  if args.log_file then
    local lerr
    log, lerr = require("coursegen.cli.eventlog").open(args.log_file, s)
    if not log then return nil, lerr, 2 end
    s.on_event = log:handler(s.on_event)
  end

  local stats, gerr, kind = cg.generate(course, s)
  display:finish()
  if log then log:close(stats, gerr) end
  if not stats then
    if kind == "auth" then return nil, M.explain(gerr, s), 2 end
    if kind == "input" or kind == "busy" then return nil, gerr, 2 end
    -- the day's quota (--rpd) is spent: a status of its own, so a script can wait and rerun
    if kind == "quota" then return nil, gerr, M.EXIT_QUOTA end
    return nil, M.explain(gerr, s), 1
  end

  if stats.batch_cancelled then
    ctx.stderr:write("Cancelled batch job ", table.concat(stats.batch_cancelled, ", "),
      "; its chapters are not written (run without --cancel to send them again).\n")
    return 0
  end
  if args.stats_json then
    local written, werr = summary.write_json(args.stats_json, stats, ctx.stdout)
    if not written then
      ctx.stderr:write("coursegen: error: ", werr, "\n")
    end
  end
  local lines = summary.lines(stats, {
    failures = display.failures,
    resume = M.resume_command(ctx.prog, ctx.argv),
    paint = display.paint,
    price = not (lib_settings.is_loopback(s.base_url) and not (s.price_in or s.price_out))
      and require("coursegen.prices").resolve(s.model, s.price_in, s.price_out, s.price_cached) or nil,
  })
  ctx.stderr:write(table.concat(lines, "\n"), "\n")
  -- a refused key or a bad request will fail every rerun too: say what to check
  for _, f in ipairs(display.failures) do
    if M.hint(f.reason, s) then
      ctx.stderr:write("coursegen: error: ", M.explain(f.reason, s), "\n")
      break
    end
  end
  ctx.stderr:flush()
  if stats.interrupted then return 130 end
  local failed = count_failures(stats) > 0
  if formats and not failed then
    local code = require("coursegen.cli.export").export_folder(stats.out, formats, { quiet = args.quiet },
      { stdout = ctx.stderr, stderr = ctx.stderr })
    if code ~= 0 then return code end
  end
  if failed then return 1 end
  return 0
end

return M
