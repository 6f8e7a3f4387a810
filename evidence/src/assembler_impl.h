// Internal: the receiver's persisted state, shared by assembler.cc and
// store.cc (listing and Fetch read it without an Assembler).
#pragma once

#include <memory>
#include <string>

#include "mlahub/crypto/hash.h"
#include "mlahub/crypto/secretstream.h"
#include "mlahub/evidence/assembler.h"

namespace mlahub::evidence {

inline constexpr std::string_view kIncomingLabel = "mlahub-evidence-incoming-v1";
inline constexpr std::string_view kSpecLabel = "mlahub-evidence-spec-v1";

struct IncomingState {
  TransferState state = TransferState::kPending;
  uint64_t durable = 0;
  crypto::SecretStreamState pull_state;  // secret
  Bytes sha_state;
  Link expected{};
  std::string failure;

  Status Save(const std::string& path, const AtRestKey& key) const;
  static Result<IncomingState> Load(const std::string& path, const AtRestKey& key,
                                    const StreamSpec& spec);
  static IncomingState Initial(const StreamSpec& spec);
};

Result<std::unique_ptr<Assembler>> OpenAssembler(const std::string& dir, const AtRestKey& key,
                                                 StreamSpec spec, AssemblerOptions options);

}  // namespace mlahub::evidence
