std = "lua54"
max_line_length = 120
exclude_files = { "bench/node_modules/**", "build/**", "build-*/**", "out/**", "spec/fixtures/bad/**" }
files["spec/**/*_spec.lua"] = { std = "+busted" }
files["spec/helpers.lua"] = { std = "+busted" }
files[".busted"] = { std = "lua54" }
