--- The version of coursegen, alone in a module so `coursegen --version` and `--help` can
-- print it without loading the library (and with it the C core).
-- @module coursegen.version
return "0.1.0"
