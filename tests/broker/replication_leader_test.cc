// The leader's end of the replication link, driven by a DEALER socket playing the standby.
#include "broker/replication_leader.h"

#include <doctest/doctest.h>

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <memory>
#include <optional>
#include <thread>

#include "common/clock.h"
#include "tests/support/child_process.h"

using namespace aplus;

namespace {

// A one-way switch another thread waits for (at most 20 s, so that a failing test ends
// instead of hanging).
class Flag {
 public:
  void Set() {
    std::lock_guard lock(mutex_);
    set_ = true;
    changed_.notify_all();
  }
  bool Wait() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(20), [this] { return set_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool set_ = false;
};

// Holds the checkpoint's maker until the test opens it.
struct Gate {
  void Open() { open.Set(); }
  bool WaitEntered() { return entered.Wait(); }
  Flag entered;  // the maker is running
  Flag open;     // the maker may go on
};

std::optional<replication::ReplicationFrame> Receive(zmq::socket_t& standby, int timeout_ms) {
  zmq::pollitem_t item{standby.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
  if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
  zmq::message_t message;
  if (!standby.recv(message, zmq::recv_flags::none)) return std::nullopt;
  replication::ReplicationFrame frame;
  REQUIRE(frame.ParseFromArray(message.data(), static_cast<int>(message.size())));
  return frame;
}

void Send(zmq::socket_t& standby, const replication::ReplicationFrame& frame) {
  std::string bytes = frame.SerializeAsString();
  standby.send(zmq::buffer(bytes), zmq::send_flags::none);
}

}  // namespace

// A leader over a fresh database whose checkpoints are made by `maker` (counted), and the
// standbys (DEALER sockets) that attach to it.
struct LeaderUnderTest {
  explicit LeaderUnderTest(const std::string& label, Gate& gate) : dir(label), gate(gate) {
    auto opened = RocksDb::Open(dir.Sub("db"), {"cases"});
    REQUIRE(opened.ok());
    db = std::move(opened).value();
    rocksdb::WriteBatch first;
    first.Put(db->Family("cases"), "a", "1");
    REQUIRE(db->Write(first).ok());
    ReplicationLeaderOptions options;
    options.listen = "tcp://127.0.0.1:*";
    options.epoch = 7;
    options.checkpoint_dir = dir.Sub("checkpoint");
    options.heartbeat_ms = 100;
    options.silence_ms = 20000;  // a loaded machine: this test is not about silence
    options.make_checkpoint = [this, &gate](RocksDb& db, const std::string& path) {
      ++makers;
      gate.entered.Set();
      gate.open.Wait();  // a slow flush of a large store
      return MakeCheckpoint(db, path);
    };
    auto created = ReplicationLeader::Create(context, *db, options, nullptr);
    REQUIRE(created.ok());
    leader = std::move(created).value();
  }
  // A standby that must get a whole copy attaches; returns its socket once attached.
  std::unique_ptr<zmq::socket_t> Attach(const std::string& node) {
    auto standby = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
    standby->set(zmq::sockopt::linger, 0);
    standby->connect(leader->endpoint());
    replication::ReplicationFrame attach;
    attach.mutable_attach()->set_node(node);
    attach.mutable_attach()->set_was_leader(true);
    Send(*standby, attach);
    int64_t deadline = SteadyNowMs() + 10000;
    while (leader->standby_node() != node && SteadyNowMs() < deadline) {
      leader->OnReadable();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    REQUIRE(leader->standby_node() == node);
    return standby;
  }
  // The first standby: attaches, and the leader starts its checkpoint (held by the gate).
  std::unique_ptr<zmq::socket_t> AttachAndHoldMaker(const std::string& node) {
    auto standby = Attach(node);
    REQUIRE(gate.WaitEntered());
    return standby;
  }
  // Ticks the leader until `standby` receives a CheckpointBegin, answering heartbeats.
  std::optional<replication::ReplicationFrame> AwaitBegin(zmq::socket_t& standby) {
    int64_t deadline = SteadyNowMs() + 15000;
    while (SteadyNowMs() < deadline) {
      leader->Tick();
      auto frame = Receive(standby, 20);
      if (frame && frame->has_checkpoint_begin()) return frame;
      if (frame && frame->has_heartbeat()) {
        replication::ReplicationFrame applied;
        applied.mutable_applied()->set_sequence(0);
        Send(standby, applied);
      }
    }
    return std::nullopt;
  }

  testing::TempDir dir;
  Gate& gate;
  std::unique_ptr<RocksDb> db;
  zmq::context_t context;
  std::atomic<int> makers{0};
  std::unique_ptr<ReplicationLeader> leader;
};

TEST_CASE("the checkpoint for a standby is made off the loop: the leader goes on, ships no log "
          "meanwhile, and streams the copy once made") {
  Gate gate;
  LeaderUnderTest t("replication-leader", gate);
  auto& l = *t.leader;
  auto standby = t.AttachAndHoldMaker("b");

  // The maker is held: the loop's calls return, a commit ships nothing, the standby's answers
  // to heartbeats keep it attached.
  rocksdb::WriteBatch second;
  second.Put(t.db->Family("cases"), "b", "2");
  REQUIRE(t.db->Write(second).ok());
  l.Committed(t.db->raw()->GetLatestSequenceNumber());
  int heartbeats = 0;
  int64_t until = SteadyNowMs() + 500;
  while (SteadyNowMs() < until) {
    l.Tick();
    CHECK(l.NextTickInMs() <= 10);
    if (auto frame = Receive(*standby, 20)) {
      CHECK_MESSAGE(frame->has_heartbeat(), frame->DebugString());
      if (frame->has_heartbeat()) {
        ++heartbeats;
        replication::ReplicationFrame applied;
        applied.mutable_applied()->set_sequence(0);
        Send(*standby, applied);
      }
    }
  }
  CHECK(heartbeats >= 2);
  CHECK(l.has_standby());
  CHECK(l.making_checkpoint());
  CHECK_FALSE(l.standby_synchronous());

  // Once made, the copy is streamed: its beginning names every batch written so far.
  gate.Open();
  auto begin = t.AwaitBegin(*standby);
  REQUIRE(begin.has_value());
  CHECK(begin->checkpoint_begin().epoch() == 7);
  CHECK(begin->checkpoint_begin().sequence() == t.db->raw()->GetLatestSequenceNumber());
  CHECK(begin->checkpoint_begin().files_size() > 0);
  CHECK_FALSE(l.making_checkpoint());
  CHECK(t.makers == 1);
}

TEST_CASE("a standby dropped while its checkpoint is made: the loop does not wait, and the copy "
          "goes to the next standby, or is removed when none asks") {
  Gate gate;
  LeaderUnderTest t("replication-leader-drop", gate);
  auto& l = *t.leader;
  auto first = t.AttachAndHoldMaker("b");
  l.DropStandby("test");  // returns while the maker is held
  CHECK_FALSE(l.has_standby());
  CHECK(l.making_checkpoint());
  SUBCASE("removed") {
    gate.Open();
    int64_t deadline = SteadyNowMs() + 15000;
    while (l.making_checkpoint() && SteadyNowMs() < deadline) {
      l.Tick();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK_FALSE(l.making_checkpoint());
    // Its hard links would pin purged data: nothing left of it.
    CHECK_FALSE(std::filesystem::exists(t.dir.Sub("checkpoint")));
  }
  SUBCASE("adopted") {
    auto second = t.Attach("c");  // another standby, while the first one's copy is made
    gate.Open();
    auto begin = t.AwaitBegin(*second);
    REQUIRE(begin.has_value());
    CHECK(begin->checkpoint_begin().sequence() == t.db->raw()->GetLatestSequenceNumber());
    CHECK(t.makers == 1);  // one worker, one copy
  }
}
