// In-memory keys, a directory and sealed envelopes for the unit tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mlahub/agents/records.h"
#include "mlahub/core/clock.h"
#include "mlahub/directory/directory.h"
#include "mlahub/envelope/envelope.h"
#include "mlahub/identity/keys.h"

namespace mlahub::agents::testing {

inline constexpr UnixMillis kTestNow = 1'800'000'000'000;

struct TestKeys {
  identity::NodeKeys op, hub, it, ng;
  std::shared_ptr<const directory::Directory> dir;

  TestKeys() {
    auto mk = [](const char* id, identity::Role role) {
      return identity::GenerateNodeKeys(*NodeId::Parse(id), role, kTestNow);
    };
    op = mk("XX-OPS", identity::Role::kOperator);
    hub = mk("XX-HUB", identity::Role::kHub);
    it = mk("IT-MOJ", identity::Role::kAuthority);
    ng = mk("NG-AGF", identity::Role::kAuthority);
    directory::Directory d("test-net", 1, kTestNow);
    for (const identity::NodeKeys* k : {&op, &hub, &it, &ng}) {
      directory::Entry e;
      e.identity = k->Public();
      e.name = k->id.str();
      MLAHUB_CHECK(d.Add(e).ok());
    }
    dir = std::make_shared<const directory::Directory>(std::move(d));
  }

  // A sealed MlaRequest-free envelope of kind InformationExchange from `from`
  // to `to`, created at `now`.
  Bytes Seal(const identity::NodeKeys& from, const identity::NodeKeys& to, UnixMillis now,
             const std::string& message_id = "") const {
    auto payload = envelope::BuildPayloadFromJson(wire::MessageKind::InformationExchange, "{}");
    MLAHUB_CHECK(payload.ok());
    envelope::SealParams p;
    p.kind = wire::MessageKind::InformationExchange;
    p.message_id = message_id;
    p.case_ref = "TEST/1";
    FakeClock c(now);
    auto env = envelope::Seal(p, from, to.Public(), *payload, c);
    MLAHUB_CHECK_MSG(env.ok(), env.status().ToString());
    return *env;
  }
};

// Collects alarms.
class AlarmCollector : public AlarmSink {
 public:
  void RaiseAlarm(std::string kind, std::string message, nlohmann::json details) override {
    alarms.push_back(Alarm{alarms.size() + 1, 0, std::move(kind), std::move(message), std::move(details)});
  }
  std::vector<std::string> Kinds() const {
    std::vector<std::string> v;
    for (const auto& a : alarms) v.push_back(a.kind);
    return v;
  }
  std::vector<Alarm> alarms;
};

}  // namespace mlahub::agents::testing
