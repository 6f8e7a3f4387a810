// Structured logging over spdlog (used only here). Each event is formatted
// into a complete line here (JSON via nlohmann::json, or text) and handed to
// spdlog with the pattern "%v", so spdlog only does the thread-safe writing.
#include "mlahub/ops/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "mlahub/core/clock.h"

namespace mlahub::ops {
namespace {

struct State {
  std::shared_ptr<spdlog::logger> logger;
  bool json = true;
  std::string program;
  std::string file;  // empty: standard error
};

std::shared_ptr<spdlog::logger> NewLogger(spdlog::sink_ptr sink) {
  auto logger = std::make_shared<spdlog::logger>("mlahub", std::move(sink));
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);  // filtering is ours (g_level)
  logger->flush_on(spdlog::level::trace);   // every line reaches the file at once
  return logger;
}

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_mu;
std::shared_ptr<const State> g_state;  // guarded by g_mu

std::shared_ptr<const State> CurrentState() {
  std::lock_guard lock(g_mu);
  if (!g_state) {
    auto s = std::make_shared<State>();
    s->logger = NewLogger(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    g_state = s;
  }
  return g_state;
}

const char* LevelName(Level l) {
  switch (l) {
    case Level::kTrace: return "trace";
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

spdlog::level::level_enum SpdLevel(Level l) {
  switch (l) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

bool ParseLevel(std::string_view s, Level* out) {
  static constexpr std::pair<std::string_view, Level> kLevels[] = {
      {"trace", Level::kTrace}, {"debug", Level::kDebug}, {"info", Level::kInfo},
      {"warn", Level::kWarn},   {"error", Level::kError}};
  for (const auto& [name, level] : kLevels)
    if (s == name) {
      *out = level;
      return true;
    }
  return false;
}

bool IsReserved(std::string_view k) { return k == "ts" || k == "level" || k == "event" || k == "program"; }

std::string Dump(const nlohmann::ordered_json& j) {
  // Invalid UTF-8 in a value is replaced (U+FFFD) rather than throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ec == std::errc() ? end : buf);
}

// Text values are bare when they hold only "safe" characters, else quoted
// and escaped as JSON strings, so a value can never forge another field or
// line.
std::string TextValue(std::string_view s) {
  bool bare = !s.empty();
  for (char c : s) {
    bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '_' || c == '-' || c == ':' || c == '/' || c == '@' || c == '+' || c == ',';
    if (!safe) {
      bare = false;
      break;
    }
  }
  if (bare) return std::string(s);
  return Dump(nlohmann::ordered_json(std::string(s)));
}

std::string JsonLine(const State& st, Level level, std::string_view event, std::initializer_list<Field> fields) {
  nlohmann::ordered_json j;
  j["ts"] = FormatRfc3339(SystemClock::Instance().NowMillis());
  j["level"] = LevelName(level);
  if (!st.program.empty()) j["program"] = st.program;
  j["event"] = std::string(event);
  for (const Field& f : fields) {
    std::string key(f.key);
    if (IsReserved(key)) key = "field_" + key;
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) j[key] = std::string(v);
          else j[key] = v;
        },
        f.value);
  }
  return Dump(j);
}

std::string TextLine(const State& st, Level level, std::string_view event, std::initializer_list<Field> fields) {
  std::string out = FormatRfc3339(SystemClock::Instance().NowMillis());
  out += ' ';
  out += LevelName(level);
  out += ' ';
  out += TextValue(event);
  if (!st.program.empty()) out += " program=" + TextValue(st.program);
  for (const Field& f : fields) {
    out += ' ';
    out += TextValue(f.key);
    out += '=';
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) out += TextValue(v);
          else if constexpr (std::is_same_v<T, bool>) out += v ? "true" : "false";
          else if constexpr (std::is_same_v<T, double>) out += FormatDouble(v);
          else out += std::to_string(v);
        },
        f.value);
  }
  return out;
}

}  // namespace

Status InitLogging(const config::LogConfig& config, std::string_view program) {
  Level level;
  if (!ParseLevel(config.level, &level))
    return Status::InvalidArgument("[log] level '" + config.level + "' is not one of trace, debug, info, warn, error");
  if (config.format != "json" && config.format != "text")
    return Status::InvalidArgument("[log] format '" + config.format + "' is not json or text");
  auto st = std::make_shared<State>();
  st->json = config.format == "json";
  st->program = std::string(program);
  st->file = config.file;
  try {
    if (config.file.empty()) {
      st->logger = NewLogger(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      st->logger = NewLogger(std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.file, /*truncate=*/false));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IoError("cannot open the log file " + config.file + ": " + e.what());
  }
  std::shared_ptr<const State> old;
  {
    std::lock_guard lock(g_mu);
    old = std::move(g_state);
    g_state = std::move(st);
    g_level.store(static_cast<int>(level), std::memory_order_relaxed);
  }
  if (old && old->logger) old->logger->flush();
  return Status::Ok();
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void Log(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  std::shared_ptr<const State> st = CurrentState();
  std::string line = st->json ? JsonLine(*st, level, event, fields) : TextLine(*st, level, event, fields);
  try {
    st->logger->log(SpdLevel(level), spdlog::string_view_t(line.data(), line.size()));
  } catch (...) {
    // A full disk must not take a daemon down with it; the line is lost.
  }
}

Status ReopenLogs() {
  std::shared_ptr<const State> cur = CurrentState();
  if (cur->file.empty()) return Status::Ok();
  auto st = std::make_shared<State>(*cur);
  try {
    st->logger = NewLogger(std::make_shared<spdlog::sinks::basic_file_sink_mt>(cur->file, /*truncate=*/false));
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IoError("cannot reopen the log file " + cur->file + ": " + e.what());
  }
  {
    std::lock_guard lock(g_mu);
    g_state = st;
  }
  try {
    cur->logger->flush();
  } catch (...) {
  }
  return Status::Ok();
}

void ReopenLogsAndLog() {
  Status s = ReopenLogs();
  if (s.ok()) {
    Info("log.reopened");
  } else {
    Error("log.reopen_failed", {{"error", s.ToString()}});
  }
}

void FlushLogs() {
  std::shared_ptr<const State> st = CurrentState();
  try {
    st->logger->flush();
  } catch (...) {
  }
}

}  // namespace mlahub::ops
