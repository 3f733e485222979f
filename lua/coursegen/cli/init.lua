--- The `coursegen` command: parses the command line and runs a command.
-- Each command lives in its own module (`coursegen.cli.<command>`) whose `run(args, ctx)`
-- returns an exit code, or nil, a message and an exit code for an error the user can act
-- on. Errors print as `coursegen: error: <message>` on stderr; a Lua traceback only for an
-- internal error, and only with `--verbose`.
-- @module coursegen.cli
local M = {}

local options = require "coursegen.cli.options"

local type, tostring, xpcall, require = type, tostring, xpcall, require

--- Exit codes.
M.EXIT_OK, M.EXIT_FAILED, M.EXIT_USAGE, M.EXIT_INTERRUPTED = 0, 1, 2, 130

local COMMANDS = { generate = true, outline = true, validate = true, mock = true, export = true,
                   path = true, quota = true }

-- The one version string, without loading the library (see `coursegen.version`).
local function version()
  return require "coursegen.version"
end

--- Prints `coursegen: error: <message>` on the context's stderr.
-- @tparam table ctx
-- @tparam string msg
function M.error(ctx, msg)
  ctx.stderr:write("coursegen: error: ", tostring(msg), "\n")
  ctx.stderr:flush()
end

--- Runs the command line `argv` (a list of strings, as Lua's `arg`).
-- @tparam table argv
-- @tparam[opt] table ctx `{ stdout, stderr, env, prog }` (defaults: io.stdout, io.stderr,
--   os.getenv, `argv[0]`)
-- @treturn integer the exit code
function M.main(argv, ctx)
  argv = argv or {}
  ctx = ctx or {}
  ctx.stdout = ctx.stdout or io.stdout
  ctx.stderr = ctx.stderr or io.stderr
  ctx.env = ctx.env or os.getenv
  ctx.prog = ctx.prog or argv[0] or "coursegen"
  local list = {}
  for i = 1, #argv do list[i] = argv[i] end
  ctx.argv = list

  local args, err, cmd = options.parse(list, "coursegen", version())
  if not args then
    M.error(ctx, err)
    ctx.stderr:write("Run 'coursegen ", cmd and (cmd .. " ") or "", "--help' for usage.\n")
    return M.EXIT_USAGE
  end
  if not COMMANDS[args.command] then
    ctx.stderr:write(options.parser("coursegen", version()):get_usage(), "\n\n",
      "Run 'coursegen --help' for the commands and options.\n")
    return M.EXIT_USAGE
  end

  local verbose = args.verbose
  local trace
  local ok, code, msg, ecode = xpcall(function()
    return require("coursegen.cli." .. args.command).run(args, ctx)
  end, function(e)
    if type(e) == "table" and e.msg then return e end   -- a user error raised inside
    trace = debug.traceback(tostring(e), 2)
    return e
  end)
  if not ok then
    if type(code) == "table" and code.msg then
      M.error(ctx, code.msg)
      return code.code or M.EXIT_USAGE
    end
    local text = tostring(code)
    local head = text:match("^(.-)\nstack traceback:") or text
    M.error(ctx, "internal error: " .. head)
    if verbose and trace then
      ctx.stderr:write(trace, "\n")
    else
      ctx.stderr:write("Run again with --verbose for the traceback, and please report it.\n")
    end
    return M.EXIT_FAILED
  end
  if code == nil then
    M.error(ctx, msg or "failed")
    return ecode or M.EXIT_USAGE
  end
  return code
end

return M
