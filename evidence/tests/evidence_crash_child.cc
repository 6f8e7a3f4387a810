// Child process of crash_test.cc: spools <source> into <data_dir> (creating
// the spool with <transfer_id> or resuming it), then receives it into the
// same store as an incoming transfer (creating or resuming), reporting on
// stdout, one line each, flushed:
//   spool-resume <durable chunks at open>
//   spooled <durable chunks>          after every durable mark
//   receive-resume <durable chunks at open>
//   received <durable chunks>         after every durable mark
//   done
// A line is printed only after the mark it reports is durable, so the
// parent may kill the child at any moment and expect at least that much.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "mlahub/evidence/errors.h"
#include "mlahub/evidence/store.h"

using namespace mlahub;
using namespace mlahub::evidence;

namespace {
[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "evidence_crash_child: %s\n", s.ToString().c_str());
  std::exit(2);
}
void Say(const char* what, uint64_t n) {
  std::printf("%s %llu\n", what, static_cast<unsigned long long>(n));
  std::fflush(stdout);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: evidence_crash_child DATA_DIR SOURCE TRANSFER_ID\n");
    return 2;
  }
  const std::string data_dir = argv[1], source = argv[2], id = argv[3];
  AtRestKey key;
  std::memset(key.data(), 0x5c, key.size());
  auto store = EvidenceStore::Open(data_dir, std::move(key));
  if (!store.ok()) Die(store.status());

  auto spool = (*store)->OpenSpool(id);
  if (!spool.ok() && spool.status().code() == Code::kNotFound) {
    SpoolOptions o;
    o.chunk_size = 16 * 1024;
    o.sync_every = 4;
    o.transfer_id = id;
    spool = (*store)->CreateSpool(source, o);
  }
  if (!spool.ok()) Die(spool.status());
  Spool& sp = **spool;
  Say("spool-resume", sp.durable_chunks());
  uint64_t reported = sp.durable_chunks();
  while (!sp.sealed()) {
    Status s = sp.RunFor(1);
    if (!s.ok()) Die(s);
    if (sp.durable_chunks() != reported) {
      reported = sp.durable_chunks();
      Say("spooled", reported);
    }
  }
  auto spec = sp.Spec();
  if (!spec.ok()) Die(spec.status());
  AssemblerOptions ao;
  ao.sync_every = 4;
  auto a = (*store)->Receive(*spec, ao);
  if (!a.ok()) Die(a.status());
  Assembler& as = **a;
  Say("receive-resume", as.durable());
  reported = as.durable();
  while (as.state() != TransferState::kComplete) {
    auto frame = sp.ReadChunkFrame(as.next());
    if (!frame.ok()) Die(frame.status());
    auto r = as.Accept(*frame);
    if (!r.ok()) Die(r.status());
    if (as.durable() != reported) {
      reported = as.durable();
      Say("received", reported);
    }
  }
  std::printf("done\n");
  std::fflush(stdout);
  return 0;
}
