// service_config.cc -- validates a service config with gRPC's own parser.
//
// gRPC core refuses a bad service config only by turning the channel into
// a "lame" one whose calls fail with a generic message, and logs the reason
// to stderr. grpc++'s ValidateServiceConfigJSON runs the same parser and
// returns the reason, so aiw_client_new can refuse with it. This is the
// only C++ in libaiw; nothing C++ crosses the ABI.
#include <cstring>
#include <string>

#include <grpcpp/support/validate_service_config.h>

extern "C" int aiw__service_config_check(const char *json, char *reason, size_t cap);

int aiw__service_config_check(const char *json, char *reason, size_t cap) {
  std::string why;
  try {
    why = grpc::experimental::ValidateServiceConfigJSON(json);
  } catch (...) {
    why = "out of memory validating the service config";
  }
  if (why.empty()) return 1;
  if (cap > 0) {
    size_t n = why.size() < cap - 1 ? why.size() : cap - 1;
    std::memcpy(reason, why.data(), n);
    reason[n] = '\0';
  }
  return 0;
}
