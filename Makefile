# coursegen: build, test and check from a source checkout.
# Variable names follow LuaRocks' conventions so `luarocks make` and this file agree.

LUA         ?= lua5.4
PKG_CONFIG  ?= pkg-config
LUA_PC      ?= lua5.4
CC          ?= cc
BUILD       ?= build

# Asked of pkg-config when a compile needs them, not when make reads this file: on a fresh
# machine `make demo` installs the -dev packages first (deps-runtime), then builds.
LUA_CFLAGS   = $(shell $(PKG_CONFIG) --cflags $(LUA_PC) 2>/dev/null)
CURL_INCDIR ?= $(shell $(PKG_CONFIG) --variable=includedir libcurl 2>/dev/null)
CURL_LIBDIR ?= $(shell $(PKG_CONFIG) --variable=libdir libcurl 2>/dev/null)
CRYPTO_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcrypto 2>/dev/null)
CRYPTO_LIBS   = $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)

OPT         ?= -O2 -g
WARN        := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS      ?= $(OPT)
ALL_CFLAGS   = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) $(CFLAGS) \
               $(SANFLAGS) $(LUA_CFLAGS) $(CRYPTO_CFLAGS) -I$(CURL_INCDIR) -Icsrc
LIBFLAG     ?= -shared
LDLIBS_CORE  = -L$(CURL_LIBDIR) -lcurl -lhiredis -lutf8proc $(CRYPTO_LIBS) -lpthread -lm
LDLIBS_MOCK  = -lpthread -lm

CORE_SRC    := $(sort $(wildcard csrc/cg_*.c))
MOCK_SRC    := $(sort $(wildcard csrc/mock/*.c))
CORE_OBJ    := $(CORE_SRC:csrc/%.c=$(BUILD)/obj/%.o)
MOCK_OBJ    := $(MOCK_SRC:csrc/%.c=$(BUILD)/obj/%.o)
CORE_SO     := $(BUILD)/coursegen/core.so
MOCK_SO     := $(BUILD)/coursegen/mockserver.so

BUSTED      ?= $(LUA) $(shell command -v busted 2>/dev/null || echo /usr/bin/busted)

PREFIX      ?= /usr/local
INST_LUADIR ?= $(PREFIX)/share/lua/5.4
INST_LIBDIR ?= $(PREFIX)/lib/lua/5.4
INST_BINDIR ?= $(PREFIX)/bin

.PHONY: all build deps deps-runtime deps-export rock test check check-all lint cppcheck asan tsan valgrind reliability fuzz soak demo bench install uninstall clean

all: build
build: $(CORE_SO) $(MOCK_SO)

$(BUILD)/obj/%.o: csrc/%.c $(wildcard csrc/*.h csrc/mock/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(CORE_SO): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) $(SANFLAGS) -o $@ $^ $(LDLIBS_CORE)

$(MOCK_SO): $(MOCK_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) $(SANFLAGS) -o $@ $^ $(LDLIBS_MOCK)

# Debian packages, by job (.ci/deps.sh lists them); each is a no-op when they are there.
# deps-runtime: build and write a course; deps-export: export and --source conversion;
# deps: those and everything the suite and the checks need.
deps-runtime:
	@bash .ci/deps.sh runtime
deps-export:
	@bash .ci/deps.sh export
deps:
	@bash .ci/deps.sh runtime export test

# Each target that installs packages builds in a second make, which reads the -dev
# packages' pkg-config files only once they are there.
test: deps
	@$(MAKE) --no-print-directory build
	$(BUSTED) --run=all

lint:
	luacheck lua bin/coursegen spec examples bench

cppcheck:
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,style,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Icsrc -Icsrc/mock csrc fuzz

# The suite again with the C modules built under AddressSanitizer and UBSan.
asan:
	@bash .ci/sanitize.sh asan

# The engine's stress spec with the C modules built under ThreadSanitizer.
tsan:
	@bash .ci/sanitize.sh tsan

valgrind: build
	@bash .ci/sanitize.sh valgrind

# Fault matrix, crash-and-resume, hostile servers and inputs, secrets, load (issue-sized, slower).
# The load spec keeps 1,000 transfers open on both sides of loopback in one process: raise
# a low soft limit on open files where the hard limit allows (the spec is pending otherwise).
RAISE_NOFILE = [ "$$(ulimit -n)" = unlimited ] || [ "$$(ulimit -n)" -ge 4096 ] || ulimit -n 4096 2>/dev/null;

reliability: build
	$(RAISE_NOFILE) $(BUSTED) --run=reliability

# Each C parser's fuzzing target, for a bounded time (FUZZ_SECONDS each).
fuzz:
	@bash fuzz/run.sh $(or $(FUZZ_SECONDS),30)

# Ten minutes of load through one engine; not part of CI.
soak: deps
	@$(MAKE) --no-print-directory build
	$(RAISE_NOFILE) $(BUSTED) --run=soak

check: deps
	@$(MAKE) --no-print-directory check-all
check-all: build lint cppcheck reliability fuzz asan tsan valgrind

demo: deps-runtime
	@$(MAKE) --no-print-directory build
	@bash examples/demo/run.sh

bench: deps
	@$(MAKE) --no-print-directory build
	@bash bench/run.sh $(if $(QUICK),--quick)

# A binary rock in build/, made with Debian's luarocks (which targets Lua 5.1 unless told)
# from a copy of the tracked files, so LuaRocks' in-place objects stay out of the tree.
# Install it with: luarocks --lua-version 5.4 install --deps-mode=none build/coursegen-*.rock
LUAROCKS    ?= luarocks --lua-version 5.4
rock: deps-runtime
	@rm -rf $(BUILD)/rock && mkdir -p $(BUILD)/rock/src
	@if command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1; then \
	  git ls-files -z | tar --null -T - -cf - | tar -xf - -C $(BUILD)/rock/src; \
	else tar --exclude=./build* --exclude=./out -cf - . | tar -xf - -C $(BUILD)/rock/src; fi
	cd $(BUILD)/rock/src && $(LUAROCKS) make --pack-binary-rock --deps-mode=none coursegen-dev-1.rockspec \
	  CURL_INCDIR="$(CURL_INCDIR)" CURL_LIBDIR="$(CURL_LIBDIR)"
	@mv $(BUILD)/rock/src/*.rock $(BUILD)/ && rm -rf $(BUILD)/rock && ls $(BUILD)/*.rock

install: build
	install -d $(DESTDIR)$(INST_LUADIR)/coursegen $(DESTDIR)$(INST_LIBDIR)/coursegen $(DESTDIR)$(INST_BINDIR)
	cd lua && find coursegen -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(INST_LUADIR)/{} \;
	install -m 755 $(CORE_SO) $(MOCK_SO) $(DESTDIR)$(INST_LIBDIR)/coursegen/
	install -m 755 bin/coursegen $(DESTDIR)$(INST_BINDIR)/coursegen

uninstall:
	rm -rf $(DESTDIR)$(INST_LUADIR)/coursegen $(DESTDIR)$(INST_LIBDIR)/coursegen $(DESTDIR)$(INST_BINDIR)/coursegen

clean:
	rm -rf $(BUILD) build-asan build-tsan
