# examples/aiw/aiw.mk -- the `aiw` CLI (build/bin/aiw), its man page, `make demo`
# and `make test-cli`. Included by the top-level Makefile.
#
# aiw is built as an outside program would be: against include/aiw.h only and
# linked through the in-tree pkg-config file (whose Libs carry an rpath to
# build/lib), plus jansson for JSON.

AIW_CLI      := $(BUILD)/bin/aiw
AIW_CLI_SRCS := $(sort $(wildcard examples/aiw/*.c))
AIW_CLI_HDRS := $(wildcard examples/aiw/*.h) include/aiw.h
AIW_CLI_OBJS := $(patsubst examples/aiw/%.c,$(BUILD)/obj/aiw/%.o,$(AIW_CLI_SRCS))

# Recursive: pkg-config may only work once $(DEPS_STAMP) and $(LIB_PC) exist.
AIW_PKG_CONFIG  = PKG_CONFIG_PATH=$(abspath $(BUILD))/lib/pkgconfig$${PKG_CONFIG_PATH:+:$$PKG_CONFIG_PATH} $(PKG_CONFIG)
AIW_CLI_CFLAGS  = $(CSTD) $(OPT) $(WARNINGS) $(shell $(AIW_PKG_CONFIG) --cflags aiw jansson)
AIW_CLI_LIBS    = $(shell $(AIW_PKG_CONFIG) --libs aiw jansson) -lpthread

.PHONY: aiw-cli install-cli test-cli demo
all: $(AIW_CLI)
aiw-cli: $(AIW_CLI)

$(BUILD)/obj/aiw/%.o: examples/aiw/%.c $(AIW_CLI_HDRS) $(LIB_PC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(AIW_CLI_CFLAGS) -c $< -o $@

$(AIW_CLI): $(AIW_CLI_OBJS) $(LIB_SO_LINK) $(LIB_PC)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(AIW_CLI_OBJS) $(AIW_CLI_LIBS)

# The installed aiw must not load build/lib (the in-tree .pc carries that
# rpath): it is relinked with a relocatable RUNPATH, $ORIGIN/../lib, i.e.
# $(PREFIX)/lib next to $(PREFIX)/bin, which also works under DESTDIR.
AIW_CLI_INSTALLED := $(BUILD)/install/bin/aiw
$(AIW_CLI_INSTALLED): $(AIW_CLI_OBJS) $(LIB_SO_LINK)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $(AIW_CLI_OBJS) -L$(LIB_DIR) -Wl,-rpath,'$$ORIGIN/../lib' -laiw \
		$(shell $(PKG_CONFIG) --libs jansson) -lpthread

install-cli: $(AIW_CLI_INSTALLED)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(AIW_CLI_INSTALLED) $(DESTDIR)$(PREFIX)/bin/aiw
	install -m 644 examples/aiw/aiw.1 $(DESTDIR)$(PREFIX)/share/man/man1/aiw.1
install: install-cli

# The CLI against the reference AI service; ends with "N passed, M failed".
test-cli: $(AIW_CLI)
	@AIW=$(abspath $(AIW_CLI)) PYTHON=$(PYTHON_GRPC) bash tests/cli/run.sh

# One of each RPC against the reference service, the chat streaming visibly.
demo: $(AIW_CLI)
	@AIW=$(abspath $(AIW_CLI)) PYTHON=$(PYTHON_GRPC) bash examples/aiw/demo.sh
