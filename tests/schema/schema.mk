# tests/schema/schema.mk -- the schema is the source: adding a field is a
# regeneration, not a hunt.
#
#   make check-generated-c  the committed output of lib/gen/protoc-gen-aiw.py
#                           is what it makes of idl/ai_service.proto today
#   make test-schema        that, then a copy of the tree with two fields
#                           added to idl/ai_service.proto (and no other file
#                           edited) is rebuilt, and the fields are seen
#                           through the C getters, in the Go structs and in
#                           `aiw --json` (tests/schema/run.sh)
# Both end with `N passed, M failed`.

.PHONY: check-generated-c test-schema
check-generated-c: | $(DEPS_STAMP)
	@bash tests/schema/check_generated.sh $(LIB_VERSION) $(AIW_GEN_FILES)

test-schema: | $(DEPS_STAMP)
	@MAKE="$(MAKE)" LIB_VERSION=$(LIB_VERSION) AIW_GEN_FILES="$(AIW_GEN_FILES)" PYTHON=$(PYTHON_GRPC) \
	  AIW_GOCACHE=$(abspath $(BUILD))/cgo/gocache bash tests/schema/run.sh
