// mlahub ledger ...: audit the hub's tamper-evident ledger (docs/LEDGER.md).
//
// Every command opens the ledger directory read-only (a RocksDB secondary
// view), so it is safe while the broker appends; it sees the ledger as
// committed when the command started. Outputs are the formats of DESIGN.md
// "The ledger", checked by independent RFC 9162 / C2SP verifiers.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "mlahub/crypto/encoding.h"
#include "mlahub/storage/ledger.h"
#include "mlahub/storage/ledger_entry.h"

namespace mlahub::cli {
namespace {

using storage::Hash;
using storage::Ledger;

std::string B64(const Hash& h) { return crypto::ToBase64(ByteView(h.data(), h.size())); }

struct LedgerArgs {
  std::string ledger;
  bool json = false;
};

void AddLedgerOptions(CLI::App* c, LedgerArgs& a, bool json) {
  c->add_option("--ledger", a.ledger,
                "Ledger directory (opened read-only; safe while the broker runs)")
      ->required();
  if (json) c->add_flag("--json", a.json, "Machine-readable output");
}

Result<std::unique_ptr<Ledger>> OpenView(const LedgerArgs& a) { return Ledger::OpenReadOnly(a.ledger); }

// The size proofs default to: the newest signed checkpoint.
Result<uint64_t> DefaultSize(const Ledger& l) {
  uint64_t size = 0;
  MLAHUB_RETURN_IF_ERROR(l.LatestCheckpoint(&size).status());
  return size;
}

// ---- public-key ----
int RunPublicKey(const LedgerArgs& a) {
  auto l = OpenView(a);
  if (!l.ok()) return Fail(l.status(), a.json);
  if (a.json) {
    nlohmann::ordered_json j;
    j["verifier_key"] = (*l)->verifier_key();
    j["key_name"] = (*l)->key_name();
    j["origin"] = (*l)->origin();
    j["public_key"] = crypto::ToBase64((*l)->public_key());
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << (*l)->verifier_key() << std::endl;
  }
  return kExitOk;
}

// ---- checkpoint ----
struct CheckpointArgs : LedgerArgs {
  std::optional<uint64_t> size;
  bool list = false;
};

int RunCheckpoint(const CheckpointArgs& a) {
  auto l = OpenView(a);
  if (!l.ok()) return Fail(l.status(), a.json);
  if (a.list) {
    auto sizes = (*l)->CheckpointSizes();
    if (!sizes.ok()) return Fail(sizes.status(), a.json);
    if (a.json) {
      std::cout << nlohmann::json(*sizes).dump() << std::endl;
    } else {
      for (uint64_t s : *sizes) std::cout << s << "\n";
      std::cout << std::flush;
    }
    return kExitOk;
  }
  uint64_t size = 0;
  Result<std::string> note = a.size ? (*l)->CheckpointAt(*a.size) : (*l)->LatestCheckpoint(&size);
  if (a.size) size = *a.size;
  if (!note.ok()) return Fail(note.status(), a.json);
  if (a.json) {
    nlohmann::ordered_json j;
    j["tree_size"] = size;
    j["checkpoint"] = *note;
    std::cout << j.dump() << std::endl;
    return kExitOk;
  }
  Status st = WriteStdout(AsBytes(*note));
  return st.ok() ? kExitOk : Fail(st, false);
}

// ---- prove ----
struct ProveArgs : LedgerArgs {
  uint64_t index = 0;
  std::optional<uint64_t> size;
};

int RunProve(const ProveArgs& a) {
  auto l = OpenView(a);
  if (!l.ok()) return Fail(l.status(), a.json);
  uint64_t size = 0;
  if (a.size) {
    size = *a.size;
  } else {
    auto s = DefaultSize(**l);
    if (!s.ok()) return Fail(s.status(), a.json);
    size = *s;
  }
  auto p = (*l)->ProveInclusion(a.index, size);
  if (!p.ok()) return Fail(p.status(), a.json);
  // Check before printing: a proof that does not lead to the root is evidence
  // of a damaged ledger, not something to hand out.
  auto root = (*l)->Root(size);
  if (!root.ok()) return Fail(root.status(), a.json);
  Status check = storage::VerifyInclusion(p->index, p->tree_size, p->leaf_hash, p->path, *root);
  if (!check.ok()) return Fail(check.Annotate("ledger is damaged; run `mlahub ledger verify`"), a.json);
  if (a.json) {
    nlohmann::ordered_json j;
    j["index"] = p->index;
    j["tree_size"] = p->tree_size;
    j["leaf_hash"] = B64(p->leaf_hash);
    j["entry"] = crypto::ToBase64(p->entry);
    j["inclusion"] = nlohmann::ordered_json::array();
    for (const Hash& h : p->path) j["inclusion"].push_back(B64(h));
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "entry " << p->index << " is in the tree of size " << p->tree_size << "\n"
              << "root       " << B64(*root) << "\n"
              << "leaf hash  " << B64(p->leaf_hash) << "\n"
              << "entry      " << p->entry.size() << " bytes\n"
              << "inclusion  " << p->path.size() << " hashes\n";
    for (const Hash& h : p->path) std::cout << "  " << B64(h) << "\n";
    std::cout << std::flush;
  }
  return kExitOk;
}

// ---- consistency ----
struct ConsistencyArgs : LedgerArgs {
  uint64_t old_size = 0;
  std::optional<uint64_t> new_size;
};

int RunConsistency(const ConsistencyArgs& a) {
  auto l = OpenView(a);
  if (!l.ok()) return Fail(l.status(), a.json);
  uint64_t n = 0;
  if (a.new_size) {
    n = *a.new_size;
  } else {
    auto s = DefaultSize(**l);
    if (!s.ok()) return Fail(s.status(), a.json);
    n = *s;
  }
  auto proof = (*l)->ProveConsistency(a.old_size, n);
  if (!proof.ok()) return Fail(proof.status(), a.json);
  auto r1 = (*l)->Root(a.old_size);
  auto r2 = (*l)->Root(n);
  if (!r1.ok()) return Fail(r1.status(), a.json);
  if (!r2.ok()) return Fail(r2.status(), a.json);
  Status check = storage::VerifyConsistency(a.old_size, n, *proof, *r1, *r2);
  if (!check.ok()) return Fail(check.Annotate("ledger is damaged; run `mlahub ledger verify`"), a.json);
  if (a.json) {
    nlohmann::ordered_json j;
    j["old_size"] = a.old_size;
    j["new_size"] = n;
    j["proof"] = nlohmann::ordered_json::array();
    for (const Hash& h : *proof) j["proof"].push_back(B64(h));
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << "tree of size " << a.old_size << " is a prefix of the tree of size " << n << "\n"
              << "old root  " << B64(*r1) << "\n"
              << "new root  " << B64(*r2) << "\n"
              << "proof     " << proof->size() << " hashes\n";
    for (const Hash& h : *proof) std::cout << "  " << B64(h) << "\n";
    std::cout << std::flush;
  }
  return kExitOk;
}

// ---- verify ----
struct VerifyArgs : LedgerArgs {
  bool quiet = false;
};

int RunVerify(const VerifyArgs& a) {
  auto l = OpenView(a);
  if (!l.ok()) return Fail(l.status(), a.json);
  const bool show = !a.quiet && ::isatty(STDERR_FILENO) == 1;
  auto start = std::chrono::steady_clock::now();
  auto last = start - std::chrono::seconds(1);
  auto progress = [&](uint64_t done, uint64_t total) {
    if (!show) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::seconds(1) && done != total) return;
    last = now;
    double secs = std::chrono::duration<double>(now - start).count();
    std::fprintf(stderr, "\rverifying: %llu / %llu entries (%.0f%%), %.0f entries/s   ",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 total == 0 ? 100.0 : 100.0 * static_cast<double>(done) / static_cast<double>(total),
                 secs > 0 ? static_cast<double>(done) / secs : 0.0);
    std::fflush(stderr);
  };
  storage::VerifyReport r = (*l)->Verify(progress);
  if (show) std::fprintf(stderr, "\n");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t size = (*l)->Size();
  if (a.json) {
    nlohmann::ordered_json j;
    j["ok"] = r.status.ok();
    j["tree_size"] = size;
    j["entries_checked"] = r.entries;
    j["checkpoints_checked"] = r.checkpoints;
    if (r.bad_index) j["bad_index"] = *r.bad_index;
    if (r.bad_checkpoint) j["bad_checkpoint_size"] = *r.bad_checkpoint;
    if (!r.status.ok()) {
      j["error"]["code"] = std::string(CodeName(r.status.code()));
      j["error"]["message"] = r.status.message();
    } else {
      auto root = (*l)->Root(size);
      if (root.ok()) j["root"] = B64(*root);
    }
    j["seconds"] = secs;
    std::cout << j.dump() << std::endl;
    return ExitCodeFor(r.status);
  }
  if (!r.status.ok()) {
    if (r.bad_index) std::cerr << "mlahub: first bad index: " << *r.bad_index << "\n";
    if (r.bad_checkpoint) std::cerr << "mlahub: bad checkpoint at size " << *r.bad_checkpoint << "\n";
    return Fail(r.status, false);
  }
  auto root = (*l)->Root(size);
  std::cout << "ledger OK: " << r.entries << " entries, " << r.checkpoints << " checkpoints verified in "
            << secs << " s\n"
            << "origin     " << (*l)->origin() << "\n"
            << "tree size  " << size << "\n"
            << "root       " << (root.ok() ? B64(*root) : "?") << "\n"
            << "key        " << (*l)->verifier_key() << std::endl;
  return kExitOk;
}

// ---- show ----
struct ShowArgs : LedgerArgs {
  std::optional<uint64_t> index;
  std::string message_id;
  bool raw = false;
};

int RunLedgerShow(const ShowArgs& a) {
  if (!a.index.has_value() == a.message_id.empty())
    return Fail(Status::InvalidArgument("give exactly one of --index and --message-id"), a.json);
  auto l = OpenView(a);
  if (!l.ok()) return Fail(l.status(), a.json);
  if (a.index) {
    auto e = (*l)->Entry(*a.index);
    if (!e.ok()) return Fail(e.status(), a.json);
    if (a.raw) {
      std::cout << crypto::ToBase64(*e) << std::endl;
      return kExitOk;
    }
    auto json = storage::LedgerEntryToJson(*e);
    if (!json.ok())
      return Fail(json.status().Annotate("entry " + std::to_string(*a.index) +
                                         " is not a LedgerEntry (use --raw for its bytes)"),
                  a.json);
    std::cout << *json;
    if (json->empty() || json->back() != '\n') std::cout << "\n";
    std::cout << std::flush;
    return kExitOk;
  }
  auto found = (*l)->FindByIndexKey(a.message_id);
  if (!found.ok()) return Fail(found.status(), a.json);
  if (found->empty()) return Fail(Status::NotFound("no ledger entry for message " + a.message_id), a.json);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (uint64_t i : *found) {
    auto e = (*l)->Entry(i);
    if (!e.ok()) return Fail(e.status(), a.json);
    nlohmann::ordered_json item;
    item["index"] = i;
    auto json = storage::LedgerEntryToJson(*e);
    if (json.ok() && !a.raw) {
      item["entry"] = nlohmann::ordered_json::parse(*json, nullptr, false);
    } else {
      item["entry_base64"] = crypto::ToBase64(*e);
    }
    out.push_back(std::move(item));
  }
  std::cout << out.dump(2) << std::endl;
  return kExitOk;
}

}  // namespace

void RegisterLedgerCommands(CLI::App& app) {
  CLI::App* g = app.add_subcommand(
      "ledger",
      "Audit the hub's tamper-evident ledger: RFC 9162 Merkle proofs and C2SP signed checkpoints "
      "(docs/LEDGER.md). Reads a ledger directory with --ledger DIR (read-only, safe while the broker runs).");
  g->require_subcommand(1);

  auto pk = std::make_shared<LedgerArgs>();
  CLI::App* c = g->add_subcommand("public-key",
                                  "Print the C2SP verifier key of the checkpoint signer: "
                                  "<name>+<8 hex key id>+<base64(0x01 || Ed25519 public key)>");
  AddLedgerOptions(c, *pk, true);
  c->callback([pk] { ExitCode() = RunPublicKey(*pk); });

  auto cp = std::make_shared<CheckpointArgs>();
  c = g->add_subcommand("checkpoint",
                        "Print a signed checkpoint (C2SP tlog-checkpoint as a signed note), byte for byte: "
                        "the newest, or the one signed at --size");
  AddLedgerOptions(c, *cp, true);
  c->add_option("--size", cp->size, "Tree size of a stored checkpoint (default: the newest)");
  c->add_flag("--list", cp->list, "List the tree sizes of all stored checkpoints instead");
  c->callback([cp] { ExitCode() = RunCheckpoint(*cp); });

  auto pr = std::make_shared<ProveArgs>();
  c = g->add_subcommand("prove",
                        "Print the RFC 9162 inclusion proof of entry --index in the tree of --size entries "
                        "(default: the newest checkpoint's size), with the entry bytes");
  AddLedgerOptions(c, *pr, true);
  c->add_option("--index", pr->index, "Entry index, from 0")->required();
  c->add_option("--size", pr->size, "Tree size (default: size of the newest checkpoint)");
  c->callback([pr] { ExitCode() = RunProve(*pr); });

  auto co = std::make_shared<ConsistencyArgs>();
  c = g->add_subcommand("consistency",
                        "Print the RFC 9162 consistency proof that the tree of --old entries is a prefix "
                        "of the tree of --new entries");
  AddLedgerOptions(c, *co, true);
  c->add_option("--old", co->old_size, "Older tree size")->required();
  c->add_option("--new", co->new_size, "Newer tree size (default: size of the newest checkpoint)");
  c->callback([co] { ExitCode() = RunConsistency(*co); });

  auto ve = std::make_shared<VerifyArgs>();
  c = g->add_subcommand("verify",
                        "Recompute every leaf and node hash and check every stored checkpoint's signature "
                        "and root, streaming. On tampering names the first bad index and exits 6");
  AddLedgerOptions(c, *ve, true);
  c->add_flag("--quiet", ve->quiet, "No progress on standard error");
  c->callback([ve] { ExitCode() = RunVerify(*ve); });

  auto sh = std::make_shared<ShowArgs>();
  c = g->add_subcommand("show",
                        "Print a ledger entry as JSON (FlatBuffers JSON of mlahub.wire.LedgerEntry), by "
                        "--index or all entries of a --message-id");
  AddLedgerOptions(c, *sh, true);
  c->add_option("--index", sh->index, "Entry index, from 0");
  c->add_option("--message-id", sh->message_id, "Message id: list every entry about this message");
  c->add_flag("--raw", sh->raw, "Print the entry bytes as base64 instead of decoding them");
  c->callback([sh] { ExitCode() = RunLedgerShow(*sh); });
}

}  // namespace mlahub::cli
