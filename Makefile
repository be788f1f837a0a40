# Kiln's one Makefile.  `make` builds kilnd; `make run` installs what is
# missing and starts it; `make test` installs test dependencies and runs every
# test; `make check` runs them again under ASan+UBSan plus cppcheck;
# `make bench` and `make fuzz` measure and fuzz.  Generated code (protobuf-c
# from Debian's onnx.proto, embedded migrations and web assets) goes to
# $(BUILD)/gen and is never committed.

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
SAN      ?=
PKGS     := libmicrohttpd libcjson libarchive libturbojpeg sqlite3 inih \
            libprotobuf-c libpng libcrypto
TESTPKGS := libcurl
# Read when make starts: a target that installs packages first (run, test,
# check, bench, fuzz) builds in a second make, which sees the new packages.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
PKG_OK     := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)
TEST_LIBS  := $(shell pkg-config --libs $(TESTPKGS) 2>/dev/null)

CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -g $(SAN) \
            -MMD -MP -I. -I$(BUILD)/gen \
            $(PKG_CFLAGS)
LDLIBS   := $(PKG_LIBS) -lpthread -lm
LDFLAGS  := $(SAN)

ONNX_PROTO ?= /usr/include/onnx/onnx.proto
GEN_SRC  := $(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/migrations.c $(BUILD)/gen/webui_assets.c
LIB_SRC  := $(sort $(wildcard runtime/*.c conversion/*.c deploy/*.c server/*.c))
LIB_SRC  := $(filter-out server/main.c,$(LIB_SRC))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(GEN_SRC:$(BUILD)/gen/%.c=$(BUILD)/obj/gen/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c tests/integration/test_*.c))
TEST_BIN := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(TEST_SRC)))
KT_OBJ   := $(BUILD)/obj/tests/lib/kt.o $(BUILD)/obj/tests/lib/kt_server.o
WEBUI    := $(sort $(wildcard webui/*.html webui/*.css webui/*.js webui/*.svg webui/*/*.js))
# The API description rides along: GET /api/v1/openapi.json (routes_ui.c).
WEBUI    += schema/openapi.json
# And the board's pull script: GET /api/v1/pull/kiln-pull.sh (routes_ui.c).
WEBUI    += deploy/kiln-pull.sh

# Keep intermediate objects: two makes in one tree must not delete each
# other's .o files between compile and link.
.SECONDARY:

.PHONY: all run test check bench fuzz clean deps test-deps tests-build pkg-check FORCE
all: $(BUILD)/kilnd

# A plain `make` on a machine without the -dev packages says what to do
# instead of failing on the first missing header.
pkg-check:
ifneq ($(PKG_OK)$(wildcard $(ONNX_PROTO)),yes$(ONNX_PROTO))
	@echo "kiln: the build needs Debian packages that are missing; run 'make deps' (as root) or 'make run'" >&2
	@bash deploy/install-deps.sh list >&2
	@exit 1
endif

deps:
	@bash deploy/install-deps.sh run

test-deps:
	@bash deploy/install-deps.sh test
	@$(MAKE) --no-print-directory node_modules/.package-lock.json

# The browser tests' one npm package (playwright-core), pinned by
# package-lock.json; kilnd and the dashboard themselves need no Node.
# 1.61.1 is the newest playwright-core that runs on Debian bookworm's
# nodejs 18 (its lib/bootstrap.js: minimumMajorNodeVersion = 18; 1.62 wants
# 20).  A failed `npm ci` does not stop the suite: the browser test then
# fails loudly, naming what is missing, and counts as a failure.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error || \
		echo "kiln: npm ci failed: the browser tests will fail (see above)" >&2

# --- generated sources -------------------------------------------------------
# One protoc-c run makes both files (a grouped target, GNU make 4.3).
$(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h &: $(wildcard $(ONNX_PROTO)) | pkg-check
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -I$(dir $(ONNX_PROTO)) $(notdir $(ONNX_PROTO))

# A removed file changes no prerequisite's time, so each embed also depends
# on a list of its files that is rewritten only when the list changes.
MIGRATIONS := $(sort $(wildcard schema/*.sql))
$(BUILD)/gen/%.list: FORCE
	@mkdir -p $(@D)
	@echo '$(if $(filter migrations,$*),$(MIGRATIONS),$(WEBUI))' | cmp -s - $@ || \
		echo '$(if $(filter migrations,$*),$(MIGRATIONS),$(WEBUI))' > $@
FORCE:

$(BUILD)/gen/migrations.c: $(MIGRATIONS) $(BUILD)/gen/migrations.list runtime/embed.sh
	@mkdir -p $(BUILD)/gen
	sh runtime/embed.sh migrations $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/webui_assets.c: $(WEBUI) $(BUILD)/gen/webui_assets.list runtime/embed.sh
	@mkdir -p $(BUILD)/gen
	sh runtime/embed.sh webui_assets $(WEBUI) > $@.tmp && mv $@.tmp $@

# Layers show in the includes ("runtime/blob.h", one -I.); the tests' own
# library (tests/lib) is on the include path of test objects only.
$(BUILD)/obj/tests/%.o: CFLAGS += -Itests/lib

# Every object may include the generated protobuf header.
$(LIB_OBJ) $(KT_OBJ): | $(BUILD)/gen/onnx.pb-c.h

# --- objects and binaries ----------------------------------------------------
$(BUILD)/obj/%.o: %.c | pkg-check
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Werror -Wextra,$(CFLAGS)) -c $< -o $@

$(BUILD)/libkiln.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/kilnd: $(BUILD)/obj/server/main.o $(BUILD)/libkiln.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(KT_OBJ) $(BUILD)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(KT_OBJ) $(BUILD)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LIBS)

# Small command-line tools the tests and benchmarks drive (tests/tools/*.c).
TOOL_BIN := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(sort $(wildcard tests/tools/*.c)))
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(BUILD)/libkiln.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests-build: $(BUILD)/kilnd $(TEST_BIN) $(TOOL_BIN)

# --- the README's commands ---------------------------------------------------
# `make run` passes no --listen/--data-dir: kilnd's own defaults
# (127.0.0.1:8080, ./var) apply unless kiln.ini sets them.
KILN_CONFIG ?= $(wildcard kiln.ini)
run: deps
	@$(MAKE) --no-print-directory $(BUILD)/kilnd
	./$(BUILD)/kilnd $(if $(KILN_CONFIG),--config $(KILN_CONFIG))

test: test-deps
	@$(MAKE) --no-print-directory tests-build
	@BUILD=$(BUILD) bash tests/run.sh

check: test-deps
	@# gcc 12 reports null-format and bounds false positives once the
	@# sanitizers instrument -O1 code; they stay warnings there, errors elsewhere.
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -Wno-error=format-overflow -Wno-error=array-bounds" \
		tests-build
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--inline-suppr --std=c11 -D_GNU_SOURCE -I. \
		runtime conversion deploy server
	@# no layer includes one above it, every include names its folder
	/usr/bin/python3 tests/tools/check_layers.py
	@BUILD=build-asan UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ASAN_OPTIONS=detect_leaks=1 bash tests/run.sh

# The benches drive kilnd and the tools (bundle_add, calib, bench_jobs,
# onnx_inspect_cli); a second make builds them after test-deps installed
# what they need, so a clean clone runs `make bench` as it is.
bench: test-deps
	@$(MAKE) --no-print-directory $(BUILD)/kilnd $(TOOL_BIN)
	@BUILD=$(BUILD) bash tests/bench/run.sh

fuzz: test-deps $(BUILD)/gen/onnx.pb-c.c $(BUILD)/kilnd $(BUILD)/tools/onnx_inspect_cli
	@BUILD=$(BUILD) bash tests/fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
