--- `coursegen mock`: runs the bundled mock LLM server in the foreground until Ctrl-C or
-- SIGTERM. Its first line on stdout is `listening on http://127.0.0.1:PORT`.
-- @module coursegen.cli.mock
local M = {}

--- Runs the command.
-- @tparam table args parsed command line
-- @treturn integer|nil exit code, or nil, a message and an exit code
function M.run(args)
  local ok, mock = pcall(require, "coursegen.mock")
  if not ok then
    return nil, "the mock server is not available in this build: " .. tostring(mock), 1
  end
  if args.faults then
    local fok, err = pcall(mock.parse_faults, args.faults)
    if not fok then return nil, tostring(err), 2 end
  end
  local opts = {
    port = args.port or 0,
    latency_ms = args.latency_ms or 0,
    jitter_ms = args.jitter_ms or 0,
    rpm = args.rpm, tpm = args.tpm, burst = args.burst,
    answer_words = args.answer_words,
    faults = args.faults,
    seed = args.seed,
    api_key = args.api_key,
  }
  io.stdout:setvbuf("line")
  local ok2, err = pcall(mock.run, opts)
  if not ok2 then return nil, tostring(err):gsub("^.-:%d+: ", ""), 1 end
  return 0
end

return M
