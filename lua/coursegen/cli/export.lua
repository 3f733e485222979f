--- The `export` command, and the `--format` option of `generate`.
--
-- `coursegen export DIR --format html,epub` converts an existing course folder; nothing is
-- sent to any model. Like every command module, `run(args, ctx)` returns an exit code, or
-- nil, a message and an exit code: 1 when a conversion failed, 2 for bad input (not a
-- course folder, a missing chapter file, pandoc not installed; nothing written then).
-- An unknown `--format` is a usage error found while parsing the command line.
-- @module coursegen.cli.export
local M = {}

local export = require "coursegen.export"
local io, type, error, ipairs, concat = io, type, error, ipairs, table.concat

local EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

local FORMAT_HELP = "Output formats, comma-separated: " .. concat(export.FORMATS, ", ") .. ", or all"

--- Parse and validate a `--format` value.
-- @tparam string str e.g. `"md,html,epub"`
-- @treturn table|nil list of format names
-- @treturn string error naming the unknown format and listing the valid ones
function M.parse_formats(str)
  if type(str) ~= "string" then
    error(("argument 1 expected a 'string', got a '%s'"):format(type(str)), 2)
  end
  return export.parse_formats(str)
end

--- Add `--format LIST` to a lua-argparse command. The value is checked while parsing (an
-- unknown format is a usage error naming it) and arrives as a list of format names.
-- @param cmd a lua-argparse parser or command
-- @tparam[opt="md"] string default
-- @return the option
function M.add_format_option(cmd, default)
  default = default or "md"
  return cmd:option("--format", FORMAT_HELP .. ".", default)
    :argname("LIST")
    :convert(function(s) return export.parse_formats(s) end)
end

--- Add the `export` command to a lua-argparse parser.
-- @param parser the top-level parser
-- @return the new command
function M.add_command(parser)
  local cmd = parser:command("export",
    "Convert a course folder to HTML, EPUB, DOCX or an mdBook; send nothing.")
    :usage("Usage: coursegen export DIR [--format LIST] [--out DIR] [--pandoc PATH] [--quiet]")
  cmd:argument("DIR", "Course folder, the one holding course.json."):target("dir")
  M.add_format_option(cmd, "html")
  cmd:option("--out", "Write the exports into this folder (default: the course folder).")
    :argname("DIR")
  cmd:option("--pandoc", "The pandoc program (default: $PANDOC, or pandoc on PATH).")
    :argname("PATH")
  cmd:flag("-q --quiet", "Print nothing but errors.")
  return cmd
end

local function as_list(formats)
  if type(formats) == "string" then return export.parse_formats(formats) end
  if type(formats) == "table" then return formats end
  error(("formats expected a string or a list, got a '%s'"):format(type(formats)), 3)
end

--- Export a course folder and print one line per file written (for `export`, and for
-- `generate --format`).
-- @tparam string dir the course folder
-- @tparam string|table formats a `--format` value or a list of format names
-- @tparam[opt] table opts `{out, pandoc, quiet}`
-- @tparam[opt] table ctx `{stdout}` (default io.stdout)
-- @treturn[1] number 0
-- @treturn[2] nil
-- @treturn[2] string message
-- @treturn[2] number exit code: 2 bad input (nothing written), 1 a conversion failed
function M.export_folder(dir, formats, opts, ctx)
  opts, ctx = opts or {}, ctx or {}
  local stdout = ctx.stdout or io.stdout
  local list, ferr = as_list(formats)
  if not list then return nil, ferr, EXIT_USAGE end
  local plan, perr = export.check(dir, list, { out = opts.out, pandoc = opts.pandoc })
  if not plan then return nil, perr, EXIT_USAGE end
  local results, rerr, done = export.run_plan(plan)
  for _, r in ipairs(results or done or {}) do
    if not opts.quiet and r.format ~= "md" then
      stdout:write(("%-7s %s\n"):format(r.format, r.path))
    end
  end
  if not results then return nil, rerr, EXIT_FAILED end
  return EXIT_OK
end

--- Run the `export` command.
-- @tparam table args parsed arguments: `dir`, `format`, `out`, `pandoc`, `quiet`
-- @tparam[opt] table ctx `{stdout, stderr}`
-- @return as `export_folder`
function M.run(args, ctx)
  if type(args) ~= "table" then error("argument 1 expected the parsed arguments", 2) end
  if type(args.dir) ~= "string" or args.dir == "" then
    return nil, "missing the course folder (coursegen export DIR)", EXIT_USAGE
  end
  return M.export_folder(args.dir, args.format or "html",
    { out = args.out, pandoc = args.pandoc, quiet = args.quiet }, ctx)
end

return M
