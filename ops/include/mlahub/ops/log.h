// Structured logs for the daemons (spdlog underneath): one event per line,
// either a JSON object {"ts":..., "level":..., "event":..., <fields>} or a
// text line "ts level event key=value ...". Event names are dotted, stable
// identifiers ("envelope.accepted", "agent.connected") that operators can
// alert on; fields are routing metadata only (ids, kinds, codes, sizes,
// durations): never payloads, personal data or secrets.
//
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "mlahub/core/status.h"
#include "mlahub/config/config.h"

namespace mlahub::ops {

enum class Level : uint8_t { kTrace, kDebug, kInfo, kWarn, kError };

struct Field {
  std::string_view key;
  std::variant<std::string_view, int64_t, uint64_t, double, bool> value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, int v) : key(k), value(int64_t{v}) {}
  Field(std::string_view k, long v) : key(k), value(int64_t{v}) {}
  Field(std::string_view k, long long v) : key(k), value(int64_t{v}) {}
  Field(std::string_view k, unsigned v) : key(k), value(uint64_t{v}) {}
  Field(std::string_view k, unsigned long v) : key(k), value(uint64_t{v}) {}
  Field(std::string_view k, unsigned long long v) : key(k), value(uint64_t{v}) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
};

// Sets up the process-wide logger from the [log] section; `program` is added
// to every line ("mlahub-broker"). kInvalidArgument for an unknown level or
// format, kIoError if the file cannot be opened. Before InitLogging, logs go
// to stderr as JSON at info.
Status InitLogging(const config::LogConfig& config, std::string_view program);

void Log(Level level, std::string_view event, std::initializer_list<Field> fields = {});
inline void Info(std::string_view event, std::initializer_list<Field> f = {}) { Log(Level::kInfo, event, f); }
inline void Warn(std::string_view event, std::initializer_list<Field> f = {}) { Log(Level::kWarn, event, f); }
inline void Error(std::string_view event, std::initializer_list<Field> f = {}) { Log(Level::kError, event, f); }
inline void Debug(std::string_view event, std::initializer_list<Field> f = {}) { Log(Level::kDebug, event, f); }
bool Enabled(Level level);
void FlushLogs();
// Opens the [log] file again by its name (after logrotate moved it away: the
// daemons call this on SIGHUP); lines from then on go to the new file. No-op
// when logging to standard error. kIoError if it cannot be opened (logging
// then goes on to the old file).
Status ReopenLogs();
// ReopenLogs on SIGHUP (logrotate's postrotate), logged as log.reopened or
// log.reopen_failed.
void ReopenLogsAndLog();

}  // namespace mlahub::ops
