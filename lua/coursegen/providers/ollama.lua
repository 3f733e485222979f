--- Ollama (a model server on this machine) through its OpenAI-compatible API: the `openai`
-- dialect with Ollama's address, a small model Ollama users commonly have, no key and no
-- client-side limits (a local server publishes no quota).
-- @module coursegen.providers.ollama
local openai = require "coursegen.providers.openai"

local M = setmetatable({ name = "ollama" }, { __index = openai })

--- Defaults for this provider (see `coursegen.providers.gemini.defaults`).
M.defaults = {
  model = "llama3.2",
  base_url = "http://localhost:11434/v1",
  key_env = {},
}

--- Ollama ignores keys; a proxy in front of it may want one (`--api-key-env`).
-- @treturn boolean false
function M.needs_key()
  return false
end

return M
