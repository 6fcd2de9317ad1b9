// StoreConformance: agents, leases, takeover, fencing and recovery.

#include "store/conformance_support.hpp"
#include "store/open.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace muster::store::conformance {
namespace {

// -- Agents, leases, takeover, fencing ---------------------------------------

TEST_P(StoreConformance, LiveHolderIsRefusedAndADeadOneTakenOver) {
  auto store = open();
  auto run = held_run(*store, 3); // held by agent 1
  ASSERT_EQ(claim(*store, run.rid, {0, 1}, 1000)->claims.size(), 2u);
  auto busy = take(*store, run.rid, 200, everybody_alive);
  ASSERT_TRUE(busy.ok()) << why(busy);
  ASSERT_TRUE(busy->held_by.has_value());
  EXPECT_EQ(busy->held_by->pid, 1);
  EXPECT_EQ(counts(*store, run.rid)[JobState::running], 2);
  auto taken = take(*store, run.rid, 200, nobody_alive);
  ASSERT_TRUE(taken.ok()) << why(taken);
  EXPECT_FALSE(taken->held_by.has_value());
  EXPECT_EQ(taken->orphans.size(), 2u);
  EXPECT_GT(taken->aid, 0);
  EXPECT_EQ(store->find_run(run.id)->holder.pid, 200);
  EXPECT_EQ(counts(*store, run.rid)[JobState::pending], 3);
  auto again = claim(*store, run.rid, {0}, 2000);
  EXPECT_EQ(again->claims[0].id, "j1");
  EXPECT_EQ(again->claims[0].attempt, 2);
  EXPECT_EQ(again->claims[0].interrupts, 1);
}

TEST_P(StoreConformance, JoinAddsAnAgentBesideALiveHolder) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(4));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  EXPECT_FALSE(b->held_by.has_value());
  EXPECT_GT(b->aid, 0);
  EXPECT_NE(b->aid, a->aid);
  EXPECT_EQ(store->find_run(run.id)->holder.pid, 1)
      << "joining took the run from its holder";
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "running");
  EXPECT_EQ(agent_state(*store, run.rid, b->aid), "running");
  auto ca = claim(*store, run.rid, {0}, 1000, a->aid);
  auto cb = claim(*store, run.rid, {1}, 1000, b->aid);
  EXPECT_EQ(ids(*ca), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(ids(*cb), (std::vector<std::string>{"j2"}));
}

TEST_P(StoreConformance, AJobRecordsTheHostOfTheAgentThatClaimedIt) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(2));
  Holder far = holder(7);
  far.host = "node-b";
  auto a = store->acquire(run.rid, far, everybody_alive);
  ASSERT_TRUE(a.ok()) << why(a);
  auto c = claim(*store, run.rid, {3}, 1000, a->aid);
  ASSERT_TRUE(c.ok()) << why(c);
  ASSERT_TRUE(record(*store, run.rid, {finished(c->claims[0], JobState::succeeded, 2)},
                     1100, a->aid)
                  .ok());
  const JobRecord done = job(*store, run.rid, "j1");
  EXPECT_EQ(done.host, "node-b") << "the host is kept after the job ends";
  EXPECT_EQ(done.slot, 3);
  EXPECT_EQ(job(*store, run.rid, "j2").host, "") << "a job never claimed has no host";
}

TEST_P(StoreConformance, AgentsOnOneHostNeverShareASlotNumber) {
  auto store = open();
  auto run = make_run(*store, {}, {{}});
  auto a = take(*store, run.rid, 1);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(a.ok() && b.ok());
  auto sa = store->take_slots(run.rid, a->aid, "h1", 2);
  auto sb = store->take_slots(run.rid, b->aid, "h1", 2);
  auto sc = store->take_slots(run.rid, b->aid, "h2", 1);
  ASSERT_TRUE(sa.ok() && sb.ok() && sc.ok()) << why(sa) << why(sb) << why(sc);
  EXPECT_EQ(*sa, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(*sb, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(*sc, (std::vector<int64_t>{0}));
  EXPECT_EQ(agent(*store, run.rid, b->aid)->slots, 3);
  // A stopped agent gives its numbers back.
  ASSERT_TRUE(store->stop_agent(a->aid, util::now_ms()).ok());
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "stopped");
  auto c = join(*store, run.rid, 3, everybody_alive);
  ASSERT_TRUE(c.ok()) << why(c);
  EXPECT_EQ(*store->take_slots(run.rid, c->aid, "h1", 2), (std::vector<int64_t>{0, 1}));
}

TEST_P(StoreConformance, HeartbeatRenewsLeasesAndNamesTheJobsStillHeld) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(3));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  auto c = claim(*store, run.rid, {0, 1}, util::now_ms(), a->aid);
  ASSERT_EQ(c->claims.size(), 2u);
  const int64_t now = util::now_ms();
  std::vector<SlotReport> slots(2);
  slots[0] = {0, SlotActivity::busy, c->claims[0].id, now - 5, SidecarState::ready, ""};
  slots[1] = {1, SlotActivity::restarting, "",
              0, SidecarState::restarting, "held for the test"};
  auto b = store->beat(run.rid, a->aid, 2.5, slots, now, 6000);
  ASSERT_TRUE(b.ok()) << why(b);
  EXPECT_FALSE(b->offline);
  auto held = b->held;
  std::sort(held.begin(), held.end());
  EXPECT_EQ(held, (std::vector<int64_t>{c->claims[0].jid, c->claims[1].jid}));
  auto rec = agent(*store, run.rid, a->aid);
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->who.heartbeat_at, now);
  // The slots' reports come back as they were given.
  ASSERT_EQ(rec->slot_reports.size(), 2u);
  EXPECT_EQ(rec->slot_reports[0].slot, 0);
  EXPECT_EQ(rec->slot_reports[0].activity, SlotActivity::busy);
  EXPECT_EQ(rec->slot_reports[0].job, c->claims[0].id);
  EXPECT_EQ(rec->slot_reports[0].since, now - 5);
  EXPECT_EQ(rec->slot_reports[0].sidecar, SidecarState::ready);
  EXPECT_EQ(rec->slot_reports[1].slot, 1);
  EXPECT_EQ(rec->slot_reports[1].activity, SlotActivity::restarting);
  EXPECT_EQ(rec->slot_reports[1].job, "");
  EXPECT_EQ(rec->slot_reports[1].sidecar, SidecarState::restarting);
  EXPECT_EQ(rec->slot_reports[0].held, "");
  EXPECT_EQ(rec->slot_reports[1].held, "held for the test");
  EXPECT_DOUBLE_EQ(store->find_run(run.id)->rate, 2.5);
}

TEST_P(StoreConformance, ResultOfAnAgentThatLostItsLeaseIsIgnored) {
  auto sa = open();
  auto sb = open();
  auto run = make_run(*sa, {}, std::vector<Spec>(2, Spec("k")));
  auto a = take(*sa, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  auto ca = claim(*sa, run.rid, {0}, util::now_ms(), a->aid);
  ASSERT_EQ(ids(*ca), (std::vector<std::string>{"j1"}));
  // Agent b joins while a lives, then finds a gone and takes its job.
  auto b = join(*sb, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  auto gone = sb->recover(run.rid, b->aid, alive_except(1), util::now_ms());
  ASSERT_TRUE(gone.ok()) << why(gone);
  ASSERT_EQ(gone->size(), 1u);
  EXPECT_EQ((*gone)[0].id, "j1");
  EXPECT_EQ(agent_state(*sb, run.rid, a->aid), "offline");
  auto cb = claim(*sb, run.rid, {0}, util::now_ms(), b->aid);
  ASSERT_EQ(ids(*cb), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(cb->claims[0].attempt, 2);
  // a was only slow: its late result and pid must not touch b's attempt,
  // nor halt the run, nor block the job's key.
  auto stale = finished(ca->claims[0], JobState::failed, util::now_ms());
  stale.halt_until = util::now_ms() + 60'000;
  stale.halt_reason = "a stale halt";
  stale.key = "k";
  stale.block_key = true;
  auto late =
      record(*sa, run.rid, {started(ca->claims[0], 111), stale}, util::now_ms(), a->aid);
  ASSERT_TRUE(late.ok()) << why(late);
  EXPECT_EQ(late->ignored, (std::vector<int64_t>{ca->claims[0].jid}));
  EXPECT_EQ(late->halted_until, 0);
  auto j1 = job(*sb, run.rid, "j1");
  EXPECT_EQ(j1.state, JobState::running) << "a fenced-off agent's result was applied";
  EXPECT_NE(j1.pgid, 111) << "a fenced-off agent's pid was applied";
  EXPECT_EQ(sb->find_run(run.id)->state, core::RunState::running)
      << "a stale result halted";
  EXPECT_EQ(job(*sb, run.rid, "j2").state, JobState::pending)
      << "a stale result blocked the key";
  auto events = sb->events(run.rid);
  ASSERT_TRUE(events.ok()) << why(events);
  ASSERT_FALSE(events->empty());
  const auto& said = events->back();
  EXPECT_EQ(said.action, "result ignored");
  EXPECT_NE(
      said.detail.find("job j1: the failed result of agent " + std::to_string(a->aid)),
      std::string::npos)
      << said.detail;
  EXPECT_NE(said.detail.find("running again, for agent " + std::to_string(b->aid)),
            std::string::npos)
      << said.detail;
  auto beat = sa->beat(run.rid, a->aid, 0, {}, util::now_ms(), 6000);
  ASSERT_TRUE(beat.ok()) << why(beat);
  EXPECT_TRUE(beat->offline);
  EXPECT_TRUE(beat->held.empty());
  ASSERT_TRUE(record(*sb, run.rid,
                     {finished(cb->claims[0], JobState::succeeded, util::now_ms())},
                     util::now_ms(), b->aid)
                  .ok());
  EXPECT_EQ(job(*sa, run.rid, "j1").state, JobState::succeeded);
}

TEST_P(StoreConformance, RecoveryRequeuesTheJobsOfASilentAgent) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(3));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  ASSERT_EQ(claim(*store, run.rid, {0, 1}, util::now_ms(), a->aid)->claims.size(), 2u);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  // Within three heartbeat intervals nobody is gone.
  auto early = store->recover(run.rid, b->aid, everybody_alive, util::now_ms());
  ASSERT_TRUE(early.ok()) << why(early);
  EXPECT_TRUE(early->empty());
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "running");
  // Silent for longer (the default interval is 2 s): a is offline.
  auto late = store->recover(run.rid, b->aid, everybody_alive, util::now_ms() + 60'000);
  ASSERT_TRUE(late.ok()) << why(late);
  EXPECT_EQ(late->size(), 2u);
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "offline");
  EXPECT_EQ(counts(*store, run.rid)[JobState::pending], 3);
  EXPECT_EQ(job(*store, run.rid, "j1").interrupts, 1);
  EXPECT_EQ(ids(*claim(*store, run.rid, {0}, util::now_ms(), b->aid)),
            (std::vector<std::string>{"j1"}));
}

TEST_P(StoreConformance, RecoveryUnderHoldKeepsJobsInterruptedUntilRetried) {
  auto store = open();
  core::RunSettings s;
  s.on_interrupt = core::OnInterrupt::hold;
  auto run = make_run(*store, s, std::vector<Spec>(3));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  ASSERT_EQ(claim(*store, run.rid, {0}, util::now_ms(), a->aid)->claims.size(), 1u);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  auto gone = store->recover(run.rid, b->aid, alive_except(1), util::now_ms());
  ASSERT_TRUE(gone.ok()) << why(gone);
  ASSERT_EQ(gone->size(), 1u);
  auto j1 = job(*store, run.rid, "j1");
  EXPECT_EQ(j1.state, JobState::interrupted);
  EXPECT_EQ(j1.error_type, "interrupted");
  // Never claimed again on its own: at most once.
  EXPECT_EQ(ids(*claim(*store, run.rid, {0, 1, 2}, util::now_ms(), b->aid)),
            (std::vector<std::string>{"j2", "j3"}));
  RetrySelection sel;
  sel.interrupted = true;
  EXPECT_EQ(*store->retry(run.rid, sel, counted("retry", "job(s)")), 1);
  EXPECT_EQ(ids(*claim(*store, run.rid, {3}, util::now_ms(), b->aid)),
            (std::vector<std::string>{"j1"}));
}

TEST_P(StoreConformance, TakeoverUnderHoldKeepsOrphansInterruptedUntilRetried) {
  auto store = open();
  core::RunSettings s;
  s.on_interrupt = core::OnInterrupt::hold;
  auto run = make_run(*store, s, std::vector<Spec>(2));
  ASSERT_TRUE(take(*store, run.rid, 1).ok());
  ASSERT_EQ(claim(*store, run.rid, {0}, 1)->claims.size(), 1u);
  auto t = take(*store, run.rid, 2, nobody_alive);
  ASSERT_TRUE(t.ok()) << why(t);
  ASSERT_EQ(t->orphans.size(), 1u);
  EXPECT_EQ(counts(*store, run.rid)[JobState::interrupted], 1);
  // Never claimed again on its own: at most once.
  EXPECT_EQ(ids(*claim(*store, run.rid, {0, 1}, 2)), (std::vector<std::string>{"j2"}));
  RetrySelection sel;
  sel.interrupted = true;
  EXPECT_EQ(*store->retry(run.rid, sel, counted("retry", "job(s)")), 1);
  EXPECT_EQ(ids_in(*store, run.rid, JobState::pending), (std::vector<std::string>{"j1"}));
}

TEST_P(StoreConformance, TakeoverUnderRequeueRunsJobsADrainLeftInterrupted) {
  auto store = open();
  auto [run, c] = claimed_run(*store, 2, {0});
  ASSERT_EQ(c.size(), 1u);
  // A drain stopped j1 and recorded it interrupted; the agent then exited.
  Update u = finished(c[0], JobState::interrupted, 1500);
  u.outcome = core::Outcome::interrupted_by_stop();
  u.uncounted = true;
  ASSERT_TRUE(record(*store, run.rid, {u}, 1500).ok());
  ASSERT_TRUE(store->release(run.rid, core::RunState::paused).ok());
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::interrupted);
  auto t = take(*store, run.rid, 2);
  ASSERT_TRUE(t.ok()) << why(t);
  EXPECT_TRUE(t->orphans.empty());
  EXPECT_EQ(job(*store, run.rid, "j1").state, JobState::pending);
  auto again = claim(*store, run.rid, {0}, 2000);
  ASSERT_EQ(ids(*again), (std::vector<std::string>{"j1"}));
  EXPECT_EQ(again->claims[0].interrupts, 1);
}

TEST_P(StoreConformance, RecoveryFreesTheGoneAgentsJobLocksAndSlots) {
  auto store = open();
  core::RunSettings s;
  s.job_locks = {"{device}"};
  auto a = make_run(*store, s, {{"", "dev1"}});
  auto b = make_run(*store, s, {{"", "dev1"}});
  auto ta = take(*store, a.rid, 1);
  ASSERT_TRUE(ta.ok()) << why(ta);
  ASSERT_EQ(*store->take_slots(a.rid, ta->aid, "h1", 1), (std::vector<int64_t>{0}));
  ASSERT_EQ(claim(*store, a.rid, {0}, util::now_ms(), ta->aid)->claims.size(), 1u);
  ASSERT_TRUE(take(*store, b.rid, 2).ok());
  EXPECT_TRUE(claim(*store, b.rid, {0}, util::now_ms())->claims.empty());
  EXPECT_EQ(job(*store, b.rid, "j1").state, JobState::waiting);
  // Agent 1 dies; agent 3 joins run a and recovers its job.
  auto tc = join(*store, a.rid, 3, everybody_alive);
  ASSERT_TRUE(tc.ok()) << why(tc);
  auto gone = store->recover(a.rid, tc->aid, alive_except(1), util::now_ms());
  ASSERT_TRUE(gone.ok()) << why(gone);
  EXPECT_EQ(gone->size(), 1u);
  auto held = store->locks();
  ASSERT_TRUE(held.ok()) << why(held);
  for (const auto& l : *held) {
    EXPECT_NE(l.run_id, a.id) << "lock " << l.name << " still held by the recovered run";
  }
  EXPECT_EQ(*store->take_slots(a.rid, tc->aid, "h1", 1), (std::vector<int64_t>{0}))
      << "the gone agent's slot number was not given back";
  // The lock is free: run b's waiting job may take it (the sweep runs once a
  // second, so a second later at the latest).
  EXPECT_EQ(ids(*claim(*store, b.rid, {0}, util::now_ms() + 2000)),
            (std::vector<std::string>{"j1"}));
}

TEST_P(StoreConformance, ReleaseHandsTheRunToAnotherLiveAgent) {
  auto store = open();
  auto run = make_run(*store, {}, std::vector<Spec>(2));
  auto a = take(*store, run.rid, 1);
  ASSERT_TRUE(a.ok()) << why(a);
  auto b = join(*store, run.rid, 2, everybody_alive);
  ASSERT_TRUE(b.ok()) << why(b);
  ASSERT_TRUE(store->release(run.rid, core::RunState::completed).ok());
  auto after = store->find_run(run.id);
  ASSERT_TRUE(after.ok()) << why(after);
  EXPECT_EQ(after->holder.pid, 2) << "the live agent did not become the holder";
  EXPECT_EQ(after->state, core::RunState::running);
  EXPECT_EQ(agent_state(*store, run.rid, a->aid), "stopped");
  EXPECT_EQ(agent_state(*store, run.rid, b->aid), "running");
  // The last agent's release ends the run.
  ASSERT_TRUE(store->release(run.rid, core::RunState::completed).ok());
  EXPECT_EQ(store->find_run(run.id)->state, core::RunState::completed);
}

TEST_P(StoreConformance, FullDurabilityKeepsEveryOperationWorking) {
  auto store = open();
  ASSERT_TRUE(store->set_durability(Durability::full).ok());
  auto run = held_run(*store, 2);
  auto c = claim(*store, run.rid, {0, 1}, 1000);
  ASSERT_EQ(c->claims.size(), 2u);
  ASSERT_TRUE(
      record(*store, run.rid, {finished(c->claims[0], JobState::succeeded, 2000)}, 2000)
          .ok());
  auto other = open();
  EXPECT_EQ(job(*other, run.rid, "j1").state, JobState::succeeded);
  ASSERT_TRUE(store->set_durability(Durability::normal).ok());
}

} // namespace
} // namespace muster::store::conformance
