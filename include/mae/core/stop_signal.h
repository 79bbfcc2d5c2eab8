// Graceful stops for jobs that a scheduler preempts: SIGTERM, SIGINT and SIGUSR1 (SLURM's
// `--signal=USR1@120`) only set a flag; the training loop finishes its optimizer step, writes
// checkpoint-last and exits with kExitInterrupted. A second SIGINT aborts at once.
#pragma once

namespace mae::core {

// The exit code of a run stopped by a signal after saving (EX_TEMPFAIL: "try again"); a job
// script requeues on it and the next run continues with --resume auto.
constexpr int kExitInterrupted = 75;

void install_stop_signals();  // idempotent
bool stop_requested();
const char* stop_signal_name();  // "SIGTERM", ... or "" when none arrived

}  // namespace mae::core
