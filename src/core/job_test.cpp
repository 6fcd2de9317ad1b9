#include "core/backoff.hpp"
#include "core/job.hpp"
#include "core/run.hpp"

#include <cmath>
#include <csignal>
#include <gtest/gtest.h>

namespace muster::core {
namespace {

TEST(JobState, NamesRoundTrip) {
  for (int i = 0; i < 9; ++i) {
    auto s = static_cast<JobState>(i);
    EXPECT_EQ(parse_job_state(to_string(s)), s);
  }
  EXPECT_FALSE(parse_job_state("done").has_value());
  for (int i = 0; i < 7; ++i) {
    auto s = static_cast<RunState>(i);
    EXPECT_EQ(parse_run_state(to_string(s)), s);
  }
}

TEST(JobState, TerminalStates) {
  EXPECT_TRUE(is_terminal(JobState::succeeded));
  EXPECT_TRUE(is_terminal(JobState::failed));
  EXPECT_TRUE(is_terminal(JobState::cancelled));
  EXPECT_TRUE(is_terminal(JobState::skipped));
  EXPECT_FALSE(is_terminal(JobState::pending));
  EXPECT_FALSE(is_terminal(JobState::retrying));
  EXPECT_FALSE(is_terminal(JobState::interrupted));
  EXPECT_FALSE(is_terminal(JobState::running));
}

TEST(JobState, SuccessIsFinal) {
  for (int i = 0; i < 9; ++i) {
    EXPECT_FALSE(can_transition(JobState::succeeded, static_cast<JobState>(i)));
  }
}

TEST(JobState, OnlyClaimableStatesStartRunning) {
  EXPECT_TRUE(can_transition(JobState::pending, JobState::running));
  EXPECT_TRUE(can_transition(JobState::retrying, JobState::running));
  EXPECT_FALSE(can_transition(JobState::interrupted, JobState::running));
  EXPECT_FALSE(can_transition(JobState::failed, JobState::running));
  EXPECT_TRUE(can_transition(JobState::interrupted, JobState::pending));
  EXPECT_TRUE(can_transition(JobState::failed, JobState::pending));
  EXPECT_TRUE(can_transition(JobState::running, JobState::interrupted));
}

TEST(StateAfter, SuccessFailureRetry) {
  EXPECT_EQ(state_after(Outcome::exited(0), 1, 1), JobState::succeeded);
  EXPECT_EQ(state_after(Outcome::exited(1), 1, 1), JobState::failed);
  EXPECT_EQ(state_after(Outcome::exited(1), 1, 3), JobState::retrying);
  EXPECT_EQ(state_after(Outcome::exited(1), 3, 3), JobState::failed);
  EXPECT_EQ(state_after(Outcome::signaled(SIGKILL), 1, 2), JobState::retrying);
  EXPECT_EQ(state_after(Outcome::timed_out(SIGTERM), 1, 2), JobState::retrying);
  EXPECT_EQ(state_after(Outcome::timed_out(SIGTERM), 2, 2), JobState::failed);
}

TEST(StateAfter, SpawnFailuresAreNotRetried) {
  EXPECT_EQ(state_after(Outcome::spawn_failed("no such file"), 1, 5), JobState::failed);
}

TEST(StateAfter, OutputThatWasNotSavedIsRetriedNeverASuccess) {
  const Outcome lost =
      Outcome::output_lost("cannot write out/1.out: No space left on device");
  EXPECT_FALSE(lost.succeeded());
  EXPECT_EQ(to_string(lost.type), "output");
  EXPECT_EQ(state_after(lost, 1, 2), JobState::retrying);
  EXPECT_EQ(state_after(lost, 2, 2), JobState::failed);
}

TEST(StateAfter, InterruptionIsNotAFailure) {
  EXPECT_EQ(state_after(Outcome::interrupted_by_stop(), 1, 1), JobState::interrupted);
}

TEST(Outcome, RecordsCodesSignalsAndErrorTypes) {
  auto e = Outcome::exited(3);
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(to_string(e.type), "exit_code");
  auto s = Outcome::signaled(SIGKILL);
  EXPECT_EQ(s.signal, SIGKILL);
  EXPECT_EQ(s.error, "killed by signal SIGKILL");
  EXPECT_EQ(to_string(Outcome::timed_out(SIGTERM).type), "timeout");
  EXPECT_TRUE(Outcome::exited(0).succeeded());
  EXPECT_EQ(Outcome::exited(0).error, "");
}

TEST(OnInterrupt, Parses) {
  EXPECT_EQ(parse_on_interrupt("hold"), OnInterrupt::hold);
  EXPECT_EQ(parse_on_interrupt("requeue"), OnInterrupt::requeue);
  EXPECT_FALSE(parse_on_interrupt("drop").has_value());
}

TEST(Backoff, DoublesUpToTheCap) {
  BackoffPolicy p{2000, 10'000, 0.2};
  EXPECT_EQ(backoff_delay_ms(p, 1, 0), 2000);
  EXPECT_EQ(backoff_delay_ms(p, 2, 0), 4000);
  EXPECT_EQ(backoff_delay_ms(p, 3, 0), 8000);
  EXPECT_EQ(backoff_delay_ms(p, 4, 0), 10'000);
  EXPECT_EQ(backoff_delay_ms(p, 60, 0), 10'000);
}

TEST(Backoff, JitterStaysWithinTwentyPercent) {
  BackoffPolicy p{1000, 300'000, 0.2};
  EXPECT_EQ(backoff_delay_ms(p, 1, -1), 800);
  EXPECT_EQ(backoff_delay_ms(p, 1, 1), 1200);
  EXPECT_EQ(backoff_delay_ms(p, 1, 5), 1200); // out-of-range unit is clamped
  for (int retry = 1; retry < 30; ++retry) {
    const double base = std::min(1000.0 * std::pow(2.0, retry - 1), 300'000.0);
    for (double u = -1; u <= 1; u += 0.125) {
      const auto d = static_cast<double>(backoff_delay_ms(p, retry, u));
      EXPECT_GE(d, base * 0.8 - 1);
      EXPECT_LE(d, base * 1.2 + 1);
    }
  }
}

TEST(Counts, TotalsAndFinished) {
  Counts c;
  c[JobState::succeeded] = 5;
  c[JobState::failed] = 2;
  c[JobState::pending] = 3;
  c[JobState::cancelled] = 1;
  EXPECT_EQ(c.total(), 11);
  EXPECT_EQ(c.finished(), 8);
}

TEST(JobState, AfterInterrupt) {
  EXPECT_EQ(state_on_interrupt(OnInterrupt::requeue), JobState::pending);
  EXPECT_EQ(state_on_interrupt(OnInterrupt::hold), JobState::interrupted);
}

TEST(RunState, OnTakeover) {
  EXPECT_EQ(state_on_takeover(PauseAsked::yes, 5000, 1000), RunState::paused);
  EXPECT_EQ(state_on_takeover(PauseAsked::no, 5000, 1000), RunState::halted);
  EXPECT_EQ(state_on_takeover(PauseAsked::no, 500, 1000), RunState::running);
  EXPECT_EQ(state_on_takeover(PauseAsked::no, 0, 1000), RunState::running);
}

TEST(RunState, AddingJobsOpensAnEndedRun) {
  EXPECT_EQ(state_after_add(RunState::completed), RunState::paused);
  EXPECT_EQ(state_after_add(RunState::cancelled), RunState::paused);
  EXPECT_EQ(state_after_add(RunState::failed), RunState::paused);
  EXPECT_EQ(state_after_add(RunState::running), RunState::running);
  EXPECT_EQ(state_after_add(RunState::created), RunState::created);
}

TEST(RunStateTest, AHaltsEndRunsAHaltedRunAgainAndLeavesOtherStates) {
  EXPECT_EQ(state_after_halt(RunState::halted), RunState::running);
  // A pause or a cancel asked during the halt is not undone by its end.
  EXPECT_EQ(state_after_halt(RunState::paused), RunState::paused);
  EXPECT_EQ(state_after_halt(RunState::cancelled), RunState::cancelled);
  EXPECT_EQ(state_after_halt(RunState::running), RunState::running);
  EXPECT_EQ(state_after_halt(RunState::completed), RunState::completed);
}

} // namespace
} // namespace muster::core
